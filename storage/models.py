"""The database schema. Every change ships as an Alembic migration in `migrations/`."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import BigId, StrEnumColumn, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class CustomerStatus(StrEnum):
    NEW = "new"  # known by reference only: no Telegram chat yet
    ACTIVE = "active"  # linked and consented
    DECLINED = "declined"
    STOPPED = "stopped"  # /stop
    UNREACHABLE = "unreachable"  # blocked the bot (403)


class Journey(StrEnum):
    """What an order did to its customer's journey."""

    SCHEDULED = "scheduled"
    AWAITING_LINK = "awaiting_link"
    COOLDOWN = "cooldown"  # an earlier journey is recent enough
    NOT_SURVEYED = "not_surveyed"  # customer declined, stopped or is unreachable


class DispatchStatus(StrEnum):
    PENDING = "pending"  # due_at is when to send
    SENDING = "sending"  # claimed; the request may be in flight
    SENT = "sent"  # due_at is when to remind, then when to expire
    ANSWERED = "answered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # /stop, /forget, unreachable, superseded
    SKIPPED = "skipped"  # too late to ask when the order arrived
    FAILED = "failed"  # dead letter: Telegram refused it for good
    UNKNOWN = "unknown"  # the request may have reached Telegram; never resent


# Key of the answers' report index (migration 0002). 0017 appended JOURNEY_KEY so that
# SQLite answers the journeys' reads from the index alone; PostgreSQL lost more than it
# gained (B-tree deduplication needs equal keys: 18 → 93 MB at 1M answers, and no read
# faster beyond the noise), so 0019 took them off there again.
REPORT_KEY = (
    "survey_id", "day", "stage", "touchpoint", "emotion",
    "segment", "kind", "skipped", "rating", "nps", "valence",
)  # fmt: skip
JOURNEY_KEY = ("order_id", "question_id")


def only_on(dialect: str, index: Index) -> Index:
    """`index` as created on `dialect` alone; `info["dialect"]` lets `metadata_on` tell
    which of two indexes of one name a database has."""
    index.info["dialect"] = dialect
    return index.ddl_if(dialect=dialect)


def metadata_on(dialect: str) -> MetaData:
    """The models' tables as the migrations leave them on `dialect`: without the indexes
    of other dialects. Alembic's comparison (autogenerate, tests) ignores `ddl_if` and
    keys the models' indexes by name, so two of one name would hide each other."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        foreign = {
            _signature(index)
            for index in table.indexes
            if index.info.get("dialect", dialect) != dialect
        }
        copy = table.to_metadata(metadata)  # copies every index, without their info
        for index in [index for index in copy.indexes if _signature(index) in foreign]:
            copy.indexes.discard(index)
    return metadata


def _signature(index: Index) -> tuple[str | None, tuple[str, ...]]:
    return str(index.name), tuple(column.name for column in index.columns)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ref: Mapped[str] = mapped_column(String(128), unique=True)
    tg_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[CustomerStatus] = mapped_column(
        StrEnumColumn(CustomerStatus), default=CustomerStatus.NEW
    )
    consented_at: Mapped[datetime | None]
    last_wave_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    survey_id: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    journey: Mapped[Journey] = mapped_column(StrEnumColumn(Journey))
    purchased_at: Mapped[datetime]
    journey_started_at: Mapped[datetime | None]  # for the survey's cooldown
    created_at: Mapped[datetime]


class LinkToken(Base):
    """A single-use, expiring deep-link token (`t.me/<bot>?start=<token>`)."""

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Indexed: an order's link is looked up by the order (API repeats, the import).
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # Who opened the link first: the consent buttons answer only that Telegram user, and
    # nobody else can open it after them.
    opened_by: Mapped[int | None] = mapped_column(BigInteger)
    # Made by the staff (`cjm customer relink`): it may move an already linked customer
    # to the Telegram account that opens it. No other link ever does.
    relink: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Dispatch(Base):
    """One wave of questions for one order: the durable outbox row the scheduler drains."""

    __tablename__ = "dispatches"
    __table_args__ = (
        UniqueConstraint("order_id", "wave_id"),
        # Partial: finished rows leave the index, so the drain stays flat over a backlog.
        Index(
            "ix_dispatches_pending_due",
            "due_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_dispatches_sent_due",
            "due_at",
            sqlite_where=text("status = 'sent'"),
            postgresql_where=text("status = 'sent'"),
        ),
        Index(
            "ix_dispatches_sending_claimed",
            "claimed_at",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
        Index("ix_dispatches_customer_status", "customer_id", "status"),
        # Response rates count the waves sent in a period (reports.aggregate).
        Index("ix_dispatches_survey_sent", "survey_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    survey_id: Mapped[str] = mapped_column(String(32))
    wave_id: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[DispatchStatus] = mapped_column(StrEnumColumn(DispatchStatus))
    due_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    claimed_at: Mapped[datetime | None]
    # When the request of a claimed wave was started: a claim that was never started
    # is not *unknown* after a crash, it is sent again after the lease.
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]  # first answer: the funnel's "opened"
    reminded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # answered, expired, cancelled, failed
    # The question on screen and the message carrying it (edited when answered).
    current_question: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Answers so far as {question_id: [number, option, valence]}: ask_if reads it
    # without another query.
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class Answer(Base):
    """Exactly one per question per dispatch; the unit every report is built from."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("dispatch_id", "question_id"),
        # The report's GROUP BY (day, stage, touchpoint, emotion) within (survey_id, day
        # range) follows this key, and every column the aggregate reads is in it: an
        # index-only scan and no temporary B-tree for the grouping. On SQLite the
        # journeys' reads are covered too; on PostgreSQL their heap lookups are cheaper
        # than the five-fold index (bench/README.md, 2026-12-07).
        only_on("sqlite", Index("ix_answers_report", *REPORT_KEY, *JOURNEY_KEY)),
        only_on("postgresql", Index("ix_answers_report", *REPORT_KEY)),
        # A journey's ratings per stage with their question (priorities, read from the
        # index alone), and order deletes (the FK).
        Index("ix_answers_order_stage", "order_id", "stage", "rating", "question_id"),
        # NPS answers only, in the report index's order: the priorities' newest NPS
        # answers (ORDER BY day DESC LIMIT) walk a tenth of the entries, and the same
        # ones in the same order as they did on the report index (6.8 → 2.3 ms at 1M).
        Index(
            "ix_answers_nps",
            *REPORT_KEY,
            *JOURNEY_KEY,
            sqlite_where=text("nps IS NOT NULL"),
            postgresql_where=text("nps IS NOT NULL"),
        ),
        # Comments only, newest first per stage: the report's quotes stop after a few.
        Index(
            "ix_answers_comments",
            "survey_id",
            "stage",
            "answered_at",
            sqlite_where=text("comment IS NOT NULL"),
            postgresql_where=text("comment IS NOT NULL"),
        ),
        # The top answers of choice questions per period: a tenth of the answers.
        Index(
            "ix_answers_choices",
            "survey_id",
            "day",
            "question_id",
            "choice",
            "segment",
            sqlite_where=text("choice IS NOT NULL"),
            postgresql_where=text("choice IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    survey_id: Mapped[str] = mapped_column(String(32))
    wave_id: Mapped[str] = mapped_column(String(32))
    question_id: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    touchpoint: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    segment: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    emotion: Mapped[str | None] = mapped_column(String(32))
    valence: Mapped[int | None] = mapped_column(SmallInteger)
    choice: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[bool] = mapped_column(default=False)
    answered_at: Mapped[datetime]
    # answered_at's date in UTC: reports group and filter by whole UTC days on an index.
    day: Mapped[date]


class CellSums:
    """A report cell's answer-level sums over a day or a week (reports.aggregate): its
    answer rows, and per metric the answers, their sum and sum of squares."""

    rows: Mapped[int] = mapped_column(Integer)
    answers: Mapped[int] = mapped_column(Integer)
    ratings: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
    rating_squares: Mapped[int] = mapped_column(Integer)
    satisfied: Mapped[int] = mapped_column(Integer)
    nps_answers: Mapped[int] = mapped_column(Integer)
    promoters: Mapped[int] = mapped_column(Integer)
    detractors: Mapped[int] = mapped_column(Integer)
    valence_answers: Mapped[int] = mapped_column(Integer)
    valence_sum: Mapped[int] = mapped_column(Integer)
    comments: Mapped[int] = mapped_column(Integer)


class AnswerRollup(CellSums, Base):
    """One day's sums of one report cell: what `reports.aggregate` reads for closed days.

    The key mirrors the aggregate's GROUP BY plus the segment; missing touchpoints,
    emotions and segments are stored as '' (not NULL) so the key can be a primary key."""

    __tablename__ = "answer_rollups"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    emotion: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)


class AnswerRollupAll(CellSums, Base):
    """One day's sums of one report cell over all segments: the sum of the day's
    `answer_rollups` rows, replaced with them (reports.rollups). A report of every
    segment reads its days outside whole weeks from here: a third of the rows to group."""

    __tablename__ = "answer_rollups_all"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    emotion: Mapped[str] = mapped_column(String(32), primary_key=True)


class AnswerRollupWeek(CellSums, Base):
    """One ISO week's sums of one report cell (Monday `week`): the sum of its seven days'
    `answer_rollups` rows, built once all seven are built (reports.week_rollup). A report
    over whole weeks reads a seventh of the rows."""

    __tablename__ = "answer_rollup_weeks"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    week: Mapped[date] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    emotion: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)


class AnswerRollupWeekAll(CellSums, Base):
    """One ISO week's sums of one report cell over all segments: the sum of the week's
    `answer_rollup_weeks` rows, built and unbuilt with them (reports.week_rollup). A
    report of every segment groups a third of the rows, and its grouping's sort was most
    of what reading the map's figures cost."""

    __tablename__ = "answer_rollup_weeks_all"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    week: Mapped[date] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    emotion: Mapped[str] = mapped_column(String(32), primary_key=True)


class CustomerSums:
    """A cell's customer-level sums (reports.customers): customers, and per metric the
    customers with a score, its sum and its sum of squares."""

    customers: Mapped[int] = mapped_column(Integer)
    r_n: Mapped[int] = mapped_column(Integer)
    r_sum: Mapped[float] = mapped_column(Float)
    r_sq: Mapped[float] = mapped_column(Float)
    s_n: Mapped[int] = mapped_column(Integer)
    s_sum: Mapped[float] = mapped_column(Float)
    s_sq: Mapped[float] = mapped_column(Float)
    p_n: Mapped[int] = mapped_column(Integer)
    p_sum: Mapped[float] = mapped_column(Float)
    p_sq: Mapped[float] = mapped_column(Float)
    v_n: Mapped[int] = mapped_column(Integer)
    v_sum: Mapped[float] = mapped_column(Float)
    v_sq: Mapped[float] = mapped_column(Float)
    d_n: Mapped[int] = mapped_column(Integer)
    d_sum: Mapped[float] = mapped_column(Float)
    d_sq: Mapped[float] = mapped_column(Float)


class CustomerRollupWeek(CustomerSums, Base):
    """One ISO week's customer-level sums of one report cell (Monday `week`): the sum of
    its seven days' `customer_rollups` rows, built with the week's answer sums
    (reports.week_rollup). A customer who answered on two days of the week counts twice,
    as in the days' own sums."""

    __tablename__ = "customer_rollup_weeks"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    week: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    low: Mapped[int] = mapped_column(Integer)


class RollupWeek(Base):
    """Which weeks `answer_rollup_weeks` holds. Deleted, in the same transaction, when
    one of its days is rebuilt or goes stale: a week is read only while its seven days
    are built and unchanged since."""

    __tablename__ = "rollup_weeks"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    week: Mapped[date] = mapped_column(primary_key=True)
    built_at: Mapped[datetime]


class CustomerRollup(CustomerSums, Base):
    """One day's customer-level sums of one report cell (reports.customers): per
    segment, stage and touchpoint ('' for the stage as a whole), the number of customers
    and, per metric, how many customers had a score, its sum and its sum of squares."""

    __tablename__ = "customer_rollups"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    low: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # unhappy customers


class ChoiceRollup(Base):
    """One closed day's answers per option of each choice question (reports.themes'
    choice lanes): built and rebuilt with the day's other rollups (reports.rollups)."""

    __tablename__ = "choice_rollups"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    question_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    choice: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    answers: Mapped[int] = mapped_column(Integer)


class RollupDay(Base):
    """Which days of a survey `answer_rollups` holds. A row with `built_at` NULL is a
    day whose rollup is stale (answers changed after it was built): reports read that
    day from `answers` until the scheduler rebuilds it."""

    __tablename__ = "rollup_days"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    built_at: Mapped[datetime | None]
    answers: Mapped[int] = mapped_column(Integer, default=0)  # answer rows rolled up
    # The highest answers.id when this day was built: an answer above the highest of
    # these that lands on a built day (an import, a clock set back) makes that day stale.
    last_answer_id: Mapped[int] = mapped_column(BigInteger, default=0)


class ThemeRollup(Base):
    """One closed day's customers per theme (reports.theme_rollup): per segment, stage,
    touchpoint ('' for the stage as a whole), role (pain, praise, idea, complained,
    commented) and theme ('' for none: the pain no theme covers, all praise, all ideas).

    `customers` counts the journeys whose comments in the stage fall on this day and
    segment only; a journey with comments in the stage on other days or segments too is
    listed in `theme_spread` instead, so that a period's distinct count stays exact.
    `quotes`: the day's best quote candidates, answer ids newest first, of a length
    that reads well; `others`: those too short or too long, taken when no other is."""

    __tablename__ = "theme_rollups"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    theme: Mapped[str] = mapped_column(String(32), primary_key=True)
    customers: Mapped[int] = mapped_column(Integer)
    quotes: Mapped[str] = mapped_column(Text)
    others: Mapped[str] = mapped_column(Text)


class ThemeSpread(Base):
    """The journeys of a `theme_rollups` row that have comments in its stage on other
    days (or segments) too: counted once per period by the report, not per day."""

    __tablename__ = "theme_spread"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    touchpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    theme: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ThemeDay(Base):
    """Which days `theme_rollups` holds, and for which themes (`version`: the
    fingerprint of the survey's themes the readings were made with). `built_at` NULL: the
    day is stale (late answers on it or in the same journey and stage, a /forget) and is
    read live until the scheduler rebuilds it."""

    __tablename__ = "theme_days"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(16))
    built_at: Mapped[datetime | None]


class FunnelWaveRollup(Base):
    """One UTC day's waves (by when they were sent) of one survey, counted per wave,
    status, question on screen, opened and send recorded (storage.funnel): the funnel
    of a report over settled days reads these instead of every dispatch. Missing
    segments and questions are stored as ''."""

    __tablename__ = "funnel_wave_rollups"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    current_question: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened: Mapped[bool] = mapped_column(primary_key=True)
    recorded: Mapped[bool] = mapped_column(primary_key=True)
    waves: Mapped[int] = mapped_column(Integer)


class FunnelAnswerRollup(Base):
    """The answers per question of one UTC day's waves (by when they were sent)."""

    __tablename__ = "funnel_answer_rollups"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    answers: Mapped[int] = mapped_column(Integer)


class FunnelDay(Base):
    """A day whose waves the funnel rollups hold (`built_at`), or a day seen with waves
    still open (`built_at` NULL: read live, and looked at again by each refresh). A day
    is built once every wave sent on it is closed for good: its counts no longer change."""

    __tablename__ = "funnel_days"

    survey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    built_at: Mapped[datetime | None]


class Alert(Base):
    """An unhappy customer's wave (an answer at or below the survey's alert thresholds):
    one per wave, however many of its answers cross a threshold. The details (ratings,
    emotions, comments) are read from the wave's answers, so /forget erases them here too.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_survey_created", "survey_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(
        ForeignKey("dispatches.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    survey_id: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))  # the first answer that crossed
    created_at: Mapped[datetime]
    replied_at: Mapped[datetime | None]  # the first staff reply delivered
    replied_by: Mapped[int | None] = mapped_column(BigInteger)  # Telegram user id
    # Their first name then: the notifications say who answered, also when redrawn later.
    replied_by_name: Mapped[str | None] = mapped_column(String(64))


class AlertMessage(Base):
    """The notification each staff member or owner got, so it can be edited in place."""

    __tablename__ = "alert_messages"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger)


class StaffMention(Base):
    """A message in a staff chat that shows an alert's customer by reference or in their
    own words (a reply prompt, a delivery notice, a relayed message): /forget edits it."""

    __tablename__ = "staff_mentions"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)


class AlertReply(Base):
    """One message of the exchange between staff and the customer about an alert."""

    __tablename__ = "alert_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(BigInteger)  # staff's Telegram id
    direction: Mapped[str] = mapped_column(String(8))  # "staff" → customer, or "customer"
    text: Mapped[str | None] = mapped_column(Text)  # None once the customer /forgets
    status: Mapped[str] = mapped_column(String(16))  # sent, failed, …
    error: Mapped[str | None] = mapped_column(String(500))  # why it was not delivered
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class ReplyDraft(Base):
    """A staff member pressed Reply: their next message goes to that alert's customer.
    In the database, so it survives a restart and works across processes."""

    __tablename__ = "reply_drafts"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]


class ReportDelivery(Base):
    """The weekly report to one owner: claimed before sending, so it goes out once per
    owner per week across restarts and processes."""

    __tablename__ = "report_deliveries"

    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    week: Mapped[date] = mapped_column(primary_key=True)  # the scheduled day, business tz
    status: Mapped[str] = mapped_column(String(16))  # sending, retry, sent, failed
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    # Parts already delivered (summary, map, HTML): a retry resumes, never repeats one.
    parts: Mapped[int] = mapped_column(SmallInteger, default=0)
    retry_at: Mapped[datetime | None]  # status retry: not before this
    locale: Mapped[str | None] = mapped_column(String(8))  # the language it was sent in


class ProcessedUpdate(Base):
    """Telegram delivers updates at least once: a replayed update_id is ignored."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(index=True)
    # When its replies were made (written shortly after, with the next update): a replay
    # of an update without it completes what a crash may have cut off.
    replied_at: Mapped[datetime | None]


class TeamLanguage(Base):
    """A staff member's or owner's language: Telegram's, as last seen, or the one they
    chose with /language. Alerts and weekly reports use it, also after a restart."""

    __tablename__ = "team_languages"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(String(8))
    chosen: Mapped[bool] = mapped_column(default=False)


class CommentReading(Base):
    """What a comment's words say — its themes, its tone and its content words — read
    once (surveys.themes.read_text) and kept, so reports count readings instead of
    reading every text again. `version` names the survey's themes and the reader; a
    reading of another version is stale and read again."""

    __tablename__ = "comment_readings"

    answer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False,
    )  # fmt: skip
    version: Mapped[str] = mapped_column(String(16))
    themes: Mapped[str] = mapped_column(Text)  # theme ids, space-separated, best first
    denied: Mapped[str] = mapped_column(Text)
    said: Mapped[str | None] = mapped_column(String(16))  # surveys.model.Intent
    says_nothing: Mapped[bool]
    # (stem, form) of the content words in order: "stem\x1fform" joined by "\x1e".
    terms: Mapped[str] = mapped_column(Text)


class PollerLease(Base):
    """Who may long-poll Telegram for a bot: Telegram allows one getUpdates consumer per
    token, so of the `cjm run` processes on one database only the holder polls; the
    others stand by and take over when its lease ends (bot.poll_lease)."""

    __tablename__ = "poller_lease"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(128))  # host:pid:random of the process
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # renewed every third of the lease while it polls
