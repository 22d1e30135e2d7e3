"""Everything the user reads: human text on a terminal, or one versioned JSON envelope."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from fnl_deploy.errors import FnlDeployError, InvalidDeployment, Problem
from fnl_deploy.i18n import t

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


def stdout() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


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
