"""Logging for `cjm`: our own INFO lines, everyone else's warnings (APScheduler would
otherwise write a line for every drain); `CJM_LOG_FORMAT=json` writes one JSON object per
line for log collectors."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
OURS = ("bot", "surveys", "reports", "storage", "api")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Ours(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure` adds: replaced, not duplicated, when it runs again."""


def configure(verbose: bool, form: LogFormat = "text") -> None:
    """Our loggers at INFO when `verbose` (`cjm run`), every other at WARNING. A handler
    on stderr is added unless the root logger already has someone else's (pytest's)."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for name in OURS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    for handler in [h for h in root.handlers if isinstance(h, _Ours)]:
        root.removeHandler(handler)
    if root.handlers:
        return
    handler = _Ours(sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else logging.Formatter(TEXT))
    root.addHandler(handler)
