#!/usr/bin/python
"""Ansible module: what `fnl-deploy backup run|list|check` and `fnl-deploy restore` do on a
server, with the settings role backup wrote (/etc/fnl-deploy/backup/borg.env)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_backup_ops
short_description: Run, list and check a server's backups; restore one onto a new server
description:
  - C(run) starts fnl-backup.service and waits for it (the same backup as the timer's).
  - C(list) lists the repository's archives (borg list).
  - C(check) runs borg check on the repository and its archives (C(verify_data) also reads
    and decrypts every chunk).
  - C(survey) counts the messages of the mail store: `fnl-deploy restore` refuses a server
    that holds any, so a restore never mixes old mail into a live server.
  - C(restore) extracts an archive (the latest by default) over a freshly applied server:
    mail, archives of removed mailboxes, offboarding exports, DKIM keys and their
    selectors, Knot's zones and DNSSEC keys, then the directory database from its dump
    (accounts, the passwords users chose, agendas and address books), services stopped
    meanwhile. Returns C(fnl_backup) with what was restored.
options:
  action: {type: str, required: true, choices: [run, list, check, survey, restore]}
  archive: {type: str, default: "", description: Archive to restore ('' = the latest).}
  verify_data: {type: bool, default: false}
  config_directory: {type: path, default: /etc/fnl-deploy/backup}
  vmail_directory: {type: path, default: /var/vmail}
"""

import json
import os
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_files import count_messages

#: What a restore extracts (paths inside the archive, without the leading slash). The rest
#: of /var/lib/fnl-deploy (desired state, lock, staged files) belongs to the new server.
RESTORED = [
    "var/vmail",
    "var/lib/fnl-deploy/archives",
    "var/lib/fnl-deploy/offboard",
    "var/lib/rspamd/dkim",
    "etc/rspamd/dkim_selectors.map",
    "var/lib/knot",
    "var/backups/fnl-deploy",
]
#: Stopped while their data is replaced, started again after (in this order).
SERVICES = ["postfix", "dovecot", "sogo", "knot"]
DUMPS = "/var/backups/fnl-deploy/postgresql"


def read_env(config_directory):
    path = os.path.join(config_directory, "borg.env")
    env = dict(os.environ, LANG="C.UTF-8")
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    env[key] = value.strip('"')
    except FileNotFoundError:
        return None
    return env


def borg(module, env, *args, warnings_ok=False):
    run = subprocess.run(["borg", *args], env=env, capture_output=True, text=True)
    if run.returncode == 0 or (warnings_ok and run.returncode == 1):
        return run.stdout
    module.fail_json(msg="borg %s failed (exit %d): %s"
                         % (args[0], run.returncode, run.stderr.strip()[-1500:]))


def archives(module, env):
    listing = json.loads(borg(module, env, "list", "--json"))
    return [{"name": a["name"], "time": a.get("time") or a.get("start")}
            for a in listing.get("archives", [])]


def action_run(module, env):
    started = subprocess.run(["systemctl", "start", "fnl-backup.service"],
                             capture_output=True, text=True)
    if started.returncode != 0:
        journal = subprocess.run(["journalctl", "-u", "fnl-backup.service", "-n", "15",
                                  "--no-pager", "-o", "cat"], capture_output=True, text=True)
        module.fail_json(msg="the backup failed: %s" % journal.stdout.strip()[-1500:])
    with open("/var/lib/fnl-deploy/backup/last-success.json", encoding="utf-8") as handle:
        last = json.load(handle)
    with open("/var/lib/fnl-deploy/borg/last-create.json", encoding="utf-8") as handle:
        created = json.load(handle)
    stats = created.get("archive", {}).get("stats", {})
    return {"action": "run", "archive": last["archive"], "finished": last["finished"],
            "files": stats.get("nfiles"), "original_size": stats.get("original_size"),
            "deduplicated_size": stats.get("deduplicated_size"),
            "duration": created.get("archive", {}).get("duration")}


def action_list(module, env):
    return {"action": "list", "repository": env["BORG_REPO"], "archives": archives(module, env)}


def action_check(module, env):
    args = ["check"] + (["--verify-data"] if module.params["verify_data"] else [])
    borg(module, env, *args)
    return {"action": "check", "repository": env["BORG_REPO"], "ok": True,
            "archives": len(archives(module, env)),
            "verify_data": module.params["verify_data"]}


def systemctl(*args):
    subprocess.run(["systemctl", *args], capture_output=True, text=True)


def action_restore(module, env):
    # `fnl-deploy restore` surveyed the store before its first apply: it was empty. Mail
    # that arrived since is new (new file names) and stays.
    vmail = module.params["vmail_directory"]
    known = archives(module, env)
    if not known:
        module.fail_json(msg="the repository %s holds no archive" % env["BORG_REPO"])
    name = module.params["archive"] or known[-1]["name"]
    if name not in {a["name"] for a in known}:
        module.fail_json(msg="no archive %s in %s" % (name, env["BORG_REPO"]))
    if module.check_mode:
        return {"action": "restore", "archive": name}
    for service in SERVICES:
        systemctl("stop", service)
    # The keys the new server made in its first apply go: the restored ones are those the
    # published DKIM records and the registrar's DS name.
    for fresh in ("/var/lib/rspamd/dkim", "/var/lib/knot/keys"):
        if os.path.isdir(fresh):
            shutil.rmtree(fresh)
    os.chdir("/")
    borg(module, env, "extract", "::" + name, *RESTORED, warnings_ok=True)
    databases = []
    for dump in sorted(os.listdir(DUMPS)) if os.path.isdir(DUMPS) else []:
        if not dump.endswith(".dump"):
            continue
        database = dump[: -len(".dump")]
        with open(os.path.join(DUMPS, dump), "rb") as handle:
            restored = subprocess.run(
                ["runuser", "-u", "postgres", "--", "pg_restore", "--clean", "--if-exists",
                 "--single-transaction", "--dbname", database],
                stdin=handle, capture_output=True, text=True)
        if restored.returncode != 0:
            for service in SERVICES:
                systemctl("start", service)
            module.fail_json(msg="pg_restore of %s failed: %s"
                                 % (database, restored.stderr.strip()[-1500:]))
        databases.append(database)
    for service in SERVICES:
        systemctl("start", service)
    systemctl("reload-or-restart", "rspamd")
    dkim = sorted(f for f in os.listdir("/var/lib/rspamd/dkim") if f.endswith(".key")) \
        if os.path.isdir("/var/lib/rspamd/dkim") else []
    return {"action": "restore", "archive": name, "messages": count_messages(vmail),
            "databases": databases, "dkim_keys": len(dkim),
            "dnssec_keys": os.path.isdir("/var/lib/knot/keys")}


def main():
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True,
                       "choices": ["run", "list", "check", "survey", "restore"]},
            "archive": {"type": "str", "default": ""},
            "verify_data": {"type": "bool", "default": False},
            "config_directory": {"type": "path", "default": "/etc/fnl-deploy/backup"},
            "vmail_directory": {"type": "path", "default": "/var/vmail"},
        },
        supports_check_mode=True,
    )
    action = module.params["action"]
    if action == "survey":
        module.exit_json(changed=False, fnl_backup={
            "action": "survey", "messages": count_messages(module.params["vmail_directory"])})
    env = read_env(module.params["config_directory"])
    if env is None:
        module.fail_json(msg="no backups are set up on this server (inventory: backup_server, "
                             "then apply)")
    report = {"run": action_run, "list": action_list, "check": action_check,
              "restore": action_restore}[action](module, env)
    module.exit_json(changed=action in ("run", "restore"), fnl_backup=report)


if __name__ == "__main__":
    main()
