"""The move module's parts that need no server: split runs, and merging carried mail."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from tests.unit.test_groupware_module import load

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
fnl_move = load("fnl_move", PLAYBOOKS / "library/fnl_move.py")


def test_a_move_with_only_one_of_its_servers_in_the_run_is_refused(monkeypatch):
    monkeypatch.setattr(
        fnl_move, "outgoing", lambda p: [("voiron", "mail1", {"accounts": [{}, {}]})]
    )
    params = {"server": "mail2", "run_hosts": ["mail2"]}
    found, partial = fnl_move.query(params)
    assert found == [{"tenant": "voiron", "from": "mail2", "to": "mail1", "accounts": 2}]
    assert partial == found  # apply --limit mail2: mail1 would never receive it
    assert fnl_move.query({**params, "run_hosts": ["mail1", "mail2"]})[1] == []
    # Neither server in the run (--limit mail3): nothing of this move happens there.
    assert fnl_move.query({**params, "run_hosts": ["mail3"]})[1] == []


def test_merging_carried_mail_adds_the_missing_messages_and_keeps_dovecots_files(tmp_path):
    source, target = tmp_path / "carried", tmp_path / "here"
    for root, names in ((source, ["1.a:2,S", "2.b:2,", "dovecot-uidlist"]), (target, ["1.a:2,S"])):
        (root / "Maildir" / "cur").mkdir(parents=True)
        for name in names:
            (root / "Maildir" / "cur" / name).write_text(f"{root.name} {name}")
    (target / "Maildir" / "dovecot-uidlist").write_text("the server's own")
    fnl_move.merge_mail(str(source), str(target), pwd.getpwuid(os.getuid()))
    here = target / "Maildir"
    assert sorted(p.name for p in (here / "cur").iterdir()) == ["1.a:2,S", "2.b:2,"]
    assert (here / "cur" / "1.a:2,S").read_text() == "here 1.a:2,S"  # never overwritten
    assert (here / "cur" / "2.b:2,").read_text() == "carried 2.b:2,"
    assert (here / "dovecot-uidlist").read_text() == "the server's own"
    assert not (here / "cur" / "dovecot-uidlist").exists()
