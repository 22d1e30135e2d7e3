"""Offboarding in the lab: a commune made for this test gets mail, events and a contact,
is offboarded (archive checked file by file, tenant disabled), then purged — which is
refused without a visa and without an archive that still verifies."""

from __future__ import annotations

import hashlib
import imaplib
import json
import smtplib
import subprocess
import tarfile

import icalendar
import pytest
import requests

from fnl_deploy import lab
from tests.e2e.conftest import fnl, server_exec
from tests.e2e.mailclient import imap, password, port, send_inbound, token

pytestmark = pytest.mark.lab

# New names at each run: a lab reused by a developer keeps what earlier runs made.
RUN = token()[:6]
TENANT = f"test-offboard-{RUN}"
DOMAIN = f"mairie-offboard-{RUN}.fr"
ODILE = f"odile.blanc@{DOMAIN}"
FILE = f"""\
schema: 1
commune:
  name: Saint-Offboard-Test
placement: mail1
domain: {DOMAIN}
dns:
  mode: external
people:
  - id: odile
    name: Odile Blanc
    mailbox: odile.blanc
  - id: remi
    name: Rémi Gérard
    mailbox: remi.gerard
shared_mailboxes:
  - address: mairie
    members: {{odile: full}}
calendars:
  - name: Salle du conseil
    kind: room
    managers: [odile]
"""
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//fnl-deploy tests//FR
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261129T080000Z
DTSTART:20270301T090000Z
DTEND:20270301T100000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""
CARD = """BEGIN:VCARD
VERSION:3.0
UID:{uid}
FN:Paul Archiviste
EMAIL:paul@archives.example.org
END:VCARD
"""


def _dav_put(login: str, secret: str, path: str, body: str, content_type: str) -> None:
    url = f"https://127.0.0.1:{port('mail1', 443)}/SOGo/dav/{login}/{path}"
    answer = requests.put(
        url,
        data=body.encode(),
        auth=(login, secret),
        headers={"Content-Type": content_type},
        verify=False,
        timeout=60,
    )
    assert answer.status_code in (201, 204), (answer.status_code, answer.text[:300])


def _fetch(path: str, into) -> bytes:
    """Copy a file out of the lab server, as an operator would with scp."""
    target = into / path.rsplit("/", 1)[-1]
    copied = subprocess.run(
        ["podman", "cp", f"{lab.CONTAINER_PREFIX}mail1:{path}", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    return target.read_bytes()


def test_offboard_archives_everything_then_purge_needs_archive_and_visa(lab_copy, tmp_path):
    tenant_file = lab_copy / "tenants" / f"{TENANT}.yml"
    tenant_file.write_text(FILE, "utf-8")
    applied = fnl("apply", "--tenant", TENANT, inventory=lab_copy)
    assert applied.rc == 0, applied.stdout + applied.stderr
    secret = password(ODILE, lab_copy)

    # ASCII: an accented subject is stored RFC 2047-encoded, not as typed.
    subjects = [f"deliberation {token()}" for _ in range(3)]
    for subject in subjects:
        assert send_inbound("mail1", [ODILE], subject) == {}
    shared = f"pour la mairie {token()}"
    assert send_inbound("mail1", [f"mairie@{DOMAIN}"], shared) == {}
    uids = [f"event-{token()}" for _ in range(2)]
    for uid in uids:
        _dav_put(
            ODILE,
            secret,
            f"Calendar/personal/{uid}.ics",
            EVENT.format(uid=uid, summary="Conseil"),
            "text/calendar",
        )
    card = f"card-{token()}"
    _dav_put(ODILE, secret, f"Contacts/personal/{card}.vcf", CARD.format(uid=card), "text/vcard")
    with imap("mail1", ODILE, secret) as client:  # every message delivered before the export
        for _ in range(60):
            client.select("INBOX", readonly=True)
            if len(client.search(None, "ALL")[1][0].split()) >= 3:
                break
            client.noop()

    # Not offboarded yet: purge refused before anything runs.
    early = fnl("offboard", TENANT, "--purge", "--visa", "AD38-1", inventory=lab_copy)
    assert early.rc == 2 and "offboard" in early.stderr, early.stderr

    done = fnl("offboard", TENANT, "--json", inventory=lab_copy)
    assert done.rc == 0, done.stdout + done.stderr
    archive = json.loads(done.stdout)["data"]["archive"]
    assert archive["verified"] and archive["tenant"] == TENANT
    assert "offboarded:" in tenant_file.read_text("utf-8")
    counts = {m["address"]: m["messages"] for m in archive["mailboxes"]}
    assert counts[ODILE] >= 3 and counts[f"mairie@{DOMAIN}"] >= 1, counts

    # Disabled: no login, no mail accepted; nothing deleted.
    with pytest.raises(imaplib.IMAP4.error), imap("mail1", ODILE, secret):
        pass
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_inbound("mail1", [ODILE], "after the offboarding")
    assert fnl("plan", "--tenant", TENANT, inventory=lab_copy).rc == 0

    # The archive: its checksum, then every file against SHA256SUMS, then the content.
    data = _fetch(archive["archive"], tmp_path)
    assert hashlib.sha256(data).hexdigest() == archive["sha256"]
    with tarfile.open(tmp_path / archive["archive"].rsplit("/", 1)[-1]) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    sums = dict(
        reversed(line.split("  ", 1)) for line in files.pop("SHA256SUMS").decode().splitlines()
    )
    assert sums == {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
    mail = [body for name, body in files.items() if name.startswith(f"mail/{ODILE}/Maildir/")]
    for subject in subjects:
        assert any(subject.encode() in body for body in mail), subject
    assert any(
        shared.encode() in body
        for name, body in files.items()
        if name.startswith(f"mail/mairie@{DOMAIN}/")
    )
    # One iCalendar stream of several VCALENDAR objects (RFC 5545 §3.4 allows it).
    calendars = icalendar.Calendar.from_ical(
        files[f"calendars/{ODILE}/personal.ics"], multiple=True
    )
    assert {str(e["UID"]) for c in calendars for e in c.walk("VEVENT")} >= set(uids)
    assert card.encode() in files[f"contacts/{ODILE}/personal.vcf"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["tenant"] == TENANT

    # Purge: a visa is required, and an archive that still verifies on the server.
    no_visa = fnl("offboard", TENANT, "--purge", inventory=lab_copy)
    assert no_visa.rc == 2 and "--visa" in no_visa.stderr, no_visa.stderr
    assert (
        server_exec("mail1", "mv", archive["archive"], archive["archive"] + ".moved").returncode
        == 0
    )
    refused = fnl("offboard", TENANT, "--purge", "--visa", "AD38-2026-042", inventory=lab_copy)
    assert refused.rc == 1 and "no verified archive" in refused.stderr, refused.stderr
    maildirs = server_exec("mail1", "bash", "-c", f"ls -d /var/vmail/{DOMAIN}/*")
    assert maildirs.returncode == 0 and ODILE.split("@")[0] in maildirs.stdout
    server_exec("mail1", "mv", archive["archive"] + ".moved", archive["archive"])

    purged = fnl(
        "offboard", TENANT, "--purge", "--visa", "AD38-2026-042", "--json", inventory=lab_copy
    )
    assert purged.rc == 0, purged.stdout + purged.stderr
    assert json.loads(purged.stdout)["data"]["purge"]["visa"] == "AD38-2026-042"
    gone = server_exec("mail1", "bash", "-c", f"ls /var/vmail/{DOMAIN}/ 2>/dev/null | wc -l")
    assert gone.stdout.strip() == "0", gone.stdout
    assert server_exec("mail1", "test", "-f", archive["archive"]).returncode == 0, "archive kept"
    assert "visa AD38-2026-042" in tenant_file.read_text("utf-8")
    record = json.loads((lab_copy / ".fnl" / "offboard" / f"{TENANT}.json").read_text("utf-8"))
    assert record[-1]["action"] == "purge" and record[-1]["visa"] == "AD38-2026-042"
    index = json.loads(
        server_exec("mail1", "cat", "/var/lib/fnl-deploy/offboard/index.json").stdout
    )
    assert index[-1]["visa"] == "AD38-2026-042" and index[-1]["sha256"] == archive["sha256"]
