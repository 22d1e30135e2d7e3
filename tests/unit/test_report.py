"""Result envelopes: a failed playbook run reads the same from every command."""

from __future__ import annotations

from fnl_deploy.report import Result


def test_a_failed_run_names_server_task_and_message():
    failures = [{"server": "mail2", "task": "Run the backup", "message": "borg: repository locked"}]
    result = Result.failed_run("backup run", failures, 2, {"backups": []})
    assert result.exit_code == 1 and result.status == "error"
    assert result.errors == [
        {"message": "mail2: Run the backup: borg: repository locked", "hint": None}
    ]
    assert result.envelope()["data"] == {"backups": []}


def test_a_run_that_failed_without_a_failed_task_gives_the_exit_code():
    result = Result.failed_run("archive list", [], 4)
    assert result.errors == [{"message": "ansible-playbook exited with 4", "hint": None}]
