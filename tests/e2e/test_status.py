"""`fnl-deploy status` on the lab: what is healthy, and exactly what broke when it breaks.

The lab's one external zone (échevis.fr) has no registrar in the lab: its records are
published nowhere, so status rightly asks for them, on a healthy lab too.
"""

from __future__ import annotations

import json
import subprocess

from tests.e2e.conftest import fnl
from tests.e2e.mailclient import password, send_inbound, token, wait_for

NS1 = "10.89.64.11"  # the lab's Knot (primary signer), as `dns check --resolver` asks it
EXTERNAL_ZONE = "echevis/dns/records"
FULL_PERSON = "  - id: full\n    name: Test Plein\n    mailbox: test.plein\n    quota: 1 MiB\n"
FULL = "test.plein@mairie-ambel.fr"
BROKEN_ZONE, BROKEN_OWNER = "voiron.fr", "_dmarc.voiron.fr."


def status(inventory, *args: str) -> tuple[int, dict]:
    run = fnl("status", *args, "--resolver", NS1, "--json", inventory=inventory)
    assert run.rc in (0, 1), run.stdout + run.stderr
    return run.rc, json.loads(run.stdout)["data"]


def on(server: str, *argv: str) -> str:
    done = subprocess.run(
        ["podman", "exec", f"fnl-lab-{server}", *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def action_keys(data: dict) -> set[str]:
    return {f["key"] for f in data["findings"] if f["action"]}


def test_status_reports_a_healthy_lab_then_exactly_what_broke(lab_copy):
    # As the nightly timer would have: a first backup of each server.
    backed_up = fnl("backup", "run", inventory=lab_copy)
    assert backed_up.rc == 0, backed_up.stdout + backed_up.stderr
    tenant = lab_copy / "tenants" / "ambel.yml"
    original = tenant.read_text(encoding="utf-8")
    tenant.write_text(original.replace("people:\n", "people:\n" + FULL_PERSON, 1), "utf-8")
    assert fnl("apply", inventory=lab_copy).rc == 0

    rc, healthy = status(lab_copy)
    assert action_keys(healthy) == {EXTERNAL_ZONE}, healthy["findings"]
    assert rc == 1  # the external zone's records, to publish at the commune's registrar
    servers = {s["server"]: s for s in healthy["servers"]}
    assert servers["mail1"]["services"]["dovecot.service"] == "active"
    assert servers["mail2"]["backup"]["age_hours"] < 1
    assert all(c["days_left"] > 14 for s in servers.values() for c in s["certificates"])
    communes = {row["id"]: row for row in healthy["tenants"]}
    assert set(communes) >= {"ambel", "voiron", "saint-etienne-de-crossey", "echevis"}
    assert communes["voiron"]["dns"]["ok"] and communes["voiron"]["dns"]["rcpnt"]

    # Three things break: a service, a mailbox fills up, a hosted record disappears.
    subject = f"plein {token()}"
    assert send_inbound("mail1", [FULL], subject, body="x" * 950_000) == {}
    wait_for("mail1", FULL, subject, secret=password(FULL, lab_copy))
    record = on("mail1", "knotc", "zone-read", BROKEN_ZONE, BROKEN_OWNER, "TXT")
    value = record.split(" TXT ", 1)[1].strip()
    on("mail2", "systemctl", "stop", "dovecot")
    on("mail1", "knotc", "zone-begin", BROKEN_ZONE)
    on("mail1", "knotc", "zone-unset", BROKEN_ZONE, BROKEN_OWNER, "TXT")
    on("mail1", "knotc", "zone-commit", BROKEN_ZONE)
    try:
        rc, broken = status(lab_copy)
        assert rc == 1
        new = {f["key"] for f in broken["changes"]["new"]}
        assert new == {
            "mail2/service/dovecot.service",
            f"ambel/mailbox/{FULL}",
            "voiron/dns/records",
        }, broken["changes"]
        assert action_keys(broken) == new | {EXTERNAL_ZONE}
        assert broken["changes"]["resolved"] == [] and broken["since"] == healthy["checked"]
        text = fnl("status", "--resolver", NS1, inventory=lab_copy).stdout
        # A stopped Dovecot is "inactive" or "failed", as systemd has it at that moment.
        assert "mail2: dovecot.service is " in text, text
        assert "test.plein" in text, text
    finally:
        on("mail2", "systemctl", "start", "dovecot")
        on("mail1", "knotc", "zone-begin", BROKEN_ZONE)
        on("mail1", "knotc", "zone-set", BROKEN_ZONE, BROKEN_OWNER, "3600", "TXT", value)
        on("mail1", "knotc", "zone-commit", BROKEN_ZONE)
        tenant.write_text(original, encoding="utf-8")
        assert fnl("apply", inventory=lab_copy).rc == 0

    # Repaired: the change report names the three, and nothing else.
    rc, repaired = status(lab_copy)
    assert {f["key"] for f in repaired["changes"]["resolved"]} == new
    assert repaired["changes"]["new"] == [] and action_keys(repaired) == {EXTERNAL_ZONE}
