"""The arrows between the project's packages point one way (README, "How it works"):
bot → surveys, reports → storage; reports never imports bot; nothing but bot/ knows
aiogram; and the demo is a room of its own, which may use everything but which nothing
imports except the `cjm` console script (cjm.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("bot", "surveys", "storage", "reports", "api", "migrations", "demo")
MUST_NOT_IMPORT = {
    "bot": {"demo"},
    "surveys": {"bot", "reports", "api", "demo", "aiogram"},
    "reports": {"bot", "api", "demo", "aiogram"},
    "storage": {"bot", "surveys", "reports", "api", "demo", "aiogram"},
    "api": {"bot", "demo", "aiogram"},
    "migrations": {"bot", "surveys", "reports", "api", "demo", "aiogram"},
}


def imported(path: Path) -> set[str]:
    """The top-level names a module imports, anywhere in it (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def imports_of(package: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): imported(path)
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize("package", sorted(MUST_NOT_IMPORT))
def test_the_arrows_point_one_way(package: str) -> None:
    forbidden = MUST_NOT_IMPORT[package]
    wrong = {m: sorted(names & forbidden) for m, names in imports_of(package).items()}
    assert {m: names for m, names in wrong.items() if names} == {}


def test_only_the_console_script_imports_the_demo() -> None:
    importers = [
        module
        for package in SHIPPED
        if package != "demo"
        for module, names in imports_of(package).items()
        if "demo" in names
    ]
    assert importers == []
    assert {"bot", "demo"} <= imported(ROOT / "cjm.py")  # the one module that knows both


def test_the_demo_runs_the_real_bot() -> None:
    """The demo's own room still uses the product: the scan above sees real imports."""
    used = set().union(*imports_of("demo").values())
    assert {"bot", "surveys", "storage", "reports"} <= used
