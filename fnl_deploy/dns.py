"""The DNS records each tenant domain needs, as a zone file, a registrar table or JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from fnl_deploy.deployment import Deployment, TenantEntry
from fnl_deploy.i18n import t
from fnl_deploy.model.tenant import DnsMode
from fnl_deploy.model.types import to_u_label

#: Where apply stores the DKIM public keys fetched back from the servers (issue #4).
DKIM_CACHE = Path(".fnl") / "dkim"
#: RFC 6764 context path of SOGo's DAV service, published in the SRV companion TXT records.
DAV_PATH = "/SOGo/dav/"


@dataclass(frozen=True)
class Record:
    """One resource record, relative to its zone (``@`` is the apex)."""

    domain: str  # zone, A-label
    name: str  # relative owner name, "@" for the apex
    type: str
    value: str  # presentation format as in a zone file (TXT quoted and split)
    ttl: int
    purpose: str
    pending: bool = False  # a placeholder until the servers have produced the real value

    @property
    def fqdn(self) -> str:
        return f"{self.domain}." if self.name == "@" else f"{self.name}.{self.domain}."

    @property
    def registrar_value(self) -> str:
        """The value as registrar web forms want it: TXT without quotes, joined."""
        if self.type == "TXT":
            return "".join(part.strip('"') for part in _split_quoted(self.value))
        return self.value

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["fqdn"] = self.fqdn
        data["registrar_value"] = self.registrar_value
        return data


def _split_quoted(value: str) -> list[str]:
    parts, current, inside = [], "", False
    for char in value:
        if char == '"':
            inside = not inside
            current += char
            if not inside:
                parts.append(current)
                current = ""
        elif inside:
            current += char
    return parts


def txt(text: str) -> str:
    """Quote a TXT value, split in strings of at most 255 octets (RFC 1035 §3.3.14)."""
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def _check(record: Record) -> Record:
    """Refuse anything a DNS server would: parse it with dnspython."""
    dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(record.type), record.value)
    dns.name.from_text(record.fqdn)
    return record


def mta_sts_id(mx_hosts: list[str], mode: str) -> str:
    """A policy id that changes exactly when the policy does (RFC 8461 §3.1)."""
    return hashlib.sha256(f"{mode}|{'|'.join(sorted(mx_hosts))}".encode()).hexdigest()[:20]


def _read_cached(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_cached(path: Path, data: dict[str, object]) -> None:
    """Write a cache file atomically, and only when its content changes."""
    if _read_cached(path) == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def save_dkim_keys(root: Path, keys: dict[str, dict[str, str]]) -> None:
    """Cache the DKIM public keys fetched from the servers at apply (or plan)."""
    for domain, key in sorted(keys.items()):
        wanted = {"selector": str(key["selector"]), "public_key": str(key["public_key"])}
        _write_cached(root / DKIM_CACHE / f"{domain}.json", wanted)


def dkim_key(root: Path, domain: str) -> tuple[str, str] | None:
    """(selector, public key) fetched from the server at apply, if any."""
    data = _read_cached(root / DKIM_CACHE / f"{domain}.json") or {}
    if "selector" not in data or "public_key" not in data:
        return None
    return str(data["selector"]), str(data["public_key"])


def dmarc_record(deployment: Deployment) -> str:
    """The DMARC policy of every domain the platform sends for (RCPNT: pct=100)."""
    op = deployment.operator
    return (
        f"v=DMARC1; p={op.dns.dmarc_policy.value}; pct=100; "
        f"rua=mailto:{op.dns.dmarc_reports}; adkim=s; aspf=s"
    )


def tenant_records(deployment: Deployment, entry: TenantEntry) -> list[Record]:
    """Every record the tenant's domains need, primary domain first."""
    records = []
    for domain in entry.domains:
        records.extend(domain_records(deployment, entry, domain))
    return records


def domain_records(deployment: Deployment, entry: TenantEntry, domain: str) -> list[Record]:
    op = deployment.operator
    server = deployment.placement(entry)
    mx = f"{server.fqdn}."
    web = f"{op.webmail_hostname}."
    ttl = op.dns.ttl
    primary = domain == entry.tenant.domain
    out: list[Record] = []

    def add(name: str, rtype: str, value: str, purpose: str, pending: bool = False) -> None:
        out.append(_check(Record(domain, name, rtype, value, ttl, purpose, pending)))

    if deployment.dns_mode(entry) is DnsMode.hosted:
        for ns in op.dns.nameservers or (server.fqdn,):
            add("@", "NS", f"{ns}.", "name server (hosted zone)")
    add("@", "MX", f"10 {mx}", "mail exchanger")
    add("@", "TXT", txt("v=spf1 mx -all"), "SPF: only the MX may send for this domain")
    key = dkim_key(deployment.root, domain)
    if key:
        selector, public = key
        add(f"{selector}._domainkey", "TXT", txt(f"v=DKIM1; k=rsa; p={public}"), "DKIM public key")
    else:
        # A placeholder the admin cannot mistake for a key: the DKIM record appears once
        # the server has generated it (first apply), never as an empty, revoking p=.
        out.append(
            Record(
                domain,
                "<selector>._domainkey",
                "TXT",
                txt("v=DKIM1; k=rsa; p=<generated at first apply>"),
                ttl,
                t("dns.placeholder_dkim"),
                pending=True,
            )
        )
    dmarc = dmarc_record(deployment)
    add("_dmarc", "TXT", txt(dmarc), "DMARC policy (RCPNT: quarantine or reject, pct=100)")
    policy_id = mta_sts_id([server.fqdn], op.dns.mta_sts_mode)
    add("_mta-sts", "TXT", txt(f"v=STSv1; id={policy_id}"), "MTA-STS policy version")
    # Names served by the webmail server over HTTPS (MTA-STS, client set-up). A hosted zone
    # gives them the webmail server's address: a CNAME into another zone is not followed
    # by an authoritative server, and some validators (ACME) do not chase it themselves.
    web_address = deployment.webmail_server.ipv4
    hosted_zone = deployment.dns_mode(entry) is DnsMode.hosted
    hosted = hosted_zone and web_address is not None

    def add_web(name: str, purpose: str) -> None:
        if hosted:
            add(name, "A", str(web_address), purpose)
        else:
            add(name, "CNAME", web, purpose)

    add_web("mta-sts", "MTA-STS policy host (HTTPS)")
    add("_smtp._tls", "TXT", txt(f"v=TLSRPTv1; rua=mailto:{op.dns.tls_reports}"), "TLS-RPT reports")
    if primary:
        if hosted_zone and server.ipv4 is not None:
            add("mail", "A", str(server.ipv4), "mail server name for clients")
        else:
            add("mail", "CNAME", mx, "mail server name for clients")
        add("_submissions._tcp", "SRV", f"0 1 465 {mx}", "mail submission, TLS (RFC 8314)")
        add("_submission._tcp", "SRV", f"10 1 587 {mx}", "mail submission, STARTTLS (RFC 6186)")
        add("_imaps._tcp", "SRV", f"0 1 993 {mx}", "IMAP, TLS (RFC 6186)")
        add("_imap._tcp", "SRV", f"10 1 143 {mx}", "IMAP, STARTTLS (RFC 6186)")
        add("_pop3s._tcp", "SRV", "0 0 0 .", "POP3 not offered (RFC 6186)")
        add("_pop3._tcp", "SRV", "0 0 0 .", "POP3 not offered (RFC 6186)")
        add("_caldavs._tcp", "SRV", f"0 1 443 {web}", "CalDAV over TLS (RFC 6764)")
        add("_caldavs._tcp", "TXT", txt(f"path={DAV_PATH}"), "CalDAV context path")
        add("_carddavs._tcp", "SRV", f"0 1 443 {web}", "CardDAV over TLS (RFC 6764)")
        add("_carddavs._tcp", "TXT", txt(f"path={DAV_PATH}"), "CardDAV context path")
        add("_caldav._tcp", "SRV", "0 0 0 .", "CalDAV without TLS not offered")
        add("_carddav._tcp", "SRV", "0 0 0 .", "CardDAV without TLS not offered")
        add_web("autoconfig", "Thunderbird autoconfiguration")
        add_web("autodiscover", "Outlook autodiscover")
        add("_autodiscover._tcp", "SRV", f"0 1 443 {web}", "Outlook autodiscover")
        if entry.tenant.services.chat:
            add("_xmpp-client._tcp", "SRV", f"0 5 5222 {mx}", "chat apps (XMPP, RFC 6120)")
            if op.chat.federation:
                add("_xmpp-server._tcp", "SRV", f"0 5 5269 {mx}", "chat between servers")
                for component in ("salons", "upload"):
                    add(
                        f"_xmpp-server._tcp.{component}",
                        "SRV",
                        f"0 5 5269 {mx}",
                        f"chat between servers ({component})",
                    )
            else:
                add("_xmpp-server._tcp", "SRV", "0 0 0 .", "chat federation not offered")
            if deployment.apex_points_here(entry):
                add("@", "A", str(server.ipv4), "chat: certificate of the domain itself (http-01)")
    for issuer in op.dns.caa_issuers:
        add("@", "CAA", f'0 issue "{issuer}"', "CAA: certificate authority allowed")
    add("@", "CAA", f'0 iodef "mailto:{op.contact}"', "CAA: where to report misissuance")
    if primary:
        for extra in entry.tenant.dns.records:
            value = extra.value
            if extra.type == "TXT":
                value = txt(value)
            else:  # host names in values are absolute, as the model documents
                value = dns.rdata.from_text(
                    dns.rdataclass.IN,
                    extra.type,
                    extra.value,
                    origin=dns.name.root,
                    relativize=False,
                ).to_text()
            out.append(
                _check(
                    Record(domain, extra.name, extra.type, value, extra.ttl or ttl, "own record")
                )
            )
    return out


def technical_records(deployment: Deployment) -> list[Record]:
    """The operator's own zone: servers, name servers and webmail, when the platform serves it."""
    op = deployment.operator
    domain = op.technical_domain
    ttl = op.dns.ttl
    out: list[Record] = []

    def add(name: str, rtype: str, value: str, purpose: str) -> None:
        out.append(_check(Record(domain, name, rtype, value, ttl, purpose)))

    def relative(fqdn: str) -> str | None:
        """The owner name inside this zone, or None for a name elsewhere."""
        if fqdn == domain:
            return "@"
        return fqdn.removesuffix(f".{domain}") if fqdn.endswith(f".{domain}") else None

    for ns in op.dns.nameservers:
        add("@", "NS", f"{ns}.", "name server")
    first = deployment.servers[0]
    add("@", "MX", f"10 {first.fqdn}.", "mail exchanger of the operator")
    add("@", "TXT", txt("v=spf1 mx -all"), "SPF: only the platform sends for this domain")
    names: dict[str, str] = {}
    for server in deployment.servers:
        if server.ipv4 is not None:
            names[server.fqdn] = str(server.ipv4)
            if server.nameserver:
                names[server.nameserver] = str(server.ipv4)
    webmail = deployment.webmail_server
    if webmail.ipv4 is not None and op.webmail_hostname not in names:
        names[op.webmail_hostname] = str(webmail.ipv4)
    for fqdn, address in sorted(names.items()):
        name = relative(fqdn)
        if name is not None:
            add(name, "A", address, "platform host")
    add("_dmarc", "TXT", txt(dmarc_record(deployment)), "DMARC policy")
    # Tenant domains send their DMARC reports here: RFC 7489 §7.1 wants the receiving
    # domain to accept them, which a wildcard does for every tenant at once.
    if op.dns.dmarc_reports.endswith(f"@{domain}"):
        add("*._report._dmarc", "TXT", txt("v=DMARC1"), "accepts DMARC reports of the tenants")
    for issuer in op.dns.caa_issuers:
        add("@", "CAA", f'0 issue "{issuer}"', "CAA: certificate authority allowed")
    return out


#: Where apply stores each hosted zone's DS records, read back from the signer (DNSSEC).
DS_CACHE = Path(".fnl") / "dnssec"


def save_ds_records(root: Path, found: dict[str, list[str]]) -> None:
    """Cache the DS records of signed zones, as the signing server computed them."""
    for domain, values in sorted(found.items()):
        _write_cached(root / DS_CACHE / f"{domain}.json", {"ds": sorted(str(v) for v in values)})


def ds_records(root: Path, domain: str) -> list[str]:
    """DS values (key tag, algorithm, digest type, digest) to give the registrar."""
    values = (_read_cached(root / DS_CACHE / f"{domain}.json") or {}).get("ds")
    return [str(v) for v in values] if isinstance(values, list) else []


def registrar_ds(deployment: Deployment, entry: TenantEntry) -> list[Record]:
    """The DS records of a hosted tenant's domains: for the parent zone, via the registrar."""
    if deployment.dns_mode(entry) is not DnsMode.hosted:
        return []
    out = []
    for domain in entry.domains:
        values = ds_records(deployment.root, domain)
        if not values:
            out.append(
                Record(
                    domain,
                    "@",
                    "DS",
                    "<computed at first apply>",
                    deployment.operator.dns.ttl,
                    t("dns.placeholder_ds"),
                    pending=True,
                )
            )
        for value in values:
            out.append(
                _check(
                    Record(
                        domain,
                        "@",
                        "DS",
                        value,
                        deployment.operator.dns.ttl,
                        "DNSSEC: give it to the registrar (parent zone)",
                    )
                )
            )
    return out


def zone_text(
    deployment: Deployment,
    entry: TenantEntry,
    domain: str,
    serial: int = 1,
    with_dkim: bool = True,
) -> str:
    """A complete zone file for one domain (SOA and NS included), for Knot or the admin.

    Without DKIM for role dns, which adds the keys the servers hold at apply time.
    """
    records = domain_records(deployment, entry, domain)
    if not with_dkim:
        records = [r for r in records if not r.name.endswith("._domainkey")]
    hosted = deployment.dns_mode(entry) is DnsMode.hosted
    header = [
        f"; Zone {to_u_label(domain)} ({domain}) for {entry.tenant.commune.name}",
        f"; Generated by fnl-deploy from tenants/{entry.id}.yml; DNS mode: "
        f"{deployment.dns_mode(entry).value}",
    ]
    default_ns = deployment.placement(entry).fqdn
    return _zone(deployment, domain, records, header, hosted, serial, default_ns)


def technical_zone_text(deployment: Deployment, serial: int = 1) -> str:
    op = deployment.operator
    header = [f"; Zone {op.technical_domain}: servers of {op.name}"]
    records = technical_records(deployment)
    return _zone(deployment, op.technical_domain, records, header, True, serial, "")


def _zone(
    deployment: Deployment,
    domain: str,
    records: list[Record],
    header: list[str],
    hosted: bool,
    serial: int,
    default_ns: str,
) -> str:
    op = deployment.operator
    nameservers = list(op.dns.nameservers) or [default_ns or deployment.servers[0].fqdn]
    hostmaster = f"hostmaster.{op.technical_domain}."
    lines = [*header, f"$ORIGIN {domain}.", f"$TTL {op.dns.ttl}"]
    soa = f"@ {op.dns.ttl} SOA {nameservers[0]}. {hostmaster} {serial} 3600 900 1209600 300"
    if hosted:
        lines.append(soa)
    else:
        # External zones keep the SOA and NS of the commune's own DNS host: this file is
        # the set of records to import or type there, not a zone to serve as is.
        lines.append("; SOA and NS: those of the commune's DNS host, unchanged.")
    for record in records:
        # A pending record stays commented out: publishing a placeholder would break DKIM.
        prefix = "; PENDING " if record.pending else ""
        lines.append(
            f"{prefix}{record.name} {record.ttl} {record.type} {record.value}  ; {record.purpose}"
        )
    return "\n".join(lines) + "\n"


def records_table(records: list[Record]) -> list[tuple[str, str, str, str, str]]:
    """Rows for a registrar: (domain, name, type, value, purpose)."""
    return [
        (
            to_u_label(r.domain),
            r.name,
            r.type,
            r.registrar_value,
            ("⚠ " if r.pending else "") + r.purpose,
        )
        for r in records
    ]
