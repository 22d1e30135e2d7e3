"""How `archive list` shows archives of removed mailboxes."""

from __future__ import annotations

from fnl_deploy.i18n import set_language
from fnl_deploy.report import render_archives


def test_archives_are_listed_with_a_state_an_admin_can_act_on():
    set_language("en")
    base = {
        "server": "mail1",
        "tenant": "ambel",
        "created": "20261129T050000Z",
        "messages": 3,
        "bytes": 3 * 2**20,
        "archive": "/var/lib/fnl-deploy/archives/mairie-ambel.fr/x.tar.gz",
        "sha256": "ab" * 32,
        "present": True,
    }
    text = render_archives(
        {
            "archives": [
                {**base, "address": "ok@mairie-ambel.fr", "verified": True},
                {**base, "address": "bad@mairie-ambel.fr", "verified": False},
                {**base, "address": "gone@mairie-ambel.fr", "present": False},
                {**base, "address": "noel@xn--chevis-9ua.fr"},
            ]
        }
    )
    lines = text.splitlines()
    assert "checksum ok" in next(line for line in lines if "ok@" in line)
    assert "CHECKSUM MISMATCH" in next(line for line in lines if "bad@" in line)
    assert "MISSING" in next(line for line in lines if "gone@" in line)
    assert "noel@échevis.fr" in text and "3.0 MiB" in text
    assert render_archives({"archives": []}).startswith("No archive")
