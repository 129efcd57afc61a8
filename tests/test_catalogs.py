"""The translation catalogs (.po): every language says everything English says, with the
same {placeholders}; the templates (.pot) list every key; missing translations fall back to
English."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message

from bot import texts
from bot.app import CUSTOMER_COMMANDS, OWNER_COMMANDS, STAFF_COMMANDS
from bot.questions import _HINTS
from bot.routers.customer import _CONSENT_REFUSALS, _LINK_TEXTS
from bot.routers.survey import _TOASTS
from reports import (
    alerts,
    export,
    flags,
    lanes,
    place_words,
    render_funnel,
    render_html,
    render_png,
    summary,
)
from reports import texts as report_texts
from reports.levels import Level
from surveys import formats
from surveys.catalogs import SOURCE, Catalogs, fields, plural_forms, read, template, write

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = [texts.CATALOGS, report_texts.CATALOGS, formats.words()]


def _messages(catalog: Catalog) -> dict[str, Message]:
    return {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}


def _forms(message: Message) -> tuple[str, ...]:
    text = message.string
    return (text,) if isinstance(text, str) else tuple(text or ())


def _left_out(message: Message) -> set[str]:
    """Placeholders a translation does without, each named by a translator's comment
    "Leaves out {name}: why"."""
    notes = [c for c in message.user_comments if c.startswith("Leaves out ")]
    return set().union(*(fields(note.split(":", 1)[0]) for note in notes))


def _problems(catalogs: Catalogs, lang: str) -> list[str]:
    source = _messages(read(catalogs.path(SOURCE)))
    catalog = read(catalogs.path(lang))
    messages = _messages(catalog)
    problems = [f"missing {key!r}" for key in source.keys() - messages.keys()]
    problems += [f"not in English: {key!r}" for key in messages.keys() - source.keys()]
    if catalog.plural_forms.replace(" ", "") != plural_forms(lang).replace(" ", ""):
        problems.append(f"Plural-Forms is not CLDR's: {plural_forms(lang)}")
    for key in source.keys() & messages.keys():
        english, forms = _forms(source[key]), _forms(messages[key])
        wanted = set().union(*map(fields, english))
        left_out = _left_out(messages[key])
        if messages[key].fuzzy or not all(forms):
            problems.append(f"{key!r} is fuzzy or empty")
        if isinstance(source[key].id, tuple) and len(forms) != catalog.num_plurals:
            problems.append(f"{key!r} has {len(forms)} forms, not {catalog.num_plurals}")
        said = set().union(*map(fields, forms))
        if said | left_out != wanted or any(fields(f) - wanted for f in forms):
            problems.append(f"{key!r} has other placeholders than {sorted(wanted)}")
    return problems


@pytest.mark.parametrize("catalogs", DOMAINS, ids=lambda c: c.domain)
def test_every_language_says_everything_english_says(catalogs: Catalogs) -> None:
    assert SOURCE in catalogs.languages() and len(catalogs.languages()) > 1
    for lang in catalogs.languages():
        assert _problems(catalogs, lang) == [], f"{catalogs.path(lang)}"


@pytest.mark.parametrize("catalogs", DOMAINS, ids=lambda c: c.domain)
def test_the_template_lists_every_key_with_its_english(catalogs: Catalogs, tmp_path: Path) -> None:
    wanted = tmp_path / "wanted.pot"
    write(wanted, template(read(catalogs.path(SOURCE)), catalogs.domain))
    assert _without_header(catalogs.template_path()) == _without_header(wanted), (
        "regenerate the .pot: see README, Translations"
    )


def _without_header(path: Path) -> str:
    return path.read_text().split("\n\n", 1)[1]


def _called_keys(package: Path, names: set[str]) -> set[str]:
    """The keys written out at calls such as t(locale, "key")."""
    keys = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in names:
                key = node.args[1] if len(node.args) > 1 else None
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    keys.add(key.value)
    return keys


def test_every_key_the_bot_uses_is_in_the_catalogs() -> None:
    used = _called_keys(ROOT / "bot", {"t", "tn"}) | _called_keys(ROOT / "demo", {"t", "tn"})
    used |= {*_TOASTS.values(), *_LINK_TEXTS.values(), *_CONSENT_REFUSALS.values()}
    used |= set(_HINTS.values()) | {f"file_{name}" for name in texts.FILE_ORDER}
    used |= {f"command_{c}" for c in (*CUSTOMER_COMMANDS, *STAFF_COMMANDS, *OWNER_COMMANDS)}
    assert len(used) > 80  # the scan sees the calls
    keys = set(_messages(read(texts.CATALOGS.template_path())))
    assert used - keys == set()


def _russian_without(tmp_path: Path, missing: set[str]) -> Catalogs:
    """bot's catalogs, with a Russian one that lacks some translations."""
    catalogs = Catalogs(tmp_path, "bot")
    write(catalogs.path("en"), read(texts.CATALOGS.path("en")))
    russian = read(texts.CATALOGS.path("ru"))
    for key in missing:
        message = _messages(russian)[key]
        message.string = "" if isinstance(message.id, str) else ("",) * russian.num_plurals
    write(catalogs.path("ru"), russian)
    return catalogs


def test_a_missing_translation_is_said_in_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(texts, "CATALOGS", _russian_without(tmp_path, {"skip", "characters"}))
    assert texts.t("ru", "skip") == "Skip"
    assert texts.t("ru", "forget_no") == "Отмена"
    assert texts.tn("ru", "characters", 5) == "5 characters"
    assert texts.t("ru", "comment_too_long", length="5", limit="4") == (
        "Здесь 5, а я могу сохранить не больше 4 символов: сократите, пожалуйста, и "
        "отправьте ещё раз."
    )


def test_a_language_without_a_catalog_is_english() -> None:
    assert texts.t("de", "consent_yes") == "Yes, let's do it"
    assert texts.tn("de", "characters", 1) == "1 character"
    assert texts.pick_locale("de-AT", "ru") == "ru"


@pytest.mark.parametrize(
    ("count", "said"), [(1, "1 символ"), (3, "3 символа"), (11, "11 символов"), (21, "21 символ")]
)
def test_counted_words_follow_the_languages_plural_rule(count: int, said: str) -> None:
    assert texts.tn("ru", "characters", count) == said


def test_every_key_the_reports_use_is_in_the_catalogs() -> None:
    used = _called_keys(ROOT / "reports", {"t", "tn"})
    used |= {f"kind_{kind}" for kind in export._KINDS} | {f"row_{k}" for k in export._ROW_KINDS}
    sheets = (export.MAP_SHEET, export.ANSWERS_SHEET, export.FUNNEL_SHEET, export.PLACES_SHEET)
    used |= {f"col_{column.sheet}_{column.key}" for sheet in sheets for column in sheet}
    tables = {  # words read by their names
        "place_": place_words.WORDS, "flag_": flags.WORDS, "lane_": lanes.NAMES,
        "summary_": summary.LABELS, "alerts_": alerts.WORDS, "html_": render_html.TEXTS,
        "html_how_": render_html.HOW_TO_READ, "funnel_": render_funnel.TEXTS,
        "level_": [level.value for level in Level],
        "map_": render_png.LABELS,
    }  # fmt: skip
    used |= set(flags.PERIODS.values())
    used |= {report_texts.key(prefix, name) for prefix, names in tables.items() for name in names}
    assert len(used) > 10
    keys = set(_messages(read(report_texts.CATALOGS.template_path())))
    assert used - keys == set()


def test_every_key_the_formats_use_is_in_the_catalogs() -> None:
    used = _called_keys(ROOT / "surveys", {"_text"}) | set(formats._NEAR.values())
    keys = set(_messages(read(formats.words().template_path())))
    assert used == keys


# What the Russian reports said before their words moved to the catalogs, count by count.
@pytest.mark.parametrize(
    ("count", "customers", "weeks", "waves", "points"),
    [
        (0, "0 клиентов", "за предыдущие 0 недель", "3 из 0 волн", "0 пунктов"),
        (1, "1 клиент", "за предыдущую неделю", "3 из 1 волны", "1 пункт"),
        (2, "2 клиента", "за предыдущие 2 недели", "3 из 2 волн", "2 пункта"),
        (3, "3 клиента", "за предыдущие 3 недели", "3 из 3 волн", "3 пункта"),
        (4, "4 клиента", "за предыдущие 4 недели", "3 из 4 волн", "4 пункта"),
        (5, "5 клиентов", "за предыдущие 5 недель", "3 из 5 волн", "5 пунктов"),
        (11, "11 клиентов", "за предыдущие 11 недель", "3 из 11 волн", "11 пунктов"),
        (12, "12 клиентов", "за предыдущие 12 недель", "3 из 12 волн", "12 пунктов"),
        (14, "14 клиентов", "за предыдущие 14 недель", "3 из 14 волн", "14 пунктов"),
        (21, "21 клиент", "за предыдущие 21 неделю", "3 из 21 волны", "21 пункт"),
        (22, "22 клиента", "за предыдущие 22 недели", "3 из 22 волн", "22 пункта"),
        (25, "25 клиентов", "за предыдущие 25 недель", "3 из 25 волн", "25 пунктов"),
        (101, "101 клиент", "за предыдущие 101 неделю", "3 из 101 волны", "101 пункт"),
    ],
)
def test_the_reports_counted_words_follow_the_russian_plural_rule(
    count: int, customers: str, weeks: str, waves: str, points: str
) -> None:
    assert flags.customers(count, "ru-RU") == customers
    assert flags.baseline_name(7, count, "ru") == weeks
    assert render_html.of_waves(3, count, "ru") == waves
    assert flags._amount("nps", count / 100, "ru") == points


def test_a_report_in_a_language_without_a_catalog_is_in_english() -> None:
    assert flags.customers(1001, "de") == "1,001 customers"
    assert report_texts.table("de", "level_", ["problem"]) == {"problem": "Problem"}
    assert formats.day(datetime(2026, 12, 3, tzinfo=UTC), UTC, "de") == "3 Dez. 2026"


@pytest.mark.parametrize("code", ["xx", "zz_QQ", "", "en-"])
def test_a_locale_babel_does_not_know_is_formatted_as_english(code: str) -> None:
    """A language tag Telegram or a survey file hands over that Babel has no data for
    ("xx") formats numbers and shares as English, instead of failing the message."""
    assert formats.number(1234.5, code) == formats.number(1234.5, "en")
    assert formats.percent(0.25, code) == "25%"
