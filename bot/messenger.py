"""The survey services' Messenger, over aiogram."""

from __future__ import annotations

import math

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import AiogramError

from bot.questions import render
from bot.telegram_errors import classify
from surveys.messenger import Ask


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
        return message.message_id
