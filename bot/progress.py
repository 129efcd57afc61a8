"""The progress of `cjm report` on stderr.

On a terminal each streamed file gets one line redrawn in place (\\r) with a bar, percent,
rows and the time left. Anywhere else — CI logs, pipes, cron mail — carriage returns would
pile up as noise, so a plain line is printed at each quarter instead."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
MILESTONES = (25, 50, 75, 100)  # percent, for streams that are not terminals
REDRAW_EVERY = 0.1  # seconds: a terminal line is not redrawn more often than this


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    minutes, rest = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def _percent(done: int, total: int) -> int:
    return 100 if total <= 0 else min(100, done * 100 // total)


class ReportProgress:
    """Step lines and per-file row counts of `reports.files.write_report_files`."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self._file: str | None = None
        self._started = 0.0
        self._drawn = -math.inf  # when the terminal line was last drawn
        self._width = 0  # of the terminal line drawn last: a shorter one must cover it
        self._milestone = 0  # the last milestone printed for the current file

    def step(self, text: str) -> None:
        self.close()
        self._write(f"… {text}\n")

    def rows(self, name: str, done: int, total: int) -> None:
        now = self.clock()
        if name != self._file:
            self.close()
            self._file, self._started, self._milestone = name, now, 0
        # A live bot may add answers after they were counted: never show more than 100 %.
        total = max(total, done)
        if self.tty:
            if done >= total or now - self._drawn >= REDRAW_EVERY:
                self._draw(self._bar(name, done, total, now))
                self._drawn = now
        else:
            self._milestones(name, done, total, now)

    def close(self) -> None:
        """End the terminal line of the current file, if one is drawn."""
        if self._width:
            self._write("\n")
        self._file, self._width, self._drawn = None, 0, -math.inf

    def _bar(self, name: str, done: int, total: int, now: float) -> str:
        percent = _percent(done, total)
        filled = BAR_WIDTH * percent // 100
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        elapsed = now - self._started
        if done >= total:
            timing = f"in {_duration(elapsed)}"
        elif done and elapsed > 0:
            timing = f"ETA {_duration(elapsed * (total - done) / done)}"
        else:
            timing = "ETA --:--"
        return f"{name:<12} [{bar}] {percent:3d}%  {done:,}/{total:,} rows  {timing}"

    def _draw(self, line: str) -> None:
        self._write("\r" + line.ljust(self._width))
        self._width = len(line)

    def _milestones(self, name: str, done: int, total: int, now: float) -> None:
        percent = _percent(done, total)
        reached = [m for m in MILESTONES if self._milestone < m <= percent]
        if not reached:
            return
        self._milestone = reached[-1]
        line = f"{name}: {done:,} of {total:,} rows ({percent}%)"
        if done >= total:
            line += f" in {_duration(now - self._started)}"
        self._write(line + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
