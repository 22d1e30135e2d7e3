#!/usr/bin/python
"""Ansible module: one certificate per commune from the local CA, all in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_tenant_certificates
short_description: Each commune's certificate (its own names only), from the server's local CA
description:
  - One call per server, whatever the number of communes (tenants are data, not tasks).
  - Each commune's names (mail.<domain>, and on the webmail server mta-sts, autoconfig,
    autodiscover) get a certificate of their own, which Postfix, Dovecot and nginx choose
    by SNI. One certificate per commune keeps each under ACME's 100 names and lets one
    commune's DNS problem fail only its own certificate.
  - Files are C(directory)/<name>.crt (full chain) and C(directory)/<name>.key (root only).
  - C(mode=issue) (provider local_ca) issues a missing certificate, and re-issues one whose
    names differ or that expires within 30 days. C(mode=standin) (provider acme) issues
    only missing ones, so the services can start; the ACME step replaces them.
  - Removes the files of communes no longer listed (certificates are not data), unless
    C(prune=false): in a whole play, the services' configurations still name them until
    roles mail and groupware have run, so site.yml prunes at the end (C(issue=false)).
  - Check mode says what would be issued or removed.
options:
  certificates:
    type: list
    elements: dict
    required: true
    description: "[{name, names}]: file name (the commune's domain) and DNS names (A-labels)."
  directory: {type: path, required: true, description: Where the commune certificates live.}
  ca_certificate: {type: path, required: true, description: The local CA certificate.}
  ca_key: {type: path, required: true, description: The local CA key.}
  days: {type: int, default: 397, description: Validity in days.}
  mode: {type: str, choices: [issue, standin], default: issue, description: See above.}
  issue: {type: bool, default: true, description: Issue what is missing or due.}
  prune: {type: bool, default: true, description: Remove the communes no longer listed.}
"""

import datetime
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_tls import certificate_facts

RENEW_BEFORE = datetime.timedelta(days=30)


def issue(directory, name, names, ca_certificate, ca_key, days):
    """Key and certificate for names, signed by the local CA; both files replaced at once."""
    work = tempfile.mkdtemp(prefix=".issue-", dir=directory)
    try:
        config = os.path.join(work, "request.cnf")
        with open(config, "w", encoding="ascii") as out:
            out.write("[req]\ndistinguished_name = dn\nprompt = no\nreq_extensions = ext\n"
                      "[dn]\nCN = %s\n[ext]\nbasicConstraints = critical,CA:FALSE\n"
                      "keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
                      "subjectAltName = %s\n"
                      % (names[0], ",".join("DNS:" + n for n in names)))
        key, csr, pem = (os.path.join(work, f) for f in ("key", "csr", "pem"))
        for argv in (
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-config", config, "-keyout", key, "-out", csr],
            ["openssl", "x509", "-req", "-in", csr, "-CA", ca_certificate, "-CAkey", ca_key,
             "-CAcreateserial", "-CAserial", os.path.join(work, "serial"), "-days", str(days),
             "-copy_extensions", "copyall", "-out", pem],
        ):
            result = subprocess.run(argv, capture_output=True, text=True)
            if result.returncode != 0:
                return "%s: %s" % (name, (result.stderr or result.stdout).strip())
        with open(pem, encoding="ascii") as leaf, open(ca_certificate, encoding="ascii") as ca:
            chain = leaf.read() + ca.read()
        with open(os.path.join(work, "crt"), "w", encoding="ascii") as out:
            out.write(chain)
        os.chmod(key, 0o600)
        os.chmod(os.path.join(work, "crt"), 0o644)
        os.replace(key, os.path.join(directory, name + ".key"))
        os.replace(os.path.join(work, "crt"), os.path.join(directory, name + ".crt"))
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec={
            "certificates": {"type": "list", "elements": "dict", "required": True},
            "directory": {"type": "path", "required": True},
            "ca_certificate": {"type": "path", "required": True},
            "ca_key": {"type": "path", "required": True},
            "days": {"type": "int", "default": 397},
            "mode": {"type": "str", "choices": ["issue", "standin"], "default": "issue"},
            "issue": {"type": "bool", "default": True},
            "prune": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    directory = p["directory"]
    now = datetime.datetime.utcnow()
    changes, to_issue = [], []
    for certificate in p["certificates"] if p["issue"] else []:
        name, names = certificate["name"], [n.lower() for n in certificate["names"]]
        current, not_after = certificate_facts(os.path.join(directory, name + ".crt"))
        if current is None or not os.path.exists(os.path.join(directory, name + ".key")):
            reason = "new certificate"
        elif p["mode"] == "standin":
            continue
        elif current != set(names):
            reason = "names: %s" % ", ".join(
                ["+" + n for n in sorted(set(names) - current)]
                + ["-" + n for n in sorted(current - set(names))])
        elif not_after - now < RENEW_BEFORE:
            reason = "expires %s" % not_after.date().isoformat()
        else:
            continue
        to_issue.append((name, names))
        changes.append({"tenant": "", "service": "tls", "action": "~" if current else "+",
                        "kind": "certificate", "name": name,
                        "detail": "%s (local CA%s)" % (reason, ", until the ACME certificate"
                                                       if p["mode"] == "standin" else "")})
    desired = {c["name"] for c in p["certificates"]}
    stale = sorted({f.rsplit(".", 1)[0] for f in (os.listdir(directory)
                                                   if os.path.isdir(directory) else [])
                    if f.endswith((".crt", ".key")) and not f.startswith(".")} - desired
                   ) if p["prune"] else []
    for name in stale:
        changes.append({"tenant": "", "service": "tls", "action": "-", "kind": "certificate",
                        "name": name, "detail": "no longer served here"})
    if module.check_mode or not changes:
        module.exit_json(changed=bool(changes), fnl_changes=changes)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    # openssl's key generation and signing run in their own processes: two at a time per
    # core keeps a first apply of hundreds of communes short.
    workers = max(2, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(
            lambda item: issue(directory, item[0], item[1], p["ca_certificate"], p["ca_key"],
                               p["days"]), to_issue) if e]
    if errors:
        module.fail_json(msg="openssl could not issue: %s" % "; ".join(errors[:5]))
    for name in stale:
        for suffix in (".crt", ".key"):
            path = os.path.join(directory, name + suffix)
            if os.path.exists(path):
                os.unlink(path)
    module.exit_json(changed=True, fnl_changes=changes)


if __name__ == "__main__":
    main()
