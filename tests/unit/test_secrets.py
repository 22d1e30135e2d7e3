"""The password store: encrypted at rest, generated once, shipped as hashes only."""

from __future__ import annotations

import argon2
import pytest

from fnl_deploy import secrets
from fnl_deploy.errors import UsageError


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv(secrets.VAULT_PASSWORD_ENV, raising=False)
    secrets.create_local_vault_password(tmp_path)
    return tmp_path


def test_passwords_are_generated_once_and_stored_encrypted(root):
    store = secrets.PasswordStore.open(root)
    assert store.ensure(["a@x.fr", "b@x.fr"]) == ["a@x.fr", "b@x.fr"]
    store.save()
    password = store.entries["a@x.fr"]["password"]
    raw = (root / secrets.STORE).read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256") and password.encode() not in raw
    again = secrets.PasswordStore.open(root)
    assert again.ensure(["a@x.fr", "c@x.fr"]) == ["c@x.fr"]
    assert again.entries["a@x.fr"]["password"] == password


def test_servers_get_hashes_that_verify_never_the_password(root):
    store = secrets.PasswordStore.open(root)
    store.ensure(["a@x.fr"])
    credentials = store.credentials(["a@x.fr", "unknown@x.fr"])
    hashed = credentials["hashes"]["a@x.fr"]
    assert hashed.startswith("{ARGON2ID}$argon2id$")
    assert argon2.PasswordHasher().verify(
        hashed.removeprefix("{ARGON2ID}"), store.entries["a@x.fr"]["password"]
    )
    assert store.entries["a@x.fr"]["password"] not in str(credentials)
    assert credentials["resets"] == []


def test_reset_is_shipped_until_applied(root):
    store = secrets.PasswordStore.open(root)
    store.ensure(["a@x.fr"])
    old = store.entries["a@x.fr"]["hash"]
    new_password = store.reset("a@x.fr")
    assert store.credentials(["a@x.fr"])["resets"] == ["a@x.fr"]
    assert store.entries["a@x.fr"]["hash"] != old
    assert store.entries["a@x.fr"]["password"] == new_password
    store.clear_resets(["a@x.fr"])
    assert store.credentials(["a@x.fr"])["resets"] == []


def test_without_a_vault_password_the_error_says_how_to_set_one(tmp_path, monkeypatch):
    monkeypatch.delenv(secrets.VAULT_PASSWORD_ENV, raising=False)
    (tmp_path / "secrets").mkdir()
    (tmp_path / secrets.STORE).write_text("$ANSIBLE_VAULT;1.1;AES256\n00\n")
    with pytest.raises(UsageError) as error:
        secrets.PasswordStore.open(tmp_path)
    assert secrets.VAULT_PASSWORD_ENV in error.value.hint


def test_generated_passwords_are_long_and_unambiguous():
    password = secrets.generate_password()
    assert len(password) == 16
    assert not set(password) & set("0O1lI")


def test_accounts_that_left_the_files_are_retired_and_a_new_owner_gets_a_new_password(root):
    store = secrets.PasswordStore.open(root)
    store.ensure(["a@x.fr", "b@x.fr"])
    old = store.entries["b@x.fr"]["password"]
    assert store.retire_all_but(["a@x.fr"]) == ["b@x.fr"]
    store.save()
    again = secrets.PasswordStore.open(root)
    assert list(again.entries) == ["a@x.fr"]
    assert again.retired[0]["address"] == "b@x.fr" and again.retired[0]["password"] == old
    assert again.ensure(["a@x.fr", "b@x.fr"]) == ["b@x.fr"]
    assert again.entries["b@x.fr"]["password"] != old


def test_each_server_gets_one_backup_passphrase_kept_encrypted(root):
    store = secrets.PasswordStore.open(root)
    assert store.ensure_backup_passphrases(["mail1", "mail2"]) == ["mail1", "mail2"]
    store.save()
    passphrase = store.backup_passphrases["mail1"]
    assert len(passphrase) >= 40 and passphrase != store.backup_passphrases["mail2"]
    assert passphrase.encode() not in (root / secrets.STORE).read_bytes()
    again = secrets.PasswordStore.open(root)
    assert again.ensure_backup_passphrases(["mail1", "mail2", "mail3"]) == ["mail3"]
    assert again.backup_passphrases["mail1"] == passphrase


def test_many_passwords_are_hashed_in_order_each_with_its_own_salt():
    passwords = [f"mot-de-passe-{n}" for n in range(6)]
    hashes = secrets.hash_passwords(passwords)
    assert len(set(hashes)) == 6
    for password, hashed in zip(passwords, hashes, strict=True):
        assert hashed.startswith(secrets.HASH_SCHEME)
        assert argon2.PasswordHasher().verify(hashed.removeprefix(secrets.HASH_SCHEME), password)
