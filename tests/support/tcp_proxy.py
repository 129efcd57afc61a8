"""A TCP proxy on 127.0.0.1:0 in front of a server (PostgreSQL, Redis), to cut the
connection the way a network does: `cut()` closes every connection through it and
refuses new ones until `restore()`. The server itself keeps running."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        await self._listen()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()

    def url_for(self, url: str) -> str:
        """`url` (a database or Redis URL) pointed at the proxy instead of its server."""
        if url.startswith("redis"):
            scheme, rest = url.split("://", 1)
            path = rest.split("/", 1)[1] if "/" in rest else ""
            return f"{scheme}://127.0.0.1:{self.port}/{path}"
        parsed = make_url(url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    async def cut(self) -> None:
        """Close every connection and stop listening: new connections are refused."""
        self.cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()  # an RST, as a dropped network link looks to both ends
        self._open.clear()

    async def restore(self) -> None:
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, upstream))
        pumps = [
            asyncio.create_task(self._pump(reader, upstream)),
            asyncio.create_task(self._pump(upstream_reader, writer)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
            self._tasks.discard(task)
        for end in (writer, upstream):
            self._open.discard(end)
            end.transport.abort()

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()


def target_of(url: str) -> tuple[str, int]:
    """(host, port) of a database or Redis URL."""
    if url.startswith("redis"):
        netloc = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        host, _, port = netloc.partition(":")
        return host or "127.0.0.1", int(port or 6379)
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432
