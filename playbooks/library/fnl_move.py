#!/usr/bin/python
"""Ansible module: carry a commune from the server that holds it to its new placement."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_move
short_description: Find, export, import and finish the communes that change server
description:
  - One call per server and step, whatever the number of communes moving.
  - I(state=query), read-only: the communes this server holds (active in its directory)
    that the tenant files now place on another server, and among them those a run
    narrowed by --limit or --tenant would split (one of their two servers outside it).
  - I(state=export): the same communes, each with its accounts (password hashes, mail
    directory names), its mail (each account's home: Maildir, Dovecot indexes, Sieve
    scripts), its DKIM keys and selectors, and its agendas, address books and preferences
    (sogo-tool backup), into one archive per destination server in C(transfer_directory),
    readable by C(transfer_owner) alone (the account Ansible logs in with: the archive is
    then fetched and copied without privilege escalation, which makes Ansible stream it
    rather than read it whole into memory). Check mode
    only lists the moves (C(fnl_changes)). Nothing else changes on this server here: its
    directory disables the commune in the same apply (role directory), and its mail is
    then archived like any removed mailbox's.
  - I(state=import): unpacks the archives handed to this server (in
    C(transfer_directory)) into C(bundle_directory)/incoming, root-only, and deletes
    them. Mail goes under the
    account's mail directory name (a new one if this server still holds that name from an
    earlier stay of the commune), DKIM keys and selectors are installed before role mail
    would make new ones, and the accounts are left in C(bundle_directory)/incoming/
    accounts.json for role directory, which creates them with their own password hash.
  - I(state=finish), after the roles: restores the agendas, address books and preferences
    into SOGo (the accounts exist there now), then removes what the import left. Does
    nothing when nothing was carried here.
options:
  state: {type: str, required: true, choices: [query, export, import, finish]}
  server: {type: str, description: This server's inventory name (query, export).}
  placements:
    type: dict
    default: {}
    description: Tenant id -> inventory name of the server the files place it on.
  fqdns: {type: dict, default: {}, description: Inventory name -> host name of each server.}
  run_hosts: {type: list, elements: str, default: [], description: Servers in this run.}
  scope: {type: list, elements: str, description: Only these tenants (apply --tenant).}
  bundle_directory: {type: path, default: /var/lib/fnl-deploy/moves}
  transfer_directory: {type: path, default: /var/tmp/fnl-deploy-moves}
  transfer_owner: {type: str, default: root, description: The account Ansible logs in with.}
  database: {type: str, default: fnl_directory}
  vmail_directory: {type: path, default: /var/vmail}
  dkim_directory: {type: path, default: /var/lib/rspamd/dkim}
  dkim_selector_map: {type: path, default: /etc/rspamd/dkim_selectors.map}
"""

import glob
import io
import json
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_postgres import connect_as_postgres, transaction


def size(n):
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return "%.1f %s" % (n / factor, unit)
    return "%d B" % n


def tree_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def read_selectors(path):
    selectors = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 2 and not line.startswith("#"):
                    selectors[parts[0]] = parts[1]
    except OSError:
        pass
    return selectors


def write_selectors(path, selectors):
    text = "".join("%s %s\n" % item for item in sorted(selectors.items()))
    tmp = path + ".fnl-tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def transfer_directory(p):
    """The directory archives travel through, the login account's alone (0700)."""
    owner = pwd.getpwnam(p["transfer_owner"])
    path = p["transfer_directory"]
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(path, 0o700)
    return path, owner


def write_private(path, data):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
    os.replace(path + ".tmp", path)


def chown_tree(path, owner):
    os.lchown(path, owner.pw_uid, owner.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), owner.pw_uid, owner.pw_gid)


def run(module, argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        module.fail_json(msg="%s: %s" % (" ".join(argv)[:200],
                                         (result.stderr or result.stdout)[-2000:]))
    return result


def held_tenants(cur):
    """Tenants active in this server's directory: id -> {domains, accounts, calendars}."""
    cur.execute("SELECT id FROM fnl.tenant WHERE state = 'active'")
    held = {row[0]: {"domains": [], "accounts": [], "calendars": []} for row in cur.fetchall()}
    if not held:
        return held
    cur.execute("SELECT name, tenant_id FROM fnl.domain WHERE state = 'active'")
    for name, tenant in cur.fetchall():
        if tenant in held:
            held[tenant]["domains"].append(name)
    cur.execute(
        "SELECT id::text, address, tenant_id, kind, password_hash, maildir"
        " FROM fnl.mailbox WHERE state = 'active' ORDER BY address"
    )
    for row in cur.fetchall():
        if row[2] in held:
            held[row[2]]["accounts"].append({
                "id": row[0], "address": row[1], "kind": row[3], "password_hash": row[4],
                "maildir": row[5],
            })
    cur.execute("SELECT address, tenant_id FROM fnl.calendar WHERE state = 'active'")
    for address, tenant in cur.fetchall():
        if tenant in held:
            held[tenant]["calendars"].append(address)
    return held


def outgoing(p):
    """[(tenant, target server, data)]: communes held here that the files place elsewhere."""
    try:
        connection = connect_as_postgres(p["database"])
    except Exception:  # no directory yet (a new server): it holds no commune
        return []
    with transaction(connection, True) as cur:
        held = held_tenants(cur)
    moves = []
    for tenant_id, data in sorted(held.items()):
        target = p["placements"].get(tenant_id)
        if target is None or target == p["server"]:
            continue  # staying, or left the files altogether (role directory disables it)
        if p["scope"] is not None and tenant_id not in p["scope"]:
            continue  # apply --tenant: other communes wait for their own run
        moves.append((tenant_id, target, data))
    return moves


def query(p):
    found = [{"tenant": t, "from": p["server"], "to": target, "accounts": len(d["accounts"])}
             for t, target, d in outgoing(p)]
    partial = [m for m in found if (m["from"] in p["run_hosts"]) != (m["to"] in p["run_hosts"])]
    return found, partial


def sogo_backup(module, users, bundle, arcname):
    """Agendas, address books and preferences of users, by sogo-tool, into the bundle."""
    if shutil.which("sogo-tool") is None or not users:
        return
    # Written by SOGo's own account, outside root's 0700 directories.
    backup = tempfile.mkdtemp(prefix="fnl-move-sogo-")
    try:
        shutil.chown(backup, "sogo")
        run(module, ["runuser", "-u", "sogo", "--", "sogo-tool", "backup", backup] + users)
        bundle.add(backup, arcname=arcname)
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def export(module, p):
    moves = outgoing(p)
    for _tenant, _target, data in moves:
        data["mail_bytes"] = sum(
            tree_bytes(os.path.join(p["vmail_directory"], a["maildir"])) for a in data["accounts"]
        )
    changes = [{
        "tenant": tenant_id, "service": "move", "action": "~", "kind": "commune moves",
        "name": tenant_id, "to": target,
        "detail": "from %s to %s: %d account(s), %s of mail, passwords, agendas, address "
                  "books and DKIM keys come along; %s keeps an archive copy" % (
                      p["server"], target, len(data["accounts"]), size(data["mail_bytes"]),
                      p["server"]),
    } for tenant_id, target, data in moves]
    if module.check_mode or not moves:
        return changes, []
    directory, owner = transfer_directory(p)
    selectors = read_selectors(p["dkim_selector_map"])
    bundles = []
    for target in sorted({target for _, target, _ in moves}):
        path = os.path.join(directory, "to-%s-from-%s.tar" % (target, p["server"]))
        manifest = {"from": p["server"], "tenants": {}}
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as bundle:
                for tenant_id, destination, data in moves:
                    if destination != target:
                        continue
                    dkim = {}
                    for domain in data["domains"]:
                        selector = selectors.get(domain)
                        key = os.path.join(p["dkim_directory"], "%s.%s.key" % (domain, selector))
                        if selector and os.path.exists(key):
                            dkim[domain] = selector
                            bundle.add(key, arcname="dkim/%s.%s.key" % (domain, selector))
                    for account in data["accounts"]:
                        home = os.path.join(p["vmail_directory"], account["maildir"])
                        if os.path.isdir(home):
                            bundle.add(home, arcname="mail/" + account["maildir"])
                    users = [a["address"] for a in data["accounts"]] + data["calendars"]
                    sogo_backup(module, users, bundle, "sogo/" + tenant_id)
                    manifest["tenants"][tenant_id] = {
                        "domains": data["domains"], "accounts": data["accounts"], "dkim": dkim,
                    }
                payload = json.dumps(manifest, sort_keys=True).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size = len(payload)
                info.mode = 0o600
                bundle.addfile(info, io.BytesIO(payload))
            os.chown(path + ".tmp", owner.pw_uid, owner.pw_gid)
            os.replace(path + ".tmp", path)
        except BaseException:
            if os.path.exists(path + ".tmp"):
                os.unlink(path + ".tmp")
            raise
        bundles.append({"to": target, "bundle": path, "file": os.path.basename(path)})
    return changes, bundles


def taken(cur):
    """Account ids and mail directories in use here, and each active address's directory."""
    cur.execute("SELECT id::text, maildir, address, state FROM fnl.mailbox")
    rows = cur.fetchall()
    active = {r[2]: r[1] for r in rows if r[3] == "active"}
    return {r[0] for r in rows}, {r[1] for r in rows}, active


def merge_mail(source, target, owner):
    """Messages of source missing from target; Dovecot's own files stay the target's."""
    for root, _dirs, files in os.walk(source):
        relative = os.path.relpath(root, source)
        for name in files:
            if name.startswith("dovecot"):
                continue  # indexes and UID lists: Dovecot indexes the new files itself
            destination = os.path.normpath(os.path.join(target, relative, name))
            if os.path.exists(destination):
                continue
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copy2(os.path.join(root, name), destination)
    chown_tree(target, owner)


def import_bundles(module, p):
    incoming = os.path.join(p["bundle_directory"], "incoming")
    archives = sorted(glob.glob(os.path.join(p["transfer_directory"], "to-*-from-*.tar")))
    if not archives:
        return []
    os.makedirs(incoming, mode=0o700, exist_ok=True)
    try:
        vmail = pwd.getpwnam("vmail")
        rspamd = pwd.getpwnam("_rspamd")
        connection = connect_as_postgres(p["database"])
    except Exception as error:
        module.fail_json(msg="a commune moves to this server, which was never applied (%s): "
                             "apply it once before moving communes to it" % error)
    with transaction(connection, True) as cur:
        ids, maildirs, active = taken(cur)
    carried_path = os.path.join(incoming, "accounts.json")
    carried = {}
    if os.path.exists(carried_path):
        with open(carried_path, encoding="utf-8") as handle:
            carried = json.load(handle)
    selectors = read_selectors(p["dkim_selector_map"])
    report = []
    for archive in archives:
        unpacked = os.path.join(incoming, os.path.basename(archive)[:-len(".tar")])
        shutil.rmtree(unpacked, ignore_errors=True)
        os.makedirs(unpacked, mode=0o700)
        with tarfile.open(archive) as bundle:
            # Our own archive from our own server; with the filter where Python has it.
            if hasattr(tarfile, "tar_filter"):
                bundle.extractall(unpacked, filter="tar")
            else:
                bundle.extractall(unpacked)
        with open(os.path.join(unpacked, "manifest.json"), encoding="utf-8") as handle:
            manifest = json.load(handle)
        for tenant_id, data in sorted(manifest["tenants"].items()):
            for account in data["accounts"]:
                source = os.path.join(unpacked, "mail", account["maildir"])
                if account["address"] in active:
                    # Carried here by an earlier run that stopped before the former server
                    # let go: what it received since joins the account.
                    if os.path.isdir(source):
                        target = os.path.join(p["vmail_directory"], active[account["address"]])
                        merge_mail(source, target, vmail)
                    continue
                if account["id"] in ids or account["maildir"] in maildirs:
                    # This server held the commune before: those names stay its old accounts'.
                    fresh = str(uuid.uuid4())
                    folder, _, rest = account["maildir"].partition("/")
                    account["id"] = fresh
                    account["maildir"] = "%s/%s.%s" % (folder, rest.rsplit(".", 1)[0], fresh[:8])
                target = os.path.join(p["vmail_directory"], account["maildir"])
                if os.path.isdir(source):
                    parent = os.path.dirname(target)
                    os.makedirs(parent, exist_ok=True)
                    os.lchown(parent, vmail.pw_uid, vmail.pw_gid)
                    if os.path.exists(target):
                        shutil.rmtree(target)  # from an earlier, interrupted import
                    shutil.move(source, target)
                    chown_tree(target, vmail)
                carried[account["address"]] = account
            for domain, selector in data["dkim"].items():
                key = os.path.join(p["dkim_directory"], "%s.%s.key" % (domain, selector))
                shutil.copyfile(os.path.join(unpacked, "dkim", os.path.basename(key)), key)
                os.chown(key, rspamd.pw_uid, rspamd.pw_gid)
                os.chmod(key, 0o600)
                selectors[domain] = selector
            report.append({"tenant": tenant_id, "from": manifest["from"],
                           "accounts": len(data["accounts"])})
    write_selectors(p["dkim_selector_map"], selectors)
    write_private(carried_path, carried)
    for archive in archives:
        os.unlink(archive)  # unpacked beside it: what finish still needs (SOGo's data)
    return report


def finish(module, p):
    incoming = os.path.join(p["bundle_directory"], "incoming")
    if not os.path.isdir(incoming):
        return []
    restored = []
    for saved in sorted(glob.glob(os.path.join(incoming, "*", "sogo", "*"))):
        # sogo-tool backup wrote one file per account, named after it. SOGo's own account
        # reads them, from a copy outside root's 0700 directories.
        copy = tempfile.mkdtemp(prefix="fnl-move-sogo-")
        try:
            for name in sorted(os.listdir(saved)):
                shutil.copyfile(os.path.join(saved, name), os.path.join(copy, name))
                shutil.chown(os.path.join(copy, name), "sogo")
            shutil.chown(copy, "sogo")
            for user in sorted(os.listdir(copy)):
                for what in (["-F", "ALL"], ["-p"]):
                    run(module, ["runuser", "-u", "sogo", "--", "sogo-tool", "restore"]
                        + what + [copy, user])
                restored.append(user)
        finally:
            shutil.rmtree(copy, ignore_errors=True)
    if restored:
        # SOGo answered for these accounts before their data came back (empty folders,
        # cached in memcached and in its workers): start both afresh. Only after a move.
        for unit in ("memcached", "sogo"):
            run(module, ["systemctl", "restart", unit])
    shutil.rmtree(incoming)
    return restored


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True,
                      "choices": ["query", "export", "import", "finish"]},
            "server": {"type": "str"},
            "placements": {"type": "dict", "default": {}},
            "fqdns": {"type": "dict", "default": {}},
            "run_hosts": {"type": "list", "elements": "str", "default": []},
            "scope": {"type": "list", "elements": "str"},
            "bundle_directory": {"type": "path", "default": "/var/lib/fnl-deploy/moves"},
            "transfer_directory": {"type": "path", "default": "/var/tmp/fnl-deploy-moves"},
            "transfer_owner": {"type": "str", "default": "root"},
            "database": {"type": "str", "default": "fnl_directory"},
            "vmail_directory": {"type": "path", "default": "/var/vmail"},
            "dkim_directory": {"type": "path", "default": "/var/lib/rspamd/dkim"},
            "dkim_selector_map": {"type": "path", "default": "/etc/rspamd/dkim_selectors.map"},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "query":
        found, partial = query(p)
        module.exit_json(changed=False, moves=found, partial=partial)
    if p["state"] == "export":
        changes, bundles = export(module, p)
        # For role directory: these communes' domains are deferred here, not refused.
        elsewhere = {c["tenant"]: p["fqdns"].get(c["to"], c["to"]) for c in changes}
        module.exit_json(changed=bool(changes), fnl_changes=changes, bundles=bundles,
                         elsewhere=elsewhere)
    if module.check_mode:
        module.exit_json(changed=False)
    if p["state"] == "import":
        # The move was reported by the former server's export: bookkeeping here.
        module.exit_json(changed=False, moved_in=import_bundles(module, p))
    module.exit_json(changed=False, restored=finish(module, p))


if __name__ == "__main__":
    main()
