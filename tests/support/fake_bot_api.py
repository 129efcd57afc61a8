"""A fake Telegram Bot API HTTP server for tests.

aiogram's real HTTP client talks to it over 127.0.0.1, so requests go through the same
serialisation, timeouts and error handling as in production. Every call is recorded,
results are valid Bot API objects, ``getUpdates`` is a real long poll and failures
(API errors, hung requests, dropped connections) can be injected per method.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import socket
import time
from collections import defaultdict, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from aiohttp.web_request import FileField

from demo.loopback import LoopbackServer

JsonDict = dict[str, Any]
ChatId = int | str
MessageKey = tuple[int, int]
CallMatcher = str | Callable[["Call"], bool]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
FAKE_CHANNEL_BASE_ID = -1001000000000
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Fields whose values are free-form strings: never JSON-decoded even if they look like JSON.
STRING_FIELDS = frozenset(
    {
        "text", "caption", "parse_mode", "description", "short_description", "name", "title",
        "question", "explanation", "url", "payload", "query", "message_text", "data",
        "callback_query_id", "inline_query_id", "inline_message_id", "business_connection_id",
        "custom_emoji_id", "message_effect_id", "secret_token", "start_parameter", "currency",
        "provider_token", "emoji", "sticker_set_name", "file_id", "file_name", "first_name",
        "last_name", "username", "language_code", "action", "status", "invite_link",
        "photo", "document", "video", "audio", "animation", "voice", "sticker", "video_note",
        "thumbnail", "certificate", "ip_address", "shipping_query_id", "pre_checkout_query_id",
        "error_message", "switch_inline_query", "gift_id", "label",
    }
)  # fmt: skip

_update_ids = itertools.count(1_000_000)
_message_ids = itertools.count(1_000_000)
_callback_ids = itertools.count(1)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def decode_field(name: str, raw: str) -> Any:
    """Decode one form field the way the Bot API interprets it (JSON unless a string field)."""
    if name in STRING_FIELDS:
        return raw
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def _same_chat(a: ChatId | None, b: ChatId) -> bool:
    return a is not None and str(a) == str(b)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _update_type(update: JsonDict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _inline_buttons(message: JsonDict) -> list[JsonDict]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


# --------------------------------------------------------------------------- records


@dataclass
class Call:
    """One request received by the fake server.

    ``outcome`` is "ok", "error" (API error, injected or real), "hang" or "drop";
    ``response`` is the JSON payload that was (or, for hang/drop, would have been) sent.
    """

    method: str
    params: JsonDict
    files: dict[str, tuple[str, bytes]]
    at: float
    token: str = ""
    outcome: str = "pending"
    response: JsonDict | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None and bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return None if self.response is None else self.response.get("result")


class ApiError(Exception):
    """Raised by method implementations; becomes an ``{"ok": false}`` response."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JsonDict:
        body: JsonDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class _Action:
    kind: str  # "fail" | "fail_after" | "gateway" | "hang" | "drop" | "html" | "reset"
    error: ApiError | None = None
    status: int = 0  # "gateway": the HTTP status of the HTML page


# --------------------------------------------------------------------------- users/updates


@dataclass
class TgUser:
    """A Telegram user; when bound to a FakeBotAPI its helpers push updates to it."""

    user_id: int
    first_name: str
    language_code: str = "en"
    username: str | None = None
    api: FakeBotAPI | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> JsonDict:
        user: JsonDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        user["language_code"] = self.language_code
        return user

    def chat(self) -> JsonDict:
        chat: JsonDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def _bound(self) -> FakeBotAPI:
        if self.api is None:
            raise RuntimeError(f"{self!r} is not bound to a FakeBotAPI; use api.user(...)")
        return self.api

    def send_text(self, text: str) -> int:
        """Push a private text message from this user; returns its update_id."""
        api = self._bound()
        update = make_message_update(
            self,
            text,
            update_id=api.next_update_id(),
            message_id=api.next_message_id(self.user_id),
        )
        return api.push_update(update)

    def click(self, message: JsonDict | Call, button_text: str) -> int:
        """Press the inline button labelled ``button_text``; returns the update_id."""
        api = self._bound()
        current = api.resolve_message(message)
        button = find_button(current, button_text)
        if "callback_data" not in button:
            raise AssertionError(f"Button {button_text!r} is not a callback button: {button}")
        update = make_callback_update(
            self, current, button["callback_data"], update_id=api.next_update_id()
        )
        return api.push_update(update)

    def click_data(self, message_id: int, data: str) -> int:
        """Push a callback query with arbitrary (possibly forged) data; returns the update_id."""
        api = self._bound()
        message = api.stored_message(self.user_id, message_id) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(),
        }
        return api.push_update(
            make_callback_update(self, message, data, update_id=api.next_update_id())
        )


def find_button(message: JsonDict, button_text: str) -> JsonDict:
    """Return the inline button with exactly ``button_text`` or fail listing the options."""
    buttons = _inline_buttons(message)
    for button in buttons:
        if button.get("text") == button_text:
            return button
    available = [button.get("text") for button in buttons]
    raise AssertionError(
        f"No inline button {button_text!r} in message {message.get('message_id')}; "
        f"available: {available}"
    )


def _user_dict(user: TgUser | JsonDict) -> JsonDict:
    return user.as_dict() if isinstance(user, TgUser) else dict(user)


def make_message_update(
    user: TgUser | JsonDict,
    text: str,
    *,
    update_id: int | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> JsonDict:
    """A raw private-chat message Update (usable with ``Dispatcher.feed_raw_update``)."""
    sender = _user_dict(user)
    chat = {"id": sender["id"], "type": "private", "first_name": sender["first_name"]}
    message: JsonDict = {
        "message_id": next(_message_ids) if message_id is None else message_id,
        "date": int(time.time()) if date is None else date,
        "chat": chat,
        "from": sender,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    update_id = next(_update_ids) if update_id is None else update_id
    return {"update_id": update_id, "message": message}


def make_callback_update(
    user: TgUser | JsonDict,
    message: JsonDict,
    data: str,
    *,
    update_id: int | None = None,
    callback_id: str | None = None,
) -> JsonDict:
    """A raw callback_query Update for a button press on ``message``."""
    query: JsonDict = {
        "id": callback_id or f"cbq-{next(_callback_ids)}",
        "from": _user_dict(user),
        "chat_instance": "ci",
        "message": copy.deepcopy(message),
        "data": data,
    }
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "callback_query": query,
    }


# --------------------------------------------------------------------------- request parsing


async def _read_params(request: web.Request) -> tuple[JsonDict, dict[str, tuple[str, bytes]]]:
    params: JsonDict = {}
    files: dict[str, tuple[str, bytes]] = {}
    form = await request.post()
    for name, value in itertools.chain(request.query.items(), form.items()):
        if isinstance(value, FileField):
            files[name] = (value.filename, value.file.read())
        else:
            params[name] = decode_field(name, str(value))
    _alias_attachments(params, files)
    return params, files


def _alias_attachments(params: JsonDict, files: dict[str, tuple[str, bytes]]) -> None:
    """Make ``files["photo"]`` available when ``params["photo"] == "attach://<part>"``."""
    for name, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part in files and name not in files:
                files[name] = files[part]


# --------------------------------------------------------------------------- the server


class FakeBotAPI(LoopbackServer):
    """In-process fake of https://api.telegram.org for aiogram's real HTTP client."""

    def __init__(
        self,
        *,
        username: str = "cjm_test_bot",
        bot_id: int = 42,
        first_name: str = "CJM Test",
        strict_edits: bool = True,
    ) -> None:
        super().__init__()
        self.bot_user: JsonDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.strict_edits = strict_edits
        self.delay: float = 0.0
        self.calls: list[Call] = []
        self.messages: dict[MessageKey, JsonDict] = {}
        self.deleted: list[MessageKey] = []
        self.acked_offset: int = 0
        self.webhook_url: str = ""
        self.filtered_updates: list[JsonDict] = []
        self._order: list[MessageKey] = []
        self._pending: list[JsonDict] = []
        self._last_update_id = 0
        self._message_counters: dict[int, int] = defaultdict(int)
        self._actions: dict[str, deque[_Action]] = defaultdict(deque)
        self._allowed_updates: list[str] = []
        self._commands: dict[tuple[str, str], list[JsonDict]] = {}
        self._channel_ids: dict[str, int] = {}
        self._users: dict[int, TgUser] = {}
        self._file_ids = itertools.count(1)
        self._poll_generation = 0
        self._handlers = self._method_table()

    max_body = 64 * 1024 * 1024

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)

    # ----------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        error = ApiError(error_code, description, retry_after)
        self._schedule(method, _Action("fail", error), times)

    def fail_after_next(
        self, method: str, error_code: int, description: str, times: int = 1
    ) -> None:
        """The method is performed (the message reaches the chat), then an error answers."""
        self._schedule(method, _Action("fail_after", ApiError(error_code, description)), times)

    def gateway_next(self, method: str, status: int = 502, times: int = 1) -> None:
        """A reverse proxy's HTML error page: the Bot API behind it did nothing."""
        self._schedule(method, _Action("gateway", status=status), times)

    def hang_next(self, method: str, times: int = 1) -> None:
        self._schedule(method, _Action("hang"), times)

    def drop_next(self, method: str, times: int = 1) -> None:
        self._schedule(method, _Action("drop"), times)

    def gateway_page_next(self, method: str, status: int = 502, times: int = 1) -> None:
        """A proxy's HTML error page instead of the Bot API's JSON; nothing performed."""
        self._schedule(method, _Action("html", ApiError(status, "Bad Gateway")), times)

    def reset_next(self, method: str, times: int = 1) -> None:
        """Close the connection without performing the call (unlike `drop_next`, which
        performs it and then loses the answer)."""
        self._schedule(method, _Action("reset"), times)

    def heal(self) -> None:
        """Forget every failure still scheduled: the Bot API works again."""
        self._actions.clear()

    def _schedule(self, method: str, action: _Action, times: int) -> None:
        self._actions[method.lower()].extend([action] * times)

    def _take_action(self, method: str) -> _Action | None:
        queue = self._actions.get(method.lower())
        return queue.popleft() if queue else None

    async def start(self) -> Self:
        # As LoopbackServer, but with SO_REUSEADDR, so that `come_back` can listen again
        # on the same port while the closed connections linger in TIME_WAIT.
        await self._listen(0)
        return self

    async def _listen(self, port: int) -> None:
        app = web.Application(client_max_size=self.max_body)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def go_down(self) -> None:
        """Stop listening (connections are refused) until `come_back`; state is kept."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def come_back(self) -> None:
        """Listen again on the same address."""
        await self._listen(int(self.url.rsplit(":", 1)[1]))

    # ----------------------------------------------------------------- call log

    def calls_of(self, method: str) -> list[Call]:
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def last(self, method: str) -> Call:
        calls = self.calls_of(method)
        if not calls:
            raise AssertionError(f"No {method} call recorded; methods seen: {self._seen()}")
        return calls[-1]

    def sent_texts(self, chat_id: ChatId | None = None) -> list[str]:
        """Texts of sendMessage and captions of sendPhoto, in order (failed calls excluded)."""
        texts: list[str] = []
        for call in self.calls:
            key = {"sendmessage": "text", "sendphoto": "caption"}.get(call.method.lower())
            if key is None or not call.ok or key not in call.params:
                continue
            if chat_id is None or _same_chat(call.params.get("chat_id"), chat_id):
                texts.append(str(call.params[key]))
        return texts

    def clear(self) -> None:
        """Forget recorded calls (messages, pending updates and injections are kept)."""
        self.calls.clear()

    def _seen(self) -> list[str]:
        return sorted({call.method for call in self.calls})

    async def wait_for(
        self,
        predicate_or_method: CallMatcher,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - public API mirrors asyncio.wait_for
    ) -> list[Call]:
        """Wait until ``count`` matching calls are recorded; returns all matching calls."""
        match = self._matcher(predicate_or_method)

        def matching() -> list[Call]:
            return [call for call in self.calls if match(call)]

        try:
            await self._wait_until(lambda: len(matching()) >= count, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{len(matching())}/{count} calls matching {predicate_or_method!r} after "
                f"{timeout}s; methods seen: {self._seen()}"
            ) from None
        return matching()

    @staticmethod
    def _matcher(predicate_or_method: CallMatcher) -> Callable[[Call], bool]:
        if callable(predicate_or_method):
            return predicate_or_method
        wanted = predicate_or_method.lower()
        return lambda call: call.method.lower() == wanted

    # ----------------------------------------------------------------- messages

    def message(self, chat_id: ChatId, message_id: int) -> JsonDict:
        """Current state (after edits) of a message the bot sent."""
        stored = self.stored_message(chat_id, message_id)
        if stored is None:
            raise AssertionError(f"Bot has no message {message_id} in chat {chat_id}")
        return stored

    def stored_message(self, chat_id: ChatId, message_id: int) -> JsonDict | None:
        stored = self.messages.get((self._chat_key(chat_id), message_id))
        return copy.deepcopy(stored) if stored is not None else None

    def messages_to(self, chat_id: ChatId) -> list[JsonDict]:
        chat = self._chat_key(chat_id)
        keys = [key for key in self._order if key[0] == chat and key in self.messages]
        return [copy.deepcopy(self.messages[key]) for key in keys]

    def last_message_to(self, chat_id: ChatId) -> JsonDict:
        messages = self.messages_to(chat_id)
        if not messages:
            raise AssertionError(f"Bot has sent no (undeleted) message to chat {chat_id}")
        return messages[-1]

    def resolve_message(self, message: JsonDict | Call) -> JsonDict:
        """Current stored message for a message dict, sendMessage params or Call."""
        key = self._message_key(message)
        if key in self.messages:
            return copy.deepcopy(self.messages[key])
        if key in self.deleted:
            raise AssertionError(f"Message {key[1]} in chat {key[0]} was deleted by the bot")
        if isinstance(message, dict) and "message_id" in message:
            return copy.deepcopy(message)
        raise AssertionError(f"Unknown message {key[1]} in chat {key[0]}")

    def _message_key(self, message: JsonDict | Call) -> MessageKey:
        if isinstance(message, Call):
            return self._key_from_result(message)
        if "message_id" in message and "chat" in message:
            return (message["chat"]["id"], message["message_id"])
        candidates = [call for call in self.calls if call.params is message]
        candidates = candidates or [call for call in self.calls if call.params == message]
        if not candidates:
            raise AssertionError(f"Not a recorded message or sendMessage params: {message!r}")
        return self._key_from_result(candidates[-1])

    @staticmethod
    def _key_from_result(call: Call) -> MessageKey:
        result = call.result
        if not isinstance(result, dict) or "message_id" not in result:
            raise AssertionError(f"{call.method} call produced no message ({call.outcome})")
        return (result["chat"]["id"], result["message_id"])

    def next_message_id(self, chat_id: ChatId) -> int:
        """Message ids are sequential per chat and shared by the bot and the user."""
        chat = self._chat_key(chat_id)
        self._message_counters[chat] += 1
        return self._message_counters[chat]

    # ----------------------------------------------------------------- updates

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        language_code: str = "en",
        username: str | None = None,
    ) -> TgUser:
        user = TgUser(user_id, first_name, language_code, username, api=self)
        self._users[user_id] = user
        return user

    def next_update_id(self) -> int:
        return self._last_update_id + 1

    def push_update(self, update: JsonDict) -> int:
        """Queue a raw Update for getUpdates; assigns update_id if missing. Returns it."""
        update = dict(update)
        update_id = int(update.setdefault("update_id", self.next_update_id()))
        if update_id < self.acked_offset or update_id <= self._last_update_id:
            raise ValueError(
                f"update_id {update_id} must be above {self._last_update_id} "
                f"and the acknowledged offset {self.acked_offset}"
            )
        self._last_update_id = update_id
        self._pending.append(update)
        self._notify()
        return update_id

    @property
    def pending_updates(self) -> list[JsonDict]:
        return list(self._pending)

    async def wait_acked(
        self,
        update_id: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - public API mirrors asyncio.wait_for
    ) -> None:
        """Wait until getUpdates was called with an offset above ``update_id``."""
        try:
            await self._wait_until(lambda: self.acked_offset > update_id, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"update {update_id} not acknowledged within {timeout}s "
                f"(acked_offset={self.acked_offset})"
            ) from None

    # ----------------------------------------------------------------- waiting

    async def _wait_change(self, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()

    async def _wait_until(self, condition: Callable[[], bool], seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while not condition():
                await self._changed.wait()

    # ----------------------------------------------------------------- HTTP handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params, files = await _read_params(request)
        call = Call(
            method=request.match_info["method"],
            params=params,
            files=files,
            at=time.monotonic(),
            token=request.match_info["token"],
        )
        self.calls.append(call)
        self._notify()
        action = self._take_action(call.method)
        call.response = await self._respond(call, action)
        call.outcome = self._outcome(call, action)
        self._notify()
        return await self._deliver(request, call, action)

    async def _respond(self, call: Call, action: _Action | None) -> JsonDict:
        if action is not None and action.kind == "gateway":
            return {"ok": False, "error_code": action.status, "description": "gateway page"}
        if action is not None and action.kind == "fail_after" and action.error is not None:
            with suppress(ApiError):
                await self._execute(call)
            return action.error.payload()
        if action is not None and action.error is not None:
            return action.error.payload()
        if action is not None and action.kind == "reset":
            return {"ok": False, "error_code": 0, "description": "connection reset"}
        try:
            result = await self._execute(call)
        except ApiError as error:
            return error.payload()
        return {"ok": True, "result": result}

    @staticmethod
    def _outcome(call: Call, action: _Action | None) -> str:
        if action is not None and action.kind in {
            "hang",
            "drop",
            "reset",
            "gateway",
            "fail_after",
        }:
            return action.kind
        return "ok" if call.ok else "error"

    async def _deliver(
        self, request: web.Request, call: Call, action: _Action | None
    ) -> web.StreamResponse:
        if action is not None and action.kind == "hang":
            await self._closing.wait()
        if action is not None and action.kind in {"hang", "drop", "reset"}:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if action is not None and action.kind == "html" and action.error is not None:
            page = f"<html><body><h1>{action.error.error_code} Bad Gateway</h1></body></html>"
            return web.Response(
                text=page, status=action.error.error_code, content_type="text/html"
            )
        if action is not None and action.kind == "gateway":
            page = f"<html><body><h1>{action.status} Bad Gateway</h1>{'<!-- -->' * 60}"
            return web.Response(status=action.status, text=page, content_type="text/html")
        if self.delay > 0:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.delay):
                    await self._closing.wait()
        status = 200 if call.ok else int((call.response or {}).get("error_code", 400))
        return web.json_response(call.response, status=status)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _execute(self, call: Call) -> Any:
        handler = self._handlers.get(call.method.lower())
        if handler is not None:
            return handler(call)
        if call.method.lower() == "getupdates":
            return await self._get_updates(call.params)
        if call.method.lower().startswith("send"):
            return self._send_generic(call)
        return True

    def _method_table(self) -> dict[str, Callable[[Call], Any]]:
        def true(_: Call) -> bool:
            return True

        table: dict[str, Callable[[Call], Any]] = {
            "getme": lambda _: dict(self.bot_user),
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendmediagroup": self._send_media_group,
            "sendchataction": true,
            "sendgift": true,
            "copymessage": lambda call: {"message_id": self._send_generic(call)["message_id"]},
            "forwardmessage": self._send_generic,
            "editmessagetext": self._edit_text,
            "editmessagecaption": self._edit_caption,
            "editmessagereplymarkup": self._edit_markup,
            "deletemessage": self._delete_message,
            "setmycommands": self._set_commands,
            "deletemycommands": self._delete_commands,
            "getmycommands": self._get_commands,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._webhook_info,
        }
        return table

    # ----------------------------------------------------------------- chats & messages

    def _chat_key(self, chat_id: ChatId) -> int:
        if isinstance(chat_id, int):
            return chat_id
        if chat_id.lstrip("-").isdigit():
            return int(chat_id)
        if chat_id not in self._channel_ids:
            self._channel_ids[chat_id] = FAKE_CHANNEL_BASE_ID - len(self._channel_ids)
        return self._channel_ids[chat_id]

    def _chat(self, chat_id: ChatId) -> JsonDict:
        key = self._chat_key(chat_id)
        if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
            return {"id": key, "type": "channel", "title": chat_id, "username": chat_id[1:]}
        if key > 0:
            user = self._users.get(key)
            return user.chat() if user else {"id": key, "type": "private", "first_name": "User"}
        return {"id": key, "type": "supergroup", "title": "Test chat"}

    def _new_message(self, params: JsonDict, **content: Any) -> JsonDict:
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat = self._chat(chat_id)
        message: JsonDict = {
            "message_id": self.next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": dict(self.bot_user),
        }
        message.update({key: value for key, value in content.items() if value is not None})
        markup = self._inline_markup(params)
        if markup is not None:
            message["reply_markup"] = markup
        key = (chat["id"], message["message_id"])
        self.messages[key] = message
        self._order.append(key)
        return copy.deepcopy(message)

    @staticmethod
    def _inline_markup(params: JsonDict) -> JsonDict | None:
        """Only inline keyboards are echoed back in Message.reply_markup (as in Telegram)."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def _check_text(params: JsonDict, key: str, limit: int) -> str | None:
        value = params.get(key)
        if value is None:
            return None
        text = str(value)
        if key == "text" and not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if params.get("parse_mode") is None and _utf16_len(text) > limit:
            what = "message" if key == "text" else "message caption"
            raise ApiError(400, f"Bad Request: {what} is too long")
        return text

    def _send_message(self, call: Call) -> JsonDict:
        if "text" not in call.params:
            raise ApiError(400, "Bad Request: message text is empty")
        text = self._check_text(call.params, "text", MAX_TEXT_LENGTH)
        return self._new_message(call.params, text=text, entities=call.params.get("entities"))

    def _caption(self, call: Call) -> JsonDict:
        return {
            "caption": self._check_text(call.params, "caption", MAX_CAPTION_LENGTH),
            "caption_entities": call.params.get("caption_entities"),
        }

    def _file_ref(self, call: Call, field_name: str) -> tuple[str, str, tuple[str, bytes] | None]:
        value = call.params.get(field_name)
        upload = call.files.get(field_name)
        if value is None and upload is None:
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if upload is None and isinstance(value, str) and "://" not in value:
            return value, f"u-{value}", None
        number = next(self._file_ids)
        return f"{field_name}-{number}", f"u-{field_name}-{number}", upload

    def _send_photo(self, call: Call) -> JsonDict:
        file_id, unique_id, _ = self._file_ref(call, "photo")
        sizes = [
            {"file_id": f"{file_id}-s", "file_unique_id": f"{unique_id}-s", "width": 90,
             "height": 90},
            {"file_id": file_id, "file_unique_id": unique_id, "width": 320, "height": 320},
        ]  # fmt: skip
        return self._new_message(call.params, photo=sizes, **self._caption(call))

    def _send_document(self, call: Call) -> JsonDict:
        file_id, unique_id, upload = self._file_ref(call, "document")
        document: JsonDict = {"file_id": file_id, "file_unique_id": unique_id}
        if upload is not None:
            document.update(file_name=upload[0], file_size=len(upload[1]))
        return self._new_message(call.params, document=document, **self._caption(call))

    def _send_media_group(self, call: Call) -> list[JsonDict]:
        media = call.params.get("media")
        if not isinstance(media, list) or not media:
            raise ApiError(400, 'Bad Request: parameter "media" is required')
        return [self._new_message(call.params, caption=item.get("caption")) for item in media]

    def _send_generic(self, call: Call) -> JsonDict:
        return self._new_message(call.params, **self._caption(call))

    # ----------------------------------------------------------------- edits

    def _edit_target(self, params: JsonDict) -> JsonDict | None:
        """The stored message to edit, or None for inline messages."""
        if "inline_message_id" in params:
            return None
        if params.get("chat_id") is None or params.get("message_id") is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        key = (self._chat_key(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _apply_edit(self, message: JsonDict, changes: JsonDict, markup: JsonDict | None) -> Any:
        unchanged = all(message.get(key) == value for key, value in changes.items())
        if self.strict_edits and unchanged and message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        for key, value in {**changes, "reply_markup": markup}.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_text(self, call: Call) -> Any:
        text = self._check_text(call.params, "text", MAX_TEXT_LENGTH)
        markup = self._inline_markup(call.params)
        message = self._edit_target(call.params)
        if message is None:
            return True
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        changes = {"text": text, "entities": call.params.get("entities")}
        return self._apply_edit(message, changes, markup)

    def _edit_caption(self, call: Call) -> Any:
        changes = self._caption(call)
        markup = self._inline_markup(call.params)
        message = self._edit_target(call.params)
        return True if message is None else self._apply_edit(message, changes, markup)

    def _edit_markup(self, call: Call) -> Any:
        markup = self._inline_markup(call.params)
        message = self._edit_target(call.params)
        return True if message is None else self._apply_edit(message, {}, markup)

    def _delete_message(self, call: Call) -> bool:
        chat_id, message_id = call.params.get("chat_id"), call.params.get("message_id")
        if chat_id is not None and message_id is not None:
            key = (self._chat_key(chat_id), int(message_id))
            if self.messages.pop(key, None) is not None:
                self.deleted.append(key)
        return True

    # ----------------------------------------------------------------- commands & webhook

    @staticmethod
    def _commands_key(params: JsonDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_commands(self, call: Call) -> bool:
        self._commands[self._commands_key(call.params)] = list(call.params.get("commands", []))
        return True

    def _delete_commands(self, call: Call) -> bool:
        self._commands.pop(self._commands_key(call.params), None)
        return True

    def _get_commands(self, call: Call) -> list[JsonDict]:
        return self._commands.get(self._commands_key(call.params), [])

    def _set_webhook(self, call: Call) -> bool:
        self.webhook_url = str(call.params.get("url") or "")
        self._drop_pending_if_asked(call.params)
        return True

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook_url = ""
        self._drop_pending_if_asked(call.params)
        return True

    def _drop_pending_if_asked(self, params: JsonDict) -> None:
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
            self._notify()

    def _webhook_info(self, _: Call) -> JsonDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    # ----------------------------------------------------------------- long polling

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = [str(kind) for kind in params["allowed_updates"]]
        self._acknowledge(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        return await self._long_poll(limit, max(float(params.get("timeout") or 0), 0.0))

    def _acknowledge(self, offset: int) -> None:
        if offset < 0:
            del self._pending[:offset]
        elif offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self.acked_offset = max(self.acked_offset, offset)
        self._notify()

    async def _long_poll(self, limit: int, seconds: float) -> list[JsonDict]:
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            self._drop_unwanted()
            if self._pending:
                return copy.deepcopy(self._pending[:limit])
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._closing.is_set():
                return []
            await self._wait_change(remaining)

    def _wanted(self, update: JsonDict) -> bool:
        kind = _update_type(update)
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in DEFAULT_EXCLUDED_UPDATES

    def _drop_unwanted(self) -> None:
        """Telegram never delivers (and does not keep) updates outside allowed_updates."""
        unwanted = [update for update in self._pending if not self._wanted(update)]
        if unwanted:
            self.filtered_updates.extend(unwanted)
            self._pending = [update for update in self._pending if self._wanted(update)]
