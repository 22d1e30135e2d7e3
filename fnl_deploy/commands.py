"""One core function per command: data in, a Result out (the CLI only prints it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fnl_deploy import dns
from fnl_deploy.deployment import Deployment, TenantEntry, load_deployment
from fnl_deploy.model.tenant import Tenant
from fnl_deploy.model.types import to_u_label
from fnl_deploy.report import Result


def validate(root: Path) -> Result:
    deployment = load_deployment(root)
    mailboxes = sum(
        len(e.tenant.people) + len(e.tenant.shared_mailboxes) for e in deployment.tenants
    )
    return Result(
        "validate",
        data={
            "valid": True,
            "tenants": len(deployment.tenants),
            "mailboxes": mailboxes,
            "servers": len(deployment.servers),
        },
        warnings=list(deployment.warnings),
    )


def list_tenants(root: Path) -> Result:
    deployment = load_deployment(root)
    rows = [
        {
            "id": e.id,
            "name": e.tenant.commune.name,
            "domain": e.tenant.domain,
            "domain_display": to_u_label(e.tenant.domain),
            "alias_domains": list(e.tenant.alias_domains),
            "mailboxes": len(e.tenant.people) + len(e.tenant.shared_mailboxes),
            "placement": deployment.placement(e).name,
            "dns_mode": deployment.dns_mode(e).value,
        }
        for e in deployment.tenants
    ]
    return Result("list", data={"tenants": rows}, warnings=list(deployment.warnings))


def schema_json() -> dict[str, Any]:
    schema = Tenant.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def dns_show(
    root: Path, tenant_id: str
) -> tuple[Result, Deployment, TenantEntry, list[dns.Record]]:
    deployment = load_deployment(root)
    entry = deployment.tenant(tenant_id)
    records = dns.tenant_records(deployment, entry)
    data = {
        "tenant": entry.id,
        "dns_mode": deployment.dns_mode(entry).value,
        "domains": list(entry.domains),
        "records": [r.as_dict() for r in records],
    }
    return Result("dns show", data=data), deployment, entry, records
