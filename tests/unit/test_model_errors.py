"""pydantic errors turned into located problems: paths, did-you-mean, plain messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fnl_deploy.model.errors import model_at, problems_from
from fnl_deploy.model.operator import Operator
from fnl_deploy.model.tenant import Calendar, Commune, Person, Quotas, SharedMailbox, Tenant
from fnl_deploy.yamlsrc import parse_text


@pytest.mark.parametrize(
    ("loc", "model"),
    [
        ((), Tenant),
        (("commune",), Commune),
        (("people", 0), Person),
        (("shared_mailboxes", 3), SharedMailbox),
        (("calendars", 0), Calendar),
        (("quotas",), Quotas),
        (("people",), None),  # a list, not a mapping
        (("people", 0, "aliases"), None),
        (("domain",), None),
        (("nothing",), None),
        (("people", "x"), None),
    ],
)
def test_model_at(loc: tuple, model: type | None) -> None:
    assert model_at(Tenant, loc) is model


def test_model_at_follows_the_schema_alias() -> None:
    assert model_at(Operator, ("dns",)).__name__ == "OperatorDns"
    assert model_at(Operator, ("defaults",)).__name__ == "Defaults"


def problems(text: str) -> list[str]:
    source, found = parse_text(text, Path("t.yml"), "t.yml")
    assert found == []
    with pytest.raises(ValidationError) as caught:
        Tenant.model_validate(source.data)
    return [str(p) for p in problems_from(caught.value, source, Tenant)]


HEAD = "schema: 1\ncommune:\n  name: A\ndomain: a.fr\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("people:\n  - id: a\n    name: A\n    mailbx: a\n", "did you mean 'mailbox'?"),
        ("people:\n  - id: a\n    name: A\n    mailbox: a\n    alias: [b]\n", "'aliases'"),
        ("shared_mailbox:\n  - address: m\n", "did you mean 'shared_mailboxes'?"),
        ("quota:\n  mailbox: 1 GiB\n", "did you mean 'quotas'?"),
        ("calendars:\n  - name: C\n    manager: [a]\n", "did you mean 'managers'?"),
        ("services:\n  activsync: true\n", "did you mean 'activesync'?"),
    ],
)
def test_did_you_mean(extra: str, expected: str) -> None:
    found = [p for p in problems(HEAD + extra) if "unknown field" in p]
    assert len(found) == 1 and expected in found[0]


def test_no_suggestion_without_a_close_match() -> None:
    assert problems(HEAD + "colour: blue\n") == ["t.yml:5:1: colour: unknown field"]


def test_the_problem_points_at_the_value_line_and_full_path() -> None:
    text = HEAD + "people:\n  - id: a\n    name: A\n    mailbox: a\n  - id: b\n    name: B\n"
    assert problems(text) == ["t.yml:9:5: people[1].mailbox: required field is missing"]


def test_union_errors_are_reported_once() -> None:
    # Alias targets are a local part OR an e-mail address: one error, not one per member.
    text = HEAD + "aliases:\n  - address: c\n    to: ['a b']\n"
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("t.yml:7:10: aliases[0].to[0]: ")


def test_schema_version_messages() -> None:
    assert problems(HEAD.replace("schema: 1", "schema: 2")) == [
        "t.yml:1:1: schema: schema 2 is not supported; this fnl-deploy reads schema 1"
    ]
    assert problems(HEAD.replace("schema: 1", "schema: true")) == [
        "t.yml:1:1: schema: write the format version as a number: schema: 1"
    ]


def test_messages_never_carry_pydantic_urls_or_prefixes() -> None:
    text = "schema: 1\ncommune:\n  name: A\n  population: -1\n  kind: ville\ndomain: 7\n"
    for line in problems(text):
        assert "pydantic" not in line and "Value error" not in line and "Input should" not in line
