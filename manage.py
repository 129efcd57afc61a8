#!/usr/bin/env python3
"""Set-up and the two everyday commands, needing nothing but Python 3.11+.

    python3 manage.py run    # the bot (`cjm run`), or `cjm demo` when no CJM_BOT_TOKEN is set
    python3 manage.py test   # lint, type check and the full test suite

Both create `.venv` and install the project into it on first use (and again whenever
pyproject.toml changes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11+ is needed, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("installing dependencies into .venv …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(digest)


def has_token() -> bool:
    if os.environ.get("CJM_BOT_TOKEN", "").strip():
        return True
    env_file = ROOT / ".env"
    return env_file.exists() and any(
        line.strip().startswith("CJM_BOT_TOKEN=") and line.split("=", 1)[1].strip()
        for line in env_file.read_text().splitlines()
    )


def run(args: list[str]) -> int:
    command = args or (["run"] if has_token() else ["demo"])
    if not args and command == ["demo"]:
        print("CJM_BOT_TOKEN is not set: running `cjm demo` instead of the bot.", flush=True)
    return subprocess.call([str(BIN / "cjm"), *command], cwd=ROOT)


def test(args: list[str]) -> int:
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
        [str(BIN / "python"), "-m", "pytest", *args],
    ]
    for step in steps:
        print(
            "$",
            " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
            flush=True,
        )
        code = subprocess.call(step, cwd=ROOT)
        if code != 0:
            return code
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "setup"):
        print(__doc__)
        return 2
    ensure_env()
    action, rest = sys.argv[1], sys.argv[2:]
    if action == "setup":
        return 0
    return run(rest) if action == "run" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
