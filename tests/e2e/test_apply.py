"""plan and apply against the lab: first install, idempotence, plan == apply, the lock."""

from __future__ import annotations

import imaplib
import json
import os
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import FNL, LAB, fnl, server_exec
from tests.e2e.mailclient import find, imap, password, send_inbound, token, wait_for

pytestmark = pytest.mark.lab

LOCK = "/var/lib/fnl-deploy/apply.lock"


def test_plan_on_new_servers_says_first_install(lab_platform):
    plan = lab_platform.first_plan
    assert plan.rc == 2, plan.stdout + plan.stderr  # changes pending, nothing failed
    assert "mail1: never provisioned by fnl-deploy" in plan.stdout
    assert "mail2: never provisioned by fnl-deploy" in plan.stdout
    assert "Install nftables" in plan.stdout


def test_apply_converges_and_second_apply_changes_nothing(lab_platform):
    assert "Applied:" in lab_platform.first_apply.stdout
    again = fnl("apply", "--json")
    envelope = json.loads(again.stdout)
    assert again.rc == 0 and envelope["status"] == "ok"
    assert envelope["data"]["changes"] == []
    assert all(s["changed"] == 0 for s in envelope["data"]["stats"].values())
    plan = fnl("plan")
    assert plan.rc == 0 and "Plan: 0 to add, 0 to change, 0 to disable." in plan.stdout


def test_firewall_is_up_on_the_servers(lab_platform):
    ruleset = server_exec("mail1", "nft", "list", "table", "inet", "fnl_filter").stdout
    assert "policy drop" in ruleset and "tcp dport 25 accept" in ruleset


def _changes(envelope: dict) -> list[tuple]:
    return sorted(
        (c["server"], c["service"], c["action"], c["kind"], c["name"], c["tenant"] or "")
        for c in envelope["data"]["changes"]
    )


def _run_log_summary(stdout: str) -> dict:
    """The summary a run keeps in its run log (the directory its last line names)."""
    run_dir = stdout.rsplit("Run log: ", 1)[1].split()[0]
    return json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))


def _directory(sql: str) -> list[str]:
    result = server_exec(
        "mail1", "runuser", "-u", "postgres", "--", "psql", "-At", "-d", "fnl_directory", "-c", sql
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


NOEL = "noel.berard@mairie-ambel.fr"


def test_plan_after_an_edit_shows_exactly_what_apply_does(lab_copy):
    tenant = lab_copy / "tenants" / "ambel.yml"
    text = tenant.read_text(encoding="utf-8")
    person = "people:\n  - id: adjoint\n    name: Noël Bérard\n    mailbox: noel.berard\n"
    tenant.write_text(text.replace("people:\n", person, 1), encoding="utf-8")
    # One plan, read twice: as a person reads it, and exactly, from its run log.
    human = fnl("plan", inventory=lab_copy)
    assert human.rc == 2, human.stdout
    assert (
        "Tenant ambel\n  mail\n    + mailbox noel.berard@mairie-ambel.fr  (2 GiB)" in human.stdout
    )
    assert "Plan: 1 to add, 1 to change, 0 to disable." in human.stdout
    planned = {"data": _run_log_summary(human.stdout)}
    assert planned["data"]["check"] is True
    assert _changes(planned) == [
        ("mail1", "mail", "+", "mailbox", NOEL, "ambel"),
        ("mail1", "site", "~", "task", "Record the desired state the server was converged to", ""),
    ]
    apply = fnl("apply", "--json", inventory=lab_copy)
    assert apply.rc == 0, apply.stdout
    assert _changes(json.loads(apply.stdout)) == _changes(planned)
    assert fnl("plan", inventory=lab_copy).rc == 0
    first_maildir = _directory(f"SELECT maildir FROM fnl.mailbox WHERE address = '{NOEL}'")
    first_password = password(NOEL, lab_copy)
    private = f"private {token()}"
    send_inbound("mail1", [NOEL], private)
    wait_for("mail1", NOEL, private, secret=first_password)

    # Removing the person disables the account, then archives its mail; nothing is lost.
    tenant.write_text(text, encoding="utf-8")
    removal = fnl("plan", inventory=lab_copy)
    assert "- mailbox noel.berard@mairie-ambel.fr  (disabled, login refused, mail kept)" in (
        removal.stdout
    )
    removed = fnl("apply", inventory=lab_copy)
    assert removed.rc == 0, removed.stdout
    assert "~ archive noel.berard@mairie-ambel.fr  (1 messages" in removed.stdout
    assert _directory(f"SELECT state FROM fnl.mailbox WHERE address = '{NOEL}'") == ["archived"]
    with pytest.raises(imaplib.IMAP4.error), imap("mail1", NOEL, first_password):
        pass
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # bounces: no successor declared
        send_inbound("mail1", [NOEL], f"after {token()}")

    # Given again to someone, the address starts with a new password and an empty mailbox.
    tenant.write_text(text.replace("people:\n", person, 1), encoding="utf-8")
    assert fnl("apply", inventory=lab_copy).rc == 0
    rows = _directory(
        f"SELECT state || ':' || maildir FROM fnl.mailbox WHERE address = '{NOEL}'"
        " ORDER BY created_at"
    )
    assert rows[0] == f"archived:{first_maildir[0]}"
    assert rows[1].startswith("active:") and rows[1] != f"active:{first_maildir[0]}"
    second_password = password(NOEL, lab_copy)
    assert second_password != first_password
    with imap("mail1", NOEL, second_password) as client:
        assert find(client, "INBOX", private) == []

    # Put the lab back as the example files describe it.
    tenant.write_text(text, encoding="utf-8")
    assert fnl("apply", inventory=lab_copy).rc == 0
    assert fnl("plan", inventory=lab_copy).rc == 0


def test_apply_for_one_tenant_leaves_the_others_pending(lab_copy):
    for name in ("ambel", "saint-etienne-de-crossey"):
        path = lab_copy / "tenants" / f"{name}.yml"
        path.write_text(
            path.read_text(encoding="utf-8").replace("- id: ", "- quota: 1 GiB\n    id: ", 1),
            encoding="utf-8",
        )
    applied = fnl("apply", "--tenant", "ambel", "--json", inventory=lab_copy)
    assert applied.rc == 0, applied.stdout
    assert {c["tenant"] for c in json.loads(applied.stdout)["data"]["changes"] if c["tenant"]} == {
        "ambel"
    }
    pending = json.loads(fnl("plan", "--json", inventory=lab_copy).stdout)
    assert {c["tenant"] for c in pending["data"]["changes"] if c["tenant"]} == {
        "saint-etienne-de-crossey"
    }
    # Back to the example files.
    for name in ("ambel", "saint-etienne-de-crossey"):
        (lab_copy / "tenants" / f"{name}.yml").write_text(
            (LAB / "tenants" / f"{name}.yml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    assert fnl("apply", inventory=lab_copy).rc == 0


def test_invalid_input_changes_nothing(lab_copy):
    tenant = lab_copy / "tenants" / "ambel.yml"
    tenant.write_text(
        tenant.read_text(encoding="utf-8").replace("anne.vial", "anne;vial"), encoding="utf-8"
    )
    before = server_exec("mail1", "cat", "/var/lib/fnl-deploy/desired.json").stdout
    result = fnl("apply", inventory=lab_copy)
    assert result.rc == 2
    assert "tenants/ambel.yml:" in result.stderr and "anne;vial" in result.stderr
    assert server_exec("mail1", "cat", "/var/lib/fnl-deploy/desired.json").stdout == before


def _start_apply() -> subprocess.Popen:
    env = {**os.environ, "FNL_DEPLOY_LANG": "en", "NO_COLOR": "1"}
    return subprocess.Popen(
        [*FNL, "apply", "-i", "inventories/lab"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _wait_for_lock(timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = server_exec("mail1", "cat", LOCK)
        if result.returncode == 0 and result.stdout.strip():
            return json.loads(result.stdout)
        time.sleep(0.2)
    raise AssertionError("the first apply never took the lock")


def test_a_second_apply_is_refused_while_one_runs(lab_platform, lab_copy):
    # Another admin's checkout, with a person the lab's files do not have.
    tenant = lab_copy / "tenants" / "ambel.yml"
    text = tenant.read_text(encoding="utf-8")
    person = "people:\n  - id: adjoint\n    name: Noël Bérard\n    mailbox: noel.berard\n"
    tenant.write_text(text.replace("people:\n", person, 1), encoding="utf-8")
    # Earlier tests may have left Noël's archived accounts: they must stay exactly so.
    noel = f"SELECT state || ':' || maildir FROM fnl.mailbox WHERE address = '{NOEL}'"
    noel_before = _directory(noel + " ORDER BY created_at")
    first = _start_apply()
    try:
        holder = _wait_for_lock()
        second = fnl("apply")
        assert second.rc == 3, second.stdout + second.stderr
        assert "another apply holds the platform lock" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert holder["started_at"] in second.stderr
        # A plan is not refused, and runs while the apply does: it must not hand its
        # tenant files to the apply (each run stages its desired state apart).
        assert first.poll() is None, "the apply ended before the plan began: nothing to test"
        other = fnl("plan", "--json", inventory=lab_copy)
        assert other.rc == 2, other.stdout + other.stderr
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err
    assert server_exec("mail1", "test", "-e", LOCK).returncode != 0  # released
    assert _directory(noel + " ORDER BY created_at") == noel_before
    assert fnl("plan").rc == 0
    # Every run's staging is gone with it (hashes, passphrases).
    assert server_exec("mail1", "ls", "-A", "/var/lib/fnl-deploy/staged").stdout == ""


def test_an_apply_killed_midway_is_rerun_and_converges(lab_platform):
    victim = _start_apply()
    _wait_for_lock()
    os.killpg(victim.pid, signal.SIGKILL)  # the controller dies: no cleanup runs
    victim.wait(timeout=30)
    assert server_exec("mail1", "test", "-e", LOCK).returncode == 0  # the lock outlived it
    rerun = fnl("apply")
    assert rerun.rc == 0, rerun.stdout + rerun.stderr
    assert fnl("plan").rc == 0
