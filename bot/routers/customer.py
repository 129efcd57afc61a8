"""The customer's side: the deep link and consent, /stop, /forget, /language, /help."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import AlertDesk
from bot.callbacks import ConsentCb, ForgetCb, LanguageCb, ResumeCb, offered
from bot.keyboards import consent_keyboard, forget_keyboard, language_keyboard, resume_keyboard
from bot.languages import TeamLanguages
from bot.middlewares import Replies
from bot.roles import Role
from bot.services import Services
from bot.texts import locales, report_files, t
from storage.models import CustomerStatus, Journey
from surveys import alerts, privacy
from surveys.consent import ConsentState, LinkState, TelegramUser, answer_consent, open_link

_LINK_TEXTS = {
    LinkState.UNKNOWN: "link_unknown",
    LinkState.EXPIRED: "link_expired",
    LinkState.USED: "link_used",
    LinkState.ALREADY_LINKED: "already_linked",
    LinkState.TAKEN: "link_taken",
    LinkState.OTHER_ACCOUNT: "link_other_account",
    LinkState.ACCOUNT_IN_USE: "link_account_in_use",
}
_CONSENT_REFUSALS = {
    ConsentState.NOT_YOURS: "not_yours",
    ConsentState.CLOSED: "link_used",
    ConsentState.OTHER_ACCOUNT: "link_other_account",
}


async def on_start_link(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    assert message.from_user is not None and command.args is not None
    view = await open_link(session, command.args.strip(), message.from_user.id, now)
    if view.state is not LinkState.OK or view.link_id is None:
        replies.add(message.answer(t(locale, _LINK_TEXTS[view.state])))
        return
    text = t(locale, "consent", business=services.business(locale))
    replies.add(message.answer(text, reply_markup=consent_keyboard(view.link_id, locale)))


async def on_consent(
    query: CallbackQuery,
    callback_data: ConsentCb,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    user = TelegramUser(query.from_user.id, query.from_user.id, locale)
    result = await answer_consent(
        session, services.journeys, callback_data.link, user, callback_data.yes, now
    )
    if result.state is ConsentState.REPEATED:
        replies.add(query.answer())
        return
    if result.state in _CONSENT_REFUSALS:
        replies.add(query.answer(t(locale, _CONSENT_REFUSALS[result.state]), show_alert=True))
        return
    if query.message is not None:
        replies.add(query.message.edit_reply_markup(reply_markup=None))  # type: ignore[union-attr]
    replies.add(query.answer())
    locale = result.locale or locale
    if result.state is ConsentState.DECLINED:
        text = t(locale, "consent_declined")
    elif result.journey is Journey.SCHEDULED and result.first_wave_at is None:
        text = t(locale, "consent_accepted_late")  # every wave's moment has passed
    elif result.journey is Journey.SCHEDULED:
        first = result.first_wave_at
        when = t(locale, "now") if first is None or first <= now else services.soon(first, locale)
        text = t(locale, "consent_accepted", when=when)
    else:
        text = t(locale, "consent_accepted_soon")
    replies.add(query.message.answer(text) if query.message else query.answer(text))


async def on_start(
    message: Message,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    locale: str,
    role: Role,
) -> None:
    assert message.from_user is not None
    profile = await privacy.profile(session, message.from_user.id)
    locale = profile.locale or locale
    if not profile.known:
        # Staff and owners are not asked to join as customers: they hear what they can do.
        key = {Role.OWNER: "start_owner", Role.STAFF: "start_staff"}.get(role, "start_stranger")
        replies.add(message.answer(t(locale, key, business=services.business(locale))))
    elif profile.status in (CustomerStatus.STOPPED, CustomerStatus.UNREACHABLE):
        replies.add(
            message.answer(t(locale, "start_stopped"), reply_markup=resume_keyboard(locale))
        )
    else:
        replies.add(message.answer(t(locale, "start_active")))


async def on_resume(
    query: CallbackQuery, session: AsyncSession, replies: Replies, locale: str
) -> None:
    locale = (await privacy.profile(session, query.from_user.id)).locale or locale
    resumed = await privacy.resume(session, query.from_user.id)
    replies.add(query.answer())
    if resumed and query.message is not None:
        replies.add(query.message.edit_text(t(locale, "resumed"), reply_markup=None))  # type: ignore[union-attr]


async def on_help(
    message: Message,
    session: AsyncSession,
    services: Services,
    replies: Replies,
    locale: str,
    role: Role,
    report_formats: tuple[str, ...],
) -> None:
    assert message.from_user is not None
    profile = await privacy.profile(session, message.from_user.id)
    locale = profile.locale or locale
    # A team member who is not also a customer has no survey to /continue, /stop or /forget.
    key = "help" if profile.known or role is Role.CUSTOMER else "help_team"
    text = t(locale, key, business=services.business(locale))
    if role is not Role.CUSTOMER:
        text += t(locale, "help_staff")
    if role is Role.OWNER:
        text += t(locale, "help_owner", files=report_files(report_formats, locale))
    replies.add(message.answer(text))


async def on_stop(
    message: Message, session: AsyncSession, replies: Replies, now: datetime, locale: str
) -> None:
    assert message.from_user is not None
    profile = await privacy.profile(session, message.from_user.id)
    cancelled = await privacy.stop(session, message.from_user.id, now)
    locale = profile.locale or locale
    if cancelled is None:
        replies.add(message.answer(t(locale, "stop_stranger")))
    else:
        replies.add(message.answer(t(locale, "stopped")))


async def on_forget(
    message: Message, session: AsyncSession, replies: Replies, locale: str
) -> None:
    assert message.from_user is not None
    profile = await privacy.profile(session, message.from_user.id)
    locale = profile.locale or locale
    if not profile.known:
        replies.add(message.answer(t(locale, "forget_stranger")))
        return
    replies.add(message.answer(t(locale, "forget_confirm"), reply_markup=forget_keyboard(locale)))


async def on_forget_answer(
    query: CallbackQuery,
    callback_data: ForgetCb,
    session: AsyncSession,
    alert_desk: AlertDesk,
    replies: Replies,
    now: datetime,
    locale: str,
) -> None:
    profile = await privacy.profile(session, query.from_user.id)
    locale = profile.locale or locale
    if callback_data.yes:
        their_alerts = await alerts.forgetting(session, query.from_user.id)
        mentions = await alerts.forget_mentions(session, their_alerts)
        done = await privacy.forget(session, query.from_user.id, now)
        text = t(locale, "forgotten" if done else "forget_stranger")
        # Staff chats keep copies of the alerts: they lose the customer's words too, and
        # the prompts, notices and relayed messages their reference and words.
        for alert in await alerts.redrawn(session, their_alerts):
            replies.after(alert_desk.publish(alert))
        if mentions:
            replies.after(alert_desk.forget(mentions))
    else:
        text = t(locale, "forget_cancelled")
    replies.add(query.answer())
    if query.message is not None:
        replies.add(query.message.edit_text(text, reply_markup=None))  # type: ignore[union-attr]


async def on_language(message: Message, services: Services, replies: Replies, locale: str) -> None:
    spoken = [code for code in services.survey.locales if code in locales()]
    replies.add(
        message.answer(t(locale, "language_choose"), reply_markup=language_keyboard(spoken))
    )


async def on_language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCb,
    session: AsyncSession,
    services: Services,
    team_languages: TeamLanguages,
    replies: Replies,
    locale: str,
) -> None:
    if callback_data.code not in locales() or callback_data.code not in services.survey.locales:
        replies.add(query.answer(t(locale, "closed")))
        return
    known = await privacy.set_locale(session, query.from_user.id, callback_data.code)
    if query.from_user.id in team_languages.user_ids:
        await team_languages.choose(session, query.from_user.id, callback_data.code)
    elif not known:  # a stranger: nothing to keep the choice with
        replies.add(query.answer(t(locale, "language_stranger"), show_alert=True))
        return
    replies.add(query.answer())
    if query.message is not None:
        text = t(callback_data.code, "language_set")
        replies.add(query.message.edit_text(text, reply_markup=None))  # type: ignore[union-attr]


def setup() -> Router:
    router = Router(name="customer")
    router.message.register(on_start_link, CommandStart(deep_link=True))
    router.message.register(on_start, CommandStart())
    router.message.register(on_help, Command("help"))
    router.message.register(on_stop, Command("stop"))
    router.message.register(on_forget, Command("forget"))
    router.message.register(on_language, Command("language"))
    # Only a button of the message it came from acts (bot.callbacks.offered); the fallback
    # router answers any other.
    router.callback_query.register(on_consent, ConsentCb.filter(), offered)
    router.callback_query.register(on_resume, ResumeCb.filter(), offered)
    router.callback_query.register(on_forget_answer, ForgetCb.filter(), offered)
    router.callback_query.register(on_language_chosen, LanguageCb.filter(), offered)
    return router
