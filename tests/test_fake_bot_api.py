"""Self-test: the fake Bot API works with aiogram's real HTTP client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.filters import Command
from aiogram.methods import GetUpdates
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.support.fake_bot_api import Call, FakeBotAPI, make_message_update

CHAT = 777


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
    client = Bot(token="123:abc", session=session)
    yield client
    await client.session.close()


def yes_no_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Yes", callback_data="answer:yes"),
                InlineKeyboardButton(text="No", callback_data="answer:no"),
            ]
        ]
    )


def demo_router() -> Router:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> None:
        await message.answer("hi", reply_markup=yes_no_keyboard())

    @router.callback_query(F.data.startswith("answer:"))
    async def answered(query: CallbackQuery) -> None:
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"chosen: {query.data}")

    return router


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (42, "cjm_test_bot", True)


async def test_send_message_records_decoded_markup(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Pick one", reply_markup=yes_no_keyboard())

    call = api.last("sendMessage")
    assert call.params["chat_id"] == CHAT
    assert call.params["text"] == "Pick one"
    buttons = call.params["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["answer:yes", "answer:no"]
    assert sent.message_id == 1
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "answer:no"
    assert api.message(CHAT, 1)["text"] == "Pick one"
    assert api.sent_texts(CHAT) == ["Pick one"]
    second = await bot.send_message(CHAT, "again")
    assert second.message_id == 2


async def test_send_photo_records_bytes(api: FakeBotAPI, bot: Bot) -> None:
    photo = BufferedInputFile(b"\x89PNG-fake-bytes", filename="map.png")
    sent = await bot.send_photo(CHAT, photo, caption="Your map")

    call = api.last("sendPhoto")
    assert call.files["photo"] == ("map.png", b"\x89PNG-fake-bytes")
    assert sent.photo is not None
    assert sent.caption == "Your map"
    assert api.sent_texts() == ["Your map"]


async def test_edit_message_text_updates_store(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Question?", reply_markup=yes_no_keyboard())
    edited = await bot.edit_message_text("Answered", chat_id=CHAT, message_id=sent.message_id)

    assert isinstance(edited, Message)
    assert edited.text == "Answered"
    stored = api.last_message_to(CHAT)
    assert stored["text"] == "Answered"
    assert "reply_markup" not in stored  # Telegram drops the keyboard when not re-sent
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Answered", chat_id=CHAT, message_id=sent.message_id)


async def test_fail_next_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "flood")
    assert caught.value.retry_after == 1
    assert api.last("sendMessage").outcome == "error"
    assert api.sent_texts() == []
    await bot.send_message(CHAT, "later")  # the injection is consumed
    assert api.sent_texts() == ["later"]


async def test_fail_next_forbidden(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(CHAT, "hello")


async def test_hang_next_times_out_but_is_delivered(api: FakeBotAPI, bot: Bot) -> None:
    api.hang_next("sendMessage")

    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "slow", request_timeout=1)
    assert api.last("sendMessage").outcome == "hang"
    assert api.sent_texts(CHAT) == ["slow"]
    assert api.last_message_to(CHAT)["text"] == "slow"


async def test_drop_next_disconnects(api: FakeBotAPI, bot: Bot) -> None:
    api.drop_next("sendMessage")

    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "lost response")
    assert api.last("sendMessage").outcome == "drop"
    assert (await bot.send_message(CHAT, "next")).message_id == 2


async def test_long_poll_wakes_on_push(api: FakeBotAPI, bot: Bot) -> None:
    user = api.user(CHAT, "Ann")
    poll = asyncio.create_task(bot(GetUpdates(timeout=5)))
    await api.wait_for("getUpdates")
    started = time.monotonic()
    update_id = user.send_text("hello")

    updates = await poll
    assert time.monotonic() - started < 1
    assert [u.update_id for u in updates] == [update_id]
    assert await bot(GetUpdates(offset=update_id + 1, timeout=0)) == []
    await api.wait_acked(update_id, timeout=0.1)
    assert api.pending_updates == []


async def test_polling_dispatcher_end_to_end(api: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()
    dp.include_router(demo_router())
    user = api.user(CHAT, "Ann", username="ann")
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        start_id = user.send_text("/start")
        [reply] = await api.wait_for("sendMessage")
        await api.wait_acked(start_id)
        assert reply.params["text"] == "hi"

        user.click(reply.params, "Yes")
        await api.wait_for("editMessageText")
        assert api.last_message_to(CHAT)["text"] == "chosen: answer:yes"
        assert api.calls_of("answerCallbackQuery")
        with pytest.raises(AssertionError, match=r"available: \[\]"):
            user.click(api.last_message_to(CHAT), "Yes")
    finally:
        await dp.stop_polling()
        await polling


async def test_feed_raw_update_without_polling(api: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()
    dp.include_router(demo_router())
    update = make_message_update({"id": CHAT, "is_bot": False, "first_name": "Ann"}, "/start")

    await dp.feed_raw_update(bot, update)

    assert api.sent_texts(CHAT) == ["hi"]
    assert isinstance(api.calls[-1], Call)
