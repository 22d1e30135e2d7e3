#!/usr/bin/python
"""Ansible module: the server's ACME certificate, issued or re-issued by certbot when needed."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_acme
short_description: The server's and each commune's ACME certificates, through certbot (http-01)
description:
  - One call per server, whatever the number of communes.
  - The server certificate (C(cert_name), C(names): the server's own names) and one
    certificate per commune (C(certificates), lineage C(fnl-<name>)), each issued or
    re-issued when it does not exist, when the names it covers differ, or when it expires
    within C(renew_days) days; otherwise nothing changes (certbot.timer renews them).
    certbot answers http-01 challenges through the webroot nginx serves on port 80.
  - A commune whose certificate cannot be issued (its names do not point here yet, a rate
    limit) keeps the certificate it has and is reported as a warning; the next apply
    tries again. A failure of the server certificate fails the task.
  - Removes the C(fnl-) lineages of communes no longer served here (certbot delete).
  - After issuance, certbot runs C(deploy_hook), which installs the certificate where the
    services read it and reloads them; renewals run the same hook.
  - Check mode says what would be issued.
options:
  cert_name: {type: str, default: fnl-server, description: certbot lineage of the server certificate.}
  names: {type: list, elements: str, required: true, description: The server's DNS names (A-labels).}
  certificates:
    type: list
    elements: dict
    default: []
    description: "[{name, names}]: each commune's certificate (lineage fnl-<name>)."
  directory_url: {type: str, required: true, description: ACME directory.}
  email: {type: str, required: true, description: ACME account contact.}
  webroot: {type: path, required: true, description: Where http-01 answers are written.}
  deploy_hook: {type: path, required: true, description: Run after each issuance.}
  ca_bundle: {type: path, description: CA bundle to trust for the ACME API (a test CA).}
  renew_days: {type: int, default: 30, description: Re-issue when expiring sooner.}
"""

import datetime
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_tls import certificate_facts

LIVE = "/etc/letsencrypt/live"
RENEWAL = "/etc/letsencrypt/renewal"
#: Lineages of commune certificates are this prefix and the commune's domain.
TENANT_PREFIX = "fnl-"


def why_issue(lineage, names, renew_days):
    """Why the lineage needs an order now ('new certificate', changed names, expiry) or None."""
    current, not_after = certificate_facts(os.path.join(LIVE, lineage, "cert.pem"))
    if current is None:
        return None, "new certificate"
    if current != set(names):
        added, removed = set(names) - current, current - set(names)
        return current, "names: %s" % ", ".join(
            ["+" + n for n in sorted(added)] + ["-" + n for n in sorted(removed)])
    if not_after - datetime.datetime.utcnow() < datetime.timedelta(days=renew_days):
        return current, "expires %s" % not_after.date().isoformat()
    return current, None


def certbot(module, argv):
    env = dict(os.environ)
    if module.params["ca_bundle"]:
        env["REQUESTS_CA_BUNDLE"] = module.params["ca_bundle"]
    return subprocess.run(argv, capture_output=True, text=True, env=env)


def order(module, lineage, names):
    """Run certbot for one lineage; None on success, else certbot's last words."""
    p = module.params
    argv = ["certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
            "--email", p["email"], "--server", p["directory_url"],
            "--webroot", "--webroot-path", p["webroot"],
            "--cert-name", lineage, "--key-type", "ecdsa",
            "--elliptic-curve", "secp256r1", "--deploy-hook", p["deploy_hook"],
            "--force-renewal"]
    for name in names:
        argv += ["-d", name]
    result = certbot(module, argv)
    if result.returncode == 0:
        return None
    return (result.stderr or result.stdout).strip()[-2000:]


def main():
    module = AnsibleModule(
        argument_spec={
            "cert_name": {"type": "str", "default": "fnl-server"},
            "names": {"type": "list", "elements": "str", "required": True},
            "certificates": {"type": "list", "elements": "dict", "default": []},
            "directory_url": {"type": "str", "required": True},
            "email": {"type": "str", "required": True},
            "webroot": {"type": "path", "required": True},
            "deploy_hook": {"type": "path", "required": True},
            "ca_bundle": {"type": "path"},
            "renew_days": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    wanted = [(p["cert_name"], [n.lower() for n in p["names"]], True)]
    wanted += [(TENANT_PREFIX + c["name"], [n.lower() for n in c["names"]], False)
               for c in p["certificates"]]
    for lineage, names, _ in wanted:
        if len(names) > 100:
            module.fail_json(msg="%s: %d names for one certificate; ACME CAs accept at most 100"
                             % (lineage, len(names)))
    changes, orders = [], []
    for lineage, names, required in wanted:
        current, reason = why_issue(lineage, names, p["renew_days"])
        if reason is None:
            continue
        orders.append((lineage, names, required))
        changes.append({"tenant": "", "service": "tls", "action": "~" if current else "+",
                        "kind": "certificate", "name": lineage,
                        "detail": "%s (%d names, %s)" % (reason, len(names), p["directory_url"])})
    keep = {lineage for lineage, _, _ in wanted}
    stale = sorted(f[:-len(".conf")] for f in (os.listdir(RENEWAL) if os.path.isdir(RENEWAL)
                                                else [])
                   if f.endswith(".conf") and f.startswith(TENANT_PREFIX)
                   and f[:-len(".conf")] not in keep)
    for lineage in stale:
        changes.append({"tenant": "", "service": "tls", "action": "-", "kind": "certificate",
                        "name": lineage, "detail": "no longer served here (certbot delete)"})
    if module.check_mode or not changes:
        module.exit_json(changed=bool(changes), fnl_changes=changes)
    issued = False
    for lineage, names, required in orders:
        error = order(module, lineage, names)
        if error is None:
            issued = True
            continue
        if required:
            module.fail_json(msg="certbot could not get the certificate %s: %s"
                             % (lineage, error))
        module.warn("certbot could not get %s (the certificate it has stays; the next apply "
                    "tries again): %s" % (lineage, error[-500:]))
        changes = [c for c in changes if c["name"] != lineage]
    for lineage in stale:
        result = certbot(module, ["certbot", "delete", "--non-interactive",
                                  "--cert-name", lineage])
        if result.returncode != 0:
            module.warn("certbot could not delete %s: %s"
                        % (lineage, (result.stderr or result.stdout).strip()[-500:]))
    module.exit_json(changed=issued or bool(stale), fnl_changes=changes)


if __name__ == "__main__":
    main()
