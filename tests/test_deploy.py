"""The deployment files (deploy/) stay true to the code: every setting they name exists
and their example values load, and the image copies every package the project ships."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SETTING = re.compile(r"^#?\s*(CJM_[A-Z_]+)=(.*)$")


def example_env() -> dict[str, str]:
    """The example file's settings, commented-out alternatives included."""
    found: dict[str, str] = {}
    for line in (DEPLOY / "cjm.env.example").read_text(encoding="utf-8").splitlines():
        if match := SETTING.match(line.strip()):
            found.setdefault(match[1], match[2])
    return found


def known(name: str) -> bool:
    return name.removeprefix("CJM_").lower() in Settings.model_fields


def test_compose_names_only_real_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"bot", "postgres", "redis"}
    bot = compose["services"]["bot"]
    assert all(known(name) for name in bot["environment"]), bot["environment"]
    assert bot["environment"]["CJM_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (DEPLOY / bot["build"]["context"]).resolve() == ROOT


def test_example_env_names_real_settings_and_its_values_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = example_env()
    unknown = [name for name in env if not known(name)]
    assert not unknown
    assert {"CJM_BOT_TOKEN", "CJM_DATABASE_URL", "CJM_REDIS_URL", "CJM_WEBHOOK_URL"} <= set(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.timezone == "Europe/Moscow"
    assert settings.owner_ids == frozenset({111111111})


def test_the_image_copies_every_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    packages = {p.rstrip("*") for p in setuptools["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in setuptools["py-modules"]}  # cjm.py: the console script
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY ([\w.]+) \1$", dockerfile, re.MULTILINE))
    assert packages | modules == copied


def test_the_unit_runs_cjm_run_as_an_unprivileged_service() -> None:
    unit = (DEPLOY / "cjm.service").read_text(encoding="utf-8")
    assert "\nExecStart=/opt/cjm/bin/cjm run\n" in unit
    assert "\nDynamicUser=yes\n" in unit
    assert "\nEnvironmentFile=/etc/cjm/cjm.env\n" in unit
