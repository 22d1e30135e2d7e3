"""``fnl-deploy migrate``: copy mailboxes from a commune's old provider onto its server.

The copy runs on the tenant's server with Dovecot's own tool, ``doveadm sync -1 -R``
against an ``imapc:`` location (one-way: it adds what the old provider has and never
deletes anything in the destination, which may already receive new mail). This module
reads and checks the operator's CSV map, runs playbooks/migrate.yml (module
``fnl_migrate``) and turns what the server reports into a per-mailbox report.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_core import PydanticCustomError

from fnl_deploy import runner
from fnl_deploy.deployment import Deployment, TenantEntry, display_path, load_deployment
from fnl_deploy.errors import FnlDeployError, InvalidDeployment, Problem, UsageError
from fnl_deploy.i18n import t
from fnl_deploy.model.types import to_a_label, to_u_label
from fnl_deploy.report import Result, readable, stderr, table

#: The columns of a migration map, in the order `migrate` documents them.
COLUMNS = ("old_login", "old_password", "new_address")
#: Seconds between two looks at the server's progress (the follow task's retry delay).
POLL_SECONDS = 2
#: How long one run follows a migration before giving up (it goes on on the server).
FOLLOW_HOURS = 24
#: Exit code of an interrupted migration (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class InvalidMap(InvalidDeployment):
    """The CSV map has errors: nothing runs. Exit code 2."""


class MigrationBusy(FnlDeployError):
    """Another migration of the same tenant is running on its server. Exit code 3."""

    exit_code = 3


# --- Source and map ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The old provider's IMAP server: ``imaps://host[:port]`` or ``imap://host[:port]``
    (STARTTLS, required)."""

    host: str
    port: int
    ssl: str  # "imaps" (TLS from the start) or "starttls"

    @property
    def url(self) -> str:
        scheme = "imaps" if self.ssl == "imaps" else "imap"
        return f"{scheme}://{self.host}:{self.port}"

    def as_vars(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "ssl": self.ssl}


def parse_source(url: str) -> Source:
    """``imaps://host[:port]`` (993) or ``imap://host[:port]`` (143, STARTTLS)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("imaps", "imap"):
        raise UsageError(t("migrate.source.scheme", url=url), t("migrate.source.hint"))
    rest = rest.rstrip("/")
    if not rest or any(c in rest for c in "/@?#") or any(c.isspace() for c in rest):
        raise UsageError(t("migrate.source.form", url=url), t("migrate.source.hint"))
    host, port_text = rest, ""
    if rest.startswith("["):  # [IPv6]:port
        host, _, after = rest[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else after
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    port = 993 if scheme == "imaps" else 143
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(t("migrate.source.port", url=url), t("migrate.source.hint"))
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:  # a name: IDN names travel as A-labels
        try:
            host = to_a_label(host)
        except PydanticCustomError as error:
            message = t("migrate.source.host", url=url, error=error.message())
            raise UsageError(message, t("migrate.source.hint")) from error
    return Source(host=host, port=port, ssl="imaps" if scheme == "imaps" else "starttls")


def read_ca_file(path: Path | None) -> str | None:
    """The PEM of a CA the old provider's certificate chains to, checked before anything."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(
            t("migrate.ca.unreadable", path=display_path(path), error=error)
        ) from error
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        raise UsageError(t("migrate.ca.not_pem", path=display_path(path)))
    return text


@dataclass(frozen=True)
class MapRow:
    """One old account and the tenant's mailbox it goes to."""

    line: int
    old_login: str
    old_password: str = field(repr=False)
    new_address: str


def tenant_mailboxes(entry: TenantEntry) -> dict[str, str]:
    """Local part → full address (A-label) of every mailbox of the tenant: people and
    shared mailboxes (lists, aliases and calendars hold no mail)."""
    tenant = entry.tenant
    locals_ = [p.mailbox for p in tenant.people] + [s.address for s in tenant.shared_mailboxes]
    return {local: f"{local}@{tenant.domain}" for local in locals_}


def _field_columns(raw: str, delimiter: str) -> list[int]:
    """1-based character columns where each field of a CSV line starts (quotes honoured)."""
    columns = [1]
    quoted = False
    for index, char in enumerate(raw):
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            columns.append(index + 2)
    return columns


def _delimiter(header: str) -> str:
    """``,`` as documented; ``;`` or a tab as spreadsheets in French locales write them."""
    for candidate in (",", ";", "\t"):
        names = [n.strip().strip('"').strip().lower() for n in header.split(candidate)]
        if set(COLUMNS) <= set(names):
            return candidate
    return ","


def read_map(path: Path, entry: TenantEntry) -> list[MapRow]:
    """The rows of a migration map, every problem found at once (file:line:column)."""
    where = display_path(path)
    problems: list[Problem] = []

    def problem(line: int | None, column: int | None, name: str, message: str) -> None:
        problems.append(Problem(where, line, column, name, message))

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise InvalidMap(
            [Problem(where, None, None, "", t("file.unreadable", error=error))]
        ) from error
    except UnicodeDecodeError as error:
        raise InvalidMap([Problem(where, None, None, "", t("file.not_utf8"))]) from error
    lines = text.splitlines()
    first = next((i for i, raw in enumerate(lines) if raw.strip()), None)
    if first is None:
        raise InvalidMap([Problem(where, None, None, "", t("migrate.map.empty"))])
    delimiter = _delimiter(lines[first])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    mailboxes = tenant_mailboxes(entry)
    domains = set(entry.domains)
    rows: list[MapRow] = []
    seen_login: dict[str, int] = {}
    seen_address: dict[str, int] = {}
    header: list[str] | None = None
    index: dict[str, int] = {}
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            raw = lines[start - 1] if start - 1 < len(lines) else ""
            columns = _field_columns(raw, delimiter)

            def column(i: int, columns: list[int] = columns) -> int | None:
                return columns[i] if i < len(columns) else None

            if header is None:
                header = [cell.strip().lower() for cell in record]
                for i, name in enumerate(header):
                    if name not in COLUMNS:
                        problem(start, column(i), name, t("migrate.map.unknown_column"))
                    elif name in index:
                        problem(start, column(i), name, t("migrate.map.duplicate_column"))
                    else:
                        index[name] = i
                missing = [c for c in COLUMNS if c not in index]
                if missing:
                    problem(start, 1, "", t("migrate.map.header", missing=", ".join(missing)))
                    break
                continue
            if len(record) != len(header):
                problem(
                    start, 1, "", t("migrate.map.cells", found=len(record), expected=len(header))
                )
                continue
            row = _check_row(record, index, start, column, problem, mailboxes, domains, entry)
            if row is None:
                continue
            for key, seen, name in (
                (row.old_login.lower(), seen_login, "old_login"),
                (row.new_address, seen_address, "new_address"),
            ):
                if not key:
                    continue
                if key in seen:
                    problem(
                        start, column(index[name]), name, t("migrate.map.twice", line=seen[key])
                    )
                else:
                    seen[key] = start
            rows.append(row)
    except csv.Error as error:
        problem(line, None, "", t("migrate.map.csv", error=error))
    if header is not None and not index.keys() - set(COLUMNS) and not rows and not problems:
        problem(None, None, "", t("migrate.map.no_rows"))
    if problems:
        raise InvalidMap(problems)
    return rows


def _check_row(
    record: list[str],
    index: dict[str, int],
    line: int,
    column: Callable[[int], int | None],
    problem: Callable[[int | None, int | None, str, str], None],
    mailboxes: dict[str, str],
    domains: set[str],
    entry: TenantEntry,
) -> MapRow | None:
    """One data row checked; ``None`` (with its problems recorded) when it is wrong."""
    login = record[index["old_login"]].strip()
    password = record[index["old_password"]]
    target = record[index["new_address"]].strip()

    def bad(name: str, message: str) -> None:
        problem(line, column(index[name]), name, message)

    if not login:
        bad("old_login", t("migrate.map.required"))
    elif any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in login):
        bad("old_login", t("migrate.map.login_chars"))
    # Never repeat a password in a message: say what is wrong with it, not what it is.
    if not password:
        bad("old_password", t("migrate.map.required"))
    elif any(ord(c) < 32 or ord(c) == 127 for c in password):
        bad("old_password", t("migrate.map.password_chars"))
    if not target:
        bad("new_address", t("migrate.map.required"))
        return None
    local, _, domain = target.lower().partition("@")
    if domain:
        try:
            a_label = to_a_label(domain)
        except PydanticCustomError as error:
            bad("new_address", error.message())
            return None
        if a_label not in domains:
            bad(
                "new_address",
                t(
                    "migrate.map.other_domain",
                    domain=domain,
                    tenant=entry.id,
                    domains=", ".join(to_u_label(d) for d in sorted(domains)),
                ),
            )
            return None
    if local not in mailboxes:
        known = ", ".join(sorted(mailboxes)) or "-"
        bad("new_address", t("migrate.map.no_mailbox", local=local, tenant=entry.id, known=known))
        return None
    # Returned even with a bad login or password, so that duplicates are reported too: any
    # problem recorded stops the whole map anyway.
    return MapRow(line, login, password, mailboxes[local])


# --- Running it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """Everything checked before anything runs: who goes where, from which server."""

    deployment: Deployment
    entry: TenantEntry
    server: str
    source: Source
    rows: tuple[MapRow, ...]
    ca_pem: str | None


def prepare(
    root: Path, tenant_id: str, source_url: str, map_path: Path, ca_path: Path | None
) -> Migration:
    """Load and check everything (deployment, --from, the map, --ca-file); raise on the
    first kind of problem, with every problem of the map at once."""
    deployment = load_deployment(root)
    entry = deployment.tenant(tenant_id)
    source = parse_source(source_url)
    ca_pem = read_ca_file(ca_path)
    rows = read_map(map_path, entry)
    server = deployment.placement(entry).name
    return Migration(deployment, entry, server, source, tuple(rows), ca_pem)


@contextlib.contextmanager
def secrets_file(passwords: dict[str, str]) -> Iterator[Path]:
    """The old passwords in a private file for the playbook's lookup, outside the
    deployment directory (in memory under /dev/shm when there is one), removed at the end.

    Not an environment variable: ansible-runner writes the environment of the run into its
    artifacts. Not an extra var: those are written into the run directory too.
    """
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="fnl-migrate-", dir=base))  # mode 0700
    path = directory / "passwords.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(passwords, handle)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


def _run(
    migration: Migration,
    run_id: str,
    run_dir: Path,
    action: str,
    extra: dict[str, Any],
    events: Callable[[str, dict], None] | None,
) -> runner.RunOutcome:
    request = runner.RunRequest(check=False, tenant=migration.entry.id, playbook="migrate.yml")
    run = runner.build_run(migration.deployment, request, run_id, run_dir, [])
    run.extravars.update(
        fnl_migrate_action=action,
        fnl_migrate_tenant=migration.entry.id,
        fnl_migrate_poll_seconds=POLL_SECONDS,
        fnl_migrate_follow_retries=FOLLOW_HOURS * 3600 // POLL_SECONDS,
        **extra,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "extravars.json").write_text(json.dumps(run.extravars, indent=1))
    return runner.execute(run, events)


def migrate(
    root: Path,
    tenant_id: str,
    source_url: str,
    map_path: Path,
    ca_path: Path | None = None,
    progress: Callable[[str, dict], None] | None = None,
) -> Result:
    """Copy every mailbox of the map from the old server, on the tenant's server.

    After each mailbox's copy, byte-identical extra copies of a message in a folder it
    wrote to are removed (``duplicates_removed``; ``after`` is counted once they are gone).
    Exit code 0 when every mailbox has at least as many messages as on the old server in
    each folder; 1 otherwise (or when the run failed); 130 when interrupted (the copy is
    stopped on the server too; running the same command again continues it).
    """
    migration = prepare(root, tenant_id, source_url, map_path, ca_path)
    run_id = runner.new_run_id() + "-migrate"
    run_dir = (root / runner.RUNS_DIR / run_id).resolve()
    busy: list[str] = []

    def events(kind: str, data: dict[str, Any]) -> None:
        res = data.get("res") or {}
        if kind == "runner_on_failed" and isinstance(res, dict) and res.get("fnl_migrate_busy"):
            busy.append(str(res.get("msg", "")))
        if progress is not None:
            progress(kind, data)

    mailboxes = [
        {"old_login": r.old_login, "new_address": r.new_address, "line": r.line}
        for r in migration.rows
    ]
    started = time.monotonic()
    interrupted = False
    with secrets_file({r.old_login: r.old_password for r in migration.rows}) as secrets:
        extra = {
            "fnl_migrate_source": migration.source.as_vars(),
            "fnl_migrate_ca_pem": migration.ca_pem or "",
            "fnl_migrate_mailboxes": mailboxes,
            "fnl_migrate_secrets_file": str(secrets),
        }
        try:
            outcome = _run(migration, run_id, run_dir, "start", extra, events)
            # ansible-runner turns SIGINT and SIGTERM into a cancelled run.
            interrupted = outcome.status == "canceled"
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        # Stop the worker on the server too: Ctrl-C means stop; what is copied stays.
        outcome = _run(migration, run_id, run_dir / "stop", "stop", {}, None)
    if busy:
        raise MigrationBusy(busy[0], t("migrate.busy.hint"))
    data = {
        "tenant": migration.entry.id,
        "server": migration.server,
        "source": migration.source.url,
        "run_id": run_id,
        "run_dir": str(run_dir),
        "duration_seconds": round(time.monotonic() - started, 1),
        "mailboxes": [_public(m) for m in outcome.migrations],
    }
    data["summary"] = {
        state: sum(1 for m in data["mailboxes"] if m.get("state") == state)
        for state in ("ok", "incomplete", "failed")
    }
    data["summary"]["copied"] = sum(int(m.get("copied") or 0) for m in data["mailboxes"])
    data["summary"]["duplicates_removed"] = sum(
        int(m.get("duplicates_removed") or 0) for m in data["mailboxes"]
    )
    (run_dir / "summary.json").write_text(json.dumps(data, ensure_ascii=False, indent=1))
    if interrupted:
        result = Result("migrate", data=data, exit_code=EXIT_INTERRUPTED)
        result.errors = [{"message": t("migrate.interrupted"), "hint": t("migrate.again")}]
        return result
    if outcome.failures or outcome.rc or len(data["mailboxes"]) != len(mailboxes):
        return Result.failed_run("migrate", outcome.failures, outcome.rc, data)
    exit_code = 0 if all(m.get("state") == "ok" for m in data["mailboxes"]) else 1
    return Result("migrate", data=data, exit_code=exit_code)


def _public(mailbox: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "server",
        "line",
        "old_login",
        "new_address",
        "state",
        "reason",
        "source",
        "before",
        "after",
        "copied",
        "duplicates_removed",
        "seconds",
        "source_folders",
        "short_folders",
    )
    return {k: mailbox.get(k) for k in keys}


# --- What the admin reads -----------------------------------------------------------------------


def _state_text(mailbox: dict[str, Any]) -> str:
    state = str(mailbox.get("state") or "")
    label = t(f"migrate.state.{state}") if state in ("ok", "incomplete", "failed") else state
    reason = mailbox.get("reason")
    return f"{label}: {reason}" if reason else label


def _count(value: Any) -> str:
    return "-" if value is None else str(value)


def render(data: dict[str, Any]) -> str:
    """The report: one row per mailbox, then a summary and where the run log is."""
    rows = [
        (
            m.get("old_login", ""),
            readable(str(m.get("new_address", ""))),
            _count(m.get("source")),
            _count(m.get("before")),
            _count(m.get("after")),
            _count(m.get("duplicates_removed")),
            _state_text(m),
        )
        for m in data.get("mailboxes", [])
    ]
    names = ("old", "new", "source", "before", "after", "duplicates")
    columns = [t(f"migrate.column.{c}") for c in names]
    lines = [table([*columns, t("migrate.column.state")], rows)] if rows else []
    summary = data.get("summary", {})
    lines.append(
        t(
            "migrate.summary",
            ok=summary.get("ok", 0),
            incomplete=summary.get("incomplete", 0),
            failed=summary.get("failed", 0),
            copied=summary.get("copied", 0),
            duplicates=summary.get("duplicates_removed", 0),
            seconds=data.get("duration_seconds", 0),
        )
    )
    lines.append(t("run.log", path=data.get("run_dir", "")))
    return "\n".join(lines)


class MigrationProgress:
    """Per-mailbox progress on stderr, from the events of the follow task."""

    #: Seconds between two "copied so far" lines for the same mailbox.
    EVERY = 10.0

    def __init__(self) -> None:
        self.console = stderr()
        self.seen: dict[int, tuple[str, float]] = {}

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        host = data.get("host", "")
        res = data.get("res") or {}
        if kind in ("runner_retry", "runner_on_ok") and isinstance(res, dict):
            for index, mailbox in enumerate(res.get("fnl_migrate_progress") or []):
                self._mailbox(host, index, len(res["fnl_migrate_progress"]), mailbox)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            self._line(f"[{host}] FAILED: {data.get('task', '')}")
        elif kind == "runner_on_unreachable":
            self._line(f"[{host}] UNREACHABLE")

    def _mailbox(self, host: str, index: int, total: int, mailbox: dict[str, Any]) -> None:
        state = str(mailbox.get("state", ""))
        if state == "pending":
            return
        last_state, last_time = self.seen.get(index, ("", 0.0))
        now = time.monotonic()
        if state == last_state and (state != "copying" or now - last_time < self.EVERY):
            return
        self.seen[index] = (state, now)
        head = (
            f"[{host}] {index + 1}/{total} {mailbox.get('old_login')} → "
            f"{readable(str(mailbox.get('new_address', '')))}"
        )
        if state == "counting":
            text = t("migrate.progress.counting")
        elif state == "copying" and state != last_state:
            text = t(
                "migrate.progress.copying",
                source=_count(mailbox.get("source")),
                before=_count(mailbox.get("before")),
            )
        elif state == "copying":
            text = t("migrate.progress.copied", copied=_count(mailbox.get("copied")))
        elif state == "checking":
            text = t("migrate.progress.checking")
        else:
            text = t(
                "migrate.progress.done",
                state=_state_text(mailbox),
                source=_count(mailbox.get("source")),
                after=_count(mailbox.get("after")),
                duplicates=_count(mailbox.get("duplicates_removed")),
                seconds=mailbox.get("seconds", 0),
            )
        self._line(f"{head}: {text}")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)
