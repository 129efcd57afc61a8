"""Settings from CJM_* environment variables and an optional .env file (SPEC §5)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.logs import LogFormat
from reports.bundle import DEFAULT_FORMATS, FORMATS
from reports.schedule import crontab
from surveys import wording
from surveys.model import parse_duration
from surveys.timing import QuietHours, SendingRules

IdList = Annotated[frozenset[int], NoDecode]
Formats = Annotated[tuple[str, ...], NoDecode]


SECRETS = frozenset({"bot_token", "api_key", "webhook_secret"})  # never echoed in errors


POLL_LEASE = (timedelta(seconds=3), timedelta(minutes=10))


class SettingsError(Exception):
    """One line naming the setting that stopped start-up."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CJM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: SecretStr | None = None
    bot_username: str | None = Field(None, pattern=wording.BOT_USERNAME)
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///cjm.db"
    redis_url: str | None = None
    owner_ids: IdList = frozenset()
    staff_ids: IdList = frozenset()
    survey: str = "cafe"
    timezone: str = "UTC"
    # Unset: the survey's default_locale (Settings.locale_for).
    default_locale: str | None = Field(None, pattern=wording.LOCALE)
    quiet_hours: str = "21:00-09:00"
    report_cron: str = "0 9 * * mon"
    dispatch_interval: float = Field(3.0, gt=0, le=3600)
    dispatch_batch: int = Field(64, ge=1, le=1000)
    send_rate: float = Field(25.0, ge=0, description="messages per second; 0 = no limit")
    send_lease: timedelta = Field(timedelta(minutes=2), description="a claim older is stale")
    link_ttl: timedelta = timedelta(days=7)
    # How long a polling process that died keeps the others from polling (bot.poll_lease).
    poll_lease: timedelta = timedelta(seconds=30)
    request_timeout: float = Field(20.0, gt=0)
    stop_timeout: float = Field(
        10.0, gt=0, le=600, description="seconds SIGTERM waits for the sends in flight"
    )
    report_timeout: float = Field(300.0, gt=0, description="seconds a report may take to draw")
    report_formats: Formats = DEFAULT_FORMATS  # the files the weekly report and /report send
    api_key: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    log_format: LogFormat = "text"

    @field_validator("owner_ids", "staff_ids", mode="before")
    @classmethod
    def _id_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            bad = [part for part in parts if part and not part.lstrip("-").isdigit()]
            if bad:
                raise ValueError(
                    f"{bad[0]!r} is not a Telegram user id (expected numbers separated by commas)"
                )
            return frozenset(int(part) for part in parts if part)
        return value

    @field_validator("report_formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        known = ", ".join(FORMATS)
        bad = [name for name in names if name not in FORMATS]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a report format (use {known}, comma-separated)")
        if not names:
            raise ValueError(f"name at least one of {known}, comma-separated")
        return tuple(dict.fromkeys(names))

    @field_validator("send_lease", "link_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("poll_lease", mode="before")
    @classmethod
    def _poll_lease(cls, value: Any) -> timedelta:
        lease = parse_duration(value)
        if not POLL_LEASE[0] <= lease <= POLL_LEASE[1]:
            # Renewed every third of it: shorter would write to the database all the time.
            raise ValueError("between 3s and 10m")
        return lease

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Moscow)") from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    @field_validator("report_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            crontab(value, "UTC")
        except ValueError as error:
            raise ValueError(
                f"not a crontab line: {error} (minute hour day month weekday, e.g. '0 9 * * mon')"
            ) from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected the public https:// URL Telegram should post updates to")
        return value.strip()

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("1-256 characters: letters, digits, _ and - only")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "CJM_WEBHOOK_SECRET must be set with CJM_WEBHOOK_URL: without it anyone "
                "could post updates to the bot"
            )
        return self

    @classmethod
    def explicit(cls, **values: Any) -> Settings:
        """Only these values and CJM_* variables: no .env file (tests, the demo)."""
        return cls(_env_file=None, **values)

    def locale_for(self, survey_locale: str) -> str:
        """The language of people the bot knows nothing about: CJM_DEFAULT_LOCALE, else
        the survey's own default."""
        return self.default_locale or survey_locale

    @property
    def sending_rules(self) -> SendingRules:
        return SendingRules(ZoneInfo(self.timezone), QuietHours.parse(self.quiet_hours))

    def token(self) -> str:
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise SettingsError(
                "CJM_BOT_TOKEN: not set (get one from @BotFather, or try `cjm demo`)"
            )
        return self.bot_token.get_secret_value()


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        message = wording.message(first)
        if not first["loc"]:  # a rule across settings: its message names them
            raise SettingsError(message) from None
        field = str(first["loc"][0])
        got = repr(first.get("input"))
        if field not in SECRETS and got not in message:
            message += f" (got {got})"
        raise SettingsError(f"CJM_{field.upper()}: {message}") from None
