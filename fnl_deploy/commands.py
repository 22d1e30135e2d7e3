"""One core function per command: data in, a Result out (the CLI only prints it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fnl_deploy import dns, errors, runner
from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import Deployment, TenantEntry, load_deployment
from fnl_deploy.i18n import t
from fnl_deploy.model.tenant import Tenant
from fnl_deploy.model.types import to_a_label, to_u_label
from fnl_deploy.report import Result
from fnl_deploy.secrets import PasswordStore


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
    # DS records go to the parent zone through the registrar; the zone itself never has them.
    records = dns.tenant_records(deployment, entry) + dns.registrar_ds(deployment, entry)
    data = {
        "tenant": entry.id,
        "dns_mode": deployment.dns_mode(entry).value,
        "domains": list(entry.domains),
        "records": [r.as_dict() for r in records],
    }
    return Result("dns show", data=data), deployment, entry, records


def run_playbook(
    root: Path,
    request: runner.RunRequest,
    progress: Any = None,
    print_ansible: Any = None,
) -> Result:
    """``plan`` (check mode) or ``apply``: validate, compile, run, collect the changes.

    Invalid input stops here, before anything runs (DESIGN.md §3 rule 6).
    """
    deployment = load_deployment(root)
    run_id = runner.new_run_id()
    run_dir = (root / runner.RUNS_DIR / run_id).resolve()
    stale = [] if request.check else runner.stale_run_ids(root)
    run = runner.build_run(deployment, request, run_id, run_dir, stale)
    command = "plan" if request.check else "apply"
    resets = runner.prepare_run_dir(deployment, run, command)
    if print_ansible is not None:
        print_ansible(run.argv())
    outcome = None
    try:
        outcome = runner.execute(run, progress)
    except errors.LockHeld:
        outcome = runner.RunOutcome(run_id, run_dir, request.check, status="refused")
        raise
    finally:
        if outcome is None:
            # Interrupted (Ctrl-C): mark the record so that its lock can be cleared.
            outcome = runner.RunOutcome(run_id, run_dir, request.check, status="interrupted")
        if not request.check and outcome.status not in ("successful", "refused"):
            runner.release_lock(run)
        runner.finish_run_record(run, outcome)
    # Keys the servers hold, published by `dns show` (a plan reads them too, changing nothing).
    dns.save_dkim_keys(root, outcome.dkim)
    dns.save_ds_records(root, outcome.ds)
    if not request.check and outcome.status == "successful":
        runner.after_successful_apply(
            deployment, resets, whole=request.tenant is None and request.limit is None
        )
    data = outcome.as_dict()
    data["summary"] = summarize(outcome.changes)
    if outcome.failures or outcome.rc:
        return Result.failed_run(command, outcome.failures, outcome.rc, data)
    # plan: 0 nothing to do, 2 changes pending (like terraform plan -detailed-exitcode).
    exit_code = 2 if request.check and outcome.changes else 0
    return Result(command, data=data, exit_code=exit_code, warnings=list(deployment.warnings))


def archive_list(root: Path, tenant_id: str | None, verify: bool = False) -> Result:
    """Archives of removed mailboxes on every server (or the tenant's), read-only."""
    deployment = load_deployment(root)
    outcome = runner.run_side_playbook(
        deployment,
        "archives.yml",
        "archives",
        {"fnl_archive_verify": verify},
        tenant=tenant_id,
        check=True,
    )
    archives = [a for a in outcome.archives if tenant_id is None or a.get("tenant") == tenant_id]
    archives.sort(key=lambda a: (a.get("tenant", ""), a.get("address", ""), a.get("created", "")))
    data = {"archives": archives, "failures": outcome.failures}
    if outcome.failures or outcome.rc:
        return Result.failed_run("archive list", outcome.failures, outcome.rc, data)
    broken = [a for a in archives if not a.get("present") or a.get("verified") is False]
    return Result("archive list", data=data, exit_code=1 if broken else 0)


def summarize(changes: list[runner.Change]) -> dict[str, int]:
    return {
        "add": sum(1 for c in changes if c.action == "+"),
        "change": sum(1 for c in changes if c.action == "~"),
        "disable": sum(1 for c in changes if c.action == "-"),
    }


def compile_to(root: Path, out: Path) -> Result:
    """Write each server's desired state to ``out/<server>.json`` for plain ansible-playbook.

    This is what lets an operator run the roles without the wrapper (AWX, a CI job):
    ``ansible-playbook -i hosts.yml playbooks/site.yml -e fnl_desired_dir=OUT``.
    """
    deployment = load_deployment(root)
    states = runner.write_desired(deployment, out)
    files = [str(out / f"{server}.json") for server in states]
    return Result("compile", data={"files": files}, warnings=list(deployment.warnings))


def _person_account(root: Path, address: str) -> tuple[str, str]:
    """(A-label address, tenant id) of a person's account in the tenant files."""
    deployment = load_deployment(root)
    states = compile_deployment(deployment)
    owners = {
        a: t["id"]
        for s in states.values()
        for t in s["tenants"]
        for a in runner.person_addresses({"tenants": [t]})
    }
    wanted = address.strip().lower()
    if "@" in wanted:
        local, domain = wanted.split("@", 1)
        wanted = f"{local}@{to_a_label(domain)}"
    if wanted not in owners:
        raise errors.UsageError(t("password.unknown", address=address))
    return wanted, owners[wanted]


def password_reset(root: Path, address: str) -> tuple[Result, str]:
    """Give an account a new generated password, shipped as a hash at the next apply."""
    wanted, tenant = _person_account(root, address)
    store = PasswordStore.open(root)
    password = store.reset(wanted)
    store.save()
    return Result("password reset", data={"address": wanted, "tenant": tenant}), password


def password_show(root: Path, address: str) -> tuple[Result, str]:
    """The initial (or last reset) password of an account, from the encrypted store, to
    hand to its owner. Once the owner changes it, the stored one no longer works."""
    wanted, tenant = _person_account(root, address)
    entry = PasswordStore.open(root).entries.get(wanted)
    if entry is None:
        raise errors.UsageError(t("password.not_yet", address=wanted))
    data = {"address": wanted, "tenant": tenant, "created": entry.get("created")}
    return Result("password show", data=data), entry["password"]


def dns_check(
    root: Path, tenant_id: str | None, resolver: str | None, use_authoritative: bool = False
) -> Result:
    """Query live DNS for every record ``dns show`` lists, per tenant, with RCPNT criteria.

    Exit code 0 when every record is ok or pending (DKIM before the first apply) and every
    RCPNT criterion is met; 1 when something needs fixing or a server did not answer.
    ``resolver`` is ``HOST[:PORT]``; without it the system resolver is asked (and, with
    ``use_authoritative``, the domain's own name servers found through it).
    """
    # Imported here: the other commands need not load the resolver machinery.
    from fnl_deploy import dnscheck

    deployment = load_deployment(root)
    entries = [deployment.tenant(tenant_id)] if tenant_id else list(deployment.tenants)
    querier = dnscheck.querier_for(resolver)
    # An explicit --resolver is the server to trust (a lab, a hidden primary): ask only it.
    authoritative = use_authoritative and resolver is None
    tenants = [
        dnscheck.tenant_data(
            entry,
            deployment.dns_mode(entry).value,
            dnscheck.check_tenant(deployment, entry, querier, authoritative),
        )
        for entry in entries
    ]
    data = {
        "resolver": resolver,
        "authoritative": authoritative,
        "tenants": tenants,
        "summary": dnscheck.summary(tenants),
    }
    exit_code = 0 if all(t_["ok"] for t_ in tenants) else 1
    return Result("dns check", data=data, exit_code=exit_code, warnings=list(deployment.warnings))
