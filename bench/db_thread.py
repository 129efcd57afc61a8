"""The DB-only variants of `bench.answers --breakdown`: the product's storage code run on a
sync SQLAlchemy `Session` on one DB thread instead of aiosqlite.

ThreadSessions  a stand-in for async_sessionmaker whose sessions run each statement with
                a sync Session (pysqlite, the product's pragmas) on one dedicated thread:
                one thread round trip per statement instead of aiosqlite's 3-4 (cursor,
                execute, fetchall, close), begin/commit in the same thread.
InlineSession   the storage coroutines run inline on a sync Session: their awaits never
                suspend, so a whole update's statements run in one call on the DB thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.db import _sqlite_on_connect

T = TypeVar("T")


class ThreadSessions:
    """A stand-in for async_sessionmaker: sessions running on one DB thread."""

    def __init__(self, database: Path) -> None:
        self.engine = create_engine(
            f"sqlite+pysqlite:///{database}", connect_args={"check_same_thread": False}
        )
        event.listen(self.engine, "connect", _sqlite_on_connect)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")

    def __call__(self) -> ThreadSession:
        return ThreadSession(self.factory(), self.executor)

    def close(self) -> None:
        self.executor.submit(self.engine.dispose).result()
        self.executor.shutdown()


class ThreadSession:
    """What the handlers use of AsyncSession; every call is one hop to the DB thread."""

    def __init__(self, sync: Session, executor: ThreadPoolExecutor) -> None:
        self.sync = sync
        self.executor = executor

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def get_bind(self) -> Any:
        return self.sync.get_bind()

    def _execute(self, statement: Any, params: Any) -> Any:
        result = self.sync.execute(statement, params)
        # Rows are read in the DB thread; DML results keep their rowcount.
        return result.freeze()() if getattr(result, "returns_rows", True) else result

    async def execute(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return await self._run(self._execute, statement, params)

    async def scalar(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return (await self.execute(statement, params)).scalar()

    async def scalars(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return (await self.execute(statement, params)).scalars()

    def _execute_core(self, statement: Any, params: Any) -> Any:
        result = self.sync.connection().execute(statement, params)
        return result.freeze()() if result.returns_rows else result

    async def connection(self) -> _ThreadConnection:
        return _ThreadConnection(self)

    def begin(self) -> _Transaction:
        return _Transaction(self)

    async def __aenter__(self) -> ThreadSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._run(self.sync.close)


class _ThreadConnection:
    """`await session.connection()` for lean-core: Core execution, one hop per statement."""

    def __init__(self, session: ThreadSession) -> None:
        self.session = session
        self.dialect = session.sync.get_bind().dialect

    async def execute(self, statement: Any, params: Any = None) -> Any:
        return await self.session._run(self.session._execute_core, statement, params)


class _Transaction:
    def __init__(self, session: ThreadSession) -> None:
        self.session = session

    async def __aenter__(self) -> ThreadSession:
        self.session.sync.begin()  # no I/O until the first statement
        return self.session

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sync = self.session.sync
        await self.session._run(sync.commit if kind is None else sync.rollback)


# ------------------------------------------------ one hop per update (DB-only microbench)


class InlineSession:
    """Product storage coroutines run inline on a sync Session: their awaits never suspend,
    so a whole update's statements run in one call on the DB thread."""

    def __init__(self, sync: Session) -> None:
        self.sync = sync

    def get_bind(self) -> Any:
        return self.sync.get_bind()

    async def execute(self, statement: Any, params: Any = None, **_: Any) -> Any:
        return self.sync.execute(statement, params)

    async def connection(self) -> Any:
        return _InlineConnection(self.sync.connection())


class _InlineConnection:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement: Any, params: Any = None) -> Any:
        return self.connection.execute(statement, params)


def run_inline(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the coroutine suspended: it does real I/O")
