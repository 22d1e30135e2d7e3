"""docs/reference.md documents every field of the tenant file, operator settings and hosts.yml.

A field added to the model without a line in the reference fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fnl_deploy.commands import schema_json
from fnl_deploy.model.operator import Operator, Server
from tests.conftest import REPO

REFERENCE = REPO / "docs" / "reference.md"


def schema_paths(node: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """``people[].mailbox``-style paths of every property, following $ref, arrays, anyOf."""
    if "$ref" in node:
        yield from schema_paths(defs[node["$ref"].rsplit("/", 1)[-1]], defs, prefix)
        return
    for branch in node.get("anyOf", []) + node.get("allOf", []):
        yield from schema_paths(branch, defs, prefix)
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        yield from schema_paths(node["items"], defs, prefix + "[]")
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        yield from schema_paths(child, defs, path)


def documented() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_tenant_schema_paths_are_found() -> None:
    schema = schema_json()
    paths = set(schema_paths(schema, schema.get("$defs", {})))
    assert {"people[].mailbox", "shared_mailboxes[].members", "calendars[].managers"} <= paths
    assert "commune.insee" in paths and "quotas.tenant" in paths


def test_every_tenant_field_is_in_the_reference() -> None:
    schema = schema_json()
    text = documented()
    missing = sorted(
        path
        for path in set(schema_paths(schema, schema.get("$defs", {})))
        if f"`{path}`" not in text
    )
    assert missing == [], f"add these tenant fields to {REFERENCE.name}: {missing}"


def test_every_operator_setting_is_in_the_reference() -> None:
    schema = Operator.model_json_schema(by_alias=True)
    text = documented()
    paths = {f"fnl_operator.{p}" for p in schema_paths(schema, schema.get("$defs", {}))}
    missing = sorted(path for path in paths if f"`{path}`" not in text)
    assert missing == [], f"add these operator settings to {REFERENCE.name}: {missing}"


def test_hosts_yml_is_in_the_reference() -> None:
    text = documented()
    assert "`fnl_servers`" in text
    assert set(Server.model_fields) == {"name", "fqdn", "storage", "ipv4", "nameserver"}
    for var in ("`fnl_fqdn`", "`fnl_storage`", "`fnl_ipv4`", "`fnl_nameserver`"):
        assert var in text


def test_every_choice_is_in_the_reference() -> None:
    """Enumerated values (rights, calendar kinds, DNS modes…) are all spelt out."""
    schema = schema_json()
    text = documented()
    for definition in schema.get("$defs", {}).values():
        for value in definition.get("enum", []):
            assert re.search(rf"`{re.escape(str(value))}`", text), value


def test_the_reference_starts_with_a_french_summary() -> None:
    head = documented()[:3000]
    assert "Résumé en français" in head
