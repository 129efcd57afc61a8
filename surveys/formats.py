"""Dates, numbers and plurals as people read them in their language (Babel's CLDR data),
for everything the bot says and the CLI prints: "3 Dec 2026, 22:39 (MSK)",
"3 декабря 2026 г. в 22:39 (МСК)", "3,000", "3 000"."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import cache

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_name
from babel.numbers import format_decimal

# A date with its year, and how a time joins it; by the locale's language.
_DATE = {"en": "d MMM y", "ru": "d MMMM y 'г.'"}
_JOIN = {"en": "{date}, {time}", "ru": "{date} в {time}"}
# CLDR has no short name for Moscow time; in Russia everyone writes МСК.
_MOSCOW = {"Europe/Moscow", "Europe/Simferopol", "Europe/Kirov", "Europe/Volgograd"}
_MSK = {"en": "MSK", "ru": "МСК"}


@cache
def _locale(code: str) -> Locale:
    try:
        return Locale.parse(code)
    except (ValueError, LookupError):
        return Locale.parse("en")


def _language(code: str) -> str:
    language = _locale(code).language
    return language if language in _DATE else "en"


def moment(when: datetime, zone: tzinfo, locale: str) -> str:
    """A local date and time with the year and the time zone."""
    local = when.astimezone(zone)
    language = _language(locale)
    date = format_date(local, _DATE[language], locale=_locale(locale))
    time = format_time(local, "HH:mm", locale=_locale(locale))
    return _JOIN[language].format(date=date, time=time) + f" ({zone_label(local, locale)})"


def day(when: datetime, zone: tzinfo, locale: str) -> str:
    """A local date with the year: "3 Dec 2026", "3 декабря 2026 г."."""
    local = when.astimezone(zone)
    return format_date(local, _DATE[_language(locale)], locale=_locale(locale))


def zone_label(local: datetime, locale: str) -> str:
    """MSK, UTC, EST, or the offset ("UTC+5", "UTC+5:30") where CLDR has no short name."""
    key = getattr(local.tzinfo, "key", None)
    if key in _MOSCOW:
        return _MSK[_language(locale)]
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


def number(value: int | float, locale: str) -> str:
    """3,000 in English, 3 000 in Russian."""
    return format_decimal(value, locale=_locale(locale))


def plural(count: int, locale: str, forms: dict[str, str]) -> str:
    """The form for `count` by the locale's CLDR plural rule ("one", "few", "many",
    "other"), falling back to "other"; `{n}` in it becomes the formatted count."""
    form = forms.get(_locale(locale).plural_form(count)) or forms["other"]
    return form.format(n=number(count, locale))
