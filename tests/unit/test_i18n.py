"""Messages: French when the locale says so, English otherwise, and both always complete."""

from __future__ import annotations

import string

import pytest

from fnl_deploy import i18n
from fnl_deploy.i18n import MESSAGES, detect_language, set_language, t


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "fr_BE.UTF-8"}, "fr"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "fr_FR.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "fr_FR.UTF-8", "FNL_DEPLOY_LANG": "en"}, "en"),
        ({"LANG": "C", "FNL_DEPLOY_LANG": "FR"}, "fr"),
        ({"LANG": "fr_FR.UTF-8", "FNL_DEPLOY_LANG": "de"}, "fr"),  # unknown: ignored
    ],
)
def test_detect_language(environ: dict[str, str], language: str) -> None:
    assert detect_language(environ) == language


def test_language_follows_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FNL_DEPLOY_LANG")
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert t("field.missing") == "champ obligatoire manquant"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert t("field.missing") == "required field is missing"


def test_explicit_language_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    set_language("en")
    assert i18n.language() == "en"
    set_language(None)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_and_the_same_placeholders(key: str) -> None:
    english, french = MESSAGES[key]
    assert english.strip() and french.strip()
    assert placeholders(english) == placeholders(french)
    if key != "field.invalid":  # "{detail}": pydantic's own text, in both
        assert english != french, "the French text is a copy of the English one"


def test_t_accepts_a_placeholder_named_key() -> None:
    # "key" is also the name of t()'s first parameter: it must not collide.
    assert "'name'" in t("yaml.duplicate_key", key="name", first=3)


def test_french_typography_in_messages() -> None:
    set_language("fr")
    try:
        message = t("field.did_you_mean", suggestion="mailbox")
    finally:
        set_language(None)
    assert message == "vouliez-vous dire « mailbox » ?"


def test_every_key_used_in_the_code_exists() -> None:
    """t("some.key") calls in the package name messages that exist (a typo would crash)."""
    import re
    from pathlib import Path

    package = Path(i18n.__file__).parent
    used = set()
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", text))
    assert len(used) > 50, "the scan found too few t() calls"
    # Keys built at run time.
    used |= {f"kind.{k}" for k in ("mailbox", "shared", "list", "alias")}
    used |= {f"field.{k}" for k in ("greater_than_equal", "greater_than", "less_than_equal")}
    used |= {"field.less_than"}
    assert sorted(used - set(MESSAGES)) == []
