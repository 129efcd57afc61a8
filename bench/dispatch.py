"""Waves dispatched per second from a backlog, to a zero-latency Bot API.

The table holds `--due` pending waves due in the past (wave "after_purchase") and
`--future` pending waves due next week (wave "first_use" of the same orders), for the
active, linked customers with one order each — all inserted with Core executemany in
chunks into a migrated SQLite file, once; every drain runs on its own copy of that file in
a fresh child process (bench/dispatch_worker.py), so its RSS figures are its own.

The child builds a WaveDispatcher as bot.app.build_app does — TelegramMessenger over an
aiogram Bot whose session is the in-process zero-latency fake (bench/fakes.py), or with
`--messenger stub` a Messenger returning a message id at once — with the rate limit off
(LocalRateLimiter(0)) and quiet hours off (SendingRules(UTC, None)), then times `drain()`
and, through a subclass, every `_drain_window` call.

Variants (`--variants`):
  partial-64, partial-256  the shipped partial index ix_dispatches_pending_due; window 64
                           (Settings.dispatch_batch default) and 256
  plain-64, plain-256      that index dropped, a plain index on due_at instead
  tracemalloc-64           partial-64 again under tracemalloc (peak, traced memory per
                           decile of windows); its timings are slowed by the tracing

    taskset -c 0 .venv/bin/python -m bench.dispatch [--due 100000] [--future 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import machine, median, write_result

TARGET_RATE = 2000.0
TARGET_FLATNESS = 1.5
VARIANTS = {  # name: (index, window, tracemalloc)
    "partial-64": ("partial", 64, False),
    "partial-256": ("partial", 256, False),
    "plain-64": ("plain", 64, False),
    "plain-256": ("plain", 256, False),
    "tracemalloc-64": ("partial", 64, True),
}
DEFAULT_VARIANTS = "partial-64,partial-256,plain-64,tracemalloc-64"


SUMMARY_KEYS = (
    "waves_per_s", "waves_per_cpu_s", "elapsed_s", "window_mean_ms", "first10_mean_ms",
    "last10_mean_ms",
    "last_over_first", "first10_cpu_ms", "last10_cpu_ms", "cpu_last_over_first",
    "rss_before_mib", "rss_after_mib", "maxrss_before_mib",
    "maxrss_after_mib", "hwm_before_mib", "hwm_after_mib", "tracemalloc_peak_mib",
)  # fmt: skip


def worker(*argv: str) -> Any:
    command = [sys.executable, "-m", "bench.dispatch_worker", *argv]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_variant(template: Path, target: Path, index: str) -> None:
    shutil.copyfile(template, target)
    if index == "plain":
        db = sqlite3.connect(target)
        with db:
            db.execute("DROP INDEX ix_dispatches_pending_due")
            db.execute("CREATE INDEX ix_dispatches_due_plain ON dispatches (due_at)")
        db.close()


def query_plan(database: Path, window: int) -> list[str]:
    """SQLite's plan for claim_due's inner SELECT, with bound parameters as SQLAlchemy sends."""
    db = sqlite3.connect(database)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM dispatches WHERE status = ? AND due_at <= ? "
        "ORDER BY due_at LIMIT ?",
        ("pending", now, window),
    ).fetchall()
    db.close()
    return [str(row[-1]) for row in rows]


def drain_flags(args: argparse.Namespace, variant: str) -> list[str]:
    _, window, trace = VARIANTS[variant]
    flags = ["--window", str(window), "--messenger", args.messenger]
    flags += ["--trace"] if trace else []
    flags += ["--wire"] if args.wire else []
    flags += ["--statements"] if args.statements else []
    return flags


def remove_db(database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--due", type=int, default=100_000, help="pending waves due now")
    parser.add_argument("--future", type=int, default=100_000, help="pending waves due later")
    parser.add_argument(
        "--overdue-sent",
        type=int,
        default=0,
        help="also N 'sent' waves whose reminder is overdue (after downtime)",
    )
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="drains per variant (medians)")
    parser.add_argument(
        "--messenger",
        choices=["telegram", "stub"],
        default="telegram",
        help="TelegramMessenger over the zero-latency session, or a stub",
    )
    parser.add_argument(
        "--wire",
        action="store_true",
        help="fake session also JSON-encodes requests and decodes responses",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile one extra drain per variant (bench/results/*.prof)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="time each SQL statement kind per window (small overhead)",
    )
    parser.add_argument("--keep", type=Path, help="also keep the seeded database here")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if unknown := [v for v in variants if v not in VARIANTS]:
        raise SystemExit(f"unknown variants: {unknown}")

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        template = Path(tmp) / "template.db"
        seeded = worker("seed", str(template), "--due", str(args.due),
                        "--future", str(args.future),
                        "--overdue-sent", str(args.overdue_sent))  # fmt: skip
        print(
            f"backlog: {args.due} due + {args.future} future pending waves"
            f"{f' + {args.overdue_sent} overdue sent' if args.overdue_sent else ''} inserted in "
            f"{seeded['seconds']:.1f}s ({seeded['bytes'] / 2**20:.0f} MiB)",
            flush=True,
        )
        if args.keep:
            shutil.copyfile(template, args.keep)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        plans: dict[str, list[str]] = {}
        # Round-robin over the variants, so that load from other jobs on the machine is
        # spread over all of them rather than landing on one.
        for attempt in range(args.repeat):
            for variant in variants:
                index, window, trace = VARIANTS[variant]
                if trace and attempt > 0:
                    continue  # once is enough: its timings are not comparable anyway
                database = Path(tmp) / f"{variant}.db"
                make_variant(template, database, index)
                plans[variant] = query_plan(database, window)
                run = worker("drain", str(database), *drain_flags(args, variant))
                remove_db(database)
                runs[variant].append(run)
                print(f"  {variant} run {attempt + 1}: {run['waves_per_s']:6.0f} waves/s "
                      f"({run['waves_per_cpu_s']:.0f}/CPU-s, load {run['loadavg'][0]:.1f}), "
                      f"window mean {run['window_mean_ms']:.2f} ms, first 10% "
                      f"{run['first10_mean_ms']:.2f} ms, last 10% {run['last10_mean_ms']:.2f} ms"
                      f" (x{run['last_over_first']:.2f}; CPU x{run['cpu_last_over_first']:.2f})"
                      f", peak RSS {run['hwm_before_mib']:.0f}"
                      f" -> {run['hwm_after_mib']:.0f} MiB"
                      + (f", tracemalloc peak {run['tracemalloc_peak_mib']:.2f} MiB"
                         if trace else ""), flush=True)  # fmt: skip
        for variant in variants:
            index, window, trace = VARIANTS[variant]
            if args.profile and not trace:
                database = Path(tmp) / f"{variant}.db"
                make_variant(template, database, index)
                worker("drain", str(database), *drain_flags(args, variant), "--profile", variant)
                remove_db(database)
                print(f"  {variant}: profile in bench/results/dispatch-{variant}.prof")
            done = runs[variant]
            results[variant] = {
                "index": index, "window": window, "tracemalloc": trace,
                "claim_query_plan": plans[variant], "runs": done,
                "median": {k: median([r[k] for r in done]) for k in SUMMARY_KEYS if k in done[0]},
            }  # fmt: skip
    report(args, seeded, results)


def report(args: argparse.Namespace, seeded: Any, results: dict[str, Any]) -> None:
    print()
    print(f"dispatch benchmark: {args.due} due + {args.future} future pending waves"
          f"{f' + {args.overdue_sent} overdue sent' if args.overdue_sent else ''}, "
          f"messenger={args.messenger}{' (wire)' if args.wire else ''}; medians of "
          f"{args.repeat} drains (tracemalloc: 1)")  # fmt: skip
    print(f"{'variant':19}{'waves/s':>8}{'/CPU-s':>8}{'win ms':>8}{'first10%':>9}{'last10%':>9}"
          f"{'last/1st':>9}{'CPU l/1st':>10}"
          f"{'peak RSS MiB':>16}{'ru_maxrss MiB':>16}{'tracemalloc':>13}")  # fmt: skip
    for variant, result in results.items():
        m = result["median"]
        traced = m.get("tracemalloc_peak_mib")
        print(f"{variant:19}{m['waves_per_s']:8.0f}{m['waves_per_cpu_s']:8.0f}"
              f"{m['window_mean_ms']:8.2f}"
              f"{m['first10_mean_ms']:9.2f}{m['last10_mean_ms']:9.2f}{m['last_over_first']:9.2f}"
              f"{m['cpu_last_over_first']:10.2f}"
              f"{m['hwm_before_mib']:8.0f}->{m['hwm_after_mib']:<6.0f}"
              f"{m['maxrss_before_mib']:8.0f}->{m['maxrss_after_mib']:<6.0f}"
              f"{(f'{traced:.2f} MiB' if traced is not None else ''):>13}")  # fmt: skip
    for variant, result in results.items():
        print(f"  {variant}: claim_due plan: {'; '.join(result['claim_query_plan'])}")
        per_window = [r["statements_ms_per_window"] for r in result["runs"]
                      if "statements_ms_per_window" in r]  # fmt: skip
        for kind in sorted(per_window[0]) if per_window else []:
            ms = median([p.get(kind, 0.0) for p in per_window])
            print(f"      {kind:64} {ms:7.3f} ms per window")
    targets: dict[str, Any] = {}
    if "partial-64" in results:
        m = results["partial-64"]["median"]
        targets = {
            "waves_per_s": m["waves_per_s"], "waves_per_s_target": TARGET_RATE,
            "waves_per_s_met": m["waves_per_s"] >= TARGET_RATE,
            "last_over_first": m["last_over_first"], "flatness_target": TARGET_FLATNESS,
            "flatness_met": m["last_over_first"] <= TARGET_FLATNESS,
            "cpu_last_over_first": m["cpu_last_over_first"],
            "waves_per_cpu_s": m["waves_per_cpu_s"],
        }  # fmt: skip
        print(
            f"partial-64 (shipped config): {m['waves_per_s']:.0f} waves/s (target >= "
            f"{TARGET_RATE:.0f}: {'met' if targets['waves_per_s_met'] else 'MISSED'}); "
            f"{m['waves_per_cpu_s']:.0f} waves/CPU-s; "
            f"last/first 10% of windows x{m['last_over_first']:.2f} wall, "
            f"x{m['cpu_last_over_first']:.2f} CPU (target <= "
            f"{TARGET_FLATNESS}: {'met' if targets['flatness_met'] else 'MISSED'})"
        )
    payload = {"benchmark": "dispatch", "args": {k: str(v) for k, v in vars(args).items()},
               "machine": machine(), "seed": seeded, "targets": targets,
               "variants": results}  # fmt: skip
    name = "dispatch" + (f"-{args.messenger}" if args.messenger != "telegram" else "")
    name += f"-overdue{args.overdue_sent}" if args.overdue_sent else ""
    print(f"written {write_result(name, payload)}")


if __name__ == "__main__":
    main()
