#!/usr/bin/python
"""Ansible module: the hosted zones Knot serves, written from the desired state in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_zones
short_description: Hosted zones for Knot DNS (primary signs, secondaries transfer)
description:
  - One call per server, whatever the number of zones.
  - On the primary, writes one zone file per hosted domain from the desired state (plus the
    DKIM keys the servers hold, given in C(dkim)), checks each with kzonecheck, and has
    Knot load the changed ones. Knot signs them (DNSSEC) and numbers them (serial-policy
    dateserial, zonefile-load difference-no-serial): the files never carry a real serial.
  - On every name server, writes the zone list Knot includes (C(zones_config)), checks the
    whole configuration with knotc conf-check before Knot reads it, and reloads.
  - A zone no longer hosted leaves the list (Knot stops answering for it); its file and
    DNSSEC keys stay on the server.
  - Returns the DS records of every signed zone as C(fnl_ds), for the registrar.
  - Check mode reports the zones it would add, change or stop serving.
options:
  desired_file: {type: path, required: true, description: Desired state JSON (key dns).}
  dkim: {type: dict, default: {}, description: "domain -> {selector, public_key} held now."}
  zone_directory: {type: path, default: /var/lib/knot/fnl, description: Primary zone files.}
  zones_config: {type: path, default: /etc/knot/fnl-zones.conf, description: Zone list.}
"""

import json
import os
import pwd
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

#: Knot's KASP database (DNSSEC keys): database.storage in templates/knot.conf.j2 plus
#: Knot's default kasp-db, "keys".
KASP_DB = "/var/lib/knot/keys"


def change(action, name, detail=""):
    return {"tenant": "", "service": "dns", "action": action, "kind": "zone", "name": name,
            "detail": detail}


def txt(text):
    """TXT presentation, split in strings of at most 255 octets (RFC 1035 3.3.14)."""
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"%s"' % chunk for chunk in chunks)


def zone_with_dkim(text, domain, dkim, ttl):
    key = dkim.get(domain)
    if not key:
        return text
    record = "v=DKIM1; k=rsa; p=%s" % key["public_key"]
    return text + "%s._domainkey %d TXT %s  ; DKIM public key\n" % (
        key["selector"], ttl, txt(record))


def zones_config(role, zones):
    lines = ["# Managed by fnl-deploy (role dns): the zones this server answers for.", "zone:"]
    template = "fnl-primary" if role == "primary" else "fnl-secondary"
    for domain in sorted(zones):
        lines.append("  - domain: %s" % domain)
        lines.append("    template: %s" % template)
    if not zones:
        lines = lines[:1]
    return "\n".join(lines) + "\n"


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write(path, text, gid):
    directory = os.path.dirname(path)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".fnl-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chown(tmp, 0, gid)
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)


class Zones:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changes = []
        self.changed = False

    def run(self, *argv, check=True, **options):
        try:
            result = subprocess.run(list(argv), capture_output=True, text=True, **options)
        except FileNotFoundError:  # a plan before Knot is installed
            if check:
                self.module.fail_json(msg="%s is not installed" % argv[0])
            return subprocess.CompletedProcess(argv, 127, "", "")
        if check and result.returncode != 0:
            self.module.fail_json(msg="%s failed: %s" % (" ".join(argv),
                                                         (result.stderr or result.stdout).strip()))
        return result

    def zone_files(self, desired, dkim):
        """Write changed zone files (checked first); the zones Knot must reload."""
        directory = self.module.params["zone_directory"]
        reload = []
        knot_gid = 0 if self.check else pwd.getpwnam("knot").pw_gid
        for domain, text in sorted(desired["zones"].items()):
            text = zone_with_dkim(text, domain, dkim, int(desired.get("ttl", 3600)))
            path = os.path.join(directory, "%s.zone" % domain)
            current = read(path)
            if current == text:
                continue
            self.changes.append(change("+" if current is None else "~", domain,
                                       "new zone, signed" if current is None else "records"))
            self.changed = True
            if self.check:
                continue
            with tempfile.NamedTemporaryFile("w", suffix=".zone", encoding="utf-8") as probe:
                probe.write(text)
                probe.flush()
                checked = self.run("kzonecheck", "-o", domain, probe.name, check=False)
            if checked.returncode != 0:
                self.module.fail_json(msg="zone %s refused by kzonecheck: %s"
                                      % (domain, (checked.stderr or checked.stdout).strip()))
            write(path, text, knot_gid)
            if current is not None:
                reload.append(domain)
        return reload

    def config(self, role, zones):
        """Write the zone list if it changed, after knotc conf-check accepted it."""
        path = self.module.params["zones_config"]
        text = zones_config(role, zones)
        current = read(path) or ""
        if current == text:
            return False
        served = {line.split(": ", 1)[1] for line in current.splitlines()
                  if line.startswith("  - domain: ")}
        for domain in sorted(served - set(zones)):
            self.changes.append(change("-", domain, "no longer served (keys and file kept)"))
        if role == "secondary":
            for domain in sorted(set(zones) - served):
                self.changes.append(change("+", domain, "transferred from the primary"))
        self.changed = True
        if self.check:
            return True
        knot_gid = pwd.getpwnam("knot").pw_gid
        write(path, text, knot_gid)
        checked = self.run("knotc", "conf-check", check=False)
        if checked.returncode != 0:
            if current:
                write(path, current, knot_gid)
            else:
                os.unlink(path)
            self.module.fail_json(msg="knotc conf-check refused the zone list: %s"
                                  % (checked.stderr or checked.stdout).strip())
        return True

    def ds_records(self, zones):
        """DS of each signed zone; keys appear shortly after Knot first loads a zone."""
        # keymgr -D reads the KASP database and nothing else: a plain keymgr parses the
        # whole configuration, every hosted zone in it, once per zone. keymgr prints the
        # same DS either way: its digests are fixed and the keys come from the database.
        # A plain keymgr becomes Knot's user (server.user) before it opens the database;
        # -D knows no user, so it is done here: as root, keymgr would create a database
        # Knot cannot write in a keys directory Knot has only just made.
        options = {}
        if os.geteuid() == 0:
            try:
                knot = pwd.getpwnam("knot")
            except KeyError:  # a plan before Knot is installed: no keymgr either
                pass
            else:
                options = {"user": knot.pw_uid, "group": knot.pw_gid, "extra_groups": []}
        deadline = time.monotonic() + 30

        def lookup(domain):
            while True:
                result = self.run("keymgr", "-D", KASP_DB, domain, "ds", check=False,
                                  **options)
                values = []
                for line in result.stdout.splitlines():
                    parts = line.split()
                    if len(parts) >= 6 and parts[1] == "DS":
                        values.append(" ".join(parts[2:]))
                if values or self.check or time.monotonic() > deadline:
                    return values
                time.sleep(0.5)

        # Each keymgr is a short process (its start-up is most of its time): a few at a
        # time keep the cores busy. Only a few: each takes a reader slot of the KASP
        # database (LMDB, a fixed number of them) beside Knot's own.
        domains = sorted(zones)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lookup, domains))
        found = {}
        for domain, values in zip(domains, results):
            if values:
                # SHA-256 digests only (digest type 2): what registrars and RFC 8624 expect.
                found[domain] = [v for v in values if v.split()[2] == "2"] or values
        return found


def main():
    module = AnsibleModule(
        argument_spec={
            "desired_file": {"type": "path", "required": True},
            "dkim": {"type": "dict", "default": {}},
            "zone_directory": {"type": "path", "default": "/var/lib/knot/fnl"},
            "zones_config": {"type": "path", "default": "/etc/knot/fnl-zones.conf"},
        },
        supports_check_mode=True,
    )
    with open(module.params["desired_file"], encoding="utf-8") as handle:
        desired = json.load(handle).get("dns") or {"role": "none", "zones": {}}
    zones = Zones(module)
    role = desired.get("role", "none")
    if role == "none":
        module.exit_json(changed=False, fnl_changes=[], fnl_ds={})
    dkim = {k: v for k, v in module.params["dkim"].items() if isinstance(v, dict)}
    reload = zones.zone_files(desired, dkim) if role == "primary" else []
    config_changed = zones.config(role, desired["zones"])
    if not module.check_mode:
        if config_changed:
            zones.run("knotc", "reload")
        for domain in reload:
            zones.run("knotc", "zone-reload", domain)
    ds = zones.ds_records(desired["zones"]) if role == "primary" else {}
    module.exit_json(changed=zones.changed, fnl_changes=zones.changes, fnl_ds=ds)


if __name__ == "__main__":
    main()
