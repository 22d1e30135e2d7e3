"""Live check of tenant DNS: query what `dns show` lists, compare, give each fix and RCPNT."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from fnl_deploy.deployment import FRENCH_EXTENSIONS, Deployment, TenantEntry
from fnl_deploy.dns import Record, domain_records
from fnl_deploy.errors import UsageError
from fnl_deploy.i18n import t
from fnl_deploy.model.operator import EU_COUNTRIES
from fnl_deploy.model.types import to_u_label

#: Seconds per attempt, and per query with its retries: a dead server never hangs a check.
TIMEOUT = 2.0
LIFETIME = 4.0
#: Consecutive timeouts after which a server is taken as unreachable for the rest of the run.
GIVE_UP_AFTER = 3
#: Types where the answer must be exactly the expected set (a stale extra value is a fault).
EXCLUSIVE_TYPES = frozenset(["MX", "NS", "CNAME", "SRV", "A"])


class Status(StrEnum):
    ok = "ok"
    missing = "missing"
    wrong = "wrong"
    pending = "pending"  # DKIM before the first apply: nothing to publish yet
    unanswered = "unanswered"  # the server did not answer (timeout, SERVFAIL, REFUSED)


#: What makes ``dns check`` exit 1.
NEEDS_FIX = frozenset([Status.missing, Status.wrong, Status.unanswered])


@dataclass(frozen=True)
class Lookup:
    """What DNS answered for one name and type: values as a registrar shows them, or an error."""

    values: tuple[str, ...] = ()
    error: str | None = None  # timeout, servfail, unreachable, or an exception name


#: Answers by (fqdn, type); fqdn absolute and lower-case, as ``key()`` makes it.
Answers = Mapping[tuple[str, str], Lookup]


@dataclass(frozen=True)
class Issue:
    """A named mistake (``dnscheck.issue.<code>`` says it to the user)."""

    code: str
    value: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "value": self.value, "message": issue_message(self)}


@dataclass(frozen=True)
class Fix:
    """One line of a registrar form: add or remove this name, type and value."""

    action: str  # add | remove
    name: str
    type: str
    value: str


@dataclass(frozen=True)
class Finding:
    record: Record
    status: Status
    found: tuple[str, ...] = ()
    issues: tuple[Issue, ...] = ()
    fixes: tuple[Fix, ...] = ()
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "name": r.name,
            "fqdn": r.fqdn,
            "type": r.type,
            "expected": r.registrar_value,
            "purpose": r.purpose,
            "status": self.status.value,
            "found": list(self.found),
            "issues": [i.as_dict() for i in self.issues],
            "fix": [asdict(f) for f in self.fixes],
            "error": self.error,
        }


@dataclass(frozen=True)
class Criterion:
    """One RCPNT criterion for one domain."""

    code: str  # extension, mx, spf, dmarc, eu_hosting
    met: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"criterion": self.code, "met": self.met, "detail": self.detail}


@dataclass(frozen=True)
class DomainCheck:
    domain: str
    server: str
    findings: tuple[Finding, ...]
    criteria: tuple[Criterion, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(f.status in NEEDS_FIX for f in self.findings) and all(
            c.met for c in self.criteria
        )


# --- pure comparison --------------------------------------------------------------------------


def key(fqdn: str, rtype: str) -> tuple[str, str]:
    return (fqdn.lower().rstrip(".") + ".", rtype.upper())


def _rdata(rtype: str, value: str) -> dns.rdata.Rdata | None:
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value)
    except (dns.exception.DNSException, ValueError):
        return None


def tags(value: str) -> dict[str, str]:
    """``k=v; k=v`` records (DMARC, DKIM, MTA-STS, TLS-RPT): keys lower-case, no blanks."""
    out = {}
    for part in value.split(";"):
        if "=" in part:
            name, _, tag_value = part.partition("=")
            out[name.strip().lower()] = "".join(tag_value.split())
    return out


def txt_kind(value: str) -> str:
    """What a TXT record is: ``v=spf1``, ``v=dmarc1``…, or its first key (``path``)."""
    text = value.strip().lower()
    if text.startswith("v="):
        return text.replace(";", " ").split()[0]
    return text.partition("=")[0].strip()


def spf_records(values: Iterable[str]) -> list[str]:
    return [v for v in values if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]


def dmarc_records(values: Iterable[str]) -> list[str]:
    return [v for v in values if txt_kind(v) == "v=dmarc1"]


def dmarc_issues(value: str) -> list[Issue]:
    """What keeps a DMARC record from RCPNT: quarantine or reject, pct=100 or absent."""
    found = tags(value)
    policy = found.get("p", "").lower()
    issues = []
    if policy == "none":
        issues.append(Issue("dmarc_none"))
    elif policy not in ("quarantine", "reject"):
        issues.append(Issue("dmarc_policy", policy))
    if found.get("pct", "100") != "100":
        issues.append(Issue("dmarc_pct", found["pct"]))
    return issues


def spf_issues(value: str) -> list[Issue]:
    terms = value.lower().split()
    issues = []
    if terms[-1:] == ["~all"]:
        issues.append(Issue("spf_softfail"))
    elif terms[-1:] != ["-all"]:
        issues.append(Issue("spf_no_all"))
    if not {"mx", "+mx"} & set(terms):
        issues.append(Issue("spf_no_mx"))
    return issues


def _replace(record: Record, found: Iterable[str], rtype: str | None = None) -> tuple[Fix, ...]:
    """Remove what is there, add what should be: the two lines to type at a registrar."""
    removes = [Fix("remove", record.name, rtype or record.type, v) for v in found]
    return (*removes, Fix("add", record.name, record.type, record.registrar_value))


def _add(record: Record) -> tuple[Fix, ...]:
    return (Fix("add", record.name, record.type, record.registrar_value),)


def check_txt(record: Record, lookup: Lookup) -> Finding:
    """A TXT record among the others at its name: only those of the same kind count."""
    expected = record.registrar_value
    kind = txt_kind(expected)
    if kind == "v=spf1":
        relevant = spf_records(lookup.values)
    elif kind == "v=dkim1":
        relevant = [v for v in lookup.values if "p" in tags(v)]
    else:
        relevant = [v for v in lookup.values if txt_kind(v) == kind]
    found = tuple(relevant)
    if not relevant:
        return Finding(record, Status.missing, fixes=_add(record))
    if len(relevant) > 1 and kind.startswith("v="):
        # Two SPF (or DMARC…) records make receivers ignore both (RFC 7208 §4.5, RFC 7489).
        code = {"v=spf1": "spf_twice", "v=dmarc1": "dmarc_twice"}.get(kind, "twice")
        keep = next((v for v in relevant if _same_txt(kind, expected, v)), None)
        others = [v for v in relevant if v != keep]
        fixes = (
            tuple(Fix("remove", record.name, "TXT", v) for v in others)
            if keep
            else _replace(record, relevant)
        )
        return Finding(record, Status.wrong, found, (Issue(code, str(len(relevant))),), fixes)
    value = relevant[0]
    if kind == "v=spf1":
        issues = spf_issues(value)
    elif kind == "v=dmarc1":
        # Any DMARC record RCPNT accepts is fine: a commune may send reports elsewhere too.
        issues = dmarc_issues(value)
    else:
        issues = [] if _same_txt(kind, expected, value) else [Issue("differs")]
    if not issues:
        return Finding(record, Status.ok, found)
    return Finding(record, Status.wrong, found, tuple(issues), _replace(record, relevant))


def _same_txt(kind: str, expected: str, found: str) -> bool:
    if kind.startswith("v="):
        return tags(expected) == tags(found) if ";" in expected else _words(expected, found)
    return _words(expected, found)


def _words(a: str, b: str) -> bool:
    return a.lower().split() == b.lower().split()


def check_group(records: list[Record], lookup: Lookup, a_lookup: Lookup | None) -> list[Finding]:
    """Records of one name and exclusive type (MX, NS, CNAME, SRV): the set must match."""
    rtype = records[0].type
    found = [(v, _rdata(rtype, v)) for v in lookup.values]
    expected = [_rdata(rtype, r.value) for r in records]
    extras = [v for v, rd in found if rd is None or rd not in expected]
    values = tuple(lookup.values)
    out = []
    for i, record in enumerate(records):
        present = any(rd is not None and rd == expected[i] for _, rd in found)
        first = i == 0
        if present and not (first and extras):
            out.append(Finding(record, Status.ok, values))
        elif present:
            removes = tuple(Fix("remove", record.name, rtype, v) for v in extras)
            issue = Issue("extra", ", ".join(extras))
            out.append(Finding(record, Status.wrong, values, (issue,), removes))
        elif first and extras:
            out.append(Finding(record, Status.wrong, values, fixes=_replace(record, extras)))
        elif rtype == "CNAME" and a_lookup is not None and a_lookup.values:
            # An address where a CNAME belongs: common for autoconfig and mail.
            shown = tuple(f"A {v}" for v in a_lookup.values)
            issue = Issue("not_cname", ", ".join(a_lookup.values))
            fixes = _replace(record, a_lookup.values, "A")
            out.append(Finding(record, Status.wrong, shown, (issue,), fixes))
        else:
            out.append(Finding(record, Status.missing, fixes=_add(record)))
    return out


def check_records(records: list[Record], answers: Answers) -> list[Finding]:
    """Compare each expected record with what DNS answered; same order as ``records``."""
    results: dict[int, Finding] = {}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, record in enumerate(records):
        if record.pending:
            results[i] = Finding(record, Status.pending)
            continue
        k = key(record.fqdn, record.type)
        lookup = answers.get(k, Lookup(error="not queried"))
        if lookup.error:
            results[i] = Finding(record, Status.unanswered, error=lookup.error)
        elif record.type in EXCLUSIVE_TYPES:
            groups.setdefault(k, []).append(i)
        elif record.type == "TXT":
            results[i] = check_txt(record, lookup)
        else:
            # CAA and anything else: this value must be there; others may be too.
            wanted = _rdata(record.type, record.value)
            present = any(_rdata(record.type, v) == wanted for v in lookup.values)
            status = Status.ok if present else Status.missing
            results[i] = Finding(
                record, status, lookup.values, fixes=() if present else _add(record)
            )
    for k, indexes in groups.items():
        group = [records[i] for i in indexes]
        findings = check_group(group, answers[k], answers.get((k[0], "A")))
        results.update(zip(indexes, findings, strict=True))
    return [results[i] for i in range(len(records))]


def rcpnt_criteria(
    domain: str, answers: Answers, country: str, mx_hosts: Iterable[str]
) -> list[Criterion]:
    """RCPNT: French extension, MX, one SPF, DMARC quarantine or reject at 100 %, MX in the EU."""
    tld = domain.rstrip(".").rsplit(".", 1)[-1]
    mx = answers.get(key(domain, "MX"), Lookup())
    spf = spf_records(answers.get(key(domain, "TXT"), Lookup()).values)
    dmarc = dmarc_records(answers.get(key(f"_dmarc.{domain}", "TXT"), Lookup()).values)
    targets = {v.split()[-1].lower() for v in mx.values if v.split()}
    ours = {f"{h.lower().rstrip('.')}." for h in mx_hosts}
    return [
        Criterion("extension", tld in FRENCH_EXTENSIONS, f".{tld}"),
        Criterion("mx", bool(targets - {"."}), ", ".join(mx.values)),
        Criterion("spf", len(spf) == 1, " | ".join(spf)),
        Criterion("dmarc", len(dmarc) == 1 and not dmarc_issues(dmarc[0]), " | ".join(dmarc)),
        Criterion("eu_hosting", country in EU_COUNTRIES and bool(targets & ours), country),
    ]


# --- querying ---------------------------------------------------------------------------------


def parse_resolver(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]:PORT`` → (IP address, port); names are resolved."""
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    bad = UsageError(t("dnscheck.bad_resolver", value=text), t("dnscheck.bad_resolver.hint"))
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise bad
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)[0][4][0], int(port)
    except OSError:
        raise bad from None


class Querier:
    """Asks one set of servers with short timeouts, and stops asking one that never answers."""

    def __init__(self, addresses: list[str] | None = None, port: int = 53, label: str = "") -> None:
        try:
            self.resolver = dns.resolver.Resolver(configure=addresses is None)
        except dns.resolver.NoResolverConfiguration:
            raise UsageError(t("dnscheck.no_resolver"), t("dnscheck.bad_resolver.hint")) from None
        if addresses is not None:
            self.resolver.nameservers = list(addresses)
        self.resolver.port = port
        self.resolver.timeout = TIMEOUT
        self.resolver.lifetime = LIFETIME
        self.resolver.cache = None  # a re-check after a fix must see the fix
        self.label = label or ", ".join(
            f"{ns}:{port}" if port != 53 else str(ns) for ns in self.resolver.nameservers
        )
        self.timeouts = 0

    def __call__(self, fqdn: str, rtype: str) -> Lookup:
        if self.timeouts >= GIVE_UP_AFTER:
            return Lookup(error="unreachable")
        try:
            answer = self.resolver.resolve(fqdn, rtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            self.timeouts = 0
            return Lookup()
        except dns.exception.Timeout:
            self.timeouts += 1
            return Lookup(error="timeout")
        except dns.resolver.NoNameservers:
            return Lookup(error="servfail")
        except dns.exception.DNSException as exc:
            return Lookup(error=type(exc).__name__)
        self.timeouts = 0
        rrset = answer.rrset
        if rrset is None:
            return Lookup()
        return Lookup(tuple(sorted(_presentation(rd) for rd in rrset)))


def _presentation(rdata: dns.rdata.Rdata) -> str:
    """A value as a registrar form shows it: TXT strings joined without quotes."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    return rdata.to_text()


def querier_for(resolver: str | None) -> Querier:
    """The servers to ask: ``HOST[:PORT]`` given by the user, else the system resolver."""
    if resolver is None:
        return Querier()
    address, port = parse_resolver(resolver)
    return Querier([address], port)


def authoritative(domain: str, base: Querier, port: int = 53) -> Querier | None:
    """A querier for the name servers of the zone holding ``domain``, found through ``base``.

    Asking them directly avoids the stale answers of resolver caches (DESIGN.md §9).
    """
    try:
        zone = dns.resolver.zone_for_name(domain, resolver=base.resolver, lifetime=LIFETIME)
        hosts = sorted(rd.target.to_text() for rd in base.resolver.resolve(zone, "NS"))
    except dns.exception.DNSException:
        return None
    addresses = []
    for rtype in ("A", "AAAA"):  # IPv4 first: many hosts have no IPv6 route
        for host in hosts:
            addresses.extend(base(host, rtype).values)
    if not addresses:
        return None
    return Querier(addresses, port, label=f"{', '.join(h.rstrip('.') for h in hosts)}")


def gather(
    records: list[Record], ask: Callable[[str, str], Lookup]
) -> dict[tuple[str, str], Lookup]:
    """One query per name and type; for a missing CNAME, also the address that may stand there."""
    answers: dict[tuple[str, str], Lookup] = {}
    for record in records:
        k = key(record.fqdn, record.type)
        if record.pending or k in answers:
            continue
        answers[k] = ask(*k)
        if record.type == "CNAME" and not answers[k].values and not answers[k].error:
            answers[(k[0], "A")] = ask(k[0], "A")
    return answers


def check_tenant(
    deployment: Deployment,
    entry: TenantEntry,
    base: Querier,
    use_authoritative: bool = False,
) -> list[DomainCheck]:
    out = []
    server_fqdn = deployment.placement(entry).fqdn
    country = deployment.operator.hosting_country
    for domain in entry.domains:
        records = domain_records(deployment, entry, domain)
        ask = (authoritative(domain, base) if use_authoritative else None) or base
        answers = gather(records, ask)
        findings = tuple(check_records(records, answers))
        criteria = tuple(rcpnt_criteria(domain, answers, country, [server_fqdn]))
        out.append(DomainCheck(domain, ask.label, findings, criteria))
    return out


# --- result data and human text ---------------------------------------------------------------


def issue_message(issue: Issue) -> str:
    return t(f"dnscheck.issue.{issue.code}", value=issue.value)


def tenant_data(entry: TenantEntry, mode: str, checks: list[DomainCheck]) -> dict[str, Any]:
    findings = [f for c in checks for f in c.findings]
    counts = {s.value: sum(1 for f in findings if f.status is s) for s in Status}
    return {
        "tenant": entry.id,
        "name": entry.tenant.commune.name,
        "dns_mode": mode,
        "ok": all(c.ok for c in checks),
        "rcpnt": all(cr.met for c in checks for cr in c.criteria),
        "counts": counts,
        "domains": [
            {
                "domain": c.domain,
                "domain_display": to_u_label(c.domain),
                "server": c.server,
                "ok": c.ok,
                "records": [f.as_dict() for f in c.findings],
                "rcpnt": [cr.as_dict() for cr in c.criteria],
            }
            for c in checks
        ],
    }


def summary(tenants: list[dict[str, Any]]) -> dict[str, int]:
    def total(status: Status) -> int:
        return sum(t_["counts"][status.value] for t_ in tenants)

    return {
        "tenants": len(tenants),
        "tenants_ok": sum(1 for t_ in tenants if t_["ok"]),
        "rcpnt": sum(1 for t_ in tenants if t_["rcpnt"]),
        "ok": total(Status.ok),
        "to_fix": total(Status.missing) + total(Status.wrong),
        "pending": total(Status.pending),
        "unanswered": total(Status.unanswered),
    }


def render(data: dict[str, Any]) -> str:
    """Per tenant and domain: a line per problem with its fix, RCPNT, then a summary line."""
    lines: list[str] = []
    for tenant in data["tenants"]:
        for domain in tenant["domains"]:
            lines.append(
                t(
                    "dnscheck.domain",
                    tenant=tenant["tenant"],
                    domain=domain["domain_display"],
                    server=domain["server"],
                )
            )
            problems = [r for r in domain["records"] if r["status"] in NEEDS_FIX]
            lines.extend(_record_lines(r) for r in domain["records"] if r["status"] != "ok")
            if problems and tenant["dns_mode"] == "hosted":
                lines.append("  " + t("dnscheck.hosted_hint"))
            marks = [_criterion(c) for c in domain["rcpnt"]]
            lines.append("  " + t("dnscheck.rcpnt", criteria=" · ".join(marks)))
        counts = tenant["counts"]
        lines.append(
            t(
                "dnscheck.tenant_summary",
                tenant=tenant["tenant"],
                ok=counts["ok"],
                fix=counts["missing"] + counts["wrong"],
                pending=counts["pending"],
                unanswered=counts["unanswered"],
            )
        )
        lines.append("")
    lines.append(t("dnscheck.summary", **data["summary"]))
    if data["summary"]["tenants_ok"] < data["summary"]["tenants"] and not (
        data["authoritative"] or data["resolver"]
    ):
        lines.append(t("dnscheck.cache_hint"))
    return "\n".join(lines)


def _criterion(criterion: dict[str, Any]) -> str:
    name = t(f"dnscheck.rcpnt.{criterion['criterion']}", detail=criterion["detail"])
    return f"{name} {'✓' if criterion['met'] else '✗'}"


def _record_lines(record: dict[str, Any]) -> str:
    # Columns sized to the longest label of the current language, so values line up.
    width = max(len(t(f"dnscheck.status.{s.value}")) for s in Status) + 1
    label_width = max(len(t(f"dnscheck.{k}")) for k in ("found", "add", "remove")) + 1
    indent = " " * (2 + width)
    status = record["status"]
    label = t(f"dnscheck.status.{status}")
    head = f"  {label:<{width}}{record['type']:<6}{record['name']}"
    if status == "pending":
        return f"{head} {t('dnscheck.pending')}"
    if status == "unanswered":
        error = record["error"]
        return f"{head}: {t(f'dnscheck.error.{_error_key(error)}', detail=error)}"
    details = [i["message"] for i in record["issues"]] or [record["purpose"]]
    lines = [f"{head}: {'; '.join(details)}"]
    if record["found"]:
        lines.append(f"{indent}{t('dnscheck.found'):<{label_width}}{' | '.join(record['found'])}")
    for fix in record["fix"]:
        label = t(f"dnscheck.{fix['action']}")
        lines.append(f"{indent}{label:<{label_width}}{t('dnscheck.fix', **fix)}")
    return "\n".join(lines)


def _error_key(error: str | None) -> str:
    return error if error in ("timeout", "servfail", "unreachable") else "other"
