"""Initial passwords: generated once, kept encrypted (ansible-vault), hashed before shipping."""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fnl_deploy.errors import UsageError

#: The encrypted store, in the deployment directory (safe to keep in git: ansible-vault).
STORE = Path("secrets") / "passwords.vault"
#: Where the lab (and anyone who wants) keeps the vault password; ignored by git.
LOCAL_VAULT_PASSWORD = Path(".fnl") / "vault-password"
VAULT_PASSWORD_ENV = "FNL_DEPLOY_VAULT_PASSWORD_FILE"
#: Verified by Dovecot 2.3 (Debian 12: `doveadm pw -t`) with these parameters.
HASH_SCHEME = "{ARGON2ID}"
# Easy to read aloud from a welcome sheet: no 0/O, 1/l/I.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def vault_password_file(root: Path) -> Path:
    """The vault password: FNL_DEPLOY_VAULT_PASSWORD_FILE, else <root>/.fnl/vault-password."""
    explicit = os.environ.get(VAULT_PASSWORD_ENV)
    path = Path(explicit) if explicit else root / LOCAL_VAULT_PASSWORD
    if not path.is_file():
        raise UsageError(
            f"no vault password: {path} does not exist",
            f"set {VAULT_PASSWORD_ENV}=/path/to/file (outside git), or create "
            f"{root / LOCAL_VAULT_PASSWORD} (mode 600); `fnl-deploy lab up` makes one for the lab",
        )
    return path


def create_local_vault_password(root: Path) -> Path:
    path = root / LOCAL_VAULT_PASSWORD
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return path


def generate_password(length: int = 16) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_password(password: str) -> str:
    import argon2  # late: only applies need it

    hasher = argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)
    return HASH_SCHEME + hasher.hash(password)


def hash_passwords(passwords: list[str]) -> list[str]:
    """hash_password over many passwords, on every core: argon2 is slow by design (about
    0.15 s and 64 MiB each), and a new commune brings ten accounts, a new platform
    thousands. argon2-cffi releases the GIL while it hashes, so threads suffice."""
    if len(passwords) < 4:
        return [hash_password(p) for p in passwords]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(hash_password, passwords))


@dataclass
class PasswordStore:
    """address → {password, hash, created, reset}: encrypted at rest with ansible-vault.

    ``retired`` keeps, for the record, the entries of accounts that left the tenant files:
    an address given to someone new later gets a new password, never the old one.
    ``backup_passphrases`` (server → passphrase) open each server's Borg repository: kept
    here, a server rebuilt after a disaster can read its backups (role backup).
    """

    root: Path
    entries: dict[str, dict[str, Any]]
    retired: list[dict[str, Any]] = field(default_factory=list)
    backup_passphrases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path) -> PasswordStore:
        path = root / STORE
        if not path.exists():
            return cls(root, {})
        data = json.loads(_vault(root).decrypt(path.read_bytes()))
        if "accounts" not in data:  # the first format: a flat address → entry mapping
            return cls(root, data)
        return cls(
            root, data["accounts"], data.get("retired", []), data.get("backup_passphrases", {})
        )

    def save(self) -> None:
        path = self.root / STORE
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {
                "accounts": self.entries,
                "retired": self.retired,
                "backup_passphrases": self.backup_passphrases,
            },
            sort_keys=True,
            indent=1,
        ).encode()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(_vault(self.root).encrypt(payload))
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    def ensure(self, addresses: list[str]) -> list[str]:
        """Give every address without a password one; return the new ones."""
        created = list(dict.fromkeys(a for a in addresses if a not in self.entries))
        passwords = [generate_password() for _ in created]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for address, password, hashed in zip(
            created, passwords, hash_passwords(passwords), strict=True
        ):
            self.entries[address] = {
                "password": password,
                "hash": hashed,
                "created": now,
                "reset": False,
            }
        return created

    def ensure_backup_passphrases(self, servers: list[str]) -> list[str]:
        """Give every server without one a Borg passphrase; return those servers."""
        created = [s for s in servers if s not in self.backup_passphrases]
        for server in created:
            self.backup_passphrases[server] = secrets.token_urlsafe(32)
        return created

    def carry_over(self, renames: dict[str, list[str]]) -> list[str]:
        """A renamed account keeps its password: its entry moves from a former address to
        the new one (the server keeps the hash; the welcome sheet must show the same one).
        Returns the new addresses that took an entry."""
        moved = []
        for address, formers in sorted(renames.items()):
            if address in self.entries:
                continue
            for former in formers:
                if former in self.entries:
                    self.entries[address] = self.entries.pop(former)
                    moved.append(address)
                    break
        return moved

    def reset(self, address: str) -> str:
        password = generate_password()
        self.entries[address] = {
            **self.entries.get(address, {}),
            "password": password,
            "hash": hash_password(password),
            "reset": True,
        }
        return password

    def credentials(self, addresses: list[str]) -> dict[str, Any]:
        """What a server receives: hashes only, and which accounts to reset."""
        return {
            "hashes": {a: self.entries[a]["hash"] for a in sorted(addresses) if a in self.entries},
            "resets": sorted(a for a in addresses if self.entries.get(a, {}).get("reset")),
        }

    def retire_all_but(self, addresses: list[str]) -> list[str]:
        """Set aside the entries of accounts no longer in the files; return their addresses."""
        keep = set(addresses)
        gone = sorted(a for a in self.entries if a not in keep)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for address in gone:
            self.retired.append({"address": address, "retired": stamp, **self.entries.pop(address)})
        return gone

    def clear_resets(self, addresses: list[str]) -> None:
        for address in addresses:
            if address in self.entries:
                self.entries[address]["reset"] = False


def _vault(root: Path) -> Any:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = vault_password_file(root).read_bytes().strip()
    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(secret))])
