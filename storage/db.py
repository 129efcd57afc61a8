"""Engine and session factory; SQLite gets the pragmas a busy single-file database needs."""

from __future__ import annotations

import errno
import socket
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_hops

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # WAL + NORMAL: durable across process crashes
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    if engine.dialect.driver == "aiosqlite":
        event.listen(engine.sync_engine, "do_connect", _one_hop_per_statement)
    return engine


def _one_hop_per_statement(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """The URL's connection, opened with storage.sqlite_hops in place of aiosqlite.connect
    (the hook SQLAlchemy's own `async_creator` goes through)."""
    return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=sqlite_hops.connect, **cparams)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def transient_db_error(error: BaseException) -> bool:
    """A database error that may pass (locked, refused, connection lost, timeout), as
    opposed to one that the same statement would meet again (a constraint, a bug)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, InterfaceError):
            return True
        if isinstance(error.orig, sqlite3.OperationalError):
            # SQLite says OperationalError for a missing table too: only these pass.
            return any(word in str(error.orig).lower() for word in _SQLITE_TRANSIENT)
        return isinstance(error, OperationalError)
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    # asyncpg's connect: "Multiple exceptions: [Errno 111] Connect call failed ..."
    return isinstance(error, OSError) and (
        error.errno in _NETWORK_ERRNOS or str(error).startswith("Multiple exceptions")
    )


_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH,
                   errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE}  # fmt: skip
