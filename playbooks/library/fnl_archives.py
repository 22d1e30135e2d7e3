#!/usr/bin/python
"""Ansible module: list the archives of removed mailboxes kept on a server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_archives
short_description: List the archives of removed mailboxes (read only)
description:
  - Reads the index that the mail role's fnl_mailstore module keeps next to the archives
    (tar.gz plus SHA-256 manifest per removed mailbox) and returns it as C(fnl_archives).
  - With C(verify), recomputes each archive's SHA-256 and reports whether it matches.
options:
  directory: {type: path, default: /var/lib/fnl-deploy/archives, description: Archive directory.}
  verify: {type: bool, default: false, description: Recompute each archive's checksum.}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_files import sha256_file


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "default": "/var/lib/fnl-deploy/archives"},
            "verify": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    index_path = os.path.join(module.params["directory"], "index.json")
    try:
        with open(index_path, encoding="utf-8") as handle:
            archives = json.load(handle)
    except FileNotFoundError:
        archives = []
    for record in archives:
        present = os.path.exists(record["archive"])
        record["present"] = present
        if module.params["verify"]:
            record["verified"] = present and sha256_file(record["archive"]) == record["sha256"]
    module.exit_json(changed=False, fnl_archives=archives)


if __name__ == "__main__":
    main()
