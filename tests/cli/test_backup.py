"""Backup and restore commands: what the controller decides before any server is touched
(the lab test, tests/e2e/test_restore.py, backs up, destroys and restores a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import envelope, run


@pytest.mark.parametrize(
    "command", [("restore", "mail9"), ("backup", "run", "mail9"), ("backup", "list", "mail9")]
)
def test_a_server_not_in_the_inventory_is_refused_before_anything_runs(
    example: Path, command: tuple[str, ...]
) -> None:
    result = run(*command, "-i", str(example), "--json")
    assert result.exit_code == 2
    message = envelope(result)["errors"][0]["message"]
    assert "mail9" in message and "mail1, mail2" in message
    assert not (example / ".fnl" / "runs").exists()


def test_restore_names_its_server() -> None:
    result = run("restore")
    assert result.exit_code == 2
    assert "SERVER" in result.stderr
