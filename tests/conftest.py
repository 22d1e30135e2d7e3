"""Shared test set-up: English messages, a clean environment, the --regen-golden option."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fnl_deploy.i18n import set_language

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
EXAMPLE = REPO / "inventories" / "example"
FIXTURES = TESTS / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/ from the current output instead of comparing with it.",
    )


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages in English and no inventory from the caller's environment, in every test."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "FNL_DEPLOY_INVENTORY", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FNL_DEPLOY_LANG", "en")
    set_language(None)  # the CLI sets a context variable; do not leak it between tests


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a deployment directory (or overlay one on another), skipping test metadata."""
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.txt"))
    return target


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of inventories/example, safe to edit."""
    return copy_tree(EXAMPLE, tmp_path / "example")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A private copy of tests/fixtures/base: two servers and one small valid tenant."""
    return copy_tree(FIXTURES / "base", tmp_path / "base")
