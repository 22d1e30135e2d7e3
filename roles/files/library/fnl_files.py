#!/usr/bin/python
"""Ansible module: every commune's shared files space in one call (folders, rights, archives)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_files
short_description: The communes' shared files spaces of the server, their folders and rights
description:
  - One call per server, whatever the number of communes and folders (tenants are data).
  - Creates each commune's space (C(root)/<domain>), its declared folders and one personal
    folder per person (Personnel/<first part of the address>), owned by C(owner).
  - A folder gone from the tenant file, a person's folder whose person is gone, and the
    whole space of a commune whose files are off are moved into C(archive) with a SHA-256
    manifest of every file, never deleted (data-safety rules).
  - Writes C(settings) (JSON: rights and quota per commune, by web name) for the WebDAV
    application.
  - Returns one structured change per space, folder or rights change, which
    C(fnl-deploy plan) shows; check mode changes nothing.
options:
  tenants: {type: list, elements: dict, required: true, description: "Compiled communes (fnl.tenants)."}
  root: {type: path, required: true, description: Where the communes' spaces live.}
  archive: {type: path, required: true, description: Where removed folders go.}
  settings: {type: path, required: true, description: The WebDAV application's settings file.}
  dovecot_socket: {type: path, required: true, description: Dovecot's authentication socket for the application.}
  owner: {type: str, required: true, description: The account the application runs as.}
"""

import datetime
import grp
import hashlib
import json
import os
import pwd
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

PERSONAL = "Personnel"


def change(action, kind, name, tenant, detail=""):
    return {"service": "files", "action": action, "kind": kind, "name": name,
            "tenant": tenant, "detail": detail}


def wanted_spaces(tenants, root):
    """{domain: {tenant, root, quota_bytes, people, folders}} of the communes with files."""
    spaces = {}
    for tenant in tenants:
        files = tenant.get("files") or {}
        if not files.get("enabled"):
            continue
        spaces[tenant["domain"]] = {
            "tenant": tenant["id"],
            "domain": tenant["domain"],
            "root": os.path.join(root, tenant["domain"]),
            "quota_bytes": files["quota_bytes"],
            "people": dict(sorted(files["people"].items())),
            "renamed": files.get("renamed", {}),
            "folders": files["folders"],
        }
    return spaces


def visible_entries(path):
    """Directories directly under path, hidden ones left out."""
    if not os.path.isdir(path):
        return []
    return sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False)
                  and not e.name.startswith("."))


def plan(spaces, root, previous):
    """(changes, [(path to archive, archive name, tenant)], [directories to create],
    [(personal folder, its new path)])."""
    changes, to_archive, to_create, to_rename = [], [], [], []
    old_folders = {(c["domain"], f["name"]): f for c in previous.values() for f in c["folders"]}
    for domain, space in sorted(spaces.items()):
        base, tenant = space["root"], space["tenant"]
        if not os.path.isdir(base):
            changes.append(change("+", "files space", domain, tenant,
                                  "%d folder(s), %d personal" % (len(space["folders"]),
                                                                  len(space["people"]))))
        before_space = previous.get(domain)
        if before_space is not None and before_space.get("quota_bytes") != space["quota_bytes"]:
            changes.append(change("~", "files space", domain, tenant, "quota %s -> %s bytes" % (
                before_space.get("quota_bytes"), space["quota_bytes"])))
        wanted = [f["name"] for f in space["folders"]]
        for folder in space["folders"]:
            path = os.path.join(base, folder["name"])
            detail = "read: %d, write: %d" % (len(set(folder["read"]) | set(folder["write"])),
                                             len(folder["write"]))
            before = old_folders.get((domain, folder["name"]))
            if not os.path.isdir(path):
                to_create.append(path)
                if os.path.isdir(base):
                    changes.append(change("+", "folder", folder["name"], tenant, detail))
            elif before is not None and (before["read"], before["write"]) != (
                    folder["read"], folder["write"]):
                added = sorted((set(folder["read"]) | set(folder["write"]))
                               - (set(before["read"]) | set(before["write"])))
                removed = sorted((set(before["read"]) | set(before["write"]))
                                 - (set(folder["read"]) | set(folder["write"])))
                writers = sorted(set(folder["write"]) - set(before["write"]))
                parts = (["+%s" % a for a in added] + ["-%s" % r for r in removed]
                         + ["+write %s" % w for w in writers])
                changes.append(change("~", "folder", folder["name"], tenant,
                                      ", ".join(parts) or detail))
        for name in visible_entries(base):
            if name != PERSONAL and name not in wanted:
                to_archive.append((os.path.join(base, name), name, tenant))
                changes.append(change("-", "folder", name, tenant,
                                      "archived with its files, nothing deleted"))
        personal = os.path.join(base, PERSONAL)
        to_create.append(personal)
        mine = set(space["people"].values())
        taken = set()
        for local in sorted(mine):
            path = os.path.join(personal, local)
            if not os.path.isdir(path):
                # A person renamed (former addresses) keeps their folder under the new name.
                former = next((old for old in space["renamed"].get(local, [])
                               if old not in mine and os.path.isdir(os.path.join(personal, old))),
                              None)
                if former is not None:
                    to_rename.append((os.path.join(personal, former), path))
                    taken.add(former)
                    changes.append(change("~", "personal folder", local, tenant,
                                          "renamed from %s, with its files" % former))
                    continue
                to_create.append(path)
                if os.path.isdir(base):
                    changes.append(change("+", "personal folder", local, tenant))
        for name in visible_entries(personal):
            if name not in mine and name not in taken:
                to_archive.append((os.path.join(personal, name), PERSONAL + "-" + name, tenant))
                changes.append(change("-", "personal folder", name, tenant,
                                      "archived with its files, nothing deleted"))
        to_create.insert(0, base)
    for domain in visible_entries(root):
        if domain not in spaces:
            to_archive.append((os.path.join(root, domain), "space", None))
            changes.append(change("-", "files space", domain, None,
                                  "archived with its files, nothing deleted"))
    return changes, to_archive, to_create, to_rename


def archive(path, name, archive_root, domain):
    """Move path under archive_root/<domain>/, with a manifest; returns where it went."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = os.path.join(archive_root, domain, "%s-%s" % (stamp, name))
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    lines = []
    for directory, _dirs, files in os.walk(path):
        for filename in sorted(files):
            full = os.path.join(directory, filename)
            digest = hashlib.sha256()
            with open(full, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
            lines.append("%s  %s\n" % (digest.hexdigest(), os.path.relpath(full, path)))
    shutil.move(path, target)
    with open(target + ".sha256", "w", encoding="utf-8") as manifest:
        manifest.writelines(sorted(lines))
    return target


def settings_document(spaces, dovecot_socket):
    return {
        "dovecot_socket": dovecot_socket,
        "communes": {
            "mail." + domain: {k: v for k, v in space.items() if k != "tenant"}
            for domain, space in sorted(spaces.items())
        },
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "tenants": {"type": "list", "elements": "dict", "required": True},
            "root": {"type": "path", "required": True},
            "archive": {"type": "path", "required": True},
            "settings": {"type": "path", "required": True},
            "dovecot_socket": {"type": "path", "required": True},
            "owner": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    spaces = wanted_spaces(p["tenants"], p["root"])
    previous = {}
    if os.path.exists(p["settings"]):
        try:
            with open(p["settings"], encoding="utf-8") as current:
                previous = {c["domain"]: c for c in json.load(current).get("communes", {}).values()}
        except (ValueError, KeyError, AttributeError):
            previous = {}
    changes, to_archive, to_create, to_rename = plan(spaces, p["root"], previous)
    text = json.dumps(settings_document(spaces, p["dovecot_socket"]), ensure_ascii=False,
                      indent=1, sort_keys=True) + "\n"
    on_disk = None
    if os.path.exists(p["settings"]):
        with open(p["settings"], encoding="utf-8") as current:
            on_disk = current.read()
    missing = [d for d in to_create if not os.path.isdir(d)]
    changed = bool(changes or to_archive or to_rename or missing or on_disk != text)
    if module.check_mode or not changed:
        module.exit_json(changed=changed, fnl_changes=changes)
    owner = pwd.getpwnam(p["owner"])
    for former, new in to_rename:
        os.rename(former, new)
    archived = []
    for path, name, tenant in to_archive:
        domain = os.path.basename(path) if name == "space" else os.path.relpath(
            path, p["root"]).split(os.sep)[0]
        archived.append(archive(path, name, p["archive"], domain))
    os.makedirs(p["root"], mode=0o755, exist_ok=True)
    for directory in to_create:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o750, exist_ok=True)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
    os.makedirs(os.path.dirname(p["settings"]), mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".fnl-files-", dir=os.path.dirname(p["settings"]))
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o640)
    os.chown(temporary, 0, grp.getgrgid(owner.pw_gid).gr_gid)
    os.replace(temporary, p["settings"])
    if not changes:
        changes = [change("~", "settings", p["settings"], None, "rewritten")]
    module.exit_json(changed=True, fnl_changes=changes, archived=archived)


if __name__ == "__main__":
    main()
