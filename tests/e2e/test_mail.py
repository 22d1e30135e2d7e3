"""Mail in the lab, with real clients: delivery, submission, DKIM, relay and spoofing
refusals, IMAP logins and shared-mailbox rights, quotas, archives of removed mailboxes."""

from __future__ import annotations

import imaplib
import json
import smtplib
import socket

import dkim
import pytest

from tests.e2e.conftest import fnl
from tests.e2e.mailclient import (
    SenderLoop,
    find,
    imap,
    password,
    port,
    send_inbound,
    submit,
    tls_context,
    token,
    wait_for,
)

pytestmark = pytest.mark.lab

# Two communes on mail1, one on mail2 (placement in the example tenant files).
ANNE = "anne.vial@mairie-ambel.fr"
MAIRIE_AMBEL = "mairie@mairie-ambel.fr"
MARIE = "marie.martin@saint-etienne-de-crossey.fr"
ELODIE = "elodie.rossi@saint-etienne-de-crossey.fr"
PIERRE = "pierre.durand@saint-etienne-de-crossey.fr"
MAIRIE_SEDC = "mairie@saint-etienne-de-crossey.fr"
LEA = "lea.faure@voiron.fr"  # accueil@voiron.fr: full
NADIA = "nadia.benali@voiron.fr"  # accueil@voiron.fr: write
CAMILLE = "camille.garnier@voiron.fr"  # accueil@voiron.fr: read
ACCUEIL = "accueil@voiron.fr"
CONSEIL_VOIRON = ["antoine.moreau@voiron.fr", "julien.lefebvre@voiron.fr", "sophie.roux@voiron.fr"]


def test_inbound_mail_reaches_people_aliases_lists_and_shared_mailboxes(lab_platform):
    subject = f"inbound {token()}"
    refused = send_inbound("mail1", [ANNE, "maire@saint-etienne-de-crossey.fr"], subject)
    assert refused == {}
    assert send_inbound("mail2", ["conseil@voiron.fr", "contact@voiron.fr"], subject) == {}
    # Separately: Postfix delivers one copy per final recipient of a message.
    assert send_inbound("mail2", ["cabinet@ville-voiron.fr"], subject) == {}
    wait_for("mail1", ANNE, subject)
    wait_for("mail1", MARIE, subject)  # maire@ is an alias of Marie Martin
    for member in CONSEIL_VOIRON:  # a list
        wait_for("mail2", member, subject)
    # contact@ is an alias of the shared mailbox accueil@, read through a member's rights.
    wait_for("mail2", CAMILLE, subject, folder=f"shared/{ACCUEIL}/INBOX")
    # cabinet@ in the alias domain ville-voiron.fr reaches the mayor.
    with imap("mail2", "julien.lefebvre@voiron.fr") as client:
        assert len(find(client, "INBOX", subject)) == 2  # from conseil@ and cabinet@


def test_unknown_recipients_are_refused_at_the_door(lab_platform):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_inbound("mail1", ["personne@mairie-ambel.fr"], f"unknown {token()}")
    code, text = refused.value.recipients["personne@mairie-ambel.fr"]
    assert code == 550 and b"5.1.1" in text


@pytest.mark.parametrize("wrapped", [False, True], ids=["587-starttls", "465-tls"])
def test_authenticated_submission_delivers(lab_platform, wrapped):
    subject = f"submission {token()}"
    assert submit("mail1", MARIE, MARIE, [ANNE], subject, wrapped=wrapped) == {}
    wait_for("mail1", ANNE, subject)


def _dkim_txt(tenant: str):
    """A DNS lookup for dkimpy that answers from `fnl-deploy dns show` only."""
    shown = json.loads(fnl("dns", "show", tenant, "--json").stdout)
    records = {
        f"{r['name']}.{r['domain']}.": r["value"]
        for r in shown["data"]["records"]
        if r["type"] == "TXT"
    }

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode())
        return "".join(value.split('"')[1::2]).encode() if value else None

    return lookup


def test_sent_mail_is_dkim_signed_with_the_key_dns_show_prints(lab_platform):
    subject = f"dkim {token()}"
    submit("mail1", MARIE, MARIE, [ANNE], subject)
    raw = wait_for("mail1", ANNE, subject)
    assert b"d=saint-etienne-de-crossey.fr" in raw
    assert dkim.verify(raw, dnsfunc=_dkim_txt("saint-etienne-de-crossey"))
    # The check can fail: a key other than the published one does not verify.
    assert not dkim.verify(raw, dnsfunc=_dkim_txt("ambel"))


def test_a_user_cannot_send_as_another_commune(lab_platform):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        submit("mail1", MARIE, ANNE, [ANNE], f"spoof {token()}")
    code, text = refused.value.recipients[ANNE]
    assert code == 553 and b"not owned by user" in text
    # Nor as an outside address.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        submit("mail1", MARIE, "maire@gmail.com", [ANNE], f"spoof {token()}")


def test_a_user_sends_as_their_alias_and_a_shared_mailbox_with_full_rights(lab_platform):
    subject = f"send-as {token()}"
    assert submit("mail1", MARIE, "maire@saint-etienne-de-crossey.fr", [ANNE], subject) == {}
    assert submit("mail1", ELODIE, MAIRIE_SEDC, [ANNE], subject) == {}  # full
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        submit("mail1", PIERRE, MAIRIE_SEDC, [ANNE], subject)  # read only
    assert submit("mail2", LEA, "lea.faure@ville-voiron.fr", [ACCUEIL], subject) == {}


def test_no_open_relay(lab_platform):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as on_25:
        send_inbound("mail1", ["quelquun@example.net"], f"relay {token()}")
    assert on_25.value.recipients["quelquun@example.net"][0] == 554
    # 587 without logging in: refused as well, whoever the sender claims to be.
    for sender in ("expediteur@example.org", ANNE):
        with smtplib.SMTP("127.0.0.1", port("mail1", 587), timeout=60) as smtp:
            smtp.starttls(context=tls_context("mail1"))
            with pytest.raises(smtplib.SMTPRecipientsRefused) as on_587:
                smtp.sendmail(sender, ["quelquun@example.net"], b"Subject: relay\r\n\r\nx\r\n")
            assert on_587.value.recipients["quelquun@example.net"][0] in (553, 554)


def test_imap_accepts_the_right_password_and_refuses_a_wrong_one(lab_platform):
    with imap("mail1", ANNE) as client:
        assert client.select("INBOX")[0] == "OK"
    wrong = password(ANNE) + "x"
    with (
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
        imap("mail1", ANNE, wrong),
    ):
        pass
    # Shared mailboxes have no password: nobody logs in as them.
    with pytest.raises(imaplib.IMAP4.error), imap("mail1", MAIRIE_AMBEL, secret=""):
        pass


def test_a_user_cannot_open_list_or_be_granted_another_communes_folders(lab_platform):
    with imap("mail1", ANNE) as client:
        _, listed = client.list('""', "shared/*")
        names = b" ".join(x for x in listed if x)
        assert MAIRIE_AMBEL.encode() in names
        assert b"saint-etienne-de-crossey" not in names
        for folder in (f"shared/{MAIRIE_SEDC}/INBOX", f"shared/{MARIE}/INBOX"):
            assert client.select(f'"{folder}"')[0] == "NO"
        # Rights come from the tenant files only: IMAP ACL commands are not offered.
        with pytest.raises(imaplib.IMAP4.error):
            client.setacl("INBOX", MARIE, "lrswipkxtea")


def test_shared_mailbox_rights_are_enforced_as_declared(lab_platform):
    subject = f"shared {token()}"
    send_inbound("mail2", [ACCUEIL], subject)
    wait_for("mail2", LEA, subject, folder=f"shared/{ACCUEIL}/INBOX")
    folder = f'"shared/{ACCUEIL}/INBOX"'
    note = b"Subject: note\r\n\r\nnote interne\r\n"
    with imap("mail2", CAMILLE) as client:  # read
        assert client.select(folder)[0] == "OK"
        _, data = client.search(None, "SUBJECT", f'"{subject}"')
        assert data[0]
        number = data[0].split()[0]
        client.store(number, "+FLAGS", "(\\Flagged)")  # ignored without the w right
        assert b"\\Flagged" not in client.fetch(number, "(FLAGS)")[1][0]
        assert client.append(folder, None, None, note)[0] == "NO"
    with imap("mail2", NADIA) as client:  # write
        assert client.select(folder)[0] == "OK"
        _, data = client.search(None, "SUBJECT", f'"{subject}"')
        number = data[0].split()[0]
        assert client.store(number, "+FLAGS", "(\\Flagged)")[0] == "OK"
        assert b"\\Flagged" in client.fetch(number, "(FLAGS)")[1][0]
        assert client.append(folder, None, None, note)[0] == "OK"
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # write is not "send as"
        submit("mail2", NADIA, ACCUEIL, [LEA], subject)
    assert submit("mail2", LEA, ACCUEIL, [NADIA], subject) == {}  # full is


def _add_person(lab_copy, tenant: str, block: str) -> str:
    path = lab_copy / "tenants" / f"{tenant}.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("people:\n", "people:\n" + block, 1), encoding="utf-8")
    return text


QUOTA_PERSON = "  - id: quota\n    name: Test Quota\n    mailbox: test.quota\n    quota: 1 MiB\n"
QUOTA = "test.quota@mairie-ambel.fr"


def test_a_full_mailbox_refuses_mail_and_its_owner_is_warned(lab_copy):
    original = _add_person(lab_copy, "ambel", QUOTA_PERSON)
    # Existing users keep receiving mail while the apply runs.
    with SenderLoop("mail1", ANNE) as loop:
        applied = fnl("apply", inventory=lab_copy)
    assert applied.rc == 0, applied.stdout + applied.stderr
    assert loop.sent and not loop.refused, loop.refused
    secret = password(QUOTA, lab_copy)

    big = f"big {token()}"
    assert send_inbound("mail1", [QUOTA], big, body="x" * 880_000) == {}
    wait_for("mail1", QUOTA, big, secret=secret)
    warning = wait_for("mail1", QUOTA, "80", secret=secret)
    assert b"Auto-Submitted: auto-generated" in warning

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_inbound("mail1", [QUOTA], f"more {token()}", body="y" * 300_000)
    code, text = refused.value.recipients[QUOTA]
    assert code == 552 and b"5.2.2" in text

    # The person leaves; their address now reaches a successor, declared as an alias.
    # Their mailbox is archived, not deleted.
    successor = original.replace(
        "aliases:\n", f"aliases:\n  - address: test.quota\n    to: [{ANNE.split('@')[0]}]\n", 1
    )
    if successor == original:
        successor = (
            original + f"aliases:\n  - address: test.quota\n    to: [{ANNE.split('@')[0]}]\n"
        )
    tenant = lab_copy / "tenants" / "ambel.yml"
    tenant.write_text(successor, encoding="utf-8")
    left = fnl("apply", inventory=lab_copy)
    assert left.rc == 0, left.stdout + left.stderr
    listed = json.loads(fnl("archive", "list", "ambel", "--verify", "--json").stdout)
    mine = [a for a in listed["data"]["archives"] if a["address"] == QUOTA]
    assert mine and mine[-1]["verified"] and mine[-1]["messages"] >= 2
    forwarded = f"forwarded {token()}"
    assert send_inbound("mail1", [QUOTA], forwarded) == {}
    wait_for("mail1", ANNE, forwarded)

    # Back to the example files.
    tenant.write_text(original, encoding="utf-8")
    assert fnl("apply", inventory=lab_copy).rc == 0


def test_imap_on_143_requires_starttls_before_login(lab_platform):
    client = imaplib.IMAP4("127.0.0.1", port("mail1", 143))
    try:
        assert "LOGINDISABLED" in client.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            client.login(ANNE, password(ANNE))
        client.starttls(ssl_context=tls_context("mail1"))
        assert client.login(ANNE, password(ANNE))[0] == "OK"
    finally:
        client.logout()


def test_managesieve_answers_on_4190(lab_platform):
    with socket.create_connection(("127.0.0.1", port("mail1", 4190)), timeout=30) as sock:
        greeting = b""
        while b"OK" not in greeting:
            chunk = sock.recv(4096)
            assert chunk, greeting
            greeting += chunk
    assert b'"SIEVE"' in greeting and b'"STARTTLS"' in greeting
