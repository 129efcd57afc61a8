"""The benchmarks run against the product's code, so they rot silently when it changes:
each one runs here at a toy size (figures meaningless, correctness checks real)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import POSTGRES_ENV

ROOT = Path(__file__).resolve().parents[1]
API_TOY = [
    "--orders", "40", "--batch", "10", "--concurrency", "4", "--rate", "20", "--seconds", "1",
    "--warmup", "4", "--repeat", "1", "--no-pin",
]  # fmt: skip


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
        ["bench.faults", "--waves", "20", "--scenarios", "baseline,lost"],
        ["bench.spread", "--reports", "5", "--sizes", "100", "--taus", "0.1", "--older", "0"],
        pytest.param(
            ["bench.report", "--answers", "2000", "--repeat", "1", "--database", "postgres"],
            marks=pytest.mark.skipif(
                not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"
            ),
        ),
        ["bench.api", *API_TOY],
        ["bench.quality", "--seeds", "2", "--sizes", "30", "--effects", "0.5"],
        pytest.param(
            ["bench.api", *API_TOY, "--database", "postgres"],
            marks=pytest.mark.skipif(
                not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"
            ),
        ),
        pytest.param(
            ["bench.dispatch_scale", "--waves", "300", "--processes", "2", "--repeat", "1"],
            marks=pytest.mark.skipif(
                not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"
            ),
        ),
    ],
    ids=[
        "answers",
        "dispatch",
        "report",
        "faults",
        "spread",
        "report-postgres",
        "api",
        "quality",
        "api-postgres",
        "dispatch-scale-postgres",
    ],
)
def test_benchmark_runs_at_toy_size(command: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
