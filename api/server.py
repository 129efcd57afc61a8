"""The aiohttp application and its runner. The bot's composition root (bot/app.py) builds
the dependencies and starts the server next to polling; routes that are not the API's
(the Telegram webhook) are passed in by the caller."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from api import health, openapi, orders, report
from api.deps import DEPS, MAX_BODY, ApiDeps
from api.errors import json_errors


def build_web_app(deps: ApiDeps, extra: Iterable[web.AbstractRouteDef] = ()) -> web.Application:
    """The API's routes plus `extra` (e.g. a webhook handler) on one application."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[json_errors])
    app[DEPS] = deps
    app.add_routes(
        [
            web.post("/api/v1/orders", orders.post_order),
            web.post("/api/v1/orders/batch", orders.post_batch),
            web.get("/api/v1/report", report.get_report),
            web.get("/api/v1/openapi.json", openapi.get_openapi),
            web.get("/healthz", health.get_healthz),
            web.get("/metrics", health.get_metrics),
            *extra,
        ]
    )
    return app


class HttpServer:
    """Serves an application on host:port (port 0: any free port, see `port`)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
