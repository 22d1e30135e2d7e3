"""Backups of the servers (role backup) and restoring one onto a new server.

``backup run|list|check`` act on the Borg repositories role backup set up (each server's
on another server, encrypted with a passphrase from the deployment's encrypted store).

``restore SERVER`` rebuilds a lost server from its latest (or a named) archive:

1. refuse a server whose mail store holds any message (a restore never mixes old mail
   into live mail) — exit 2, nothing changed;
2. apply: the new server gets its packages, configuration, accounts and access to its
   repository, like any new server;
3. on it, extract mail, DKIM keys and selectors, Knot's zones and DNSSEC keys, the
   archives of removed mailboxes, then restore the directory database (the passwords
   users chose, agendas, address books) from its dump;
4. apply again: the zones publish the restored DKIM keys, and whatever the tenant files
   changed since the backup is converged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fnl_deploy import errors, runner
from fnl_deploy.commands import run_playbook
from fnl_deploy.deployment import Deployment, load_deployment
from fnl_deploy.i18n import t
from fnl_deploy.report import Result


def _servers(deployment: Deployment, server: str | None) -> str | None:
    """The --limit for one server (checked against the inventory), or None for all."""
    if server is None:
        return None
    names = [s.name for s in deployment.servers]
    if server not in names:
        raise errors.UsageError(
            t("backup.unknown_server", server=server, servers=", ".join(names)),
            t("backup.unknown_server_hint"),
        )
    return server


def _operate(root: Path, server: str | None, action: str, extravars: dict[str, Any]) -> Result:
    deployment = load_deployment(root)
    limit = _servers(deployment, server)
    outcome = runner.run_side_playbook(
        deployment,
        "backup.yml",
        "backup-" + action,
        {"fnl_backup_action": action, **extravars},
        limit=limit,
    )
    reports = sorted(outcome.backups, key=lambda r: r["server"])
    data = {"servers": reports, "failures": outcome.failures}
    if outcome.failures or outcome.rc:
        return Result.failed_run(f"backup {action}", outcome.failures, outcome.rc, data)
    return Result(f"backup {action}", data=data)


def run(root: Path, server: str | None) -> Result:
    """Back up now (the same backup as the nightly timer's), on one server or all."""
    return _operate(root, server, "run", {})


def list_archives(root: Path, server: str | None) -> Result:
    return _operate(root, server, "list", {})


def check(root: Path, server: str | None, verify_data: bool = False) -> Result:
    return _operate(root, server, "check", {"fnl_backup_verify_data": verify_data})


def restore(root: Path, server: str, archive: str | None = None, progress: Any = None) -> Result:
    """Rebuild SERVER from its backups (module docstring); exit 2 if it already holds mail."""
    deployment = load_deployment(root)
    limit = _servers(deployment, server)
    data: dict[str, Any] = {"server": server}
    survey = runner.run_side_playbook(
        deployment, "backup.yml", "restore-survey", {"fnl_backup_action": "survey"}, limit=limit
    )
    if survey.failures or survey.rc or not survey.backups:
        return Result.failed_run("restore", survey.failures, survey.rc, data)
    messages = survey.backups[0]["messages"]
    if messages:
        raise errors.UsageError(
            t("restore.not_empty", server=server, messages=messages), t("restore.not_empty_hint")
        )
    first = run_playbook(root, runner.RunRequest(check=False), progress)
    data["first_apply"] = first.data.get("summary")
    if first.exit_code:
        first.command = "restore"
        return first
    extracted = runner.run_side_playbook(
        deployment,
        "backup.yml",
        "restore",
        {"fnl_backup_action": "restore", "fnl_backup_archive": archive or ""},
        limit=limit,
    )
    if extracted.failures or extracted.rc or not extracted.backups:
        return Result.failed_run("restore", extracted.failures, extracted.rc, data)
    data["restored"] = extracted.backups[0]
    second = run_playbook(root, runner.RunRequest(check=False), progress)
    data["second_apply"] = second.data.get("summary")
    if second.exit_code:
        second.command = "restore"
        return second
    return Result("restore", data=data)
