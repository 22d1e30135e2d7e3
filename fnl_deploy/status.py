"""`fnl-deploy status`: every server and commune at a glance, and what needs the operator.

The servers report facts (playbooks/status.yml, module fnl_status: services, mail queue,
disks, certificates, last backup, pending security updates, last apply, and per commune
its mailboxes' usage and DKIM key age); the controller adds a live DNS check of each
commune (the same as `dns check`) and judges everything against the thresholds below.
Each finding has a stable key, so that two statuses can be compared: the previous one is
kept in the deployment's `.fnl/status/` and the report says what changed since.

Exit code 0 when nothing needs action, 1 when something does; 2 for invalid input.
"""

from __future__ import annotations

import calendar
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fnl_deploy import runner
from fnl_deploy.deployment import Deployment, load_deployment
from fnl_deploy.i18n import t
from fnl_deploy.report import Result, readable, table

# What needs action. The certificates renew 30 days before expiry (role tls): 14 days left
# means renewals have failed for two weeks. Backups run nightly (role backup).
QUEUE_OLDEST_SECONDS = 3600
QUEUE_MESSAGES = 500
DISK_PERCENT = 85.0
CERTIFICATE_DAYS = 14.0
BACKUP_HOURS = 26.0
MAILBOX_PERCENT = 90.0
TENANT_PERCENT = 90.0
#: Worth knowing, no action: a DKIM key older than a year could be rotated.
DKIM_DAYS = 365.0

#: Statuses kept in .fnl/status/ for `report --since`.
KEEP_STATUSES = 60
#: Days of usage kept in .fnl/status/series.jsonl for the dashboard's charts.
SERIES_DAYS = 400


@dataclass(frozen=True)
class Finding:
    """One fact worth the operator's eye, identified by a key stable across runs.

    ``check`` names the message (i18n ``status.<check>``) and ``params`` fill it: the
    comparison of two statuses uses them, whatever the language of either.
    """

    key: str  # e.g. "mail1/service/dovecot.service", "voiron/mailbox/marie@voiron.fr"
    server: str
    tenant: str | None
    check: str
    params: dict[str, Any]
    action: bool = True

    @property
    def message(self) -> str:
        return t(f"status.{self.check}", **self.params)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


@dataclass
class Status:
    checked: str
    servers: list[dict[str, Any]] = field(default_factory=list)
    tenants: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def needs_action(self) -> list[Finding]:
        return [f for f in self.findings if f.action]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "healthy": not self.needs_action(),
            "servers": self.servers,
            "tenants": self.tenants,
            "findings": [f.as_dict() for f in self.findings],
        }


def _gib(value: float | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


def judge_server(name: str, report: dict[str, Any]) -> list[Finding]:
    """What needs action on one server, from its fnl_status report."""
    found: list[Finding] = []

    def add(check: str, what: str, action: bool = True, **params: Any) -> None:
        found.append(Finding(f"{name}/{check}/{what}", name, None, check, params, action))

    for unit, state in sorted(report.get("services", {}).items()):
        if state != "active":
            add("service", unit, unit=unit, state=state)
    queue = report.get("queue")
    if queue and (
        queue["oldest_seconds"] > QUEUE_OLDEST_SECONDS or queue["messages"] > QUEUE_MESSAGES
    ):
        add(
            "queue",
            "postfix",
            messages=queue["messages"],
            minutes=queue["oldest_seconds"] // 60,
        )
    for disk in report.get("disks", []):
        if disk["used_percent"] > DISK_PERCENT:
            add(
                "disk",
                disk["path"],
                path=disk["path"],
                percent=round(disk["used_percent"]),
                free=_gib(disk["free_bytes"]),
            )
    for certificate in report.get("certificates", []):
        if certificate["days_left"] < CERTIFICATE_DAYS:
            add(
                "certificate",
                certificate["name"],
                name=certificate["name"],
                days=round(certificate["days_left"]),
                date=certificate["not_after"],
            )
    backup = report.get("backup")
    if backup is not None:
        if backup["age_hours"] is None:
            add("backup_never", "last")
        elif backup["age_hours"] > BACKUP_HOURS:
            add("backup", "last", hours=round(backup["age_hours"]))
    updates = report.get("security_updates") or []
    if updates:
        add(
            "updates",
            "security",
            action=False,
            count=len(updates),
            packages=", ".join(updates[:5]) + (" …" if len(updates) > 5 else ""),
        )
    return found


def judge_tenant(server: str, tenant: dict[str, Any]) -> list[Finding]:
    found: list[Finding] = []
    tenant_id = tenant["id"]

    def add(check: str, what: str, action: bool = True, **params: Any) -> None:
        key = f"{tenant_id}/{check}/{what}"
        found.append(Finding(key, server, tenant_id, check, params, action))

    for mailbox in tenant["mailboxes"]:
        if mailbox["used_percent"] is not None and mailbox["used_percent"] > MAILBOX_PERCENT:
            add(
                "mailbox",
                mailbox["address"],
                address=readable(mailbox["address"]),
                percent=round(mailbox["used_percent"]),
                used=_gib(mailbox["used_bytes"]),
                quota=_gib(mailbox["quota_bytes"]),
            )
    quota = tenant.get("quota_bytes")
    if quota and tenant["used_bytes"] > quota * TENANT_PERCENT / 100:
        add("storage", "total", used=_gib(tenant["used_bytes"]), quota=_gib(quota))
    age = tenant.get("dkim_key_age_days")
    if age is not None and age > DKIM_DAYS:
        add("dkim", "age", action=False, days=round(age))
    return found


def _dns_findings(deployment: Deployment, ids: list[str], resolver: str | None) -> dict[str, Any]:
    """tenant id -> `dns check` data of that tenant (live queries, short timeouts)."""
    from fnl_deploy import dnscheck

    querier = dnscheck.querier_for(resolver)
    out = {}
    for tenant_id in ids:
        entry = deployment.tenant(tenant_id)
        out[tenant_id] = dnscheck.tenant_data(
            entry,
            deployment.dns_mode(entry).value,
            dnscheck.check_tenant(deployment, entry, querier, False),
        )
    return out


def _dns_problems(data: dict[str, Any]) -> list[str]:
    """Short descriptions of what `dns check` found wrong for a tenant (its data dict)."""
    problems = []
    for domain in data.get("domains", []):
        for record in domain["records"]:
            if record["status"] in ("missing", "wrong", "unanswered"):
                problems.append(f"{record['type']} {record['fqdn']}: {record['status']}")
        for criterion in domain["rcpnt"]:
            if not criterion["met"]:
                problems.append(f"{domain['domain']}: RCPNT {criterion['criterion']}")
    return problems


def collect(root: Path, tenant: str | None = None, resolver: str | None = None) -> Status:
    deployment = load_deployment(root)
    ids = [tenant] if tenant else [e.id for e in deployment.live_tenants]
    limit = deployment.placement(deployment.tenant(tenant)).name if tenant else None
    outcome = runner.run_side_playbook(deployment, "status.yml", "status", {}, limit=limit)
    status = Status(checked=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    reports = {r["server"]: r for r in outcome.statuses}
    for server in deployment.servers:
        if limit and server.name != limit:
            continue
        report = reports.get(server.name)
        if report is None:
            why = next(
                (f["message"] for f in outcome.failures if f["server"] == server.name),
                "no answer",
            )
            status.findings.append(
                Finding(f"{server.name}/reach/ssh", server.name, None, "reach", {"why": why[:300]})
            )
            status.servers.append({"server": server.name, "reachable": False})
            continue
        status.servers.append({"server": server.name, "reachable": True, **report})
        status.findings += judge_server(server.name, report)
        for tenant_report in report.get("tenants", []):
            if tenant_report["id"] in ids:
                name = deployment.tenant(tenant_report["id"]).tenant.commune.name
                status.tenants.append({"server": server.name, "name": name, **tenant_report})
                status.findings += judge_tenant(server.name, tenant_report)
    dns = _dns_findings(deployment, ids, resolver)
    for row in status.tenants:
        checked = dns.get(row["id"], {})
        row["dns"] = {key: checked.get(key) for key in ("ok", "rcpnt", "counts")}
        problems = _dns_problems(dns.get(row["id"], {}))
        if problems:
            text = "; ".join(problems[:5]) + (" …" if len(problems) > 5 else "")
            status.findings.append(
                Finding(
                    f"{row['id']}/dns/records", row["server"], row["id"], "dns", {"problems": text}
                )
            )
    return status


# --- history: what changed since an earlier status --------------------------------------


def history_dir(root: Path) -> Path:
    return root / ".fnl" / "status"


def save(root: Path, status: Status) -> Path:
    directory = history_dir(root)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / (status.checked.replace(":", "") + ".json")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status.as_dict(), sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    for old in sorted(directory.glob("*.json"))[:-KEEP_STATUSES]:
        old.unlink()
    record_series(root, status)
    return path


def series_path(root: Path) -> Path:
    return history_dir(root) / "series.jsonl"


def record_series(root: Path, status: Status) -> None:
    """Keep the day's usage of each commune: one line per UTC day, the day's last status.

    The full statuses are kept only for the last runs; this compact line (per commune:
    bytes stored, messages received and sent in the last 24 h) is what the dashboard
    charts, over SERIES_DAYS days, at ~40 bytes per commune per day.
    """
    day = status.checked[:10]
    point = {
        "day": day,
        "checked": status.checked,
        "tenants": {
            row["id"]: [
                row["used_bytes"],
                (row.get("mail") or {}).get("received"),
                (row.get("mail") or {}).get("sent"),
            ]
            for row in status.tenants
        },
    }
    kept = [p for p in load_series(root) if p["day"] != day]
    lines = [json.dumps(p, sort_keys=True) for p in [*kept, point][-SERIES_DAYS:]]
    path = series_path(root)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_series(root: Path) -> list[dict[str, Any]]:
    """The kept days, oldest first (see record_series)."""
    path = series_path(root)
    if not path.exists():
        return []
    points = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return sorted(points, key=lambda p: p["day"])


def checked_epoch(data: dict[str, Any]) -> float:
    """When a saved status was taken, in epoch seconds."""
    return calendar.timegm(time.strptime(data["checked"], "%Y-%m-%dT%H:%M:%SZ"))


def saved_statuses(root: Path) -> list[Path]:
    """The kept statuses, newest first (series.jsonl is not one)."""
    return sorted(history_dir(root).glob("*.json"), reverse=True)


def load_saved(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def previous(root: Path, before: float | None = None) -> dict[str, Any] | None:
    """The latest saved status (taken at or before ``before``, epoch seconds), if any."""
    for path in saved_statuses(root):
        data = load_saved(path)
        if before is None or checked_epoch(data) <= before:
            return data
    return None


def changes(
    old: dict[str, Any] | None, new: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Findings that appeared, changed (their figures), or went away since ``old``.

    ``new`` is a status's findings as dicts (Finding.as_dict, or a saved status's).
    """
    before = {f["key"]: f for f in (old or {}).get("findings", [])}
    after = {f["key"]: f for f in new}
    return {
        "new": [after[k] for k in sorted(after) if k not in before],
        "changed": [
            after[k]
            for k in sorted(after)
            if k in before and before[k]["params"] != after[k]["params"]
        ],
        "resolved": [before[k] for k in sorted(before) if k not in after],
    }


def status_command(root: Path, tenant: str | None, resolver: str | None) -> Result:
    """Collect, compare with the previous status, save; exit 1 when something needs action."""
    status = collect(root, tenant, resolver)
    earlier = previous(root) if tenant is None else None
    data = status.as_dict()
    data["since"] = earlier["checked"] if earlier else None
    data["changes"] = changes(earlier, data["findings"])
    if tenant is None:  # only whole-platform statuses make the history
        save(root, status)
    return Result("status", data=data, exit_code=1 if status.needs_action() else 0)


# --- text for a terminal ------------------------------------------------------------------


def _age(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} d"


def _server_row(server: dict[str, Any]) -> tuple[str, ...]:
    if not server.get("reachable"):
        return (server["server"], "?", "?", "?", "?", "?", "?", "?")
    services = server.get("services", {})
    up = sum(1 for state in services.values() if state == "active")
    queue = server.get("queue") or {}
    disks = " ".join(f"{d['path']} {d['used_percent']:.0f}%" for d in server.get("disks", []))
    soonest = min((c["days_left"] for c in server.get("certificates", [])), default=None)
    backup = server.get("backup")
    return (
        server["server"],
        f"{up}/{len(services)}",
        str(queue.get("messages", "-")),
        disks,
        "-" if soonest is None else f"{soonest:.0f} d",
        "-" if backup is None else _age(backup["age_hours"]),
        str(len(server.get("security_updates") or [])),
        _age((server.get("last_apply") or {}).get("age_hours")),
    )


def _tenant_row(tenant: dict[str, Any]) -> tuple[str, ...]:
    fullest = max((m["used_percent"] or 0 for m in tenant["mailboxes"]), default=0)
    dns = tenant.get("dns") or {}
    mail = tenant.get("mail") or {}
    return (
        tenant["id"],
        tenant["server"],
        str(len(tenant["mailboxes"])),
        f"{_gib(tenant['used_bytes'])} / {_gib(tenant.get('quota_bytes'))}",
        f"{fullest:.0f}%",
        ("ok" if dns.get("ok") else "!") + (" RCPNT" if dns.get("rcpnt") else ""),
        "-" if tenant.get("dkim_key_age_days") is None else f"{tenant['dkim_key_age_days']:.0f} d",
        f"{mail['received']} / {mail['sent']}" if mail else "-",
    )


def _text(finding: dict[str, Any]) -> str:
    """A finding's message in the current language (a saved one may be in the other)."""
    return t(f"status.{finding['check']}", **finding["params"])


def render(data: dict[str, Any]) -> str:
    lines = [t("status.servers")]
    lines.append(
        table(
            ["server", "up", "queue", "disk", "certificate", "backup", "updates", "applied"],
            [_server_row(s) for s in data["servers"]],
        )
    )
    if data["tenants"]:
        lines += ["", t("status.tenants")]
        lines.append(
            table(
                [
                    "commune",
                    "server",
                    "mailboxes",
                    "used / quota",
                    "fullest",
                    "DNS",
                    "DKIM key",
                    "mail in / out 24 h",
                ],
                [_tenant_row(row) for row in data["tenants"]],
            )
        )
    action = [f for f in data["findings"] if f["action"]]
    info = [f for f in data["findings"] if not f["action"]]
    for heading, items in (("status.action", action), ("status.info", info)):
        if items:
            lines += ["", t(heading)]
            lines += [f"  {f['tenant'] or f['server']}: {_text(f)}" for f in items]
    changes = data.get("changes") or {}
    lines.append("")
    if data.get("since"):
        lines.append(
            t(
                "status.changes",
                since=data["since"],
                new=len(changes["new"]),
                changed=len(changes["changed"]),
                resolved=len(changes["resolved"]),
            )
        )
        for sign, kind in (("+", "new"), ("~", "changed"), ("-", "resolved")):
            lines += [f"  {sign} {f['tenant'] or f['server']}: {_text(f)}" for f in changes[kind]]
    else:
        lines.append(t("status.first"))
    lines.append(t("status.healthy") if not action else t("status.unhealthy", count=len(action)))
    return readable("\n".join(lines))
