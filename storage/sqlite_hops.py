"""aiosqlite with one thread hop per statement, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs each call on the connection's own thread and the event loop waits for every
one: the dialect makes four such round trips per statement (open a cursor, execute, fetch
the rows, close the cursor), each costing a thread switch both ways — on the answer path
that was most of the time spent outside aiogram. This connection does the four in one
call: the statement runs, its rows are read and, once none are left, its cursor is closed.
A commit or rollback with no transaction open (the pool's rollback when a connection whose
transaction is over comes back) makes no round trip at all: sqlite3 would do nothing.

Otherwise the connection (its thread, opening and closing, isolation level, functions) is
aiosqlite's own. A result longer than `READ_AHEAD`
rows is read on in chunks, as aiosqlite would, so a streamed report stays a stream.
Plugged in by `storage.db.make_engine` through SQLAlchemy's `async_creator_fn`, the hook
its `async_creator` option uses.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

_T = TypeVar("_T")
READ_AHEAD = 256  # rows read with the statement, in its one round trip

# What the thread hands back after a statement or a fetch: description, rowcount,
# lastrowid, rows, and the sqlite3 cursor (None once it is closed: no rows are left).
_Taken = tuple[Any, int, int | None, list[Any], sqlite3.Cursor | None]


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """As `aiosqlite.connect`: `await` it to open the database on its thread."""

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = Connection(connector, iter_chunk_size)
    # As SQLAlchemy does for aiosqlite's own: a connection left unclosed in a pool must
    # not keep the process from exiting.
    connection._thread.daemon = True
    return connection


class Connection(aiosqlite.Connection):
    def cursor(self) -> Cursor:  # type: ignore[override]
        """No round trip: the sqlite3 cursor is made on the thread with the statement."""
        return Cursor(self)

    async def commit(self) -> None:
        """sqlite3 does nothing when no transaction is open: nor does this, without the
        round trip (the pool's rollback when a committed session's connection comes back)."""
        if self._connection is None or self._connection.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._connection is None or self._connection.in_transaction:
            await super().rollback()

    async def on_thread(self, function: Callable[[], _T]) -> _T:
        """One round trip: `function` runs on the connection's thread, in its queue."""
        result: _T = await self._execute(function)  # type: ignore[no-untyped-call]
        return result


class Cursor:
    """What SQLAlchemy uses of `aiosqlite.Cursor`, one round trip per statement."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        while rows := await self.fetchmany(self._connection._iter_chunk_size):
            for row in rows:
                yield row

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        args = () if parameters is None else parameters
        await self._run(lambda cursor: cursor.execute(sql, args))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        await self._run(lambda cursor: cursor.executemany(sql, parameters))
        return self

    async def executescript(self, script: str) -> Cursor:
        await self._run(lambda cursor: cursor.executescript(script))
        return self

    async def fetchone(self) -> Any:
        rows = await self.fetchmany(1)
        return rows[0] if rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self.arraysize if size is None else size
        if len(self._rows) < size and self._cursor is not None:
            await self._more(size - len(self._rows))
        rows = self._rows
        return [rows.popleft() for _ in range(min(size, len(rows)))]

    async def fetchall(self) -> list[Any]:
        if self._cursor is not None:
            await self._more(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            await self._connection.on_thread(cursor.close)

    # -- on the connection's thread ------------------------------------------------------
    async def _run(self, statement: Any) -> None:
        """Execute with a fresh sqlite3 cursor, read ahead, close it when it is done."""
        if self._cursor is not None:  # a second statement on this cursor: the last is over
            await self.close()
        self._rows.clear()
        connection = self._connection

        def run() -> _Taken:
            cursor = connection._conn.cursor()
            try:
                statement(cursor)
            except BaseException:
                cursor.close()
                raise
            return _taken(cursor, READ_AHEAD)

        self._take(await connection.on_thread(run))

    async def _more(self, size: int | None) -> None:
        cursor = self._cursor
        assert cursor is not None
        self._take(await self._connection.on_thread(lambda: _taken(cursor, size)))

    def _take(self, taken: _Taken) -> None:
        self.description, self.rowcount, self.lastrowid, rows, self._cursor = taken
        self._rows.extend(rows)


def _taken(cursor: sqlite3.Cursor, size: int | None) -> _Taken:
    """Up to `size` rows (None: all), and the cursor closed if no row is left."""
    description, rowcount, lastrowid = cursor.description, cursor.rowcount, cursor.lastrowid
    rows: Sequence[Any] = []
    open_: sqlite3.Cursor | None = None
    if description is not None:
        rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
        if size is not None and len(rows) == size:
            open_ = cursor  # maybe more
    if open_ is None:
        cursor.close()
    return description, rowcount, lastrowid, list(rows), open_
