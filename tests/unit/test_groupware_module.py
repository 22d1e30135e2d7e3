"""The pure parts of the groupware module: view names and the rights it wants SOGo to hold."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).parents[2] / "roles"


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Ansible puts the roles' module_utils under ansible.module_utils when it ships a module.
load("ansible.module_utils.fnl_postgres", ROLES / "directory/module_utils/fnl_postgres.py")
fnl_groupware = load("fnl_groupware", ROLES / "groupware/library/fnl_groupware.py")

STE = "saint-etienne-de-crossey.fr"


def person(local: str, domain: str = STE) -> dict:
    return {"address": f"{local}@{domain}", "kind": "person"}


def tenant(tid: str, domain: str, calendars: list, people: list, groupware: bool = True) -> dict:
    return {
        "id": tid,
        "domain": domain,
        "services": {"groupware": groupware},
        "mailboxes": [person(p, domain) for p in people]
        + [{"address": f"mairie@{domain}", "kind": "shared"}],
        "calendars": calendars,
    }


def test_view_names_are_plain_identifiers_and_never_collide():
    names = {fnl_groupware.view_name(d) for d in ("a-b.fr", "a.b.fr", "xn--chevis-9ua.fr")}
    assert len(names) == 3
    long_name = fnl_groupware.view_name("tres-" * 12 + "long.fr")
    for name in names | {long_name}:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(name) <= 63


def test_rooms_are_booked_by_everyone_and_managed_by_their_managers():
    room = {
        "address": f"salle-des-fetes@{STE}",
        "name": "Salle des fêtes",
        "kind": "room",
        "access": [],
        "managers": [f"elodie.rossi@{STE}"],
    }
    desired = {"tenants": [tenant("ste", STE, [room], ["elodie.rossi", "pierre.durand"])]}
    wanted = fnl_groupware.wanted_calendars(desired, None)
    tid, name, rights = wanted[room["address"]]
    assert (tid, name) == ("ste", "Salle des fêtes")
    # Shared mailboxes do not book: only people.
    assert rights == {f"elodie.rossi@{STE}": "manage", f"pierre.durand@{STE}": "book"}


def test_shared_calendar_expands_everyone_and_keeps_the_strongest_right():
    council = {
        "address": f"conseil-municipal@{STE}",
        "name": "Conseil municipal",
        "kind": "shared",
        "managers": [],
        "access": [
            {"member": f"marie.martin@{STE}", "right": "write"},
            {"member": "everyone", "right": "read"},
        ],
    }
    desired = {"tenants": [tenant("ste", STE, [council], ["marie.martin", "pierre.durand"])]}
    _, _, rights = fnl_groupware.wanted_calendars(desired, None)[council["address"]]
    assert rights == {f"marie.martin@{STE}": "write", f"pierre.durand@{STE}": "read"}


def test_scope_and_the_groupware_switch_leave_other_tenants_alone():
    def room(domain: str) -> dict:
        return {
            "address": f"salle@{domain}",
            "name": "Salle",
            "kind": "room",
            "access": [],
            "managers": [],
        }

    desired = {
        "tenants": [
            tenant("ambel", "mairie-ambel.fr", [room("mairie-ambel.fr")], ["anne.vial"]),
            tenant("ste", STE, [room(STE)], ["marie.martin"]),
            tenant("off", "off.fr", [room("off.fr")], ["x"], groupware=False),
        ]
    }
    assert set(fnl_groupware.wanted_calendars(desired, None)) == {
        "salle@mairie-ambel.fr",
        f"salle@{STE}",
    }
    assert set(fnl_groupware.wanted_calendars(desired, {"ambel"})) == {"salle@mairie-ambel.fr"}


def test_roles_read_back_as_the_right_they_came_from():
    for right in ("book", "read", "write"):
        assert fnl_groupware.right_of(set(fnl_groupware.ROLES[right])) == right
    assert fnl_groupware.right_of({"ObjectViewer"}) == "custom"
