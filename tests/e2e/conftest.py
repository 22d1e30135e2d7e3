"""The lab, shared by every end-to-end test: brought up fresh once per session."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fnl_deploy import lab

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventories" / "lab"
FNL = [sys.executable, "-m", "fnl_deploy.cli"]


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str


def fnl(*args: str, inventory: Path = LAB, timeout: float = 900) -> Run:
    """Run the real CLI in a new process, as an admin would."""
    env = {**os.environ, "FNL_DEPLOY_LANG": "en", "NO_COLOR": "1"}
    result = subprocess.run(
        [*FNL, *args, "-i", str(inventory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return Run(result.returncode, result.stdout, result.stderr)


def server_exec(server: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", "exec", lab.CONTAINER_PREFIX + server, *command],
        capture_output=True,
        text=True,
        check=False,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Disaster drills (a lab server destroyed, then restored) run last: every other test
    then meets the servers as the first apply made them."""
    items.sort(key=lambda item: item.get_closest_marker("disaster") is not None)


@pytest.fixture(scope="session")
def lab_up() -> list[lab.LabServer]:
    """The lab's servers, started if needed (a running lab is kept as it is)."""
    return lab.up(LAB)


@dataclass
class Lab:
    inventory: Path
    first_plan: Run
    first_apply: Run


@pytest.fixture(scope="session")
def lab_platform() -> Lab:
    """A fresh lab (new containers), planned then applied once with the example communes.

    Recreating the containers costs ~20 s with the image cached, and makes the first plan
    a plan against never-provisioned servers, as on a new platform.
    FNL_TEST_REUSE_LAB=1 (for developers iterating on tests, never in CI) keeps the running
    lab instead, so the "first" plan is then whatever is pending; FNL_TEST_REUSE_LAB=applied
    also skips that plan and apply.
    """
    reuse = os.environ.get("FNL_TEST_REUSE_LAB")
    if reuse == "applied":
        # Developers only: the running lab is taken as applied (no plan, no apply), so
        # tests that apply nothing can run beside another engineer's applies.
        return Lab(LAB, Run(0, "", ""), Run(0, "", ""))
    if reuse != "1":
        lab.down(LAB)
    lab.up(LAB)
    first_plan = fnl("plan")
    first_apply = fnl("apply")
    assert first_apply.rc == 0, first_apply.stdout + first_apply.stderr
    return Lab(LAB, first_plan, first_apply)


@pytest.fixture
def lab_copy(lab_platform: Lab, tmp_path: Path) -> Path:
    """A copy of the lab deployment directory that a test may edit (same servers)."""
    copy = tmp_path / "lab"
    shutil.copytree(
        lab_platform.inventory, copy, symlinks=False, ignore=shutil.ignore_patterns("runs")
    )
    return copy


@functools.cache
def acme_root() -> str:
    """The lab CA's root (Pebble, PEM): every certificate of an applied lab chains to it."""
    return lab.acme_root(LAB)
