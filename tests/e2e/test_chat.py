"""Chat in the lab (role chat): people log in to Prosody with their mail address and mail
password, talk directly and in their commune's rooms, send a file; other communes' people
cannot join or even see a commune's rooms; federation is off; a real browser uses the web
chat on https://mail.<domain>/chat/."""

from __future__ import annotations

import asyncio
import hashlib
import os
from urllib.parse import urlsplit

import idna
import niquests
import pytest
from playwright.sync_api import sync_playwright
from slixmpp import JID

from tests.e2e.chatclient import join_error, listed_rooms, logged_in, login_refused
from tests.e2e.conftest import fnl
from tests.e2e.mailclient import password, port, token
from tests.e2e.webclient import CHROMIUM, ca_file, screenshot

pytestmark = pytest.mark.lab

SEC = "saint-etienne-de-crossey.fr"
MARIE = f"marie.martin@{SEC}"
PIERRE = f"pierre.durand@{SEC}"
ELODIE = f"elodie.rossi@{SEC}"
COUNCIL = f"conseil@salons.{SEC}"
TOWN_HALL = f"mairie@salons.{SEC}"
# L'Abergement-Clémenciat: chat addresses are Unicode, its accounts' A-labels.
ABERGEMENT = "abergement-clémenciat.fr"
FRANCOIS = f"francois.brun@{ABERGEMENT}"
FRANCOIS_ACCOUNT = f"francois.brun@{idna.encode(ABERGEMENT, uts46=True).decode()}"
TEAM = f"equipe-municipale@salons.{ABERGEMENT}"
ANNE = "anne.vial@mairie-ambel.fr"  # Ambel: chat too, on the same server as Saint-Étienne


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario, 240))


def test_people_of_a_commune_talk_directly_and_in_their_rooms(lab_platform):
    async def scenario():
        async with logged_in("mail1", MARIE) as marie, logged_in("mail1", PIERRE) as pierre:
            body = f"Bonjour Pierre, séance jeudi ? {token()}"
            marie.send_message(mto=PIERRE, mbody=body, mtype="chat")
            received = await pierre.next_message(body)
            assert received["from"].bare == MARIE

            # The council's room: its members only (Marie moderates it).
            assert await join_error(marie, COUNCIL, "Marie") is None
            assert await join_error(pierre, COUNCIL, "Pierre") is None
            body = f"Ordre du jour envoyé {token()}"
            marie.send_message(mto=COUNCIL, mbody=body, mtype="groupchat")
            received = await pierre.next_message(body)
            assert received["from"].resource == "Marie"

            # The server keeps the history (MAM): Marie's archive has her message to Pierre.
            result = await marie.plugin["xep_0313"].retrieve(with_jid=JID(PIERRE), timeout=15)
            bodies = [
                m["mam_result"]["forwarded"]["stanza"]["body"] for m in result["mam"]["results"]
            ]
            assert any(b.startswith("Bonjour Pierre") for b in bodies), bodies

        # Élodie works at the town hall, but is not on the council.
        async with logged_in("mail1", ELODIE) as elodie:
            assert await join_error(elodie, COUNCIL, "Élodie") == "registration-required"
            assert await join_error(elodie, TOWN_HALL, "Élodie") is None
            # Rooms are never listed, to anyone.
            assert COUNCIL not in await listed_rooms(elodie, f"salons.{SEC}")

        assert await login_refused("mail1", MARIE, "not-her-password")

    run(scenario())


def test_other_communes_cannot_join_or_list_a_communes_rooms(lab_platform):
    async def scenario():
        # Ambel is on the same server as Saint-Étienne-de-Crossey.
        async with logged_in("mail1", ANNE) as anne:
            assert await join_error(anne, COUNCIL, "Anne") == "registration-required"
            assert await join_error(anne, TOWN_HALL, "Anne") == "registration-required"
            assert COUNCIL not in await listed_rooms(anne, f"salons.{SEC}")
            # Nor may Ambel's people open rooms on Saint-Étienne-de-Crossey's service.
            assert await join_error(anne, f"ambel-{token()}@salons.{SEC}", "Anne") == "not-allowed"

        # L'Abergement-Clémenciat (IDN, on mail2): its own room, in Unicode.
        async with logged_in("mail2", FRANCOIS, password(FRANCOIS_ACCOUNT)) as francois:
            assert await join_error(francois, TEAM, "François") is None
            # Federation is off: Saint-Étienne-de-Crossey (on mail1) is another server.
            errors: asyncio.Queue = asyncio.Queue()
            francois.add_event_handler("message_error", errors.put_nowait)
            francois.send_message(mto=MARIE, mbody=f"Bonjour {token()}", mtype="chat")
            error = await asyncio.wait_for(errors.get(), 20)
            assert error["error"]["condition"] in (
                "not-allowed",
                "remote-server-not-found",
                "service-unavailable",
                "remote-server-timeout",
            ), error

    run(scenario())


def test_a_file_sent_in_chat_is_stored_and_too_large_ones_refused(lab_platform):
    content = os.urandom(50_000)

    async def scenario():
        async with logged_in("mail1", MARIE) as marie:
            slot = await marie.upload_slot(SEC, "compte-rendu.txt", len(content))
            too_large = None
            try:
                await marie.upload_slot(SEC, "film.mp4", 21 * 2**20)
            except Exception as error:  # slixmpp raises IqError with the server's condition
                too_large = getattr(error, "condition", str(error))
            return slot, too_large

    (put_url, put_headers, get_url), too_large = asyncio.run(scenario())
    assert too_large == "not-acceptable", too_large
    assert urlsplit(put_url).hostname == f"mail.{SEC}"
    lab_port = port("mail1", 443)
    session = niquests.Session(
        resolver=f"in-memory://default/?hosts=mail.{SEC}:127.0.0.1",
        verify=ca_file("mail1"),
        timeout=60,
    )
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the lab's CA

    def on_lab_port(url: str) -> str:
        parts = urlsplit(url)
        return parts._replace(netloc=f"{parts.hostname}:{lab_port}").geturl()

    answer = session.put(
        on_lab_port(put_url), data=content, headers={**put_headers, "Content-Type": "text/plain"}
    )
    assert answer.status_code == 201, answer.text
    answer = session.get(on_lab_port(get_url))
    assert answer.status_code == 200
    assert hashlib.sha256(answer.content).digest() == hashlib.sha256(content).digest()


def test_the_web_chat_sends_a_message_a_phone_app_receives(lab_platform):
    body = f"Message depuis le navigateur {token()}"

    async def listen_then_browse():
        async with logged_in("mail1", PIERRE) as pierre:
            assert await join_error(pierre, TOWN_HALL, "Pierre") is None
            await asyncio.to_thread(browse, body)
            received = await pierre.next_message(body, timeout=60)
            # Her name from the tenant file is her reserved nickname in the rooms.
            assert received["from"].resource == "Élodie Rossi"

    run(listen_then_browse())


def browse(body: str) -> None:
    """Élodie in Chromium: the web chat's login, then the town hall's room."""
    url = f"https://mail.{SEC}:{port('mail1', 443)}/chat/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[f"--host-resolver-rules=MAP mail.{SEC} 127.0.0.1"],
        )
        try:
            context = browser.new_context(ignore_https_errors=True, locale="fr-FR")
            page = context.new_page()
            page.goto(url)
            # The page locks logins to the commune: the local part is enough.
            page.locator('input[name="jid"]').fill("elodie.rossi")
            page.locator('input[name="password"]').fill(password(ELODIE))
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_selector("converse-roster, .controlbox-section", timeout=30_000)
            page.goto(url + f"#converse/room?jid={TOWN_HALL}")
            textarea = page.locator("converse-muc textarea.chat-textarea").first
            textarea.wait_for(timeout=30_000)
            textarea.fill(body)
            textarea.press("Enter")
            page.wait_for_selector(f"text={body}", timeout=30_000)
            screenshot(page, "web-chat.png")
        finally:
            browser.close()


def test_plan_shows_room_changes_and_the_next_apply_applies_them(lab_copy):
    tenant = lab_copy / "tenants" / "saint-etienne-de-crossey.yml"
    text = tenant.read_text(encoding="utf-8")
    new_room = "rooms:\n  - id: urbanisme\n    name: Commission urbanisme\n    members: [pdurand]\n"
    tenant.write_text(
        text.replace(
            "members: [mmartin, pdurand]", "members: [mmartin, pdurand, secretariat]"
        ).replace("rooms:\n", new_room, 1),
        encoding="utf-8",
    )
    plan = fnl("plan", inventory=lab_copy)
    assert plan.rc == 2, plan.stdout + plan.stderr
    assert f"~ room {COUNCIL}" in plan.stdout and f"+member {ELODIE}" in plan.stdout
    assert f"+ room urbanisme@salons.{SEC}" in plan.stdout
    applied = fnl("apply", inventory=lab_copy)
    assert applied.rc == 0, applied.stdout + applied.stderr

    async def elodie_joins():
        async with logged_in("mail1", ELODIE) as elodie:
            assert await join_error(elodie, COUNCIL, "Élodie") is None
            assert (
                await join_error(elodie, f"urbanisme@salons.{SEC}", "Élodie")
                == "registration-required"
            )

    run(elodie_joins())

    # Back as the files were: the new room is closed, not destroyed; Élodie leaves.
    tenant.write_text(text, encoding="utf-8")
    plan = fnl("plan", inventory=lab_copy)
    assert f"- room urbanisme@salons.{SEC}" in plan.stdout, plan.stdout
    assert "history is kept" in plan.stdout
    assert fnl("apply", inventory=lab_copy).rc == 0

    async def elodie_left():
        async with logged_in("mail1", ELODIE) as elodie:
            assert await join_error(elodie, COUNCIL, "Élodie") == "registration-required"

    run(elodie_left())
