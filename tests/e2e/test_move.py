"""A commune moves to another server, and back: its mail, agenda and passwords come along.

L'Abergement-Clémenciat (IDN domain, an alias domain) lives on mail2. Isabelle changes her
password in the web interface, receives a message and puts an event in her agenda; then
the tenant file places the commune on mail1. The plan shows the move; after the apply,
mail1 serves her with her own password, her message and her event, and signs with the
same DKIM key; mail2 defers mail for the domain (4xx: senders retry and find mail1), and
a second plan has nothing to do. Then the commune goes back to mail2 the same way (mail2
still holds its first stay's accounts, disabled: the return gets new mail directories).
"""

from __future__ import annotations

import smtplib
import time

import caldav
import idna

from tests.e2e.conftest import fnl, server_exec
from tests.e2e.mailclient import find, imap, password, port, send_inbound, token, wait_for
from tests.e2e.test_groupware import event, new_uid
from tests.e2e.webclient import calendar, change_password, dav

TENANT = "l-abergement-clemenciat"
DOMAIN = idna.encode("abergement-clémenciat.fr", uts46=True).decode()
ISABELLE = f"isabelle.mercier@{DOMAIN}"


def dkim_key(server: str) -> tuple[str, str]:
    """The domain's DKIM selector on a server, and its private key's SHA-256."""
    selectors = server_exec(server, "cat", "/etc/rspamd/dkim_selectors.map").stdout
    selector = dict(line.split() for line in selectors.splitlines() if line.strip())[DOMAIN]
    key = f"/var/lib/rspamd/dkim/{DOMAIN}.{selector}.key"
    digest = server_exec(server, "sha256sum", key).stdout.split()[0]
    return selector, digest


def agenda_event(server: str, secret: str, uid: str) -> str:
    """The event's summary in Isabelle's agenda there, once SOGo answers after its restart."""
    deadline = time.monotonic() + 60
    while True:
        try:
            agenda = calendar(dav(server, ISABELLE, secret), server, ISABELLE)
            return str(agenda.event_by_uid(uid).icalendar_component["summary"])
        except caldav.lib.error.DAVError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def place(lab_copy, server: str) -> None:
    tenant = lab_copy / "tenants" / f"{TENANT}.yml"
    text = tenant.read_text(encoding="utf-8")
    tenant.write_text(
        "\n".join(
            f"placement: {server}" if line.startswith("placement:") else line
            for line in text.split("\n")
        ),
        encoding="utf-8",
    )


def deferred(server: str, recipient: str) -> int:
    """The SMTP code the server answers RCPT TO with, on port 25."""
    with smtplib.SMTP("127.0.0.1", port(server, 25), "client.example.org", timeout=60) as smtp:
        smtp.ehlo("client.example.org")
        smtp.mail("expediteur@example.org")
        code, _ = smtp.rcpt(recipient)
        smtp.rset()
        return code


def move(lab_copy, source: str, target: str) -> None:
    place(lab_copy, target)
    # A run without the former server would create the commune afresh: refused.
    narrowed = fnl("plan", "--limit", target, inventory=lab_copy)
    assert narrowed.rc == 1, narrowed.stdout + narrowed.stderr
    assert "apply without --limit or --tenant" in narrowed.stdout + narrowed.stderr
    plan = fnl("plan", inventory=lab_copy)
    assert plan.rc == 2, plan.stdout + plan.stderr
    assert f"from {source} to {target}" in plan.stdout, plan.stdout
    applied = fnl("apply", inventory=lab_copy)
    assert applied.rc == 0, applied.stdout + applied.stderr
    again = fnl("plan", inventory=lab_copy)
    assert again.rc == 0, again.stdout  # the move is done: nothing left to change


def test_a_commune_moves_with_its_mail_agenda_and_passwords_and_back(lab_copy):
    own = f"Clemenciat-{token()}"  # her own password, never in the store (ASCII: imaplib)
    assert change_password("mail2", ISABELLE, password(ISABELLE, lab_copy), own) == 204
    subject = f"avant le demenagement {token()}"  # ASCII: IMAP SEARCH
    assert send_inbound("mail2", [ISABELLE], subject) == {}
    wait_for("mail2", ISABELLE, subject, secret=own)
    uid, summary = new_uid(), f"Conseil municipal {token()}"
    calendar(dav("mail2", ISABELLE, own), "mail2", ISABELLE).save_event(event(uid, summary))
    key_before = dkim_key("mail2")

    move(lab_copy, "mail2", "mail1")
    with imap("mail1", ISABELLE, own) as client:
        assert len(find(client, "INBOX", subject)) == 1
    assert agenda_event("mail1", own, uid) == summary
    assert dkim_key("mail1") == key_before
    assert deferred("mail2", ISABELLE) == 450  # a stale MX: retried later, never bounced
    # New mail reaches the commune on its new server.
    later = f"apres le demenagement {token()}"
    assert send_inbound("mail1", [ISABELLE], later) == {}
    wait_for("mail1", ISABELLE, later, secret=own)

    move(lab_copy, "mail1", "mail2")
    with imap("mail2", ISABELLE, own) as client:
        assert len(find(client, "INBOX", subject)) == 1
        assert len(find(client, "INBOX", later)) == 1
    assert agenda_event("mail2", own, uid) == summary
    assert dkim_key("mail2") == key_before
    assert deferred("mail1", ISABELLE) == 450
    assert deferred("mail2", ISABELLE) == 250
