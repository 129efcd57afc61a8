"""Reports to owners over Telegram: the parts sent through the bot, and `/report` built in
the background so the updates behind it in the polling queue are not kept waiting.

The bot draws reports in a worker process (reports.worker), never in its own: nothing
here imports numpy, scipy, matplotlib or jinja2."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import BufferedInputFile

from bot.background import Background
from bot.telegram_errors import classify
from bot.texts import t
from reports.aggregate import Period
from reports.bundle import BundleBuilder, Part, ReportBundle
from reports.worker import WorkerFailed
from surveys.messenger import SendError

log = logging.getLogger(__name__)


class TelegramReportSender:
    """reports.bundle.ReportSender over aiogram."""

    def __init__(self, bot: Bot, request_timeout: float) -> None:
        self.bot = bot
        self.request_timeout = max(1, math.ceil(request_timeout))  # 0 means "no timeout"

    async def send_part(self, chat_id: int, bundle: ReportBundle, part: Part) -> None:
        timeout = self.request_timeout
        try:
            if part is Part.SUMMARY:
                await self.bot.send_message(chat_id, bundle.summary, request_timeout=timeout)
            elif part is Part.MAP:
                photo = BufferedInputFile(bundle.png, bundle.png_name)
                await self.bot.send_photo(chat_id, photo, request_timeout=timeout)
            elif part is Part.PDF and bundle.pdf is not None:
                document = BufferedInputFile(bundle.pdf, bundle.pdf_name)
                await self.bot.send_document(chat_id, document, request_timeout=timeout)
            elif part is Part.HTML:
                document = BufferedInputFile(bundle.html, bundle.html_name)
                await self.bot.send_document(chat_id, document, request_timeout=timeout)
        except (AiogramError, TimeoutError) as error:
            raise classify(error) from error

    async def send_text(self, chat_id: int, text: str) -> None:
        try:
            await self.bot.send_message(chat_id, text, request_timeout=self.request_timeout)
        except (AiogramError, TimeoutError) as error:
            raise classify(error) from error


class OwnerReports:
    """`/report` after the handler has answered: build, render and send in a task."""

    def __init__(
        self,
        build: BundleBuilder,
        sender: TelegramReportSender,
        background: Background,
        clock: Callable[[], datetime],
    ) -> None:
        self.build = build
        self.sender = sender
        self.background = background
        self.clock = clock

    def start(self, chat_id: int, period: Period, segment: str | None, locale: str) -> None:
        work = self._send(chat_id, period, segment, locale)
        self.background.spawn(work, name=f"/report for {chat_id}")

    async def _send(self, chat_id: int, period: Period, segment: str | None, locale: str) -> None:
        try:
            bundle = await self.build(period, self.clock(), segment, locale)
            for part in bundle.parts:
                await self.sender.send_part(chat_id, bundle, part)
        except SendError as error:
            log.warning("/report for %s not delivered: %s", chat_id, error.reason)
            await self._apologise(chat_id, locale)
        except WorkerFailed as error:
            log.error("/report for %s was not drawn: %s", chat_id, error.reason)
            key = "report_timed_out" if error.timed_out else "report_worker_failed"
            await self._apologise(chat_id, locale, key)
        except Exception:
            log.exception("/report for %s failed", chat_id)
            await self._apologise(chat_id, locale)

    async def _apologise(self, chat_id: int, locale: str, key: str = "report_failed") -> None:
        try:
            await self.sender.send_text(chat_id, t(locale, key))
        except SendError as error:
            log.warning("/report for %s: the apology was not delivered: %s", chat_id, error)
