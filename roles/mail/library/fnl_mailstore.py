#!/usr/bin/python
"""Ansible module: keep DKIM keys, shared-mailbox ACLs and archives in line with the directory."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_mailstore
short_description: DKIM keys, shared-mailbox ACLs and archives of removed mailboxes
description:
  - One call per server, whatever the number of tenants.
  - DKIM. Every domain of the desired state (alias domains included) gets one RSA key,
    generated on the server with rspamadm, readable only by rspamd, with a dated selector
    (fnlYYYYMM) kept in rspamd's selector map. Keys are never replaced or deleted here.
    Returns every domain's selector and public key as C(fnl_dkim), so the controller can
    publish them.
  - ACLs. Each shared mailbox gets a dovecot-acl file giving its members exactly the
    rights the directory holds (fnl.mail_shared_right: members of the same tenant only),
    then Dovecot's shared-mailbox index is recalculated.
  - Archives. A mailbox the directory disabled (removed from the tenant file) has its
    mail directory packed into a tar.gz with a SHA-256 manifest, verified by reading it
    back, and only then removed from the live store; the account becomes "archived".
    An index of archives is kept in archive_directory/index.json.
  - Check mode reports the keys it would generate and the archives it would make.
options:
  desired_file: {type: path, required: true, description: Desired state JSON.}
  database: {type: str, default: fnl_directory, description: Directory database.}
  vmail_directory: {type: path, default: /var/vmail, description: Root of the mail store.}
  dkim_directory: {type: path, default: /var/lib/rspamd/dkim, description: DKIM private keys.}
  dkim_selector_map: {type: path, default: /etc/rspamd/dkim_selectors.map, description: Selector map.}
  dkim_bits: {type: int, default: 2048, description: RSA key size.}
  archive_directory: {type: path, default: /var/lib/fnl-deploy/archives, description: Archives.}
"""

import base64
import datetime
import grp
import hashlib
import io
import json
import os
import pwd
import shutil
import subprocess
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_postgres import connect_as_postgres

try:
    import psycopg2
except ImportError:
    psycopg2 = None

#: IMAP rights (RFC 4314 letters, as Dovecot's vfile ACLs spell them) for each right a
#: tenant file can give. Nobody gets "a" (administer): users cannot re-share.
RIGHTS = {
    "read": "lrs",
    "write": "lrswipte",
    "full": "lrswipkxte",
}
OWNER_RIGHTS = "lrswipkxte"


def change(tenant, action, kind, name, detail=""):
    return {"tenant": tenant, "service": "mail", "action": action, "kind": kind,
            "name": name, "detail": detail}


def write_atomically(path, data, uid, gid, mode):
    tmp = path + ".fnl-tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


class Store:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.changes = []
        self.changed = False

    # --- DKIM -----------------------------------------------------------------------

    def domains(self, desired):
        """(domain, tenant id) for every domain the server signs for."""
        out = {}
        for tenant in desired["tenants"]:
            out[tenant["domain"]] = tenant["id"]
            for alias in tenant["alias_domains"]:
                out[alias] = tenant["id"]
        return out

    def read_selectors(self):
        selectors = {}
        for line in (read_text(self.params["dkim_selector_map"]) or "").splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                selectors[parts[0]] = parts[1]
        return selectors

    def key_path(self, domain, selector):
        return os.path.join(self.params["dkim_directory"], "%s.%s.key" % (domain, selector))

    def public_key(self, path):
        """The base64 DER public key as DKIM's p= wants it, cached next to the key."""
        cached = read_text(path + ".pub")
        if cached:
            return cached.strip()
        der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        public = base64.b64encode(der).decode()
        if not self.check:
            rspamd = pwd.getpwnam("_rspamd")
            write_atomically(path + ".pub", public.encode() + b"\n",
                             rspamd.pw_uid, rspamd.pw_gid, 0o644)
        return public

    def sync_dkim(self, desired):
        selectors = self.read_selectors()
        published = {}
        new_selector = "fnl" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m")
        for domain, tenant in sorted(self.domains(desired).items()):
            selector = selectors.get(domain)
            if selector and os.path.exists(self.key_path(domain, selector)):
                published[domain] = {"selector": selector,
                                     "public_key": self.public_key(self.key_path(domain, selector))}
                continue
            self.changes.append(change(tenant, "+", "dkim key", domain,
                                       "selector %s, RSA %d" % (new_selector,
                                                                self.params["dkim_bits"])))
            self.changed = True
            if self.check:
                continue
            path = self.key_path(domain, new_selector)
            subprocess.run(
                ["rspamadm", "dkim_keygen", "-b", str(self.params["dkim_bits"]),
                 "-s", new_selector, "-d", domain, "-k", path],
                check=True, capture_output=True,
            )
            rspamd = pwd.getpwnam("_rspamd")
            os.chown(path, rspamd.pw_uid, rspamd.pw_gid)
            os.chmod(path, 0o600)
            selectors[domain] = new_selector
            published[domain] = {"selector": new_selector, "public_key": self.public_key(path)}
        if not self.check:
            text = "".join("%s %s\n" % item for item in sorted(selectors.items()))
            if text != read_text(self.params["dkim_selector_map"]):
                write_atomically(self.params["dkim_selector_map"], text.encode(), 0,
                                 grp.getgrnam("_rspamd").gr_gid, 0o640)
                self.changed = True
        return published

    # --- Shared-mailbox ACLs --------------------------------------------------------

    def sync_acls(self, cur):
        cur.execute("SELECT address, maildir FROM fnl.mail_account WHERE kind = 'shared'")
        shared = dict(cur.fetchall())
        cur.execute("SELECT mailbox, member, rights FROM fnl.mail_shared_right")
        entries = {address: [] for address in shared}
        for mailbox, member, rights in cur.fetchall():
            entries[mailbox].append("user=%s %s" % (member, RIGHTS[rights]))
        vmail = pwd.getpwnam("vmail")
        for address, maildir in sorted(shared.items()):
            lines = ["owner %s" % OWNER_RIGHTS] + sorted(entries[address])
            wanted = "\n".join(lines) + "\n"
            root = os.path.join(self.params["vmail_directory"], maildir, "Maildir")
            path = os.path.join(root, "dovecot-acl")
            if read_text(path) == wanted:
                continue
            self.make_vmail_directories(root, vmail)
            write_atomically(path, wanted.encode(), vmail.pw_uid, vmail.pw_gid, 0o600)
            # The ACL files say who may open the mailbox; the shared index says whose
            # shared/ folder lists it. Recalculate it for the owner of the changed ACL.
            subprocess.run(["doveadm", "acl", "recalc", "-u", address],
                           check=True, capture_output=True)
            self.changed = True

    def make_vmail_directories(self, path, vmail):
        """Create path below the mail store level by level, each owned by vmail (Dovecot
        creates the rest of a mailbox as vmail and must be able to write in every level)."""
        current = self.params["vmail_directory"]
        for part in os.path.relpath(path, current).split(os.sep):
            current = os.path.join(current, part)
            if not os.path.isdir(current):
                os.mkdir(current, 0o700)
                os.chown(current, vmail.pw_uid, vmail.pw_gid)

    # --- Archives ---------------------------------------------------------------------

    def pending_archives(self, cur):
        cur.execute(
            "SELECT id::text, address, tenant_id, maildir FROM fnl.mailbox "
            "WHERE state = 'disabled' ORDER BY address, id"
        )
        return cur.fetchall()

    def archive(self, cur, mailbox_id, address, tenant, maildir):
        source = os.path.join(self.params["vmail_directory"], maildir)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        domain, name = maildir.split("/", 1)
        target_dir = os.path.join(self.params["archive_directory"], domain)
        base = os.path.join(target_dir, "%s-%s" % (name, stamp))
        if self.check:
            self.changes.append(change(tenant, "~", "archive", address,
                                       "mail packed into %s.tar.gz" % base))
            return
        subprocess.run(["doveadm", "kick", address], capture_output=True)
        os.makedirs(target_dir, mode=0o700, exist_ok=True)
        files = []
        if os.path.isdir(source):
            for directory, _dirs, names in os.walk(source):
                for filename in names:
                    full = os.path.join(directory, filename)
                    with open(full, "rb") as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                    files.append((os.path.relpath(full, source), digest, os.path.getsize(full)))
        files.sort()
        manifest = "".join("%s  %s\n" % (digest, rel) for rel, digest, _size in files)
        tar_path = base + ".tar.gz"
        with tarfile.open(tar_path + ".fnl-tmp", "w:gz") as tar:
            for rel, _digest, _size in files:
                tar.add(os.path.join(source, rel), arcname=rel, recursive=False)
            info = tarfile.TarInfo("SHA256SUMS")
            info.size = len(manifest.encode())
            tar.addfile(info, io.BytesIO(manifest.encode()))
        # Read the archive back: every file must come out with the digest it went in with.
        expected = {rel: digest for rel, digest, _size in files}
        seen = {}
        with tarfile.open(tar_path + ".fnl-tmp", "r:gz") as tar:
            for member in tar.getmembers():
                if member.name != "SHA256SUMS":
                    seen[member.name] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
        if seen != expected:
            os.unlink(tar_path + ".fnl-tmp")
            self.module.fail_json(msg="archive of %s did not verify; mail left in place" % address)
        os.chmod(tar_path + ".fnl-tmp", 0o600)
        os.replace(tar_path + ".fnl-tmp", tar_path)
        with open(tar_path, "rb") as handle:
            tar_digest = hashlib.sha256(handle.read()).hexdigest()
        write_atomically(base + ".manifest", manifest.encode(), 0, 0, 0o600)
        write_atomically(tar_path + ".sha256", ("%s  %s\n" % (tar_digest, os.path.basename(tar_path))).encode(), 0, 0, 0o600)
        messages = sum(1 for rel, _d, _s in files if "/cur/" in "/" + rel or "/new/" in "/" + rel)
        record = {
            "address": address, "tenant": tenant, "mailbox_id": mailbox_id,
            "archive": tar_path, "sha256": tar_digest, "manifest": base + ".manifest",
            "files": len(files), "messages": messages,
            "bytes": sum(size for _r, _d, size in files), "created": stamp,
        }
        self.add_to_index(record)
        if os.path.isdir(source):
            shutil.rmtree(source)
        cur.execute("UPDATE fnl.mailbox SET state = 'archived' WHERE id = %s", (mailbox_id,))
        self.changes.append(change(tenant, "~", "archive", address,
                                   "%d messages → %s" % (messages, tar_path)))
        self.changed = True

    def add_to_index(self, record):
        path = os.path.join(self.params["archive_directory"], "index.json")
        index = json.loads(read_text(path) or "[]")
        index.append(record)
        write_atomically(path, json.dumps(index, indent=1, ensure_ascii=False).encode(), 0, 0, 0o600)


def main():
    module = AnsibleModule(
        argument_spec={
            "desired_file": {"type": "path", "required": True},
            "database": {"type": "str", "default": "fnl_directory"},
            "vmail_directory": {"type": "path", "default": "/var/vmail"},
            "dkim_directory": {"type": "path", "default": "/var/lib/rspamd/dkim"},
            "dkim_selector_map": {"type": "path", "default": "/etc/rspamd/dkim_selectors.map"},
            "dkim_bits": {"type": "int", "default": 2048},
            "archive_directory": {"type": "path", "default": "/var/lib/fnl-deploy/archives"},
        },
        supports_check_mode=True,
    )
    with open(module.params["desired_file"], encoding="utf-8") as handle:
        desired = json.load(handle)
    store = Store(module)
    dkim = store.sync_dkim(desired)
    try:
        connection = connect_as_postgres(module.params["database"])
    except psycopg2.Error as exc:
        if module.check_mode:  # a plan before the directory exists
            module.exit_json(changed=store.changed, fnl_changes=store.changes, fnl_dkim=dkim)
        module.fail_json(msg="cannot connect to the directory: %s" % exc)
    try:
        with connection.cursor() as cur:
            for row in store.pending_archives(cur):
                store.archive(cur, *row)
                if not module.check_mode:
                    # Committed per mailbox: the archive exists and the mail directory is
                    # gone, so the directory must say so even if a later mailbox fails.
                    connection.commit()
            if not module.check_mode:
                store.sync_acls(cur)
    finally:
        connection.close()
    module.exit_json(changed=store.changed, fnl_changes=store.changes, fnl_dkim=dkim)


if __name__ == "__main__":
    main()
