"""`cjm report`'s progress on stderr: a line redrawn in place on a terminal, a few plain
milestone lines anywhere else."""

from __future__ import annotations

import io

from bot.progress import ReportProgress


class Ticks:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_not_a_terminal_gets_a_line_per_quarter() -> None:
    out, clock = io.StringIO(), Ticks()
    progress = ReportProgress(out, clock=clock)  # StringIO is no terminal
    progress.step("exporting the answers")
    for done in range(0, 4001, 500):
        progress.rows("answers.csv", done, 4000)
        clock.now += 1
    progress.close()

    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        "… exporting the answers",
        "answers.csv: 1,000 of 4,000 rows (25%)",
        "answers.csv: 2,000 of 4,000 rows (50%)",
        "answers.csv: 3,000 of 4,000 rows (75%)",
        "answers.csv: 4,000 of 4,000 rows (100%) in 0:08",
    ]


def test_a_big_step_prints_every_milestone_it_passes_once() -> None:
    out = io.StringIO()
    progress = ReportProgress(out, tty=False, clock=Ticks())
    for done in (0, 600, 4000, 4000):
        progress.rows("report.xlsx", done, 4000)
    progress.rows("answers.csv", 0, 0)  # an empty period is done at once
    progress.rows("answers.csv", 0, 0)
    assert out.getvalue().splitlines() == [
        "report.xlsx: 4,000 of 4,000 rows (100%) in 0:00",
        "answers.csv: 0 of 0 rows (100%) in 0:00",
    ]


def test_a_terminal_gets_one_line_redrawn_with_percent_rows_and_eta() -> None:
    out, clock = io.StringIO(), Ticks()
    progress = ReportProgress(out, tty=True, clock=clock)
    progress.rows("answers.csv", 0, 20_000)
    clock.now += 10
    progress.rows("answers.csv", 5_000, 20_000)  # a quarter in 10 s: 30 s to go
    progress.rows("answers.csv", 6_000, 20_000)  # too soon to redraw
    clock.now += 30
    progress.rows("answers.csv", 20_000, 20_000)
    progress.rows("report.xlsx", 0, 20_000)
    progress.close()

    text = out.getvalue()
    frames = text.split("\r")[1:]
    assert [frame.rstrip(" \n") for frame in frames] == [
        "answers.csv  [------------------------]   0%  0/20,000 rows  ETA --:--",
        "answers.csv  [######------------------]  25%  5,000/20,000 rows  ETA 0:30",
        "answers.csv  [########################] 100%  20,000/20,000 rows  in 0:40",
        "report.xlsx  [------------------------]   0%  0/20,000 rows  ETA --:--",
    ]
    assert text.count("\n") == 2  # each file's line ends once, when the next begins
    assert text.endswith("\n")


def test_more_rows_than_counted_never_show_more_than_all() -> None:
    out = io.StringIO()
    progress = ReportProgress(out, tty=True, clock=Ticks())
    progress.rows("answers.csv", 12, 10)  # answers arrived after the count
    assert "100%  12/12 rows" in out.getvalue()
