"""Filter ``fnl_play_view``: the part of a server's desired state that the play itself reads.

A server's desired state (``fnl-deploy compile``) holds everything its modules need: every
zone's records, every commune's mailboxes, aliases, lists and agendas; 4.7 MB for a server
of 500 communes. The modules read it from the file staged on the server. Loaded whole as
an Ansible variable, it made every task of the run slower, also the tasks that never read
it: about 0.1 s per task and server at 4.7 MB (40 tasks on the controller: 3.0 s without
it, 7.0 s with it, Mitogen's strategy), 186 tasks on each server of a run
(docs/performance.md). The play keeps what its templates and role variables read: the
server, operator, TLS names, clients, chat settings, DNS role, and the communes with chat
or shared files with the few fields those roles read.
"""

from __future__ import annotations

#: What roles chat and files read of a commune (their tasks, templates and modules).
TENANT_FIELDS = ("id", "domain", "name", "chat", "files")


def fnl_play_view(desired: dict) -> dict:
    """The desired state without zone records and with communes reduced to chat and files."""
    view = dict(desired)
    view["dns"] = {
        key: value for key, value in (desired.get("dns") or {}).items() if key != "zones"
    }
    view["tenants"] = [
        {field: tenant[field] for field in TENANT_FIELDS if field in tenant}
        for tenant in desired.get("tenants") or []
        if (tenant.get("chat") or {}).get("enabled") or (tenant.get("files") or {}).get("enabled")
    ]
    return view


class FilterModule:
    """Ansible's entry point for the filters of this file."""

    def filters(self):
        return {"fnl_play_view": fnl_play_view}
