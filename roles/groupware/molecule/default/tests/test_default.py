"""Role groupware: SOGo behind nginx serves each commune its own people and calendars.

The checks run a small HTTPS client inside the container (one round trip per test), which
verifies the certificate of role tls against the server's name, as a phone would.
"""

import json
import shlex
import uuid

HOSTNAME = "mail1.example.org"
ANNE = "anne.vial@mairie-ambel.fr"
ANNE_PASSWORD = "Anne-Vial-2026!"
GERARD = "gerard.chabert@xn--chevis-9ua.fr"
GERARD_PASSWORD = "Chabert-Echevis-2026!"
ROOM = "salle-des-fetes@mairie-ambel.fr"
COUNCIL = "conseil-municipal@mairie-ambel.fr"

# An HTTPS client for the container: request(method, path, user, password, body, headers)
# returns (status, body); sessions for the web interface's JSON calls keep cookies.
CLIENT = r"""
import base64, http.cookiejar, json, ssl, sys, urllib.error, urllib.request
context = ssl.create_default_context(cafile="/etc/fnl-deploy/tls/ca.crt")
BASE = "https://%s" % HOSTNAME

def opener(cookies=None):
    handlers = [urllib.request.HTTPSHandler(context=context)]
    if cookies is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(cookies))
    return urllib.request.build_opener(*handlers)

def request(method, path, user=None, password=None, body=None, headers=None, session=None):
    headers = dict(headers or {})
    if user:
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        headers["Authorization"] = "Basic " + token
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with (session or opener()).open(req, timeout=60) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)
"""


def client(host, script):
    """Run the client with a test script; the script prints one JSON document."""
    program = f"HOSTNAME = {HOSTNAME!r}\n" + CLIENT + script
    # The server's name resolves to itself, so TLS is checked against the real name.
    command = f"grep -q ' {HOSTNAME}$' /etc/hosts || echo '127.0.0.1 {HOSTNAME}' >> /etc/hosts"
    assert host.run(command).rc == 0
    result = host.run("python3 -c " + shlex.quote(program))
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def event(uid, summary, organizer, attendees=(), start="20270115T090000Z"):
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fnl-deploy//tests//FR", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20261201T080000Z", f"DTSTART:{start}",
        "DTEND:20270115T120000Z", f"SUMMARY:{summary}", f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}",
    ]
    lines += [f"ATTENDEE;CUTYPE=ROOM;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{a}" for a in attendees]
    return "\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])


def test_services_answer_behind_nginx_with_security_headers(host):
    for service in ("sogo", "memcached", "nginx"):
        assert host.service(service).is_running, service
    assert host.socket("tcp://127.0.0.1:20000").is_listening  # SOGo: local only
    out = client(host, r"""
status, _, headers = request("GET", "/SOGo/")
print(json.dumps({"status": status, "headers": {k.lower(): v for k, v in headers.items()}}))
""")
    assert out["status"] == 200
    assert out["headers"]["strict-transport-security"].startswith("max-age=")
    assert out["headers"]["x-content-type-options"] == "nosniff"
    # Calendar and contacts apps find the DAV root here (RFC 6764).
    redirect = host.run(
        "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --cacert /etc/fnl-deploy/tls/ca.crt"
        f" --resolve {HOSTNAME}:443:127.0.0.1 https://{HOSTNAME}/.well-known/caldav"
    ).stdout
    assert redirect == f"301 https://{HOSTNAME}/SOGo/dav/"


def test_people_log_in_and_see_only_their_own_commune(host):
    out = client(host, rf"""
def propfind(path, user, password):
    return request("PROPFIND", path, user, password, headers={{"Depth": "1"}})[:2]
own, _ = propfind("/SOGo/dav/{ANNE}/Calendar/", "{ANNE}", "{ANNE_PASSWORD}")
wrong, _ = propfind("/SOGo/dav/{ANNE}/Calendar/", "{ANNE}", "not-her-password")
foreign, _ = propfind("/SOGo/dav/{ANNE}/Calendar/personal/", "{GERARD}", "{GERARD_PASSWORD}")
book_status, book = propfind("/SOGo/dav/{ANNE}/Contacts/", "{ANNE}", "{ANNE_PASSWORD}")
print(json.dumps({{"own": own, "wrong": wrong, "foreign": foreign, "book": book}}))
""")
    assert out["own"] == 207
    assert out["wrong"] == 401
    assert out["foreign"] in (403, 404)
    # The commune's address book is a source of its own (one view per domain).
    views = host.run(
        "runuser -u sogo -- psql -d fnl_directory -Atc "
        "\"select viewname from pg_views where schemaname = 'sogo_directory'\""
    ).stdout.split()
    ambel = [v for v in views if v.startswith("d_mairie_ambel_fr_")]
    assert len(ambel) == 1 and ambel[0] in out["book"]
    people = host.run(f"runuser -u sogo -- psql -d fnl_directory -Atc 'select mail from {ambel[0]}'")
    assert set(people.stdout.split()) == {ANNE, "mairie@mairie-ambel.fr", ROOM, COUNCIL}


def test_room_takes_one_booking_at_a_time(host):
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    out = client(host, rf"""
calendar = "/SOGo/dav/{ANNE}/Calendar/personal/"
headers = {{"Content-Type": "text/calendar; charset=utf-8"}}
booked, _, _ = request("PUT", calendar + "{first}.ics", "{ANNE}", "{ANNE_PASSWORD}",
                       {event(first, "Repas des aînés", ANNE, [ROOM])!r}, headers)
_, saved, _ = request("GET", calendar + "{first}.ics", "{ANNE}", "{ANNE_PASSWORD}")
refused, reason, _ = request("PUT", calendar + "{second}.ics", "{ANNE}", "{ANNE_PASSWORD}",
                             {event(second, "Loto", ANNE, [ROOM], "20270115T100000Z")!r}, headers)
missing, _, _ = request("GET", calendar + "{second}.ics", "{ANNE}", "{ANNE_PASSWORD}")
print(json.dumps({{"booked": booked, "saved": saved, "refused": refused, "reason": reason,
                  "missing": missing}}))
""")
    assert out["booked"] == 201
    room_line = next(line for line in out["saved"].replace("\r\n ", "").splitlines()
                     if ROOM in line)
    assert "PARTSTAT=ACCEPTED" in room_line
    assert out["refused"] == 409, out["reason"]
    assert "Repas des a" in out["reason"]  # names the conflicting event
    assert out["missing"] == 404


def test_shared_agenda_is_read_only_for_readers(host):
    uid = uuid.uuid4().hex
    out = client(host, rf"""
council = "/SOGo/dav/{COUNCIL}/Calendar/personal/"
listing, _, _ = request("PROPFIND", council, "{ANNE}", "{ANNE_PASSWORD}", headers={{"Depth": "1"}})
write, _, _ = request("PUT", council + "{uid}.ics", "{ANNE}", "{ANNE_PASSWORD}",
                      {event(uid, "Séance", ANNE)!r}, {{"Content-Type": "text/calendar"}})
foreign, _, _ = request("PROPFIND", council, "{GERARD}", "{GERARD_PASSWORD}", headers={{"Depth": "1"}})
# Subscribed for her by the apply, and still after her first login to the web interface.
login = request("POST", "/SOGo/connect", body=json.dumps({{"userName": "{ANNE}",
                "password": "{ANNE_PASSWORD}", "rememberLogin": 0}}),
                headers={{"Content-Type": "application/json"}})[0]
_, home, _ = request("PROPFIND", "/SOGo/dav/{ANNE}/Calendar/", "{ANNE}", "{ANNE_PASSWORD}",
                     headers={{"Depth": "1"}})
print(json.dumps({{"listing": listing, "write": write, "foreign": foreign, "login": login,
                  "home": home}}))
""")
    assert out["listing"] == 207
    assert out["write"] == 403
    assert out["foreign"] in (403, 404)
    assert out["login"] == 200
    assert f"/SOGo/dav/{ANNE}/Calendar/conseil-municipal_A_mairie-ambel_D_fr_personal/" in out["home"]


def test_password_changed_in_the_web_interface_lands_in_the_directory(host):
    new_password = "Nouveau-" + uuid.uuid4().hex[:12]
    out = client(host, rf"""
def change(old, new):
    jar = http.cookiejar.CookieJar()
    session = opener(jar)
    headers = {{"Content-Type": "application/json"}}
    login = request("POST", "/SOGo/connect", body=json.dumps({{"userName": "{GERARD}",
                    "password": old, "rememberLogin": 0}}), headers=headers, session=session)[0]
    token = next(c.value for c in jar if c.name == "XSRF-TOKEN")
    changed = request("POST", "/SOGo/so/changePassword", session=session,
                      body=json.dumps({{"userName": "{GERARD}", "newPassword": new,
                                        "oldPassword": old}}),
                      headers=dict(headers, **{{"X-XSRF-TOKEN": token}}))[0]
    return login, changed
first = change("{GERARD_PASSWORD}", "{new_password}")
path = "/SOGo/dav/{GERARD}/Calendar/"
with_new = request("PROPFIND", path, "{GERARD}", "{new_password}", headers={{"Depth": "0"}})[0]
with_old = request("PROPFIND", path, "{GERARD}", "{GERARD_PASSWORD}", headers={{"Depth": "0"}})[0]
back = change("{new_password}", "{GERARD_PASSWORD}")
print(json.dumps({{"first": first, "with_new": with_new, "with_old": with_old, "back": back}}))
""")
    assert out["first"] == [200, 204]
    assert out["with_new"] == 207
    assert out["with_old"] == 401
    assert out["back"] == [200, 204]
    stored = host.run(
        "runuser -u postgres -- psql -d fnl_directory -Atc "
        f"\"select password_hash from fnl.mailbox where address = '{GERARD}'\""
    ).stdout.strip()
    assert stored.startswith("{ARGON2ID}$argon2id$")  # what Dovecot verifies too
