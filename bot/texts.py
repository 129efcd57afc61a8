"""Everything the bot says, in every supported language (survey questions live in the
survey): the messages are in the gettext catalogs bot/locales/<lang>/LC_MESSAGES/bot.po."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError

from surveys.catalogs import Catalogs

CATALOGS = Catalogs(Path(__file__).parent / "locales", "bot")


def locales() -> tuple[str, ...]:
    """The languages the bot speaks: those with a catalog (bot/locales/<lang>)."""
    return CATALOGS.languages()


def language_name(code: str) -> str:
    """A language as its speakers write it, for the language menu: "English", "Русский"."""
    try:
        name = Locale.parse(code).get_display_name(code)
    except (ValueError, LookupError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code


def pick_locale(language_code: str | None, default: str) -> str:
    """Telegram's language_code ('ru', 'en-US', 'uk') → a supported locale."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in locales() else default


def t(locale: str, key: str, **values: Any) -> str:
    """The message `key` in `locale` (English where it has no translation)."""
    return CATALOGS.text(locale, key, **values)


def tn(locale: str, key: str, count: int, **values: Any) -> str:
    """A counted message (`{n}` the count) in the form the count takes in `locale`."""
    return CATALOGS.plural(locale, key, count, **values)


FILE_ORDER = ("png", "html", "pdf")  # the order they are sent in (reports.bundle.Part)


def report_files(formats: Iterable[str], locale: str) -> str:
    """What a report sends for CJM_REPORT_FORMATS: "the summary, the map (PNG) and the HTML
    report"; "сводка, карта (PNG), HTML-отчёт и PDF"."""
    names = [t(locale, "file_summary")]
    names += [t(locale, f"file_{name}") for name in FILE_ORDER if name in set(formats)]
    return f"{', '.join(names[:-1])} {t(locale, 'and')} {names[-1]}"
