"""What the report files say that the survey does not: the gettext catalogs
reports/locales/<lang>/LC_MESSAGES/reports.po (see README, Translations)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from surveys.catalogs import SOURCE, Catalogs

CATALOGS = Catalogs(Path(__file__).parent / "locales", "reports")


def language(locale: str) -> str:
    """The language of `locale` that the reports are written in: ru for ru, ru-RU, ru_RU…;
    English for every language without a catalog."""
    code = locale.replace("_", "-").split("-")[0].lower()
    return code if CATALOGS.has(code) else SOURCE


def t(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang` (English where it has no translation)."""
    return CATALOGS.text(language(lang), key, **values)


def tn(lang: str, key: str, count: int | Decimal, shown: str | None = None, **values: Any) -> str:
    """A counted message (`{n}` the count, or `shown`) in the form the count takes in
    `lang`, the count written as the language writes numbers."""
    return CATALOGS.plural(language(lang), key, count, shown, **values)


def table(lang: str, prefix: str, names: Iterable[str]) -> dict[str, str]:
    """Messages named `<prefix><name>` by their names: the words a template reads."""
    return dict(_table(language(lang), prefix, tuple(names)))


@cache
def _table(lang: str, prefix: str, names: tuple[str, ...]) -> Mapping[str, str]:
    # Read once per process, as the catalogs are: a flag's sentence reads its table per cell.
    return MappingProxyType({name: t(lang, key(prefix, name)) for name in names})


def key(prefix: str, name: str) -> str:
    """A table's name as a catalog key: "not yet, no window" → "<prefix>not_yet_no_window"."""
    return prefix + "_".join(name.lower().replace(",", " ").split())
