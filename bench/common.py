"""Shared helpers: machine facts, medians, result files."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": os.cpu_count(),
        "cpu_affinity": affinity,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_at_end": os.getloadavg(),
        "code": code_fingerprint(),
    }


HOT_FILES = (
    "bot/keyboards.py", "bot/questions.py", "bot/messenger.py", "bot/middlewares.py",
    "bot/routers/survey.py", "surveys/answers.py", "surveys/dispatcher.py",
    "storage/answers.py", "storage/dispatches.py", "storage/models.py", "storage/updates.py",
)  # fmt: skip


def code_fingerprint() -> dict[str, str]:
    """Product code is being edited by others while benchmarks run: record what ran."""
    root = Path(__file__).parent.parent
    digest = hashlib.sha256()
    files = {}
    for package in ("bot", "surveys", "storage"):
        for path in sorted((root / package).rglob("*.py")):
            data = path.read_bytes()
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + data)
            rel = path.relative_to(root).as_posix()
            if rel in HOT_FILES:
                files[rel] = hashlib.sha256(data).hexdigest()[:12]
    return {"all_product_py_sha256": digest.hexdigest()[:16], **files}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    (RESULTS / f"{name}-latest.json").write_text(
        json.dumps(payload, indent=2, default=str), encoding="utf-8"
    )
    return path


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def vm_hwm_mib() -> float:
    """This process image's peak RSS (VmHWM; unlike ru_maxrss, reset by exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
