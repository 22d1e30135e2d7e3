#!/usr/bin/python
"""Ansible module: the server's ACME certificate, issued or re-issued by certbot when needed."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_acme
short_description: One ACME certificate for the server's names, through certbot (http-01)
description:
  - One call per server, whatever the number of names.
  - Issues the certificate C(cert_name) for C(names) when it does not exist, when the names
    it covers differ, or when it expires within C(renew_days) days; otherwise changes
    nothing (certbot.timer renews it later). certbot answers http-01 challenges through
    the webroot nginx serves on port 80.
  - After issuance, certbot runs C(deploy_hook), which installs the certificate where the
    services read it and reloads them; renewals run the same hook.
  - Check mode says what would be issued.
options:
  cert_name: {type: str, default: fnl-server, description: certbot lineage name.}
  names: {type: list, elements: str, required: true, description: DNS names (A-labels).}
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


def certificate_facts(path):
    """(names, not_after) of a PEM certificate, or (None, None) when absent."""
    if not os.path.exists(path):
        return None, None
    result = subprocess.run(
        ["openssl", "x509", "-in", path, "-noout", "-enddate", "-ext", "subjectAltName"],
        capture_output=True, text=True)
    if result.returncode != 0:
        return None, None
    names, not_after = set(), None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("notAfter="):
            not_after = datetime.datetime.strptime(line.split("=", 1)[1].replace(" GMT", ""),
                                                   "%b %d %H:%M:%S %Y")
        for part in line.split(","):
            part = part.strip()
            if part.startswith("DNS:"):
                names.add(part[4:].lower())
    return names, not_after


def main():
    module = AnsibleModule(
        argument_spec={
            "cert_name": {"type": "str", "default": "fnl-server"},
            "names": {"type": "list", "elements": "str", "required": True},
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
    names = [n.lower() for n in p["names"]]
    if len(names) > 100:
        module.fail_json(msg="%d names for one certificate; ACME CAs accept at most 100"
                         % len(names))
    live = "/etc/letsencrypt/live/%s/cert.pem" % p["cert_name"]
    current, not_after = certificate_facts(live)
    reason = None
    if current is None:
        reason = "new certificate"
    elif current != set(names):
        added, removed = set(names) - current, current - set(names)
        reason = "names: %s" % ", ".join(
            ["+" + n for n in sorted(added)] + ["-" + n for n in sorted(removed)])
    elif not_after - datetime.datetime.utcnow() < datetime.timedelta(days=p["renew_days"]):
        reason = "expires %s" % not_after.date().isoformat()
    if reason is None:
        module.exit_json(changed=False, fnl_changes=[])
    changes = [{"tenant": "", "service": "tls", "action": "~" if current else "+",
                "kind": "certificate", "name": p["cert_name"],
                "detail": "%s (%d names, %s)" % (reason, len(names), p["directory_url"])}]
    if module.check_mode:
        module.exit_json(changed=True, fnl_changes=changes)
    argv = ["certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
            "--email", p["email"], "--server", p["directory_url"],
            "--webroot", "--webroot-path", p["webroot"],
            "--cert-name", p["cert_name"], "--key-type", "ecdsa",
            "--elliptic-curve", "secp256r1", "--deploy-hook", p["deploy_hook"],
            "--force-renewal"]
    for name in names:
        argv += ["-d", name]
    env = dict(os.environ)
    if p["ca_bundle"]:
        env["REQUESTS_CA_BUNDLE"] = p["ca_bundle"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        module.fail_json(msg="certbot could not get the certificate: %s"
                         % (result.stderr or result.stdout).strip()[-2000:])
    module.exit_json(changed=True, fnl_changes=changes)


if __name__ == "__main__":
    main()
