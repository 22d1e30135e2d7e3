#!/usr/bin/python
"""Ansible module: every commune's chat rooms in one file for Prosody, and what changes."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_chat_rooms
short_description: The chat rooms of every commune of the server, for Prosody's module fnl_rooms
description:
  - One call per server, whatever the number of communes and rooms (tenants are data).
  - Writes C(path) (JSON, keyed by each commune's rooms component salons.<domain>) when
    it differs; Prosody's module fnl_rooms applies it when it loads (the role's handler
    reloads it). Returns one structured change per room added, changed or closed, which
    C(fnl-deploy plan) shows; check mode writes nothing.
  - A room gone from the files is closed (no member any more), never destroyed: its
    history stays, and listing it again opens it with its history.
options:
  tenants:
    type: list
    elements: dict
    required: true
    description: "Compiled communes with chat: {id, domain, chat: {xmpp_domain, rooms}}."
  path: {type: path, required: true, description: The rooms file Prosody reads.}
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def rooms_document(tenants):
    """{component: [room]} exactly as Prosody's module reads it, sorted for stable files."""
    document = {}
    for tenant in tenants:
        chat = tenant["chat"]
        component = "salons." + chat["xmpp_domain"]
        document[component] = [
            {
                "jid": "%s@%s" % (room["id"], component),
                "tenant": tenant["id"],
                "name": room["name"],
                "description": room.get("description") or "",
                "members": sorted(room["members"]),
                "moderators": sorted(room["moderators"]),
                "nicknames": dict(sorted(room.get("nicknames", {}).items())),
            }
            for room in sorted(chat["rooms"], key=lambda r: r["id"])
        ]
    return dict(sorted(document.items()))


def room_changes(old, new):
    """Structured changes between two rooms documents, for the plan."""
    old_rooms = {r["jid"]: r for rooms in old.values() for r in rooms}
    new_rooms = {r["jid"]: r for rooms in new.values() for r in rooms}
    changes = []

    def change(action, room, detail):
        changes.append(
            {
                "service": "chat",
                "action": action,
                "kind": "room",
                "name": room["jid"],
                "tenant": room.get("tenant"),
                "detail": detail,
            }
        )

    for jid, room in sorted(new_rooms.items()):
        before = old_rooms.get(jid)
        if before is None:
            change("+", room, "%s, %d member(s)" % (room["name"], len(room["members"])))
            continue
        details = []
        if before["name"] != room["name"]:
            details.append("name %s" % room["name"])
        if before.get("description", "") != room["description"]:
            details.append("description")
        renamed = sorted(
            who for who, name in room["nicknames"].items()
            if who in before.get("nicknames", {}) and before["nicknames"][who] != name
        )
        details += ["name of %s" % who for who in renamed]
        for key, label in (("members", "member"), ("moderators", "moderator")):
            added = sorted(set(room[key]) - set(before.get(key, [])))
            removed = sorted(set(before.get(key, [])) - set(room[key]))
            details += ["+%s %s" % (label, who) for who in added]
            details += ["-%s %s" % (label, who) for who in removed]
        if details:
            change("~", room, ", ".join(details))
    for jid, room in sorted(old_rooms.items()):
        if jid not in new_rooms:
            change("-", room, "closed: no member any more, its history is kept")
    return changes


def main():
    module = AnsibleModule(
        argument_spec={
            "tenants": {"type": "list", "elements": "dict", "required": True},
            "path": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    new = rooms_document(module.params["tenants"])
    old = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as current:
                old = json.load(current)
        except ValueError:
            old = {}
    text = json.dumps(new, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    on_disk = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as current:
            on_disk = current.read()
    if on_disk == text:
        module.exit_json(changed=False, fnl_changes=[])
    changes = room_changes(old, new)
    if not module.check_mode:
        directory = os.path.dirname(path)
        handle, temporary = tempfile.mkstemp(prefix=".fnl-rooms-", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        # Prosody (group prosody) reads it; the people's addresses are not for everyone.
        os.chmod(temporary, 0o640)
        try:
            import grp

            os.chown(temporary, 0, grp.getgrnam("prosody").gr_gid)
        except KeyError:
            pass
        os.replace(temporary, path)
    # A rewritten file with the same rooms (first write, formatting) is a change of the
    # file only: the plan still says so, once.
    if not changes:
        changes = [
            {
                "service": "chat",
                "action": "~",
                "kind": "rooms file",
                "name": path,
                "tenant": None,
                "detail": "rewritten, same rooms",
            }
        ]
    module.exit_json(changed=True, fnl_changes=changes)


if __name__ == "__main__":
    main()
