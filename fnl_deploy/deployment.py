"""Load a deployment directory, validate every file and the rules across them, all at once."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fnl_deploy.errors import InvalidDeployment, Problem, UsageError
from fnl_deploy.i18n import t
from fnl_deploy.model.errors import problems_from
from fnl_deploy.model.operator import Operator, Server
from fnl_deploy.model.tenant import EVERYONE, DnsMode, Person, Tenant
from fnl_deploy.model.types import format_size, to_u_label
from fnl_deploy.yamlsrc import Loc, Source, load_file

TENANT_FILE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SERVER_GROUP = "fnl_servers"
OPERATOR_KEY = "fnl_operator"

#: RCPNT accepts .fr and the French regional or overseas extensions.
FRENCH_EXTENSIONS = frozenset(
    [
        "fr",
        "bzh",
        "alsace",
        "corsica",
        "paris",
        "eus",
        "re",
        "gp",
        "mq",
        "gf",
        "yt",
        "pm",
        "wf",
        "tf",
        "nc",
        "pf",
        "bl",
        "mf",
    ]
)


@dataclass(frozen=True)
class TenantEntry:
    """A validated tenant with the file it came from (for located messages)."""

    id: str
    tenant: Tenant
    source: Source = field(compare=False, repr=False)

    @property
    def domains(self) -> tuple[str, ...]:
        return (self.tenant.domain, *self.tenant.alias_domains)


@dataclass(frozen=True)
class Deployment:
    """Everything in a deployment directory, valid and with defaults applied."""

    root: Path
    operator: Operator
    servers: tuple[Server, ...]
    tenants: tuple[TenantEntry, ...]
    warnings: tuple[Problem, ...] = ()

    def tenant(self, tenant_id: str) -> TenantEntry:
        for entry in self.tenants:
            if tenant_id in (entry.id, entry.tenant.domain, to_u_label(entry.tenant.domain)):
                return entry
        known = ", ".join(e.id for e in self.tenants) or "-"
        raise UsageError(t("tenant.unknown", name=tenant_id), t("tenant.unknown.hint", known=known))

    def server(self, name: str) -> Server:
        return next(s for s in self.servers if s.name == name)

    def placement(self, entry: TenantEntry) -> Server:
        name = entry.tenant.placement or self.operator.defaults.server or self.servers[0].name
        return self.server(name)

    @property
    def webmail_server(self) -> Server:
        """The server the webmail host name (and every tenant's client set-up names) points at."""
        name = self.operator.defaults.server or self.servers[0].name
        return self.server(name)

    @property
    def dns_signer(self) -> Server | None:
        """The server answering as the first name server: it holds the zones and signs them."""
        first = self.operator.dns.nameservers[:1]
        return next((s for s in self.servers if first and s.nameserver == first[0]), None)

    @property
    def live_tenants(self) -> list[TenantEntry]:
        """Tenants the platform serves: all but those `fnl-deploy offboard` marked as gone
        (their accounts, domains and zones are then disabled, their data kept)."""
        return [e for e in self.tenants if e.tenant.offboarded is None]

    def hosted_entries(self) -> list[TenantEntry]:
        return [e for e in self.live_tenants if self.dns_mode(e) is DnsMode.hosted]

    def dns_mode(self, entry: TenantEntry) -> DnsMode:
        return entry.tenant.dns.mode or self.operator.defaults.dns_mode

    def mailbox_quota(self, entry: TenantEntry, own: int | None) -> int:
        return own or entry.tenant.quotas.mailbox or self.operator.defaults.mailbox_quota

    def chat_certificate_has_domain(self, entry: TenantEntry) -> bool:
        """Whether the commune's own domain is in its certificate, as XMPP clients require.

        Chat addresses are the mail addresses: clients check the certificate against the
        domain itself. Its http-01 challenge reaches the platform only when the platform
        serves the zone and the commune has no address of its own at the apex (its
        website): then the zone points the apex at the commune's server (dns.py).
        Otherwise the domain stays out: its failed challenge would cost the whole
        certificate, mail.<domain> included (docs/chat.md#certificates).
        """
        tenant = entry.tenant
        return (
            tenant.services.chat
            and self.dns_mode(entry) is DnsMode.hosted
            and (self.apex_points_here(entry) or tenant.dns.acme_redirect)
        )

    def apex_points_here(self, entry: TenantEntry) -> bool:
        """Whether the hosted zone points the domain itself at the commune's server (chat):
        the commune has no address of its own there (its website) and the server's is known.
        """
        tenant = entry.tenant
        return (
            tenant.services.chat
            and self.dns_mode(entry) is DnsMode.hosted
            and self.placement(entry).ipv4 is not None
            and not has_own_apex(tenant)
        )

    def tenant_cap(self, entry: TenantEntry) -> int:
        return entry.tenant.quotas.tenant or self.operator.defaults.tenant_quota


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_deployment(root: Path) -> Deployment:
    """Read and validate ``root``; raise InvalidDeployment with every problem found."""
    if not root.is_dir():
        raise UsageError(t("deploy.missing_dir", path=root), t("deploy.missing_dir.hint"))
    problems: list[Problem] = []
    servers = _load_servers(root, problems)
    operator = _load_operator(root, servers, problems)
    tenants = _load_tenants(root, problems)
    if operator is not None and servers:
        problems.extend(_cross_rules(operator, servers, tenants))
    # Reading order: by file, then line, so an admin fixes a file from top to bottom.
    problems.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))
    errors = [p for p in problems if p.severity == "error"]
    if errors or operator is None or not servers:
        raise InvalidDeployment(problems)
    return Deployment(
        root=root,
        operator=operator,
        servers=tuple(servers),
        tenants=tuple(sorted(tenants, key=lambda e: e.id)),
        warnings=tuple(p for p in problems if p.severity != "error"),
    )


def _validate(
    model: type[BaseModel], data: Any, source: Source, loc: Loc, problems: list[Problem]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, source, model, loc))
        return None


def _find_group(node: Any, name: str) -> dict[str, Any] | None:
    """Find an inventory group by name under ``all``/``children`` at any depth."""
    if not isinstance(node, dict):
        return None
    if isinstance(node.get(name), dict):
        return node[name]
    for key in ("all", "children"):
        found = _find_group(node.get(key), name)
        if found is not None:
            return found
    for value in (
        node.get("children", {}).values() if isinstance(node.get("children"), dict) else ()
    ):
        found = _find_group(value, name)
        if found is not None:
            return found
    return None


def _load_servers(root: Path, problems: list[Problem]) -> list[Server]:
    path = root / "hosts.yml"
    if not path.exists():
        problems.append(Problem(display_path(path), None, None, "", t("deploy.missing_hosts")))
        return []
    source, found = load_file(path, display_path(path))
    problems.extend(found)
    if source is None:
        return []
    group = _find_group(source.data, SERVER_GROUP)
    hosts = (group or {}).get("hosts") or {}
    if not isinstance(hosts, dict) or not hosts:
        problems.append(source.problem((), t("deploy.no_servers")))
        return []
    servers = []
    loc = _loc_of(source, SERVER_GROUP)
    for name, host_vars in hosts.items():
        host_vars = host_vars or {}
        data = {
            "name": name,
            "fqdn": host_vars.get("fnl_fqdn"),
            "storage": host_vars.get("fnl_storage"),
            "ipv4": host_vars.get("fnl_ipv4"),
            "nameserver": host_vars.get("fnl_nameserver"),
        }
        data = {k: v for k, v in data.items() if v is not None}
        server = _validate(Server, data, source, (*loc, "hosts", name), problems)
        if server is not None:
            servers.append(server)
    if any(s.nameserver for s in servers):
        # The platform then serves the zones naming every server: each needs its address.
        for server in servers:
            if server.ipv4 is None:
                problems.append(
                    source.problem(
                        (*loc, "hosts", server.name),
                        t("rule.server_needs_ipv4", server=server.name),
                    )
                )
    return servers


def _loc_of(source: Source, group: str) -> Loc:
    """The location of an inventory group, for error positions."""
    for loc in source.positions:
        if loc and loc[-1] == group:
            return loc
    return ()


def _load_operator(root: Path, servers: list[Server], problems: list[Problem]) -> Operator | None:
    found_in: list[tuple[Source, Any]] = []
    for path in sorted((root / "group_vars" / "all").glob("*.y*ml")):
        source, found = load_file(path, display_path(path))
        problems.extend(found)
        if source is not None and isinstance(source.data, dict) and OPERATOR_KEY in source.data:
            found_in.append((source, source.data[OPERATOR_KEY]))
    if not found_in:
        problems.append(
            Problem(
                display_path(root / "group_vars" / "all"),
                None,
                None,
                "",
                t("deploy.missing_operator"),
            )
        )
        return None
    source, data = found_in[0]
    for other, _ in found_in[1:]:
        problems.append(
            other.problem((OPERATOR_KEY,), t("deploy.operator_twice", other=source.display))
        )
    operator = _validate(Operator, data, source, (OPERATOR_KEY,), problems)
    names = [s.name for s in servers]
    if operator is not None and servers and operator.defaults.server not in (None, *names):
        problems.append(
            source.problem(
                (OPERATOR_KEY, "defaults", "server"),
                t(
                    "rule.default_server_unknown",
                    value=operator.defaults.server,
                    known=", ".join(names),
                ),
            )
        )
    if operator is not None:
        problems.extend(_nameserver_rules(operator, servers, source))
    return operator


def _nameserver_rules(operator: Operator, servers: list[Server], source: Source) -> list[Problem]:
    """Servers answering as name servers: declared by the operator, with an address to glue."""
    found = []
    for server in servers:
        if server.nameserver and server.nameserver not in operator.dns.nameservers:
            found.append(
                source.problem(
                    (OPERATOR_KEY, "dns", "nameservers"),
                    t(
                        "rule.nameserver_undeclared",
                        server=server.name,
                        name=server.nameserver,
                    ),
                )
            )
    return found


def _load_tenants(root: Path, problems: list[Problem]) -> list[TenantEntry]:
    entries = []
    for path in sorted((root / "tenants").glob("*.y*ml")):
        shown = display_path(path)
        if not TENANT_FILE.match(path.stem):
            problems.append(Problem(shown, None, None, "", t("deploy.tenant_filename")))
            continue
        source, found = load_file(path, shown)
        problems.extend(found)
        if source is None:
            continue
        if not isinstance(source.data, dict):
            problems.append(source.problem((), t("file.not_mapping")))
            continue
        tenant = _validate(Tenant, source.data, source, (), problems)
        if tenant is not None:
            entries.append(TenantEntry(path.stem, tenant, source))
    return entries


def slug(text: str) -> str:
    """An id from a display name: ``Salle des fêtes`` → ``salle-des-fetes``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:32] or "calendar"


def calendar_id(calendar: Any) -> str:
    return calendar.id or slug(calendar.name)


def room_id(room: Any) -> str:
    """A chat room's address before the @ (its id, or its name made an id)."""
    return room.id or slug(room.name)


def _addresses(entry: TenantEntry) -> Iterator[tuple[str, str, Loc]]:
    """Every local part a tenant claims: (local part, kind, location in its file).

    ``kind`` is mailbox, shared, list, alias or calendar (``kind.*`` messages say it to the
    user). A room, equipment or shared calendar has an account named after its id in SOGo
    (bookings are addressed to it), so its id is an address too.
    """
    tenant = entry.tenant
    for i, person in enumerate(tenant.people):
        yield person.mailbox, "mailbox", ("people", i, "mailbox")
    for i, shared in enumerate(tenant.shared_mailboxes):
        yield shared.address, "shared", ("shared_mailboxes", i, "address")
    for i, mlist in enumerate(tenant.lists):
        yield mlist.address, "list", ("lists", i, "address")
    for i, person in enumerate(tenant.people):
        for j, alias in enumerate(person.aliases):
            yield alias, "alias", ("people", i, "aliases", j)
    for i, alias in enumerate(tenant.aliases):
        yield alias.address, "alias", ("aliases", i, "address")
    # A former address stays the person's: an alias to the renamed mailbox.
    for i, person in enumerate(tenant.people):
        for j, former in enumerate(person.former_addresses):
            yield former, "alias", ("people", i, "former_addresses", j)
    seen_calendars: set[str] = set()
    for i, calendar in enumerate(tenant.calendars):
        cid = calendar_id(calendar)
        if cid not in seen_calendars:  # a repeated id has its own message
            seen_calendars.add(cid)
            yield cid, "calendar", ("calendars", i, "name")


def _where(source: Source, loc: Loc) -> str:
    line, _ = source.where(loc)
    return f"{source.display}:{line}" if line else source.display


def _cross_rules(
    operator: Operator, servers: list[Server], tenants: list[TenantEntry]
) -> list[Problem]:
    problems: list[Problem] = []
    server_names = [s.name for s in servers]
    known_servers = ", ".join(server_names)
    ordered = sorted(tenants, key=lambda e: e.id)
    for entry in ordered:
        if entry.tenant.placement and entry.tenant.placement not in server_names:
            problems.append(
                entry.source.problem(
                    ("placement",),
                    t("rule.unknown_server", value=entry.tenant.placement, known=known_servers),
                )
            )
    # Every primary domain before any alias domain: when an alias domain collides with
    # another tenant's primary domain, the alias is the claim reported, whatever the names.
    claims: list[tuple[TenantEntry, str, Loc]] = [
        (e, e.tenant.domain, ("domain",)) for e in ordered
    ]
    claims += [
        (e, d, ("alias_domains", i)) for e in ordered for i, d in enumerate(e.tenant.alias_domains)
    ]
    problems.extend(_domain_rules(claims, operator))
    local_parts: dict[str, dict[str, tuple[str, Loc]]] = {}
    for entry in ordered:
        found, local_parts[entry.id] = _tenant_rules(entry, operator)
        problems.extend(found)
    problems.extend(_address_rules(claims, local_parts))
    return problems


def _domain_rules(claims: list[tuple[TenantEntry, str, Loc]], operator: Operator) -> list[Problem]:
    """Each domain belongs to one tenant, and never to the operator's technical domain."""
    problems: list[Problem] = []
    technical = operator.technical_domain
    domain_owner: dict[str, tuple[TenantEntry, Loc]] = {}
    for entry, domain, loc in claims:
        source = entry.source
        shown = to_u_label(domain)
        if domain == technical or domain.endswith(f".{technical}"):
            # The operator's own names (MX, webmail, name servers) live there.
            problems.append(
                source.problem(
                    loc, t("rule.technical_domain_taken", domain=shown, technical=technical)
                )
            )
        elif technical.endswith(f".{domain}"):
            problems.append(
                source.problem(
                    loc, t("rule.technical_domain_inside", domain=shown, technical=technical)
                )
            )
        elif domain in domain_owner:
            other, other_loc = domain_owner[domain]
            if other is entry and other_loc == ("domain",):
                message = t("rule.alias_domain_is_primary", domain=shown)
            elif other is entry:
                message = t("rule.domain_twice", domain=shown, where=_where(source, other_loc))
            else:
                message = t(
                    "rule.domain_taken",
                    domain=shown,
                    other=other.id,
                    where=_where(other.source, other_loc),
                )
            problems.append(source.problem(loc, message))
        else:
            domain_owner[domain] = (entry, loc)
        if domain.rsplit(".", 1)[-1] not in FRENCH_EXTENSIONS:
            problems.append(source.problem(loc, t("warn.rcpnt_extension", domain=shown), "warning"))
    return problems


def _address_rules(
    claims: list[tuple[TenantEntry, str, Loc]],
    local_parts: dict[str, dict[str, tuple[str, Loc]]],
) -> list[Problem]:
    """An address is unique on the platform (it can only clash where a domain does)."""
    problems: list[Problem] = []
    address_owner: dict[str, tuple[str, TenantEntry, Loc]] = {}
    seen: set[tuple[str, str]] = set()
    for entry, domain, _ in claims:
        if (entry.id, domain) in seen:
            continue  # an alias domain repeating a domain of the same tenant: reported above
        seen.add((entry.id, domain))
        for local, (kind, loc) in local_parts[entry.id].items():
            address = f"{local}@{domain}"
            if address not in address_owner:
                address_owner[address] = (kind, entry, loc)
                continue
            other_kind, other_entry, other_loc = address_owner[address]
            problems.append(
                entry.source.problem(
                    loc,
                    t(
                        "rule.address_taken_other",
                        address=f"{local}@{to_u_label(domain)}",
                        kind=t(f"kind.{other_kind}"),
                        other=other_entry.id,
                        where=_where(other_entry.source, other_loc),
                    ),
                )
            )
    return problems


def _tenant_rules(
    entry: TenantEntry, operator: Operator
) -> tuple[list[Problem], dict[str, tuple[str, Loc]]]:
    """Rules inside one tenant; also returns the local parts it claims (kind, location)."""
    tenant, source = entry.tenant, entry.source
    problems: list[Problem] = []
    person_ids: dict[str, int] = {}
    for i, person in enumerate(tenant.people):
        if person.id in person_ids:
            problems.append(
                source.problem(("people", i, "id"), t("rule.duplicate_id", value=person.id))
            )
        person_ids.setdefault(person.id, i)
    known = ", ".join(person_ids) or "-"

    def check_person(value: str, loc: Loc) -> None:
        if value not in person_ids:
            problems.append(source.problem(loc, t("rule.unknown_person", value=value, known=known)))

    for i, shared in enumerate(tenant.shared_mailboxes):
        for member in shared.members:
            check_person(member, ("shared_mailboxes", i, "members", member))
    for i, mlist in enumerate(tenant.lists):
        if not mlist.members and not mlist.external:
            problems.append(source.problem(("lists", i, "members"), t("rule.list_empty")))
        for j, member in enumerate(mlist.members):
            check_person(member, ("lists", i, "members", j))
    if tenant.services.activesync:
        problems.append(
            source.problem(("services", "activesync"), t("rule.activesync_unavailable"))
        )

    def check_unique(section: str, ids: list[str], message: str) -> None:
        seen: set[str] = set()
        for i, item_id in enumerate(ids):
            if item_id in seen:
                problems.append(source.problem((section, i, "name"), t(message, value=item_id)))
            seen.add(item_id)

    check_unique("calendars", [calendar_id(c) for c in tenant.calendars], "rule.duplicate_calendar")
    for i, calendar in enumerate(tenant.calendars):
        for member in calendar.access:
            if member != EVERYONE:
                check_person(member, ("calendars", i, "access", member))
        for j, manager in enumerate(calendar.managers):
            check_person(manager, ("calendars", i, "managers", j))

    check_unique("rooms", [room_id(r) for r in tenant.rooms], "rule.duplicate_room")
    for i, room in enumerate(tenant.rooms):
        for j, member in enumerate(room.members):
            if member != EVERYONE:
                check_person(member, ("rooms", i, "members", j))
        for j, moderator in enumerate(room.moderators):
            check_person(moderator, ("rooms", i, "moderators", j))
    check_unique("folders", [f.name.casefold() for f in tenant.folders], "rule.duplicate_folder")
    for i, folder in enumerate(tenant.folders):
        for right in ("read", "write"):
            for j, member in enumerate(getattr(folder, right)):
                if member != EVERYONE:
                    check_person(member, ("folders", i, right, j))
    if tenant.folders and not tenant.services.files:
        problems.append(source.problem(("folders",), t("rule.folders_without_files")))
    if tenant.rooms and not tenant.services.chat:
        problems.append(source.problem(("rooms",), t("rule.rooms_without_chat")))
    if tenant.services.chat:
        # Chat apps check the certificate against the domain itself (docs/chat.md).
        dns_mode = tenant.dns.mode or operator.defaults.dns_mode
        if dns_mode is not DnsMode.hosted:
            problems.append(source.problem(("services", "chat"), t("rule.chat_needs_hosted")))
        elif has_own_apex(tenant) and not tenant.dns.acme_redirect:
            problems.append(
                source.problem(
                    ("services", "chat"),
                    t("rule.chat_apex_elsewhere", domain=to_u_label(tenant.domain)),
                )
            )

    # Addresses: unique on the platform, and an alias never shadows a real address.
    local_parts: dict[str, tuple[str, Loc]] = {}
    for local, kind, loc in _addresses(entry):
        if local in local_parts:
            other_kind, other_loc = local_parts[local]
            key = (
                "rule.alias_shadows"
                if kind == "alias" and other_kind != "alias"
                else "rule.address_taken"
            )
            address = f"{local}@{to_u_label(tenant.domain)}"
            problems.append(
                source.problem(
                    loc,
                    t(
                        key,
                        address=address,
                        kind=t(f"kind.{other_kind}"),
                        where=_where(source, other_loc),
                    ),
                )
            )
            continue
        local_parts[local] = (kind, loc)
    for i, alias in enumerate(tenant.aliases):
        for j, target in enumerate(alias.to):
            if "@" not in target and target not in local_parts:
                problems.append(
                    source.problem(
                        ("aliases", i, "to", j),
                        t(
                            "rule.unknown_target",
                            value=target,
                            known=", ".join(sorted(local_parts)),
                        ),
                    )
                )

    cap = tenant.quotas.tenant or operator.defaults.tenant_quota
    quota_locs: list[tuple[int | None, Loc]] = [(tenant.quotas.mailbox, ("quotas", "mailbox"))]
    quota_locs += [(p.quota, ("people", i, "quota")) for i, p in enumerate(tenant.people)]
    quota_locs += [
        (s.quota, ("shared_mailboxes", i, "quota")) for i, s in enumerate(tenant.shared_mailboxes)
    ]
    uses_default = any(m.quota is None for m in (*tenant.people, *tenant.shared_mailboxes))
    default_quota = operator.defaults.mailbox_quota
    if tenant.quotas.mailbox is None and uses_default and default_quota > cap:
        problems.append(
            source.problem(
                ("quotas", "tenant"),
                t(
                    "rule.default_quota_over_cap",
                    quota=format_size(default_quota),
                    cap=format_size(cap),
                ),
            )
        )
    for quota, loc in quota_locs:
        if quota is not None and quota > cap:
            problems.append(
                source.problem(
                    loc,
                    t(
                        "rule.mailbox_quota_over_cap",
                        quota=format_size(quota),
                        cap=format_size(cap),
                    ),
                )
            )
    return problems, local_parts


def has_own_apex(tenant: Tenant) -> bool:
    """Whether the commune's own records give its domain an address (its website)."""
    return any(r.name == "@" and r.type in ("A", "AAAA") for r in tenant.dns.records)


def person_by_id(tenant: Tenant) -> dict[str, Person]:
    return {p.id: p for p in tenant.people}
