#!/usr/bin/python
"""Ansible module: whether fnl-deploy has provisioned this server before."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_state
short_description: Read or mark the fnl-deploy provisioning marker of a server
description:
  - With I(state=query), reports whether the server was ever provisioned, so that a plan
    against a new server says so plainly.
  - With I(state=present), writes the marker once, at the end of the first apply; later
    applies leave it untouched (a second apply reports zero changes).
options:
  state:
    choices: [query, present]
    default: query
    type: str
  path:
    type: path
    default: /var/lib/fnl-deploy/provisioned.json
  version:
    description: fnl-deploy version recorded at first provisioning.
    type: str
    default: ""
  run_id:
    description:
      - With I(state=present), the run that just converged the server, recorded with the
        time in C(last_apply_path) for C(fnl-deploy status). Bookkeeping, like the lock:
        not reported as a change (a second apply still reports zero changes).
    type: str
    default: ""
  last_apply_path:
    type: path
    default: /var/lib/fnl-deploy/last-apply.json
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def record_apply(params):
    """When this server was last converged, and by which run (atomic replace)."""
    path = params["last_apply_path"]
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path + ".new", "w", encoding="utf-8") as handle:
        json.dump({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "run_id": params["run_id"], "version": params["version"]}, handle)
    os.replace(path + ".new", path)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "query", "choices": ["query", "present"]},
            "path": {"type": "path", "default": "/var/lib/fnl-deploy/provisioned.json"},
            "version": {"type": "str", "default": ""},
            "run_id": {"type": "str", "default": ""},
            "last_apply_path": {"type": "path",
                                "default": "/var/lib/fnl-deploy/last-apply.json"},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        with open(path, encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        marker = None
    if module.params["state"] == "present" and not module.check_mode:
        record_apply(module.params)
    if module.params["state"] == "query" or marker is not None:
        module.exit_json(changed=False, provisioned=marker is not None, marker=marker)
    if not module.check_mode:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "first_apply": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "version": module.params["version"],
                },
                handle,
            )
    module.exit_json(changed=True, provisioned=True)


if __name__ == "__main__":
    main()
