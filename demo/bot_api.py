"""A tiny in-process Telegram Bot API for `cjm demo`: no token, no network.

aiogram's real HTTP client talks to it on 127.0.0.1, so the demo runs the bot exactly as
`cjm run` does. It answers the few methods the bot uses, records every message per chat
(with its inline keyboard, so simulated customers can find the buttons) and serves a
`getUpdates` long poll fed by the simulation.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from demo.loopback import LoopbackServer

JsonDict = dict[str, Any]
Clock = Callable[[], datetime]
Method = Callable[[JsonDict], Any]

JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "commands", "scope"})
INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "limit", "timeout"})


class DemoApiError(Exception):
    """Becomes `{"ok": false}`, as Telegram answers a bad request."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _decode(name: str, raw: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(raw)
    if name in INT_FIELDS and raw.lstrip("-").isdigit():
        return int(raw)
    return raw


async def _params(request: web.Request) -> JsonDict:
    form = await request.post()
    fields = itertools.chain(request.query.items(), form.items())
    return {name: _decode(name, str(v)) for name, v in fields if not isinstance(v, FileField)}


class DemoBotAPI(LoopbackServer):
    """Bot API methods over HTTP, plus helpers the simulation uses to act as people."""

    def __init__(self, clock: Clock, username: str = "cjm_demo_bot") -> None:
        super().__init__()
        self.clock = clock
        self.bot_user: JsonDict = {
            "id": 1_000_000, "is_bot": True, "first_name": "CJM demo", "username": username,
        }  # fmt: skip
        self.calls: Counter[str] = Counter()
        self._chats: dict[int, list[JsonDict]] = defaultdict(list)
        self._by_id: dict[tuple[int, int], JsonDict] = {}
        self._versions: Counter[int] = Counter()
        self._next_id: Counter[int] = Counter()
        self._pending: list[JsonDict] = []
        self._last_update_id = 0
        self.acked_offset = 0
        self._methods: dict[str, Method] = {
            "getme": lambda _: dict(self.bot_user),
            "sendmessage": self._send,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit,
            "editmessagereplymarkup": self._edit,
        }

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)

    # -- what the simulation sees and does ---------------------------------------------
    def messages(self, chat_id: int) -> list[JsonDict]:
        """Everything in a chat, oldest first, as it looks now (after edits)."""
        return self._chats.get(chat_id, [])

    def version(self, chat_id: int) -> int:
        """Changes whenever the bot sends or edits something in the chat."""
        return self._versions[chat_id]

    def send_text(self, user: JsonDict, text: str) -> int:
        message: JsonDict = {
            "message_id": self._message_id(user["id"]), "date": self._now(),
            "chat": _private_chat(user), "from": user, "text": text,
        }  # fmt: skip
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push({"message": message})

    def tap(self, user: JsonDict, message: JsonDict, data: str) -> int:
        query = {
            "id": f"demo-{self._last_update_id + 1}", "from": user, "chat_instance": "demo",
            "message": copy.deepcopy(message), "data": data,
        }  # fmt: skip
        return self._push({"callback_query": query})

    async def wait_acked(self, update_id: int, seconds: float = 30.0) -> None:
        """Until the bot has handled the update: its next getUpdates confirms it."""
        try:
            async with asyncio.timeout(seconds):
                while self.acked_offset <= update_id:
                    await self._changed.wait()
        except TimeoutError:
            message = f"the bot did not handle update {update_id} within {seconds:g}s"
            raise TimeoutError(message) from None

    def _push(self, body: JsonDict) -> int:
        self._last_update_id += 1
        self._pending.append({"update_id": self._last_update_id, **body})
        self._notify()
        return self._last_update_id

    # -- HTTP --------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        self.calls[method] += 1
        params = await _params(request)
        try:
            if method == "getupdates":
                result = await self._get_updates(params)
            else:
                result = self._methods.get(method, self._other(method))(params)
        except DemoApiError as error:
            body = {"ok": False, "error_code": error.code, "description": error.description}
            return web.json_response(body, status=error.code)
        return web.json_response({"ok": True, "result": result})

    def _other(self, method: str) -> Method:
        """setMyCommands, deleteWebhook, answerCallbackQuery, …: accepted; other sends
        (a document, say) are recorded like a message."""
        return self._send if method.startswith("send") else (lambda _: True)

    # -- messages ----------------------------------------------------------------------
    def _send(self, params: JsonDict) -> JsonDict:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise DemoApiError(400, "Bad Request: chat not found")
        message: JsonDict = {
            "message_id": self._message_id(chat_id), "date": self._now(),
            "chat": {"id": chat_id, "type": "private", "first_name": "Guest"},
            "from": dict(self.bot_user),
        }  # fmt: skip
        for key in ("text", "caption", "reply_markup"):
            if key in params:
                message[key] = params[key]
        self._chats[chat_id].append(message)
        self._by_id[(chat_id, message["message_id"])] = message
        self._versions[chat_id] += 1
        return message

    def _send_photo(self, params: JsonDict) -> JsonDict:
        message = self._send(params)
        photo = {"file_id": "qr", "file_unique_id": "qr", "width": 320, "height": 320}
        self._by_id[message["chat"]["id"], message["message_id"]]["photo"] = [photo]
        return {**message, "photo": [photo]}

    def _edit(self, params: JsonDict) -> JsonDict:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        message = None
        if isinstance(chat_id, int) and isinstance(message_id, int):
            message = self._by_id.get((chat_id, message_id))
        if message is None:
            raise DemoApiError(400, "Bad Request: message to edit not found")
        if "text" in params:
            message["text"] = params["text"]
        # Telegram drops the inline keyboard from an edit that does not repeat it.
        message.pop("reply_markup", None)
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self._versions[message["chat"]["id"]] += 1
        return message

    def _message_id(self, chat_id: int) -> int:
        """Message ids are per chat and shared by the bot and the person, as in Telegram."""
        self._next_id[chat_id] += 1
        return self._next_id[chat_id]

    def _now(self) -> int:
        return int(self.clock().timestamp())

    # -- long polling ------------------------------------------------------------------
    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self.acked_offset = max(self.acked_offset, offset)
            self._notify()
        limit = int(params.get("limit") or 100)
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout") or 0)
        while not self._pending and not self._closing.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            with suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        return self._pending[:limit]


def _private_chat(user: JsonDict) -> JsonDict:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}
