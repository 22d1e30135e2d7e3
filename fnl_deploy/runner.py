"""Build and run ansible-playbook through ansible-runner, reading its structured events."""

from __future__ import annotations

import difflib
import getpass
import json
import os
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fnl_deploy import __version__
from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import Deployment
from fnl_deploy.dns import dkim_key
from fnl_deploy.errors import LockHeld, RunError, UsageError
from fnl_deploy.paths import share_dir
from fnl_deploy.secrets import PasswordStore

#: Where each run keeps its log, desired state and summary, under the deployment directory.
RUNS_DIR = Path(".fnl") / "runs"
#: Actions of our own bookkeeping modules: never shown as platform changes.
BOOKKEEPING = {"fnl_lock", "fnl_state"}


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for: a plan (check mode) or an apply, maybe narrowed."""

    check: bool
    tenant: str | None = None
    limit: str | None = None
    playbook: str = "site.yml"


@dataclass(frozen=True)
class AnsibleRun:
    """Everything needed to start ansible-playbook; built by a pure function, tested alone."""

    run_id: str
    run_dir: Path
    playbook: Path
    inventory: Path
    limit: str | None
    check: bool
    extravars: dict[str, Any]
    envvars: dict[str, str]

    def argv(self) -> list[str]:
        """The equivalent ansible-playbook command line (``--print-ansible``)."""
        argv = ["ansible-playbook", "-i", str(self.inventory)]
        if self.limit:
            argv += ["--limit", self.limit]
        if self.check:
            argv += ["--check", "--diff"]
        else:
            argv += ["--diff"]
        argv += ["-e", f"@{self.run_dir / 'extravars.json'}", str(self.playbook)]
        return argv


@dataclass
class Change:
    """One change a run would make (plan) or made (apply)."""

    server: str
    service: str
    action: str  # "+" add, "~" change, "-" disable
    kind: str
    name: str
    tenant: str | None = None
    detail: str = ""
    diff: str = ""


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class RunOutcome:
    """What happened: changes, per-server counts, failures, new servers, the log location."""

    run_id: str
    run_dir: Path
    check: bool
    status: str = "running"
    rc: int | None = None
    changes: list[Change] = field(default_factory=list)
    stats: dict[str, HostStats] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    never_provisioned: list[str] = field(default_factory=list)
    #: Warnings modules returned (e.g. a commune's certificate the ACME CA refused for now):
    #: {"server", "task", "message"}; the run goes on, the operator must see them.
    warnings: list[dict[str, str]] = field(default_factory=list)
    tasks: int = 0
    duration: float = 0.0
    #: Archives of removed mailboxes the servers listed (playbooks/archives.yml).
    archives: list[dict[str, Any]] = field(default_factory=list)
    #: DKIM public keys the servers reported: domain -> {"selector", "public_key"}.
    dkim: dict[str, dict[str, str]] = field(default_factory=dict)
    #: DS records of the signed zones, as the signing server computed them: domain -> [DS].
    ds: dict[str, list[str]] = field(default_factory=dict)
    #: What `offboard` exported or purged on the tenant's server (playbooks/offboard.yml).
    offboard: list[dict[str, Any]] = field(default_factory=list)
    #: Per-mailbox reports of a migration from an old provider (playbooks/migrate.yml).
    migrations: list[dict[str, Any]] = field(default_factory=list)
    #: What `backup run|list|check` and `restore` did per server (playbooks/backup.yml).
    backups: list[dict[str, Any]] = field(default_factory=list)
    #: Each server's facts for `status` (playbooks/status.yml, module fnl_status).
    statuses: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "check": self.check,
            "status": self.status,
            "rc": self.rc,
            "changes": [asdict(c) for c in self.changes],
            "stats": {host: asdict(s) for host, s in sorted(self.stats.items())},
            "failures": self.failures,
            "never_provisioned": self.never_provisioned,
            "warnings": self.warnings,
            "tasks": self.tasks,
            "duration_seconds": round(self.duration, 1),
        }


def controller_identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_run_ids(root: Path) -> list[str]:
    """Runs started from this controller whose process is gone without finishing."""
    stale = []
    host = socket.gethostname()
    for record in sorted((root / RUNS_DIR).glob("*/run.json"))[-50:]:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("controller") != host:
            continue
        # A finished run holds no lock legitimately; an unfinished one whose process is gone
        # was killed. Either way its lock, if any is left, may be cleared.
        if data.get("finished") or not _pid_alive(int(data.get("pid", 0))):
            stale.append(str(data["run_id"]))
    return stale


#: FNL_DEPLOY_MITOGEN=0 runs Ansible's own strategy instead of Mitogen's.
MITOGEN_SWITCH = "FNL_DEPLOY_MITOGEN"


def mitogen_strategy() -> dict[str, str]:
    """Ansible settings that run the play with Mitogen's strategy, or none.

    Ansible starts a Python on each server for every task (an SSH round trip, sudo, the
    module unpacked): 0.3 to 0.5 s a task, about 50 s for an apply that changes nothing.
    Mitogen keeps one interpreter per server for the whole run: the same apply took 26 s
    instead of 52 s in the lab (docs/performance.md). FNL_DEPLOY_MITOGEN=0 turns it off,
    to compare, or should a future Ansible outpace Mitogen.
    """
    if os.environ.get(MITOGEN_SWITCH, "1") == "0":
        return {}
    try:
        import ansible_mitogen
    except ImportError:
        return {}
    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


def build_run(
    deployment: Deployment,
    request: RunRequest,
    run_id: str,
    run_dir: Path,
    stale: list[str],
) -> AnsibleRun:
    """The ansible-playbook run for a request (reads only the DKIM key cache)."""
    limit = request.limit
    scope = None
    if request.tenant:
        entry = deployment.tenant(request.tenant)
        scope = [entry.id]
        server = deployment.placement(entry).name
        limit = f"{limit}:&{server}" if limit else server
    roles = share_dir("roles")
    playbooks = share_dir("playbooks")
    extravars = {
        "fnl_desired_dir": str(run_dir / "desired"),
        "fnl_credentials_dir": str(run_dir / "credentials"),
        "fnl_run_id": run_id,
        "fnl_run_holder": controller_identity(),
        "fnl_stale_run_ids": stale,
        "fnl_tenant_scope": scope,
        "fnl_version": __version__,
        # DKIM keys fetched at earlier applies, for zones of servers outside this run
        # (--limit, --tenant); not in the desired state, which must not change when a
        # key is first fetched (second apply: zero changes).
        "fnl_dkim_known": known_dkim_keys(deployment),
    }
    bin_dir = str(Path(sys.executable).parent)
    envvars = {
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "ANSIBLE_ROLES_PATH": str(roles),
        "ANSIBLE_LIBRARY": str(playbooks / "library"),
        # The PostgreSQL helpers, also for the playbooks' own modules (offboard).
        "ANSIBLE_MODULE_UTILS": str(roles / "directory" / "module_utils"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_FORKS": "10",
        # Our own runs keep an audit trail; ansible's own log would duplicate it.
        "ANSIBLE_LOG_PATH": "",
        **mitogen_strategy(),
    }
    return AnsibleRun(
        run_id=run_id,
        run_dir=run_dir,
        playbook=playbooks / request.playbook,
        inventory=(deployment.root / "hosts.yml").resolve(),
        limit=limit,
        check=request.check,
        extravars=extravars,
        envvars=envvars,
    )


def run_side_playbook(
    deployment: Deployment,
    playbook: str,
    suffix: str,
    extravars: dict[str, Any],
    tenant: str | None = None,
    limit: str | None = None,
    check: bool = False,
) -> RunOutcome:
    """Run one of the side playbooks (backup, offboard, archives…) on the servers of a
    tenant or a --limit, outside the apply lock; its modules' reports land in the outcome."""
    run_id = new_run_id() + "-" + suffix
    run_dir = (deployment.root / RUNS_DIR / run_id).resolve()
    request = RunRequest(check=check, tenant=tenant, limit=limit, playbook=playbook)
    run = build_run(deployment, request, run_id, run_dir, [])
    run.extravars.update(extravars)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "extravars.json").write_text(json.dumps(run.extravars, indent=1))
    return execute(run)


#: Beside the servers' desired states: tenant -> server, server -> host name (site.yml).
PLACEMENTS_FILE = "fnl.placements.json"


def write_desired(deployment: Deployment, out: Path) -> dict[str, dict[str, Any]]:
    """Each server's desired state as ``out/<server>.json``, rewritten only on change, so
    that its checksum (and the copy to the server) stays the same when nothing changed."""
    states = compile_deployment(deployment)
    out.mkdir(parents=True, exist_ok=True)
    for server, state in states.items():
        path = out / f"{server}.json"
        text = json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    # Where each commune lives, for site.yml's move play (a commune a server holds but the
    # files now place elsewhere is carried there). A dot never appears in a server name.
    placements = {
        "placements": {e.id: deployment.placement(e).name for e in deployment.tenants},
        "fqdns": {server.name: server.fqdn for server in deployment.servers},
    }
    text = json.dumps(placements, indent=1, sort_keys=True)
    path = out / PLACEMENTS_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return states


def person_addresses(state: dict[str, Any]) -> list[str]:
    """Accounts that log in (shared mailboxes are reached through their members' rights)."""
    return [m["address"] for t in state["tenants"] for m in t["mailboxes"] if m["kind"] == "person"]


def write_credentials(
    deployment: Deployment, states: dict[str, dict[str, Any]], out: Path, check: bool
) -> list[str]:
    """Password hashes per server (never plaintext) and each server's Borg passphrase, from
    the encrypted store (the run deletes these files when it ends).

    An apply gives every new account a generated password, saved encrypted first; a plan
    only reads the store, when its password is at hand, to show pending resets.
    """
    try:
        store = PasswordStore.open(deployment.root)
    except UsageError:
        if check:
            return []
        raise
    everyone = [a for state in states.values() for a in person_addresses(state)]
    renames = {
        m["address"]: m["former"]
        for state in states.values()
        for tenant in state["tenants"]
        for m in tenant["mailboxes"]
        if m.get("former")
    }
    if not check:
        moved = store.carry_over(renames)
        passphrases = store.ensure_backup_passphrases(sorted(states))
        if store.ensure(everyone) or moved or passphrases:
            store.save()
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    resets = []
    for server, state in states.items():
        credentials = store.credentials(person_addresses(state))
        resets += credentials["resets"]
        if server in store.backup_passphrases:
            credentials["backup_passphrase"] = store.backup_passphrases[server]
        path = out / f"{server}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(credentials, handle, sort_keys=True, indent=1)
    return resets


def after_successful_apply(deployment: Deployment, resets: list[str], whole: bool) -> None:
    """Resets are done; after an apply of every tenant, the accounts that left the files
    are disabled on the servers, so their passwords are retired (a later owner of the
    address gets a new one)."""
    store = PasswordStore.open(deployment.root)
    store.clear_resets(resets)
    retired = []
    if whole:
        states = compile_deployment(deployment)
        retired = store.retire_all_but([a for s in states.values() for a in person_addresses(s)])
    if resets or retired:
        store.save()


def forget_stale_credentials(root: Path) -> None:
    """Delete the credentials a killed run left behind (its end would have): they hold the
    backup passphrases in clear. A run still going keeps its own."""
    stale = set(stale_run_ids(root))
    for credentials in (root / RUNS_DIR).glob("*/credentials"):
        if credentials.parent.name in stale:
            shutil.rmtree(credentials, ignore_errors=True)


def prepare_run_dir(deployment: Deployment, run: AnsibleRun, command: str) -> list[str]:
    """Write desired state, credentials and the run record under .fnl/runs/; return the
    addresses whose password reset this run carries."""
    forget_stale_credentials(deployment.root)
    states = write_desired(deployment, run.run_dir / "desired")
    resets = write_credentials(deployment, states, run.run_dir / "credentials", run.check)
    (run.run_dir / "extravars.json").write_text(json.dumps(run.extravars, indent=1))
    record = {
        "run_id": run.run_id,
        "command": command,
        "argv": run.argv(),
        "pid": os.getpid(),
        "controller": socket.gethostname(),
        "holder": controller_identity(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "finished": False,
    }
    (run.run_dir / "run.json").write_text(json.dumps(record, indent=1))
    return resets


def finish_run_record(run: AnsibleRun, outcome: RunOutcome) -> None:
    # The staged credentials hold the backup passphrases in clear: gone once the run is.
    shutil.rmtree(run.run_dir / "credentials", ignore_errors=True)
    path = run.run_dir / "run.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record.update(finished=True, status=outcome.status, rc=outcome.rc)
    path.write_text(json.dumps(record, indent=1))
    (run.run_dir / "summary.json").write_text(
        json.dumps(outcome.as_dict(), ensure_ascii=False, indent=1)
    )


# --- Events -----------------------------------------------------------------------------


def render_diff(diff: Any) -> str:
    """Ansible's diff (dict or list of dicts with before/after) as a unified diff."""
    parts = diff if isinstance(diff, list) else [diff]
    out = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if "prepared" in part:
            out.append(str(part["prepared"]).rstrip("\n"))
            continue
        before, after = part.get("before", ""), part.get("after", "")
        if isinstance(before, dict) or isinstance(after, dict):
            before = json.dumps(before, indent=1, sort_keys=True)
            after = json.dumps(after, indent=1, sort_keys=True)
        # Ansible names the "after" side after a temporary copy of the template: the
        # file being changed is the "before" header.
        header = str(part.get("before_header") or part.get("after_header") or "")
        lines = difflib.unified_diff(
            str(before).splitlines(),
            str(after).splitlines(),
            fromfile=header or "before",
            tofile=header or "after",
            lineterm="",
        )
        out.append("\n".join(lines))
    return "\n".join(x for x in out if x)


class EventCollector:
    """Turns ansible-runner events into a RunOutcome, and forwards progress."""

    def __init__(self, outcome: RunOutcome, progress: Callable[[str, dict], None] | None):
        self.outcome = outcome
        self.progress = progress

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {}) or {}
        host = data.get("host") or data.get("remote_addr") or ""
        if kind == "runner_on_ok":
            self._on_ok(host, data)
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get(
            "ignore_errors"
        ):
            res = data.get("res", {}) or {}
            self.outcome.failures.append(
                {
                    "server": host,
                    "task": data.get("task", ""),
                    "action": data.get("task_action", ""),
                    "message": str(res.get("msg", "")).strip()[:2000],
                    "unreachable": str(kind == "runner_on_unreachable").lower(),
                    "lock_holder": json.dumps(res.get("fnl_lock_holder"))
                    if res.get("fnl_lock_holder")
                    else "",
                }
            )
        elif kind == "playbook_on_task_start":
            self.outcome.tasks += 1
        elif kind == "playbook_on_stats":
            for name, counter in (
                ("ok", "ok"),
                ("changed", "changed"),
                ("failed", "failures"),
                ("unreachable", "dark"),
                ("skipped", "skipped"),
            ):
                for h, count in (data.get(counter) or {}).items():
                    setattr(self.outcome.stats.setdefault(h, HostStats()), name, count)
        if self.progress is not None:
            self.progress(kind, data)
        return True  # keep ansible-runner's own job_events/ files: they are the run log

    def _on_ok(self, host: str, data: dict[str, Any]) -> None:
        res = data.get("res", {}) or {}
        action = data.get("task_action", "")
        # Our modules' warnings only: Ansible's own (a plan's "failed to look up user…" for
        # an account the run would create) are noise to an operator.
        if action.split(".")[-1].startswith("fnl_"):
            for warning in res.get("warnings") or []:
                self.outcome.warnings.append(
                    {"server": host, "task": data.get("task", ""), "message": str(warning)[:2000]}
                )
        if action.endswith("fnl_state") and res.get("provisioned") is False:
            self.outcome.never_provisioned.append(host)
        if isinstance(res.get("fnl_archives"), list):
            self.outcome.archives += [{"server": host, **a} for a in res["fnl_archives"]]
        if isinstance(res.get("fnl_dkim"), dict):
            self.outcome.dkim.update(res["fnl_dkim"])
        if isinstance(res.get("fnl_ds"), dict):
            self.outcome.ds.update(res["fnl_ds"])
        if isinstance(res.get("fnl_offboard"), dict):
            self.outcome.offboard.append({"server": host, **res["fnl_offboard"]})
        if isinstance(res.get("fnl_backup"), dict):
            self.outcome.backups.append({"server": host, **res["fnl_backup"]})
        if isinstance(res.get("fnl_status"), dict):
            self.outcome.statuses.append({"server": host, **res["fnl_status"]})
        if isinstance(res.get("fnl_migrations"), list):
            self.outcome.migrations += [{"server": host, **m} for m in res["fnl_migrations"]]
        if not res.get("changed") or action.split(".")[-1] in BOOKKEEPING:
            return
        role = data.get("role") or "site"
        structured = res.get("fnl_changes")
        if isinstance(structured, list):
            for item in structured:
                self.outcome.changes.append(
                    Change(
                        server=host,
                        service=str(item.get("service", role)),
                        action=str(item.get("action", "~")),
                        kind=str(item.get("kind", "")),
                        name=str(item.get("name", "")),
                        tenant=item.get("tenant"),
                        detail=str(item.get("detail", "")),
                    )
                )
            return
        self.outcome.changes.append(
            Change(
                server=host,
                service=role,
                action="~",
                kind="task",
                name=data.get("task", ""),
                diff=render_diff(res.get("diff")) if res.get("diff") else "",
            )
        )


def release_lock(run: AnsibleRun) -> None:
    """Remove this run's lock after a failure (best effort: the next apply clears it too)."""
    import ansible_runner

    unlock_dir = run.run_dir / "unlock"
    unlock_dir.mkdir(exist_ok=True)
    ansible_runner.run(
        private_data_dir=str(unlock_dir),
        playbook=str(run.playbook.parent / "unlock.yml"),
        inventory=str(run.inventory),
        envvars=run.envvars,
        cmdline=shlex.join(["-e", f"@{run.run_dir / 'extravars.json'}"]),
        quiet=True,
        suppress_env_files=True,
    )


def execute(
    run: AnsibleRun,
    progress: Callable[[str, dict], None] | None = None,
) -> RunOutcome:
    """Run ansible-playbook through ansible-runner; events feed the outcome as they come."""
    import ansible_runner  # late: importing it costs ~0.3 s that validate should not pay

    outcome = RunOutcome(run.run_id, run.run_dir, run.check)
    collector = EventCollector(outcome, progress)
    # Extra vars go through the file prepare_run_dir wrote, exactly as argv() shows.
    cmdline = [
        "--diff",
        *(["--check"] if run.check else []),
        "-e",
        f"@{run.run_dir / 'extravars.json'}",
    ]
    started = time.monotonic()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(run.run_dir),
            playbook=str(run.playbook),
            inventory=str(run.inventory),
            limit=run.limit,
            envvars=run.envvars,
            cmdline=shlex.join(cmdline),
            event_handler=collector,
            quiet=True,
            suppress_env_files=True,
            timeout=None,
        )
    except Exception as exc:  # ansible-runner raises plain exceptions for set-up problems
        raise RunError(f"ansible-runner could not start: {exc}") from exc
    finally:
        # Communes carried between servers pass through here (site.yml removes its copy;
        # a run killed half-way may not have): mail and password hashes never stay.
        shutil.rmtree(run.run_dir / "moves", ignore_errors=True)
    outcome.duration = time.monotonic() - started
    outcome.rc = runner.rc
    outcome.status = runner.status
    for failure in outcome.failures:
        if failure["lock_holder"]:
            holder = json.loads(failure["lock_holder"])
            raise LockHeld(
                f"another apply holds the platform lock: {holder.get('holder')} since "
                f"{holder.get('started_at')} (run {holder.get('run_id')})",
                "wait for it to finish; a lock left by a dead run from this machine is "
                "cleared automatically, others expire after 6 hours",
            )
    return outcome


def known_dkim_keys(deployment: Deployment) -> dict[str, dict[str, str]]:
    """The DKIM keys of hosted domains that earlier applies fetched (public keys)."""
    known = {}
    for entry in deployment.hosted_entries():
        for domain in entry.domains:
            key = dkim_key(deployment.root, domain)
            if key:
                known[domain] = {"selector": key[0], "public_key": key[1]}
    return known
