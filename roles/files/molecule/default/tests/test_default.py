"""Role files: one WebDAV application for every commune with shared files, behind nginx at
https://mail.<domain>/fichiers/, logins checked by Dovecot, rights per folder from the
tenant files, a personal folder per person, the commune's quota, and a folder removed from
the files archived with a manifest, never deleted.

The clients are curl inside the container, through nginx and TLS (the commune's
certificate checked). The communes come from vars/tenants.yml, as the converge had them.
"""

import hashlib
import json
import re
import shlex
import uuid
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import testinfra
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
TENANTS = yaml.safe_load((SCENARIO / "vars" / "tenants.yml").read_text(encoding="utf-8"))[
    "files_tenants"
]
LIBRARY = SCENARIO.parents[1] / "library"

COMMUNE = "saint-etienne-de-crossey.fr"
OTHER_COMMUNE = "mairie-ambel.fr"
WEB = f"mail.{COMMUNE}"
CERTIFICATE = f"/etc/fnl-deploy/tls/tenants/{COMMUNE}.crt"
ELODIE = f"elodie.rossi@{COMMUNE}"  # the secretariat: writes both folders
MARIE = f"marie.martin@{COMMUNE}"  # the council: reads its folder and the secretariat's
PIERRE = f"pierre.durand@{COMMUNE}"  # the council: reads its folder only
ANNE = f"anne.vial@{OTHER_COMMUNE}"  # another commune of the same server
PASSWORDS = {
    ELODIE: "Elodie-Rossi-2026!",
    MARIE: "Marie-Martin-2026!",
    PIERRE: "Pierre-Durand-2026!",
    ANNE: "Anne-Vial-2026!",
}
COUNCIL = "Conseil municipal"
SECRETARIAT = "Secrétariat"
ROOT = "/srv/fnl-files"
SPACE = f"{ROOT}/{COMMUNE}"
ARCHIVE = f"/var/lib/fnl-deploy/archives/files/{COMMUNE}"
SETTINGS = "/etc/fnl-deploy/files.json"
USER = "fnl-files"
LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    "<D:owner>LibreOffice</D:owner></D:lockinfo>"
)


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}\nrc={result.rc}\n{result.stdout}{result.stderr}"
    return result.stdout


def entries(host, path):
    """Names in a directory, as they are (testinfra's listdir shows "?" for "é")."""
    out = run(host, f"find {shlex.quote(path)} -mindepth 1 -maxdepth 1 -printf '%f\\n'")
    return sorted(out.splitlines())


def url(*parts):
    return "/fichiers/" + "/".join(quote(p) for p in parts)


def dav(host, user, method, path, *, password=None, upload=None, data=None, headers=(),
        direct_host=None):
    """One WebDAV request of `user` to Saint-Étienne's space through nginx (or straight to
    the application as `direct_host`): status, response headers (lower-cased), body."""
    secret = PASSWORDS[user] if password is None else password
    if direct_host is None:
        target = (f"--resolve {WEB}:443:127.0.0.1 --cacert {CERTIFICATE} "
                  + shlex.quote(f"https://{WEB}{path}"))
    else:
        target = (f"-H {shlex.quote('Host: ' + direct_host)} "
                  + shlex.quote(f"http://127.0.0.1:8091{path}"))
    command = ["curl -sS --max-time 30 -D - -X", method, "-u", shlex.quote(f"{user}:{secret}")]
    for header in headers:
        command += ["-H", shlex.quote(header)]
    if upload is not None:
        command += ["-T", shlex.quote(upload)]
    if data is not None:
        command += ["--data-binary", shlex.quote(data)]
    out = run(host, " ".join([*command, target]))
    # An interim "100 Continue" comes first when curl asked for it.
    while out.startswith("HTTP/") and out.split(None, 2)[1] == "100":
        out = out.split("\r\n\r\n", 1)[1]
    head, _, body = out.partition("\r\n\r\n")
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    response_headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    return status, response_headers, body


def put_text(host, user, path, text):
    local = f"/tmp/fnl-upload-{uuid.uuid4().hex}"
    run(host, f"printf '%s' {shlex.quote(text)} > {local}")
    try:
        return dav(host, user, "PUT", path, upload=local)[0]
    finally:
        run(host, f"rm -f {local}")


def listing(host, user, *parts):
    """Names a PROPFIND (depth 1) shows under a folder."""
    path = url(*parts) + "/" if parts else "/fichiers/"
    status, _, body = dav(host, user, "PROPFIND", path, headers=["Depth: 1"])
    assert status == 207, (status, body)
    hrefs = re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", body)
    return sorted(unquote(h).rstrip("/").rsplit("/", 1)[-1]
                  for h in hrefs if unquote(h).rstrip("/") != unquote(path).rstrip("/"))


@pytest.fixture
def fnl_files(host, request, monkeypatch):
    """The role's module, called as its task does, with the communes given."""
    # The host fixture runs commands through podman; modules need Ansible's own backend.
    monkeypatch.setenv("ANSIBLE_LIBRARY", str(LIBRARY))
    through_ansible = testinfra.get_host(
        f"ansible://{host.backend.get_hostname()}",
        ansible_inventory=request.config.getoption("ansible_inventory"), force_ansible=True)

    def call(tenants):
        return through_ansible.ansible("fnl_files", json.dumps({
            "tenants": tenants, "root": ROOT, "archive": "/var/lib/fnl-deploy/archives/files",
            "settings": SETTINGS, "dovecot_socket": "/run/dovecot/auth-files", "owner": USER,
        }), check=False)

    return call


@pytest.fixture
def name():
    return f"compte-rendu-{uuid.uuid4().hex[:8]}.txt"


# --- The application --------------------------------------------------------------------

def test_the_application_runs_as_its_account_on_loopback_only(host):
    service = host.service("fnl-files")
    assert service.is_running and service.is_enabled
    processes = host.process.filter(comm="python3")
    assert [p.user for p in processes if "fnl_files_app.py" in p.args] == [USER]
    assert host.socket("tcp://127.0.0.1:8091").is_listening
    assert not host.socket("tcp://0.0.0.0:8091").is_listening
    assert not host.socket("tcp://:::8091").is_listening


def test_dovecot_gives_the_application_its_socket(host):
    socket = host.file("/run/dovecot/auth-files")
    assert socket.is_socket
    assert (socket.user, socket.group, socket.mode) == (USER, USER, 0o660)
    run(host, "nginx -t")


def test_the_spaces_folders_and_personal_folders_belong_to_the_application(host):
    for path in (SPACE, f"{SPACE}/{COUNCIL}", f"{SPACE}/{SECRETARIAT}", f"{SPACE}/Personnel",
                 f"{SPACE}/Personnel/elodie.rossi", f"{SPACE}/Personnel/marie.martin",
                 f"{SPACE}/Personnel/pierre.durand", f"{ROOT}/{OTHER_COMMUNE}",
                 f"{ROOT}/{OTHER_COMMUNE}/Personnel/anne.vial"):
        directory = host.file(path)
        assert directory.is_directory, path
        assert (directory.user, directory.group, directory.mode) == (USER, USER, 0o750), path
    assert not host.file(f"{ROOT}/treffort.fr").exists, "Treffort has files off: no space"


def test_the_settings_file_holds_each_communes_rights_and_quota(host):
    settings = host.file(SETTINGS)
    assert (settings.user, settings.group, settings.mode) == ("root", USER, 0o640)
    document = json.loads(settings.content_string)
    assert document["dovecot_socket"] == "/run/dovecot/auth-files"
    assert sorted(document["communes"]) == [f"mail.{OTHER_COMMUNE}", WEB]
    commune = document["communes"][WEB]
    declared = TENANTS[0]["files"]
    assert commune["root"] == SPACE
    assert commune["quota_bytes"] == declared["quota_bytes"] == 1048576
    assert commune["people"] == declared["people"]
    assert commune["folders"] == declared["folders"]
    assert document["communes"][f"mail.{OTHER_COMMUNE}"]["people"] == {ANNE: "anne.vial"}


# --- Rights -----------------------------------------------------------------------------

def test_the_secretariat_writes_the_council_folder_and_the_council_reads_it(host, name):
    text = f"Compte rendu {name}, séance du conseil\n"
    assert put_text(host, ELODIE, url(COUNCIL, name), text) == 201
    stored = host.file(f"{SPACE}/{COUNCIL}/{name}")
    assert stored.content_string == text and stored.user == USER
    for reader in (ELODIE, MARIE, PIERRE):
        status, _, body = dav(host, reader, "GET", url(COUNCIL, name))
        assert (status, body) == (200, text), reader
    assert name in listing(host, PIERRE, COUNCIL)


def test_a_council_member_cannot_write_the_council_folder(host, name):
    assert put_text(host, MARIE, url(COUNCIL, name), "Marie\n") == 403
    assert not host.file(f"{SPACE}/{COUNCIL}/{name}").exists
    # Nor remove or rename the declared folders themselves, even with the write right.
    assert dav(host, ELODIE, "DELETE", url(COUNCIL) + "/")[0] == 403
    assert host.file(f"{SPACE}/{COUNCIL}").is_directory


def test_a_folder_is_closed_and_hidden_to_those_without_a_right(host):
    assert dav(host, PIERRE, "PROPFIND", url(SECRETARIAT) + "/", headers=["Depth: 1"])[0] == 403
    assert dav(host, PIERRE, "GET", url(SECRETARIAT) + "/")[0] == 403
    assert listing(host, PIERRE) == [COUNCIL, "Personnel"]
    assert listing(host, MARIE) == [COUNCIL, "Personnel", SECRETARIAT]


def test_a_personal_folder_is_its_owners_alone(host, name):
    assert put_text(host, MARIE, url("Personnel", "marie.martin", name), "à moi\n") == 201
    assert dav(host, MARIE, "GET", url("Personnel", "marie.martin", name))[2] == "à moi\n"
    assert dav(host, PIERRE, "GET", url("Personnel", "marie.martin", name))[0] == 403
    assert put_text(host, PIERRE, url("Personnel", "marie.martin", name), "x") == 403
    assert listing(host, PIERRE, "Personnel") == ["pierre.durand"]


def test_a_person_of_another_commune_is_refused(host):
    # Anne's address and password are right: her own commune's space answers her…
    status, _, _ = dav(host, ANNE, "PROPFIND", "/fichiers/", headers=["Depth: 1"],
                       direct_host=f"mail.{OTHER_COMMUNE}")
    assert status == 207
    # …and Saint-Étienne's refuses her.
    assert dav(host, ANNE, "PROPFIND", "/fichiers/", headers=["Depth: 1"])[0] == 403
    assert dav(host, ANNE, "GET", url(COUNCIL) + "/")[0] == 403


def test_a_wrong_password_is_refused(host):
    status, headers, _ = dav(host, MARIE, "PROPFIND", "/fichiers/", headers=["Depth: 1"],
                             password=PASSWORDS[MARIE] + "x")
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic")


def test_an_upload_beyond_the_communes_quota_is_refused(host, name):
    big = f"/tmp/fnl-{name}"
    run(host, f"head -c 1500000 /dev/urandom > {big}")
    try:
        assert dav(host, ELODIE, "PUT", url(COUNCIL, name), upload=big)[0] == 507
    finally:
        run(host, f"rm -f {big}")
    assert not host.file(f"{SPACE}/{COUNCIL}/{name}").exists
    # Clients show the commune's quota (RFC 4331), not the disk's free space.
    status, _, body = dav(host, MARIE, "PROPFIND", "/fichiers/", headers=["Depth: 0"])
    assert status == 207
    used, available = (int(re.search(rf"<(?:\w+:)?quota-{kind}-bytes>(\d+)<", body)[1])
                       for kind in ("used", "available"))
    assert 0 < used and used + available == 1048576, (used, available)


# --- Locks (LibreOffice, Windows, macOS) ------------------------------------------------

def test_a_writer_locks_a_file_and_a_reader_may_not(host, name):
    assert put_text(host, ELODIE, url(COUNCIL, name), "ordre du jour\n") == 201
    lock = ["Timeout: Second-60", "Content-Type: application/xml; charset=utf-8"]
    assert dav(host, MARIE, "LOCK", url(COUNCIL, name), data=LOCK_BODY, headers=lock)[0] == 403
    status, headers, body = dav(host, ELODIE, "LOCK", url(COUNCIL, name), data=LOCK_BODY,
                                headers=lock)
    assert status == 200, body
    token = headers["lock-token"]
    assert token.startswith("<opaquelocktoken:") or token.startswith("opaquelocktoken:")
    token = token.strip("<>")
    status, _, _ = dav(host, ELODIE, "UNLOCK", url(COUNCIL, name),
                       headers=[f"Lock-Token: <{token}>"])
    assert status == 204


# --- Archives ---------------------------------------------------------------------------

def test_a_folder_gone_from_the_files_is_archived_with_a_manifest(host, fnl_files, name):
    text = f"Registre {name}\n"
    assert put_text(host, ELODIE, url(SECRETARIAT, name), text) == 201
    before = set(entries(host, ARCHIVE)) if host.file(ARCHIVE).exists else set()
    without = json.loads(json.dumps(TENANTS))
    without[0]["files"]["folders"] = [
        f for f in without[0]["files"]["folders"] if f["name"] != SECRETARIAT]
    try:
        result = fnl_files(without)
        assert result["changed"]
        assert {"action": "-", "kind": "folder", "name": SECRETARIAT,
                "tenant": "saint-etienne-de-crossey"}.items() <= next(
            c for c in result["fnl_changes"] if c["name"] == SECRETARIAT).items()
        assert not host.file(f"{SPACE}/{SECRETARIAT}").exists
        new = sorted(set(entries(host, ARCHIVE)) - before)
        assert len(new) == 2 and new[1] == new[0] + ".sha256", new
        assert new[0].endswith(f"-{SECRETARIAT}")
        assert host.file(f"{ARCHIVE}/{new[0]}/{name}").content_string == text
        manifest = host.file(f"{ARCHIVE}/{new[1]}").content_string
        digest = hashlib.sha256(text.encode()).hexdigest()
        assert f"{digest}  {name}\n" in manifest
        assert run(host, f"cd {shlex.quote(f'{ARCHIVE}/{new[0]}')} && "
                         f"sha256sum --check --quiet {shlex.quote(f'{ARCHIVE}/{new[1]}')}") == ""
        # The application follows its settings: the folder is no one's any more.
        assert dav(host, ELODIE, "GET", url(SECRETARIAT, name))[0] == 403
    finally:
        # Back as the converge left it: the folder again (empty), the full settings.
        restored = fnl_files(TENANTS)
    assert restored["changed"]
    assert host.file(f"{SPACE}/{SECRETARIAT}").user == USER
    assert entries(host, f"{SPACE}/{SECRETARIAT}") == []
    assert not fnl_files(TENANTS)["changed"]


# --- Known gap ----------------------------------------------------------------------------

# Last: if it stores its upload, the space stays over quota until its clean-up (and for
# the application's usage cache, a few seconds more).
def test_a_chunked_upload_beyond_the_quota_is_refused(host, name):
    stored = f"{SPACE}/Personnel/elodie.rossi/{name}"
    big = f"/tmp/fnl-{name}"
    run(host, f"head -c 1500000 /dev/urandom > {big}")
    try:
        status, _, _ = dav(host, ELODIE, "PUT", url("Personnel", "elodie.rossi", name),
                           upload=big, headers=["Transfer-Encoding: chunked"])
        assert status == 507
        assert not host.file(stored).exists
    finally:
        run(host, f"rm -f {big} {shlex.quote(stored)}")
