"""`fnl-deploy migrate` against a real old provider: mail2 plays it with Voiron's people,
Échevis on mail1 receives. Every message arrives once, byte for byte; an interrupted copy
resumes; mail delivered meanwhile to the new mailboxes stays; catch-up runs after mail
arrived on both sides leave no duplicate."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from fnl_deploy import lab
from tests.e2e.conftest import FNL, LAB, Lab, acme_root, fnl, server_exec
from tests.e2e.mailclient import imap, password, send_inbound, token, wait_for

GERARD = "gerard.chabert@xn--chevis-9ua.fr"
MAIRIE = "mairie@xn--chevis-9ua.fr"
JULIEN = "julien.lefebvre@voiron.fr"  # no shared mailbox at Voiron
LEA = "lea.faure@voiron.fr"  # sees Voiron's shared mailboxes: they must not be copied
#: Messages in the big folder: enough for the copy to be cut in the middle. The lab copies
#: ~700 small messages a second and a Ctrl-C at the first progress line stops the copy
#: after 3,000 to 6,500 (the time Ansible takes to start the run that stops it).
BIG = 20_000


def mutf7(text: str) -> str:
    """A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + data.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in text:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quoted(name: str) -> str:
    return '"' + mutf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_message(tag: str, number: int, size: int, attachment: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ancienne Mairie <ancien@voiron.example>"
    msg["To"] = "destinataire@voiron.fr"
    msg["Subject"] = f"Courrier {tag} n°{number}"
    msg["Message-ID"] = f"<{tag}.{number}@old-provider.example>"
    msg["Date"] = f"Mon, {1 + number % 28:02d} Jan 2024 10:{number % 60:02d}:00 +0100"
    msg.set_content(("Ligne de texte accentué é à ç.\n" * (1 + size // 32))[:size])
    if attachment:
        blob = bytes(range(256)) * 200
        msg.add_attachment(blob, maintype="application", subtype="pdf", filename="délibération.pdf")
    return msg.as_bytes()


def append_all(login: str, folder: str, messages: list[bytes]) -> None:
    with imap("mail2", login) as client:
        if folder != "INBOX":
            client.create(quoted(folder))
        for raw in messages:
            status, _ = client.append(quoted(folder), None, None, raw)
            assert status == "OK"


def by_message_id(server: str, login: str, folder: str) -> dict[str, list[bytes]]:
    """Message-ID → raw messages (several if duplicated) of a folder, read over IMAP."""
    found: dict[str, list[bytes]] = {}
    with imap(server, login) as client:
        status, _ = client.select(quoted(folder), readonly=True)
        assert status == "OK", f"{login}: no folder {folder}"
        _, data = client.fetch("1:*", "(BODY.PEEK[])")
        for part in data:
            if isinstance(part, tuple):
                match = re.search(rb"^Message-ID: *(<[^>]+>)", part[1], re.I | re.M)
                key = match.group(1).decode() if match else ""
                found.setdefault(key, []).append(part[1])
    return found


def dest_counts(address: str) -> dict[str, int]:
    """Messages per folder of a mailbox on mail1, through doveadm (shared mailboxes too)."""
    result = server_exec(
        "mail1", "doveadm", "-f", "tab", "mailbox", "status", "-u", address, "messages", "*"
    )
    assert result.returncode == 0, result.stderr
    counts = {}
    for line in result.stdout.splitlines()[1:]:
        name, _, count = line.rpartition("\t")
        counts[name] = int(count)
    return counts


def message_ids(address: str, folder: str) -> list[str]:
    result = server_exec(
        "mail1", "doveadm", "-f", "flow", "fetch", "-u", address, "hdr.message-id",
        "mailbox", folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return re.findall(r"<[^>]+>", result.stdout)


def migrate_args(map_file: Path, ca_file: Path) -> list[str]:
    """The command an admin types (fnl() adds -i)."""
    return [
        "migrate",
        "echevis",
        "--from",
        "imaps://mail2.alpes-numerique.fr",
        "--map",
        str(map_file),
        "--ca-file",
        str(ca_file),
        "--json",
    ]


def put_maildir_folder(login: str, folder: str, messages: list[bytes]) -> None:
    """A big folder written straight into the old account's Maildir on mail2 (IMAP APPEND
    of tens of thousands of messages would take minutes): Dovecot indexes it on first use."""
    home = server_exec("mail2", "doveadm", "user", "-f", "home", login).stdout.strip()
    assert home.startswith("/var/vmail/"), home
    buffer = io.BytesIO()
    base = f"Maildir/.{folder}"
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for sub in ("cur", "new", "tmp"):
            info = tarfile.TarInfo(f"{base}/{sub}")
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
        for number, message in enumerate(messages):
            # CRLF as most providers store mail. (Dovecot 2.3's imapc guid-forced fails on
            # messages a Dovecot source stores with bare LF: see docs/migration.md.)
            raw = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            info = tarfile.TarInfo(f"{base}/cur/1700000000.M{number}P1.old-provider:2,S")
            info.size, info.mode = len(raw), 0o600
            tar.addfile(info, io.BytesIO(raw))
    subprocess.run(
        ["podman", "exec", "-i", lab.CONTAINER_PREFIX + "mail2", "tar", "-x", "-C", home,
         "--owner=vmail", "--group=vmail", "--no-same-owner"],
        input=buffer.getvalue(),
        check=True,
    )  # fmt: skip
    server_exec("mail2", "chown", "-R", "vmail:vmail", f"{home}/{base}")


@pytest.fixture(scope="module")
def old_provider(lab_platform: Lab) -> Iterator[dict[str, object]]:
    """Voiron's old mailboxes on mail2, filled for this run (folder names are new each
    time, so that the test runs again against a reused lab; the big folder is removed
    afterwards on both sides)."""
    tag = token()
    julien = {
        "INBOX": [make_message(tag, n, 200 * n + 50) for n in range(12)]
        + [make_message(tag, 12, 3000, attachment=True)],
        f"Élections municipales {tag}": [make_message(tag, 100 + n, 5000 * n) for n in range(8)],
        f"Archives {tag}/2024 & co": [make_message(tag, 200 + n, 40_000) for n in range(5)],
    }
    for folder, messages in julien.items():
        append_all(JULIEN, folder, messages)
    big = f"Gros dossier {tag}"
    put_maildir_folder(LEA, big, [make_message(tag, 100_000 + n, 300) for n in range(BIG)])
    yield {"tag": tag, JULIEN: julien, "big": big}
    server_exec("mail2", "doveadm", "mailbox", "delete", "-u", LEA, big)
    server_exec("mail1", "doveadm", "mailbox", "delete", "-u", MAIRIE, big)


def test_migration_copies_everything_once_and_resumes(
    old_provider: dict[str, object], tmp_path: Path
) -> None:
    tag = str(old_provider["tag"])
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(acme_root())
    map_file = tmp_path / "map.csv"
    secrets = {JULIEN: password(JULIEN), LEA: password(LEA)}
    # The big mailbox first, so that the interruption falls in the middle of its copy.
    map_file.write_text(
        "old_login,old_password,new_address\n"
        f"{LEA},{secrets[LEA]},mairie@échevis.fr\n"
        f"{JULIEN},{secrets[JULIEN]},gerard.chabert\n",
        encoding="utf-8",
    )
    os.chmod(map_file, 0o600)

    # Mail that reached the new mailbox before the migration must survive it.
    early = f"early {tag}"
    assert send_inbound("mail1", [GERARD], early) == {}
    wait_for("mail1", GERARD, early)

    # 1. Start, then interrupt at the first progress line (Ctrl-C).
    env = {**os.environ, "FNL_DEPLOY_LANG": "en", "NO_COLOR": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [*FNL, *migrate_args(map_file, ca_file), "-i", str(LAB)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert "→" in first, first
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=300)
    stderr = first + rest
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 130, stdout + stderr
    interrupted = json.loads(stdout)
    assert interrupted["errors"][0]["message"].startswith("interrupted")
    states = {m["old_login"]: m["state"] for m in interrupted["data"]["mailboxes"]}
    assert states[JULIEN] != "ok", states  # the second mailbox never started
    big = str(old_provider["big"])
    partial = dest_counts(MAIRIE).get(big, 0)
    print(f"interrupted after {time.monotonic() - started:.1f} s with {partial}/{BIG} copied")
    assert partial < BIG, "the copy ended before the interruption: make BIG larger"

    # More mail reaches the new mailbox between the two runs: it must survive too.
    between = f"between {tag}"
    assert send_inbound("mail1", [GERARD], between) == {}
    wait_for("mail1", GERARD, between)

    # 2. The same command again: it continues and completes.
    run = fnl(*migrate_args(map_file, ca_file))
    assert run.rc == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)["data"]
    assert {m["state"] for m in report["mailboxes"]} == {"ok"}
    rows = {m["old_login"]: m for m in report["mailboxes"]}
    assert rows[LEA]["new_address"] == MAIRIE and rows[JULIEN]["new_address"] == GERARD
    # Voiron's shared mailboxes that lea sees are not her mail: not copied.
    assert "shared" not in " ".join(rows[LEA]["source_folders"])
    assert rows[LEA]["source_folders"][big] == BIG
    print(f"resumed run: {report['duration_seconds']} s, {report['summary']['copied']} copied")

    # Every folder of the old accounts has the same messages, each once.
    counts = dest_counts(MAIRIE)
    assert counts[big] == BIG
    assert sorted(message_ids(MAIRIE, big)) == sorted(
        f"<{tag}.{100_000 + n}@old-provider.example>" for n in range(BIG)
    )
    assert not [f for f in counts if f.startswith("shared")], counts
    julien = old_provider[JULIEN]
    assert isinstance(julien, dict)
    for folder, messages in julien.items():
        old = by_message_id("mail2", JULIEN, folder)
        new = by_message_id("mail1", GERARD, folder)
        for raw in messages:
            match = re.search(rb"^Message-ID: (<[^>]+>)", raw, re.M)
            assert match is not None
            key = match.group(1).decode()
            assert len(new.get(key, [])) == 1, (folder, key, len(new.get(key, [])))
            # Byte for byte as the old server holds it.
            assert new[key][0] == old[key][0], (folder, key)
        if folder != "INBOX":
            assert dest_counts(GERARD)[folder] == len(messages) == sum(map(len, old.values()))
    # Mail delivered to the new mailbox before and during the migration is still there.
    for subject in (early, between):
        wait_for("mail1", GERARD, subject, timeout=5)

    # 3. Once more: nothing new to copy, no duplicate.
    before = {a: dest_counts(a) for a in (GERARD, MAIRIE)}
    again = fnl(*migrate_args(map_file, ca_file))
    assert again.rc == 0, again.stdout + again.stderr
    caught_up = json.loads(again.stdout)["data"]
    summary = caught_up["summary"]
    assert summary["copied"] - summary["duplicates_removed"] == 0, summary
    print(f"catch-up run with nothing new: {caught_up['duration_seconds']} s, {summary}")
    assert {a: dest_counts(a) for a in (GERARD, MAIRIE)} == before

    # 4. The case that used to leave duplicates: before the same run, folders of the new
    # mailbox got their own mail (INBOX above; one appended to a copied folder here) and
    # the same folders of the old account got new messages. Then two catch-up runs.
    elections = f"Élections municipales {tag}"
    local = make_message(tag, 500, 700).replace(b"old-provider.example", b"mairie.example")
    with imap("mail1", GERARD) as client:
        assert client.append(quoted(elections), None, None, local)[0] == "OK"
    late = {
        "INBOX": [make_message(tag, 300 + n, 400 + n) for n in range(3)],
        elections: [make_message(tag, 400 + n, 600 + n) for n in range(2)],
    }
    with imap("mail2", JULIEN) as client:
        for folder, messages in late.items():
            for raw in messages:
                assert client.append(quoted(folder), None, None, raw)[0] == "OK"
            julien[folder] = [*julien[folder], *messages]
    catch_ups = []
    for attempt in (1, 2):
        done = fnl(*migrate_args(map_file, ca_file))
        assert done.rc == 0, done.stdout + done.stderr
        catch_ups.append(done)
        data = json.loads(done.stdout)["data"]
        print(f"catch-up run {attempt} after mail on both sides: {data['duration_seconds']} s, "
              f"{data['summary']}")  # fmt: skip
        (row,) = [m for m in data["mailboxes"] if m["old_login"] == JULIEN]
        assert row["before"] + row["copied"] - row["duplicates_removed"] == row["after"], row
        if attempt == 1:
            assert row["after"] - row["before"] == 5, row  # the 5 new messages, once
        else:
            assert row["after"] == row["before"], row  # nothing new: nothing more
        for folder, messages in julien.items():
            new = by_message_id("mail1", GERARD, folder)
            for raw in messages:
                match = re.search(rb"^Message-ID: (<[^>]+>)", raw, re.M)
                assert match is not None
                key = match.group(1).decode()
                assert len(new.get(key, [])) == 1, (attempt, folder, key, len(new.get(key, [])))
        counts = dest_counts(GERARD)
        assert counts[elections] == len(julien[elections]) + 1, counts[elections]
        # The local message is still there, once (APPEND sent it with CRLF line ends).
        (kept,) = by_message_id("mail1", GERARD, elections)[f"<{tag}.500@mairie.example>"]
        assert kept == local.replace(b"\n", b"\r\n")
    for subject in (early, between):
        wait_for("mail1", GERARD, subject, timeout=5)

    # The old passwords never reach a log, the run directories or the server's disk.
    runs = sorted((LAB / ".fnl" / "runs").glob("*-migrate"))[-5:]
    outputs = [stdout, stderr, run.stdout, run.stderr, again.stdout, again.stderr]
    outputs += [text for done in catch_ups for text in (done.stdout, done.stderr)]
    for secret in secrets.values():
        for text in outputs:
            assert secret not in text
        for directory in runs:
            for path in directory.rglob("*"):
                if path.is_file():
                    assert secret.encode() not in path.read_bytes(), path
        on_server = server_exec("mail1", "grep", "-rlF", secret, "/run/fnl-deploy", "/var/log")
        assert on_server.stdout == "", on_server.stdout


def test_wrong_password_is_reported_per_mailbox(lab_platform: Lab, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(acme_root())
    map_file = tmp_path / "map.csv"
    map_file.write_text(f"old_login,old_password,new_address\n{JULIEN},not-it,gerard.chabert\n")
    run = fnl(*migrate_args(map_file, ca_file))
    assert run.rc == 1, run.stdout + run.stderr
    (mailbox,) = json.loads(run.stdout)["data"]["mailboxes"]
    assert mailbox["state"] == "failed"
    assert "refused the login" in mailbox["reason"]
    assert "not-it" not in run.stdout + run.stderr
