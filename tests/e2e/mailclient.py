"""Real mail clients for the lab tests: SMTP on 25/587/465 and IMAP on 993, over TLS that
is verified against the server's local CA (the certificate names the server, the tests
connect to 127.0.0.1, so only the chain is checked)."""

from __future__ import annotations

import functools
import imaplib
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from pathlib import Path

from fnl_deploy import lab
from fnl_deploy.secrets import PasswordStore
from tests.e2e.conftest import LAB, acme_root, server_exec

SERVER_INDEX = {"mail1": 1, "mail2": 2}


def port(server: str, number: int) -> int:
    return lab.host_port(SERVER_INDEX[server], number)


@functools.cache
def tls_context(server: str) -> ssl.SSLContext:
    """Trusts only the lab's ACME CA: an applied server presents a Pebble-issued chain."""
    context = ssl.create_default_context(cadata=acme_root())
    context.check_hostname = False  # 127.0.0.1; the chain is still verified
    return context


def password(address: str, inventory: Path = LAB) -> str:
    return PasswordStore.open(inventory).entries[address]["password"]


def token() -> str:
    return uuid.uuid4().hex[:12]


def message(sender: str, recipients: list[str], subject: str, body: str = "Bonjour.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{token()}@test.fnl-deploy>"
    msg.set_content(body)
    return msg.as_bytes()


def send_inbound(
    server: str,
    recipients: list[str],
    subject: str,
    sender: str = "expediteur@example.org",
    body: str = "Bonjour.\n",
) -> dict:
    """Mail from the outside world, on port 25; returns the refused recipients."""
    with smtplib.SMTP("127.0.0.1", port(server, 25), "client.example.org", timeout=60) as smtp:
        smtp.starttls(context=tls_context(server))
        smtp.ehlo("client.example.org")
        return smtp.sendmail(sender, recipients, message(sender, recipients, subject, body))


def submit(
    server: str,
    login: str,
    sender: str,
    recipients: list[str],
    subject: str,
    wrapped: bool = False,
    secret: str | None = None,
) -> dict:
    """Authenticated submission on 587 (STARTTLS) or 465 (TLS from the start)."""
    secret = secret if secret is not None else password(login)
    if wrapped:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            "127.0.0.1", port(server, 465), timeout=60, context=tls_context(server)
        )
    else:
        smtp = smtplib.SMTP("127.0.0.1", port(server, 587), timeout=60)
        smtp.starttls(context=tls_context(server))
    with smtp:
        smtp.login(login, secret)
        return smtp.sendmail(sender, recipients, message(sender, recipients, subject))


@contextmanager
def imap(server: str, login: str, secret: str | None = None) -> Iterator[imaplib.IMAP4_SSL]:
    client = imaplib.IMAP4_SSL("127.0.0.1", port(server, 993), ssl_context=tls_context(server))
    try:
        client.login(login, secret if secret is not None else password(login))
        yield client
    finally:
        with suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def find(client: imaplib.IMAP4_SSL, folder: str, subject: str) -> list[bytes]:
    """Raw messages in folder whose subject contains the text."""
    status, _ = client.select(f'"{folder}"', readonly=True)
    if status != "OK":
        return []
    _, data = client.search(None, "SUBJECT", f'"{subject}"')
    found = []
    for number in data[0].split():
        _, parts = client.fetch(number, "(BODY.PEEK[])")
        found.append(parts[0][1])
    return found


def wait_for(
    server: str,
    login: str,
    subject: str,
    folder: str = "INBOX",
    timeout: float = 60,
    secret: str | None = None,
) -> bytes:
    """The first message whose subject contains the text, once delivered."""
    deadline = time.monotonic() + timeout
    while True:
        with imap(server, login, secret) as client:
            found = find(client, folder, subject)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            queue = server_exec(server, "postqueue", "-p").stdout
            raise AssertionError(f"{subject!r} never reached {login}/{folder}; queue:\n{queue}")
        time.sleep(1)


class SenderLoop:
    """Sends a message to an address every interval from another thread and records every
    refusal: mail must keep flowing to existing users while an apply runs."""

    def __init__(self, server: str, address: str, interval: float = 0.5):
        self.server, self.address, self.interval = server, address, interval
        self.sent: list[str] = []
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            subject = f"loop {token()}"
            try:
                refused = send_inbound(self.server, [self.address], subject)
                (self.refused if refused else self.sent).append(f"{subject}: {refused}")
            except (smtplib.SMTPException, OSError) as exc:
                self.refused.append(f"{subject}: {exc!r}")
            self._stop.wait(self.interval)

    def __enter__(self) -> SenderLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
