"""Prometheus metrics, one registry per app (tests build several apps in one process).

Counters are bumped where the work happens (an increment is a lock and an add: nothing
on the answer path waits for I/O); the send-queue lag is read from the database at scrape
time instead of being kept up to date."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from surveys.dispatcher import DrainReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UPDATE_OUTCOMES = ("handled", "unhandled", "duplicate", "failed", "not_stored")
WAVE_OUTCOMES = ("sent", "failed", "expired", "unknown", "retry", "unreachable", "reminded")
ORDER_RESULTS = ("created", "known", "rejected")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "cjm_updates", "Telegram updates handled, by outcome", ["outcome"], registry=r
        )
        self.answers = Counter("cjm_answers_stored", "Survey answers stored", registry=r)
        self.waves = Counter(
            "cjm_waves", "Waves by what the outbox drain did with them", ["outcome"], registry=r
        )
        self.telegram_errors = Counter(
            "cjm_telegram_errors", "Failed Bot API calls, by error code and what it means",
            ["code", "kind"], registry=r,
        )  # fmt: skip
        self.orders = Counter(
            "cjm_api_orders", "Orders posted to the HTTP API, by result", ["result"], registry=r
        )
        self.queue_lag = Gauge(
            "cjm_send_queue_lag_seconds",
            "How long the oldest due wave has been waiting to be sent (0: none waiting)",
            registry=r,
        )
        self.unknown_sends = Gauge(
            "cjm_waves_unknown",
            "Waves whose send is unknown (request written, answer lost): not resent by "
            "themselves; `cjm waves resend --unknown`",
            registry=r,
        )
        self.telegram_last_success = Gauge(
            "cjm_telegram_last_success_timestamp_seconds",
            "Unix time of the last Bot API call that succeeded",
            registry=r,
        )
        self.polling = Gauge(
            "cjm_polling",
            "1 while this process polls Telegram (it holds the poller lease), 0 while it "
            "stands by or runs in webhook mode",
            registry=r,
        )
        self.poll_conflicts = Counter(
            "cjm_poll_conflicts",
            "409 Conflict answers to getUpdates while this process held the poller lease: "
            "another program polls with this bot's token, or a webhook is set",
            registry=r,
        )
        for outcome in UPDATE_OUTCOMES:
            self.updates.labels(outcome)
        for outcome in WAVE_OUTCOMES:
            self.waves.labels(outcome)
        for result in ORDER_RESULTS:
            self.orders.labels(result)

    def count_update(self, outcome: str) -> None:
        self.updates.labels(outcome).inc()

    def count_answer(self) -> None:
        self.answers.inc()

    def count_drain(self, report: DrainReport) -> None:
        for outcome, n in report.outcomes.items():
            if n:
                self.waves.labels(outcome).inc(n)

    def count_telegram_error(self, code: str, kind: str) -> None:
        self.telegram_errors.labels(code, kind).inc()

    def set_polling(self, polling: bool) -> None:
        self.polling.set(1 if polling else 0)

    def count_poll_conflict(self) -> None:
        self.poll_conflicts.inc()

    def telegram_ok(self, at: datetime) -> None:
        self.telegram_last_success.set(at.timestamp())

    def render(self, queue_lag: float, unknown: float = float("nan")) -> bytes:
        self.queue_lag.set(queue_lag)
        self.unknown_sends.set(unknown)
        return generate_latest(self.registry)
