#!/usr/bin/python
"""Ansible module: the platform-wide apply lock, held in a file on the lock server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_lock
short_description: Take or release the fnl-deploy platform lock
description:
  - One apply at a time per platform (DESIGN.md section 3, rule 5). The lock is a file
    created atomically (O_EXCL) on the first server of C(fnl_servers).
  - A lock is stale, and is replaced, when the controller that took it declares its run
    dead (its process is gone, passed in I(stale_run_ids)), or when it is older than
    I(max_age) seconds.
options:
  state:
    description: present takes the lock, absent releases it (only if I(run_id) holds it).
    choices: [present, absent]
    default: present
    type: str
  run_id:
    description: Identifier of this run.
    required: true
    type: str
  holder:
    description: Who runs the apply (user@controller, pid), shown to anyone refused.
    type: str
    default: unknown
  stale_run_ids:
    description: Runs the controller knows to be dead; their locks may be cleared.
    type: list
    elements: str
    default: []
  max_age:
    description: Seconds after which any lock is considered abandoned.
    type: int
    default: 21600
  path:
    description: Lock file.
    type: path
    default: /var/lib/fnl-deploy/apply.lock
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _create(path, record):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "run_id": {"type": "str", "required": True},
            "holder": {"type": "str", "default": "unknown"},
            "stale_run_ids": {"type": "list", "elements": "str", "default": []},
            "max_age": {"type": "int", "default": 21600},
            "path": {"type": "path", "default": "/var/lib/fnl-deploy/apply.lock"},
        },
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    current = _read(path)
    # The lock is not part of the platform's state: taking and releasing it is never a
    # "change", so a second apply still reports zero changes.
    if params["state"] == "absent":
        if current and current.get("run_id") == params["run_id"] and not module.check_mode:
            os.unlink(path)
        module.exit_json(changed=False, released=bool(current))
    if module.check_mode:
        module.exit_json(changed=False, lock=current)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    record = {
        "run_id": params["run_id"],
        "holder": params["holder"],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "started_epoch": int(time.time()),
    }
    cleared = None
    for _attempt in range(2):
        try:
            _create(path, record)
            module.exit_json(
                changed=False, acquired=True, cleared_stale=cleared, run_id=params["run_id"]
            )
        except FileExistsError:
            current = _read(path) or {}
            if current.get("run_id") == params["run_id"]:
                module.exit_json(
                    changed=False, acquired=True, cleared_stale=None, run_id=params["run_id"]
                )
            age = int(time.time()) - int(current.get("started_epoch", 0))
            if current.get("run_id") in params["stale_run_ids"] or age > params["max_age"]:
                cleared = current
                os.unlink(path)
                continue
            module.fail_json(
                msg="another apply holds the platform lock",
                fnl_lock_holder=current,
            )
    module.fail_json(msg="could not take the platform lock", fnl_lock_holder=_read(path))


if __name__ == "__main__":
    main()
