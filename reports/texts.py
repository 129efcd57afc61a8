"""What the report files say that the survey does not: the gettext catalogs
reports/locales/<lang>/LC_MESSAGES/reports.po (see README, Translations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from surveys.catalogs import Catalogs

CATALOGS = Catalogs(Path(__file__).parent / "locales", "reports")


def t(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang` (English where it has no translation)."""
    return CATALOGS.text(lang, key, **values)


def tn(lang: str, key: str, count: int, **values: Any) -> str:
    """A counted message (`{n}` the count) in the form the count takes in `lang`."""
    return CATALOGS.plural(lang, key, count, **values)
