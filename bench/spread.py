"""Whether the drop rule's p-values mean what they say when a shop has good and bad weeks:
`reports.evidence` on synthetic customer sums, many healthy (and a few dropped) weeks.

    taskset -c 1 .venv/bin/python -m bench.spread                 # the grid, ~4 min
    .venv/bin/python -m bench.spread --reports 20 --sizes 100     # toy size

Each report has six stages with two touchpoints (each rated by 40 % of the stage's
customers); a customer's score is N(level, 0.9²). A week moves the true level by
N(0, τ²): either every stage by the same amount (`shared`: staff, weather — the whole shop
has a bad week) or each stage by its own (`own`); touchpoints move with their stage. The
report's period is compared with `baseline_periods` (4) weeks, and τ² is told from those
and `--older` weeks before them. Printed: for each size, τ and kind of move, how often a
healthy stage's drop p falls below 0.01 and 0.001, as a multiple of what it claims (1× is
right, above is a test too bold), and at 100 customers the share of 0.5-star drops of one
stage with p < 0.001 (the raw rating's test alone; the relative score's is in bench.quality).
This isolates the drop test from everything else bench.quality exercises.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from bench.common import machine, write_result
from reports import evidence
from reports.customers import CustomerCells, CustomerFigures, Moments

SD = 0.9
STAGES = 6
TOUCHPOINTS = 2
TOUCHPOINT_SHARE = 0.4
DROP = 0.5
SETTINGS = evidence.Settings(thresholds={"rating": 3.5, "csat": 0.7, "nps": 0.0, "valence": 0.0})


def _figures(rng: np.random.Generator, n: int, level: float) -> CustomerFigures:
    scores = rng.normal(level, SD, max(n, 2))
    rating = Moments(len(scores), float(scores.sum()), float((scores * scores).sum()))
    return CustomerFigures(customers=len(scores), rating=rating)


def week(
    rng: np.random.Generator, n: int, tau: float, shared: bool, drop: float = 0.0
) -> CustomerCells:
    common = rng.normal(0, tau)
    stages, touchpoints = {}, {}
    for s in range(STAGES):
        move = common if shared else rng.normal(0, tau)
        level = 4.2 + move - (drop if s == 0 else 0.0)
        stages[f"s{s}"] = _figures(rng, int(rng.poisson(n)), level)
        for t in range(TOUCHPOINTS):
            size = int(rng.poisson(n * TOUCHPOINT_SHARE))
            touchpoints[f"s{s}", f"t{t}"] = _figures(rng, size, level)
    return CustomerCells(stages, touchpoints)


def p_values(now: CustomerCells, baseline: Sequence[CustomerCells],
             earlier: Sequence[CustomerCells]) -> dict[str, float]:  # fmt: skip
    """The raw rating's drop p of each stage."""
    periods = evidence._periods(now, baseline, earlier, "rating")
    spread = evidence._metric_spread(periods, "rating")
    findings = evidence._drops(periods, "rating", SETTINGS, spread)
    return {f.key[0]: f.p for f in findings if f.key[1] is None}


def scenario(
    n: int, tau: float, shared: bool, older: int, reports: int, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    null: list[float] = []
    found: list[float] = []
    periods = 4
    for _ in range(reports):
        history = [week(rng, n, tau, shared) for _ in range(older + periods)]
        earlier, baseline = history[:older], history[older:]
        dropped = n == 100
        now = week(rng, n, tau, shared, DROP if dropped else 0.0)
        ps = p_values(now, baseline, earlier)
        for stage, p in ps.items():
            (found if dropped and stage == "s0" else null).append(p)
    values = np.asarray(null)
    result = {
        "below_0.01": float(np.mean(values < 0.01)) / 0.01,
        "below_0.001": float(np.mean(values < 0.001)) / 0.001,
        "tests": float(len(values)),
    }
    if found:
        result["drop_found"] = float(np.mean(np.asarray(found) < 0.001))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=600)
    parser.add_argument("--sizes", default="30,100,300,1000")
    parser.add_argument("--taus", default="0,0.1,0.2")
    parser.add_argument("--older", default="0,4", help="weeks before the baseline, for τ²")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    taus = [float(x) for x in args.taus.split(",")]
    olders = [int(x) for x in args.older.split(",")]
    started = time.perf_counter()
    rows = []
    print("customers  τ     moves   weeks   p<0.01   p<0.001   0.5★ drop p<0.001")
    for n in sizes:
        for tau in taus:
            for shared in (False, True) if tau > 0 else (False,):
                for older in olders:
                    r = scenario(n, tau, shared, older, args.reports, seed=n + older)
                    kind = "shared" if shared else "own"
                    found = f"{100 * r['drop_found']:5.1f} %" if "drop_found" in r else ""
                    print(f"{n:9}  {tau:<4}  {kind:6}  {4 + older:5}   {r['below_0.01']:5.2f}×"
                          f"   {r['below_0.001']:6.2f}×   {found}", flush=True)  # fmt: skip
                    rows.append({"n": n, "tau": tau, "shared": shared, "weeks": 4 + older, **r})
    path = write_result("spread", {"machine": machine(), "args": vars(args), "rows": rows})
    print(f"\n{time.perf_counter() - started:.0f} s, written {path}")


if __name__ == "__main__":
    main()
