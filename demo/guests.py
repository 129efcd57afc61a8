"""The simulated guests of `cjm demo`, and how they answer.

The story: a newly opened cafe. The coffee and the room please, but two things hold it
back, planted where an owner would look for them: the queue at the till at purchase
("the queue at the till was slow": ratings around 3), and at retention a loyalty card that
gives next to nothing, so guests rarely come back (low ratings, confusion and
disappointment; also "too far from my office", "prices went up"). How a guest felt about
the visit and about coming back moves their NPS answer (NPS_DRIVERS), so the report's
places to improve should rank these two first. About one wave in seven is ignored (it gets
a reminder, then expires), some guests answer only after the reminder, a few press /stop.

Guests see only what the bot sent them: they find the question on screen in the recorded
chat and tap one of its buttons, or type a comment under a text question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from random import Random
from typing import Any, TypeVar

from bot.callbacks import AnswerCb, ConsentCb
from bot.texts import locales, t
from surveys.answers import SKIP
from surveys.model import Question, QuestionKind, Survey

JsonDict = dict[str, Any]
T = TypeVar("T")

FIRST_USER_ID = 10_001
P_DECLINE = 0.03  # taps "No, thanks" on the consent question
P_IGNORE = 0.15  # per wave: never answers it
P_LATE = 0.05  # per wave: answers only after the reminder
P_STOP = 0.02  # per later wave: presses /stop instead of answering
P_SKIP_TEXT = 0.15  # taps Skip under a text question
P_RUSSIAN = 0.35
SEGMENTS: dict[str, float] = {"hall": 0.6, "takeaway": 0.4}
# How long a guest puts off answering a wave that has just arrived (hours: weight).
DELAY_HOURS: dict[int, float] = {0: 45, 1: 20, 2: 10, 3: 8, 5: 7, 8: 6, 12: 4}

# The average rating guests give each stage (a guest's own mood shifts all of them).
STAGE_MOOD: dict[str, float] = {
    "awareness": 4.3, "interest": 4.6, "consideration": 3.7,
    "purchase": 3.3, "retention": 2.1, "loyalty": 3.2,
}  # fmt: skip
DEFAULT_MOOD = 3.8
# How much a guest's own rating of a stage (above or below its STAGE_MOOD) moves their NPS.
NPS_DRIVERS: dict[str, float] = {"purchase": 0.5, "retention": 0.5}

# Weights of the options of the cafe's choice questions (other options weigh 1).
CHOICES: dict[str, dict[str, float]] = {
    "heard_from": {"street": 4, "social": 3, "friends": 2, "maps": 2, "regular": 0.3,
                   "other": 0.5},
    "chose_because": {"location": 4, "atmosphere": 2, "menu": 2, "reviews": 1, "prices": 1,
                      "habit": 0.3, "other": 0.5},
    "come_back": {"definitely": 1, "probably": 2, "not_sure": 3, "unlikely": 2},
    "returned": {"yes": 2, "not_yet": 3},
    "not_returned_reason": {"not_nearby": 4, "prices": 3, "no_occasion": 2, "elsewhere": 1.5,
                            "not_satisfied": 1, "other": 0.5},
}  # fmt: skip

Texts = dict[str, tuple[str, ...]]  # locale → texts
COMMENTS: dict[str, Texts] = {
    # The planted themes: the queue at purchase, the weak loyalty card at retention.
    "visit_pain": {
        "en": ("The queue at the till was slow", "Waited ages in the queue for one coffee",
               "The queue at the till was slow, I nearly left", "My latte was lukewarm",
               "No free table at lunchtime"),
        "ru": ("Долго стояли в очереди на кассе", "Очередь еле двигалась, ждал кофе долго",
               "Долго стояли в очереди на кассе, чуть не ушёл", "Латте был едва тёплый",
               "В обед негде сесть"),
    },
    "come_back_pain": {
        "en": ("The loyalty card gives almost nothing", "Too far from my office",
               "Loyalty card points are worth nothing, so why come back",
               "The loyalty card gives almost nothing, next door every 6th coffee is on the house",
               "Prices went up since my first visit"),
        "ru": ("Карта лояльности почти ничего не даёт", "Слишком далеко от моего офиса",
               "Баллы по карте лояльности ничего не стоят, зачем возвращаться",
               "Карта лояльности почти ничего не даёт, в сетевой каждый шестой кофе бесплатно",
               "Цены выросли с первого визита"),
    },
    "nps_change": {
        "en": ("Prices went up — bring back the opening prices", "Too far from my office",
               "Open earlier, I pass by at 7:30", "A loyalty card that rewards regulars"),
        "ru": ("Цены выросли — верните цены открытия", "Слишком далеко от моего офиса",
               "Открывайтесь раньше, я прохожу мимо в 7:30",
               "Карта лояльности, которая что-то даёт постоянным гостям"),
    },
    "nps_love": {
        "en": ("The cinnamon buns!", "Friendly baristas", "Cosy interior, great coffee"),
        "ru": ("Булочки с корицей!", "Приветливые бариста", "Уютно и вкусный кофе"),
    },
}  # fmt: skip
GENERIC_COMMENTS: dict[bool, Texts] = {
    True: {"en": ("All good, thank you",), "ru": ("Всё хорошо, спасибо",)},
    False: {"en": ("Prices went up", "Too far from my office"),
            "ru": ("Цены выросли", "Слишком далеко от офиса")},
}  # fmt: skip


class PlanKind(StrEnum):
    ANSWER = "answer"
    LATE = "late"  # after the reminder
    IGNORE = "ignore"
    STOP = "stop"


@dataclass
class Plan:
    """What a guest does with one wave, decided when it first appears on their screen."""

    kind: PlanKind
    at: datetime


@dataclass(frozen=True)
class Tap:
    message: JsonDict
    data: str


@dataclass(frozen=True)
class Say:
    text: str


Action = Tap | Say


@dataclass(frozen=True)
class OnScreen:
    """The newest message with answer buttons, and how many messages showed its wave."""

    message: JsonDict
    buttons: dict[int, str]  # value → callback data
    dispatch: int
    question: str
    copies: int  # 2 once the reminder has come


@dataclass
class Guest:
    user: JsonDict  # as Telegram describes the person in updates
    ref: str  # the cafe's reference: a loyalty card number
    segment: str
    mood: float
    plans: dict[int, Plan] = field(default_factory=dict)
    done: set[tuple[int, str]] = field(default_factory=set)
    ratings: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    version: int = -1  # of the chat when `screen` was read
    screen: OnScreen | None = None

    @property
    def user_id(self) -> int:
        return int(self.user["id"])

    @property
    def locale(self) -> str:
        return str(self.user["language_code"])


def answer_buttons(message: JsonDict) -> list[tuple[AnswerCb, str]]:
    prefix = f"{AnswerCb.__prefix__}{AnswerCb.__separator__}"
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    datas = [str(b.get("callback_data", "")) for row in rows for b in row]
    return [(AnswerCb.unpack(data), data) for data in datas if data.startswith(prefix)]


def consent_button(message: JsonDict, yes: bool) -> str | None:
    prefix = f"{ConsentCb.__prefix__}{ConsentCb.__separator__}"
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    for data in (str(b.get("callback_data", "")) for row in rows for b in row):
        if data.startswith(prefix) and ConsentCb.unpack(data).yes is yes:
            return data
    return None


def on_screen(messages: list[JsonDict]) -> OnScreen | None:
    for message in reversed(messages):
        buttons = answer_buttons(message)
        if buttons:
            first = buttons[0][0]
            values = {button.v: data for button, data in buttons}
            # The reminder takes the buttons over from the message it repeats.
            copies = 2 if _reminds(message) else 1
            return OnScreen(message, values, first.d, first.q, copies)
    return None


def _reminds(message: JsonDict) -> bool:
    text = str(message.get("text", ""))
    return any(t(locale, "reminder") in text for locale in locales())


def next_wakeup(guests: list[Guest], now: datetime) -> datetime | None:
    """When the next guest who put off answering means to answer."""
    waiting = [
        plan.at
        for guest in guests
        if not guest.stopped
        for plan in guest.plans.values()
        if plan.kind is PlanKind.ANSWER and plan.at > now
    ]
    return min(waiting, default=None)


def _weighted(rng: Random, weights: Mapping[T, float]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


class Behaviour:
    def __init__(self, survey: Survey, rng: Random) -> None:
        self.survey = survey
        self.rng = rng
        self.questions = {q.id: q for wave in survey.waves for q in wave.questions}

    def guest(self, number: int) -> Guest:
        locale = "ru" if self.rng.random() < P_RUSSIAN else "en"
        user = {
            "id": FIRST_USER_ID + number, "is_bot": False, "first_name": f"Guest {number + 1}",
            "language_code": locale,
        }  # fmt: skip
        segment = _weighted(self.rng, SEGMENTS)
        return Guest(user, f"card-{1000 + number}", segment, self.rng.gauss(0, 0.4))

    def consents(self) -> bool:
        return self.rng.random() >= P_DECLINE

    def act(self, guest: Guest, screen: OnScreen, now: datetime) -> Action | None:
        if guest.stopped or (screen.dispatch, screen.question) in guest.done:
            return None
        plan = guest.plans.get(screen.dispatch) or self._plan(guest, screen.dispatch, now)
        if plan.kind is PlanKind.STOP:
            guest.stopped = True
            return Say("/stop")
        if plan.kind is PlanKind.LATE and screen.copies > 1:
            # Reminded: the rest of the wave is answered (its later questions are no
            # reminders, and the reminded message is the only one with buttons).
            plan = guest.plans[screen.dispatch] = Plan(PlanKind.ANSWER, now)
        ready = plan.kind is PlanKind.ANSWER and now >= plan.at
        if not ready:
            return None
        guest.done.add((screen.dispatch, screen.question))
        return self._answer(guest, screen)

    def _plan(self, guest: Guest, dispatch: int, now: datetime) -> Plan:
        roll = self.rng.random()
        kind = PlanKind.ANSWER
        if roll < P_IGNORE:
            kind = PlanKind.IGNORE
        elif roll < P_IGNORE + P_LATE:
            kind = PlanKind.LATE
        elif roll < P_IGNORE + P_LATE + P_STOP and guest.plans:
            kind = PlanKind.STOP
        delay = timedelta(hours=_weighted(self.rng, DELAY_HOURS))
        guest.plans[dispatch] = Plan(kind, now + delay)
        return guest.plans[dispatch]

    def _answer(self, guest: Guest, screen: OnScreen) -> Action:
        question = self.questions.get(screen.question)
        first = next(iter(screen.buttons.values()))
        if question is None:
            return Tap(screen.message, first)
        if question.kind is QuestionKind.TEXT:
            comment = self._comment(guest, question)
            skip = screen.buttons.get(SKIP, first)
            return Say(comment) if comment else Tap(screen.message, skip)
        return Tap(screen.message, screen.buttons.get(self._value(guest, question), first))

    def _value(self, guest: Guest, question: Question) -> int:
        mood = STAGE_MOOD.get(question.stage, DEFAULT_MOOD) + guest.mood
        match question.kind:
            case QuestionKind.RATING:
                rating = _clamp(self.rng.gauss(mood, 0.8), 1, 5)
                guest.ratings[question.stage] = rating
                return rating
            case QuestionKind.NPS:
                felt = mood + sum(
                    weight * (guest.ratings[stage] - STAGE_MOOD[stage])
                    for stage, weight in NPS_DRIVERS.items()
                    if stage in guest.ratings
                )
                return _clamp(self.rng.gauss((felt - 1) * 2.5, 1.5), 0, 10)
            case QuestionKind.EMOTION:
                return self._emotion(guest.ratings.get(question.stage, mood))
            case _:
                weights = CHOICES.get(question.id, {})
                options = {i: weights.get(o.id, 1.0) for i, o in enumerate(question.options)}
                return _weighted(self.rng, options)

    def _emotion(self, rating: float) -> int:
        """The palette entry nearest the feeling a rating suggests (ties at random)."""
        target = (rating - 3) * 0.9 + self.rng.gauss(0, 0.5)
        emotions = self.survey.emotions
        return min(
            range(len(emotions)),
            key=lambda i: (abs(emotions[i].valence - target), self.rng.random()),
        )

    def _comment(self, guest: Guest, question: Question) -> str | None:
        if self.rng.random() < P_SKIP_TEXT:
            return None
        texts = COMMENTS.get(question.id)
        if texts is None:
            happy = guest.ratings.get(question.stage, 3) > 3
            texts = GENERIC_COMMENTS[happy]
        return self.rng.choice(_localised(texts, guest.locale))


def _localised(texts: Texts, locale: str) -> tuple[str, ...]:
    return texts.get(locale) or texts["en"]
