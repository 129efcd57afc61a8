"""The benchmarks run against the product's code, so they rot silently when it changes:
each one runs here at a toy size (figures meaningless, correctness checks real)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["bench.answers", "--customers", "30", "--warmup", "5", "--repeat", "1"],
        [
            "bench.dispatch",
            "--due",
            "200",
            "--future",
            "200",
            "--variants",
            "partial-64",
            "--repeat",
            "1",
        ],
        ["bench.report", "--answers", "2000", "--repeat", "1"],
    ],
    ids=["answers", "dispatch", "report"],
)
def test_benchmark_runs_at_toy_size(command: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
