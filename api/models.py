"""What goes over the wire: validated requests and the shapes of the answers. The OpenAPI
document is generated from these same models (api/openapi.py)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from reports.levels import Level
from storage.models import Journey
from surveys import wording
from surveys.journeys import OrderRejected, customer_ref

MAX_BATCH = 1000
# Like `/order <ref> [segment]`: one word each, no control characters; lengths as the columns.
_WORD = wording.ONE_WORD
# External ids are printable ASCII without spaces: CRM keys, "tg:…", "cli:…".
_KEY = wording.PRINTABLE

ExternalId = Annotated[
    str,
    Field(
        min_length=1, max_length=128, pattern=_KEY,
        description="The order's id in your system: the idempotency key.",
    ),
]  # fmt: skip


def _customer_ref(text: str) -> str:
    try:
        return customer_ref(text)
    except OrderRejected as error:
        raise ValueError(str(error).removeprefix("customer_ref: ")) from None


CustomerRef = Annotated[
    str,
    Field(
        min_length=1, max_length=128,
        description="The customer's reference (phone, loyalty card, CRM id): one word, or a "
        "phone number, which may have spaces and dashes and is kept as its digits "
        "('+7 999 123-45-67' is '+79991234567'). An earlier order with the same reference "
        "means the customer is already known.",
    ),
    AfterValidator(_customer_ref),
]  # fmt: skip
Segment = Annotated[str, Field(min_length=1, max_length=64, pattern=_WORD)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrictIn(Strict):
    """JSON types exactly as documented: no number taken for a time, no 1 for a string."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OrderIn(StrictIn):
    external_id: ExternalId
    customer_ref: CustomerRef
    segment: Segment | None = Field(None, description="Branch, channel or product line.")
    purchased_at: AwareDatetime | None = Field(
        None, description="ISO 8601 with a time zone; default: when the order arrives."
    )


class BatchIn(StrictIn):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_BATCH)


class OrderOut(Strict):
    order_id: int
    external_id: str
    customer_ref: str = Field(description="Empty when the customer asked to be forgotten.")
    created: bool = Field(description="False: this external id was registered before.")
    journey: Journey = Field(
        description="scheduled: questions are planned; awaiting_link: the customer has to "
        "open `link` first; cooldown: an earlier journey is too recent; not_surveyed: the "
        "customer declined, stopped or blocked the bot."
    )
    link: str | None = Field(
        None, description="t.me deep link for the customer, while it is unused."
    )
    link_expires_at: datetime | None = None
    first_wave_at: datetime | None = Field(None, description="When the first questions go.")
    cooldown_until: datetime | None = None


class BatchOut(Strict):
    orders: list[OrderOut] = Field(description="One result per order, in the request's order.")
    created: int
    known: int


class ErrorItem(Strict):
    field: str | None = Field(description="Where in the request, e.g. orders[3].external_id.")
    message: str


class ErrorOut(Strict):
    errors: list[ErrorItem]


# -- the report ------------------------------------------------------------------------


def _whole_number(value: object) -> object:
    """Digits only: no "1.0", "+7" or "1_0", which int() would take."""
    if not isinstance(value, str):
        return value
    if not re.fullmatch(r"[0-9]{1,6}", value):
        raise ValueError("expected a whole number of days, e.g. 7")
    return int(value)


class ReportQuery(Strict):
    start: date | None = Field(None, alias="from", description="First day (UTC), inclusive.")
    end: date | None = Field(None, alias="to", description="Last day, inclusive; default today.")
    days: Annotated[int, BeforeValidator(_whole_number)] = Field(
        7, ge=1, le=366, description="Without `from`: the last N days."
    )
    segment: Segment | None = None
    locale: str | None = Field(None, pattern=wording.LOCALE)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FiguresOut(Strict):
    answers: int
    ratings: int
    average_rating: float | None
    csat: float | None = Field(description="Share of ratings 4–5, 0…1.")
    nps_answers: int
    promoters: int
    detractors: int
    nps: float | None = Field(description="% promoters − % detractors, −100…100.")
    nps_margin: float | None = Field(description="95 % margin of error, in points.")
    emotions: dict[str, int]
    valence_answers: int
    mean_valence: float | None
    comments: int


class ChangeOut(Strict):
    """This period minus the previous one of the same length."""

    average_rating: float | None
    csat: float | None
    nps: float | None
    mean_valence: float | None
    answers: int


class FlagOut(Strict):
    level: Level
    reasons: list[str]


class EstimateOut(Strict):
    customers: int
    mean: float = Field(description="Over the customers (each customer's answers averaged).")
    estimate: float = Field(description="Shrunk toward the journey's level (empirical Bayes).")
    low: float = Field(description="90 % interval, lower end.")
    high: float


class CellOut(Strict):
    id: str
    name: str
    customers: int = Field(description="Customers with a scored answer in the cell.")
    estimates: dict[str, EstimateOut] = Field(
        description="rating (1–5), csat (0–1), nps (−1…1, NPS/100), valence (−2…2); "
        "only with enough customers."
    )
    figures: FiguresOut
    previous: FiguresOut
    change: ChangeOut
    flag: FlagOut


class CommentOut(Strict):
    text: str
    answered_at: datetime
    touchpoint: str | None
    rating: int | None
    low: bool


class ResponseOut(Strict):
    answered: int
    sent: int
    rate: float | None


class StageOut(Strict):
    stage: CellOut
    touchpoints: list[CellOut]
    comments: list[CommentOut]
    response: ResponseOut = Field(description="Over the waves that ask about the stage.")


class PriorityOut(Strict):
    stage: str
    importance: float = Field(description="Share of the explained NPS variance, 0–1.")
    importance_low: float = Field(description="90 % bootstrap interval, lower end.")
    importance_high: float
    first: float = Field(description="Share of bootstrap resamples ranking the stage first.")
    gap: float = Field(description="Stars below the higher of the threshold and the journey.")
    fix_first: bool
    sentence: str


class PrioritiesOut(Strict):
    enough: bool = Field(description="Whether enough journeys answered NPS to rank stages.")
    journeys: int = Field(description="Journeys with an NPS answer in the period.")
    needed: int
    r_squared: float | None = Field(description="Of NPS on the stage ratings.")
    headline: str
    stages: list[PriorityOut]


class PlaceThemeOut(Strict):
    id: str
    label: str
    customers: int = Field(description="Customers (journeys) whose complaints name the theme.")
    share: float | None = Field(description="Of the stage's unhappy customers, 0–1.")
    quotes: list[str]


class PlaceOut(Strict):
    touchpoint: str | None = Field(description="The flagged touchpoint; null: the whole stage.")
    name: str
    level: Level = Field(description="Its cell's flag.")
    reason: str = Field(description="The flag's sentence; empty when it is not flagged.")
    themes: list[PlaceThemeOut] = Field(description="Leading pain themes, most customers first.")
    sentence: str = Field(description="As the weekly summary words it.")


class StagePlacesOut(Strict):
    rank: int = Field(description="1 for the first stage to improve.")
    stage: str
    name: str
    gap: float = Field(description="Stars below the higher of the threshold and the journey.")
    importance: float | None = Field(
        description="Share of what moves NPS (reports.priorities); null when not ranked by it."
    )
    importance_low: float | None = Field(description="90 % bootstrap interval, lower end.")
    importance_high: float | None
    gain: float | None = Field(description="Expected gain: importance × gap.")
    gain_low: float | None = Field(
        description="The importance's interval times the gap (the gap's own uncertainty "
        "is not in it)."
    )
    gain_high: float | None
    level: Level = Field(description="The strongest flag of the stage and its touchpoints.")
    unhappy: int = Field(description="Customers who answered the stage low or complained.")
    places: list[PlaceOut] = Field(description="Flagged touchpoints first, then the stage.")
    suggestions: list[str] = Field(description="Customers' suggestions, quoted.")
    ideas: list[str] = Field(description="The owner's ideas for the stage (`ideas:`).")


class PlacesOut(Strict):
    by_gain: bool = Field(
        description="True: ranked by expected gain; false: by the gap alone, because too few "
        "journeys answered NPS to tell what moves it."
    )
    journeys: int = Field(description="Journeys with an NPS answer in the period.")
    needed: int = Field(description="Journeys needed to rank by expected gain.")
    note: str = Field(description="How the list is ranked, in the report's language.")
    top: list[str] = Field(description="The weekly summary's lines: the top three places.")
    stages: list[StagePlacesOut] = Field(description="Only stages to improve, ranked.")


class AlertsOut(Strict):
    alerts: int
    answered: int
    answered_in_time: int
    in_time_share: float | None
    median_reply_seconds: float | None


class FunnelQuestionOut(Strict):
    id: str
    text: str = Field(description="The question as the report's language words it.")
    follow_up: bool = Field(
        description="Asked only when its ask_if holds: its figures count only the customers "
        "it was asked."
    )
    reached: int = Field(description="Customers it was shown to: answered + stopped + waiting.")
    answered: int = Field(description="Customers who answered it (a Skip counts).")
    stopped: int = Field(
        description="Customers whose wave closed unfinished (expired, superseded by a newer "
        "wave, or /stop) with this question on screen. On the first question: those who "
        "never opened the wave."
    )
    waiting: int = Field(description="Customers whose wave is still open on this question.")
    stop_share: float | None = Field(
        description="stopped / (answered + stopped): the waiting are left out, they may "
        "still answer. None when nobody has answered or stopped."
    )
    stop_low: float | None = Field(description="90 % Wilson interval, lower end.")
    stop_high: float | None
    drop_out: bool = Field(description="The wave's drop-out point (see FunnelWaveOut).")


class FunnelWaveOut(Strict):
    wave_id: str
    name: str
    sent: int = Field(description="Requests made: delivered + failed + unknown.")
    delivered: int = Field(
        description="Sends recorded as delivered, and unknown sends the customer answered."
    )
    failed: int = Field(description="Telegram refused the message for good.")
    unknown: int = Field(description="A process stopped mid-send; never answered since.")
    opened: int = Field(description="Waves with at least one answer.")
    completed: int = Field(
        description="Every question that applied (its ask_if held) answered: status answered."
    )
    expired: int = Field(description="Closed unfinished: expired, or superseded by a newer wave.")
    cancelled: int = Field(description="Closed unfinished by /stop, /forget or a blocked bot.")
    open: int = Field(description="Delivered and still waiting for an answer.")
    drop_out: str | None = Field(
        description="The question after the first where most customers stopped, when at "
        "least the survey's min_responses stopped there and the lower end of its stop "
        "share's 90 % interval is at least 5 %; else None."
    )
    questions: list[FunnelQuestionOut] = Field(description="In the wave's order.")


class PeriodOut(Strict):
    start: date = Field(alias="from")
    end: date = Field(alias="to", description="Inclusive.")
    days: int

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ReportOut(Strict):
    survey_id: str
    title: str
    locale: str
    period: PeriodOut
    segment: str | None
    generated_at: datetime
    answers: int
    response_rate: float | None
    response_rates: dict[str, ResponseOut] = Field(description="Per wave id.")
    stages: list[StageOut]
    priorities: PrioritiesOut
    places: PlacesOut = Field(description="Places to improve, per stage (reports.places).")
    alerts: AlertsOut
    funnel: list[FunnelWaveOut] = Field(
        description="Where customers drop out: per wave sent in the period (by when it was "
        "sent), in the survey's order; one count is one customer's wave of one order."
    )


# -- health ----------------------------------------------------------------------------


class CheckOut(Strict):
    ok: bool
    detail: str


class TelegramCheckOut(CheckOut):
    last_success_at: datetime | None


class UpdatesCheckOut(CheckOut):
    mode: Literal["polling", "standby", "webhook"] = Field(
        description="polling: this process polls Telegram; standby: another process on "
        "the same database does, this one takes over when it stops; webhook: Telegram "
        "posts updates"
    )


class HealthOut(Strict):
    status: Literal["ok", "failing"]
    database: CheckOut
    scheduler: CheckOut
    telegram: TelegramCheckOut
    updates: UpdatesCheckOut
