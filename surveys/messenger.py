"""What the survey services need from Telegram, without knowing Telegram (bot/ implements it).

Send errors say what Telegram's answer means for us, not which HTTP code it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from surveys.model import Question, Survey, Wave


class SendError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryAfter(SendError):
    """429: pause all sending; the message is requeued, not counted as a failure."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"flood control: retry after {seconds:g}s")
        self.seconds = seconds


class Outage(SendError):
    """Telegram refuses the bot itself (401 revoked token, 404 wrong API URL): pause all
    sending and requeue; dead-lettering every wave would lose the backlog."""

    PAUSE = 60.0


class NotDelivered(SendError):
    """The request surely was not performed: safe to send again."""


class Unavailable(NotDelivered):
    """The Bot API could not be reached (refused, DNS, a connect timeout, a gateway's
    502/503/504 or HTML page): nothing was performed. Sending pauses and the message is
    requeued without counting an attempt: an outage ends, the wave does not."""


class MaybeDelivered(SendError):
    """*Unknown*: the request was fully written and its answer lost (a read timeout, a
    reset while waiting, a 500): it may have been performed, so it is never resent by
    itself (`cjm waves resend --unknown` does, after an operator has checked)."""


class Unreachable(SendError):
    """403: the customer blocked the bot or the account is gone."""


class Rejected(SendError):
    """Any other 4xx: dead-lettered with the reason, not retried."""


@dataclass(frozen=True, slots=True)
class Ask:
    """One question to put on a customer's screen."""

    chat_id: int
    locale: str
    dispatch_id: int
    survey: Survey
    wave: Wave
    question: Question
    intro: bool = False  # first question of a wave: say what this is about
    reminder: bool = False
    replaces: int | None = None  # a message whose buttons the reminder takes over


class Messenger(Protocol):
    async def ask(self, ask: Ask) -> int:
        """Send the question; return the message id. Raises a `SendError`."""
        ...
