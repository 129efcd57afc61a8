"""/start from the staff and the owners (issue 10): they are told what the bot does for
them, in their language, instead of being asked to join as customers with a link."""

from __future__ import annotations

from tests.flows import LINK, connect
from tests.support.harness import OWNER_ID, STAFF_ID, Harness

STAFF_RU = (
    "Здравствуйте! Это Кофейня «Зерно»: я собираю отзывы покупателей. Вы — сотрудник: на "
    "каждый заказ отправляйте /order <код клиента>, а я дам ссылку и QR-код для клиента. "
    "Если клиент останется недоволен, я сообщу здесь. Подробнее: /help"
)
OWNER_RU = (
    "Здравствуйте! Это Кофейня «Зерно»: я собираю отзывы покупателей. Вы — владелец: отчёт о "
    "пути клиента приходит сюда каждую неделю, /report пришлёт отчёт за любой период, а "
    "если клиент останется недоволен, я сообщу здесь. Подробнее: /help"
)
STAFF_EN = (
    "Hi! I'm the feedback assistant of Zerno Coffee. You're on the staff: send /order "
    "<customer ref> for each order, and I'll give you a link and a QR code for the "
    "customer. When a customer is unhappy, I'll tell you here. More: /help"
)
OWNER_EN = (
    "Hi! I'm the feedback assistant of Zerno Coffee. You're an owner: the customer journey "
    "report comes here every week, /report sends one for any period, and I'll tell you "
    "here when a customer is unhappy. More: /help"
)


async def test_the_team_hears_what_the_bot_does_for_them(harness: Harness) -> None:
    await harness.send(harness.user(STAFF_ID, "ru"), "/start")
    await harness.send(harness.user(OWNER_ID, "ru"), "/start")
    assert harness.api.sent_texts(STAFF_ID) == [STAFF_RU]
    assert harness.api.sent_texts(OWNER_ID) == [OWNER_RU]

    await harness.send(harness.user(STAFF_ID, "en"), "/start")
    await harness.send(harness.user(OWNER_ID, "en"), "/start")
    assert harness.api.sent_texts(STAFF_ID)[-1] == STAFF_EN
    assert harness.api.sent_texts(OWNER_ID)[-1] == OWNER_EN


async def test_a_stranger_is_still_asked_to_open_the_link(harness: Harness) -> None:
    await harness.send(harness.user(700, "ru"), "/start")
    assert harness.api.sent_texts(700) == [
        "Здравствуйте! Это Кофейня «Зерно»: я спрашиваю покупателей об их впечатлениях. "
        "Чтобы присоединиться, откройте ссылку или отсканируйте QR-код, который вы получили "
        "с заказом."
    ]


async def test_russian_staff_read_no_gender_guesses(harness: Harness) -> None:
    """No "Ответ дал(а)", "ответил(а)", "заблокировал(а)": the bot does not know who is a man
    or a woman, so the Russian texts are worded to need no gender at all."""
    staff = harness.user(STAFF_ID, "ru")
    alice = harness.user(501)
    await harness.send(staff, "/order alice")
    token = LINK.search(harness.api.last("sendPhoto").params["caption"])
    assert token is not None
    await harness.send(alice, f"/start {token.group(2)}")
    await harness.click(alice, harness.last_to(alice), "Yes, let's do it")
    harness.clock.advance(hours=2, minutes=1)
    await harness.drain()
    for answer in ("I've been here before", "Something on the menu", "2 ⭐", "😞 Disappointment"):
        await harness.click(alice, harness.last_to(alice), answer)
    await harness.send(alice, "Cold coffee")
    alert = harness.api.messages_to(STAFF_ID)[-1]
    await harness.click(staff, alert, "↩️ Ответить")
    await harness.send(staff, "Простите!")
    await harness.send(alice, "Thanks")
    assert harness.api.sent_texts(STAFF_ID)[-2:] == [
        "Доставлено: alice ✅",
        "💬 Ответ от alice:\n\nThanks",
    ]
    assert harness.api.message(STAFF_ID, alert["message_id"])["text"].endswith(
        f"\n\n✅ Ответ клиенту: User100, {harness.clock.now.day} ноября 2026 г. в "
        f"{harness.clock.now:%H:%M} (UTC)"
    )

    await harness.click(staff, harness.api.messages_to(STAFF_ID)[-1], "↩️ Ответить")
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await harness.send(staff, "Ждём вас снова")
    assert harness.api.sent_texts(STAFF_ID)[-1] == "Не доставлено: у alice бот заблокирован."


async def test_a_russian_customers_message_is_passed_on_without_a_gender(
    harness: Harness,
) -> None:
    ivan = harness.user(502, "ru")
    await connect(harness, ivan, "ivan")
    harness.clock.advance(hours=2, minutes=1)
    await harness.drain()
    for answer in ("Я здесь не в первый раз", "Что-то из меню", "1 ⭐", "😠 Раздражение"):
        await harness.click(ivan, harness.last_to(ivan), answer)
    await harness.send(ivan, "Холодный кофе")
    await harness.click(harness.staff, harness.api.messages_to(STAFF_ID)[-1], "↩️ Reply")
    await harness.send(harness.staff, "Sorry!")
    await harness.send(ivan, "Спасибо")
    assert harness.api.sent_texts(502)[-1] == "Спасибо — ваше сообщение передано команде."


async def test_russian_staff_read_an_order_for_a_connected_customer(harness: Harness) -> None:
    """The noun in "Клиент alice уже подключён" makes the verb's form right whoever it
    is; the first questions come "сегодня в 14:00", as people say it."""
    staff = harness.user(STAFF_ID, "ru")
    alice = harness.user(501)
    await harness.send(staff, "/order alice")
    link = LINK.search(harness.api.last("sendPhoto").params["caption"])
    assert link is not None
    await harness.send(alice, f"/start {link.group(2)}")
    await harness.click(alice, harness.last_to(alice), "Yes, let's do it")

    await harness.send(staff, "/order alice")
    assert harness.api.sent_texts(STAFF_ID)[-1] == (
        "Заказ зарегистрирован. Клиент alice недавно проходил опрос: следующий — после "
        "7 декабря 2026 г. в 12:00 (UTC)."
    )
    harness.clock.advance(days=15)
    await harness.drain()  # alice's first journey: its waves went out or expired
    await harness.send(staff, "/order alice")
    assert harness.api.sent_texts(STAFF_ID)[-1] == (
        "Заказ зарегистрирован. Клиент alice уже подключён: первые вопросы сегодня в 14:00 (UTC)."
    )


async def test_help_for_the_team_lists_no_customer_commands(harness: Harness) -> None:
    """A staff member who is not a customer has nothing to /continue, /stop or /forget."""
    await harness.send(harness.user(STAFF_ID, "ru"), "/help")
    assert harness.api.sent_texts(STAFF_ID)[-1] == (
        "Это Кофейня «Зерно»: после покупок я задаю покупателям несколько вопросов в одно "
        "касание, чтобы команда знала, что улучшить.\n\n"
        "/language — сменить язык\n/help — это сообщение\n\n"
        "Для сотрудников: /order <код клиента> [сегмент] регистрирует заказ и даёт ссылку "
        "или QR-код для клиента."
    )
    await harness.send(harness.user(OWNER_ID, "en"), "/help")
    assert harness.api.sent_texts(OWNER_ID)[-1].startswith(
        "I'm the feedback assistant of Zerno Coffee: after their purchases I ask customers a "
        "few one-tap questions, so the team knows what to improve.\n\n"
        "/language — change the language\n/help — this message\n\nStaff: /order"
    )
