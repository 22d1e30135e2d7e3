"""Pure compilation of a validated deployment into each server's desired state."""

from __future__ import annotations

from typing import Any

from fnl_deploy.deployment import Deployment, TenantEntry, calendar_id, person_by_id
from fnl_deploy.model.operator import Server
from fnl_deploy.model.tenant import EVERYONE, DnsMode
from fnl_deploy.model.types import to_u_label

#: Version of the desired-state document the roles read; bump on incompatible change.
DESIRED_STATE_VERSION = 1

_MAIL_PORTS = [
    (25, "tcp", "smtp"),
    (143, "tcp", "imap"),
    (465, "tcp", "submissions"),
    (587, "tcp", "submission"),
    (993, "tcp", "imaps"),
    (4190, "tcp", "managesieve"),
]
_WEB_PORTS = [(80, "tcp", "http (ACME, redirects)"), (443, "tcp", "https")]
_DNS_PORTS = [(53, "tcp", "dns"), (53, "udp", "dns")]


def compile_deployment(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Desired state of every server, keyed by inventory name, in a deterministic order."""
    return {server.name: compile_server(deployment, server) for server in deployment.servers}


def compile_server(deployment: Deployment, server: Server) -> dict[str, Any]:
    entries = [e for e in deployment.tenants if deployment.placement(e).name == server.name]
    tenants = [compile_tenant(deployment, e) for e in entries]
    op = deployment.operator
    return {
        "fnl_desired_version": DESIRED_STATE_VERSION,
        "server": {"name": server.name, "fqdn": server.fqdn},
        "operator": {
            "name": op.name,
            "technical_domain": op.technical_domain,
            "webmail_hostname": op.webmail_hostname,
            "contact": op.contact,
        },
        "base": {"firewall_open_ports": _open_ports(deployment, tenants)},
        "tenants": tenants,
    }


def _open_ports(deployment: Deployment, tenants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ports the firewall opens: those of the services this platform runs."""
    ports = list(_WEB_PORTS)
    if any(t["services"]["mail"] for t in tenants) or not tenants:
        ports += _MAIL_PORTS
    if any(deployment.dns_mode(e) is DnsMode.hosted for e in deployment.tenants):
        ports += _DNS_PORTS
    return [
        {"port": port, "proto": proto, "comment": comment}
        for port, proto, comment in sorted(set(ports))
    ]


def compile_tenant(deployment: Deployment, entry: TenantEntry) -> dict[str, Any]:
    """One tenant as plain data: full addresses (A-labels), bytes, sorted lists."""
    tenant = entry.tenant
    domain = tenant.domain
    people = person_by_id(tenant)

    def address(local: str) -> str:
        return local if "@" in local else f"{local}@{domain}"

    def person_address(person_id: str) -> str:
        return address(people[person_id].mailbox)

    mailboxes = [
        {
            "address": address(p.mailbox),
            "kind": "person",
            "person_id": p.id,
            "name": p.name,
            "role": p.role,
            "admin": p.admin,
            "quota_bytes": deployment.mailbox_quota(entry, p.quota),
        }
        for p in tenant.people
    ] + [
        {
            "address": address(s.address),
            "kind": "shared",
            "person_id": None,
            "name": s.name or s.address,
            "role": None,
            "admin": False,
            "quota_bytes": deployment.mailbox_quota(entry, s.quota),
        }
        for s in tenant.shared_mailboxes
    ]
    aliases = [
        {"address": address(alias), "targets": [address(p.mailbox)]}
        for p in tenant.people
        for alias in p.aliases
    ] + [
        {"address": address(a.address), "targets": [address(x) for x in a.to]}
        for a in tenant.aliases
    ]
    lists = [
        {
            "address": address(m.address),
            "name": m.name or m.address,
            "members": sorted({person_address(i) for i in m.members} | set(m.external)),
        }
        for m in tenant.lists
    ]
    shared_rights = [
        {"mailbox": address(s.address), "member": person_address(member), "right": right.value}
        for s in tenant.shared_mailboxes
        for member, right in s.members.items()
    ]
    calendars = [
        {
            "id": calendar_id(c),
            "address": address(calendar_id(c)),
            "name": c.name,
            "kind": c.kind.value,
            "access": sorted(
                (
                    {
                        "member": EVERYONE if member == EVERYONE else person_address(member),
                        "right": right.value,
                    }
                    for member, right in c.access.items()
                ),
                key=lambda a: a["member"],
            ),
            "managers": sorted(person_address(m) for m in c.managers),
            "capacity": c.capacity,
        }
        for c in tenant.calendars
    ]
    return {
        "id": entry.id,
        "name": tenant.commune.name,
        "insee": tenant.commune.insee,
        "siren": tenant.commune.siren,
        "domain": domain,
        "domain_display": to_u_label(domain),
        "alias_domains": sorted(tenant.alias_domains),
        "dns_mode": deployment.dns_mode(entry).value,
        "services": tenant.services.model_dump(mode="json"),
        "quota_bytes": deployment.tenant_cap(entry),
        "mailboxes": sorted(mailboxes, key=lambda m: m["address"]),
        "aliases": sorted(aliases, key=lambda a: a["address"]),
        "lists": sorted(lists, key=lambda m: m["address"]),
        "shared_rights": sorted(shared_rights, key=lambda r: (r["mailbox"], r["member"])),
        "calendars": sorted(calendars, key=lambda c: c["id"]),
    }
