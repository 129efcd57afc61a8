"""Dates, numbers and plurals as people read them in their language (Babel's CLDR data),
for everything the bot says and the CLI prints: "3 Dec 2026, 22:39 (MSK)",
"3 декабря 2026 г. в 22:39 (МСК)", "3,000", "3 000". The words and the date patterns are in the
catalogs surveys/locales/<lang>/LC_MESSAGES/formats.po (see README, Translations)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_name
from babel.numbers import format_decimal, format_percent, get_decimal_symbol

from surveys import catalogs  # a module: catalogs formats its counts here

# CLDR has no short name for Moscow time; in Russia everyone writes МСК (the message "msk").
_MOSCOW = {"Europe/Moscow", "Europe/Simferopol", "Europe/Kirov", "Europe/Volgograd"}


@cache
def _locale(code: str) -> Locale:
    try:
        return Locale.parse(code)
    except (ValueError, LookupError, UnknownLocaleError):  # "xx": Babel knows no such locale
        return Locale.parse("en")


@cache
def words() -> catalogs.Catalogs:
    """The catalogs of the words and date patterns here: surveys/locales/<lang>/formats.po."""
    return catalogs.Catalogs(Path(__file__).parent / "locales", "formats")


def _language(code: str) -> str:
    language = _locale(code).language
    return language if words().has(language) else catalogs.SOURCE


def _text(locale: str, key: str, **values: str) -> str:
    return words().text(_language(locale), key, **values)


def moment(when: datetime, zone: tzinfo, locale: str) -> str:
    """A local date and time with the year and the time zone."""
    local = when.astimezone(zone)
    date = format_date(local, _text(locale, "date"), locale=_locale(locale))
    time = format_time(local, "HH:mm", locale=_locale(locale))
    return _text(locale, "date_time", date=date, time=time) + f" ({zone_label(local, locale)})"


# A moment later today or tomorrow, as people say it: "today at 14:00 (MSK)"; by the days
# from today, the message.
_NEAR = {0: "today_at", 1: "tomorrow_at"}


def soon(when: datetime, now: datetime, zone: tzinfo, locale: str) -> str:
    """A coming moment: "today at 14:00 (MSK)", "tomorrow at 09:00 (MSK)", or beyond
    tomorrow the date as `moment` writes it."""
    local, today = when.astimezone(zone), now.astimezone(zone).date()
    near = _NEAR.get((local.date() - today).days)
    if near is None:
        return moment(when, zone, locale)
    time = format_time(local, "HH:mm", locale=_locale(locale))
    return _text(locale, near, time=time) + f" ({zone_label(local, locale)})"


def day(when: datetime, zone: tzinfo, locale: str) -> str:
    """A local date with the year: "3 Dec 2026", "3 декабря 2026 г."."""
    local = when.astimezone(zone)
    return format_date(local, _text(locale, "date"), locale=_locale(locale))


def zone_label(local: datetime, locale: str) -> str:
    """MSK, UTC, EST, or the offset ("UTC+5", "UTC+5:30") where CLDR has no short name."""
    key = getattr(local.tzinfo, "key", None)
    if key in _MOSCOW:
        return _text(locale, "msk")
    offset = local.utcoffset()
    if offset is None or not offset or local.tzinfo is UTC or key in ("UTC", "Etc/UTC"):
        return "UTC"
    name = get_timezone_name(local, "short", locale=_locale(locale))
    if name.isalpha():
        return name
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def number(value: int | float | Decimal, locale: str) -> str:
    """3,000 in English, 3 000 in Russian."""
    if type(value) is int:  # a count: the map writes hundreds of the same few
        return _count(value, locale)
    return format_decimal(value, locale=_locale(locale))


# Babel formats a number in ~20 µs (its pattern and the locale's symbols looked up each
# time) and a report writes ~100 counts and shares per map; the same ones recur. Bounded:
# a process writing every count up to millions keeps only the recent ones.
@lru_cache(maxsize=4096)
def _count(value: int, locale: str) -> str:
    return format_decimal(value, locale=_locale(locale))


@cache
def decimal_sign(locale: str) -> str:
    """ "." in English, "," in Russian."""
    return str(get_decimal_symbol(_locale(locale)))


def decimal(value: float, digits: int, locale: str) -> str:
    """Fixed-point with the locale's decimal sign: 3.2 in English, 3,2 in Russian (rounded
    as Python rounds it, so every output shows the same digits)."""
    return f"{value:.{digits}f}".replace(".", decimal_sign(locale))


def percent(share: float, locale: str) -> str:
    """A share as the locale writes a percentage: 67% in English, 67 % in Russian."""
    # Floats only (1 and 1.0 are one key to a cache), and not zero (nor −0.0, its twin).
    if type(share) is float and share:
        return _percent(share, locale)
    return format_percent(share, locale=_locale(locale))


@lru_cache(maxsize=4096)
def _percent(share: float, locale: str) -> str:
    return format_percent(share, locale=_locale(locale))


def plural(
    count: int | Decimal, locale: str, forms: Mapping[str, str], shown: str | None = None
) -> str:
    """The form for `count` by the locale's CLDR plural rule ("one", "few", "many",
    "other"), falling back to "other"; `{n}` in it becomes the formatted count (or `shown`,
    the count as already written: a Decimal("0.4") reads "0,4 звезды", "1.0 stars")."""
    form = forms.get(_locale(locale).plural_form(count)) or forms["other"]
    return form.format(n=number(count, locale) if shown is None else shown)
