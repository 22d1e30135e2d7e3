"""Offboarding a commune: archive everything, disable it, and destroy only with a visa.

Mail of a commune is a public archive (Code du patrimoine, L211-1): its destruction needs
the visa of the Archives départementales. So ``offboard`` is two separate steps:

1. ``fnl-deploy offboard TENANT``: the tenant's server exports every mailbox, calendar and
   address book into one archive with a SHA-256 of every file, reads it back, and records
   it; only then is ``offboarded: <date>`` added to the tenant file and the tenant applied,
   which disables its accounts, domains and zone. Its data stays on the server.
2. ``fnl-deploy offboard TENANT --purge --visa REF``, later: refused unless the tenant is
   offboarded and an archive of it still verifies; destroys the live data and records
   the visa, here (``.fnl/offboard/<tenant>.json``) and on the server.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from fnl_deploy import errors, runner
from fnl_deploy.commands import run_playbook
from fnl_deploy.deployment import Deployment, TenantEntry, load_deployment
from fnl_deploy.i18n import t
from fnl_deploy.report import Result

#: The controller's record of offboardings (exports and purges with their visa).
RECORDS_DIR = Path(".fnl") / "offboard"
#: A visa reference is a short reference, not a document.
VISA_MAX_LENGTH = 200


def _run_on_server(
    deployment: Deployment, entry: TenantEntry, action: str, visa: str | None
) -> runner.RunOutcome:
    extravars = {"fnl_offboard_tenant": entry.id, "fnl_offboard_action": action}
    if visa is not None:
        extravars["fnl_offboard_visa"] = visa
    return runner.run_side_playbook(deployment, "offboard.yml", "offboard", extravars, entry.id)


#: What the controller's record keeps of each step (never anything secret).
_RECORDED = ("action", "server", "archive", "sha256", "bytes", "created", "visa", "purged_at")


def _server_step(
    deployment: Deployment,
    entry: TenantEntry,
    action: str,
    visa: str | None,
    command: str,
    data: dict[str, Any],
) -> tuple[Result | None, dict[str, Any]]:
    """Run one step on the tenant's server: (a failed Result, {}) or (None, its report),
    the report then recorded in .fnl/offboard/<tenant>.json."""
    outcome = _run_on_server(deployment, entry, action, visa)
    if outcome.failures or outcome.rc or not outcome.offboard:
        return Result.failed_run(command, outcome.failures, outcome.rc, data), {}
    report = outcome.offboard[0]
    _record(deployment.root, entry.id, {k: report[k] for k in _RECORDED if k in report})
    return None, report


def _history(root: Path, tenant_id: str) -> list[dict[str, Any]]:
    path = root / RECORDS_DIR / f"{tenant_id}.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else []


def _record(root: Path, tenant_id: str, record: dict[str, Any]) -> None:
    path = root / RECORDS_DIR / f"{tenant_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    history = _history(root, tenant_id)
    history.append(record)
    path.write_text(json.dumps(history, indent=1, ensure_ascii=False) + "\n", "utf-8")


def _mark_offboarded(entry: TenantEntry, archive: dict[str, Any]) -> bool:
    """Append ``offboarded: <today>`` to the tenant file (text appended, so its comments
    and layout stay as the operator wrote them). False when it is already there."""
    if entry.tenant.offboarded is not None:
        return False
    text = entry.source.path.read_text("utf-8")
    if not text.endswith("\n"):
        text += "\n"
    today = datetime.date.today().isoformat()
    text += (
        f"# fnl-deploy offboard, {today}: archive {archive['archive']} on "
        f"{archive['server']}, sha256 {archive['sha256']}\n"
        f"offboarded: {today}\n"
    )
    entry.source.path.write_text(text, "utf-8")
    return True


def offboard(root: Path, tenant_id: str, progress: Any = None) -> Result:
    """Export the tenant's data into a verified archive, then disable the tenant."""
    deployment = load_deployment(root)
    entry = deployment.tenant(tenant_id)
    data: dict[str, Any] = {"tenant": entry.id, "archive": None, "apply": None}
    failed, archive = _server_step(deployment, entry, "export", None, "offboard", data)
    if failed is not None:
        return failed
    data["archive"] = archive
    data["marked"] = _mark_offboarded(entry, archive)
    data["file"] = entry.source.display
    # Invalid input changes nothing: the marked file is validated again by the apply.
    applied = _apply_tenant(root, entry.id, progress)
    data["apply"] = applied.data
    if applied.exit_code != 0:
        applied.command = "offboard"
        applied.data = data
        return applied
    return Result("offboard", data=data)


def _apply_tenant(root: Path, tenant_id: str, progress: Any) -> Result:
    return run_playbook(root, runner.RunRequest(check=False, tenant=tenant_id), progress)


def purge(root: Path, tenant_id: str, visa: str | None) -> Result:
    """Destroy an offboarded tenant's live data, once an archive of it verifies."""
    deployment = load_deployment(root)
    entry = deployment.tenant(tenant_id)
    reference = (visa or "").strip()
    if not reference or len(reference) > VISA_MAX_LENGTH or not reference.isprintable():
        raise errors.UsageError(t("offboard.visa_needed"), t("offboard.visa_needed.hint"))
    if entry.tenant.offboarded is None:
        raise errors.UsageError(
            t("offboard.not_offboarded", tenant=entry.id),
            t("offboard.not_offboarded.hint", tenant=entry.id),
        )
    exports = [r for r in _history(root, entry.id) if r.get("action") == "export"]
    if not exports:
        raise errors.UsageError(
            t("offboard.no_archive", tenant=entry.id),
            t("offboard.not_offboarded.hint", tenant=entry.id),
        )
    # The server checks again that the archive is still there and still matches.
    data: dict[str, Any] = {"tenant": entry.id, "purge": None}
    failed, report = _server_step(deployment, entry, "purge", reference, "offboard purge", data)
    if failed is not None:
        return failed
    data["purge"] = report
    # The visa goes into the tenant file too: with it, into the operator's git history.
    path = entry.source.path
    path.write_text(
        path.read_text("utf-8")
        + f"# fnl-deploy offboard --purge, {datetime.date.today().isoformat()}: live data "
        f"destroyed under visa {reference}; archive {report['archive']} on {report['server']}, "
        f"sha256 {report['sha256']}\n",
        "utf-8",
    )
    return Result("offboard purge", data=data)
