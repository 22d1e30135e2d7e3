"""The ``fnl-deploy`` command line: parse arguments, call one core function, report."""

from __future__ import annotations

import functools
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fnl_deploy import __version__, dns, lab
from fnl_deploy.commands import (
    archive_list,
    compile_to,
    dns_check,
    dns_show,
    list_tenants,
    password_reset,
    password_show,
    run_playbook,
    schema_json,
    validate,
)
from fnl_deploy.dnscheck import render as render_dns_check
from fnl_deploy.errors import FnlDeployError
from fnl_deploy.i18n import detect_language, set_language, t
from fnl_deploy.report import (
    Progress,
    Result,
    error_result,
    print_error,
    print_json,
    print_warnings,
    render_archives,
    render_changes,
    render_failures,
    say,
    stderr,
    table,
)
from fnl_deploy.runner import RunRequest
from fnl_deploy.scaffold import new_tenant
from fnl_deploy.welcome import welcome

inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="FNL_DEPLOY_INVENTORY",
    default=".",
    show_default="FNL_DEPLOY_INVENTORY or .",
    help="Deployment directory (hosts.yml, group_vars/, tenants/).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON envelope on stdout."
)


def command(name: str) -> Callable[[Callable[..., Result]], Callable[..., None]]:
    """Run a command body; turn its Result or FnlDeployError into output and exit code."""

    def decorate(body: Callable[..., Result]) -> Callable[..., None]:
        @functools.wraps(body)
        def wrapper(*args: Any, as_json: bool = False, **kwargs: Any) -> None:
            try:
                result, render = body(*args, **kwargs)
            except FnlDeployError as error:
                if as_json:
                    print_json(error_result(name, error))
                else:
                    print_error(error)
                sys.exit(error.exit_code)
            if as_json:
                print_json(result)
            else:
                print_warnings(result.warnings)
                render()
            sys.exit(result.exit_code)

        return json_option(wrapper)

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fnl-deploy")
@click.option("--lang", type=click.Choice(["fr", "en"]), help="Language of messages.")
def main(lang: str | None) -> None:
    """Mail, agenda and DNS for communes, from one tenant file each.

    Messages are in French when the locale is French (or with --lang fr).
    """
    set_language(lang or detect_language())


@main.command("validate")
@inventory_option
@command("validate")
def validate_cmd(inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Check every file of the deployment directory; exit 2 if anything is invalid."""
    result = validate(inventory)
    data = result.data
    return result, lambda: say(
        t(
            "validate.ok",
            tenants=data["tenants"],
            mailboxes=data["mailboxes"],
            servers=data["servers"],
        )
    )


@main.command("list")
@inventory_option
@command("list")
def list_cmd(inventory: Path) -> tuple[Result, Callable[[], None]]:
    """List tenants: domain, mailboxes, placement, DNS mode."""
    result = list_tenants(inventory)
    rows = [
        (r["id"], r["name"], r["domain_display"], r["mailboxes"], r["placement"], r["dns_mode"])
        for r in result.data["tenants"]
    ]
    columns = ["tenant", "name", "domain", "mailboxes", "server", "dns"]
    return result, lambda: say(table(columns, rows))


@main.group("tenant")
def tenant_group() -> None:
    """Create tenant files."""


@tenant_group.command("new")
@click.argument("name", required=False)
@click.option("--domain", help="Primary domain (accents allowed).")
@click.option("--insee", help="INSEE code: prefill name, SIREN, population and a domain.")
@click.option("--placement", help="Server (inventory name) hosting the tenant.")
@inventory_option
@command("tenant new")
def tenant_new_cmd(
    name: str | None,
    domain: str | None,
    insee: str | None,
    placement: str | None,
    inventory: Path,
) -> tuple[Result, Callable[[], None]]:
    """Write tenants/<name>.yml from a commented template that validates as written."""
    path = new_tenant(inventory, name, domain, insee, placement)
    result = Result("tenant new", data={"path": str(path)})
    return result, lambda: say(t("tenant.created", path=path))


@main.command("schema")
@command("schema")
def schema_cmd() -> tuple[Result, Callable[[], None]]:
    """Print the JSON Schema of tenant files (for editors' YAML completion)."""
    schema = schema_json()
    result = Result("schema", data=schema)
    return result, lambda: sys.stdout.write(json.dumps(schema, ensure_ascii=False, indent=2) + "\n")


@main.command("compile")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory for <server>.json files.",
)
@inventory_option
@command("compile")
def compile_cmd(out: Path, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Write each server's desired state, for running playbooks/site.yml without the CLI."""
    result = compile_to(inventory, out)
    return result, lambda: say("\n".join(result.data["files"]))


@main.group("password")
def password_group() -> None:
    """Account passwords (generated at creation, kept encrypted, then the user's)."""


@password_group.command("reset")
@click.argument("address")
@inventory_option
@command("password reset")
def password_reset_cmd(address: str, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Give ADDRESS a new generated password, set on the server by the next apply.

    The password is printed on the terminal only, never in --json output or logs.
    """
    result, password = password_reset(inventory, address)
    data = result.data
    return result, lambda: say(
        t("password.reset", address=data["address"], password=password, tenant=data["tenant"])
    )


@password_group.command("show")
@click.argument("address")
@inventory_option
@command("password show")
def password_show_cmd(address: str, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Print the initial (or last reset) password of ADDRESS, to hand to its owner.

    Printed on the terminal only, never in --json output or logs. It stops working once
    its owner changes it.
    """
    result, password = password_show(inventory, address)
    return result, lambda: say(
        t("password.show", address=result.data["address"], password=password)
    )


@main.group("archive")
def archive_group() -> None:
    """Archives of removed mailboxes (tar.gz with a SHA-256 manifest, kept on the servers)."""


@archive_group.command("list")
@click.argument("tenant", required=False)
@click.option("--verify", is_flag=True, help="Recompute each archive's SHA-256 on its server.")
@inventory_option
@command("archive list")
def archive_list_cmd(
    tenant: str | None, verify: bool, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Every archive of a removed mailbox, on every server (or TENANT's).

    Exit 0: all listed archives are present (and verified with --verify); 1: one is
    missing or does not match its checksum, or a server did not answer.
    """
    result = archive_list(inventory, tenant, verify)
    return result, lambda: say(render_archives(result.data))


@main.group("dns")
def dns_group() -> None:
    """DNS records of tenant domains."""


@dns_group.command("show")
@click.argument("tenant")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "zone", "json"]),
    default="table",
    show_default=True,
    help="Registrar table, zone file, or JSON.",
)
@inventory_option
@command("dns show")
def dns_show_cmd(tenant: str, fmt: str, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Every record a tenant's domains need (MX, SPF, DKIM, DMARC, MTA-STS, SRV, CAA…)."""
    result, deployment, entry, records = dns_show(inventory, tenant)

    def render() -> None:
        if fmt == "zone":
            for domain in entry.domains:
                sys.stdout.write(dns.zone_text(deployment, entry, domain) + "\n")
        elif fmt == "json":
            sys.stdout.write(json.dumps(result.data, ensure_ascii=False, indent=2) + "\n")
        else:
            hint = "dns.hosted_hint" if result.data["dns_mode"] == "hosted" else "dns.external_hint"
            say(t(hint))
            say(table(["domain", "name", "type", "value", "purpose"], dns.records_table(records)))

    return result, render


@dns_group.command("check")
@click.argument("tenant", required=False)
@click.option(
    "--resolver",
    metavar="HOST[:PORT]",
    help="Ask this server (e.g. 127.0.0.1:5353) instead of the system resolver.",
)
@click.option(
    "--authoritative",
    is_flag=True,
    help="Ask each domain's own name servers (no resolver cache); ignored with --resolver.",
)
@inventory_option
@command("dns check")
def dns_check_cmd(
    tenant: str | None, resolver: str | None, authoritative: bool, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Query live DNS for every record of `dns show` (all tenants, or TENANT), with RCPNT.

    Exit 0: every record ok or pending (DKIM before the first apply); 1: something to fix
    or a server did not answer; 2: invalid input.
    """
    result = dns_check(inventory, tenant, resolver, authoritative)
    return result, lambda: say(render_dns_check(result.data))


@main.command("status")
@click.argument("tenant", required=False)
@click.option(
    "--resolver",
    metavar="HOST[:PORT]",
    help="Check the communes' DNS through this server instead of the system resolver.",
)
@inventory_option
@command("status")
def status_cmd(
    tenant: str | None, resolver: str | None, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Every server and commune at a glance (or TENANT's), and what needs action.

    Servers: services, mail queue, disk, certificates, last backup, security updates, last
    apply. Communes: mailboxes, storage against quotas, DNS and RCPNT, DKIM key age. Says
    what changed since the previous status. Exit 0: nothing needs action; 1: something
    does, or a server did not answer; 2: invalid input.
    """
    from fnl_deploy import status

    result = status.status_command(inventory, tenant, resolver)
    return result, lambda: say(status.render(result.data))


@main.command("report")
@click.option(
    "--since",
    default="yesterday",
    show_default=True,
    metavar="WHEN",
    help="Compare with the status of: last, yesterday (≥ 23 h old), 12h, 7d, 2w, 2026-11-28.",
)
@click.option(
    "--saved", is_flag=True, help="Use the latest kept status; do not contact the servers."
)
@click.option(
    "--html",
    "html_dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Write the dashboard to DIR/index.html (one self-contained page).",
)
@click.option("--mail-to", multiple=True, metavar="ADDRESS", help="Mail the report (repeatable).")
@click.option("--mail-from", metavar="ADDRESS", help="Sender (default: fnl-deploy@<operator>).")
@click.option(
    "--smtp",
    default="localhost:25",
    show_default=True,
    metavar="HOST[:PORT]",
    help="Mail relay; 465: TLS, else STARTTLS when offered.",
)
@click.option(
    "--smtp-user",
    metavar="LOGIN",
    help="Log in to the relay; password from FNL_DEPLOY_SMTP_PASSWORD.",
)
@click.option(
    "--resolver", metavar="HOST[:PORT]", help="Check the communes' DNS through this server."
)
@inventory_option
@command("report")
def report_cmd(
    since: str,
    saved: bool,
    html_dir: Path | None,
    mail_to: tuple[str, ...],
    mail_from: str | None,
    smtp: str,
    smtp_user: str | None,
    resolver: str | None,
    inventory: Path,
) -> tuple[Result, Callable[[], None]]:
    """What changed since an earlier status, for a daily report; optionally a page, a mail.

    Takes a status now (kept like `status`'s) unless --saved, and lists only the findings
    that are new, changed or resolved since the status chosen by --since, then how many
    still need action. Exit 0: nothing needs action; 1: something does; 2: invalid input.
    """
    from fnl_deploy import status_report

    result = status_report.report_command(
        inventory, since, saved, resolver, html_dir, list(mail_to), mail_from, smtp, smtp_user
    )
    return result, lambda: say(status_report.render(result.data))


@main.group("lab")
def lab_group() -> None:
    """The local lab: real Debian 12 servers in Podman (docs/lab.md)."""


def _lab_rows(servers: list[lab.LabServer]) -> str:
    rows = [
        (
            s.name,
            s.fqdn,
            s.container,
            s.state,
            f"127.0.0.1:{s.ssh_port}",
            " ".join(f"{p}→{h}" for p, h in s.ports.items() if not p.startswith("22/")),
        )
        for s in servers
    ]
    return table(["server", "fqdn", "container", "state", "ssh", "ports"], rows)


def _lab_data(servers: list[lab.LabServer]) -> dict[str, Any]:
    return {
        "servers": [
            {
                "name": s.name,
                "fqdn": s.fqdn,
                "container": s.container,
                "state": s.state,
                "address": s.address,
                "ssh_port": s.ssh_port,
                "ports": s.ports,
            }
            for s in servers
        ]
    }


@lab_group.command("doctor")
@inventory_option
@command("lab doctor")
def lab_doctor_cmd(inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Check that this machine can run the lab, and say how to fix what is missing."""
    checks = lab.doctor(inventory)
    failed = [c for c in checks if not c.ok]
    result = Result(
        "lab doctor",
        data={"checks": [c.__dict__ for c in checks]},
        exit_code=1 if failed else 0,
    )

    def render() -> None:
        for c in checks:
            say(f"{'ok ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
            if c.fix:
                say(f"     fix: {c.fix}")

    return result, render


@lab_group.command("image")
@command("lab image")
def lab_image_cmd() -> tuple[Result, Callable[[], None]]:
    """Build the lab's base image if its recipe changed (molecule scenarios use it too)."""
    console = stderr()
    tag = lab.ensure_image(lambda m: console.print(m, markup=False))
    return Result("lab image", data={"image": tag}), lambda: say(tag)


@lab_group.command("up")
@click.option("--servers", type=int, help="Start only the first N servers of the lab.")
@inventory_option
@command("lab up")
def lab_up_cmd(servers: int | None, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Build the base image if needed and start the lab's servers (idempotent)."""
    console = stderr()
    started = lab.up(inventory, servers, lambda m: console.print(m, markup=False))
    result = Result("lab up", data=_lab_data(started))
    return result, lambda: say(_lab_rows(started))


@lab_group.command("down")
@inventory_option
@command("lab down")
def lab_down_cmd(inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Remove the lab's containers (the image is kept)."""
    lab.down(inventory)
    return Result("lab down", data={}), lambda: None


@lab_group.command("replace")
@click.argument("server")
@inventory_option
@command("lab replace")
def lab_replace_cmd(server: str, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Destroy SERVER and start a brand-new, empty one in its place (a disaster drill for
    `fnl-deploy restore`)."""
    servers = lab.replace(inventory, server, lambda m: stderr().print(m, markup=False))
    return Result("lab replace", data=_lab_data(servers)), lambda: say(_lab_rows(servers))


@lab_group.command("status")
@inventory_option
@command("lab status")
def lab_status_cmd(inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Show the lab's servers, their state and published ports."""
    servers = lab.status(inventory)
    return Result("lab status", data=_lab_data(servers)), lambda: say(_lab_rows(servers))


@lab_group.command("ca")
@inventory_option
@command("lab ca")
def lab_ca_cmd(inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Print the root certificate of the lab's ACME CA (Pebble), for browsers and clients."""
    pem = lab.acme_root(inventory)
    return Result("lab ca", data={"pem": pem}), lambda: sys.stdout.write(pem)


def _run_options(body: Callable[..., Any]) -> Callable[..., Any]:
    body = click.option("--tenant", help="Only this tenant (and the server that hosts it).")(body)
    body = click.option("--limit", help="Only these servers (Ansible host pattern).")(body)
    body = click.option(
        "--print-ansible", is_flag=True, help="Print the exact ansible-playbook command first."
    )(body)
    return body


def _run(inventory: Path, request: RunRequest, print_ansible: bool) -> Result:
    def show(argv: list[str]) -> None:
        stderr().print(shlex.join(argv), markup=False, highlight=False)

    with Progress() as progress:
        return run_playbook(inventory, request, progress, show if print_ansible else None)


@main.command("plan")
@inventory_option
@_run_options
@command("plan")
def plan_cmd(
    inventory: Path, tenant: str | None, limit: str | None, print_ansible: bool
) -> tuple[Result, Callable[[], None]]:
    """Show what apply would change. Exit 0: nothing to do; 2: changes; 1: error."""
    result = _run(inventory, RunRequest(check=True, tenant=tenant, limit=limit), print_ansible)
    return result, lambda: _show_run(result, planned=True)


@main.command("apply")
@inventory_option
@_run_options
@command("apply")
def apply_cmd(
    inventory: Path, tenant: str | None, limit: str | None, print_ansible: bool
) -> tuple[Result, Callable[[], None]]:
    """Make the servers match the files. One apply at a time per platform."""
    result = _run(inventory, RunRequest(check=False, tenant=tenant, limit=limit), print_ansible)
    return result, lambda: _show_run(result, planned=False)


def _show_run(result: Result, planned: bool) -> None:
    if result.errors:
        stderr().print(render_failures(result.data), markup=False, highlight=False)
    say(render_changes(result.data, planned))


@main.command("welcome")
@click.argument("tenant")
@click.option(
    "--person",
    "people",
    metavar="ID",
    multiple=True,
    help="Only this person (id in the tenant file); repeat for several. Default: everyone.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="PDF to write, outside the deployment directory (mode 600).",
)
@inventory_option
@command("welcome")
def welcome_cmd(
    tenant: str, people: tuple[str, ...], output: Path, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Printable welcome sheets (PDF, in French): one A4 page per person.

    Each page gives the address, the initial password, the webmail, the client settings
    and a QR code for phones, from the encrypted password store. Print them, hand them
    over, then delete the file.
    """
    result = welcome(inventory, tenant, people, output)
    data = result.data
    return result, lambda: say(t("welcome.written", count=data["pages"], path=data["output"]))


@main.command("migrate")
@click.argument("tenant")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="imaps://HOST[:PORT]",
    help="The old provider's IMAP server (imap://HOST[:PORT] for STARTTLS).",
)
@click.option(
    "--map",
    "map_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV with a header old_login,old_password,new_address (kept out of git).",
)
@click.option(
    "--ca-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM of the CA the old server's certificate chains to, if not a public one.",
)
@inventory_option
@command("migrate")
def migrate_cmd(
    tenant: str, source: str, map_file: Path, ca_file: Path | None, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Copy mailboxes from TENANT's old provider onto its server (one way, resumable).

    Nothing in the new mailboxes is ever deleted; running it again copies only what is
    new. Exit 0: every mailbox has all its messages; 1: one is incomplete or failed;
    2: invalid input (nothing ran); 3: a migration of TENANT is already running;
    130: interrupted (run it again to continue).
    """
    from fnl_deploy import migrate

    result = migrate.migrate(
        inventory, tenant, source, map_file, ca_file, migrate.MigrationProgress()
    )

    def render() -> None:
        say(migrate.render(result.data))
        for error in result.errors:
            print_error(FnlDeployError(error["message"], error.get("hint")))

    return result, render


@main.command("offboard")
@click.argument("tenant")
@click.option("--purge", is_flag=True, help="Destroy the live data of an offboarded tenant.")
@click.option("--visa", metavar="REF", help="Visa reference of the Archives départementales.")
@inventory_option
@command("offboard")
def offboard_cmd(
    tenant: str, purge: bool, visa: str | None, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Archive a commune's mail, calendars and contacts, then disable it.

    The archive (tar.gz, SHA-256 of every file, read back before it counts) stays on the
    tenant's server; the tenant file gets `offboarded: <date>` and the tenant is applied:
    accounts, domains and zone disabled, data kept. Later, `--purge --visa REF` destroys the
    live data, only if an archive still verifies, and records the visa.
    Exit 0: done; 1: a server refused or failed (nothing disabled); 2: invalid input.
    """
    from fnl_deploy import offboard

    if visa is not None and not purge:
        raise click.UsageError("--visa goes with --purge")
    if purge:
        result = offboard.purge(inventory, tenant, visa)
    else:
        with Progress() as progress:
            result = offboard.offboard(inventory, tenant, progress)

    def render() -> None:
        for error in result.errors:
            print_error(FnlDeployError(error["message"], error.get("hint")))
        if result.exit_code != 0:
            return
        if purge:
            report = result.data["purge"]
            keys = ("visa", "archive", "sha256")
            say(t("offboard.purged", tenant=result.data["tenant"], **{k: report[k] for k in keys}))
            return
        archive = result.data["archive"]
        say(render_changes(result.data["apply"], planned=False))
        say(
            t(
                "offboard.done",
                tenant=result.data["tenant"],
                items=sum(f["items"] for f in archive.get("folders", [])),
                mailboxes=len(archive.get("mailboxes", [])),
                archive=archive["archive"],
                server=archive["server"],
                sha256=archive["sha256"],
                file=result.data["file"],
            )
        )

    return result, render


@main.group("backup")
def backup_group() -> None:
    """Backups of the servers (BorgBackup, role backup; docs/operations.md)."""


def _backup_server_argument(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("server", required=False)(function)


def _show_backups(result: Result, line: Callable[[dict[str, Any]], str]) -> Callable[[], None]:
    def render() -> None:
        for error in result.errors:
            print_error(FnlDeployError(error["message"], error.get("hint")))
        for report in (result.data or {}).get("servers", []):
            say(line(report))

    return render


@backup_group.command("run")
@_backup_server_argument
@inventory_option
@command("backup run")
def backup_run_cmd(server: str | None, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """Back up SERVER (default: every server) now, as the nightly timer does.

    Dumps the directory database, then archives mail, the dumps, DKIM and DNSSEC keys into
    the server's Borg repository, prunes by the retention and compacts.
    Exit 0: every backup done; 1: one failed.
    """
    from fnl_deploy import backup
    from fnl_deploy.report import human_size

    result = backup.run(inventory, server)
    return result, _show_backups(
        result,
        lambda r: t(
            "backup.done",
            server=r["server"],
            archive=r["archive"],
            files=r.get("files"),
            original=human_size(int(r.get("original_size") or 0)),
            stored=human_size(int(r.get("deduplicated_size") or 0)),
        ),
    )


def _archive_lines(report: dict[str, Any]) -> str:
    if not report["archives"]:
        return t("backup.none", server=report["server"], repository=report["repository"])
    lines = [f"{report['server']}  {report['repository']}"]
    lines += [f"  {a['name']}  {a['time']}" for a in report["archives"]]
    return "\n".join(lines)


@backup_group.command("list")
@_backup_server_argument
@inventory_option
@command("backup list")
def backup_list_cmd(server: str | None, inventory: Path) -> tuple[Result, Callable[[], None]]:
    """List the archives in SERVER's repository (default: every server's)."""
    from fnl_deploy import backup

    result = backup.list_archives(inventory, server)
    return result, _show_backups(result, _archive_lines)


@backup_group.command("check")
@_backup_server_argument
@click.option(
    "--verify-data", is_flag=True, help="Also read and decrypt every chunk (slow, thorough)."
)
@inventory_option
@command("backup check")
def backup_check_cmd(
    server: str | None, verify_data: bool, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Check SERVER's repository and archives (borg check). Exit 0: sound; 1: not."""
    from fnl_deploy import backup

    result = backup.check(inventory, server, verify_data)
    return result, _show_backups(
        result,
        lambda r: t(
            "backup.checked", server=r["server"], repository=r["repository"], archives=r["archives"]
        ),
    )


@main.command("restore")
@click.argument("server")
@click.option("--archive", metavar="NAME", help="Archive to restore (default: the latest).")
@inventory_option
@command("restore")
def restore_cmd(
    server: str, archive: str | None, inventory: Path
) -> tuple[Result, Callable[[], None]]:
    """Rebuild SERVER, new and empty, from its backups.

    Applies (the new server gets packages, configuration and access to its repository),
    restores mail, DKIM and DNSSEC keys and the directory database (the passwords users
    chose, agendas, address books), then applies again. Refused (exit 2) when SERVER
    already holds mail. Exit 0: restored; 1: a step failed.
    """
    from fnl_deploy import backup

    with Progress() as progress:
        result = backup.restore(inventory, server, archive, progress)

    def render() -> None:
        for error in result.errors:
            print_error(FnlDeployError(error["message"], error.get("hint")))
        if result.exit_code != 0 or "restored" not in (result.data or {}):
            return
        restored = result.data["restored"]
        say(
            t(
                "restore.done",
                server=server,
                archive=restored["archive"],
                messages=restored["messages"],
                dkim=restored["dkim_keys"],
                databases=", ".join(restored["databases"]) or "-",
            )
        )

    return result, render


if __name__ == "__main__":  # pragma: no cover
    main()
