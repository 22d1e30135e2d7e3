#!/usr/bin/python
"""Ansible module: export a tenant's whole data into one checksummed archive, or purge it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_offboard
short_description: Offboarding a tenant - archive everything, destroy only with a visa
description:
  - C(action=export) writes one tar.gz holding every mailbox of the tenant (its Maildir,
    every folder, as Dovecot stores it), every calendar (one ICS stream per calendar,
    RFC 5545 allows several VCALENDAR objects in one) and address book (one VCF per
    address book) that SOGo holds for the tenant's accounts (people, rooms, equipment,
    shared calendars), the archives of mailboxes removed earlier, a manifest.json and a
    SHA256SUMS of every file. The archive is read back and each file checked against
    SHA256SUMS before it is recorded in directory/index.json. Nothing is changed.
  - C(action=purge) destroys the tenant's live data (mail directories, SOGo data, the
    archives of removed mailboxes, the directory's rows), only when the tenant is already
    disabled and an export of it still verifies; the visa reference (Archives
    départementales) is recorded in the index with the archive it relies on. The export
    archive itself is kept.
  - Check mode reports what would be exported or destroyed.
options:
  tenant: {type: str, required: true, description: Tenant id.}
  action: {type: str, required: true, choices: [export, purge]}
  visa: {type: str, description: Visa reference (required for purge).}
  directory: {type: path, default: /var/lib/fnl-deploy/offboard, description: Archives.}
  removed_archive_directory: {type: path, default: /var/lib/fnl-deploy/archives}
  vmail_directory: {type: path, default: /var/vmail}
  database: {type: str, default: fnl_directory}
"""

import datetime
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_files import count_messages, sha256_file
from ansible.module_utils.fnl_postgres import connect_as_postgres

try:
    import psycopg2
except ImportError:
    psycopg2 = None

#: SOGo's per-folder tables are named by SOGo itself; anything else is refused.
_TABLE = re.compile(r"^[a-z0-9_]+$")
#: SOGo folder kinds and what each becomes in the archive.
_FOLDERS = {"Calendar": ("calendars", ".ics"), "Contacts": ("contacts", ".vcf")}


def read_json(path, default):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def write_json(path, data):
    tmp = path + ".fnl-tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
              encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def tenant_directory(cur, tenant):
    """(tenant state, domains, mailboxes) from the directory."""
    cur.execute("SELECT state FROM fnl.tenant WHERE id = %s", (tenant,))
    row = cur.fetchone()
    if row is None:
        return None, [], []
    cur.execute("SELECT name FROM fnl.domain WHERE tenant_id = %s ORDER BY name", (tenant,))
    domains = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT address, kind, maildir, state FROM fnl.mailbox WHERE tenant_id = %s "
                "ORDER BY address, created_at", (tenant,))
    mailboxes = [dict(zip(("address", "kind", "maildir", "state"), r)) for r in cur.fetchall()]
    return row[0], domains, mailboxes


def connect_sogo(domains):
    """SOGo's database, or None when there is nothing to read (no domain, no SOGo)."""
    if not domains:
        return None
    try:
        return connect_as_postgres("sogo")
    except psycopg2.OperationalError:
        return None


def sogo_folders(domains):
    """SOGo's calendars and address books of every account in these domains, with their
    items (raw iCalendar or vCard text). Empty when SOGo or its database is absent."""
    connection = connect_sogo(domains)
    if connection is None:
        return []
    folders = []
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass('sogo_folder_info'), to_regclass('sogo_store')")
            info, store = cur.fetchone()
            if info is None:
                return []
            cur.execute(
                "SELECT c_folder_id, c_path2, c_path3, c_path4, c_foldername, c_location "
                "FROM sogo_folder_info WHERE split_part(c_path2, '@', 2) = ANY(%s) "
                "ORDER BY c_path2, c_path3, c_path4", (domains,))
            for folder_id, owner, kind, name, display, location in cur.fetchall():
                if kind not in _FOLDERS:
                    continue
                if store is not None:
                    # OCSStoreURL (the role's setting): one table for every folder's items.
                    cur.execute("SELECT c_name, c_content FROM sogo_store WHERE c_folder_id = "
                                "%s AND c_deleted IS DISTINCT FROM 1 ORDER BY c_name",
                                (folder_id,))
                else:
                    # Older layout: a table per folder, named by SOGo in c_location.
                    table = (location or "").rsplit("/", 1)[-1]
                    if not _TABLE.match(table):
                        continue
                    cur.execute('SELECT c_name, c_content FROM "%s" '
                                "WHERE c_deleted IS DISTINCT FROM 1 ORDER BY c_name" % table)
                items = [(n, c) for n, c in cur.fetchall() if c]
                folders.append({"owner": owner, "kind": kind, "name": name,
                                "display_name": display, "items": items})
    finally:
        connection.close()
    return folders


def sogo_users(domains):
    """Accounts of these domains SOGo holds folders or settings for."""
    connection = connect_sogo(domains)
    if connection is None:
        return []
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass('sogo_folder_info'), to_regclass('sogo_user_profile')")
            if None in cur.fetchone():
                return []
            cur.execute("SELECT c_path2 FROM sogo_folder_info UNION SELECT c_uid FROM "
                        "sogo_user_profile")
            return sorted(u for (u,) in cur.fetchall() if u.rpartition("@")[2] in domains)
    finally:
        connection.close()


def removed_archives(params, tenant):
    """Archives the mail role made of this tenant's removed mailboxes (their index)."""
    index = read_json(os.path.join(params["removed_archive_directory"], "index.json"), [])
    return [r for r in index if r.get("tenant") == tenant and os.path.exists(r["archive"])]


class Export:
    """Builds the archive: files are hashed as they are added, then read back."""

    def __init__(self, path):
        self.path = path
        self.digests = {}
        self.tar = tarfile.open(path, "w:gz", compresslevel=6)

    def add_file(self, source, name):
        self.digests[name] = sha256_file(source)
        self.tar.add(source, arcname=name, recursive=False)

    def add_bytes(self, data, name):
        self.digests[name] = hashlib.sha256(data).hexdigest()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(datetime.datetime.now().timestamp())
        info.mode = 0o600
        self.tar.addfile(info, io.BytesIO(data))

    def add_tree(self, source, prefix):
        for path, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(path, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    self.add_file(full, prefix + "/" + os.path.relpath(full, source))

    def close(self):
        sums = "".join("%s  %s\n" % (d, n) for n, d in sorted(self.digests.items()))
        info = tarfile.TarInfo("SHA256SUMS")
        info.size = len(sums.encode())
        info.mode = 0o600
        self.tar.addfile(info, io.BytesIO(sums.encode()))
        self.tar.close()

    def verify(self):
        """Every file read back from the archive has the digest it went in with."""
        seen = {}
        with tarfile.open(self.path, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name != "SHA256SUMS":
                    seen[member.name] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
        return seen == self.digests


def export(module, cur, params):
    tenant = params["tenant"]
    state, domains, mailboxes = tenant_directory(cur, tenant)
    if state is None:
        module.fail_json(msg="tenant %s has no data on this server" % tenant)
    vmail = params["vmail_directory"]
    folders = sogo_folders(domains)
    removed = removed_archives(params, tenant)
    live = [m for m in mailboxes if m["state"] != "archived"]
    report = {
        "action": "export", "tenant": tenant, "domains": domains,
        "mailboxes": [{"address": m["address"], "kind": m["kind"], "state": m["state"],
                       "messages": count_messages(os.path.join(vmail, m["maildir"]))}
                      for m in live],
        "folders": [{"owner": f["owner"], "kind": f["kind"], "name": f["name"],
                     "items": len(f["items"])} for f in folders],
        "removed_archives": len(removed),
    }
    if module.check_mode:
        return report
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    os.makedirs(params["directory"], mode=0o700, exist_ok=True)
    path = os.path.join(params["directory"], "%s-%s.tar.gz" % (tenant, stamp))
    archive = Export(path + ".fnl-tmp")
    try:
        for m in live:
            home = os.path.join(vmail, m["maildir"])
            if os.path.isdir(home):
                archive.add_tree(home, "mail/" + m["address"])
        for f in folders:
            directory, suffix = _FOLDERS[f["kind"]]
            text = "".join(c if c.endswith("\n") else c + "\n" for _n, c in f["items"])
            archive.add_bytes(text.encode("utf-8"),
                              "%s/%s/%s%s" % (directory, f["owner"], f["name"], suffix))
        for record in removed:
            archive.add_file(record["archive"], "removed/" + os.path.basename(record["archive"]))
        manifest = dict(report, created=stamp, server=os.uname().nodename)
        archive.add_bytes(json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"),
                          "manifest.json")
        archive.close()
        if not archive.verify():
            module.fail_json(msg="the archive of %s did not verify; nothing recorded" % tenant)
    except BaseException:
        if os.path.exists(path + ".fnl-tmp"):
            os.unlink(path + ".fnl-tmp")
        raise
    os.chmod(path + ".fnl-tmp", 0o600)
    os.replace(path + ".fnl-tmp", path)
    report.update(archive=path, sha256=sha256_file(path), bytes=os.path.getsize(path),
                  files=len(archive.digests), created=stamp, verified=True)
    index_path = os.path.join(params["directory"], "index.json")
    index = read_json(index_path, [])
    index.append({k: report[k] for k in ("action", "tenant", "archive", "sha256", "bytes",
                                         "files", "created")})
    write_json(index_path, index)
    return report


def verified_export(params):
    """The latest export of the tenant whose file is present and still matches."""
    index = read_json(os.path.join(params["directory"], "index.json"), [])
    for record in reversed(index):
        if record.get("tenant") == params["tenant"] and record.get("action") == "export":
            if os.path.exists(record["archive"]) and sha256_file(record["archive"]) == \
                    record["sha256"]:
                return record
    return None


def purge(module, cur, params):
    tenant = params["tenant"]
    visa = (params.get("visa") or "").strip()
    if not visa:
        module.fail_json(msg="purge needs the visa reference of the Archives départementales")
    state, domains, mailboxes = tenant_directory(cur, tenant)
    if state is None:
        module.fail_json(msg="tenant %s has no data on this server" % tenant)
    if state != "disabled":
        module.fail_json(msg="tenant %s is still active: offboard it first" % tenant)
    record = verified_export(params)
    if record is None:
        module.fail_json(msg="no verified archive of %s on this server: purge refused; run "
                             "fnl-deploy offboard %s first" % (tenant, tenant))
    vmail = params["vmail_directory"]
    homes = [os.path.join(vmail, m["maildir"]) for m in mailboxes]
    removed = removed_archives(params, tenant)
    users = sogo_users(domains)
    report = {"action": "purge", "tenant": tenant, "visa": visa, "archive": record["archive"],
              "sha256": record["sha256"], "mailboxes": len(mailboxes),
              "agenda_accounts": len(users), "removed_archives": len(removed)}
    if module.check_mode:
        return report
    for home in homes:
        if os.path.isdir(home):
            shutil.rmtree(home)
    for user in users:
        subprocess.run(["runuser", "-u", "sogo", "--", "sogo-tool", "remove", user],
                       check=True, capture_output=True, timeout=300)
    for item in removed:
        for suffix in ("", ".sha256"):
            if os.path.exists(item["archive"] + suffix):
                os.unlink(item["archive"] + suffix)
        manifest = item.get("manifest")
        if manifest and os.path.exists(manifest):
            os.unlink(manifest)
    removed_index_path = os.path.join(params["removed_archive_directory"], "index.json")
    if removed:
        kept = [r for r in read_json(removed_index_path, []) if r.get("tenant") != tenant]
        write_json(removed_index_path, kept)
    for table in ("shared_right", "forward", "calendar", "mailbox"):
        cur.execute("DELETE FROM fnl.%s WHERE tenant_id = %%s" % table, (tenant,))
    cur.execute("DELETE FROM fnl.domain WHERE tenant_id = %s AND alias_of IS NOT NULL",
                (tenant,))
    cur.execute("DELETE FROM fnl.domain WHERE tenant_id = %s", (tenant,))
    cur.execute("DELETE FROM fnl.tenant WHERE id = %s", (tenant,))
    report["purged_at"] = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    index_path = os.path.join(params["directory"], "index.json")
    index = read_json(index_path, [])
    index.append({k: report[k] for k in ("action", "tenant", "visa", "archive", "sha256",
                                         "purged_at")})
    write_json(index_path, index)
    return report


def main():
    module = AnsibleModule(
        argument_spec={
            "tenant": {"type": "str", "required": True},
            "action": {"type": "str", "required": True, "choices": ["export", "purge"]},
            "visa": {"type": "str"},
            "directory": {"type": "path", "default": "/var/lib/fnl-deploy/offboard"},
            "removed_archive_directory": {"type": "path",
                                          "default": "/var/lib/fnl-deploy/archives"},
            "vmail_directory": {"type": "path", "default": "/var/vmail"},
            "database": {"type": "str", "default": "fnl_directory"},
        },
        supports_check_mode=True,
    )
    if psycopg2 is None:
        module.fail_json(msg="python3-psycopg2 is missing on the server")
    params = module.params
    connection = connect_as_postgres(params["database"])
    try:
        with connection.cursor() as cur:
            if params["action"] == "export":
                report = export(module, cur, params)
            else:
                report = purge(module, cur, params)
        if module.check_mode:
            connection.rollback()
        else:
            connection.commit()
    finally:
        connection.close()
    module.exit_json(changed=not module.check_mode, fnl_offboard=report)


if __name__ == "__main__":
    main()
