"""The survey services' Messenger, over aiogram."""

from __future__ import annotations

import logging
import math

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import AiogramError

from bot.questions import render
from bot.telegram_errors import classify, not_modified
from surveys.messenger import Ask

log = logging.getLogger(__name__)


class TelegramMessenger:
    def __init__(self, bot: Bot, request_timeout: float) -> None:
        self.bot = bot
        self.request_timeout = max(1, math.ceil(request_timeout))  # 0 means "no timeout"

    async def ask(self, ask: Ask) -> int:
        text, keyboard = render(ask)
        try:
            message = await self.bot.send_message(
                ask.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard,
                request_timeout=self.request_timeout,
            )  # fmt: skip
        except (AiogramError, TimeoutError) as error:  # also a non-JSON answer (a proxy's page)
            raise classify(error) from error
        if ask.replaces is not None:
            await self._close(ask.chat_id, ask.replaces)
        return message.message_id

    async def _close(self, chat_id: int, message_id: int) -> None:
        """The question's earlier message loses its buttons: only the newest one answers."""
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None,
                request_timeout=self.request_timeout,
            )  # fmt: skip
        except (AiogramError, TimeoutError) as error:  # gone, or already without buttons
            if not not_modified(error):
                log.info("buttons of message %s left as they were: %s", message_id, error)
