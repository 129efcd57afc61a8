"""Summarise a py-spy `--format raw --threads --idle` profile: where the main thread's
time goes during bench.answers' bot phase.

    taskset -c 0 .venv/bin/py-spy record -r 250 --idle --threads --format raw \\
        -o bench/results/answers-spy.txt -- \\
        .venv/bin/python -m bench.answers --repeat 1 --skip-baseline
    .venv/bin/python -m bench.spy_summary bench/results/answers-spy.txt

Setup samples (imports, migration, seeding, building updates, verification) are dropped.
A main-thread sample whose stack contains a frame of one of the INCLUSIVE categories
goes to the first such category (so "SQLAlchemy" includes the pydantic-free Python it calls,
and the keyboard builder includes the pydantic deep copies it makes); the rest go to the
LEAF category of the innermost frame that has one (aiogram vs app code vs asyncio).
"""

from __future__ import annotations

import sys
from collections import Counter

SETUP = (
    "seed (",
    "tap_updates (",
    "build_app (",
    "verify (",
    "_find_and_load",
    "upgrade (",
    "load_survey (",
    "baseline_dispatcher (",
)
IDLE = "idle in the event loop (waiting for the aiosqlite thread: hop + SQLite)"
INCLUSIVE: list[tuple[str, tuple[str, ...]]] = [
    ("aiogram InlineKeyboardBuilder (deepcopy of pydantic buttons)", ("utils/keyboard.py",)),
    ("aiosqlite (loop side of the thread round trips)", ("aiosqlite/",)),
    ("SQLAlchemy (statement building, caching, ORM session, execute, results)", ("sqlalchemy/",)),
    ("pydantic (aiogram types: Update parsing, methods, results)", ("pydantic",)),
]
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("aiogram (dispatcher, middlewares, routers, filters, bot/session)", ("aiogram/",)),
    ("bench fake Bot API session", ("bench/fakes.py",)),
    ("app code (bot/, surveys/, storage/)", ("(bot/", "(surveys/", "(storage/")),
    ("asyncio machinery", ("asyncio/",)),
]


def categorize(frames: list[str]) -> str:
    if len(frames) == 1:
        return "no Python frame (native: GIL hand-off, thread switch)"
    if "select (selectors.py" in frames[-1] or "poll" in frames[-1]:
        return IDLE
    for name, needles in INCLUSIVE:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def main() -> None:
    counts: Counter[str] = Counter()
    with open(sys.argv[1], encoding="utf-8") as raw:
        for line in raw:
            stack, _, number = line.rstrip().rpartition(" ")
            if "MainThread" not in stack.split(";", 1)[0] or any(s in stack for s in SETUP):
                continue
            counts[categorize(stack.split(";"))] += int(number)
    total = sum(counts.values())
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")
    print(f"{total} main-thread samples")


if __name__ == "__main__":
    main()
