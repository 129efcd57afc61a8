"""Everything the bot says, in every supported language (survey questions live in the survey)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

LOCALES = ("en", "ru")
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}

EN = {
    "consent": (
        "Hi! I'm the feedback assistant of {business}.\n\n"
        "After your purchase I'll ask a few one-tap questions about each step — from how "
        "you found us to coming back — so the team can fix what gets in your way. "
        "You can stop at any time with /stop.\n\nShall we?"
    ),
    "consent_yes": "Yes, let's do it",
    "consent_no": "No, thanks",
    "consent_accepted": "Thank you! The first questions will come {when}.",
    "consent_accepted_soon": "Thank you! I'll write after your next purchases.",
    "consent_accepted_late": (
        "Thank you! That purchase was a while ago, so I won't ask about it: I'll write after "
        "your next one."
    ),
    "consent_declined": (
        "Understood — I won't write to you. If you change your mind, open the same link "
        "again while it works, or ask for a new one with your next order."
    ),
    "link_unknown": "This link doesn't work. Please ask the staff for a new one.",
    "link_expired": "This link has expired. Please ask the staff for a new one.",
    "link_used": "This link has already been used. Please ask the staff for a new one.",
    "already_linked": "You're all set — I'll write when there's something to ask.",
    "link_taken": (
        "This link has already been opened in another Telegram account. If it's yours, "
        "please ask the staff for a new one."
    ),
    "link_other_account": (
        "This link belongs to a customer connected from another Telegram account. If that's "
        "you, please ask the staff to move your account here."
    ),
    "link_account_in_use": (
        "This Telegram account is already connected as another customer, so it can't take "
        "this link. Please ask the staff."
    ),
    "start_stranger": (
        "Hi! I ask customers of {business} about their experience. To join, open the link "
        "or scan the QR code you get with your order."
    ),
    "start_staff": (
        "Hi! I'm the feedback assistant of {business}. You're on the staff: send /order "
        "<customer ref> for each order, and I'll give you a link and a QR code for the "
        "customer. When a customer is unhappy, I'll tell you here. More: /help"
    ),
    "start_owner": (
        "Hi! I'm the feedback assistant of {business}. You're an owner: the customer journey "
        "report comes here every week, /report sends one for any period, and I'll tell you "
        "here when a customer is unhappy. More: /help"
    ),
    "start_active": "You're all set — I'll write when there's something to ask. /help",
    "start_stopped": "You opted out earlier. Shall I ask you about your purchases again?",
    "resume_button": "Yes, resume",
    "resumed": "Welcome back! I'll write after your next purchase.",
    "help": (
        "I ask a few one-tap questions after your purchases at {business}, so the team "
        "knows what to improve.\n\n"
        "/continue — show the question I'm waiting on\n"
        "/stop — no more questions\n/forget — delete what I know about you\n"
        "/language — change the language\n/help — this message"
    ),
    "help_team": (
        "I'm the feedback assistant of {business}: after their purchases I ask customers a "
        "few one-tap questions, so the team knows what to improve.\n\n"
        "/language — change the language\n/help — this message"
    ),
    "help_staff": (
        "\n\nStaff: /order <customer ref> [segment] registers an order and gives you a "
        "link or QR code for the customer."
    ),
    "help_owner": (
        "\nOwners: /report [7d|30d|YYYY-MM-DD..YYYY-MM-DD] [segment] sends {files} for a "
        "period (the last 7 days by default); the weekly report comes on its own."
    ),
    "stopped": "Done — no more questions. /start to resume.",
    "stop_stranger": "I'm not sending you anything. /help",
    "forget_confirm": (
        "Delete everything I know about you? Your past ratings stay in the statistics, "
        "anonymous and without your comments. This cannot be undone."
    ),
    "forget_yes": "Delete my data",
    "forget_no": "Cancel",
    "forgotten": "Deleted. I no longer know who you are. Goodbye, and thank you!",
    "forget_cancelled": "Nothing was deleted.",
    "forget_stranger": "I have no data about you.",
    "language_choose": "Choose your language:",
    "language_set": "Done — I'll speak English.",
    "language_stranger": (
        "I'll remember your language once you join with the link from your order."
    ),
    "wave_intro": "A few quick questions — one tap each.",
    "reminder": "A gentle reminder — your answer helps us a lot:",
    "rating_hint": "1 — very bad, 5 — excellent",
    "nps_hint": "0 — not at all likely, 10 — extremely likely",
    "text_hint": "Write your answer in a message.",
    "skip": "Skip",
    "skipped": "Skipped",
    "thanks_done": "Thank you! That's all for now 🙏",
    "tap_hint": "Please tap one of the buttons above ☝️",
    "text_only": "I can only keep text: please write your answer in a message.",
    "text_only_team": "I only read text messages and commands. /help",
    "edits_unseen": (
        "I don't see edits to messages: please send what you wanted to say as a new message."
    ),
    "comment_too_long": (
        "That's {length}, and I can keep up to {limit} characters: please shorten it and "
        "send it again."
    ),
    "nothing_to_continue": "No question is waiting for you right now. /help",
    "not_waiting": "Thanks for the message! I'm a survey assistant and can't chat. /help",
    "already_answered": "Already answered — thank you!",
    "closed": "This question is closed.",
    "not_yours": "This button isn't for you.",
    "button_gone": "This button no longer works.",
    "unknown_command": "I don't know that command. /help",
    "staff_only": "Sorry, this command is for the staff of {business}.",
    "owner_only": "Sorry, this command is for the owners of {business}.",
    "report_usage": (
        "Usage: /report [7d|30d|YYYY-MM-DD..YYYY-MM-DD] [segment]\nExample: /report 30d downtown"
    ),
    "report_days": "A report covers 1 to {limit} days, not {word}.\nExample: /report 30d",
    "report_reversed": "The period starts after it ends: {word}. Put the earlier date first.",
    "report_bad_date": "There is no such date: {word}. Dates are written as 2026-11-30.",
    "report_unknown_segment": "No orders in the segment “{segment}”. Segments: {segments}.",
    "report_no_segments": "No order has a segment yet, so there is no “{segment}” to report on.",
    "report_empty": "No answers for {days} — nothing to draw yet. A longer period: /report 30d",
    "report_empty_segment": (
        "No answers in the segment “{segment}” for {days} — nothing to draw yet. "
        "A longer period: /report 30d {segment}"
    ),
    "report_building": "Building your report… {files} follow in a moment.",
    # What /report and the weekly report send (CJM_REPORT_FORMATS), for {files} above.
    "file_summary": "the summary",
    "file_png": "the map (PNG)",
    "file_html": "the HTML report",
    "file_pdf": "the PDF",
    "and": "and",
    "report_failed": "Sorry, the report could not be built or sent. Please try again later.",
    "report_worker_failed": (
        "Sorry, the report could not be drawn: the process that draws it stopped with an "
        "error. The details are in the bot's log. Please try again later."
    ),
    "report_timed_out": (
        "Sorry, the report took too long to draw and was stopped. Try a shorter period, "
        "or try again later."
    ),
    "order_usage": (
        "Usage: /order <customer ref> [segment]\nExample: /order +7 999 123-45-67 downtown"
    ),
    "order_bad_ref": (
        "Order not registered: “{ref}” is not a customer reference. Give one word (a card "
        "number, a CRM id) or a phone number, e.g. /order +7 999 123-45-67 downtown"
    ),
    "order_bad_segment": "Order not registered: the segment can be at most {limit} characters.",
    "order_scheduled": "Order registered. {ref} is already connected: first questions {when}.",
    "order_link": (
        "Order registered for {ref}. Show this QR code to the customer, or send them the "
        "link — it works until {until}:\n{link}"
    ),
    "order_cooldown": "Order registered. {ref} was surveyed recently: next survey after {until}.",
    "order_not_surveyed": "Order registered. {ref} has opted out of surveys.",
    "order_repeat": "This order was registered already.",
    "order_rejected": "Order not registered: {reason}",
    "order_no_link": "Order registered. {ref} has not connected yet; the link was used.",
    # Closing the loop: what staff and owners see about an unhappy customer.
    "alert_title": "⚠️ An unhappy customer",
    "alert_customer": "Customer: {ref}",
    "alert_segment": "Segment: {segment}",
    "alert_forgotten": "(the customer deleted their data)",
    "mention_forgotten": "🗑 The customer deleted their data (/forget): this message was cleared.",
    "alert_answered": "✅ Answered by {name}, {when}",
    "alert_reply_button": "↩️ Reply",
    "reply_prompt": (
        "Send your reply to {ref} in one message: I'll deliver it from the bot. Or press Cancel."
    ),
    "reply_cancel_button": "Cancel",
    "reply_cancelled": "Reply cancelled.",
    "reply_no_alert": "This alert no longer exists.",
    "reply_staff_only": "This button is for the staff.",
    "reply_forgotten": "The customer deleted their data (/forget): they can't be answered.",
    "reply_too_long": "That's too long for one message ({limit} characters at most): shorten it.",
    "reply_delivered": "Delivered to {ref} ✅",
    "reply_blocked": "Not delivered: {ref} has blocked the bot.",
    "reply_unknown": "{ref} may not have got your reply (Telegram did not answer): {reason}",
    "reply_failed": "Not delivered to {ref}: {reason}",
    "reply_to_customer": "💬 {business}, about your feedback:\n\n{text}",
    "customer_reply": "💬 {ref} answered:\n\n{text}",
    "customer_reply_passed": "Thank you — I've passed your message on to the team.",
    "now": "in a moment",
}

RU = {
    "consent": (
        "Здравствуйте! Это {business}: я собираю отзывы покупателей.\n\n"
        "После покупки я задам несколько вопросов в одно касание о каждом этапе — от того, "
        "как вы о нас узнали, до повторного визита, — чтобы команда исправила то, что "
        "мешает. Остановить опрос можно в любой момент командой /stop.\n\nНачнём?"
    ),
    "consent_yes": "Да, давайте",
    "consent_no": "Нет, спасибо",
    "consent_accepted": "Спасибо! Первые вопросы придут {when}.",
    "consent_accepted_soon": "Спасибо! Я напишу после ваших следующих покупок.",
    "consent_accepted_late": (
        "Спасибо! Та покупка была давно, поэтому о ней спрашивать не буду — напишу после "
        "следующей."
    ),
    "consent_declined": (
        "Понятно — писать не буду. Если передумаете, откройте ту же ссылку ещё раз, пока она "
        "действует, или попросите новую при следующем заказе."
    ),
    "link_unknown": "Эта ссылка не работает. Попросите, пожалуйста, новую у сотрудника.",
    "link_expired": "Срок действия ссылки истёк. Попросите, пожалуйста, новую у сотрудника.",
    "link_used": "Этой ссылкой уже воспользовались. Попросите, пожалуйста, новую у сотрудника.",
    "already_linked": "Всё готово — я напишу, когда появятся вопросы.",
    "link_taken": (
        "Эту ссылку уже открыли в другом аккаунте Telegram. Если она ваша, попросите, "
        "пожалуйста, у сотрудника новую."
    ),
    "link_other_account": (
        "Эта ссылка принадлежит покупателю, подключённому с другого аккаунта Telegram. "
        "Если это вы, попросите сотрудника перенести подключение сюда."
    ),
    "link_account_in_use": (
        "Этот аккаунт Telegram уже подключён как другой покупатель, поэтому открыть эту "
        "ссылку он не может. Обратитесь, пожалуйста, к сотруднику."
    ),
    "start_stranger": (
        "Здравствуйте! Это {business}: я спрашиваю покупателей об их впечатлениях. Чтобы "
        "присоединиться, откройте ссылку или отсканируйте QR-код, который вы получили с заказом."
    ),
    "start_staff": (
        "Здравствуйте! Это {business}: я собираю отзывы покупателей. Вы — сотрудник: на "
        "каждый заказ отправляйте /order <код клиента>, а я дам ссылку и QR-код для клиента. "
        "Если клиент останется недоволен, я сообщу здесь. Подробнее: /help"
    ),
    "start_owner": (
        "Здравствуйте! Это {business}: я собираю отзывы покупателей. Вы — владелец: отчёт о "
        "пути клиента приходит сюда каждую неделю, /report пришлёт отчёт за любой период, а "
        "если клиент останется недоволен, я сообщу здесь. Подробнее: /help"
    ),
    "start_active": "Всё готово — я напишу, когда появятся вопросы. /help",
    "start_stopped": "Раньше вы отказались от опросов. Снова спрашивать вас о покупках?",
    "resume_button": "Да, возобновить",
    "resumed": "С возвращением! Напишу после вашей следующей покупки.",
    "help": (
        "Это {business}. После покупок я задаю несколько вопросов в одно касание, чтобы "
        "команда знала, что улучшить.\n\n"
        "/continue — показать вопрос, который ждёт ответа\n"
        "/stop — больше не присылать вопросы\n/forget — удалить данные о вас\n"
        "/language — сменить язык\n/help — это сообщение"
    ),
    "help_team": (
        "Это {business}: после покупок я задаю покупателям несколько вопросов в одно "
        "касание, чтобы команда знала, что улучшить.\n\n"
        "/language — сменить язык\n/help — это сообщение"
    ),
    "help_staff": (
        "\n\nДля сотрудников: /order <код клиента> [сегмент] регистрирует заказ и даёт "
        "ссылку или QR-код для клиента."
    ),
    "help_owner": (
        "\nДля владельцев: /report [7d|30d|ГГГГ-ММ-ДД..ГГГГ-ММ-ДД] [сегмент] — {files} "
        "за период (по умолчанию за последние 7 дней); еженедельный отчёт приходит сам."
    ),
    "stopped": "Готово — больше никаких вопросов. /start — возобновить.",
    "stop_stranger": "Я ничего вам не присылаю. /help",
    "forget_confirm": (
        "Удалить всё, что я о вас знаю? Ваши прошлые оценки останутся в статистике — "
        "анонимно и без ваших комментариев. Это нельзя отменить."
    ),
    "forget_yes": "Удалить мои данные",
    "forget_no": "Отмена",
    "forgotten": "Удалено. Я больше не знаю, кто вы. До свидания и спасибо!",
    "forget_cancelled": "Ничего не удалено.",
    "forget_stranger": "У меня нет данных о вас.",
    "language_choose": "Выберите язык:",
    "language_set": "Готово — буду говорить по-русски.",
    "language_stranger": "Я запомню ваш язык, когда вы подключитесь по ссылке из заказа.",
    "wave_intro": "Несколько коротких вопросов — по одному касанию.",
    "reminder": "Небольшое напоминание — ваш ответ нам очень поможет:",
    "rating_hint": "1 — очень плохо, 5 — отлично",
    "nps_hint": "0 — точно нет, 10 — обязательно",
    "text_hint": "Напишите ответ сообщением.",
    "skip": "Пропустить",
    "skipped": "Пропущено",
    "thanks_done": "Спасибо! На этом всё 🙏",
    "tap_hint": "Пожалуйста, нажмите одну из кнопок выше ☝️",
    "text_only": "Я сохраняю только текст: напишите, пожалуйста, ответ словами.",
    "text_only_team": "Я читаю только текстовые сообщения и команды. /help",
    "edits_unseen": (
        "Исправления сообщений до меня не доходят: отправьте, пожалуйста, то, что хотели "
        "сказать, новым сообщением."
    ),
    "comment_too_long": (
        "Здесь {length}, а я могу сохранить не больше {limit} символов: сократите, "
        "пожалуйста, и отправьте ещё раз."
    ),
    "nothing_to_continue": "Сейчас нет вопросов, ожидающих ответа. /help",
    "not_waiting": "Спасибо за сообщение! Я помощник по опросам и не умею общаться. /help",
    "already_answered": "Ответ уже получен — спасибо!",
    "closed": "Этот вопрос уже закрыт.",
    "not_yours": "Эта кнопка не для вас.",
    "button_gone": "Эта кнопка больше не работает.",
    "unknown_command": "Я не знаю такой команды. /help",
    # The business's name is left out: "для владельцев Кофейня «Зерно»" cannot be declined.
    "staff_only": "Извините, эта команда только для сотрудников.",
    "owner_only": "Извините, эта команда только для владельцев.",
    "report_usage": (
        "Формат: /report [7d|30d|ГГГГ-ММ-ДД..ГГГГ-ММ-ДД] [сегмент]\nПример: /report 30d центр"
    ),
    "report_days": (
        "Отчёт строится за срок от 1 до {limit} дней, а не {word}.\nПример: /report 30d"
    ),
    "report_reversed": "Начало периода позже конца: {word}. Сначала укажите более раннюю дату.",
    "report_bad_date": "Такой даты нет: {word}. Даты пишутся так: 2026-11-30.",
    "report_unknown_segment": "Заказов в сегменте «{segment}» нет. Сегменты: {segments}.",
    "report_no_segments": (
        "Ни у одного заказа пока нет сегмента, поэтому отчёта по «{segment}» нет."
    ),
    "report_empty": "За {days} ответов нет — рисовать пока нечего. За срок подольше: /report 30d",
    "report_empty_segment": (
        "В сегменте «{segment}» за {days} ответов нет — рисовать пока нечего. "
        "За срок подольше: /report 30d {segment}"
    ),
    "report_building": "Готовлю отчёт… {files} будут через минуту.",
    "file_summary": "сводка",
    "file_png": "карта (PNG)",
    "file_html": "HTML-отчёт",
    "file_pdf": "PDF",
    "and": "и",
    "report_failed": "Извините, отчёт не удалось собрать или отправить. Попробуйте позже.",
    "report_worker_failed": (
        "Извините, отчёт не удалось нарисовать: процесс, который его рисует, завершился "
        "с ошибкой. Подробности — в журнале бота. Попробуйте позже."
    ),
    "report_timed_out": (
        "Извините, отчёт рисовался слишком долго и был остановлен. Выберите период "
        "покороче или попробуйте позже."
    ),
    "order_usage": (
        "Формат: /order <код клиента> [сегмент]\nПример: /order +7 999 123-45-67 центр"
    ),
    "order_bad_ref": (
        "Заказ не зарегистрирован: «{ref}» не подходит как код клиента. Укажите одно слово "
        "(номер карты, код в CRM) или номер телефона, например: /order +7 999 123-45-67 центр"
    ),
    "order_bad_segment": "Заказ не зарегистрирован: сегмент — не длиннее {limit} символов.",
    "order_scheduled": (
        "Заказ зарегистрирован. Клиент {ref} уже подключён: первые вопросы {when}."
    ),
    "order_link": (
        "Заказ для {ref} зарегистрирован. Покажите клиенту QR-код или отправьте ссылку — "
        "она действует до {until}:\n{link}"
    ),
    "order_cooldown": (
        "Заказ зарегистрирован. Клиент {ref} недавно проходил опрос: следующий — после {until}."
    ),
    "order_not_surveyed": "Заказ зарегистрирован. Клиент {ref} отказался от опросов.",
    "order_repeat": "Этот заказ уже был зарегистрирован.",
    "order_rejected": "Заказ не зарегистрирован: {reason}",
    "order_no_link": (
        "Заказ зарегистрирован. Клиент {ref} ещё не подключился, а ссылка уже использована."
    ),
    "alert_title": "⚠️ Недовольный клиент",
    "alert_customer": "Клиент: {ref}",
    "alert_segment": "Сегмент: {segment}",
    "alert_forgotten": "(клиент удалил свои данные)",
    "mention_forgotten": "🗑 Клиент удалил свои данные (/forget): сообщение очищено.",
    "alert_answered": "✅ Ответ клиенту: {name}, {when}",
    "alert_reply_button": "↩️ Ответить",
    "reply_prompt": (
        "Напишите ответ для {ref} одним сообщением — я передам его от имени бота. "
        "Или нажмите «Отмена»."
    ),
    "reply_cancel_button": "Отмена",
    "reply_cancelled": "Ответ отменён.",
    "reply_no_alert": "Этого оповещения больше нет.",
    "reply_staff_only": "Эта кнопка для сотрудников.",
    "reply_forgotten": "Клиент удалил свои данные (/forget): ответить ему нельзя.",
    "reply_too_long": "Слишком длинно для одного сообщения (до {limit} символов): сократите.",
    "reply_delivered": "Доставлено: {ref} ✅",
    "reply_blocked": "Не доставлено: у {ref} бот заблокирован.",
    "reply_unknown": "Ответ для {ref} мог не дойти (Telegram не ответил): {reason}",
    "reply_failed": "Не доставлено для {ref}: {reason}",
    "reply_to_customer": "💬 {business} — по вашему отзыву:\n\n{text}",
    "customer_reply": "💬 Ответ от {ref}:\n\n{text}",
    "customer_reply_passed": "Спасибо — ваше сообщение передано команде.",
    "now": "через минуту",
}

CATALOG = {"en": EN, "ru": RU}


def pick_locale(language_code: str | None, default: str) -> str:
    """Telegram's language_code ('ru', 'en-US', 'uk') → a supported locale."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in CATALOG else default


# Counted nouns by CLDR plural category (surveys.formats.plural).
CHARACTERS = {
    "en": {"one": "{n} character", "other": "{n} characters"},
    "ru": {
        "one": "{n} символ",
        "few": "{n} символа",
        "many": "{n} символов",
        "other": "{n} символа",
    },
}


def t(locale: str, key: str, **values: Any) -> str:
    text = CATALOG.get(locale, EN).get(key) or EN[key]
    return text.format(**values) if values else text


FILE_ORDER = ("png", "html", "pdf")  # the order they are sent in (reports.bundle.Part)


def report_files(formats: Iterable[str], locale: str) -> str:
    """What a report sends for CJM_REPORT_FORMATS: "the summary, the map (PNG) and the HTML
    report"; "сводка, карта (PNG), HTML-отчёт и PDF"."""
    names = [t(locale, "file_summary")]
    names += [t(locale, f"file_{name}") for name in FILE_ORDER if name in set(formats)]
    return f"{', '.join(names[:-1])} {t(locale, 'and')} {names[-1]}"
