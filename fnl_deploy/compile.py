"""Pure compilation of a validated deployment into each server's desired state."""

from __future__ import annotations

import uuid
from typing import Any

from fnl_deploy import dns
from fnl_deploy.deployment import Deployment, TenantEntry, calendar_id, person_by_id, room_id
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
_CHAT_PORTS = [(5222, "tcp", "xmpp clients")]
_FEDERATION_PORTS = [(5269, "tcp", "xmpp servers (federation)")]


def compile_deployment(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Desired state of every server, keyed by inventory name, in a deterministic order."""
    return {server.name: compile_server(deployment, server) for server in deployment.servers}


def compile_server(deployment: Deployment, server: Server) -> dict[str, Any]:
    entries = [e for e in deployment.live_tenants if deployment.placement(e).name == server.name]
    tenants = [compile_tenant(deployment, e) for e in entries]
    op = deployment.operator
    is_webmail = server.name == deployment.webmail_server.name
    return {
        "fnl_desired_version": DESIRED_STATE_VERSION,
        "server": {"name": server.name, "fqdn": server.fqdn},
        "operator": {
            "name": op.name,
            "technical_domain": op.technical_domain,
            "webmail_hostname": op.webmail_hostname,
            "contact": op.contact,
            "mta_sts_mode": op.dns.mta_sts_mode,
        },
        "base": {"firewall_open_ports": _open_ports(deployment, tenants)},
        "dns": _dns(deployment, server),
        "tls": {
            "names": _certificate_names(deployment, server),
            "tenants": _tenant_certificates(deployment, server),
        },
        "clients": _client_domains(deployment) if is_webmail else [],
        "chat": _chat(deployment),
        "tenants": tenants,
        # Tenants `fnl-deploy offboard` disabled: off the services, but their accounts and
        # mail stay as they are (not archived one by one like a removed mailbox), for a
        # purge with a visa, or for a return.
        "offboarded": sorted(
            e.id
            for e in deployment.tenants
            if e.tenant.offboarded is not None and deployment.placement(e).name == server.name
        ),
    }


#: Names under each tenant domain that point at the webmail server (MTA-STS, client set-up).
_CLIENT_NAMES = ("mta-sts", "autoconfig", "autodiscover")


def _certificate_names(deployment: Deployment, server: Server) -> list[str]:
    """Names of the server's own certificate: its host name, and the webmail's name there.

    Communes' names are in their own certificates (_tenant_certificates): one certificate
    for every commune would exceed ACME's 100 names past ~25 communes.
    """
    names = [server.fqdn]
    if server.name == deployment.webmail_server.name:
        names.append(deployment.operator.webmail_hostname)
    return list(dict.fromkeys(names))


def _tenant_certificates(deployment: Deployment, server: Server) -> list[dict[str, Any]]:
    """One certificate per commune whose names point at this server, chosen by SNI.

    mail.<domain> (what people type in a client) on the commune's server; mta-sts,
    autoconfig and autodiscover on the webmail server. Hosted zones only: an external zone
    may not point here yet, and its order would fail.
    """
    is_webmail = server.name == deployment.webmail_server.name
    out = []
    for entry in deployment.hosted_entries():
        mail_names = []
        if deployment.placement(entry).name == server.name:
            mail_names.append(f"mail.{entry.tenant.domain}")
            if deployment.chat_certificate_has_domain(entry):
                mail_names.append(entry.tenant.domain)
        client_names = []
        if is_webmail:
            for domain in entry.domains:
                prefixes = _CLIENT_NAMES if domain == entry.tenant.domain else ("mta-sts",)
                client_names += [f"{prefix}.{domain}" for prefix in prefixes]
        if mail_names or client_names:
            out.append(
                {
                    "name": entry.tenant.domain,
                    "names": mail_names + client_names,
                    "mail_names": mail_names,
                    "client_names": client_names,
                }
            )
    return sorted(out, key=lambda c: c["name"])


def _client_domains(deployment: Deployment) -> list[dict[str, str]]:
    """Every tenant domain's client set-up, served by the webmail server."""
    out = []
    for entry in deployment.live_tenants:
        for domain in entry.domains:
            stable = uuid.uuid5(uuid.NAMESPACE_DNS, f"fnl-deploy.{domain}")
            out.append(
                {
                    "domain": domain,
                    "mx": deployment.placement(entry).fqdn,
                    "name": entry.tenant.commune.name,
                    # The profile's payloads end the UUID with their own 12 digits.
                    "uuid": str(stable).rsplit("-", 1)[0],
                }
            )
    return sorted(out, key=lambda c: c["domain"])


def _dns(deployment: Deployment, server: Server) -> dict[str, Any]:
    """What role dns serves: every hosted zone on the signer, the zone names on secondaries.

    DKIM records are left out of the zone texts: role dns adds the keys the mail servers
    hold in that very apply (and those fetched earlier, for servers outside the run).
    """
    signer = deployment.dns_signer
    if server.nameserver is None or signer is None:
        return {"role": "none", "zones": {}}
    zones: dict[str, str] = {}
    if deployment.operator.dns.technical_zone is DnsMode.hosted:
        zones[deployment.operator.technical_domain] = dns.technical_zone_text(deployment)
    for entry in deployment.hosted_entries():
        for domain in entry.domains:
            zones[domain] = dns.zone_text(deployment, entry, domain, with_dkim=False)
    secondaries = [s for s in deployment.servers if s.nameserver and s.name != signer.name]
    primary = server.name == signer.name
    return {
        "role": "primary" if primary else "secondary",
        "nameserver": server.nameserver,
        "primary_address": str(signer.ipv4),
        "secondary_addresses": [str(s.ipv4) for s in secondaries],
        # Secondaries transfer the zones: they only need the names.
        "zones": dict(sorted(zones.items())) if primary else dict.fromkeys(sorted(zones), ""),
        "ttl": deployment.operator.dns.ttl,
    }


def _chat(deployment: Deployment) -> dict[str, Any]:
    """The operator's chat settings, the same on every server (role chat)."""
    chat = deployment.operator.chat
    return {
        "federation": chat.federation,
        "archive_days": chat.archive_days,
        "upload_limit_bytes": chat.upload_limit,
        "upload_days": chat.upload_days,
    }


def _open_ports(deployment: Deployment, tenants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ports the firewall opens: those of the services this platform runs."""
    ports = list(_WEB_PORTS)
    if any(t["services"]["mail"] for t in tenants) or not tenants:
        ports += _MAIL_PORTS
    if deployment.hosted_entries():
        ports += _DNS_PORTS
    if any(t["chat"]["enabled"] for t in tenants):
        ports += _CHAT_PORTS
        if deployment.operator.chat.federation:
            ports += _FEDERATION_PORTS
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
            # Addresses this mailbox had before: the directory renames instead of creating.
            "former": [address(f) for f in p.former_addresses],
            "login": not p.disabled,
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
            "former": [],
            "login": False,
        }
        for s in tenant.shared_mailboxes
    ]
    aliases = [
        {"address": address(alias), "targets": [address(p.mailbox)]}
        for p in tenant.people
        for alias in (*p.aliases, *p.former_addresses)
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
    # Chat addresses are Unicode (RFC 7622): abergement-clémenciat.fr, not its A-label.
    xmpp_domain = to_u_label(domain)

    def jid(person_id: str) -> str:
        return f"{people[person_id].mailbox}@{xmpp_domain}"

    everyone = {jid(p.id) for p in tenant.people}
    rooms = [
        {
            "id": room_id(r),
            "name": r.name,
            "description": r.description or "",
            "members": sorted(
                everyone if EVERYONE in r.members else {jid(m) for m in (*r.members, *r.moderators)}
            ),
            "moderators": sorted(jid(m) for m in r.moderators),
        }
        for r in tenant.rooms
    ]
    # Each person's name is their reserved nickname in the rooms (XEP-0045 §7.12).
    names = {jid(p.id): p.name for p in tenant.people}
    for room in rooms:
        room["nicknames"] = {member: names[member] for member in room["members"]}

    def addresses_of(ids: tuple[str, ...]) -> list[str]:
        if EVERYONE in ids:
            return sorted(person_address(p.id) for p in tenant.people)
        return sorted(person_address(i) for i in ids)

    files = {
        "enabled": tenant.services.files,
        "quota_bytes": tenant.quotas.files or deployment.operator.defaults.files_quota,
        # Each person's own folder, Personnel/<first part of their address>.
        "people": {address(p.mailbox): p.mailbox for p in tenant.people},
        # A renamed person's folder follows them (people[].former_addresses).
        "renamed": {
            p.mailbox: list(p.former_addresses) for p in tenant.people if p.former_addresses
        },
        "folders": [
            {
                "name": f.name,
                "read": addresses_of(f.read),
                "write": addresses_of(f.write),
            }
            for f in tenant.folders
        ],
    }
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
        "files": files,
        "chat": {
            "enabled": tenant.services.chat,
            "xmpp_domain": xmpp_domain,
            # XMPP clients check the certificate against the domain (Deployment method).
            "certificate_has_domain": deployment.chat_certificate_has_domain(entry),
            "rooms": sorted(rooms, key=lambda r: r["id"]),
        },
    }
