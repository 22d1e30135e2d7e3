"""The shared files' WebDAV application (role files) run here, in-process: real HTTP
through cheroot, real WsgiDAV, logins checked through a stand-in for Dovecot's
authentication socket (the same protocol). What the lab proves on real servers, the
rules are proven here quickly: rights per folder, personal folders, other communes, quota."""

from __future__ import annotations

import base64
import json
import socket
import threading
from pathlib import Path

import niquests
import pytest
from cheroot import wsgi

from tests.unit.test_groupware_module import load

ROLES = Path(__file__).parents[2] / "roles"
app_module = load("fnl_files_app", ROLES / "files/files/fnl_files_app.py")

PASSWORDS = {
    "marie@a.fr": "m-secret",
    "pierre@a.fr": "p-secret",
    "elodie@a.fr": "e-secret",
    "anne@b.fr": "a-secret",
}


def fake_dovecot(path: str) -> None:
    """Dovecot's auth-client protocol, enough for PLAIN logins."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            stream.write(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\nDONE\n")
            stream.flush()
            for line in stream:
                fields = line.decode().rstrip("\n").split("\t")
                if fields[0] != "AUTH":
                    continue
                resp = next(f for f in fields if f.startswith("resp="))[5:]
                _, user, password = base64.b64decode(resp).decode().split("\0")
                ok = PASSWORDS.get(user) == password
                stream.write(f"{'OK' if ok else 'FAIL'}\t{fields[1]}\tuser={user}\n".encode())
                stream.flush()

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    base = tmp_path_factory.mktemp("files")
    root = base / "a.fr"
    for folder in ("Conseil municipal", "Secrétariat", "Personnel/marie", "Personnel/pierre"):
        (root / folder).mkdir(parents=True)
    (root / "Conseil municipal" / "ordre-du-jour.txt").write_text("Séance du 3 décembre\n")
    settings = {
        "dovecot_socket": str(base / "auth"),
        "communes": {
            "mail.a.fr": {
                "domain": "a.fr",
                "root": str(root),
                "quota_bytes": 200_000,
                "people": {"marie@a.fr": "marie", "pierre@a.fr": "pierre", "elodie@a.fr": "elodie"},
                "folders": [
                    {
                        "name": "Conseil municipal",
                        "read": ["marie@a.fr", "pierre@a.fr"],
                        "write": ["elodie@a.fr"],
                    },
                    {"name": "Secrétariat", "read": [], "write": ["elodie@a.fr"]},
                ],
            }
        },
    }
    (base / "files.json").write_text(json.dumps(settings))
    fake_dovecot(str(base / "auth"))
    server = wsgi.Server(("127.0.0.1", 0), app_module.FilesApp(str(base / "files.json")))
    server.prepare()
    threading.Thread(target=server.serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.bind_addr[1]}", root
    server.stop()


def client(who: str | None, url: str) -> niquests.Session:
    session = niquests.Session(base_url=url)
    session.trust_env = False
    session.headers["Host"] = "mail.a.fr"
    if who:
        session.auth = (who, PASSWORDS[who])
    return session


def names(answer: niquests.Response) -> list[str]:
    return (
        sorted(part.split("</")[0] for part in answer.text.split("<d:displayname>")[1:])
        if "<d:displayname>" in answer.text
        else sorted(
            part.split("<")[0].rstrip("/").rsplit("/", 1)[-1]
            for part in answer.text.split("href>")[1::2]
        )
    )


def test_a_wrong_password_is_refused(space):
    url, _ = space
    session = client(None, url)
    session.auth = ("marie@a.fr", "wrong")
    assert session.request("PROPFIND", "/fichiers/", headers={"Depth": "1"}).status_code == 401


def test_people_list_only_the_folders_they_may_read(space):
    url, _ = space
    answer = client("marie@a.fr", url).request("PROPFIND", "/fichiers/", headers={"Depth": "1"})
    assert answer.status_code == 207
    assert "Conseil%20municipal" in answer.text and "Secr%C3%A9tariat" not in answer.text
    # The quota clients show is the commune's (RFC 4331), not the server's disk.
    available = int(answer.text.split("quota-available-bytes>")[1].split("<")[0])
    assert 0 < available <= 200_000
    personal = client("marie@a.fr", url).request(
        "PROPFIND", "/fichiers/Personnel/", headers={"Depth": "1"}
    )
    assert "Personnel/marie" in personal.text and "Personnel/pierre" not in personal.text


def test_read_rights_read_and_write_rights_write(space):
    url, root = space
    marie, elodie = client("marie@a.fr", url), client("elodie@a.fr", url)
    assert (
        marie.get("/fichiers/Conseil%20municipal/ordre-du-jour.txt").text
        == "Séance du 3 décembre\n"
    )
    assert marie.put("/fichiers/Conseil%20municipal/x.txt", data=b"x").status_code == 403
    assert elodie.put("/fichiers/Conseil%20municipal/pv.odt", data=b"PV").status_code == 201
    assert (root / "Conseil municipal" / "pv.odt").read_bytes() == b"PV"
    assert marie.get("/fichiers/Secr%C3%A9tariat/").status_code == 403
    # The declared folders belong to the tenant file: nobody deletes or renames them.
    assert elodie.delete("/fichiers/Conseil%20municipal/").status_code == 403
    assert elodie.request("MKCOL", "/fichiers/Nouveau/").status_code == 403
    # A copy into a folder one may only read is refused.
    move = marie.request(
        "COPY",
        "/fichiers/Conseil%20municipal/ordre-du-jour.txt",
        headers={"Destination": "http://mail.a.fr/fichiers/Personnel/marie/odj.txt"},
    )
    assert move.status_code == 201
    move = marie.request(
        "COPY",
        "/fichiers/Personnel/marie/odj.txt",
        headers={"Destination": "http://mail.a.fr/fichiers/Conseil%20municipal/copie.txt"},
    )
    assert move.status_code == 403


def test_a_personal_folder_is_its_owners_only(space):
    url, _ = space
    assert (
        client("pierre@a.fr", url)
        .put("/fichiers/Personnel/pierre/notes.txt", data=b"n")
        .status_code
        == 201
    )
    assert client("marie@a.fr", url).get("/fichiers/Personnel/pierre/notes.txt").status_code == 403
    assert (
        client("marie@a.fr", url).put("/fichiers/Personnel/pierre/x", data=b"x").status_code == 403
    )


def test_another_communes_person_gets_403(space):
    url, _ = space
    anne = client("anne@b.fr", url)
    assert anne.request("PROPFIND", "/fichiers/", headers={"Depth": "1"}).status_code == 403
    assert anne.get("/fichiers/Conseil%20municipal/ordre-du-jour.txt").status_code == 403


def test_the_communes_quota_refuses_an_oversized_upload(space):
    url, root = space
    elodie = client("elodie@a.fr", url)
    answer = elodie.put("/fichiers/Secr%C3%A9tariat/trop-gros.bin", data=b"\0" * 300_000)
    assert answer.status_code == 507
    assert not (root / "Secrétariat" / "trop-gros.bin").exists()
    # Without a size announced (chunked, as macOS Finder sends), counted as it comes.
    chunked = elodie.put("/fichiers/Secr%C3%A9tariat/flux.bin", data=iter([b"\0" * 100_000] * 3))
    assert chunked.status_code == 507
    assert not (root / "Secrétariat" / "flux.bin").exists()
    # (The refused body is left unread: the client reconnects, as behind nginx.)
    elodie = client("elodie@a.fr", url)
    assert elodie.put("/fichiers/Secr%C3%A9tariat/petit.bin", data=b"\0" * 1000).status_code == 201
