"""Backups and a disaster drill: mail2 is backed up, destroyed, replaced by a brand-new
empty server and restored with `fnl-deploy restore` — every mailbox has its messages, the
agenda its events, DKIM signatures verify against the key the zone still publishes, and
people log in with the passwords they chose."""

from __future__ import annotations

import json
import time
from xml.etree import ElementTree

import argon2
import dkim
import dns.message
import dns.query
import icalendar
import pytest
import requests

from tests.e2e.conftest import fnl, server_exec
from tests.e2e.mailclient import find, imap, port, send_inbound, submit, token, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.disaster]

NS1 = "10.89.64.11"  # the hosted zones' primary (Knot on mail1), which mail2's loss spares
LEA = "lea.faure@voiron.fr"
MARIE = "marie.martin@saint-etienne-de-crossey.fr"
ACCUEIL = "accueil@voiron.fr"
CHOSEN = "choisi-par-Lea-2026"  # the password Léa set herself: only the database has it
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//fnl-deploy tests//FR
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261129T080000Z
DTSTART:20270115T180000Z
DTEND:20270115T200000Z
SUMMARY:Conseil municipal
END:VEVENT
END:VCALENDAR
"""


def _sql(command: str) -> str:
    result = server_exec(
        "mail2", "runuser", "-u", "postgres", "--", "psql", "-At", "-d", "fnl_directory",
        "-c", command,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _mailbox_counts() -> dict[str, int]:
    """user/folder -> messages, for every mailbox on mail2, as Dovecot counts them."""
    listed = server_exec(
        "mail2", "doveadm", "-f", "json", "mailbox", "status", "-A", "messages", "*"
    )
    assert listed.returncode == 0, listed.stderr
    return {
        f"{r['username']}/{r['mailbox']}": int(r["messages"]) for r in json.loads(listed.stdout)
    }


def _calendar_uids(login: str, secret: str) -> set[str]:
    base = f"https://127.0.0.1:{port('mail2', 443)}/SOGo/dav/{login}/Calendar/personal/"
    listing = requests.request(
        "PROPFIND", base, auth=(login, secret), headers={"Depth": "1"}, verify=False, timeout=60
    )
    assert listing.status_code == 207, (listing.status_code, listing.text[:300])
    hrefs = [
        e.text
        for e in ElementTree.fromstring(listing.content).iter("{DAV:}href")
        if e.text and e.text.endswith(".ics")
    ]
    uids = set()
    for href in hrefs:
        body = requests.get(
            f"https://127.0.0.1:{port('mail2', 443)}{href}", auth=(login, secret), verify=False,
            timeout=60,
        )  # fmt: skip
        assert body.status_code == 200, body.status_code
        uids |= {str(e["UID"]) for e in icalendar.Calendar.from_ical(body.text).walk("VEVENT")}
    return uids


def _published_txt(name: bytes, timeout: int = 5) -> bytes | None:
    """dkimpy's DNS lookup, answered by the zone's primary name server itself."""
    answer = dns.query.udp(dns.message.make_query(name.decode(), "TXT"), NS1, timeout=timeout)
    for rrset in answer.answer:
        for record in rrset:
            return b"".join(record.strings)
    return None


def _voiron_selector() -> str:
    shown = json.loads(fnl("dns", "show", "voiron", "--json").stdout)
    return next(
        r["name"]
        for r in shown["data"]["records"]
        if r["type"] == "TXT" and "_domainkey" in r["name"]
    )


def test_backup_then_restore_onto_a_brand_new_server(lab_platform):
    # mail2 as the lab's files say (earlier tests' own communes and people archived), so
    # that the restore's applies find nothing else to change in the counts below.
    converged = fnl("apply")
    assert converged.rc == 0, converged.stdout + converged.stderr
    # Léa chose her own password (as through the webmail): only the directory holds it.
    chosen_hash = "{ARGON2ID}" + argon2.PasswordHasher().hash(CHOSEN)
    _sql(f"UPDATE fnl.mailbox SET password_hash = '{chosen_hash}' WHERE address = '{LEA}'")
    subjects = [f"avant sinistre {token()}" for _ in range(3)]
    for subject in subjects:
        assert send_inbound("mail2", [LEA, ACCUEIL], subject) == {}
    wait_for("mail2", LEA, subjects[-1], secret=CHOSEN)
    event = f"conseil-{token()}"
    put = requests.put(
        f"https://127.0.0.1:{port('mail2', 443)}/SOGo/dav/{LEA}/Calendar/personal/{event}.ics",
        data=EVENT.format(uid=event).encode(), auth=(LEA, CHOSEN), verify=False, timeout=60,
        headers={"Content-Type": "text/calendar"},
    )  # fmt: skip
    assert put.status_code in (201, 204), put.status_code
    selector = _voiron_selector()
    published = _published_txt(f"{selector}.voiron.fr.".encode())
    assert published and b"p=" in published

    # A restore never goes over live mail: refused, nothing run.
    assert send_inbound("mail1", [MARIE], f"courrier vivant {token()}") == {}
    wait_for("mail1", MARIE, "courrier vivant")
    refused = fnl("restore", "mail1")
    assert refused.rc == 2 and "new server" in refused.stderr, refused.stderr

    backed_up = fnl("backup", "run", "mail2", "--json")
    assert backed_up.rc == 0, backed_up.stdout + backed_up.stderr
    archive = json.loads(backed_up.stdout)["data"]["servers"][0]["archive"]
    listed = json.loads(fnl("backup", "list", "mail2", "--json").stdout)["data"]["servers"][0]
    assert archive in [a["name"] for a in listed["archives"]]
    checked = fnl("backup", "check", "mail2")
    assert checked.rc == 0, checked.stdout + checked.stderr
    counts = _mailbox_counts()
    assert counts[f"{LEA}/INBOX"] >= 3 and counts[f"{ACCUEIL}/INBOX"] >= 3, counts
    uids = _calendar_uids(LEA, CHOSEN)
    assert event in uids

    # The disaster: mail2 and its disk are gone; a new, empty server takes its place.
    replaced = fnl("lab", "replace", "mail2")
    assert replaced.rc == 0, replaced.stdout + replaced.stderr
    assert server_exec("mail2", "test", "-e", "/var/vmail").returncode != 0

    started = time.monotonic()
    restored = fnl("restore", "mail2", "--json", timeout=1800)
    assert restored.rc == 0, restored.stdout + restored.stderr
    report = json.loads(restored.stdout)["data"]
    assert report["restored"]["archive"] == archive
    assert report["restored"]["databases"] == ["fnl_directory", "sogo"]
    print(f"restore of mail2 took {time.monotonic() - started:.0f} s")

    # Every mailbox has its messages, the agenda its events, Léa her own password.
    after = _mailbox_counts()
    assert {k: after.get(k) for k in counts} == counts
    assert _calendar_uids(LEA, CHOSEN) == uids
    with imap("mail2", LEA, CHOSEN) as client:
        for subject in subjects:
            assert find(client, "INBOX", subject), subject
    # The same DKIM key signs, and verifies against what the zone publishes.
    assert _voiron_selector() == selector
    assert _published_txt(f"{selector}.voiron.fr.".encode()) == published
    subject = f"apres restauration {token()}"
    assert submit("mail2", LEA, LEA, [ACCUEIL], subject, secret=CHOSEN) == {}
    raw = wait_for("mail2", LEA, subject, folder=f"shared/{ACCUEIL}/INBOX", secret=CHOSEN)
    assert b"d=voiron.fr" in raw
    assert dkim.verify(raw, dnsfunc=_published_txt)
    # The new server is what the files say: nothing left to apply; its backups run again.
    assert fnl("plan").rc == 0
    again = fnl("backup", "run", "--json")
    assert again.rc == 0, again.stdout + again.stderr
