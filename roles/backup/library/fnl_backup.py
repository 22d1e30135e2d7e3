#!/usr/bin/python
"""Ansible module: a server's BorgBackup set-up — its SSH key, the repository host's
authorized keys, the passphrase and the repository itself."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_backup
short_description: BorgBackup keys, repository access and repository initialisation
description:
  - C(step=keys) makes this server's backup SSH key (ed25519, root only) when it has a
    repository to reach, and returns its public key and this server's own SSH host key,
    so that the repository host can authorize the one and the client pin the other.
  - C(step=serve), on a repository host, writes the authorized_keys of the repository
    account, one line per client server restricted to C(borg serve) in that client's own
    repository. A client outside this run (--limit) keeps its line as it is.
  - C(step=client) writes the passphrase (from the staged credentials, never from a task
    argument), the pinned host key of the repository host, and initialises the
    repository (repokey-blake2) when it does not exist yet. An existing repository is
    only opened, never re-created.
  - Check mode reports what would change.
options:
  step: {type: str, required: true, choices: [keys, serve, client]}
  repository: {type: str, default: "", description: Borg repository URL ('' = no backups).}
  config_directory: {type: path, default: /etc/fnl-deploy/backup}
  credentials_file: {type: path, default: /var/lib/fnl-deploy/staged/credentials.json}
  repository_user: {type: str, default: fnl-backup}
  repository_directory: {type: path, default: /srv/fnl-backup}
  clients: {type: dict, default: {}, description: "client name -> public key (null: keep)."}
  repository_host: {type: str, default: "", description: Name of the repository host.}
  repository_host_key: {type: str, default: "", description: Its SSH host public key.}
"""

import json
import os
import pwd
import subprocess

from ansible.module_utils.basic import AnsibleModule

KEY_NAME = "id_ed25519"
#: The comment that identifies a client's line in the repository account's authorized_keys.
CLIENT_COMMENT = "fnl-backup:%s"


def change(action, kind, name, detail=""):
    return {"service": "backup", "action": action, "kind": kind, "name": name, "detail": detail}


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_private(path, text, uid=0, gid=0, mode=0o600):
    tmp = path + ".fnl-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def borg_environment(config_directory):
    """What borg needs to reach the repository: borg.env, which the role writes before the
    client step and the backup script reads, so init and backups reach it the same way.
    None when the file is not there yet (a plan on a new server)."""
    env = dict(os.environ, LANG="C.UTF-8")
    try:
        with open(os.path.join(config_directory, "borg.env"), encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    env[key] = value.strip('"')
    except FileNotFoundError:
        return None
    return env


def step_keys(module):
    directory = module.params["config_directory"]
    result = {"changed": False, "fnl_changes": []}
    host_key = read_text("/etc/ssh/ssh_host_ed25519_key.pub")
    result["fnl_backup_host_key"] = " ".join((host_key or "").split()[:2])
    if not module.params["repository"].startswith("ssh://"):
        return result
    key = os.path.join(directory, KEY_NAME)
    if not os.path.exists(key):
        result["changed"] = True
        result["fnl_changes"].append(change("+", "backup key", key, "SSH key of this server's backups"))
        if module.check_mode:
            result["fnl_backup_public_key"] = None
            return result
        os.makedirs(directory, mode=0o700, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fnl-backup", "-f", key],
                       check=True, capture_output=True)
    public = read_text(key + ".pub") or ""
    result["fnl_backup_public_key"] = " ".join(public.split()[:2])
    return result


def step_serve(module):
    """authorized_keys of the repository account: one restricted line per client."""
    base = module.params["repository_directory"].rstrip("/")
    try:
        account = pwd.getpwnam(module.params["repository_user"])
    except KeyError:
        if not module.check_mode:
            raise
        # A plan of a new repository host: the account comes with the apply.
        return {"changed": True, "fnl_changes": [
            change("+", "backup access", client, "may write its repository %s/%s" % (base, client))
            for client in sorted(module.params["clients"])]}
    path = os.path.join(account.pw_dir, ".ssh", "authorized_keys")
    current = {}
    for line in (read_text(path) or "").splitlines():
        parts = line.split()
        if parts and parts[-1].startswith("fnl-backup:"):
            current[parts[-1].split(":", 1)[1]] = line
    lines, changes = {}, []
    for client, public_key in sorted(module.params["clients"].items()):
        if not public_key:  # outside this run, or its key is made in this very apply's plan
            if client in current:
                lines[client] = current[client]
            continue
        lines[client] = (
            'command="borg serve --restrict-to-repository %s/%s",restrict %s %s'
            % (base, client, public_key, CLIENT_COMMENT % client)
        )
        if current.get(client) != lines[client]:
            changes.append(change("+" if client not in current else "~", "backup access",
                                  client, "may write its repository %s/%s" % (base, client)))
    for client in sorted(set(current) - set(lines)):
        changes.append(change("-", "backup access", client,
                              "no longer backs up here (its repository is kept)"))
    text = "".join(lines[c] + "\n" for c in sorted(lines))
    if text == (read_text(path) or ""):
        return {"changed": False, "fnl_changes": []}
    if not module.check_mode:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.chown(os.path.dirname(path), account.pw_uid, account.pw_gid)
        write_private(path, text, account.pw_uid, account.pw_gid)
    return {"changed": True, "fnl_changes": changes}


def step_client(module):
    directory = module.params["config_directory"]
    repository = module.params["repository"]
    result = {"changed": False, "fnl_changes": []}
    if not repository:
        return result
    try:
        with open(module.params["credentials_file"], encoding="utf-8") as handle:
            passphrase = json.load(handle).get("backup_passphrase")
    except FileNotFoundError:
        passphrase = None
    if not passphrase and module.check_mode:
        # A plan before the first apply: the apply makes the passphrase, then the rest.
        result["changed"] = True
        result["fnl_changes"].append(change("+", "backup repository", repository,
                                            "BorgBackup, encrypted (repokey-blake2)"))
        return result
    if not passphrase:
        module.fail_json(msg="no backup passphrase in %s: apply with fnl-deploy, which keeps "
                             "it in the deployment's encrypted store"
                             % module.params["credentials_file"])
    changes = result["fnl_changes"]
    files = {os.path.join(directory, "passphrase"): passphrase + "\n"}
    if module.params["repository_host_key"]:
        files[os.path.join(directory, "known_hosts")] = "%s %s\n" % (
            module.params["repository_host"], module.params["repository_host_key"])
    for path, text in sorted(files.items()):
        if read_text(path) != text:
            name = os.path.basename(path)
            changes.append(change("~" if os.path.exists(path) else "+", "backup " + name, path,
                                  "pinned host key of %s" % module.params["repository_host"]
                                  if name == "known_hosts" else "kept from the encrypted store"))
            if not module.check_mode:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                write_private(path, text)
    env = borg_environment(directory)
    if module.check_mode and (changes or env is None):
        # The key, the pinned host or the settings may not exist yet: opening the
        # repository would fail.
        result["changed"] = True
        return result
    if env is None:
        module.fail_json(msg="%s/borg.env is missing: the role writes it before this step"
                         % directory)
    info = subprocess.run(["borg", "info", "--json"], env=env, capture_output=True, text=True)
    if info.returncode != 0:
        message = info.stderr.strip()
        if "does not exist" not in message and "is not a valid repository" not in message:
            module.fail_json(msg="cannot open the backup repository %s: %s" % (repository, message))
        changes.append(change("+", "backup repository", repository,
                              "BorgBackup, encrypted (repokey-blake2)"))
        if not module.check_mode:
            init = subprocess.run(["borg", "init", "--encryption", "repokey-blake2"], env=env,
                                  capture_output=True, text=True)
            if init.returncode != 0:
                module.fail_json(msg="borg init %s failed: %s" % (repository, init.stderr.strip()))
    result["changed"] = bool(changes)
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": ["keys", "serve", "client"]},
            "repository": {"type": "str", "default": ""},
            "config_directory": {"type": "path", "default": "/etc/fnl-deploy/backup"},
            "credentials_file": {"type": "path",
                                 "default": "/var/lib/fnl-deploy/staged/credentials.json"},
            "repository_user": {"type": "str", "default": "fnl-backup"},
            "repository_directory": {"type": "path", "default": "/srv/fnl-backup"},
            "clients": {"type": "dict", "default": {}},
            "repository_host": {"type": "str", "default": ""},
            "repository_host_key": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    step = {"keys": step_keys, "serve": step_serve, "client": step_client}[module.params["step"]]
    module.exit_json(**step(module))


if __name__ == "__main__":
    main()
