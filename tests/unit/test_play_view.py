"""The play's view of a server's desired state (playbooks/filter_plugins/fnl_desired.py):
small, yet holding everything the play's templates and role variables read."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import load_deployment
from tests.unit.test_groupware_module import load

REPO = Path(__file__).parents[2]
fnl_desired = load("fnl_desired", REPO / "playbooks/filter_plugins/fnl_desired.py")


def test_the_view_drops_zone_records_and_keeps_communes_with_chat_or_files(example: Path) -> None:
    desired = compile_deployment(load_deployment(example))
    mail1 = desired["mail1"]
    view = fnl_desired.fnl_play_view(mail1)
    # What site.yml reads of DNS, without the records (the dns module reads those).
    assert mail1["dns"]["zones"] and "zones" not in view["dns"]
    assert view["dns"]["role"] == mail1["dns"]["role"]
    assert view["dns"]["primary_address"] == mail1["dns"]["primary_address"]
    # Saint-Étienne-de-Crossey (chat, files) and Ambel (chat) stay, with five fields each.
    kept = {t["id"]: t for t in view["tenants"]}
    assert set(kept) == {
        t["id"] for t in mail1["tenants"] if t["chat"]["enabled"] or t["files"]["enabled"]
    }
    assert "saint-etienne-de-crossey" in kept and "ambel" in kept
    assert set(kept["ambel"]) == {"id", "domain", "name", "chat", "files"}
    full = next(t for t in mail1["tenants"] if t["id"] == "ambel")
    assert kept["ambel"]["chat"] == full["chat"] and kept["ambel"]["files"] == full["files"]
    # The rest is untouched, and the compiled state itself is not modified.
    for key in ("server", "operator", "tls", "clients", "chat", "base"):
        assert view[key] == mail1[key]
    assert "zones" in mail1["dns"]
    assert len(json.dumps(view)) < len(json.dumps(mail1)) / 2


def test_roles_chat_and_files_read_no_other_field_of_a_commune() -> None:
    """A field the chat or files role starts to read must be added to the view."""
    chat_template = (REPO / "roles/chat/templates/prosody.cfg.lua.j2").read_text()
    read = set(re.findall(r"\bcommune\.(\w+)", chat_template))
    for module in ("roles/chat/library/fnl_chat_rooms.py", "roles/files/library/fnl_files.py"):
        source = (REPO / module).read_text()
        read |= set(re.findall(r"\btenant\[\"(\w+)\"\]", source))
        read |= set(re.findall(r"\btenant\.get\(\"(\w+)\"", source))
    assert read and read <= set(fnl_desired.TENANT_FIELDS)
