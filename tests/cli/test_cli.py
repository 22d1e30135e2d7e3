"""The command line through click's CliRunner: exit codes, --json envelope, messages."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from fnl_deploy.cli import main
from tests.conftest import EXAMPLE

ENVELOPE_KEYS = {"fnl_deploy_result_version", "command", "status", "exit_code", "data", "errors"}


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def envelope(result: Result) -> dict:
    data = json.loads(result.stdout)
    assert set(data) >= ENVELOPE_KEYS
    assert data["fnl_deploy_result_version"] == 1
    assert data["exit_code"] == result.exit_code
    return data


# --- validate ---------------------------------------------------------------------------------


def test_validate_ok() -> None:
    result = run("validate", "-i", str(EXAMPLE))
    assert result.exit_code == 0
    assert result.stdout == "Valid: 5 tenant(s), 21 mailbox(es), 2 server(s).\n"


def test_validate_reads_the_inventory_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FNL_DEPLOY_INVENTORY", str(EXAMPLE))
    assert run("validate").exit_code == 0


def test_validate_invalid(example: Path) -> None:
    (example / "tenants" / "ambel.yml").write_text("schema: 1\ndomain: ambel.fr\n", "utf-8")
    result = run("validate", "-i", str(example))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "commune: required field is missing" in result.stderr
    assert result.stderr.endswith("1 error(s); nothing was changed.\n")


def test_validate_missing_directory(tmp_path: Path) -> None:
    result = run("validate", "-i", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "Error: no deployment directory at" in result.stderr
    assert "Hint: pass -i PATH" in result.stderr


def test_validate_empty_directory(tmp_path: Path) -> None:
    result = run("validate", "-i", str(tmp_path))
    assert result.exit_code == 2
    assert "hosts.yml is missing" in result.stderr
    assert "no operator settings" in result.stderr


def test_validate_json_success() -> None:
    result = run("validate", "--json", "-i", str(EXAMPLE))
    data = envelope(result)
    assert data["command"] == "validate" and data["status"] == "ok" and data["exit_code"] == 0
    assert data["errors"] == []
    assert data["data"] == {"valid": True, "tenants": 5, "mailboxes": 21, "servers": 2}
    assert result.stderr == ""


def test_validate_json_failure(example: Path) -> None:
    (example / "tenants" / "ambel.yml").write_text(
        "schema: 1\ncommune:\n  name: Ambel\ndomain: ambel;.fr\n", "utf-8"
    )
    result = run("validate", "--json", "-i", str(example))
    data = envelope(result)
    assert data["status"] == "error" and data["exit_code"] == 2 and data["data"] is None
    assert len(data["errors"]) == 1
    error = data["errors"][0]
    assert set(error) == {"file", "line", "column", "field", "message", "severity"}
    assert error["file"].endswith("tenants/ambel.yml")
    assert (error["line"], error["column"], error["field"]) == (4, 1, "domain")
    assert error["message"] == "contains a forbidden character ';'"
    assert error["severity"] == "error"
    assert result.stderr == ""


def test_json_envelope_for_a_usage_error(tmp_path: Path) -> None:
    data = envelope(run("validate", "--json", "-i", str(tmp_path / "nowhere")))
    assert data["status"] == "error"
    assert data["errors"][0]["message"].startswith("no deployment directory")
    assert data["errors"][0]["hint"]


# --- list, schema -----------------------------------------------------------------------------


def test_list() -> None:
    result = run("list", "-i", str(EXAMPLE))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["tenant", "name", "domain", "mailboxes", "server", "dns"]
    assert len(lines) == 2 + 5
    assert "abergement-clémenciat.fr" in result.stdout  # shown as U-label
    assert "L\u2019Abergement-Clémenciat" in result.stdout


def test_list_json() -> None:
    data = envelope(run("list", "--json", "-i", str(EXAMPLE)))
    rows = {row["id"]: row for row in data["data"]["tenants"]}
    assert rows["echevis"]["domain"] == "xn--chevis-9ua.fr"
    assert rows["echevis"]["dns_mode"] == "external"
    assert rows["voiron"]["placement"] == "mail2"


@pytest.fixture(scope="module")
def schema() -> dict:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_schema_is_a_valid_json_schema(schema: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"schema", "commune", "domain"}


@pytest.mark.parametrize("path", sorted((EXAMPLE / "tenants").glob("*.yml")), ids=lambda p: p.stem)
def test_example_tenants_validate_against_the_schema(schema: dict, path: Path) -> None:
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text("utf-8")))


def test_schema_refuses_an_unknown_key(schema: dict) -> None:
    data = yaml.safe_load((EXAMPLE / "tenants" / "ambel.yml").read_text("utf-8"))
    data["people"][0]["mailbx"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)


def test_schema_file_of_the_example_is_current(schema: dict) -> None:
    """Tenant files point editors at inventories/example/tenant.schema.json."""
    assert json.loads((EXAMPLE / "tenant.schema.json").read_text("utf-8")) == schema


# --- tenant new -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "domain", "file"),
    [
        ("Saint-Jean", "saint-jean.fr", "saint-jean.yml"),
        ("Échevis", "échevis.fr", "echevis.yml"),
        (
            "L'Abergement-Clémenciat",
            "xn--abergement-clmenciat-n2b.fr",
            "l-abergement-clemenciat.yml",
        ),
    ],
)
def test_tenant_new_writes_a_file_that_validates(
    base: Path, name: str, domain: str, file: str
) -> None:
    result = run("tenant", "new", name, "--domain", domain, "-i", str(base))
    assert result.exit_code == 0, result.stderr
    path = base / "tenants" / file
    assert result.stdout == f"Created {path}\n"
    assert run("validate", "-i", str(base)).exit_code == 0
    listed = envelope(run("list", "--json", "-i", str(base)))["data"]["tenants"]
    row = next(r for r in listed if r["id"] == path.stem)
    assert row["name"] == name.replace("'", "\u2019")
    assert (base / "tenant.schema.json").exists()


def test_tenant_new_from_insee(base: Path) -> None:
    result = run("tenant", "new", "--insee", "01001", "-i", str(base))
    assert result.exit_code == 0, result.stderr
    text = (base / "tenants" / "l-abergement-clemenciat.yml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert data["commune"] == {
        "name": "L'Abergement-Clémenciat",
        "insee": "01001",
        "siren": "210100012",
        "population": 860,
    }
    assert data["domain"] == "abergement-clemenciat.fr"  # suggested
    assert run("validate", "-i", str(base)).exit_code == 0


def test_tenant_new_placement(base: Path) -> None:
    run("tenant", "new", "Saint-Jean", "--domain", "saint-jean.fr", "--placement", "mail2",
        "-i", str(base))  # fmt: skip
    data = envelope(run("list", "--json", "-i", str(base)))["data"]["tenants"]
    assert next(r for r in data if r["id"] == "saint-jean")["placement"] == "mail2"


def test_tenant_new_refuses_to_overwrite(base: Path) -> None:
    path = base / "tenants" / "saint-jean.yml"
    assert run("tenant", "new", "Saint-Jean", "--domain", "a.fr", "-i", str(base)).exit_code == 0
    before = path.read_bytes()
    result = run("tenant", "new", "Saint-Jean", "--domain", "b.fr", "-i", str(base))
    assert result.exit_code == 2
    assert "already exists; not overwritten" in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--insee", "99999"], "no commune with INSEE code 99999"),
        (["Saint-Jean"], "give --domain"),
        (["Saint-Jean", "--domain", "bad;domain.fr"], "--domain: contains a forbidden character"),
        ([], "give a NAME or --insee CODE"),
    ],
)
def test_tenant_new_errors(base: Path, args: list[str], message: str) -> None:
    result = run("tenant", "new", *args, "-i", str(base))
    assert result.exit_code == 2
    assert message in result.stderr
    assert sorted(p.name for p in (base / "tenants").iterdir()) == ["base.yml"]


# --- dns show ---------------------------------------------------------------------------------


def test_dns_show_hosted_table() -> None:
    result = run("dns", "show", "voiron", "-i", str(EXAMPLE))
    assert result.exit_code == 0
    assert result.stdout.startswith("Hosted DNS: the platform serves this zone")
    assert "v=spf1 mx -all" in result.stdout  # registrar form: no quotes
    assert '"v=spf1' not in result.stdout


def test_dns_show_external_zone_by_u_label() -> None:
    result = run("dns", "show", "échevis.fr", "--format", "zone", "-i", str(EXAMPLE))
    assert result.exit_code == 0
    assert "$ORIGIN xn--chevis-9ua.fr." in result.stdout
    assert "; SOA and NS: those of the commune's DNS host, unchanged." in result.stdout


def test_dns_show_json() -> None:
    data = envelope(run("dns", "show", "echevis", "--json", "-i", str(EXAMPLE)))
    assert data["command"] == "dns show" and data["data"]["dns_mode"] == "external"
    assert {r["type"] for r in data["data"]["records"]} >= {"MX", "TXT", "CNAME", "SRV", "CAA"}


def test_dns_show_unknown_tenant() -> None:
    result = run("dns", "show", "nowhere", "-i", str(EXAMPLE))
    assert result.exit_code == 2
    assert "Error: no tenant 'nowhere'" in result.stderr
    assert "Hint: known tenants: ambel, echevis," in result.stderr


# --- language ---------------------------------------------------------------------------------


def test_lang_fr(example: Path) -> None:
    (example / "tenants" / "ambel.yml").write_text("schema: 1\ndomain: ambel.fr\n", "utf-8")
    result = run("--lang", "fr", "validate", "-i", str(example))
    assert result.exit_code == 2
    assert "commune: champ obligatoire manquant  (erreur)" in result.stderr
    assert result.stderr.endswith("1 erreur(s) ; rien n'a été modifié.\n")


def test_french_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FNL_DEPLOY_LANG")
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    result = run("validate", "-i", str(EXAMPLE))
    assert result.stdout.startswith("Valide : 5 collectivité(s)")


def test_lang_en_overrides_a_french_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.delenv("FNL_DEPLOY_LANG")
    assert run("--lang", "en", "validate", "-i", str(EXAMPLE)).stdout.startswith("Valid: ")


def test_help_and_version() -> None:
    assert run("--help").exit_code == 0
    assert run("--version").stdout.startswith("fnl-deploy, version ")
