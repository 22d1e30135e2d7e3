"""Shared by the fnl-deploy playbook modules that read the mail store and archives.

Same place and same reach as fnl_postgres (ANSIBLE_MODULE_UTILS): the side playbooks'
modules (archives, offboard, backup) count and hash the same way.
"""

from __future__ import annotations

import hashlib
import os


def sha256_file(path):
    """SHA-256 of a file, read 1 MiB at a time (archives can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_messages(maildir_root):
    """Messages of every Maildir folder (files in cur/ and new/) under a directory."""
    total = 0
    for directory, _subdirs, files in os.walk(maildir_root):
        if os.path.basename(directory) in ("cur", "new"):
            total += len(files)
    return total
