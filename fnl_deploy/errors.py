"""The exceptions users can meet; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class FnlDeployError(Exception):
    """Root of every error a user can cause or fix; never shown as a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Problem:
    """One located problem in the deployment directory (file:line:column: field: message)."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


class InvalidDeployment(FnlDeployError):
    """The deployment directory has errors; nothing may run. Exit code 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem], hint: str | None = None) -> None:
        self.problems = problems
        count = sum(1 for p in problems if p.severity == "error")
        super().__init__(f"{count} error(s) in the deployment directory", hint)


class UsageError(FnlDeployError):
    """A command was called with arguments that cannot work. Exit code 2."""

    exit_code = 2


class LabError(FnlDeployError):
    """The local lab cannot be built, started or reached."""


class RunError(FnlDeployError):
    """An Ansible run failed or could not start."""


class LockHeld(FnlDeployError):
    """Another apply holds the platform lock."""

    exit_code = 3
