"""The migration map (CSV) and --from/--ca-file: checked whole before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fnl_deploy.cli import main
from fnl_deploy.deployment import TenantEntry, load_deployment
from fnl_deploy.errors import UsageError
from fnl_deploy.migrate import InvalidMap, MapRow, parse_source, read_ca_file, read_map, render
from tests.conftest import EXAMPLE

HEADER = "old_login,old_password,new_address\n"


@pytest.fixture(scope="module")
def echevis() -> TenantEntry:
    return load_deployment(EXAMPLE).tenant("echevis")


@pytest.fixture(scope="module")
def voiron() -> TenantEntry:
    return load_deployment(EXAMPLE).tenant("voiron")


def write(tmp_path: Path, text: str, name: str = "map.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def problems(path: Path, entry: TenantEntry) -> list[str]:
    with pytest.raises(InvalidMap) as caught:
        read_map(path, entry)
    assert caught.value.exit_code == 2
    return [str(p) for p in caught.value.problems]


def test_rows_resolve_to_full_a_label_addresses(tmp_path: Path, echevis: TenantEntry) -> None:
    path = write(
        tmp_path,
        HEADER + 'gchabert@old.example,s3cr3t "x",gerard.chabert\n'
        "mairie@old.example,p;w,MAIRIE@Échevis.fr\n",
    )
    rows = read_map(path, echevis)
    assert rows == [
        MapRow(2, "gchabert@old.example", 's3cr3t "x"', "gerard.chabert@xn--chevis-9ua.fr"),
        MapRow(3, "mairie@old.example", "p;w", "mairie@xn--chevis-9ua.fr"),
    ]
    # The password is data, never shown: not even in a repr that could reach a log.
    assert "s3cr3t" not in repr(rows)


def test_alias_domains_columns_in_any_order_semicolons_bom_and_crlf(
    tmp_path: Path, voiron: TenantEntry
) -> None:
    text = "new_address;old_login;old_password\r\naccueil@ville-voiron.fr;acc;pw 1\r\n\r\n"
    rows = read_map(write(tmp_path, "\ufeff" + text), voiron)
    assert rows == [MapRow(2, "acc", "pw 1", "accueil@voiron.fr")]


def test_every_problem_is_located_by_file_line_and_column(
    tmp_path: Path, echevis: TenantEntry
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "a@old,pw,gerard.chabert\n"
        + "b@old,pw,nobody\n"  # not a mailbox
        + "c@old,,mairie\n"  # empty password
        + "a@old,pw,mairie\n"  # same old login as line 2, same mailbox as line 4
        + "d@old,pw,maire\n"  # an alias is not a mailbox
        + "e@old,pw,mairie@voiron.fr\n"  # another tenant's domain
        + "f old,pw,gerard.chabert@échevis.fr\n"  # space in login; mailbox taken on line 2
        + "g@old,pw\n",  # a cell missing
    )
    found = problems(path, echevis)
    text = "\n".join(found)
    assert "map.csv:3:10: new_address: 'nobody' is not a mailbox of tenant echevis" in text
    assert "(mailboxes: gerard.chabert, mairie)" in text
    assert "map.csv:4:7: old_password: this cell is empty" in text
    assert "map.csv:5:1: old_login: already on line 2" in text
    assert "map.csv:6:10: new_address: 'maire' is not a mailbox" in text
    assert "map.csv:7:10: new_address: voiron.fr is not a domain of tenant echevis" in text
    assert "map.csv:8:1: old_login: a login cannot contain spaces" in text
    assert "map.csv:8:10: new_address: already on line 2" in text
    assert "map.csv:9:1: 2 cell(s) where the header has 3" in text
    assert "map.csv:5:10: new_address: already on line 4" in text
    assert len(found) == 9, found


def test_a_bad_password_is_described_never_echoed(tmp_path: Path, echevis: TenantEntry) -> None:
    path = write(tmp_path, HEADER + 'a@old,"tab\there",mairie\n')
    (problem,) = problems(path, echevis)
    assert "tab" not in problem and "here" not in problem
    assert "old_password: the password contains a line break or a control character" in problem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the map is empty"),
        ("\n\n", "the map is empty"),
        (HEADER, "a header but no mailbox"),
        ("login,password,address\nx,y,mairie\n", "unknown column"),
        ("old_login,old_password\nx,y\n", "the header line lacks new_address"),
        (HEADER + 'a@old,"unclosed,mairie\n', "not valid CSV"),
    ],
)
def test_malformed_maps(tmp_path: Path, echevis: TenantEntry, text: str, message: str) -> None:
    assert any(message in p for p in problems(write(tmp_path, text), echevis))


def test_not_utf8_and_missing_file(tmp_path: Path, echevis: TenantEntry) -> None:
    latin1 = write(tmp_path, HEADER + "é@old,pw,mairie\n", encoding="latin-1")
    (problem,) = problems(latin1, echevis)
    assert problem.endswith("map.csv: the file is not valid UTF-8; save it as UTF-8")
    assert any("cannot read the file" in p for p in problems(tmp_path / "nope.csv", echevis))


@pytest.mark.parametrize(
    ("url", "host", "port", "ssl"),
    [
        ("imaps://imap.example.fr", "imap.example.fr", 993, "imaps"),
        ("IMAPS://IMAP.Example.fr:10993/", "imap.example.fr", 10993, "imaps"),
        ("imap://imap.example.fr", "imap.example.fr", 143, "starttls"),
        ("imap://mail.mairie-échevis.fr:1143", "mail.xn--mairie-chevis-hhb.fr", 1143, "starttls"),
        ("imaps://192.0.2.7", "192.0.2.7", 993, "imaps"),
        ("imaps://[2001:db8::7]:993", "2001:db8::7", 993, "imaps"),
    ],
)
def test_source_urls(url: str, host: str, port: int, ssl: str) -> None:
    source = parse_source(url)
    assert (source.host, source.port, source.ssl) == (host, port, ssl)


@pytest.mark.parametrize(
    "url",
    [
        "imap.example.fr",
        "pop3://imap.example.fr",
        "imaps://user@imap.example.fr",
        "imaps://imap.example.fr/INBOX",
        "imaps://imap.example.fr:0",
        "imaps://imap.example.fr:99999",
        "imaps://imap.example.fr:abc",
        "imaps://",
        "imaps://bad_host!.fr",
    ],
)
def test_bad_source_urls(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_source(url)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"--from {url}")


def test_ca_file(tmp_path: Path) -> None:
    assert read_ca_file(None) is None
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert read_ca_file(write(tmp_path, pem, "ca.pem")) == pem
    with pytest.raises(UsageError, match="not a PEM certificate"):
        read_ca_file(write(tmp_path, "hello", "bad.pem"))
    with pytest.raises(UsageError, match="cannot read it"):
        read_ca_file(tmp_path / "missing.pem")


def test_cli_invalid_map_exits_2_before_anything_runs(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "a@old,pw,nobody\n")
    result = CliRunner().invoke(
        main,
        [
            *("migrate", "echevis", "--from", "imaps://imap.example.fr"),
            *("--map", str(path), "-i", str(EXAMPLE), "--json"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert '"command": "migrate"' in result.stdout
    assert "'nobody' is not a mailbox of tenant echevis" in result.stdout
    assert not (EXAMPLE / ".fnl" / "runs").exists() or not any(
        p.name.endswith("-migrate") for p in (EXAMPLE / ".fnl" / "runs").iterdir()
    )


def test_report_shows_duplicates_removed_per_mailbox() -> None:
    data = {
        "mailboxes": [
            {
                "old_login": "g@old.example",
                "new_address": "gerard.chabert@xn--chevis-9ua.fr",
                "source": 10,
                "before": 2,
                "after": 12,
                "duplicates_removed": 3,
                "state": "ok",
                "reason": "",
            }
        ],
        "summary": {"ok": 1, "incomplete": 0, "failed": 0, "copied": 13, "duplicates_removed": 3},
        "duration_seconds": 1.0,
        "run_dir": "/tmp/run",
    }
    text = render(data)
    header, _, row = text.splitlines()[:3]
    assert "duplicates removed" in header
    assert row.split()[2:6] == ["10", "2", "12", "3"]
    assert "13 message(s) copied, 3 duplicate(s) removed" in text
