"""Gettext catalogs read at run time: what the bot and the reports say lives in `.po` files
that translators edit with Poedit or Weblate, one per language and domain
(`<root>/<lang>/LC_MESSAGES/<domain>.po`), with a `<root>/<domain>.pot` template.

The catalogs are keyed: a msgid is a stable key ("consent"), en.po holds the English text
and the template shows it to translators as an extracted comment. Call sites name what
they say, and fixing an English wording touches one file, not every translation's msgid.

A `.po` is read with Babel once per process, on first use: nothing to compile, so a fresh
clone works as it is. Plural messages pick their form by the language's CLDR rule (as
`formats.plural` does), and each catalog's Plural-Forms header is that rule written for
gettext (`babel.plural.to_gettext`), so the forms are numbered as editors show them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po
from babel.plural import PluralRule, to_gettext

from surveys import formats  # formats reads its words from a catalog too

SOURCE = "en"  # the language every other one falls back to, message by message
# CLDR's categories in the order `to_gettext` numbers a catalog's plural forms.
_CATEGORIES = ("zero", "one", "two", "few", "many", "other")

Text = str | tuple[str, ...]  # a message, or a plural message's forms


@dataclass(frozen=True)
class Catalogs:
    root: Path
    domain: str

    def path(self, lang: str) -> Path:
        return _path(self.root, self.domain, lang)

    def template_path(self) -> Path:
        return self.root / f"{self.domain}.pot"

    def languages(self) -> tuple[str, ...]:
        return _languages(self.root, self.domain)

    def has(self, lang: str) -> bool:
        return lang in self.languages()

    def text(self, locale: str, key: str, **values: Any) -> str:
        """The message in `locale`, else in English; `{fields}` filled from `values`."""
        text = self._lookup(locale, key)
        if not isinstance(text, str):
            raise TypeError(f"{self.domain}: {key!r} is a plural message")
        return text.format(**values) if values else text

    def plural(
        self, locale: str, key: str, count: int | Decimal, shown: str | None = None, **values: Any
    ) -> str:
        """The form for `count` by the CLDR rule of the catalog's language; `{n}` in it is
        the formatted count (or `shown`, the count as already written)."""
        lang = locale if self._translated(locale, key) else SOURCE
        forms = self._lookup(lang, key)
        if isinstance(forms, str):
            raise TypeError(f"{self.domain}: {key!r} is not a plural message")
        form = forms[plural_index(lang, count)]
        n = formats.number(count, locale) if shown is None else shown
        return form.format(n=n, **values)

    def _translated(self, lang: str, key: str) -> bool:
        return key in _messages(self.path(lang)) if self.has(lang) else False

    def _lookup(self, locale: str, key: str) -> Text:
        if self._translated(locale, key):
            return _messages(self.path(locale))[key]
        return _messages(self.path(SOURCE))[key]  # a key nobody has is a KeyError


def plural_index(lang: str, count: int | Decimal) -> int:
    """Which of a catalog's plural forms `count` takes: CLDR's category, numbered as the
    catalog's Plural-Forms header (from `plural_forms`) numbers them."""
    if type(count) is int:  # a report words ~100 counts, mostly the same few
        return _count_index(lang, count)
    return _used_categories(lang).index(_plural_rule(lang)(count))


@lru_cache(maxsize=4096)
def _count_index(lang: str, count: int) -> int:
    return _used_categories(lang).index(_plural_rule(lang)(count))


def plural_forms(lang: str) -> str:
    """The Plural-Forms header of a catalog in `lang`."""
    return to_gettext(Locale.parse(lang).plural_form)


@cache
def _plural_rule(lang: str) -> PluralRule:
    return Locale.parse(lang).plural_form


@cache
def _used_categories(lang: str) -> tuple[str, ...]:
    tags = _plural_rule(lang).tags | {"other"}
    return tuple(category for category in _CATEGORIES if category in tags)


def fields(text: str) -> set[str]:
    """The `{placeholders}` of a message."""
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, abort_invalid=True)


@cache  # paths are built often (every message looked up) and Path joins are slow
def _path(root: Path, domain: str, lang: str) -> Path:
    return root / lang / "LC_MESSAGES" / f"{domain}.po"


@cache
def _languages(root: Path, domain: str) -> tuple[str, ...]:
    found = (p.parent.parent.name for p in root.glob(f"*/LC_MESSAGES/{domain}.po"))
    return tuple(sorted(found))


@cache
def _messages(path: Path) -> dict[str, Text]:
    """A catalog's translated messages: untranslated and fuzzy ones are left out (as msgfmt
    leaves them out), so those keys fall back to English."""
    found: dict[str, Text] = {}
    for message in read(path):
        if not message.id or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        text = message.string
        if isinstance(text, str) and text:
            found[key] = text
        elif isinstance(text, tuple | list) and all(text):
            found[key] = tuple(text)
    return found


def template(source: Catalog, domain: str) -> Catalog:
    """The `.pot` for a domain, made from its English catalog: every key, with the English
    text as an extracted comment for translators."""
    pot = Catalog(domain=domain, project="cjm-bot", fuzzy=False)
    pot.creation_date = source.creation_date
    for message in source:
        if not message.id:
            continue
        english = shown(message)
        comments = [*message.auto_comments, "English: " + english.replace("\n", "\\n")]
        empty = "" if isinstance(message.id, str) else ("", "")
        added = pot.add(message.id, empty, auto_comments=comments)
        mark_format(added, english)
    return pot


def shown(message: Message) -> str:
    """A message's text as one line of a comment: a plural message's forms joined by |."""
    text = message.string
    return text if isinstance(text, str) else " | ".join(text or ())


def mark_format(message: Message, text: str) -> None:
    """Flags a message with `{fields}` so that editors check them (Babel looks for them in
    the msgid, which is a key here)."""
    if fields(text):
        message.flags.add("python-brace-format")


def write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, width=99, no_location=True, omit_header=False)


def write_template(catalogs: Catalogs) -> None:
    """Rewrites a domain's `.pot` from its English catalog (after adding a message)."""
    write(catalogs.template_path(), template(read(catalogs.path(SOURCE)), catalogs.domain))
