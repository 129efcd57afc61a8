"""A zero-latency Bot API for benchmarks: an aiogram session that never touches a socket.

`make_request` answers in-process with valid result objects (a Message for sendMessage /
editMessageText, True for answerCallbackQuery, a User for getMe), so what is measured is
aiogram plus our code, not HTTP. With `wire=True` it also does the client-side work the
real AiohttpSession does per call — every field through `prepare_value` (JSON-encoding of
keyboards), and the JSON response decoded and validated by `check_response` — everything
but the socket.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, Message, User

BOT_USER = User(id=123456, is_bot=True, first_name="Bench", username="bench_bot")
TOKEN = "123456:BENCH"


class ZeroLatencySession(BaseSession):
    def __init__(self, wire: bool = False) -> None:
        super().__init__()
        self.wire = wire
        self.calls: Counter[str] = Counter()
        self._message_ids = itertools.count(10_000_000)

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> TelegramType:
        name = method.__api_method__
        self.calls[name] += 1
        if self.wire:
            return self._over_the_wire(bot, method, name)
        result: Any
        if name == "sendMessage":
            result = self._message(method.chat_id, next(self._message_ids), method)
        elif name == "editMessageText":
            message_id = getattr(method, "message_id", None)
            chat_id = getattr(method, "chat_id", None)
            result = True if message_id is None else self._message(chat_id, message_id, method)
        elif name == "getMe":
            result = BOT_USER
        else:  # answerCallbackQuery and anything else
            result = True
        if isinstance(result, Message):
            result = result.as_(bot)
        return cast(TelegramType, result)

    @staticmethod
    def _message(chat_id: Any, message_id: int, method: Any) -> Message:
        return Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=int(chat_id), type="private"),
            text=getattr(method, "text", None),
        )

    def _over_the_wire(self, bot: Bot, method: Any, name: str) -> Any:
        files: dict[str, Any] = {}
        form = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                form[key] = prepared
        now = int(datetime.now(UTC).timestamp())
        result: Any = True
        if name in ("sendMessage", "editMessageText") and "chat_id" in form:
            message_id = int(form.get("message_id") or next(self._message_ids))
            result = {
                "message_id": message_id, "date": now, "text": form.get("text"),
                "chat": {"id": int(form["chat_id"]), "type": "private", "first_name": "C"},
                "from": BOT_USER.model_dump(exclude_none=True),
            }  # fmt: skip
        elif name == "getMe":
            result = BOT_USER.model_dump(exclude_none=True)
        content = self.json_dumps({"ok": True, "result": result})
        return self.check_response(bot=bot, method=method, status_code=200, content=content).result


def make_bot(wire: bool = False) -> Bot:
    return Bot(TOKEN, session=ZeroLatencySession(wire=wire))
