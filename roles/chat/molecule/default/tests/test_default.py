"""Role chat: Prosody serves each commune with chat, logins checked by Dovecot, the rooms
of the tenant files with their members and moderators, and the web chat through nginx.

Each testinfra command is a round trip to the container, so checks are batched: one
XMPP session per person, one admin-shell query for every room.
"""

import json
import shlex

import pytest

COMMUNE = "saint-etienne-de-crossey.fr"
OTHER_COMMUNE = "mairie-ambel.fr"
ROOMS = f"salons.{COMMUNE}"
COUNCIL = f"conseil@{ROOMS}"
EVERYONE = f"mairie@{ROOMS}"
MARIE = f"marie.martin@{COMMUNE}"
PIERRE = f"pierre.durand@{COMMUNE}"
LUCIE = f"lucie.bernard@{COMMUNE}"
ANNE = f"anne.vial@{OTHER_COMMUNE}"
IDN_COMMUNE = "échevis.fr"
IDN_DOMAIN = "xn--chevis-9ua.fr"
GERARD = f"gerard.chabert@{IDN_DOMAIN}"
PASSWORDS = {
    MARIE: "Marie-Martin-2026!",
    PIERRE: "Pierre-Durand-2026!",
    LUCIE: "Lucie-Bernard-2026!",
    ANNE: "Anne-Vial-2026!",
    GERARD: "Chabert-Echevis-2026!",
}
COMMUNE_CERTIFICATE = f"/etc/fnl-deploy/tls/tenants/{COMMUNE}.crt"
SERVER_CERTIFICATE = "/etc/fnl-deploy/tls/server.crt"
WEB = f"mail.{COMMUNE}"

# A minimal XMPP client (standard library only), run in the container: STARTTLS with the
# certificate checked, SASL PLAIN, resource binding, then joining rooms. Prints one JSON
# object: what the server offered and answered.
XMPP_CLIENT = r"""
import base64, json, socket, ssl, sys
import xml.etree.ElementTree as ET

STREAM = "http://etherx.jabber.org/streams"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
MUC = "http://jabber.org/protocol/muc"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
args = json.loads(sys.argv[1])
domain = args["domain"]


class Stream:
    def __init__(self, sock):
        self.sock = sock
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.ready = []
        self.send(f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0'"
                  f" xmlns='jabber:client' xmlns:stream='{STREAM}'>")

    def send(self, text):
        self.sock.sendall(text.encode())

    def next(self):
        # One top-level element of the stream (a child of <stream:stream>), whole.
        while not self.ready:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the stream")
            self.parser.feed(data)
            for event, element in self.parser.read_events():
                self.depth += 1 if event == "start" else -1
                if event == "end" and self.depth == 1:
                    self.ready.append(element)
        return self.ready.pop(0)


def mechanisms(features):
    return sorted(m.text for m in features.iter(f"{{{SASL}}}mechanism"))


out = {}
sock = socket.create_connection(("127.0.0.1", 5222), timeout=20)
stream = Stream(sock)
features = stream.next()
out["starttls"] = features.find(f"{{{TLS}}}starttls") is not None
out["mechanisms_before_tls"] = mechanisms(features)
stream.send(f"<starttls xmlns='{TLS}'/>")
assert stream.next().tag == f"{{{TLS}}}proceed"
context = ssl.create_default_context(cafile=args["cafile"])
context.check_hostname = args["check_hostname"]
sock = context.wrap_socket(sock, server_hostname=domain)
stream = Stream(sock)
out["mechanisms"] = mechanisms(stream.next())
credentials = base64.b64encode(f"\0{args['user']}\0{args['password']}".encode()).decode()
stream.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{credentials}</auth>")
answer = stream.next()
out["auth"] = answer.tag.split("}")[1]
if out["auth"] == "failure":
    out["failure"] = [child.tag.split("}")[1] for child in answer]
    print(json.dumps(out))
    sys.exit(0)
stream = Stream(sock)
stream.next()
stream.send(f"<iq type='set' id='bind'><bind xmlns='{BIND}'>"
            "<resource>molecule</resource></bind></iq>")
out["jid"] = stream.next().find(f".//{{{BIND}}}jid").text
out["rooms"] = {}
for room, nick in args["join"]:
    stream.send(f"<presence to='{room}/{nick}'>"
                f"<x xmlns='{MUC}'><history maxstanzas='0'/></x></presence>")
    while True:
        stanza = stream.next()
        if stanza.tag != "{jabber:client}presence" or stanza.get("from") != f"{room}/{nick}":
            continue
        if stanza.get("type") == "error":
            condition = [c.tag.split("}")[1] for c in stanza.find("{jabber:client}error")
                         if c.tag.startswith(f"{{{STANZAS}}}")]
            out["rooms"][room] = {"error": condition}
        else:
            item = stanza.find(f".//{{{MUC}#user}}item")
            out["rooms"][room] = {"affiliation": item.get("affiliation"), "role": item.get("role")}
        break
stream.send("</stream:stream>")
print(json.dumps(out))
"""

# Every room of a rooms component, as Prosody holds it (its admin shell, Lua).
ROOMS_QUERY = r"""> local json = require "util.json"; local out = {};
for room in prosody.hosts["%s"].modules.muc.all_rooms() do
  local affiliations = {};
  for jid, affiliation, data in room:each_affiliation() do
    affiliations[jid] = { affiliation, data and data.reserved_nickname or json.null };
  end
  out[room.jid] = { name = room:get_name(), description = room:get_description() or json.null,
    persistent = room:get_persistent(), members_only = room:get_members_only(),
    public = room:get_public(), affiliations = affiliations };
end
return json.encode(out)"""


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}\nrc={result.rc}\n{result.stdout}{result.stderr}"
    return result.stdout


def xmpp(host, user, password, domain=COMMUNE, cafile=COMMUNE_CERTIFICATE,
         check_hostname=True, join=()):
    """One XMPP session of `user` on the virtual host `domain`, as a client would have."""
    args = {"domain": domain, "user": user, "password": password, "cafile": cafile,
            "check_hostname": check_hostname, "join": list(join)}
    return json.loads(run(host, f"python3 -c {shlex.quote(XMPP_CLIENT)} "
                                f"{shlex.quote(json.dumps(args))}"))


def prosody_rooms(host, component=ROOMS):
    out = run(host, "prosodyctl shell " + shlex.quote(" ".join(
        (ROOMS_QUERY % component).split())))
    assert out.startswith("Result: "), out
    return json.loads(out[len("Result: "):])


def https(host, path):
    """curl as a browser reaching mail.<commune> (its certificate checked): headers, body."""
    out = run(host, f"curl -sS --max-time 20 -D - --resolve {WEB}:443:127.0.0.1"
                    f" --cacert {COMMUNE_CERTIFICATE} https://{WEB}{path}")
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    status = head.splitlines()[0]
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


# --- Prosody --------------------------------------------------------------------------

def test_prosody_runs_for_clients_only_and_its_configuration_checks(host):
    prosody = host.service("prosody")
    assert prosody.is_running and prosody.is_enabled
    assert host.socket("tcp://0.0.0.0:5222").is_listening
    # HTTP (websocket, uploads) for nginx only; no federation: no server-to-server port.
    assert host.socket("tcp://127.0.0.1:5280").is_listening
    assert not host.socket("tcp://0.0.0.0:5280").is_listening
    assert not host.socket("tcp://0.0.0.0:5269").is_listening
    assert not host.socket("tcp://:::5269").is_listening
    assert not host.socket("tcp://0.0.0.0:5281").is_listening
    run(host, "luac5.4 -p /etc/prosody/prosody.cfg.lua")
    assert "All checks passed" in run(host, "prosodyctl check config")


def test_one_virtual_host_per_commune_with_chat(host):
    config = host.file("/etc/prosody/prosody.cfg.lua")
    assert (config.user, config.group, config.mode) == ("root", "prosody", 0o640)
    hosts = [line.split('"')[1] for line in config.content_string.splitlines()
             if line.startswith(("VirtualHost ", "Component "))]
    assert sorted(hosts) == sorted([
        COMMUNE, f"salons.{COMMUNE}", f"upload.{COMMUNE}",
        OTHER_COMMUNE, f"salons.{OTHER_COMMUNE}", f"upload.{OTHER_COMMUNE}",
        IDN_COMMUNE, f"salons.{IDN_COMMUNE}", f"upload.{IDN_COMMUNE}",
    ]), "Treffort has no chat: no host"


def test_prosody_has_a_dovecot_socket_and_reads_the_keys(host):
    socket = host.file("/run/dovecot/auth-chat")
    assert socket.is_socket
    assert (socket.user, socket.group, socket.mode) == ("prosody", "prosody", 0o660)
    assert "ssl-cert" in host.user("prosody").groups
    for key in ("/etc/fnl-deploy/tls/server.key",
                f"/etc/fnl-deploy/tls/tenants/{COMMUNE}.key"):
        key = host.file(key)
        assert (key.user, key.group, key.mode) == ("root", "ssl-cert", 0o640)


# --- Logins ---------------------------------------------------------------------------

def test_login_with_the_mail_password_over_tls_only(host):
    session = xmpp(host, "marie.martin", PASSWORDS[MARIE])
    assert session["starttls"] and session["mechanisms_before_tls"] == [], session
    assert "PLAIN" in session["mechanisms"]
    assert session["auth"] == "success"
    assert session["jid"] == f"{MARIE}/molecule"


def test_a_wrong_password_is_refused(host):
    session = xmpp(host, "pierre.durand", PASSWORDS[PIERRE] + "x")
    assert session["auth"] == "failure" and "not-authorized" in session["failure"], session


def test_people_log_in_on_their_own_commune_only(host):
    # Anne's address and password are right, on Ambel's host (the server's certificate).
    home = xmpp(host, "anne.vial", PASSWORDS[ANNE], domain=OTHER_COMMUNE,
                cafile=SERVER_CERTIFICATE, check_hostname=False)
    assert home["auth"] == "success" and home["jid"] == f"{ANNE}/molecule", home
    # On Saint-Étienne's, Dovecot is asked for anne.vial@saint-etienne-de-crossey.fr.
    away = xmpp(host, "anne.vial", PASSWORDS[ANNE])
    assert away["auth"] == "failure" and "not-authorized" in away["failure"], away


def test_an_idn_commune_chats_under_its_unicode_name(host):
    # The address people use is échevis.fr; Dovecot knows the account by its A-label.
    session = xmpp(host, "gerard.chabert", PASSWORDS[GERARD], domain=IDN_COMMUNE,
                   cafile=SERVER_CERTIFICATE, check_hostname=False)
    assert session["auth"] == "success", session
    assert session["jid"] == f"gerard.chabert@{IDN_COMMUNE}/molecule"


# --- Rooms ----------------------------------------------------------------------------

def test_the_rooms_file_lists_the_communes_rooms(host):
    rooms_file = host.file("/etc/prosody/fnl-rooms.json")
    assert (rooms_file.user, rooms_file.group, rooms_file.mode) == ("root", "prosody", 0o640)
    document = json.loads(rooms_file.content_string)
    assert sorted(document) == sorted([f"salons.{OTHER_COMMUNE}", f"salons.{IDN_COMMUNE}", ROOMS])
    assert document[f"salons.{OTHER_COMMUNE}"] == document[f"salons.{IDN_COMMUNE}"] == []
    rooms = {room["jid"]: room for room in document[ROOMS]}
    assert sorted(rooms) == [COUNCIL, EVERYONE]
    assert rooms[COUNCIL]["members"] == [MARIE, PIERRE]
    assert rooms[COUNCIL]["moderators"] == [MARIE]
    assert rooms[COUNCIL]["nicknames"] == {MARIE: "Marie Martin", PIERRE: "Pierre Durand"}
    assert rooms[EVERYONE]["members"] == [LUCIE, MARIE, PIERRE]


def test_prosody_holds_the_rooms_with_their_members_and_moderators(host):
    rooms = prosody_rooms(host)
    assert sorted(rooms) == [COUNCIL, EVERYONE]
    council = rooms[COUNCIL]
    assert council["name"] == "Conseil municipal"
    assert council["description"] == "Les élus de la commune"
    assert council["persistent"] and council["members_only"] and not council["public"]
    assert council["affiliations"] == {MARIE: ["admin", "Marie Martin"],
                                       PIERRE: ["member", "Pierre Durand"]}
    assert rooms[EVERYONE]["affiliations"] == {LUCIE: ["member", "Lucie Bernard"],
                                               MARIE: ["member", "Marie Martin"],
                                               PIERRE: ["member", "Pierre Durand"]}
    assert prosody_rooms(host, f"salons.{OTHER_COMMUNE}") == {}
    # Stored, so they outlive a restart.
    assert host.file(f"/var/lib/prosody/{ROOMS.replace('.', '%2e').replace('-', '%2d')}"
                     "/config/conseil.dat").exists


def test_members_join_the_council_and_others_are_turned_away(host):
    marie = xmpp(host, "marie.martin", PASSWORDS[MARIE],
                 join=[(COUNCIL, "Marie Martin"), (EVERYONE, "Marie Martin")])
    assert marie["rooms"] == {COUNCIL: {"affiliation": "admin", "role": "moderator"},
                              EVERYONE: {"affiliation": "member", "role": "participant"}}
    pierre = xmpp(host, "pierre.durand", PASSWORDS[PIERRE], join=[(COUNCIL, "Pierre Durand")])
    assert pierre["rooms"] == {COUNCIL: {"affiliation": "member", "role": "participant"}}
    lucie = xmpp(host, "lucie.bernard", PASSWORDS[LUCIE],
                 join=[(COUNCIL, "Lucie Bernard"), (EVERYONE, "Lucie Bernard")])
    assert lucie["rooms"] == {COUNCIL: {"error": ["registration-required"]},
                              EVERYONE: {"affiliation": "member", "role": "participant"}}


def test_a_room_gone_from_the_files_is_closed_and_comes_back(host):
    rooms_file = "/etc/prosody/fnl-rooms.json"
    document = json.loads(host.file(rooms_file).content_string)
    without = dict(document, **{ROOMS: [r for r in document[ROOMS] if r["jid"] != EVERYONE]})
    reload = "prosodyctl shell \"module:reload('fnl_rooms')\""
    run(host, f"cp -p {rooms_file} /root/fnl-rooms.json.saved")
    try:
        run(host, f"printf '%s' {shlex.quote(json.dumps(without))} > {rooms_file} && {reload}")
        rooms = prosody_rooms(host)
        assert rooms[EVERYONE]["affiliations"] == {}, "closed: nobody is a member any more"
        assert rooms[EVERYONE]["members_only"] is True
        assert rooms[COUNCIL]["affiliations"][MARIE] == ["admin", "Marie Martin"]
    finally:
        run(host, f"mv /root/fnl-rooms.json.saved {rooms_file} && {reload}")
    assert len(prosody_rooms(host)[EVERYONE]["affiliations"]) == 3


# --- Web chat -------------------------------------------------------------------------

def test_the_web_chat_page_is_served_on_the_communes_name(host):
    status, headers, body = https(host, "/chat/")
    assert status.split()[1] == "200", status
    assert headers["content-type"].startswith("text/html")
    assert "/chat/dist/converse.min.js" in body and "converse.initialize" in body
    # Nothing loaded from another site: no https: source for images.
    policy = dict(part.strip().split(" ", 1) for part in
                  headers["content-security-policy"].split(";"))
    assert "https:" not in policy["img-src"] and "'self'" in policy["img-src"], policy
    assert "https:" not in policy["default-src"]
    status, headers, body = https(host, "/chat/dist/converse.min.js")
    assert status.split()[1] == "200", status
    assert "javascript" in headers["content-type"] and len(body) > 100_000
    status, _, body = https(host, "/chat/domains.json")
    assert json.loads(body) == {f"mail.{COMMUNE}": COMMUNE, f"mail.{OTHER_COMMUNE}": OTHER_COMMUNE,
                                f"mail.{IDN_DOMAIN}": IDN_COMMUNE}


def test_the_web_chat_page_keeps_the_sites_security_headers(host):
    _, headers, _ = https(host, "/chat/")
    assert headers.get("strict-transport-security") == "max-age=31536000"
    assert headers.get("x-content-type-options") == "nosniff"


def test_the_websocket_reaches_prosody_through_nginx(host):
    status, _, body = https(host, "/xmpp-websocket")
    assert status.split()[1] == "200", status
    assert "Prosody WebSocket endpoint" in body
