#!/usr/bin/python
"""Ansible module: what an operator must know about a server and its communes (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_status
short_description: Health of a server and usage of each commune it holds, read-only
description:
  - One call per server, whatever the number of communes; changes nothing.
  - Server: services (running or not), mail queue (messages, oldest), disk use of the
    system and of the mail store, certificates' expiry (the server's and each commune's),
    last good backup, pending security updates, last successful apply.
  - Each commune of the desired state the server was last converged to: mailboxes,
    storage used against each mailbox's quota and the commune's, DKIM key age, and its
    mail volume over the last 24 hours (messages delivered to its mailboxes, messages its
    people sent), counted in one read of Postfix's journal.
  - Facts only; the controller (fnl-deploy status) decides what needs action.
options:
  desired_file: {type: path, default: /var/lib/fnl-deploy/desired.json, description: What the server was converged to.}
  vmail_directory: {type: path, default: /var/vmail, description: The mail store.}
  tls_directory: {type: path, default: /etc/fnl-deploy/tls, description: server.crt and tenants/*.crt.}
  dkim_directory: {type: path, default: /var/lib/rspamd/dkim, description: DKIM private keys.}
  dkim_selector_map: {type: path, default: /etc/rspamd/dkim_selectors.map, description: Selector map.}
  backup_settings: {type: path, default: /etc/fnl-deploy/backup/borg.env, description: Present when role backup runs here.}
  backup_marker: {type: path, default: /var/lib/fnl-deploy/backup/last-success.json, description: Written by each good backup.}
  last_apply_marker: {type: path, default: /var/lib/fnl-deploy/last-apply.json, description: Written by each successful apply.}
"""

import datetime
import json
import os
import re
import ssl
import subprocess

from ansible.module_utils.basic import AnsibleModule

#: Units whose state matters, as systemctl patterns: the real Postfix and PostgreSQL
#: instances (postfix.service and postgresql.service are only umbrellas that "exit").
SERVICE_PATTERNS = [
    "postfix@*.service", "dovecot.service", "rspamd.service", "redis-server.service",
    "postgresql@*.service", "sogo.service", "memcached.service", "nginx.service",
    "knot.service", "fail2ban.service", "ssh.service",
]


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(argv):
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return result


def read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def services():
    """unit -> ActiveState, for the units of SERVICE_PATTERNS that exist here."""
    result = run(["systemctl", "list-units", "--type=service", "--all", "--no-legend",
                  "--plain", "--no-pager", *SERVICE_PATTERNS])
    found = {}
    for line in (result.stdout if result else "").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] != "not-found":
            found[parts[0]] = parts[2]  # ACTIVE: active, inactive, failed…
    return found


def mail_queue():
    """Messages in Postfix's queue and the age of the oldest, in seconds."""
    result = run(["postqueue", "-j"])
    if result is None or result.returncode != 0:
        return None
    arrivals = []
    for line in result.stdout.splitlines():
        try:
            arrivals.append(int(json.loads(line)["arrival_time"]))
        except (ValueError, KeyError):
            continue
    oldest = int(now().timestamp()) - min(arrivals) if arrivals else 0
    return {"messages": len(arrivals), "oldest_seconds": max(oldest, 0)}


def disks(paths):
    """Use of each file system holding one of paths (one entry per file system)."""
    out, seen = [], set()
    for path in paths:
        try:
            device = os.stat(path).st_dev
            stats = os.statvfs(path)
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        total = stats.f_blocks * stats.f_frsize
        free = stats.f_bavail * stats.f_frsize
        used = total - stats.f_bfree * stats.f_frsize
        out.append({"path": path, "total_bytes": total, "free_bytes": free,
                    "used_percent": round(100.0 * used / (used + free), 1) if used + free else 0.0})
    return out


def certificate(path, name):
    try:
        decoded = ssl._ssl._test_decode_cert(path)
    except (OSError, ssl.SSLError):
        return None
    not_after = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]),
                                                datetime.timezone.utc)
    issuer = dict(item for rdn in decoded.get("issuer", ()) for item in rdn)
    return {"name": name, "not_after": iso(not_after), "issuer": issuer.get("commonName", ""),
            "days_left": round((not_after - now()).total_seconds() / 86400, 1)}


def certificates(directory):
    out = []
    server = certificate(os.path.join(directory, "server.crt"), "server")
    if server:
        out.append(server)
    tenants = os.path.join(directory, "tenants")
    for entry in sorted(os.listdir(tenants)) if os.path.isdir(tenants) else []:
        if entry.endswith(".crt") and not entry.startswith("."):
            found = certificate(os.path.join(tenants, entry), entry[:-len(".crt")])
            if found:
                out.append(found)
    return out


def age_of(marker, field):
    """(ISO time, hours since) of a marker file's field, or (None, None)."""
    data = read_json(marker) or {}
    try:
        moment = datetime.datetime.strptime(data[field], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (KeyError, TypeError, ValueError):
        return None, None
    return data[field], round((now() - moment).total_seconds() / 3600, 1)


def security_updates():
    """Packages with an update from the security archive, from apt's current lists."""
    result = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"])
    if result is None or result.returncode != 0:
        return None
    return sorted({line.split()[1] for line in result.stdout.splitlines()
                   if line.startswith("Inst ") and "security" in line.lower()})


def quota_usage():
    """address -> (used bytes, limit bytes) from Dovecot's quota (count backend)."""
    result = run(["doveadm", "-f", "tab", "quota", "get", "-A"])
    usage = {}
    if result is None or result.returncode != 0:
        return usage
    lines = result.stdout.splitlines()
    # Titles as doveadm prints them ("Quota name", "Type", "Value", "Limit", "%").
    header = [title.strip().lower() for title in lines[0].split("\t")] if lines else []
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        if row.get("type") != "STORAGE":
            continue
        limit = row.get("limit", "-")
        usage[row.get("username", "")] = (
            int(row.get("value", "0") or 0) * 1024,
            int(limit) * 1024 if limit.isdigit() else None,
        )
    return usage


def dkim_ages(selector_map, directory):
    """domain -> age in days of the key it signs with."""
    ages = {}
    try:
        with open(selector_map, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ages
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or line.startswith("#"):
            continue
        try:
            mtime = os.stat(os.path.join(directory, "%s.%s.key" % (parts[0], parts[1]))).st_mtime
        except OSError:
            continue
        ages[parts[0]] = round((now().timestamp() - mtime) / 86400, 1)
    return ages


#: Postfix's log lines that count: deliveries into a mailbox, and logins that send.
DELIVERED = re.compile(r"\bto=<([^>]+)>.*\bstatus=sent\b")
SUBMITTED = re.compile(r"\bsasl_username=(\S+)")
VOLUME_IDENTIFIERS = ["postfix/lmtp", "postfix/submission/smtpd", "postfix/submissions/smtpd",
                      "postfix/webmail/smtpd"]


def mail_volume(hours=24):
    """address -> [delivered to it, sent by it] over the last ``hours``, from the journal.

    journalctl filters by syslog identifier, so only these services' lines are read: a
    server's whole day of mail in one process, whatever the number of communes.
    """
    argv = ["journalctl", "--since", "-%dh" % hours, "--no-pager", "--quiet", "--output=cat"]
    result = run(argv + ["SYSLOG_IDENTIFIER=%s" % name for name in VOLUME_IDENTIFIERS])
    counts = {}
    if result is None or result.returncode != 0:
        return None
    for line in result.stdout.splitlines():
        found = DELIVERED.search(line)
        if found:
            counts.setdefault(found.group(1).lower(), [0, 0])[0] += 1
            continue
        found = SUBMITTED.search(line)
        if found:
            counts.setdefault(found.group(1).lower(), [0, 0])[1] += 1
    return counts


def tenants(desired, usage, dkim, volume):
    out = []
    for tenant in desired.get("tenants", []):
        mailboxes = []
        for mailbox in tenant.get("mailboxes", []):
            used, limit = usage.get(mailbox["address"], (None, None))
            limit = limit or mailbox.get("quota_bytes")
            mailboxes.append({
                "address": mailbox["address"], "kind": mailbox.get("kind", "person"),
                "used_bytes": used, "quota_bytes": limit,
                "used_percent": round(100.0 * used / limit, 1) if used is not None and limit
                else None,
            })
        used_total = sum(m["used_bytes"] or 0 for m in mailboxes)
        mail = None
        if volume is not None:
            counted = [volume.get(m["address"].lower(), (0, 0)) for m in mailboxes]
            mail = {"hours": 24, "received": sum(c[0] for c in counted),
                    "sent": sum(c[1] for c in counted)}
        out.append({
            "id": tenant["id"], "domain": tenant["domain"],
            "mailboxes": mailboxes, "used_bytes": used_total,
            "quota_bytes": tenant.get("quota_bytes"),
            "dkim_key_age_days": dkim.get(tenant["domain"]),
            "mail": mail,
        })
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "desired_file": {"type": "path", "default": "/var/lib/fnl-deploy/desired.json"},
            "vmail_directory": {"type": "path", "default": "/var/vmail"},
            "tls_directory": {"type": "path", "default": "/etc/fnl-deploy/tls"},
            "dkim_directory": {"type": "path", "default": "/var/lib/rspamd/dkim"},
            "dkim_selector_map": {"type": "path", "default": "/etc/rspamd/dkim_selectors.map"},
            "backup_settings": {"type": "path", "default": "/etc/fnl-deploy/backup/borg.env"},
            "backup_marker": {"type": "path",
                              "default": "/var/lib/fnl-deploy/backup/last-success.json"},
            "last_apply_marker": {"type": "path",
                                  "default": "/var/lib/fnl-deploy/last-apply.json"},
        },
        supports_check_mode=True,
    )
    p = module.params
    desired = read_json(p["desired_file"]) or {}
    backup = None
    if os.path.exists(p["backup_settings"]):
        finished, hours = age_of(p["backup_marker"], "finished")
        backup = {"finished": finished, "age_hours": hours}
    applied, applied_hours = age_of(p["last_apply_marker"], "finished")
    report = {
        "checked": iso(now()),
        "provisioned": desired != {},
        "services": services(),
        "queue": mail_queue(),
        "disks": disks(["/", p["vmail_directory"]]),
        "certificates": certificates(p["tls_directory"]),
        "backup": backup,
        "security_updates": security_updates(),
        "last_apply": {"finished": applied, "age_hours": applied_hours},
        "tenants": tenants(desired, quota_usage(),
                           dkim_ages(p["dkim_selector_map"], p["dkim_directory"]),
                           mail_volume()),
    }
    module.exit_json(changed=False, fnl_status=report)


if __name__ == "__main__":
    main()
