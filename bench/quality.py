"""How often the map's verdicts are right: a planted-problem simulation scored on the product's
own report (`reports.report.build_report`).

    taskset -c 1 nice .venv/bin/python -m bench.quality --seeds 100          # the full run
    .venv/bin/python -m bench.quality --seeds 2 --sizes 30 --effects 0.5     # toy size

For every seed and every configuration (healthy, a standing problem on a stage or on one
touchpoint, a drop this week) simulated customers answer the survey's waves; their answers,
orders and dispatches go into the product's tables (SQLite, migrated like the tests do) and
the weekly report is built by the product for the last 7-day period, with the survey's
`baseline_periods` (4) earlier weeks of answers before it. One database per seed holds every
configuration under its own survey id.

The model (README "Quality of the map's verdicts"):
- a customer (an order) has a mood u ~ N(0, 0.7²) in stars, and an experience of each stage
  u + v, v ~ N(0, 0.5²) — the questions of a stage are correlated through both;
- a rating question about a stage (and maybe a touchpoint) reads the latent
  level + u + v + e, e ~ N(0, 0.6²), rounded and clipped to 1–5; the levels are set so
  that every healthy question averages 4.1 stars (± 0.05), emotions read the same latent
  as a valence (−2…2) and NPS is 8.0 + Σ β_s (u + v_s) + N(0, 1), rounded to 0–10, where
  the planted driver stage has β = 1 and every other rated stage β = 0.25;
- a customer answers a wave with probability logistic(logit(0.6 · 0.75^k) + (u + v̄)) for
  the k-th wave (v̄: the wave's stages), so unhappy customers answer less; an answered
  wave's questions follow the survey's `ask_if` conditions (a follow-up rating after a low
  answer is asked only then), 3 % of ratings are skipped; choice options are uniform;
- waves are answered `after` their order plus an exponential delay (mean 6 h, expired past
  `expire_after`); orders arrive uniformly, N / 0.6 a week, so about N customers a week
  answer the first wave ("customers per week");
- optionally (`--model week_sd=0.1`) good and bad weeks: every stage's experience moves
  by N(0, week_sd²) stars from one week of answering to the next, for all customers alike;
  `--model history=8`: eight weeks of answers before the reported one instead of the
  survey's `baseline_periods` (the report tells τ² from up to eight earlier periods);
- a planted effect is a shift of the latent that lowers the *expected* rating of the stage's
  (or touchpoint's) questions by exactly the effect in stars (solved through the rounding
  and clipping): standing — in every week; a drop — in answers of the reported week only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import operator
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from scipy import optimize, stats
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import machine, write_result
from reports import report as report_module
from reports.aggregate import Period
from reports.customers import follow_ups
from reports.days import FirstDay, first_answer_day
from reports.priorities import ranked
from reports.report import Report, build_report
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from surveys.conditions import Comparison, Condition
from surveys.loader import load_survey
from surveys.model import Question, Survey

DEFAULT_SURVEY = Path(__file__).parent / "quality_survey.yaml"
SIZES = (30, 100, 300, 1000)
EFFECTS = (0.3, 0.5, 0.8)
PERIOD_START = date(2026, 11, 2)  # a Monday: the reported week is [start, start + 7 days)
WEEK = 7 * 86_400
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
PROBLEM = "problem"
SEGMENT = "all"


@dataclass(frozen=True, slots=True)
class Model:
    level: float = 4.1  # expected rating of a healthy question, stars
    jitter: float = 0.05  # healthy questions differ by at most this much
    mood_sd: float = 0.7
    stage_sd: float = 0.5
    item_sd: float = 0.6
    first_response: float = 0.6  # share of orders answering the first wave (average mood)
    response_decay: float = 0.75  # each later wave: this share of the one before
    response_slope: float = 1.0  # logit per star of the customer's mood and experience
    skip: float = 0.03
    delay_hours: float = 6.0
    valence_centre: float = 3.3  # latent − this, rounded: the emotion's valence
    nps_base: float = 8.0
    nps_driver: float = 1.0
    nps_other: float = 0.25
    nps_noise: float = 1.0
    # Good and bad weeks: each stage's experience moves by N(0, week_sd²) stars from one
    # week (of answering) to the next, for every customer alike (staff, weather, a supplier).
    week_sd: float = 0.0
    # Weeks of answers before the reported one (0: the survey's baseline_periods). A shop
    # running for two months gives the report eight earlier weeks to tell τ² from.
    history: float = 0  # given as a number like the others; whole weeks are used

    def weeks_before(self, survey: Survey) -> int:
        return int(self.history) or survey.thresholds.baseline_periods

    @property
    def latent_sd(self) -> float:
        return math.sqrt(self.mood_sd**2 + self.stage_sd**2 + self.item_sd**2)


@dataclass(frozen=True, slots=True)
class Config:
    kind: str  # healthy | stage | touchpoint | drop
    size: int  # customers a week (answering the first wave)
    effect: float = 0.0
    target: str = ""  # stage, or "stage/touchpoint"


# --- the survey as the simulation sees it ------------------------------------------------


def expected_rating(latent_mean: float | np.ndarray, sd: float) -> Any:
    """E[clip(round(y), 1, 5)] for y ~ N(latent_mean, sd²)."""
    cuts = np.arange(1, 5) + 0.5
    m = np.asarray(latent_mean, dtype=float)[..., None]
    return 1.0 + np.sum(stats.norm.sf((cuts - m) / sd), axis=-1)


def latent_for(target: float, sd: float) -> float:
    return float(optimize.brentq(lambda m: expected_rating(m, sd) - target, -5.0, 12.0))


def shift_for(means: Sequence[float], effect: float, sd: float) -> float:
    """The latent shift that lowers the mean expected rating of `means`' questions by `effect`."""
    if effect <= 0 or not means:
        return 0.0
    before = float(np.mean(expected_rating(np.asarray(means), sd)))

    def gap(d: float) -> float:
        return float(np.mean(expected_rating(np.asarray(means) - d, sd))) - (before - effect)

    return float(optimize.brentq(gap, 0.0, 10.0))


def rated(survey: Survey) -> list[Question]:
    """Rating questions that are not follow-ups: what a planted effect is measured on."""
    skip = follow_ups(survey)
    return [
        q for w in survey.waves for q in w.questions if q.kind == "rating" and q.id not in skip
    ]


def rated_stages(survey: Survey) -> list[str]:
    ids = {q.stage for q in rated(survey)}
    return [s.id for s in survey.stages if s.id in ids]


def rated_touchpoints(survey: Survey) -> list[str]:
    seen = dict.fromkeys(f"{q.stage}/{q.touchpoint}" for q in rated(survey) if q.touchpoint)
    return list(seen)


# --- simulation ---------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq,
    "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}  # fmt: skip


@dataclass
class Given:
    """Earlier answers of one wave, one entry per answering order (NaN / None: none)."""

    number: np.ndarray
    option: np.ndarray
    valence: np.ndarray


def _holds(c: Comparison, given: Mapping[str, Given], n: int) -> np.ndarray:
    g = given.get(c.question_id)
    if g is None:
        return np.zeros(n, dtype=bool)
    op = _OPS[c.op]
    if c.valence or isinstance(c.value, int):
        left = g.valence if c.valence else g.number
        present = ~np.isnan(left)
        compared = np.asarray(op(np.nan_to_num(left), c.value), dtype=bool)
    else:
        present = np.asarray([o is not None for o in g.option], dtype=bool)
        compared = np.asarray([op(o, c.value) for o in g.option], dtype=bool)
    result: np.ndarray = present & compared
    return result


def holds(condition: Condition | None, given: Mapping[str, Given], n: int) -> np.ndarray:
    if condition is None:
        return np.ones(n, dtype=bool)
    result = np.zeros(n, dtype=bool)
    for group in condition.any_of:
        both = np.ones(n, dtype=bool)
        for comparison in group:
            both &= _holds(comparison, given, n)
        result |= both
    return result


@dataclass
class Rows:
    """Rows for the product's tables, with ids unique in the seed's database."""

    next_id: dict[str, int] = field(
        default_factory=lambda: {"order": 1, "dispatch": 1, "answer": 1}
    )
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    dispatches: list[tuple[Any, ...]] = field(default_factory=list)
    answers: list[tuple[Any, ...]] = field(default_factory=list)

    def take(self, kind: str, n: int) -> np.ndarray:
        first = self.next_id[kind]
        self.next_id[kind] = first + n
        return np.arange(first, first + n)


def stamps(seconds: np.ndarray) -> list[str]:
    """Instants as the product stores them in SQLite: naive UTC text with microseconds."""
    instants = np.datetime64("2026-01-01T00:00:00", "us") + np.rint(seconds * 1e6).astype(
        "timedelta64[us]"
    )
    return [text.replace("T", " ") for text in np.datetime_as_string(instants, unit="us")]


def emotion_for(survey: Survey) -> dict[int, str]:
    """valence → the survey's first emotion with the nearest valence."""
    return {v: min(survey.emotions, key=lambda e: abs(e.valence - v)).id for v in range(-2, 3)}


@dataclass(frozen=True, slots=True)
class Plan:
    """One configuration's survey and planted truth."""

    survey: Survey
    config: Config
    driver: str
    means: Mapping[str, float]  # question id → healthy latent mean
    stage_shift: Mapping[str, float]  # standing latent shift per stage
    drop_shift: Mapping[str, float]  # this week's latent shift per stage
    touchpoint_shift: Mapping[tuple[str, str], float]
    weights: Mapping[str, float]  # stage → its weight in the NPS


def plan(
    survey: Survey, config: Config, driver: str, model: Model, rng: np.random.Generator
) -> Plan:
    sd = model.latent_sd
    means = {}
    for wave in survey.waves:
        for q in wave.questions:
            level = model.level + rng.uniform(-model.jitter, model.jitter)
            means[q.id] = latent_for(level, sd)
    stage_shift: dict[str, float] = {}
    drop_shift: dict[str, float] = {}
    touchpoint_shift: dict[tuple[str, str], float] = {}
    questions = rated(survey)
    if config.kind in ("stage", "drop"):
        shift = shift_for([means[q.id] for q in questions if q.stage == config.target],
                          config.effect, sd)  # fmt: skip
        (stage_shift if config.kind == "stage" else drop_shift)[config.target] = shift
    elif config.kind == "touchpoint":
        stage, touchpoint = config.target.split("/")
        chosen = [means[q.id] for q in questions if (q.stage, q.touchpoint) == (stage, touchpoint)]
        touchpoint_shift[stage, touchpoint] = shift_for(chosen, config.effect, sd)
    weights = {
        s: model.nps_driver if s == driver else model.nps_other for s in rated_stages(survey)
    }
    return Plan(survey, config, driver, means, stage_shift, drop_shift, touchpoint_shift, weights)


@dataclass(frozen=True, slots=True)
class Wave:
    """The customers who answer one wave of one configuration, and how they feel."""

    survey: Survey
    wave_id: str
    orders: np.ndarray  # order ids
    dispatches: list[int]
    answered_at: np.ndarray  # seconds since EPOCH
    felt: np.ndarray  # (customers, stages): their experience of each stage, in stars
    index: Mapping[str, int]  # stage id → column of `felt`


def _customers(
    p: Plan, model: Model, rng: np.random.Generator, rows: Rows
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order ids, purchase instants, stage experiences: mood + the stage's own) of the
    orders whose waves can land in the reported weeks; their rows appended to `rows`."""
    survey, config = p.survey, p.config
    start, end = _window(survey, model)
    longest = max(w.after + w.expire_after for w in survey.waves).total_seconds()
    per_week = config.size / model.first_response
    n = int(rng.poisson(per_week * (end - (start - longest)) / WEEK))
    purchased = np.sort(rng.uniform(start - longest, end, n))
    mood = rng.normal(0, model.mood_sd, n)
    experience = mood[:, None] + rng.normal(0, model.stage_sd, (n, len(survey.stages)))
    order_ids = rows.take("order", n)
    ids = order_ids.tolist()
    refs = [f"{survey.id}-{i}" for i in ids]
    at = stamps(purchased)
    rows.customers += zip(ids, refs, ["active"] * n, at, strict=True)
    rows.orders += (
        (i, ref, i, survey.id, SEGMENT, "bench", "scheduled", t, t, t)
        for i, ref, t in zip(ids, refs, at, strict=True)
    )
    return order_ids, purchased, experience


def _window(survey: Survey, model: Model) -> tuple[float, float]:
    """[first baseline day, end of the reported week) in seconds since EPOCH."""
    report_start = (
        datetime.combine(PERIOD_START, datetime.min.time(), UTC) - EPOCH
    ).total_seconds()
    return report_start - model.weeks_before(survey) * WEEK, report_start + WEEK


def simulate(p: Plan, model: Model, rng: np.random.Generator, rows: Rows) -> None:
    """The orders, dispatches and answers of one configuration, appended to `rows`."""
    survey = p.survey
    index = {s.id: i for i, s in enumerate(survey.stages)}
    _, end = _window(survey, model)
    report_start = end - WEEK
    order_ids, purchased, experience = _customers(p, model, rng, rows)
    n = len(order_ids)
    standing = np.asarray([p.stage_shift.get(s, 0.0) for s in index])
    drop = np.asarray([p.drop_shift.get(s, 0.0) for s in index])
    start, _ = _window(survey, model)
    weeks = model.weeks_before(survey) + 2  # the weeks before the window count as one
    # Drawn only when asked for, so the default model's seeds give the same customers.
    week_shift = rng.normal(0, model.week_sd, (weeks, len(index))) if model.week_sd > 0 else None
    for k, wave in enumerate(survey.waves):
        due = purchased + wave.after.total_seconds()
        delay = rng.exponential(model.delay_hours * 3600, n)
        answered_at = due + delay
        in_time = delay < wave.expire_after.total_seconds()
        # Every wave of the window's orders, the earlier waves of orders bought before the
        # baseline included (the shop has been running): the priorities read a journey's
        # ratings of every wave, whenever they were given.
        inside = (due < end) & (answered_at < end)
        this_week = answered_at >= report_start
        felt = experience - standing[None, :] - np.where(this_week[:, None], drop[None, :], 0.0)
        if week_shift is not None:
            week = np.clip(np.floor((answered_at - start) / WEEK) + 1, 0, weeks - 1)
            felt = felt + week_shift[week.astype(int)]
        wave_stages = sorted({index[q.stage] for q in wave.questions})
        base = model.first_response * model.response_decay**k
        logit = math.log(base / (1 - base)) + model.response_slope * felt[:, wave_stages].mean(1)
        responds = inside & in_time & (rng.random(n) < 1 / (1 + np.exp(-logit)))
        sent = np.flatnonzero(inside)
        dispatch_ids = rows.take("dispatch", len(sent)).tolist()
        status = {True: "answered", False: "expired"}
        rows.dispatches += (
            (d, i, i, survey.id, wave.id, SEGMENT, status[r], t, 1, t, "{}", t)
            for d, i, r, t in zip(
                dispatch_ids, order_ids[sent].tolist(), responds[sent].tolist(),
                stamps(due[sent]), strict=True,
            )
        )  # fmt: skip
        who = np.flatnonzero(responds[sent])
        if len(who) == 0:
            continue
        chosen = sent[who]
        answering = Wave(survey, wave.id, order_ids[chosen], [dispatch_ids[j] for j in who],
                         answered_at[chosen], felt[chosen], index)  # fmt: skip
        given: dict[str, Given] = {}
        for question in wave.questions:
            _answer(p, model, rng, answering, question, given, rows)


def _answer(
    p: Plan,
    model: Model,
    rng: np.random.Generator,
    w: Wave,
    q: Question,
    given: dict[str, Given],
    rows: Rows,
) -> None:
    """One question of a wave, answered by the wave's customers it is asked of."""
    m = len(w.orders)
    asked = holds(q.condition, given, m)
    number = np.full(m, np.nan)
    option = np.full(m, None, dtype=object)
    valence = np.full(m, np.nan)
    noise = rng.normal(0, model.item_sd, m)
    shift = p.touchpoint_shift.get((q.stage, q.touchpoint or ""), 0.0)
    latent = p.means[q.id] + w.felt[:, w.index[q.stage]] + noise - shift
    if q.kind == "rating":
        asked &= rng.random(m) >= model.skip
        number = np.where(asked, np.clip(np.rint(latent), 1, 5), np.nan)
    elif q.kind == "nps":
        beta = np.asarray([p.weights.get(s, 0.0) for s in w.index])
        y = model.nps_base + w.felt @ beta + rng.normal(0, model.nps_noise, m)
        number = np.where(asked, np.clip(np.rint(y), 0, 10), np.nan)
    elif q.kind == "emotion":
        v = np.clip(np.rint(latent - model.valence_centre), -2, 2)
        valence = np.where(asked, v, np.nan)
        names = emotion_for(w.survey)
        option = np.asarray([names[int(x)] for x in v], dtype=object)
    elif q.kind == "choice" and q.options:
        option = np.asarray([q.options[j].id for j in rng.integers(0, len(q.options), m)])
        option = option.astype(object)
    else:
        return  # text: nothing the map scores
    option[~asked] = None
    given[q.id] = Given(number, option, valence)
    chosen = np.flatnonzero(asked)
    count = len(chosen)
    if count == 0:
        return
    orders = w.orders[chosen].tolist()
    instants = stamps(w.answered_at[chosen])
    none = [None] * count
    values = {"rating": none, "nps": none, "emotion": none, "valence": none, "choice": none}
    if q.kind in ("rating", "nps"):
        values[q.kind] = number[chosen].astype(int).tolist()
    elif q.kind == "emotion":
        values["emotion"] = option[chosen].tolist()
        values["valence"] = valence[chosen].astype(int).tolist()
    else:
        values["choice"] = option[chosen].tolist()
    touchpoints = [q.touchpoint_of(c) for c in values["choice"]]
    rows.answers += zip(
        [w.dispatches[j] for j in chosen], orders, orders, [w.survey.id] * count,
        [w.wave_id] * count, [q.id] * count, [q.stage] * count, touchpoints, [q.kind] * count,
        [SEGMENT] * count, values["rating"], values["nps"], values["emotion"], values["valence"],
        values["choice"], none, [0] * count, instants, [at[:10] for at in instants], strict=True,
    )  # fmt: skip


# --- the product's tables ------------------------------------------------------------------

INSERTS = {
    "customers": ("id", "ref", "status", "created_at"),
    "orders": ("id", "external_id", "customer_id", "survey_id", "segment", "source", "journey",
               "purchased_at", "journey_started_at", "created_at"),
    "dispatches": ("id", "order_id", "customer_id", "survey_id", "wave_id", "segment", "status",
                   "sent_at", "attempts", "closed_at", "progress", "created_at"),
    "answers": ("dispatch_id", "order_id", "customer_id", "survey_id", "wave_id", "question_id",
                "stage", "touchpoint", "kind", "segment", "rating", "nps", "emotion", "valence",
                "choice", "comment", "skipped", "answered_at", "day"),
}  # fmt: skip


def store(path: Path, rows: Rows) -> None:
    """Bulk inserts with sqlite3's executemany, values as the product stores them; the
    answers' indexes are dropped for the load and built again after it (the same indexes)."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA journal_mode = MEMORY")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'answers'"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    for table, columns in INSERTS.items():
        values = getattr(rows, table)
        marks = ", ".join("?" * len(columns))
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values
        )
    for _, sql in indexes:
        connection.execute(sql)
    connection.commit()
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


async def migrated(path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()


# --- scoring ------------------------------------------------------------------------------


def priorities(report: Report) -> tuple[str, list[str]]:
    """(where from, stage ids most important for NPS first): the report's priorities by
    importance (reports.priorities); none when the report says the drivers cannot be told
    apart yet."""
    found = report.priorities
    if not found.enough:
        return "priorities", []
    return "priorities", ranked(found.stages)


def cells_of(report: Report) -> dict[str, tuple[str, list[str]]]:
    """cell ("stage" or "stage/touchpoint") → (flag level, rules behind it)."""
    result = {}
    for row in report.stages:
        result[row.stage.id] = (str(row.stage.flag.level), sorted(row.stage.flag.rules))
        for cell in row.touchpoints:
            result[f"{row.stage.id}/{cell.id}"] = (str(cell.flag.level), sorted(cell.flag.rules))
    return result


@dataclass(frozen=True, slots=True)
class Job:
    seed: int
    configs: tuple[Config, ...]
    survey_path: str
    template: str
    directory: str
    model: Model = field(default_factory=Model)
    thresholds: Mapping[str, float] = field(default_factory=dict)  # survey keys changed


def with_thresholds(survey: Survey, changes: Mapping[str, float]) -> Survey:
    """The survey with some of its `thresholds` keys changed (validated like the file's)."""
    if not changes:
        return survey
    data = survey.thresholds.model_dump() | dict(changes)
    return survey.model_copy(update={"thresholds": type(survey.thresholds).model_validate(data)})


def thresholds_of(text: str) -> dict[str, float]:
    """`relative_rating=0.1,fdr=0.1` → the survey keys to change, checked on a survey."""
    changes: dict[str, float] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = pair.partition("=")
        try:
            changes[name] = float(value)
        except ValueError:
            raise SystemExit(f"--thresholds: {name} needs a number, not {value!r}") from None
    try:
        with_thresholds(load_survey(DEFAULT_SURVEY), changes)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SystemExit(f"--thresholds: {where}: {first['msg']}") from None
    return changes


def run_seed(job: Job) -> list[dict[str, Any]]:
    rng = np.random.default_rng([job.seed, 0])
    survey = with_thresholds(load_survey(job.survey_path), job.thresholds)
    stages, touchpoints = rated_stages(survey), rated_touchpoints(survey)
    driver = str(rng.choice(stages))
    rows = Rows()
    plans = []
    for k, given in enumerate(job.configs):
        target = given.target
        if given.kind in ("stage", "drop") and not target:
            target = str(rng.choice(stages))
        elif given.kind == "touchpoint" and not target:
            target = str(rng.choice(touchpoints))
        config = Config(given.kind, given.size, given.effect, target)
        copy = survey.model_copy(update={"id": f"{survey.id[:24]}_{k}"})
        generator = np.random.default_rng([job.seed, k + 1])
        p = plan(copy, config, driver, job.model, generator)
        simulate(p, job.model, generator, rows)
        plans.append(p)
    path = Path(job.directory) / f"seed-{job.seed}.db"
    shutil.copyfile(job.template, path)
    try:
        store(path, rows)
        return asyncio.run(_score(path, plans))
    finally:
        path.unlink(missing_ok=True)


async def _score(path: Path, plans: Sequence[Plan]) -> list[dict[str, Any]]:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    sessions = make_session_factory(engine)
    period = Period(PERIOD_START, PERIOD_START + timedelta(days=7))
    now = datetime.combine(period.end, datetime.min.time(), UTC)
    records = []
    try:
        for p in plans:
            async with sessions() as session:
                report = await build_report(session, p.survey, period, now)
                evidence = await _evidence(session, p, period) if p.config.target else {}
                if not p.config.target:
                    evidence = await _discoveries(session, p, period)
            source, ranking = priorities(report)
            c = p.config
            records.append({
                "kind": c.kind, "size": c.size, "effect": c.effect, "target": c.target,
                "driver": p.driver, "ranking": ranking, "ranking_source": source,
                "cells": cells_of(report), "customers": report.customers,
                "journeys": report.priorities.journeys, **evidence,
            })  # fmt: skip
    finally:
        await engine.dispose()
    return records


async def _verdicts(session: AsyncSession, p: Plan, period: Period) -> Any:
    """The verdicts behind the report (reports.report._judge, private: a change of its
    signature fails here, loudly — a silent skip once lost every diagnostic of a run)."""
    judge = getattr(report_module, "_judge", None)
    if judge is None:
        return None
    first = FirstDay(await first_answer_day(session, p.survey.id))
    return (await judge(session, p.survey, period, None, p.survey.default_locale, first)).verdicts


async def _evidence(session: AsyncSession, p: Plan, period: Period) -> dict[str, Any]:
    """The planted cell's smallest p-value per rule, the number of tests that went through
    the report's FDR procedure, and how many of them were discoveries."""
    verdicts = await _verdicts(session, p, period)
    if verdicts is None:
        return {}
    stage, _, touchpoint = p.config.target.partition("/")
    verdict = verdicts.get((stage, touchpoint or None))
    by_rule: dict[str, float] = {}
    for finding in getattr(verdict, "findings", ()):
        rule = f"{finding.rule}:{finding.metric}"
        by_rule[rule] = min(by_rule.get(rule, 1.0), float(finding.p))
    discovered = [f.p for v in verdicts.cells.values() for f in v.findings if f.discovered]
    return {
        "target_p": by_rule,
        "tests": int(getattr(verdicts, "tests", 0)),
        # The report's largest discovered p: how far down BH's line reached that week.
        "cutoff": max(discovered, default=0.0),
        "discovered": len(discovered),
    }


async def _discoveries(session: AsyncSession, p: Plan, period: Period) -> dict[str, Any]:
    """A healthy report's discoveries as "cell rule:metric p" (what a false problem was
    made of)."""
    verdicts = await _verdicts(session, p, period)
    if verdicts is None:
        return {}
    found = [
        f"{'/'.join(part for part in key if part)} {f.rule}:{f.metric} {f.p:.1e}"
        for key, verdict in verdicts.cells.items()
        for f in verdict.findings
        if f.discovered
    ]
    return {"discoveries": found}


# --- figures ------------------------------------------------------------------------------


def share(hits: Iterable[bool]) -> tuple[float, int]:
    values = list(hits)
    return (sum(values) / len(values) if values else float("nan")), len(values)


def pct(value: tuple[float, int]) -> str:
    s, n = value
    return "—" if n == 0 else f"{100 * s:5.1f} %"


def is_problem(record: dict[str, Any], cell: str, rule: str | None = None) -> bool:
    level, rules = record["cells"].get(cell, ("", []))
    return bool(level == PROBLEM and (rule is None or rule in rules))


def summarise(records: Sequence[dict[str, Any]], sizes: Sequence[int],
              effects: Sequence[float]) -> dict[str, Any]:  # fmt: skip
    def by(kind: str, size: int, effect: float | None = None) -> list[dict[str, Any]]:
        return [
            r for r in records
            if r["kind"] == kind and r["size"] == size and effect in (None, r["effect"])
        ]  # fmt: skip

    out: dict[str, Any] = {"healthy": {}, "stage": {}, "touchpoint": {}, "drop": {}, "driver": {}}
    for size in sizes:
        healthy = by("healthy", size)
        problems = [[c for c, (lvl, _) in r["cells"].items() if lvl == PROBLEM] for r in healthy]
        rule_share = {
            rule: share(any(is_problem(r, c, rule) for c in r["cells"]) for r in healthy)[0]
            for rule in ("threshold", "relative", "drop")
        }
        stages = [c for c in (healthy[0]["cells"] if healthy else {}) if "/" not in c]
        per_stage = {s: share(is_problem(r, s, "drop") for r in healthy)[0] for s in stages}
        out["healthy"][size] = {
            "any_problem": share(bool(p) for p in problems),
            "any_stage_problem": share(any("/" not in c for c in p) for p in problems),
            "any_touchpoint_problem": share(any("/" in c for c in p) for p in problems),
            "any_watch": share(
                any(lvl == "watch" for lvl, _ in r["cells"].values()) for r in healthy
            ),
            "by_rule": rule_share,
            "false_drop_per_stage": per_stage,
        }  # fmt: skip
        ranked = [r for r in records if r["size"] == size and r["kind"] == "healthy"]
        out["driver"][size] = {
            "first": share(bool(r["ranking"]) and r["ranking"][0] == r["driver"] for r in ranked),
            "source": ranked[0]["ranking_source"] if ranked else "",
        }
        for kind in ("stage", "touchpoint"):
            for effect in effects:
                chosen = by(kind, size, effect)
                if chosen:
                    out[kind][f"{effect}@{size}"] = {
                        "recall": share(is_problem(r, r["target"]) for r in chosen),
                        "others_false": share(
                            any(lvl == PROBLEM and not _related(c, r["target"])
                                for c, (lvl, _) in r["cells"].items())
                            for r in chosen
                        ),
                    }  # fmt: skip
        dropped = by("drop", size)
        if dropped:
            out["drop"][size] = {
                "by_drop_rule": share(is_problem(r, r["target"], "drop") for r in dropped),
                "flagged": share(is_problem(r, r["target"]) for r in dropped),
                "effect": dropped[0]["effect"],
            }
    return out


def _related(cell: str, target: str) -> bool:
    """The planted cell, its stage and its touchpoints are not false alarms."""
    stage = target.split("/", maxsplit=1)[0]
    if "/" in target:
        return cell in (target, stage)
    return cell == stage or cell.startswith(f"{stage}/")


def mark(value: float, target: float, at_most: bool = False) -> str:
    if math.isnan(value):
        return ""
    ok = value <= target if at_most else value >= target
    return " ✓" if ok else " ✗"


def print_tables(s: dict[str, Any], sizes: Sequence[int], effects: Sequence[float]) -> None:
    head = "".join(f"{n:>10}" for n in sizes)
    print("\nHealthy weekly reports (nothing planted), share with …        customers/week:")
    print(f"{'':44}{head}")
    rows = [
        ("any false problem cell (target ≤ 5 %)", "any_problem", True),
        ("  a stage cell", "any_stage_problem", False),
        ("  a touchpoint cell", "any_touchpoint_problem", False),
        ("any watch cell", "any_watch", False),
    ]
    for label, key, target in rows:
        cells = ""
        for n in sizes:
            v = s["healthy"].get(n, {}).get(key, (float("nan"), 0))
            cells += f"{pct(v):>8}{mark(v[0], 0.05, True) if target and v[1] else '  '}"
        print(f"{label:44}{cells}")
    for rule in ("threshold", "relative", "drop"):
        cells = "".join(
            f"{pct((s['healthy'][n]['by_rule'][rule], 1)):>8}  "
            for n in sizes
            if n in s["healthy"]
        )
        print(f"{'  a problem by the ' + rule + ' rule':44}{cells}")
    targets = {("stage", 0.5, 100): 0.8, ("stage", 0.5, 300): 0.95, ("stage", 0.3, 1000): 0.8,
               ("stage", 0.8, 30): 0.95, ("touchpoint", 0.5, 300): 0.8}  # fmt: skip
    for kind in ("stage", "touchpoint"):
        print(f"\nA standing problem on one {kind}, flagged problem (recall):")
        print(f"{'effect (stars)':44}{head}")
        for effect in effects:
            cells = ""
            for n in sizes:
                v = s[kind].get(f"{effect}@{n}", {}).get("recall", (float("nan"), 0))
                t = targets.get((kind, effect, n))
                cells += f"{pct(v):>8}{mark(v[0], t) if t is not None and v[1] else '  '}"
            print(f"{effect:<44}{cells}")
        cells = ""
        for n in sizes:
            vals = [
                s[kind][f"{e}@{n}"]["others_false"][0] for e in effects if f"{e}@{n}" in s[kind]
            ]
            cells += f"{pct((max(vals), 1)) if vals else '—':>8}  "
        print(f"{'  other cells problem (worst effect)':44}{cells}")
    print("\nDrops:")
    for n, d in s["drop"].items():
        print(f"  a {d['effect']}-star drop at {n}/week flagged by the drop rule: "
              f"{pct(d['by_drop_rule'])}{mark(d['by_drop_rule'][0], 0.9)} (any problem "
              f"{pct(d['flagged'])})")  # fmt: skip
    print("  false drops per stage in healthy reports (target ≤ 1 %), mean / worst stage:")
    for n in sizes:
        per = s["healthy"].get(n, {}).get("false_drop_per_stage", {})
        if per:
            mean, worst = float(np.mean(list(per.values()))), max(per.values())
            name = max(per, key=lambda k: per[k])
            print(f"    {n:>5}/week: {100 * mean:4.1f} % / {100 * worst:4.1f} % ({name})"
                  f"{mark(worst, 0.01, True)}")  # fmt: skip
    print("\nThe planted NPS driver ranked first (healthy reports):")
    for n in sizes:
        d = s["driver"].get(n)
        if d:
            t = {100: 0.85, 300: 0.97}.get(n)
            print(
                f"    {n:>5}/week: {pct(d['first'])}{mark(d['first'][0], t) if t else ''}"
                f"  (from report.{d['source']})"
            )


def print_why(records: Sequence[dict[str, Any]], sizes: Sequence[int],
              effects: Sequence[float]) -> None:  # fmt: skip
    """What lies behind the figures: the rules behind false problems, where they fell, and
    the flag a missed planted problem got instead."""
    print("\nWhy — false problem cells in healthy reports (cell: reports with it, its rules):")
    for size in sizes:
        healthy = [r for r in records if r["kind"] == "healthy" and r["size"] == size]
        found: dict[str, list[str]] = {}
        for r in healthy:
            for cell, (level, rules) in r["cells"].items():
                if level == PROBLEM:
                    found.setdefault(cell, []).append("+".join(rules))
        text = ", ".join(
            f"{cell} {len(v)} ({', '.join(sorted(set(v)))})"
            for cell, v in sorted(found.items(), key=lambda kv: -len(kv[1]))
        )
        print(f"  {size:>5}/week ({len(healthy)} reports): {text or 'none'}")
        for r in healthy:  # the findings behind each false report, with their p-values
            flagged = any(level == PROBLEM for level, _ in r["cells"].values())
            if flagged and r.get("discoveries"):
                print(f"        {'; '.join(r['discoveries'])}")
    print("Why — the planted cell's flag (problem: its rules; else the level it got):")
    for kind in ("stage", "touchpoint", "drop"):
        for effect in (
            effects
            if kind != "drop"
            else sorted({r["effect"] for r in records if r["kind"] == "drop"})
        ):
            parts = []
            for size in sizes:
                chosen = [
                    r
                    for r in records
                    if r["kind"] == kind and r["size"] == size and r["effect"] == effect
                ]
                if not chosen:
                    continue
                tally: dict[str, int] = {}
                for r in chosen:
                    level, rules = r["cells"].get(r["target"], ("missing", []))
                    key = "+".join(rules) if level == PROBLEM else level
                    tally[key] = tally.get(key, 0) + 1
                parts.append(f"{size}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
                             + _p_note(chosen))  # fmt: skip
            if parts:
                print(f"  {kind} {effect}: " + " | ".join(parts))  # fmt: skip


def _p_note(chosen: Sequence[dict[str, Any]]) -> str:
    """The planted cell's median smallest p-value (any rule), and the median number of
    tests in its report (the conditional BH of reports.evidence tests those with p ≤ 0.5)."""
    ps = [min(r["target_p"].values(), default=1.0) for r in chosen if "target_p" in r]
    tests = [r["tests"] for r in chosen if r.get("tests")]
    if not ps or not tests:
        return ""
    return f" [median p {np.median(ps):.2g}; {np.median(tests):.0f} tests in the report]"


# --- main ---------------------------------------------------------------------------------


def configs(sizes: Sequence[int], effects: Sequence[float], drop_sizes: Sequence[int],
            drop_effect: float, target: str = "") -> tuple[Config, ...]:  # fmt: skip
    """`target`: plant every stage problem and drop on that stage (and skip the
    touchpoint configurations) instead of a stage drawn per seed."""
    result = [Config("healthy", n) for n in sizes]
    for kind in ("stage",) if target else ("stage", "touchpoint"):
        result += [Config(kind, n, e, target) for e in effects for n in sizes]
    result += [Config("drop", n, drop_effect, target) for n in drop_sizes]
    return tuple(result)


def model_of(text: str) -> Model:
    """The default model with `name=value` pairs changed: `level=3.9,mood_sd=0.9`."""
    changes: dict[str, float] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = pair.partition("=")
        if name not in Model.__dataclass_fields__:
            raise SystemExit(
                f"--model: no parameter {name!r} (one of {', '.join(asdict(Model()))})"
            )
        try:
            changes[name] = float(value)
        except ValueError:
            raise SystemExit(f"--model: {name} needs a number, not {value!r}") from None
    return replace(Model(), **changes)


def numbers(text: str, kind: Callable[[str], Any]) -> list[Any]:
    return [kind(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--effects", default=",".join(map(str, EFFECTS)))
    parser.add_argument("--drop-sizes", default="100")
    parser.add_argument("--drop-effect", type=float, default=0.5)
    parser.add_argument("--survey", default=str(DEFAULT_SURVEY), help="template name or path")
    parser.add_argument(
        "--target", default="", help="plant the stage problems and the drop on this stage"
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--thresholds", default="", help="survey keys to change: relative_rating=0.1,fdr=0.1"
    )
    parser.add_argument(
        "--model", default="", help="other assumptions: level=3.9,mood_sd=0.9,response_slope=1.5"
    )
    parser.add_argument("--summarise", metavar="JSON", help="print the tables of a results file")
    args = parser.parse_args()
    sizes, effects = numbers(args.sizes, int), numbers(args.effects, float)
    if args.summarise:
        saved = json.loads(Path(args.summarise).read_text(encoding="utf-8"))
        sizes = numbers(saved["args"]["sizes"], int)
        effects = numbers(saved["args"]["effects"], float)
        print_tables(summarise(saved["records"], sizes, effects), sizes, effects)
        print_why(saved["records"], sizes, effects)
        return
    drop_sizes = [n for n in numbers(args.drop_sizes, int) if n in sizes] or sizes[:1]
    if args.target and args.target not in rated_stages(load_survey(args.survey)):
        raise SystemExit(f"--target: {args.target!r} is not a rated stage of {args.survey}")
    chosen = configs(sizes, effects, drop_sizes, args.drop_effect, args.target)
    model = model_of(args.model)
    thresholds = thresholds_of(args.thresholds)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cjm-quality-", dir=_fast_tmp()) as directory:
        template = Path(directory) / "template.db"
        asyncio.run(migrated(template))
        jobs = [Job(seed, chosen, args.survey, str(template), directory, model, thresholds)
                for seed in range(args.first_seed, args.first_seed + args.seeds)]  # fmt: skip
        records: list[dict[str, Any]] = []
        if args.jobs > 1:
            with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                for done, result in enumerate(pool.imap_unordered(run_seed, jobs), 1):
                    records += result
                    _progress(done, len(jobs), started)
        else:
            for done, job in enumerate(jobs, 1):
                records += run_seed(job)
                _progress(done, len(jobs), started)
    summary = summarise(records, sizes, effects)
    print(f"\n{args.seeds} seeds, survey {args.survey}, {time.perf_counter() - started:.0f} s")
    print_tables(summary, sizes, effects)
    print_why(records, sizes, effects)
    path = write_result("quality", {
        "machine": machine(), "args": vars(args), "model": asdict(model),
        "summary": summary, "records": records,
    })  # fmt: skip
    print(f"\nwritten {path}")
    _check(records, len(jobs) * len(chosen))


def _progress(done: int, total: int, started: float) -> None:
    print(f"seed {done}/{total} done, {time.perf_counter() - started:.0f} s", flush=True)


def _check(records: Sequence[dict[str, Any]], expected: int) -> None:
    """Correctness of the run itself: every report built, and the cells judged."""
    if len(records) != expected:
        raise SystemExit(f"{len(records)} reports, expected {expected}")
    if not any(r["customers"] > 0 for r in records):
        raise SystemExit("no report saw a customer: the simulation fed nothing")
    missing = sum("target_p" not in r for r in records if r["target"])
    if missing:
        raise SystemExit(f"{missing} planted reports without their p-values: diagnostics lost")


def _fast_tmp() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


if __name__ == "__main__":
    main()
