"""The runner's pure parts: the ansible-playbook run it builds and how it reads events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fnl_deploy import runner
from fnl_deploy.deployment import load_deployment
from fnl_deploy.report import render_changes

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example"


@pytest.fixture(scope="module")
def deployment():
    return load_deployment(EXAMPLE)


def test_plan_runs_in_check_mode_with_diff(deployment, tmp_path):
    run = runner.build_run(deployment, runner.RunRequest(check=True), "r1", tmp_path, [])
    argv = run.argv()
    assert argv[0] == "ansible-playbook"
    assert "--check" in argv and "--diff" in argv
    assert argv[-1].endswith("playbooks/site.yml")
    assert argv[argv.index("-i") + 1] == str(EXAMPLE / "hosts.yml")
    assert run.extravars["fnl_desired_dir"] == str(tmp_path / "desired")


def test_apply_is_not_check_mode(deployment, tmp_path):
    run = runner.build_run(deployment, runner.RunRequest(check=False), "r1", tmp_path, ["old"])
    assert "--check" not in run.argv()
    assert run.extravars["fnl_stale_run_ids"] == ["old"]


def test_tenant_narrows_to_its_server_and_scope(deployment, tmp_path):
    request = runner.RunRequest(check=True, tenant="voiron")
    run = runner.build_run(deployment, request, "r1", tmp_path, [])
    assert run.limit == "mail2"
    assert run.extravars["fnl_tenant_scope"] == ["voiron"]
    request = runner.RunRequest(check=True, tenant="voiron", limit="mail1")
    assert runner.build_run(deployment, request, "r1", tmp_path, []).limit == "mail1:&mail2"


def test_runs_use_mitogens_strategy_unless_switched_off(deployment, tmp_path, monkeypatch):
    monkeypatch.delenv(runner.MITOGEN_SWITCH, raising=False)
    run = runner.build_run(deployment, runner.RunRequest(check=True), "r1", tmp_path, [])
    assert run.envvars["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(run.envvars["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    monkeypatch.setenv(runner.MITOGEN_SWITCH, "0")
    run = runner.build_run(deployment, runner.RunRequest(check=True), "r1", tmp_path, [])
    assert "ANSIBLE_STRATEGY" not in run.envvars


def test_no_secret_or_shell_in_argv(deployment, tmp_path):
    run = runner.build_run(deployment, runner.RunRequest(check=False), "r1", tmp_path, [])
    # Extra vars travel in a file, never on the command line.
    assert all("{" not in arg for arg in run.argv())


def test_prepare_run_dir_writes_desired_state_per_server(deployment, tmp_path):
    run = runner.build_run(deployment, runner.RunRequest(check=True), "r1", tmp_path, [])
    runner.prepare_run_dir(deployment, run, "plan")
    assert sorted(p.name for p in (tmp_path / "desired").iterdir()) == [
        "fnl.placements.json",
        "mail1.json",
        "mail2.json",
    ]
    mail2 = json.loads((tmp_path / "desired" / "mail2.json").read_text())
    assert {t["id"] for t in mail2["tenants"]} == {"voiron", "l-abergement-clemenciat"}
    # Where each commune lives, for the move play of site.yml.
    placed = json.loads((tmp_path / "desired" / "fnl.placements.json").read_text())
    assert placed["placements"]["voiron"] == "mail2"
    assert placed["placements"]["ambel"] == "mail1"
    assert placed["fqdns"]["mail2"] == "mail2.alpes-numerique.fr"
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["finished"] is False and record["pid"] == os.getpid()


def test_stale_runs_are_dead_unfinished_runs_of_this_controller(tmp_path):
    import socket

    runs = tmp_path / runner.RUNS_DIR
    for run_id, pid, finished in [
        ("dead", 2**22 + 7, False),
        ("alive", os.getpid(), False),
        ("done", 2**22 + 9, True),
    ]:
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "run.json").write_text(
            json.dumps(
                {
                    "run_id": run_id,
                    "pid": pid,
                    "finished": finished,
                    "controller": socket.gethostname(),
                }
            )
        )
    assert runner.stale_run_ids(tmp_path) == ["dead", "done"]
    # A killed run's credentials (backup passphrases in clear) go; a live run keeps its own.
    for run_id in ("dead", "alive"):
        (runs / run_id / "credentials").mkdir()
        (runs / run_id / "credentials" / "mail1.json").write_text("{}")
    runner.forget_stale_credentials(tmp_path)
    assert not (runs / "dead" / "credentials").exists()
    assert (runs / "alive" / "credentials" / "mail1.json").exists()


def _event(kind, **data):
    return {"event": kind, "event_data": data}


def test_events_become_changes_and_stats(tmp_path):
    outcome = runner.RunOutcome("r1", tmp_path, check=True)
    collect = runner.EventCollector(outcome, None)
    collect(_event("playbook_on_task_start", task="Configure nftables"))
    collect(
        _event(
            "runner_on_ok",
            host="mail1",
            task="Configure nftables",
            role="base",
            task_action="ansible.builtin.template",
            res={
                "changed": True,
                "diff": [
                    {
                        "before": "a\n",
                        "after": "b\n",
                        "before_header": "/etc/nftables.conf",
                        "after_header": "/etc/nftables.conf",
                    }
                ],
            },
        )
    )
    collect(
        _event(
            "runner_on_ok",
            host="mail1",
            task="Sync directory",
            role="directory",
            task_action="fnl_directory",
            res={
                "changed": True,
                "fnl_changes": [
                    {
                        "tenant": "ambel",
                        "service": "mail",
                        "action": "+",
                        "kind": "mailbox",
                        "name": "anne.vial@mairie-ambel.fr",
                    }
                ],
            },
        )
    )
    collect(
        _event(
            "runner_on_ok",
            host="mail1",
            task="Take the lock",
            task_action="fnl_lock",
            res={"changed": True},
        )
    )
    collect(
        _event(
            "runner_on_ok",
            host="mail2",
            task="Read marker",
            task_action="fnl_state",
            res={"changed": False, "provisioned": False},
        )
    )
    collect(
        _event(
            "playbook_on_stats",
            ok={"mail1": 3},
            changed={"mail1": 2},
            failures={},
            dark={},
            skipped={},
        )
    )
    assert [(c.action, c.kind) for c in outcome.changes] == [("~", "task"), ("+", "mailbox")]
    assert "-a" in outcome.changes[0].diff and "+b" in outcome.changes[0].diff
    assert outcome.never_provisioned == ["mail2"]
    assert outcome.stats["mail1"].changed == 2
    assert outcome.tasks == 1
    data = outcome.as_dict()
    data["summary"] = {"add": 1, "change": 1, "disable": 0}
    text = render_changes(data, planned=True)
    assert "+ mailbox anne.vial@mairie-ambel.fr" in text
    assert text.index("Tenant ambel") < text.index("Server mail1")
    assert "Plan: 1 to add, 1 to change, 0 to disable." in text
    assert "mail2: never provisioned" in text


def test_a_held_lock_is_reported_with_its_holder(tmp_path):
    outcome = runner.RunOutcome("r1", tmp_path, check=False)
    collect = runner.EventCollector(outcome, None)
    holder = {
        "holder": "alice@laptop (pid 12)",
        "started_at": "2026-11-28T10:00:00Z",
        "run_id": "x",
    }
    collect(
        _event(
            "runner_on_failed",
            host="mail1",
            task="Take the platform lock",
            task_action="fnl_lock",
            res={"msg": "held", "fnl_lock_holder": holder},
        )
    )
    assert json.loads(outcome.failures[0]["lock_holder"])["holder"] == "alice@laptop (pid 12)"


def test_dkim_keys_and_archives_reported_by_modules_are_collected():
    outcome = runner.RunOutcome("r", Path("/tmp/r"), check=True)
    collect = runner.EventCollector(outcome, None)
    key = {"selector": "fnl202611", "public_key": "MIIB"}
    collect(
        _event(
            "runner_on_ok",
            host="mail1",
            task="Sync DKIM keys",
            task_action="fnl_mailstore",
            res={"changed": False, "fnl_dkim": {"mairie-ambel.fr": key}, "fnl_changes": []},
        )
    )
    collect(
        _event(
            "runner_on_ok",
            host="mail2",
            task="Read the archive index",
            task_action="fnl_archives",
            res={"changed": False, "fnl_archives": [{"address": "a@voiron.fr"}]},
        )
    )
    assert outcome.dkim == {"mairie-ambel.fr": key}
    assert outcome.archives == [{"server": "mail2", "address": "a@voiron.fr"}]
    assert outcome.changes == []


def test_our_modules_warnings_reach_the_report_and_ansibles_do_not():
    # A commune whose ACME order failed must be seen; a plan's "failed to look up user"
    # for an account the run would create is noise.
    outcome = runner.RunOutcome("r", Path("/tmp/r"), check=True)
    collect = runner.EventCollector(outcome, None)
    refused = "certbot could not get fnl-voiron.fr (the certificate it has stays)"
    collect(
        _event(
            "runner_on_ok",
            host="mail1",
            task="Get the certificate from the ACME server",
            task_action="fnl_acme",
            res={"changed": False, "warnings": [refused]},
        )
    )
    collect(
        _event(
            "runner_on_ok",
            host="mail1",
            task="Create the mail store",
            task_action="ansible.builtin.file",
            res={"changed": True, "warnings": ["failed to look up user vmail"]},
        )
    )
    assert outcome.warnings == [
        {"server": "mail1", "task": "Get the certificate from the ACME server", "message": refused}
    ]
    assert "warning: certbot could not get fnl-voiron.fr" in render_changes(
        outcome.as_dict(), planned=True
    )
