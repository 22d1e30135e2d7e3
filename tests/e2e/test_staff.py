"""Staff changes in the lab, declared in the tenant file: a rename keeps the mail and the
old address; a suspended login refuses every protocol while mail still arrives; a
departed person's mailbox is handed to a successor as a shared mailbox.

One person, added for this test to Ambel (mail1), goes through the whole story; the
example files are applied again at the end (the person's mailbox is then archived).
"""

from __future__ import annotations

import imaplib
import smtplib

import caldav
import pytest

from tests.e2e.conftest import fnl, server_exec
from tests.e2e.mailclient import (
    find,
    imap,
    password,
    port,
    send_inbound,
    submit,
    token,
    wait_for,
)

pytestmark = pytest.mark.lab

DOMAIN = "mairie-ambel.fr"
# New names at each run: a lab reused by a developer keeps SOGo's records of earlier runs.
RUN = token()[:6]
BEFORE_LOCAL, AFTER_LOCAL = f"jeanne.petit.{RUN}", f"jeanne.durand.{RUN}"
BEFORE = f"{BEFORE_LOCAL}@{DOMAIN}"
AFTER = f"{AFTER_LOCAL}@{DOMAIN}"
ANNE = f"anne.vial@{DOMAIN}"  # the successor
PERSON = (
    f"  - id: jeanne\n    name: Jeanne Petit\n    role: adjointe\n    mailbox: {BEFORE_LOCAL}\n"
)
RENAMED = (
    f"  - id: jeanne\n    name: Jeanne Durand\n    role: adjointe\n    mailbox: {AFTER_LOCAL}\n"
    f"    former_addresses: [{BEFORE_LOCAL}]\n"
)


def _write_people(path, original: str, block: str, extra: str = "") -> None:
    path.write_text(original.replace("people:\n", "people:\n" + block, 1) + extra, "utf-8")


def _apply(inventory) -> str:
    applied = fnl("apply", "--tenant", "ambel", inventory=inventory)
    assert applied.rc == 0, applied.stdout + applied.stderr
    return applied.stdout


def _login_refused(login: str, secret: str) -> None:
    with pytest.raises(imaplib.IMAP4.error), imap("mail1", login, secret):
        pass
    with pytest.raises(smtplib.SMTPAuthenticationError):
        submit("mail1", login, login, [ANNE], "refused", secret=secret)


def _calendar(login: str, secret: str) -> caldav.Calendar:
    url = f"https://127.0.0.1:{port('mail1', 443)}/SOGo/dav/{login}/Calendar/personal/"
    client = caldav.DAVClient(url, username=login, password=secret, ssl_verify_cert=False)
    return client.calendar(url=url)


EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//fnl-deploy tests//FR
BEGIN:VEVENT
UID:{uid}
DTSTART:20270115T090000Z
DTEND:20270115T100000Z
SUMMARY:Permanence
END:VEVENT
END:VCALENDAR
"""


def test_rename_suspend_and_hand_over_keep_every_message(lab_copy):
    tenant = lab_copy / "tenants" / "ambel.yml"
    original = tenant.read_text("utf-8")
    _write_people(tenant, original, PERSON)
    _apply(lab_copy)
    secret = password(BEFORE, lab_copy)
    first = f"before the rename {token()}"
    assert send_inbound("mail1", [BEFORE], first) == {}
    wait_for("mail1", BEFORE, first, secret=secret)
    uid = f"staff-{token()}"
    _calendar(BEFORE, secret).save_event(EVENT.format(uid=uid))

    # Rename: plan says so, the mail, agenda and password follow, the old address reaches
    # the new mailbox, and a second apply has nothing to do.
    _write_people(tenant, original, RENAMED)
    planned = fnl("plan", "--tenant", "ambel", inventory=lab_copy)
    assert planned.rc == 2, planned.stdout + planned.stderr
    assert f"renamed from {BEFORE}" in planned.stdout, planned.stdout
    _apply(lab_copy)
    assert password(AFTER, lab_copy) == secret, "the password must follow the rename"
    with imap("mail1", AFTER, secret) as client:
        assert find(client, "INBOX", first)
    assert _calendar(AFTER, secret).event_by_uid(uid) is not None
    to_old = f"to the old address {token()}"
    assert send_inbound("mail1", [BEFORE], to_old) == {}
    wait_for("mail1", AFTER, to_old, secret=secret)
    _login_refused(BEFORE, secret)
    again = fnl("plan", "--tenant", "ambel", inventory=lab_copy)
    assert again.rc == 0, again.stdout + again.stderr

    # Suspended: no login anywhere, mail still arrives; enabled again, same password.
    # (The apply lists its changes as the plan would: test_apply proves they are the same.)
    _write_people(tenant, original, RENAMED + "    disabled: true\n")
    suspended = _apply(lab_copy)
    assert "login refused, mail still delivered" in suspended, suspended
    _login_refused(AFTER, secret)
    while_away = f"while suspended {token()}"
    assert send_inbound("mail1", [AFTER], while_away) == {}
    _write_people(tenant, original, RENAMED)
    _apply(lab_copy)
    wait_for("mail1", AFTER, while_away, secret=secret)

    # Departed: the mailbox goes to Anne, her successor, as a shared mailbox; the address
    # keeps receiving, and its former owner no longer logs in.
    handed = (
        f"  - address: {AFTER_LOCAL}\n    name: Jeanne Durand (archives)\n"
        "    members: {secretaire: full}\n"
    )
    text = original.replace("shared_mailboxes:\n", "shared_mailboxes:\n" + handed, 1)
    text += f"aliases:\n  - address: {BEFORE_LOCAL}\n    to: [{AFTER_LOCAL}]\n"
    tenant.write_text(text, "utf-8")
    handed_over = _apply(lab_copy)
    assert "now a shared mailbox" in handed_over, handed_over
    _login_refused(AFTER, secret)
    with imap("mail1", ANNE, password(ANNE, lab_copy)) as client:
        for subject in (first, to_old, while_away):
            assert find(client, f"shared/{AFTER}/INBOX", subject), subject
    later = f"after the departure {token()}"
    assert send_inbound("mail1", [BEFORE], later) == {}
    wait_for("mail1", ANNE, later, folder=f"shared/{AFTER}/INBOX", secret=password(ANNE, lab_copy))

    # Back to the example files: the mailbox leaves the files, so it is archived, and
    # SOGo's records of Jeanne are set aside: whoever gets her address later starts empty.
    tenant.write_text(original, "utf-8")
    assert "events and contacts set aside" in _apply(lab_copy)
    query = "SELECT c_path2 FROM sogo_folder_info UNION SELECT c_uid FROM sogo_user_profile"
    listed = server_exec(
        "mail1", "runuser", "-u", "postgres", "--", "psql", "-d", "sogo", "-Atc", query
    )
    assert listed.returncode == 0, listed.stderr
    uids = set(listed.stdout.split())
    assert AFTER not in uids and BEFORE not in uids
    assert any(u.startswith("retired-") and u.endswith("@" + DOMAIN) for u in uids)
