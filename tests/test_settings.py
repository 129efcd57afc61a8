"""Settings (SPEC §5): a missing or malformed setting stops start-up with one clear line
naming it; so does an invalid survey file."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.settings import SettingsError, load_settings
from surveys.timing import QuietHours


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CJM_* variables from the outside, and no .env file: the working directory is
    an empty temporary one."""
    for name in list(os.environ):
        if name.startswith("CJM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CJM_SEND_RATE", "fast", "Input should be a valid number"),
        ("CJM_SEND_RATE", "-1", "Input should be greater than or equal to 0"),
        ("CJM_QUIET_HOURS", "21-9", "expected HH:MM-HH:MM or 'off', got '21-9'"),
        ("CJM_QUIET_HOURS", "21:00-09:00-10:00", "expected HH:MM-HH:MM or 'off'"),
        ("CJM_QUIET_HOURS", "25:00-09:00", "not a time window: '25:00-09:00'"),
        ("CJM_TIMEZONE", "Mars/Olympus", "unknown time zone 'Mars/Olympus' (e.g. Europe/Moscow)"),
        ("CJM_TIMEZONE", "../../etc/passwd", "unknown time zone"),
        ("CJM_OWNER_IDS", "1,x", "'x' is not a Telegram user id"),
        ("CJM_STAFF_IDS", "@alice", "'@alice' is not a Telegram user id"),
        ("CJM_DISPATCH_INTERVAL", "0", "Input should be greater than 0"),
        ("CJM_DISPATCH_INTERVAL", "often", "Input should be a valid number"),
        ("CJM_LINK_TTL", "a week", "not a duration: 'a week'"),
        ("CJM_POLL_LEASE", "1s", "between 3s and 10m (got '1s')"),
        ("CJM_POLL_LEASE", "soon", "not a duration: 'soon'"),
        (
            "CJM_DEFAULT_LOCALE",
            "english",
            "expected a two-letter language code, e.g. ru or en (got 'english')",
        ),
        ("CJM_HTTP_PORT", "99999", "Input should be less than or equal to 65535"),
    ],
)
def test_malformed_setting_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{name}: {message}"), text
    assert text.count(repr(value)) == 1, text  # the value, said once


def test_defaults() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite+aiosqlite:///cjm.db"
    assert settings.survey == "cafe"
    assert settings.quiet_hours == "21:00-09:00"
    assert 0 < settings.send_rate < 30
    assert settings.owner_ids == settings.staff_ids == frozenset()
    assert settings.link_ttl == timedelta(days=7)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11111111,22222222", {11111111, 22222222}),
        (" 1 , 2 ,3 ", {1, 2, 3}),
        ("1;2", {1, 2}),
        ("5,", {5}),
        ("", set()),
    ],
)
def test_comma_separated_ids(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: set[int]
) -> None:
    monkeypatch.setenv("CJM_OWNER_IDS", value)
    monkeypatch.setenv("CJM_STAFF_IDS", value)

    settings = load_settings()

    assert settings.owner_ids == settings.staff_ids == frozenset(expected)


def test_values_are_read_from_the_environment_and_a_dot_env_file(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    (clean_env / ".env").write_text(
        "CJM_STAFF_IDS=7,8\nCJM_TIMEZONE=Europe/Moscow\nCJM_QUIET_HOURS=22:00-08:00\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CJM_QUIET_HOURS", "off")  # the environment wins over .env
    monkeypatch.setenv("CJM_LINK_TTL", "2d")

    settings = load_settings()

    assert settings.staff_ids == frozenset({7, 8})
    assert settings.link_ttl == timedelta(days=2)
    rules = settings.sending_rules
    assert rules.timezone == ZoneInfo("Europe/Moscow")
    assert rules.quiet is None
    monkeypatch.delenv("CJM_QUIET_HOURS")
    assert load_settings().sending_rules.quiet == QuietHours.parse("22:00-08:00")


def test_malformed_dot_env_value_is_named(clean_env: Path) -> None:
    (clean_env / ".env").write_text("CJM_SEND_RATE=lots\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^CJM_SEND_RATE: "):
        load_settings()


# -- cjm run ---------------------------------------------------------------------------------


def test_run_without_a_token(capsys: pytest.CaptureFixture[str], clean_env: Path) -> None:
    assert main(["run"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0].startswith("CJM_BOT_TOKEN")
    assert "@BotFather" in err
    assert not (clean_env / "cjm.db").exists()


def test_run_with_an_empty_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "  ")
    assert main(["run"]) == 2
    assert capsys.readouterr().err.startswith("CJM_BOT_TOKEN: not set")


def test_run_with_a_malformed_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_QUIET_HOURS", "nights")

    assert main(["run"]) == 2

    assert capsys.readouterr().err.splitlines() == [
        "CJM_QUIET_HOURS: expected HH:MM-HH:MM or 'off', got 'nights'"
    ]


def test_run_with_an_invalid_survey_reports_its_problems(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    survey = clean_env / "survey.yaml"
    survey.write_text(
        "id: mini\n"
        'title: {ru: "Мини", en: "Mini"}\n'
        "stages:\n"
        '  - {id: purchase, name: {ru: "Покупка", en: "Purchase"}}\n'
        "waves:\n"
        "  - id: first\n"
        "    after: 2 hours\n"
        "    questions:\n"
        '      - {id: rating, stage: purchse, kind: rating, text: {ru: "?", en: "?"}}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_SURVEY", str(survey))

    assert main(["run"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{survey}:7: waves[0].after: not a duration: '2 hours' "
        "(use s, m, h, d, w units, e.g. '2h' or '1d12h')",
        f"{survey}:9: waves[0].questions[0].stage: unknown stage 'purchse'",
    ]
    assert not (clean_env / "cjm.db").exists()  # stopped before touching the database


def test_run_with_a_missing_survey_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_SURVEY", str(clean_env / "missing.yaml"))

    assert main(["run"]) == 2

    assert capsys.readouterr().err == (
        f"CJM_SURVEY: {clean_env}/missing.yaml: no such file (give a survey YAML file, or a "
        "bundled template: cafe, online_shop, lean)\n"
    )


def test_run_with_a_mistyped_template_names_the_setting_and_the_templates(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_SURVEY", "cafee")

    assert main(["run"]) == 2

    assert capsys.readouterr() == (
        "",
        "CJM_SURVEY: cafee: no such file, and not a bundled template (cafe, online_shop, "
        "lean); did you mean cafe?\n",
    )
    assert not (clean_env / "cjm.db").exists()


def test_run_refuses_a_webhook_without_its_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CJM_BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("CJM_WEBHOOK_URL", "https://bot.example.com/telegram")

    assert main(["run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("CJM_WEBHOOK_SECRET must be set with CJM_WEBHOOK_URL")
