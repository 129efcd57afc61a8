"""Where an update's time goes: aiosqlite thread hops and per-statement timings.

HopMeter wraps aiosqlite's Connection._execute (every call there is one round trip to the
connection's worker thread): it counts them by the function run in the thread (cursor,
execute, fetchall, close, commit, rollback), the wall time the event loop waited for each
(queue → thread → call_soon_threadsafe → loop), and the time the function itself took in
the thread (SQLite's own work). StatementMeter listens to SQLAlchemy's cursor-execute
events and times each statement kind (execute + fetch, as the dialect does them).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import aiosqlite.core
from sqlalchemy import event
from sqlalchemy.engine import Engine

_clock = time.perf_counter


class HopMeter:
    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()
        self.thread: Counter[str] = Counter()
        self._original: Any = None

    def install(self) -> None:
        original = self._original = aiosqlite.core.Connection._execute
        meter = self

        async def _execute(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            name = getattr(fn, "__name__", type(fn).__name__)

            def timed() -> Any:
                started = _clock()
                try:
                    return fn(*args, **kwargs)
                finally:
                    meter.thread[name] += _clock() - started

            started = _clock()
            try:
                return await original(conn, timed)
            finally:
                meter.count[name] += 1
                meter.wall[name] += _clock() - started

        aiosqlite.core.Connection._execute = _execute  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            aiosqlite.core.Connection._execute = self._original  # type: ignore[method-assign]

    def reset(self) -> None:
        self.count.clear()
        self.wall.clear()
        self.thread.clear()


def statement_kind(sql: str, executemany: bool = False) -> str:
    words = sql.split()
    head = words[0].upper()
    many = " (executemany)" if executemany else ""
    if head == "INSERT":
        return f"INSERT {words[2]}{many}"
    if head == "UPDATE":
        # e.g. "UPDATE dispatches SET status WHERE id RETURNING": tells the updates apart
        set_column = words[3].split("=")[0] if len(words) > 3 else "?"
        where = words[words.index("WHERE") + 1].split("=")[0] if "WHERE" in words else "-"
        returning = " RETURNING" if "RETURNING" in words else ""
        return f"UPDATE {words[1]} SET {set_column}.. WHERE {where}..{returning}{many}"
    if head == "SELECT":
        table = words[words.index("FROM") + 1] if "FROM" in words else "?"
        return f"SELECT {table}"
    return head


class StatementMeter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_started"] = _clock()

    def _after(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        kind = statement_kind(statement, many)
        self.count[kind] += 1
        self.wall[kind] += _clock() - conn.info.pop("bench_started", _clock())

    def install(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def uninstall(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count.clear()
        self.wall.clear()
