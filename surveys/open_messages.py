"""Which message shows each wave's open question, for a reminder to take its buttons over.

Noting it costs nothing on the answer's path: the ids wait here and the next drain stores
them in one statement, before it looks for reminders (hours later). An id lost with a
crash, or noted by another process, only leaves an old keyboard on screen; a tap on it is
still answered."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage import answers


class OpenMessages:
    def __init__(self) -> None:
        self.pending: dict[int, int] = {}  # dispatch id → message id

    def note(self, dispatch_id: int, message_id: int) -> None:
        self.pending[dispatch_id] = message_id

    async def flush(self, session: AsyncSession) -> None:
        pending, self.pending = self.pending, {}
        await answers.set_messages(session, pending)
