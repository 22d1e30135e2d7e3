"""Agenda, address book and webmail in the lab (role groupware: SOGo behind nginx), with
real clients: CalDAV and CardDAV, invitations by mail, room bookings, shared calendar
rights, isolation between communes, a real browser, and a password changed in the web
interface that outlives the next apply."""

from __future__ import annotations

import hashlib
import imaplib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import caldav
import pytest

from tests.e2e.conftest import fnl
from tests.e2e.mailclient import imap, password, send_inbound, token, wait_for
from tests.e2e.webclient import (
    browser_page,
    calendar,
    change_password,
    dav,
    http,
    screenshot,
    web_login,
)

pytestmark = pytest.mark.lab

# Saint-Étienne-de-Crossey and Ambel are both on mail1 (example tenant files).
SEDC = "saint-etienne-de-crossey.fr"
AMBEL = "mairie-ambel.fr"
MARIE = f"marie.martin@{SEDC}"
ELODIE = f"elodie.rossi@{SEDC}"  # writes conseil-municipal, manages the room
PIERRE = f"pierre.durand@{SEDC}"  # reads conseil-municipal (everyone: read)
ANNE = f"anne.vial@{AMBEL}"
ROOM = f"salle-des-fetes@{SEDC}"
CONSEIL = f"conseil-municipal@{SEDC}"

DAV_NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:carddav"}


def address_book(domain: str) -> str:
    """The commune's address book: SOGo's user source for the domain (one view each)."""
    readable = re.sub(r"[^a-z0-9]+", "_", domain)[:40]
    return f"d_{readable}_{hashlib.sha1(domain.encode()).hexdigest()[:8]}"


def event(
    uid: str,
    summary: str,
    organizer: str | None = None,
    attendees: tuple[tuple[str, str], ...] = (),
    start: datetime | None = None,
    hours: int = 1,
) -> str:
    """An iCalendar event; attendees are (address, CUTYPE) pairs."""
    start = start or some_day(uid)
    stamp = "%Y%m%dT%H%M%SZ"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//fnl-deploy//e2e tests//FR",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{datetime.now(UTC).strftime(stamp)}",
        f"DTSTART:{start.strftime(stamp)}",
        f"DTEND:{(start + timedelta(hours=hours)).strftime(stamp)}",
        f"SUMMARY:{summary}",
    ]
    if organizer:
        lines.append(f"ORGANIZER:mailto:{organizer}")
    lines += [
        f"ATTENDEE;CUTYPE={cutype};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
        f":mailto:{address}"
        for address, cutype in attendees
    ]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def new_uid() -> str:
    return uuid.uuid4().hex


def some_day(uid: str) -> datetime:
    """A day of 2027-2029 picked by the UID: reruns do not pile events on one slot."""
    return datetime(2027, 1, 4, 9, tzinfo=UTC) + timedelta(days=int(uid[:4], 16) % 1000)


def attendee_status(component, address: str) -> str:
    attendees = component.get("attendee", [])
    # icalendar gives a lone attendee as itself, several as a list.
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if str(attendee).lower() == f"mailto:{address}":
            return str(attendee.params["PARTSTAT"])
    raise AssertionError(f"{address} is not an attendee")


def hrefs(multistatus: str) -> set[str]:
    return {h.text for h in ElementTree.fromstring(multistatus).iterfind(".//D:href", DAV_NS)}


def test_caldav_event_round_trip(lab_platform):
    client = dav("mail1", PIERRE)
    agenda = calendar(client, "mail1", PIERRE)
    uid, summary = new_uid(), f"Permanence urbanisme {token()}"
    agenda.save_event(event(uid, summary))
    try:
        # A new client: read back from the server, not from the library's own copy.
        found = calendar(dav("mail1", PIERRE), "mail1", PIERRE).event_by_uid(uid)
        component = found.icalendar_component
        assert str(component["summary"]) == summary
        assert component["dtstart"].dt == some_day(uid)
    finally:
        agenda.event_by_uid(uid).delete()
    with pytest.raises(caldav.lib.error.NotFoundError):
        agenda.event_by_uid(uid)


def test_an_invitation_reaches_the_colleague_by_mail_and_in_their_calendar(lab_platform):
    uid, summary = new_uid(), f"Réunion voirie {token()}"
    organizer = calendar(dav("mail1", ELODIE), "mail1", ELODIE)
    organizer.save_event(event(uid, summary, ELODIE, ((PIERRE, "INDIVIDUAL"),)))
    try:
        # SOGo mails the invitation through Postfix with the organizer's own login.
        raw = wait_for("mail1", PIERRE, summary.split()[-1], timeout=60)
        assert b"text/calendar" in raw and b"METHOD:REQUEST" in raw.replace(b"\r\n ", b"")
        assert f"<{ELODIE}>".encode() in raw or ELODIE.encode() in raw
        # SOGo puts the invitation in the invitee's calendar, awaiting an answer.
        copy = calendar(dav("mail1", PIERRE), "mail1", PIERRE).event_by_uid(uid)
        assert str(copy.icalendar_component["summary"]) == summary
        assert attendee_status(copy.icalendar_component, PIERRE) == "NEEDS-ACTION"
    finally:
        organizer.event_by_uid(uid).delete()


def test_the_room_accepts_a_booking_and_refuses_an_overlapping_one(lab_platform):
    first, second = new_uid(), new_uid()
    start = some_day(first)
    elodie = calendar(dav("mail1", ELODIE), "mail1", ELODIE)
    elodie.save_event(
        event(first, f"Vœux du maire {token()}", ELODIE, ((ROOM, "ROOM"),), start, hours=2)
    )
    try:
        booked = elodie.event_by_uid(first).icalendar_component
        assert attendee_status(booked, ROOM) == "ACCEPTED"  # the room answered by itself
        # Someone else, half an hour later, same room: refused, and nothing is saved.
        pierre = calendar(dav("mail1", PIERRE), "mail1", PIERRE)
        overlapping = event(
            second, "Loto du club", PIERRE, ((ROOM, "ROOM"),), start + timedelta(minutes=30)
        )
        answer = http("mail1", PIERRE).put(
            f"/SOGo/dav/{PIERRE}/Calendar/personal/{second}.ics",
            data=overlapping.encode(),
            headers={"Content-Type": "text/calendar; charset=utf-8"},
        )
        assert answer.status_code == 409, answer.text
        assert "salle-des-fetes" in answer.text  # the refusal names the room
        with pytest.raises(caldav.lib.error.NotFoundError):
            pierre.event_by_uid(second)
        # The room's calendar (read by its manager) holds the first booking only.
        room = calendar(dav("mail1", ELODIE), "mail1", ROOM)
        assert [e.icalendar_component["uid"] for e in room.events()].count(first) == 1
        with pytest.raises(caldav.lib.error.NotFoundError):
            room.event_by_uid(second)
    finally:
        elodie.event_by_uid(first).delete()


def test_shared_calendar_rights_writer_writes_reader_only_reads(lab_platform):
    uid, summary = new_uid(), f"Conseil municipal {token()}"
    writer = calendar(dav("mail1", ELODIE), "mail1", CONSEIL)
    writer.save_event(event(uid, summary))
    try:
        reader = http("mail1", PIERRE)
        path = f"/SOGo/dav/{CONSEIL}/Calendar/personal/{uid}.ics"
        read = reader.get(path)
        assert read.status_code == 200 and summary in read.text
        other = new_uid()
        refused = reader.put(
            f"/SOGo/dav/{CONSEIL}/Calendar/personal/{other}.ics",
            data=event(other, "Pas autorisé").encode(),
            headers={"Content-Type": "text/calendar; charset=utf-8"},
        )
        assert refused.status_code == 403
        assert reader.put(path, data=event(uid, "Modifié").encode()).status_code == 403
        assert reader.delete(path).status_code == 403
        assert summary in reader.get(path).text  # unchanged
    finally:
        writer.event_by_uid(uid).delete()


def test_people_with_rights_are_subscribed_to_the_shared_calendar(lab_platform):
    """The calendar shows up in a reader's own Calendar/ home (web interface and CalDAV
    clients), and stays there once they have logged in to the web interface."""
    web_login("mail1", PIERRE, password(PIERRE))  # SOGo writes the user's profile then
    reader = http("mail1", PIERRE)
    listing = reader.request("PROPFIND", f"/SOGo/dav/{PIERRE}/Calendar/", headers={"Depth": "1"})
    subscribed = CONSEIL.replace("@", "_A_").replace(".", "_D_") + "_personal"
    assert f"/SOGo/dav/{PIERRE}/Calendar/{subscribed}/" in hrefs(listing.text)


def test_carddav_round_trip_and_the_communes_address_book(lab_platform):
    session = http("mail1", PIERRE)
    uid = new_uid()
    fields = [
        "FN:Jeanne Test",
        "N:Test;Jeanne",
        f"EMAIL;TYPE=work:jeanne.{uid}@example.org",
        "TEL;TYPE=cell:+33 6 12 34 56 78",
        "ORG:Association des parents d'élèves",
    ]
    card = "\r\n".join(["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", *fields, "END:VCARD", ""])
    path = f"/SOGo/dav/{PIERRE}/Contacts/personal/{uid}.vcf"
    put = session.put(
        path, data=card.encode(), headers={"Content-Type": "text/vcard; charset=utf-8"}
    )
    assert put.status_code == 201, put.text
    try:
        got = session.get(path)
        assert got.status_code == 200
        lines = got.content.decode("utf-8").replace("\r\n ", "").split("\r\n")
        assert set(fields) <= set(lines) and f"UID:{uid}" in lines
    finally:
        assert session.delete(path).status_code == 204
    assert session.get(path).status_code == 404

    # The commune's address book: its people, shared mailbox, calendars; nobody else.
    book = f"/SOGo/dav/{PIERRE}/Contacts/{address_book(SEDC)}/"
    listing = session.request("PROPFIND", book, headers={"Depth": "1"})
    assert listing.status_code == 207
    entries = {h.rstrip("/").rsplit("/", 1)[-1] for h in hrefs(listing.text)} - {address_book(SEDC)}
    assert {MARIE, ELODIE, PIERRE, f"mairie@{SEDC}", ROOM, CONSEIL} <= entries
    assert all(entry.endswith("@" + SEDC) for entry in entries), entries
    person = session.get(book + MARIE)
    assert person.status_code == 200 and "FN:Marie Martin" in person.text


def _search(session, owner: str, text: str) -> list[str]:
    """The web interface's directory search (address autocompletion): every address book
    the user can see, their commune's included. Returns the addresses found."""
    answer = session.get(f"/SOGo/so/{owner}/Contacts/allContactSearch", params={"search": text})
    assert answer.status_code == 200, answer.status_code
    return [contact["c_uid"] for contact in answer.json()["contacts"]]


def test_a_commune_sees_nothing_of_another_communes_agenda_and_contacts(lab_platform):
    anne = http("mail1", ANNE)
    for path in (
        f"/SOGo/dav/{PIERRE}/Calendar/personal/",
        f"/SOGo/dav/{PIERRE}/Contacts/personal/",
        f"/SOGo/dav/{PIERRE}/Contacts/{address_book(SEDC)}/",
        f"/SOGo/dav/{ANNE}/Contacts/{address_book(SEDC)}/",
        f"/SOGo/dav/{ROOM}/Calendar/personal/",
        f"/SOGo/dav/{CONSEIL}/Calendar/personal/",
    ):
        for method in ("PROPFIND", "GET"):
            answer = anne.request(method, path, headers={"Depth": "1"})
            assert answer.status_code in (403, 404), (method, path, answer.status_code)
    # Nor can she write there (an event put in the room's calendar would book it).
    uid = new_uid()
    put = anne.put(
        f"/SOGo/dav/{ROOM}/Calendar/personal/{uid}.ics",
        data=event(uid, "Intrusion").encode(),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
    )
    assert put.status_code in (403, 404)
    # Her commune's address book lists Ambel only.
    listing = anne.request(
        "PROPFIND", f"/SOGo/dav/{ANNE}/Contacts/{address_book(AMBEL)}/", headers={"Depth": "1"}
    )
    assert listing.status_code == 207
    assert any(h.endswith("/" + ANNE) for h in hrefs(listing.text))
    assert not any(SEDC in h for h in hrefs(listing.text))


def test_address_book_search_finds_the_communes_people_only(lab_platform):
    """What the webmail's autocompletion asks: a search that finds Ambel's own people
    (else "finds no Saint-Étienne people" proves nothing) and none of Saint-Étienne's.
    (SOGo 5.8 answers a CardDAV addressbook-query on an SQL source with 501: clients sync
    the commune's address book whole instead, as the listing test above does.)"""
    anne = web_login("mail1", ANNE, password(ANNE))
    assert ANNE in _search(anne, ANNE, "anne")
    assert _search(anne, ANNE, "saint-etienne") == []
    assert _search(anne, ANNE, "marie") == []
    pierre = web_login("mail1", PIERRE, password(PIERRE))
    assert MARIE in _search(pierre, PIERRE, "marie")  # the same search finds in one's own
    assert ANNE not in _search(pierre, PIERRE, "anne")


def test_webmail_and_agenda_in_a_real_browser(lab_platform):
    subject = f"Courrier du jour {token()}"
    send_inbound("mail1", [ELODIE], subject)
    wait_for("mail1", ELODIE, subject)
    # An event at noon today (Paris time is UTC+1 or +2): the agenda opens on today.
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    uid, summary = new_uid(), f"Permanence élus {token()}"
    agenda = calendar(dav("mail1", ELODIE), "mail1", ELODIE)
    agenda.save_event(event(uid, summary, start=today))
    try:
        with browser_page("mail1") as page:
            page.goto("/SOGo/")
            page.fill('input[ng-model="app.creds.username"]', ELODIE)
            page.fill('input[ng-model="app.creds.password"]', password(ELODIE))
            page.click("button[type=submit]")
            page.wait_for_url("**/Mail/**", timeout=30_000)
            page.get_by_text(subject).first.wait_for(timeout=30_000)
            screenshot(page, "webmail-inbox.png")
            page.goto(f"/SOGo/so/{ELODIE}/Calendar/view#!/calendar/day/{today:%Y%m%d}")
            page.get_by_text(summary).first.wait_for(timeout=30_000)
            screenshot(page, "webmail-agenda.png")
    finally:
        agenda.event_by_uid(uid).delete()


def _dav_status(login: str, secret: str) -> int:
    answer = http("mail1", login, secret).request(
        "PROPFIND", f"/SOGo/dav/{login}/Calendar/personal/", headers={"Depth": "0"}
    )
    return answer.status_code


def test_a_password_changed_in_the_web_interface_survives_apply(lab_platform):
    original = password(PIERRE)
    chosen = f"Choisi par Pierre {token()}"
    assert change_password("mail1", PIERRE, original, chosen) == 204
    try:
        applied = fnl("apply", "--json")
        envelope = json.loads(applied.stdout)
        assert applied.rc == 0 and envelope["status"] == "ok", applied.stderr
        assert envelope["data"]["changes"] == []  # the user's password is theirs
        with imap("mail1", PIERRE, chosen) as client:
            assert client.select("INBOX")[0] == "OK"
        assert _dav_status(PIERRE, chosen) == 207
        with pytest.raises(imaplib.IMAP4.error), imap("mail1", PIERRE, original):
            pass
        assert _dav_status(PIERRE, original) == 401
    finally:
        # Back to the vault's password, the same way, for the other tests.
        assert change_password("mail1", PIERRE, chosen, original) == 204
    with imap("mail1", PIERRE, original) as client:
        assert client.select("INBOX")[0] == "OK"
