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

    def __init__(self, alive_file, states, exits_dir=None):
        self.alive_file = alive_file
        self.exits_dir = exits_dir
        self.states = states
        self.calls = []

    def __call__(self, *args, check=True, capture=True):
        self.calls.append(args)
        if args[0] == "inspect":
            name = args[-1]
            if name not in self.states:
                return subprocess.CompletedProcess(args, 125, "", "no such container")
            if self.exits_dir and (self.exits_dir / f"id-{name}").exists():
                self.states[name] = "exited 0"  # Podman reads conmon's exit file
            answer = f"{self.states[name]} id-{name}\n"
            return subprocess.CompletedProcess(args, 0, answer, "")
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


def test_while_other_containers_run_only_this_one_is_settled(alive_file, tmp_path, monkeypatch):
    # Seen with a molecule scenario running beside a restored lab: refreshing all of
    # Podman's state would disturb it; conmon's missing exit file settles this one.
    exits = tmp_path / "exits"
    monkeypatch.setattr(lab, "PODMAN_EXITS_DIR", exits)
    podman = FakePodman(alive_file, {"fnl-lab-mail1": "running 4194304"}, exits_dir=exits)
    monkeypatch.setattr(lab, "_podman", podman)
    monkeypatch.setattr(lab, "_any_conmon_running", lambda: True)

    assert lab._container_state("fnl-lab-mail1") == "exited"
    assert (exits / "id-fnl-lab-mail1").read_text() == "137"  # no newline: Podman parses it
    assert alive_file.exists()
    assert ("ps", "-a", "-q") not in podman.calls


def test_a_state_that_will_not_settle_is_an_error(alive_file, tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "PODMAN_EXITS_DIR", tmp_path / "exits")
    podman = FakePodman(alive_file, {"fnl-lab-mail1": "running 4194304"})  # ignores the file
    monkeypatch.setattr(lab, "_podman", podman)
    monkeypatch.setattr(lab, "_any_conmon_running", lambda: True)

    with pytest.raises(LabError, match="processes are gone"):
        lab._container_state("fnl-lab-mail1")


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


def test_addresses_kept_from_a_snapshot_are_forgotten_when_nothing_runs(
    alive_file, tmp_path, monkeypatch
):
    # Seen at the start of a session restored from a snapshot: the network existed, and
    # `podman start` failed with "requested ip address 10.89.64.11 is already allocated to
    # container ID <the same container>".
    table = tmp_path / "ipam.db"
    table.write_bytes(b"stale")
    monkeypatch.setattr(lab, "NETAVARK_IPAM_DB", table)
    # Then "runc create failed: container with given ID already exists": runc's records.
    runc = tmp_path / "runc"
    for name, pid in (("gone", 999_999_999), ("alive", lab.os.getpid())):
        (runc / name).mkdir(parents=True)
        (runc / name / "state.json").write_text(f'{{"init_process_pid": {pid}}}')
    monkeypatch.setattr(lab, "RUNC_STATE_DIR", runc)
    monkeypatch.setattr(lab, "_podman", FakePodman(alive_file, {}))
    monkeypatch.setattr(lab, "_any_conmon_running", lambda: True)
    lab._ensure_network()
    assert table.exists(), "a running container's allocations must be kept"
    monkeypatch.setattr(lab, "_any_conmon_running", lambda: False)
    lab._ensure_network()
    assert not table.exists()
    assert sorted(p.name for p in runc.iterdir()) == ["alive"]
