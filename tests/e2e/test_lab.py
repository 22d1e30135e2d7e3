"""The lab: real Debian 12 servers reached over SSH with become, like production."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import LAB, fnl, server_exec

pytestmark = pytest.mark.lab


def test_servers_answer_over_ssh_with_become(lab_platform):
    ansible = str(Path(sys.executable).parent / "ansible")
    result = subprocess.run(
        [
            ansible,
            "-i",
            str(LAB / "hosts.yml"),
            "fnl_servers",
            "-b",
            "-m",
            "ansible.builtin.command",
            "-a",
            "id -un",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("root") == 2


@pytest.mark.parametrize(
    "server,fqdn", [("mail1", "mail1.alpes-numerique.fr"), ("mail2", "mail2.alpes-numerique.fr")]
)
def test_servers_run_systemd_with_their_names(lab_platform, server, fqdn):
    state = server_exec(server, "systemctl", "is-system-running").stdout.strip()
    assert state in ("running", "degraded")
    assert server_exec(server, "hostname", "-f").stdout.strip() == fqdn


def test_lab_status_lists_running_servers(lab_platform):
    result = fnl("lab", "status")
    assert result.rc == 0
    assert result.stdout.count("running") == 2
    assert "127.0.0.1:10022" in result.stdout and "127.0.0.1:20022" in result.stdout


def test_doctor_finds_this_machine_ready():
    result = fnl("lab", "doctor")
    assert result.rc == 0, result.stdout
    assert "FAIL" not in result.stdout
