"""Compilation of a deployment into each server's desired state: pure and deterministic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fnl_deploy.compile import DESIRED_STATE_VERSION, compile_deployment
from fnl_deploy.deployment import load_deployment
from fnl_deploy.model.types import to_a_label
from tests.conftest import EXAMPLE

GIB = 2**30


@pytest.fixture(scope="module")
def desired() -> dict[str, dict[str, Any]]:
    return compile_deployment(load_deployment(EXAMPLE))


def dump(state: object) -> str:
    return json.dumps(state, ensure_ascii=False, sort_keys=False, indent=1)


def test_compiling_twice_gives_identical_json(desired: dict[str, Any]) -> None:
    again = compile_deployment(load_deployment(EXAMPLE))
    assert dump(again) == dump(desired)


def test_file_order_on_disk_does_not_matter(tmp_path: Path, desired: dict[str, Any]) -> None:
    """Renaming files so the directory lists them in another order changes nothing."""
    root = shutil.copytree(EXAMPLE, tmp_path / "example")
    for path in sorted((root / "tenants").glob("*.yml")):
        path.rename(path.with_suffix(".yaml"))  # both extensions are read
    assert dump(compile_deployment(load_deployment(root))) == dump(desired)


def test_every_server_has_a_state(desired: dict[str, Any]) -> None:
    assert list(desired) == ["mail1", "mail2"]
    for name, state in desired.items():
        assert state["fnl_desired_version"] == DESIRED_STATE_VERSION
        assert state["server"]["name"] == name


def test_tenants_only_on_their_server(desired: dict[str, Any]) -> None:
    placed = {name: [t["id"] for t in state["tenants"]] for name, state in desired.items()}
    assert placed == {
        # echevis and ambel: no placement, the operator's default server
        "mail1": ["ambel", "echevis", "saint-etienne-de-crossey"],
        "mail2": ["l-abergement-clemenciat", "voiron"],
    }


def addresses(state: dict[str, Any]) -> list[str]:
    found = []
    for tenant in state["tenants"]:
        found += [m["address"] for m in tenant["mailboxes"]]
        for alias in tenant["aliases"]:
            found += [alias["address"], *alias["targets"]]
        for mlist in tenant["lists"]:
            found += [mlist["address"], *mlist["members"]]
        for right in tenant["shared_rights"]:
            found += [right["mailbox"], right["member"]]
        for calendar in tenant["calendars"]:
            found += calendar["managers"]
            found += [a["member"] for a in calendar["access"] if a["member"] != "everyone"]
    return found


def test_addresses_are_full_and_in_a_labels(desired: dict[str, Any]) -> None:
    everything = addresses(desired["mail1"]) + addresses(desired["mail2"])
    assert len(everything) > 40
    for address in everything:
        _, domain = address.split("@")
        assert address.isascii() and domain == to_a_label(domain), address
    mail2 = desired["mail2"]["tenants"][0]
    assert mail2["domain"] == "xn--abergement-clmenciat-n2b.fr"
    assert mail2["domain_display"] == "abergement-clémenciat.fr"


def test_lists_are_sorted(desired: dict[str, Any]) -> None:
    for state in desired.values():
        for tenant in state["tenants"]:
            for key in ("mailboxes", "aliases", "lists"):
                values = [item["address"] for item in tenant[key]]
                assert values == sorted(values)


def test_quotas_come_from_the_most_specific_setting(desired: dict[str, Any]) -> None:
    voiron = next(t for t in desired["mail2"]["tenants"] if t["id"] == "voiron")
    quotas = {m["address"].split("@")[0]: m["quota_bytes"] for m in voiron["mailboxes"]}
    assert quotas["camille.garnier"] == 20 * GIB  # the person's own quota
    assert quotas["julien.lefebvre"] == 8 * GIB  # the tenant's default
    assert voiron["quota_bytes"] == 200 * GIB
    ambel = next(t for t in desired["mail1"]["tenants"] if t["id"] == "ambel")
    assert {m["quota_bytes"] for m in ambel["mailboxes"]} == {2 * GIB}
    echevis = next(t for t in desired["mail1"]["tenants"] if t["id"] == "echevis")
    assert {m["quota_bytes"] for m in echevis["mailboxes"]} == {5 * GIB}  # operator default
    assert echevis["quota_bytes"] == 10 * GIB


def test_names_carry_the_typographic_apostrophe(desired: dict[str, Any]) -> None:
    tenant = desired["mail2"]["tenants"][0]
    assert tenant["name"] == "L\u2019Abergement-Clémenciat"
    assert "'" not in dump(desired)


def test_state_is_plain_json(desired: dict[str, Any]) -> None:
    assert json.loads(dump(desired)) == desired
