"""Chat without a server: the tenant file's rules, the compiled rooms, the zone's records,
and the rooms module's plan (what `fnl-deploy plan` says about rooms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import load_deployment
from fnl_deploy.dns import tenant_records
from fnl_deploy.errors import InvalidDeployment
from tests.unit.test_groupware_module import load

ROLES = Path(__file__).parents[2] / "roles"
fnl_chat_rooms = load("fnl_chat_rooms", ROLES / "chat/library/fnl_chat_rooms.py")

SEC = "saint-etienne-de-crossey.fr"


def tenant_of(desired: dict, server: str, tenant_id: str) -> dict:
    return next(t for t in desired[server]["tenants"] if t["id"] == tenant_id)


def problems(example: Path) -> list[str]:
    with pytest.raises(InvalidDeployment) as caught:
        load_deployment(example)
    return [str(p) for p in caught.value.problems]


def edit(example: Path, tenant: str, old: str, new: str) -> None:
    path = example / "tenants" / f"{tenant}.yml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_rooms_compile_to_unicode_addresses_with_names_and_moderators(example: Path) -> None:
    desired = compile_deployment(load_deployment(example))
    chat = tenant_of(desired, "mail1", "saint-etienne-de-crossey")["chat"]
    assert chat["enabled"] and chat["xmpp_domain"] == SEC and chat["certificate_has_domain"]
    council, town_hall = chat["rooms"]
    assert council["id"] == "conseil" and council["moderators"] == [f"marie.martin@{SEC}"]
    assert council["members"] == [f"marie.martin@{SEC}", f"pierre.durand@{SEC}"]
    assert council["nicknames"][f"marie.martin@{SEC}"] == "Marie Martin"
    # [everyone]: every person of the commune; the id comes from the name.
    assert town_hall["id"] == "mairie" and len(town_hall["members"]) == 3
    # L'Abergement-Clémenciat: chat addresses in Unicode (RFC 7622), accounts in A-labels.
    team = tenant_of(desired, "mail2", "l-abergement-clemenciat")["chat"]
    assert team["xmpp_domain"] == "abergement-clémenciat.fr"
    assert team["rooms"][0]["id"] == "equipe-municipale"
    assert "francois.brun@abergement-clémenciat.fr" in team["rooms"][0]["members"]
    # Chat is opened on the commune's server only, and federation stays closed.
    ports = {p["port"] for p in desired["mail1"]["base"]["firewall_open_ports"]}
    assert 5222 in ports and 5269 not in ports
    assert desired["mail1"]["chat"]["federation"] is False
    # The commune's own domain is in its certificate (chat apps check it).
    certificates = {c["name"]: c["mail_names"] for c in desired["mail1"]["tls"]["tenants"]}
    assert certificates[SEC] == [f"mail.{SEC}", SEC]


def test_the_zone_tells_apps_where_chat_is_and_points_the_domain_here(example: Path) -> None:
    deployment = load_deployment(example)
    records = {
        (r.name, r.type): r.value
        for r in tenant_records(deployment, deployment.tenant("saint-etienne-de-crossey"))
    }
    assert records[("_xmpp-client._tcp", "SRV")] == "0 5 5222 mail1.alpes-numerique.fr."
    assert records[("_xmpp-server._tcp", "SRV")] == "0 0 0 ."
    assert records[("@", "A")] == "192.0.2.11"
    # Voiron has no chat: no chat records, its website keeps its @.
    voiron = {
        (r.name, r.type): r.value for r in tenant_records(deployment, deployment.tenant("voiron"))
    }
    assert ("_xmpp-client._tcp", "SRV") not in voiron
    assert voiron[("@", "A")] == "192.0.2.80"


def test_federation_opens_its_port_and_publishes_its_records(example: Path) -> None:
    operator = example / "group_vars" / "all" / "operator.yml"
    operator.write_text(
        operator.read_text(encoding="utf-8") + "  chat:\n    federation: true\n", "utf-8"
    )
    deployment = load_deployment(example)
    desired = compile_deployment(deployment)
    assert 5269 in {p["port"] for p in desired["mail1"]["base"]["firewall_open_ports"]}
    names = {
        (r.name, r.value)
        for r in tenant_records(deployment, deployment.tenant("saint-etienne-de-crossey"))
    }
    assert ("_xmpp-server._tcp", "0 5 5269 mail1.alpes-numerique.fr.") in names
    assert ("_xmpp-server._tcp.salons", "0 5 5269 mail1.alpes-numerique.fr.") in names


def test_chat_needs_a_hosted_zone_whose_domain_can_be_certified(example: Path) -> None:
    edit(
        example,
        "echevis",
        "dns:\n  mode: external\n",
        "dns:\n  mode: external\nservices:\n  chat: true\n",
    )
    edit(example, "voiron", "dns:\n", "services:\n  chat: true\ndns:\n")
    found = problems(example)
    assert any("echevis.yml" in p and "services.chat" in p and "hosted" in p for p in found), found
    assert any(
        "voiron.yml" in p and "acme_redirect" in p and "http://voiron.fr/.well-known" in p
        for p in found
    ), found


def test_a_website_that_redirects_the_challenge_lets_chat_in(example: Path) -> None:
    edit(example, "voiron", "dns:\n", "services:\n  chat: true\ndns:\n  acme_redirect: true\n")
    deployment = load_deployment(example)
    desired = compile_deployment(deployment)
    certificates = {c["name"]: c["mail_names"] for c in desired["mail2"]["tls"]["tenants"]}
    assert certificates["voiron.fr"] == ["mail.voiron.fr", "voiron.fr"]
    # Its website keeps the domain: the zone adds no address of the platform's.
    apex = [r for r in tenant_records(deployment, deployment.tenant("voiron")) if r.name == "@"]
    assert [r.value for r in apex if r.type == "A"] == ["192.0.2.80"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("members: [mmartin, pdurand]", "members: [mmartin, nobody]", "rooms[0].members[1]"),
        ("moderators: [mmartin]", "moderators: [nobody]", "rooms[0].moderators[0]"),
        ("  - name: Mairie\n", "  - name: Conseil\n    id: conseil\n", "used twice"),
        ("  chat: true\n", "", "services: {chat: true}"),
    ],
)
def test_room_mistakes_name_the_file_line_and_field(example, old, new, expected) -> None:
    edit(example, "saint-etienne-de-crossey", old, new)
    found = problems(example)
    assert any("saint-etienne-de-crossey.yml:" in p and expected in p for p in found), found


def room(jid: str, **fields) -> dict:
    return {
        "jid": jid,
        "tenant": "t",
        "name": "Conseil",
        "description": "",
        "members": ["a@x.fr", "b@x.fr"],
        "moderators": ["a@x.fr"],
        "nicknames": {"a@x.fr": "A", "b@x.fr": "B"},
        **fields,
    }


def test_the_rooms_plan_says_what_is_added_changed_and_closed() -> None:
    old = {"salons.x.fr": [room("conseil@salons.x.fr"), room("vieux@salons.x.fr")]}
    new = {
        "salons.x.fr": [
            room(
                "conseil@salons.x.fr",
                members=["a@x.fr", "c@x.fr"],
                nicknames={"a@x.fr": "A", "c@x.fr": "C"},
            ),
            room("neuf@salons.x.fr", name="Neuf"),
        ]
    }
    changes = {(c["action"], c["name"]): c["detail"] for c in fnl_chat_rooms.room_changes(old, new)}
    assert changes[("~", "conseil@salons.x.fr")] == "+member c@x.fr, -member b@x.fr"
    assert changes[("+", "neuf@salons.x.fr")] == "Neuf, 2 member(s)"
    assert "history is kept" in changes[("-", "vieux@salons.x.fr")]
    assert fnl_chat_rooms.room_changes(new, new) == []


def test_the_rooms_file_is_keyed_by_each_communes_rooms_service() -> None:
    tenants = [
        {
            "id": "t",
            "chat": {
                "xmpp_domain": "abergement-clémenciat.fr",
                "rooms": [
                    {
                        "id": "equipe",
                        "name": "Équipe",
                        "description": "",
                        "members": ["b@abergement-clémenciat.fr", "a@abergement-clémenciat.fr"],
                        "moderators": [],
                        "nicknames": {},
                    }
                ],
            },
        }
    ]
    document = fnl_chat_rooms.rooms_document(tenants)
    [(component, rooms)] = document.items()
    assert component == "salons.abergement-clémenciat.fr"
    assert rooms[0]["jid"] == "equipe@salons.abergement-clémenciat.fr"
    assert rooms[0]["members"] == ["a@abergement-clémenciat.fr", "b@abergement-clémenciat.fr"]
