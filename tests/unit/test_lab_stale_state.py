"""A host restored from a snapshot: Podman's "running" containers without processes.

Seen in CI: the lab's containers were recorded as running, their processes gone, and
`podman rm -f` timed out waiting for an exit file. Checked by hand against Podman 4.3 with
a container whose conmon was killed; here the decisions around it, without Podman.
"""

from __future__ import annotations

import subprocess

import pytest

from fnl_deploy import lab
from fnl_deploy.errors import LabError


class FakePodman:
    """Answers `inspect` from a state table; `ps` plays Podman's refresh of a missing marker."""

    def __init__(self, alive_file, states):
        self.alive_file = alive_file
        self.states = states
        self.calls = []

    def __call__(self, *args, check=True, capture=True):
        self.calls.append(args)
        if args[0] == "inspect":
            name = args[-1]
            if name not in self.states:
                return subprocess.CompletedProcess(args, 125, "", "no such container")
            return subprocess.CompletedProcess(args, 0, self.states[name] + "\n", "")
        if args[0] == "ps" and not self.alive_file.exists():
            self.states = {name: "created 0" for name in self.states}
            self.alive_file.touch()
        return subprocess.CompletedProcess(args, 0, "", "")


@pytest.fixture
def alive_file(tmp_path, monkeypatch):
    marker = tmp_path / "alive"
    marker.touch()
    monkeypatch.setattr(lab, "PODMAN_ALIVE_FILE", marker)
    monkeypatch.setattr(lab.os, "geteuid", lambda: 0)
    return marker


def test_a_running_state_without_conmon_is_refreshed_as_after_a_reboot(alive_file, monkeypatch):
    podman = FakePodman(alive_file, {"fnl-lab-mail1": "running 4194304"})  # no such pid
    monkeypatch.setattr(lab, "_podman", podman)
    monkeypatch.setattr(lab, "_any_conmon_running", lambda: False)

    assert lab._container_state("fnl-lab-mail1") == "created"
    assert ("ps", "-a", "-q") in podman.calls


def test_no_refresh_while_other_containers_really_run(alive_file, monkeypatch):
    podman = FakePodman(alive_file, {"fnl-lab-mail1": "running 4194304"})
    monkeypatch.setattr(lab, "_podman", podman)
    monkeypatch.setattr(lab, "_any_conmon_running", lambda: True)

    with pytest.raises(LabError, match="processes are gone"):
        lab._container_state("fnl-lab-mail1")
    assert alive_file.exists()


def test_a_container_whose_conmon_runs_is_left_alone(alive_file, monkeypatch):
    # This test's own process stands in for conmon: only the command name is checked.
    monkeypatch.setattr(lab, "_conmon_alive", lambda pid: pid == 1234)
    podman = FakePodman(alive_file, {"fnl-lab-mail1": "running 1234"})
    monkeypatch.setattr(lab, "_podman", podman)

    assert lab._container_state("fnl-lab-mail1") == "running"
    assert alive_file.exists()


def test_an_absent_container_is_absent(alive_file, monkeypatch):
    monkeypatch.setattr(lab, "_podman", FakePodman(alive_file, {}))
    assert lab._container_state("fnl-lab-mail9") == "absent"
