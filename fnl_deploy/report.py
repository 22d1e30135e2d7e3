"""Everything the user reads: human text on a terminal, or one versioned JSON envelope."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from fnl_deploy.errors import FnlDeployError, InvalidDeployment, Problem
from fnl_deploy.i18n import t
from fnl_deploy.model.types import to_u_label

#: Version of the --json envelope; bump when a field changes meaning.
RESULT_VERSION = 1


@dataclass
class Result:
    """What a command produced: data for --json, text for humans, problems, exit code."""

    command: str
    data: Any = None
    exit_code: int = 0
    warnings: list[Problem] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        return "ok" if self.exit_code == 0 else "changes"

    @classmethod
    def failed_run(
        cls, command: str, failures: list[dict[str, str]], rc: int | None, data: Any = None
    ) -> Result:
        """A playbook run that failed (exit 1): one error per failed task, else its exit code."""
        errors = [
            {
                "message": ": ".join(filter(None, (f["server"], f.get("task"), f["message"]))),
                "hint": None,
            }
            for f in failures
        ] or [{"message": f"ansible-playbook exited with {rc}", "hint": None}]
        return cls(command, data=data, exit_code=1, errors=errors)

    def envelope(self) -> dict[str, Any]:
        return {
            "fnl_deploy_result_version": RESULT_VERSION,
            "command": self.command,
            "status": self.status,
            "exit_code": self.exit_code,
            "data": self.data,
            "errors": self.errors,
            "warnings": [w.as_dict() for w in self.warnings],
        }


def say(text: str) -> None:
    """Plain text on stdout: no markup interpretation, no wrapping."""
    sys.stdout.write(text + "\n")


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def print_json(result: Result) -> None:
    sys.stdout.write(json.dumps(result.envelope(), ensure_ascii=False, indent=2) + "\n")


def error_result(command: str, error: FnlDeployError) -> Result:
    """The envelope of a failed command; problems of an invalid deployment listed one by one."""
    result = Result(command, exit_code=error.exit_code)
    if isinstance(error, InvalidDeployment):
        result.errors = [p.as_dict() for p in error.problems if p.severity == "error"]
        result.warnings = [p for p in error.problems if p.severity != "error"]
    else:
        result.errors = [{"message": error.message, "hint": error.hint}]
    return result


def print_error(error: FnlDeployError) -> None:
    console = stderr()
    if isinstance(error, InvalidDeployment):
        for problem in error.problems:
            label = t("error.prefix") if problem.severity == "error" else t("warning.prefix")
            console.print(f"{problem}  [dim]({label.lower()})[/dim]", markup=True)
        errors = sum(1 for p in error.problems if p.severity == "error")
        console.print(f"[bold red]{t('validate.failed', count=errors)}[/bold red]")
    else:
        console.print(f"[bold red]{t('error.prefix')}:[/bold red] {error.message}", markup=True)
    if error.hint:
        console.print(f"[bold]{t('hint.prefix')}:[/bold] {error.hint}")


def print_warnings(warnings: list[Problem]) -> None:
    console = stderr()
    for warning in warnings:
        console.print(f"[yellow]{t('warning.prefix')}:[/yellow] {warning}")


def table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Aligned plain columns, never folded, so values copy and paste whole."""
    cells = [[str(c) for c in columns], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- plan and apply ------------------------------------------------------------------------


_IDN = re.compile(r"(?<![\w-])((?:[a-z0-9-]+\.)*xn--[a-z0-9-]+(?:\.[a-z0-9-]+)*)")


def readable(text: str) -> str:
    """Show internationalised domains as people write them: xn--chevis-9ua.fr → échevis.fr."""
    return _IDN.sub(lambda m: to_u_label(m.group(1)), text)


def render_changes(data: dict[str, Any], planned: bool) -> str:
    """Changes grouped by tenant and service, then per-server configuration, then a summary."""
    lines: list[str] = []
    for server in data.get("never_provisioned", []):
        lines.append(t("plan.never_provisioned", server=server))
    for warning in data.get("warnings", []):
        lines.append(t("plan.warning", server=warning["server"], message=warning["message"]))
    changes = data.get("changes", [])
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    by_server: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        if change.get("tenant"):
            by_tenant.setdefault(change["tenant"], []).append(change)
        else:
            by_server.setdefault(change["server"], []).append(change)
    for tenant, items in sorted(by_tenant.items()):
        lines.append(f"{t('plan.tenant')} {tenant}")
        for service in sorted({c["service"] for c in items}):
            lines.append(f"  {service}")
            for c in (c for c in items if c["service"] == service):
                detail = f"  ({readable(c['detail'])})" if c["detail"] else ""
                lines.append(f"    {c['action']} {c['kind']} {readable(c['name'])}{detail}")
    for server, items in sorted(by_server.items()):
        lines.append(f"{t('plan.server')} {server}")
        for service in sorted({c["service"] for c in items}):
            lines.append(f"  {service}")
            for c in (c for c in items if c["service"] == service):
                lines.append(f"    {c['action']} {c['name']}")
                for diff_line in c.get("diff", "").splitlines():
                    lines.append(f"        {diff_line}")
    summary = data.get("summary", {"add": 0, "change": 0, "disable": 0})
    key = "plan.summary" if planned else "apply.summary"
    lines.append(t(key, **summary))
    if not planned:
        for host, stats in data.get("stats", {}).items():
            lines.append(t("apply.host", host=host, **stats))
    lines.append(t("run.log", path=data.get("run_dir", "")))
    return "\n".join(lines)


def render_archives(data: dict[str, Any]) -> str:
    """Archives of removed mailboxes, one row each, with a status an admin can act on."""
    archives = data["archives"]
    if not archives:
        return t("archive.none")
    rows = []
    for a in archives:
        if not a.get("present"):
            state = t("archive.missing")
        elif a.get("verified") is True:
            state = t("archive.verified")
        elif a.get("verified") is False:
            state = t("archive.corrupt")
        else:
            state = t("archive.present")
        rows.append(
            (
                a.get("tenant", ""),
                readable(a.get("address", "")),
                a.get("created", ""),
                a.get("messages", 0),
                human_size(int(a.get("bytes", 0))),
                f"{a.get('server', '')}:{a.get('archive', '')}",
                a.get("sha256", "")[:16],
                state,
            )
        )
    columns = ["tenant", "address", "archived", "messages", "size", "archive", "sha256", "state"]
    return table(columns, rows)


def human_size(n: float) -> str:
    """Bytes as people read them: 1.5 GiB, 300.0 MiB, 12 B."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n:.0f} B"


def render_failures(data: dict[str, Any]) -> str:
    return "\n".join(
        f"{f['server']}: {f['task']}: {f['message']}" for f in data.get("failures", [])
    )


class Progress:
    """Live progress of a run on stderr: a spinner on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self.console = stderr()
        self.live = self.console.is_terminal and not self.console.is_dumb_terminal
        self.status = self.console.status("") if self.live else None
        self.task = ""

    def __enter__(self) -> Progress:
        if self.status is not None:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        host = data.get("host", "")
        if kind == "playbook_on_play_start":
            self._line(f"== {data.get('play', '')}")
        elif kind == "playbook_on_task_start":
            self.task = data.get("task", "")
            if self.status is not None:
                self.status.update(self.task)
        elif kind == "runner_on_ok" and (data.get("res") or {}).get("changed"):
            self._line(f"[{host}] changed: {data.get('task', '')}")
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            self._line(f"[{host}] FAILED: {data.get('task', '')}")
        elif kind == "runner_on_unreachable":
            self._line(f"[{host}] UNREACHABLE")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)
