"""Steps that many end-to-end tests share: a staff member registers an order and the
customer connects through the deep link, exactly as people do it in Telegram."""

from __future__ import annotations

import re
from typing import Any

from tests.support.fake_bot_api import TgUser
from tests.support.harness import Harness

LINK = re.compile(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]+)")


async def register_order(h: Harness, ref: str, segment: str = "") -> str:
    """Staff sends /order; returns the deep-link token from the QR photo's caption."""
    await h.send(h.staff, f"/order {ref} {segment}".strip())
    photo = h.api.last("sendPhoto")
    match = LINK.search(photo.params["caption"])
    assert match, photo.params["caption"]
    assert match.group(1) == "cjm_test_bot"
    return match.group(2)


async def connect(h: Harness, user: TgUser, ref: str, segment: str = "") -> None:
    """From /order to a consenting customer with the journey scheduled."""
    token = await register_order(h, ref, segment)
    await h.send(user, f"/start {token}")
    consent = h.last_to(user)
    await h.click(
        user, consent, "Yes, let's do it" if user.language_code == "en" else "Да, давайте"
    )


async def first_wave(h: Harness, user: TgUser, ref: str) -> dict[str, Any]:
    """Connect, let two hours pass, drain: returns the first question on screen."""
    await connect(h, user, ref)
    h.clock.advance(hours=2, minutes=1)
    report = await h.drain()
    assert report.sent == 1, report
    return h.last_to(user)


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
