"""Real web and DAV clients for the lab tests: CalDAV (the caldav library), CardDAV and
SOGo's own JSON endpoints over HTTPS, and a real browser (Playwright driving Debian's
chromium). TLS is verified in full against the server's local CA: the clients resolve the
server's own name to 127.0.0.1, so the certificate's name is checked too."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import caldav
import niquests  # caldav's own HTTP client
from playwright.sync_api import Page, sync_playwright

from fnl_deploy import lab
from tests.e2e.conftest import LAB, REPO, acme_root
from tests.e2e.mailclient import password, port

ARTIFACTS = REPO / "artifacts"
# Debian's chromium (scripts/setup.sh): never the browsers `playwright install` downloads.
CHROMIUM = "/usr/lib/chromium/chromium"


@functools.cache
def fqdn(server: str) -> str:
    return next(s.fqdn for s in lab.lab_servers(LAB) if s.name == server)


def base_url(server: str) -> str:
    return f"https://{fqdn(server)}:{port(server, 443)}"


def dav_url(server: str, owner: str, collection: str = "") -> str:
    """A DAV collection of an account: Calendar/personal/, Contacts/personal/…"""
    return f"{base_url(server)}/SOGo/dav/{owner}/{collection}"


@functools.cache
def _scratch() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="fnl-webclient-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


@functools.cache
def ca_file(server: str) -> str:
    """The lab CA's root as a file: niquests (hence caldav) takes a path, not PEM text."""
    path = _scratch() / f"{server}-ca.crt"
    path.write_text(acme_root(), encoding="utf-8")
    return str(path)


def _resolver(server: str) -> str:
    # No DNS for the lab's names on this machine: only this one name, to 127.0.0.1.
    return f"in-memory://default/?hosts={fqdn(server)}:127.0.0.1"


def http(server: str, login: str | None = None, secret: str | None = None) -> niquests.Session:
    """An HTTPS session to the server's web front; with basic auth when login is given."""
    session = niquests.Session(
        resolver=_resolver(server), base_url=base_url(server), verify=ca_file(server), timeout=60
    )
    # Else REQUESTS_CA_BUNDLE, when set, replaces the lab's CA (and proxies could apply).
    session.trust_env = False
    if login is not None:
        session.auth = (login, secret if secret is not None else password(login))
    return session


def dav(server: str, login: str, secret: str | None = None) -> caldav.DAVClient:
    """A CalDAV client logged in as login, rooted at its own DAV collection."""
    client = caldav.DAVClient(
        url=dav_url(server, login),
        username=login,
        password=secret if secret is not None else password(login),
        ssl_verify_cert=ca_file(server),
        enable_rfc6764=False,
        features="sogo",
    )
    # The same client with the lab's name resolved locally (caldav has no resolver option).
    client.session.close()
    client.session = niquests.Session(resolver=_resolver(server))
    client.session.trust_env = False
    return client


def calendar(client: caldav.DAVClient, server: str, owner: str) -> caldav.Calendar:
    """The personal calendar of owner (a person, a room or a shared calendar)."""
    return client.calendar(url=dav_url(server, owner, "Calendar/personal/"))


def web_login(server: str, login: str, secret: str) -> niquests.Session:
    """Logged in as the web interface does it: session cookies and the XSRF token."""
    session = http(server)
    answer = session.post(
        "/SOGo/connect", json={"userName": login, "password": secret, "rememberLogin": 0}
    )
    assert answer.status_code == 200, (answer.status_code, answer.text)
    session.headers["X-XSRF-TOKEN"] = session.cookies["XSRF-TOKEN"]
    return session


def change_password(server: str, login: str, old: str, new: str) -> int:
    """A password change as the web interface's preferences send it; returns the status."""
    session = web_login(server, login, old)
    answer = session.post(
        "/SOGo/so/changePassword",
        json={"userName": login, "newPassword": new, "oldPassword": old},
    )
    return answer.status_code


@contextmanager
def browser_page(server: str) -> Iterator[Page]:
    """A page in a headless chromium. The browser does not know the lab's CA (nor its
    names): it goes to 127.0.0.1 and certificate errors are ignored, there only."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(
                ignore_https_errors=True,
                # SOGo sniffs the user agent and turns "HeadlessChrome" away as unsupported.
                user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
                f" Chrome/{browser.version} Safari/537.36",
                viewport={"width": 1280, "height": 800},
                base_url=f"https://127.0.0.1:{port(server, 443)}",
            )
            yield context.new_page()
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Saved under artifacts/ (kept by CI) for a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
