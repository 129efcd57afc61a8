"""A scenario told through the fake Bot API: people act, the clock moves, and every message
each person received is kept in order, as they read it, for assertions and a transcript."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.support.fake_bot_api import Call, TgUser
from tests.support.harness import Harness

# Latin words a Russian reader meets in a Russian message without it being English: names
# of things that have no Russian name, units and the bot's own commands' arguments.
LATIN_ALLOWED = frozenset(
    {"nps", "csat", "qr", "html", "png", "csv", "xlsx", "telegram", "crm", "id", "ok", "utc"}
)
_LATIN_WORD = re.compile(r"(?<![/\w@.:-])[A-Za-z][A-Za-z']+")
_SKIPPED = re.compile(r"https?://\S+|/\w+|<[^>]*>|\[[^\]]*\]|\w+\.\w{2,4}\b")


def english_words(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Latin-alphabet words in a message meant for a Russian reader, leaving out links,
    commands, their <placeholders> and [options], file names, and the `allowed` names."""
    plain = _SKIPPED.sub(" ", text)
    known = LATIN_ALLOWED | {word.lower() for word in allowed}
    return [w for w in _LATIN_WORD.findall(plain) if w.lower() not in known]


@dataclass
class Seen:
    """One line of a person's side of the chat."""

    when: datetime
    who: str  # "bot" or the person
    what: str  # as shown: HTML entities and tags rendered, buttons and edits noted
    text: str = ""  # the text or caption exactly as the bot sent it

    def line(self, zone_offset: timedelta) -> str:
        local = self.when + zone_offset
        return f"[{local:%a %d.%m %H:%M}] {self.who}: {self.what}"


def _buttons(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


_TAG = re.compile(r"</?(?:b|i|u|s|code|pre)>")


def rendered(text: str, parse_mode: str | None) -> str:
    """What Telegram shows for a text sent with `parse_mode` HTML: no tags, no entities."""
    return html.unescape(_TAG.sub("", text)) if parse_mode == "HTML" else text


def _shown(call: Call) -> tuple[int, str, str] | None:
    """(chat, what the person sees, the text as sent) for a call that shows something."""
    p, method = call.params, call.method
    if not call.ok or "chat_id" not in p:
        return None
    keys = _buttons(p.get("reply_markup"))
    tail = ("\n    " + " | ".join(f"[{b}]" for b in keys)) if keys else ""
    text = str(p.get("text", p.get("caption", "")))
    seen = rendered(text, p.get("parse_mode"))
    chat = int(p["chat_id"])
    if method == "sendMessage":
        return chat, seen + tail, text
    if method == "sendPhoto":
        return chat, f"(photo) {seen}{tail}".rstrip(), text
    if method == "sendDocument":
        name = call.files["document"][0] if "document" in call.files else "?"
        return chat, f"(file {name}) {seen}".rstrip(), text
    if method == "editMessageText":
        return chat, f"(message {p['message_id']} now reads) {seen}{tail}", text
    if method == "editMessageReplyMarkup":
        return (
            chat,
            f"(message {p['message_id']}: {' | '.join(f'[{b}]' for b in keys) or 'no buttons'})",
            "",
        )
    return None


@dataclass
class Story:
    h: Harness
    names: dict[int, str] = field(default_factory=dict)
    seen: dict[int, list[Seen]] = field(default_factory=dict)
    _read: int = 0

    def person(self, user: TgUser, name: str) -> TgUser:
        self.names[user.user_id] = name
        self.seen.setdefault(user.user_id, [])
        return user

    # -- what people do -----------------------------------------------------------------
    async def says(self, user: TgUser, text: str) -> None:
        self._collect()
        self._note(user.user_id, self.names[user.user_id], text)
        await self.h.send(user, text)
        await self._soon()

    async def sends(self, user: TgUser, update: dict[str, Any], what: str) -> None:
        self._collect()
        self._note(user.user_id, self.names[user.user_id], what)
        await self.h.push(update)
        await self._soon()

    async def _soon(self) -> None:
        """What the bot does within seconds of an update: its timer drains the outbox."""
        self._collect()
        await self.h.drain()
        self._collect()

    async def taps(self, user: TgUser, label: str) -> None:
        """Tap the button `label` on the latest message that shows it."""
        self._collect()
        for message in reversed(self.h.api.messages_to(user.user_id)):
            if label in _buttons(message.get("reply_markup")):
                break
        else:
            raise AssertionError(f"{self.names[user.user_id]} sees no button {label!r}")
        self._note(user.user_id, self.names[user.user_id], f"taps [{label}]")
        start = len(self.h.api.calls)
        await self.h.click(user, message, label)
        for call in self.h.api.calls[start:]:
            if call.method == "answerCallbackQuery" and call.params.get("text"):
                self._note(user.user_id, "bot", f"(toast) {call.params['text']}")
        await self._soon()

    async def wait(self, until: datetime, step: timedelta = timedelta(minutes=30)) -> None:
        """Let time pass to `until`, the outbox drained every `step` as the timer would;
        in the quiet hours (local, Harness settings) nothing can be sent, so the night is
        skipped to the morning's first drain."""
        while self.h.clock.now < until:
            self.h.clock.now = min(until, self._next(self.h.clock.now + step))
            await self.h.drain()
            self._collect()

    def _next(self, moment: datetime) -> datetime:
        return self.h.app.services.rules.after_quiet(moment)

    async def job(self, job_id: str) -> None:
        job = self.h.app.scheduler.get_job(job_id)
        assert job is not None, job_id
        await job.func()
        self._collect()

    # -- what people saw ------------------------------------------------------------------
    def _note(self, chat: int, who: str, what: str, text: str | None = None) -> None:
        if chat in self.seen:
            self.seen[chat].append(
                Seen(self.h.clock.now, who, what, what if text is None else text)
            )

    def _collect(self) -> None:
        calls = self.h.api.calls
        for call in calls[self._read :]:
            shown = _shown(call)
            if shown is not None:
                self._note(*shown[:1], "bot", *shown[1:])
        self._read = len(calls)

    def received(self, user: TgUser) -> list[str]:
        """Everything the bot showed this person, in order (toasts included), as shown."""
        self._collect()
        return [s.what for s in self.seen[user.user_id] if s.who == "bot"]

    def texts(self, user: TgUser) -> list[str]:
        """The texts and captions the bot sent this person, as sent."""
        self._collect()
        return [s.text for s in self.seen[user.user_id] if s.who == "bot" and s.text]

    def transcript(self, user: TgUser, zone_offset: timedelta) -> str:
        self._collect()
        return "\n".join(s.line(zone_offset) for s in self.seen[user.user_id])
