"""The shared files' sync module without a server: what it plans, what it archives (with a
manifest, nothing deleted), and the rules of the tenant file's folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import load_deployment
from fnl_deploy.errors import InvalidDeployment
from tests.unit.test_chat import edit
from tests.unit.test_groupware_module import load

ROLES = Path(__file__).parents[2] / "roles"
fnl_files = load("fnl_files", ROLES / "files/library/fnl_files.py")


def tenant(folders: list[dict], people: dict | None = None, quota: int = 1000) -> dict:
    return {
        "id": "t",
        "domain": "a.fr",
        "files": {
            "enabled": True,
            "quota_bytes": quota,
            "people": people or {"m@a.fr": "m"},
            "folders": folders,
        },
    }


COUNCIL = {"name": "Conseil municipal", "read": ["m@a.fr"], "write": []}


def test_a_new_space_is_one_change_then_folders_and_people_are_their_own(tmp_path):
    spaces = fnl_files.wanted_spaces([tenant([COUNCIL])], str(tmp_path))
    changes, archived, created, _ = fnl_files.plan(spaces, str(tmp_path), {})
    assert [(c["action"], c["kind"]) for c in changes] == [("+", "files space")]
    assert archived == []
    assert str(tmp_path / "a.fr" / "Personnel" / "m") in created

    for directory in created:
        Path(directory).mkdir(parents=True, exist_ok=True)
    spaces = fnl_files.wanted_spaces(
        [
            tenant(
                [COUNCIL, {"name": "Urbanisme", "read": [], "write": ["m@a.fr"]}],
                {"m@a.fr": "m", "p@a.fr": "p"},
            )
        ],
        str(tmp_path),
    )
    previous = {"a.fr": {"domain": "a.fr", "quota_bytes": 1000, "folders": [COUNCIL]}}
    changes, _, _, _ = fnl_files.plan(spaces, str(tmp_path), previous)
    assert {(c["action"], c["kind"], c["name"]) for c in changes} == {
        ("+", "folder", "Urbanisme"),
        ("+", "personal folder", "p"),
    }


def test_removed_folders_and_people_are_archived_with_a_manifest(tmp_path):
    root = tmp_path / "spaces"
    (root / "a.fr" / "Secrétariat").mkdir(parents=True)
    (root / "a.fr" / "Personnel" / "gone").mkdir(parents=True)
    (root / "a.fr" / "Secrétariat" / "budget.ods").write_bytes(b"budget")
    spaces = fnl_files.wanted_spaces([tenant([])], str(root))
    changes, archived, _, _ = fnl_files.plan(spaces, str(root), {})
    assert {(c["action"], c["name"]) for c in changes} >= {("-", "Secrétariat"), ("-", "gone")}
    target = fnl_files.archive(
        str(root / "a.fr" / "Secrétariat"), "Secrétariat", str(tmp_path / "archive"), "a.fr"
    )
    assert not (root / "a.fr" / "Secrétariat").exists()
    assert (Path(target) / "budget.ods").read_bytes() == b"budget"
    manifest = Path(target + ".sha256").read_text()
    assert manifest == f"{hashlib.sha256(b'budget').hexdigest()}  budget.ods\n"
    assert len(archived) == 2


def test_a_commune_whose_files_are_off_keeps_them_in_the_archive(tmp_path):
    (tmp_path / "b.fr" / "Personnel").mkdir(parents=True)
    changes, archived, _, _ = fnl_files.plan({}, str(tmp_path), {})
    assert [(c["action"], c["kind"], c["name"]) for c in changes] == [
        (
            "-",
            "files space",
            "b.fr",
        )
    ]
    assert archived == [(str(tmp_path / "b.fr"), "space", None)]


def test_a_renamed_persons_folder_follows_them(tmp_path):
    (tmp_path / "a.fr" / "Personnel" / "marie.martin").mkdir(parents=True)
    renamed = tenant([], {"m@a.fr": "marie.dupont"})
    renamed["files"]["renamed"] = {"marie.dupont": ["marie.martin"]}
    spaces = fnl_files.wanted_spaces([renamed], str(tmp_path))
    changes, archived, _, moved = fnl_files.plan(spaces, str(tmp_path), {})
    assert archived == []
    assert moved == [
        (
            str(tmp_path / "a.fr" / "Personnel" / "marie.martin"),
            str(tmp_path / "a.fr" / "Personnel" / "marie.dupont"),
        )
    ]
    assert [c["detail"] for c in changes] == ["renamed from marie.martin, with its files"]


def test_rights_and_quota_changes_are_shown(tmp_path):
    (tmp_path / "a.fr" / "Conseil municipal").mkdir(parents=True)
    (tmp_path / "a.fr" / "Personnel" / "m").mkdir(parents=True)
    widened = {"name": "Conseil municipal", "read": ["m@a.fr"], "write": ["p@a.fr"]}
    spaces = fnl_files.wanted_spaces([tenant([widened], quota=2000)], str(tmp_path))
    previous = {"a.fr": {"domain": "a.fr", "quota_bytes": 1000, "folders": [COUNCIL]}}
    changes = {
        (c["kind"], c["name"]): c["detail"]
        for c in fnl_files.plan(spaces, str(tmp_path), previous)[0]
    }
    assert changes[("folder", "Conseil municipal")] == "+p@a.fr, +write p@a.fr"
    assert changes[("files space", "a.fr")] == "quota 1000 -> 2000 bytes"


def test_folders_compile_with_addresses_and_the_quota(example: Path) -> None:
    desired = compile_deployment(load_deployment(example))
    sec = next(t for t in desired["mail1"]["tenants"] if t["id"] == "saint-etienne-de-crossey")
    council = sec["files"]["folders"][0]
    assert council["name"] == "Conseil municipal"
    assert council["write"] == ["elodie.rossi@saint-etienne-de-crossey.fr"]
    assert sec["files"]["people"]["marie.martin@saint-etienne-de-crossey.fr"] == "marie.martin"
    assert sec["files"]["quota_bytes"] == 10 * 2**30


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("read: [mmartin, pdurand]", "read: [mmartin, nobody]", "folders[0].read[1]"),
        ("  - name: Secrétariat\n", "  - name: conseil municipal\n", "declared twice"),
        ("  - name: Secrétariat\n", "  - name: Personnel\n", "personal folders"),
        ("  files: true\n", "", "services: {files: true}"),
    ],
)
def test_folder_mistakes_name_the_file_line_and_field(example, old, new, expected) -> None:
    edit(example, "saint-etienne-de-crossey", old, new)
    with pytest.raises(InvalidDeployment) as caught:
        load_deployment(example)
    found = [str(p) for p in caught.value.problems]
    assert any("saint-etienne-de-crossey.yml:" in p and expected in p for p in found), found
