"""The platform on one static page (`fnl-deploy report --html DIR`): DIR/index.html.

One self-contained file — styles inline, charts as inline SVG drawn here, no script — so it
opens offline, from a mail attachment, or from any web server. Rows: the servers, then
one per commune (those needing action first) with its compliance coloured, its storage
against its quota as a bar and its storage over the kept days as a small line. Charts:
the platform's storage and daily mail over the days kept in .fnl/status/series.jsonl.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup, escape

from fnl_deploy import status
from fnl_deploy.i18n import language, t
from fnl_deploy.model.types import to_u_label
from fnl_deploy.paths import share_dir
from fnl_deploy.report import human_size, readable

#: Days of history in the per-commune sparkline.
SPARK_DAYS = 30


def _size(value: float | None) -> str:
    return "?" if value is None else human_size(value)


def line_chart(points: list[tuple[str, float]], width: int, height: int, unit: str) -> Markup:
    """A line over days with its first and last day and its lowest and highest value."""
    if len(points) < 2:
        return Markup(f'<p class="muted">{escape(t("dashboard.too_few_days"))}</p>')
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    left, bottom = 70, 20
    step = (width - left - 10) / (len(points) - 1)
    coords = " ".join(
        f"{left + i * step:.1f},{10 + (height - bottom - 10) * (1 - (v - low) / span):.1f}"
        for i, v in enumerate(values)
    )
    label = _size if unit == "bytes" else (lambda v: f"{v:.0f}")
    return Markup(
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'
        f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{coords}"/>'
        f'<text x="0" y="16" class="axis">{escape(label(high))}</text>'
        f'<text x="0" y="{height - bottom}" class="axis">{escape(label(low))}</text>'
        f'<text x="{left}" y="{height - 4}" class="axis">{escape(points[0][0])}</text>'
        f'<text x="{width - 10}" y="{height - 4}" class="axis" text-anchor="end">'
        f"{escape(points[-1][0])}</text></svg>"
    )


def bar_chart(days: list[tuple[str, int, int]], width: int, height: int) -> Markup:
    """Received and sent messages per day, side by side."""
    if not days:
        return Markup(f'<p class="muted">{escape(t("dashboard.too_few_days"))}</p>')
    high = max(max(r, s) for _, r, s in days) or 1
    left, bottom = 50, 20
    slot = (width - left - 10) / len(days)
    bar = max(1.0, slot / 2 - 1)
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for i, (day, received, sent) in enumerate(days):
        for j, (value, colour) in enumerate(((received, "#16a34a"), (sent, "#9333ea"))):
            tall = (height - bottom - 10) * value / high
            x = left + i * slot + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - tall:.1f}" width="{bar:.1f}" '
                f'height="{tall:.1f}" fill="{colour}"><title>{escape(day)}: {value}</title></rect>'
            )
    parts.append(f'<text x="0" y="16" class="axis">{high}</text>')
    parts.append(f'<text x="{left}" y="{height - 4}" class="axis">{escape(days[0][0])}</text>')
    parts.append(
        f'<text x="{width - 10}" y="{height - 4}" class="axis" text-anchor="end">'
        f"{escape(days[-1][0])}</text></svg>"
    )
    return Markup("".join(parts))


def sparkline(values: list[float]) -> Markup:
    if len(values) < 2:
        return Markup("")
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = 80 / (len(values) - 1)
    coords = " ".join(
        f"{i * step:.1f},{18 - 16 * (v - low) / span:.1f}" for i, v in enumerate(values)
    )
    return Markup(
        '<svg viewBox="0 0 80 20" width="80" height="20" aria-hidden="true">'
        f'<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="{coords}"/></svg>'
    )


def _message(finding: dict[str, Any]) -> str:
    """A finding in the current language, domains as people write them (échevis.fr)."""
    return readable(t(f"status.{finding['check']}", **finding["params"]))


def _level(percent: float) -> str:
    if percent >= status.TENANT_PERCENT:
        return "bad"
    return "warn" if percent >= 75 else "good"


def _tenant_rows(data: dict[str, Any], series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for finding in data["findings"]:
        if finding["tenant"]:
            by_tenant.setdefault(finding["tenant"], []).append(finding)
    recent = series[-SPARK_DAYS:]
    rows = []
    for tenant in data["tenants"]:
        findings = by_tenant.get(tenant["id"], [])
        quota = tenant.get("quota_bytes")
        percent = 100.0 * tenant["used_bytes"] / quota if quota else 0.0
        dns = tenant.get("dns") or {}
        compliance = "bad" if not dns.get("ok") else ("good" if dns.get("rcpnt") else "warn")
        mail = tenant.get("mail") or {}
        history = [p["tenants"][tenant["id"]][0] for p in recent if tenant["id"] in p["tenants"]]
        rows.append(
            {
                "id": tenant["id"],
                "name": tenant.get("name") or tenant["id"],
                "domain": to_u_label(tenant["domain"]),
                "server": tenant["server"],
                "mailboxes": len(tenant["mailboxes"]),
                "fullest": max((m["used_percent"] or 0 for m in tenant["mailboxes"]), default=0),
                "used": _size(tenant["used_bytes"]),
                "quota": _size(quota),
                "percent": min(percent, 100.0),
                "level": _level(percent),
                "compliance": compliance,
                "dns_ok": bool(dns.get("ok")),
                "rcpnt": bool(dns.get("rcpnt")),
                "received": mail.get("received"),
                "sent": mail.get("sent"),
                "dkim_days": tenant.get("dkim_key_age_days"),
                "spark": sparkline([float(v or 0) for v in history]),
                "findings": [_message(f) for f in findings if f["action"]],
                "notes": [_message(f) for f in findings if not f["action"]],
            }
        )
    rows.sort(key=lambda r: (not r["findings"], r["name"].casefold()))
    return rows


def _server_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for server in data["servers"]:
        if not server.get("reachable"):
            rows.append({"server": server["server"], "reachable": False})
            continue
        services = server.get("services", {})
        down = sorted(unit for unit, state in services.items() if state != "active")
        certificates = server.get("certificates", [])
        queue = server.get("queue") or {}
        rows.append(
            {
                "server": server["server"],
                "reachable": True,
                "up": len(services) - len(down),
                "services": len(services),
                "down": down,
                "queue": queue.get("messages"),
                "queue_minutes": (queue.get("oldest_seconds") or 0) // 60,
                "disks": server.get("disks", []),
                "certificate_days": min((c["days_left"] for c in certificates), default=None),
                "backup_hours": (server.get("backup") or {}).get("age_hours"),
                "has_backup": server.get("backup") is not None,
                "updates": len(server.get("security_updates") or []),
                "applied_hours": (server.get("last_apply") or {}).get("age_hours"),
            }
        )
    return rows


def render(data: dict[str, Any], operator_name: str) -> str:
    """The page for a report's data (status_report.build) as an HTML string."""
    series = data.get("series") or []
    storage = [(p["day"], float(sum(v[0] or 0 for v in p["tenants"].values()))) for p in series]
    mail_days = [
        (
            p["day"],
            sum(v[1] or 0 for v in p["tenants"].values()),
            sum(v[2] or 0 for v in p["tenants"].values()),
        )
        for p in series
    ]
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    environment.globals["t"] = t
    template_text = (share_dir("templates") / "dashboard.html.j2").read_text(encoding="utf-8")
    return environment.from_string(template_text).render(
        lang=language(),
        operator=operator_name,
        data=data,
        servers=_server_rows(data),
        tenants=_tenant_rows(data, series),
        action=[f for f in data["findings"] if f["action"]],
        info=[f for f in data["findings"] if not f["action"]],
        storage_chart=line_chart(storage, 560, 160, "bytes"),
        mail_chart=bar_chart(mail_days[-60:], 560, 160),
        message=_message,
        where=lambda f: f["tenant"] or f["server"],
        total_used=_size(sum(row["used_bytes"] for row in data["tenants"])),
        mailboxes=sum(len(row["mailboxes"]) for row in data["tenants"]),
    )


def write(directory: Path, page: str) -> Path:
    """DIR/index.html, replaced whole (a reader never sees half a page)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    tmp = directory / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
