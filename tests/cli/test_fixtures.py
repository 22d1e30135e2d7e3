"""The fixture corpus: hostile and broken tenant files, each with the exact errors it must give.

A case is ``tests/fixtures/invalid/<case>/``: files overlaid on a copy of
``tests/fixtures/base/`` (usually one ``tenants/*.yml``) and ``expected.txt``, the problem
lines ``fnl-deploy validate`` prints, in English, with paths relative to the deployment
directory. Error lines are written without their trailing ``  (error)`` label; a warning
line would keep its ``  (warning)`` label. The expected files are written by hand, after
reading each message as an admin would: there is no regeneration flag for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fnl_deploy.cli import main
from tests.conftest import FIXTURES, copy_tree

INVALID = sorted(p.name for p in (FIXTURES / "invalid").iterdir() if p.is_dir())
VALID = sorted(p.name for p in (FIXTURES / "valid").iterdir() if p.is_dir())


def deployment_for(kind: str, case: str, tmp_path: Path) -> Path:
    root = copy_tree(FIXTURES / "base", tmp_path / case)
    return copy_tree(FIXTURES / kind / case, root)


def problem_lines(stderr: str) -> list[str]:
    lines = []
    for line in stderr.splitlines():
        if line.endswith("  (error)"):
            lines.append(line.removesuffix("  (error)"))
        elif line.endswith("  (warning)"):
            lines.append(line)
    return lines


def validate(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(root)  # paths in messages are relative to the working directory
    return CliRunner().invoke(main, ["validate", "-i", ".", *args])


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 35
    assert {"crlf", "bom", "accents-apostrophe", "idn-a-label"} <= set(VALID)


@pytest.mark.parametrize("case", INVALID)
def test_invalid_case(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = deployment_for("invalid", case, tmp_path)
    expected = (FIXTURES / "invalid" / case / "expected.txt").read_text(encoding="utf-8")
    result = validate(root, monkeypatch)
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert problem_lines(result.stderr) == expected.splitlines()
    errors = len([line for line in expected.splitlines() if not line.endswith("(warning)")])
    assert result.stderr.splitlines()[-1] == f"{errors} error(s); nothing was changed."


@pytest.mark.parametrize("case", INVALID)
def test_invalid_case_json(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--json carries the same problems, one object each, and nothing else on stdout."""
    root = deployment_for("invalid", case, tmp_path)
    expected = (FIXTURES / "invalid" / case / "expected.txt").read_text(encoding="utf-8")
    result = validate(root, monkeypatch, "--json")
    assert result.exit_code == 2
    envelope = json.loads(result.stdout)
    assert envelope["status"] == "error" and envelope["exit_code"] == 2
    lines = []
    for error in envelope["errors"]:
        where = error["file"] + "".join(
            f":{error[k]}" for k in ("line", "column") if error[k] is not None
        )
        field = f" {error['field']}:" if error["field"] else ""
        lines.append(f"{where}:{field} {error['message']}")
    assert lines == [line for line in expected.splitlines() if not line.endswith("(warning)")]


@pytest.mark.parametrize("case", VALID)
def test_valid_case(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = deployment_for("valid", case, tmp_path)
    result = validate(root, monkeypatch)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Valid: 2 tenant(s)")
    assert result.stderr == ""


def test_every_error_of_a_run_comes_at_once(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three independent mistakes in one file give three errors in one run, not one per run."""
    (base / "tenants" / "echevis.yml").write_text(
        "schema: 1\n"
        "commune:\n"
        "  name: Échevis\n"
        '  siren: "212601174"\n'  # wrong check digit
        "domain: echevis.fr\n"
        "placement: mail7\n"  # no such server: a cross-file rule
        "people:\n"
        "  - id: maire\n"
        "    name: Gérard Chabert\n"
        "    mailbox: Gerard\n",  # upper case
        encoding="utf-8",
    )
    (base / "tenants" / "other.yml").write_text(
        "schema: 1\ncommune:\n  name: Autre\ndomain: mairie-ambel.fr\n", encoding="utf-8"
    )
    result = validate(base, monkeypatch)
    assert result.exit_code == 2
    lines = problem_lines(result.stderr)
    assert [line.split(": ")[0] for line in lines] == [
        "tenants/echevis.yml:4:3",
        "tenants/echevis.yml:10:5",
        "tenants/other.yml:4:1",
    ]
    assert result.stderr.splitlines()[-1] == "3 error(s); nothing was changed."


def test_three_errors_in_one_file(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (base / "tenants" / "echevis.yml").write_text(
        "schema: 1\ncommune:\n  name: Échevis\n  population: many\n"
        "domain: echevis..fr\nquotas:\n  mailbox: 5 parsecs\n",
        encoding="utf-8",
    )
    lines = problem_lines(validate(base, monkeypatch).stderr)
    assert [line.split(": ")[1] for line in lines] == [
        "commune.population",
        "domain",
        "quotas.mailbox",
    ]
