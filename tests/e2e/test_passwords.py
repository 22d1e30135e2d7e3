"""Passwords: generated at creation, stored encrypted, shipped as hashes, then the user's."""

from __future__ import annotations

import argon2
import pytest

from fnl_deploy.secrets import PasswordStore
from tests.e2e.conftest import LAB, fnl, server_exec

pytestmark = pytest.mark.lab

ADDRESS = "marie.martin@saint-etienne-de-crossey.fr"


def _hash(address: str) -> str:
    result = server_exec(
        "mail1",
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-At",
        "-d",
        "fnl_directory",
        "-c",
        f"SELECT password_hash FROM fnl.mailbox WHERE address = '{address}' AND state = 'active'",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _verifies(hashed: str, password: str) -> bool:
    try:
        return argon2.PasswordHasher().verify(hashed.removeprefix("{ARGON2ID}"), password)
    except argon2.exceptions.VerifyMismatchError:
        return False


def test_accounts_get_the_stored_password_as_a_hash(lab_platform):
    store = PasswordStore.open(LAB)
    assert _verifies(_hash(ADDRESS), store.entries[ADDRESS]["password"])
    # Shared mailboxes have no login of their own.
    assert _hash("mairie@saint-etienne-de-crossey.fr") == ""


def test_no_password_appears_in_run_logs(lab_platform):
    verbose = fnl("apply", "--print-ansible")
    assert verbose.rc == 0
    store = PasswordStore.open(LAB)
    # The Borg passphrases travel in the same staged file: in no log either.
    passwords = [e["password"] for e in store.entries.values()]
    passwords += list(store.backup_passphrases.values())
    assert store.backup_passphrases, "the lab's servers are backed up"
    for path in (LAB / ".fnl" / "runs").rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            for password in passwords:
                assert password.encode() not in text, f"password found in {path}"
    for password in passwords:
        assert password not in verbose.stdout + verbose.stderr


def test_a_password_changed_by_its_user_survives_apply(lab_platform):
    user_hash = "{ARGON2ID}" + argon2.PasswordHasher().hash("chosen by Marie")
    server_exec(
        "mail1",
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-d",
        "fnl_directory",
        "-c",
        f"UPDATE fnl.mailbox SET password_hash = '{user_hash}' WHERE address = '{ADDRESS}'",
    )
    assert fnl("apply").rc == 0
    assert _hash(ADDRESS) == user_hash


def test_password_reset_is_planned_then_applied_once(lab_platform):
    reset = fnl("password", "reset", ADDRESS)
    assert reset.rc == 0, reset.stderr
    new_password = PasswordStore.open(LAB).entries[ADDRESS]["password"]
    assert new_password in reset.stdout
    as_json = fnl("password", "reset", ADDRESS, "--json")
    newest = PasswordStore.open(LAB).entries[ADDRESS]["password"]
    assert newest not in as_json.stdout  # never in machine-readable output
    plan = fnl("plan")
    assert plan.rc == 2
    assert f"~ password {ADDRESS}  (reset)" in plan.stdout
    assert fnl("apply").rc == 0
    assert _verifies(_hash(ADDRESS), newest)
    assert not _verifies(_hash(ADDRESS), "chosen by Marie")
    assert fnl("plan").rc == 0  # the reset is not repeated
