"""The lab: real Debian 12 servers reached over SSH with become, like production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fnl_deploy import lab
from tests.e2e.conftest import LAB, fnl, server_exec

pytestmark = pytest.mark.lab

ANSIBLE = str(Path(sys.executable).parent / "ansible")


def ansible(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [ANSIBLE, "-i", str(LAB / "hosts.yml"), "fnl_servers", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_servers_answer_ansible_ping_over_ssh_with_become(lab_up, tmp_path):
    # From another working directory: the key path in hosts.yml is relative to the inventory.
    result = ansible("-b", "-m", "ansible.builtin.ping", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(lab_up) == 2


def test_become_makes_the_fnl_account_root(lab_up):
    result = ansible("-m", "ansible.builtin.command", "-a", "id -un", "-e", "ansible_become=false")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\nfnl") == 2
    result = ansible("-b", "-m", "ansible.builtin.command", "-a", "id -un")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\nroot") == 2


@pytest.mark.parametrize(
    "server,fqdn", [("mail1", "mail1.alpes-numerique.fr"), ("mail2", "mail2.alpes-numerique.fr")]
)
def test_servers_run_systemd_with_their_names(lab_up, server, fqdn):
    state = server_exec(server, "systemctl", "is-system-running").stdout.strip()
    assert state in ("running", "degraded")
    assert server_exec(server, "hostname", "-f").stdout.strip() == fqdn


def test_servers_reach_each_other_by_name(lab_up):
    result = server_exec("mail1", "getent", "hosts", "mail2.alpes-numerique.fr")
    assert result.stdout.split()[0] == lab.lab_servers(LAB)[1].address


def test_lab_status_lists_running_servers(lab_up):
    result = fnl("lab", "status")
    assert result.rc == 0
    assert result.stdout.count("running") == 2
    assert "127.0.0.1:10022" in result.stdout and "127.0.0.1:20022" in result.stdout


def test_lab_up_again_keeps_the_running_servers(lab_up):
    before = [server_exec(s.name, "cat", "/proc/1/stat").stdout.split()[21] for s in lab_up]
    assert [s.state for s in lab.up(LAB)] == ["running", "running"]
    after = [server_exec(s.name, "cat", "/proc/1/stat").stdout.split()[21] for s in lab_up]
    assert after == before  # same init start time: not restarted


def test_doctor_finds_this_machine_ready():
    result = fnl("lab", "doctor")
    assert result.rc == 0, result.stdout
    assert "FAIL" not in result.stdout
    assert "systemd container" in result.stdout
