"""Shared files in the lab (role files): a commune's WebDAV space at
https://mail.<domain>/fichiers/, with the same addresses and passwords as mail, rights per
folder from the tenant file, a personal folder per person, the commune's quota; a folder
removed from the file is archived with its files, never deleted."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

import niquests
import pytest

from tests.e2e.conftest import fnl, server_exec
from tests.e2e.mailclient import password, port, token
from tests.e2e.webclient import ca_file

pytestmark = pytest.mark.lab

SEC = "saint-etienne-de-crossey.fr"
MARIE = f"marie.martin@{SEC}"  # the council: reads its folder, reads the secretariat's
PIERRE = f"pierre.durand@{SEC}"  # the council: reads its folder only
ELODIE = f"elodie.rossi@{SEC}"  # the secretariat: writes both
ANNE = "anne.vial@mairie-ambel.fr"  # another commune, same server
COUNCIL = "/fichiers/" + quote("Conseil municipal") + "/"
SECRETARIAT = "/fichiers/" + quote("Secrétariat") + "/"


def files(login: str, secret: str | None = None) -> niquests.Session:
    """A WebDAV client of Saint-Étienne-de-Crossey's space, TLS verified in full."""
    session = niquests.Session(
        resolver=f"in-memory://default/?hosts=mail.{SEC}:127.0.0.1",
        base_url=f"https://mail.{SEC}:{port('mail1', 443)}",
        verify=ca_file("mail1"),
        timeout=60,
    )
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the lab's CA
    session.auth = (login, secret if secret is not None else password(login))
    return session


def listing(session: niquests.Session, path: str) -> list[str]:
    """Names a PROPFIND (depth 1) shows under path."""
    answer = session.request("PROPFIND", path, headers={"Depth": "1"})
    assert answer.status_code == 207, answer.status_code
    hrefs = re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", answer.text)
    return sorted(
        unquote(h).rstrip("/").rsplit("/", 1)[-1]
        for h in hrefs
        if h.rstrip("/") != path.rstrip("/")
    )


def test_upload_list_download_with_rights_per_folder(lab_platform):
    content = os.urandom(200_000)
    name = f"compte-rendu-{token()}.odt"
    elodie, marie, pierre = files(ELODIE), files(MARIE), files(PIERRE)

    # The secretariat writes the council's folder; the council reads it.
    assert elodie.put(COUNCIL + name, data=content).status_code == 201
    assert name in listing(marie, COUNCIL)
    download = marie.get(COUNCIL + name)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(content).digest()

    # Reading is not writing; a folder one may not read stays closed, and unlisted.
    assert marie.put(COUNCIL + f"x-{token()}.txt", data=b"x").status_code == 403
    assert marie.delete(COUNCIL + name).status_code == 403
    assert pierre.get(SECRETARIAT).status_code == 403
    assert "Secrétariat" not in listing(pierre, "/fichiers/")
    assert {"Conseil municipal", "Secrétariat", "Personnel"} <= set(listing(marie, "/fichiers/"))

    # Each person's own folder: theirs alone.
    own = f"/fichiers/Personnel/pierre.durand/notes-{token()}.txt"
    assert pierre.put(own, data=b"mes notes").status_code == 201
    assert marie.get(own).status_code == 403
    assert listing(marie, "/fichiers/Personnel/") == ["marie.martin"]

    # A wrong password, and another commune's person with a right one.
    assert files(MARIE, "not-her-password").get("/fichiers/").status_code == 401
    assert files(ANNE).request("PROPFIND", "/fichiers/", headers={"Depth": "1"}).status_code == 403

    # A browser gets a plain listing.
    page = marie.get("/fichiers/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Conseil municipal" in page.text


def test_quota_and_a_removed_folder_archived_with_its_files(lab_copy: Path):
    kept = os.urandom(50_000)
    name = f"budget-{token()}.ods"
    elodie = files(ELODIE)
    assert elodie.put(SECRETARIAT + name, data=kept).status_code == 201

    tenant = lab_copy / "tenants" / "saint-etienne-de-crossey.yml"
    text = tenant.read_text(encoding="utf-8")
    secretariat = "  - name: Secrétariat\n    read: [mmartin]\n    write: [secretariat]\n"
    assert secretariat in text
    tenant.write_text(
        text.replace(secretariat, "").replace("quotas:\n", "quotas:\n  files: 2 MiB\n", 1)
        if "quotas:\n" in text
        else text.replace(secretariat, "") + "quotas:\n  files: 2 MiB\n",
        encoding="utf-8",
    )
    plan = fnl("plan", inventory=lab_copy)
    assert plan.rc == 2, plan.stdout + plan.stderr
    assert "- folder Secrétariat" in plan.stdout and "archived" in plan.stdout
    assert "quota" in plan.stdout
    applied = fnl("apply", inventory=lab_copy)
    assert applied.rc == 0, applied.stdout + applied.stderr

    # Archived on the server with its file and a manifest, nothing deleted.
    found = server_exec(
        "mail1", "sh", "-c", f"ls -d /var/lib/fnl-deploy/archives/files/{SEC}/*-Secrétariat"
    )
    assert found.returncode == 0, found.stderr
    archived = found.stdout.split()[-1]
    manifest = server_exec("mail1", "cat", archived + ".sha256").stdout
    assert f"{hashlib.sha256(kept).hexdigest()}  {name}" in manifest
    assert server_exec("mail1", "sha256sum", f"{archived}/{name}").stdout.startswith(
        hashlib.sha256(kept).hexdigest()
    )
    assert elodie.get(SECRETARIAT).status_code == 403

    # The commune's quota: an upload that would pass it is refused (507), a small one not.
    assert (
        elodie.put(COUNCIL + f"gros-{token()}.bin", data=os.urandom(3 * 2**20)).status_code == 507
    )
    assert elodie.put(COUNCIL + f"petit-{token()}.txt", data=b"ok").status_code == 201

    # Back as the files were: the folder comes back empty; its archive stays.
    tenant.write_text(text, encoding="utf-8")
    assert fnl("apply", inventory=lab_copy).rc == 0
    assert listing(elodie, SECRETARIAT) == []
    assert server_exec("mail1", "test", "-f", f"{archived}/{name}").returncode == 0
