"""`fnl-deploy welcome`: the PDF renders, holds the right settings, and stays out of git."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fnl_deploy import secrets

# pdftoppm, pdftotext (poppler-utils), zbarimg (zbar-tools) and DejaVu (fonts-dejavu-core)
# come from scripts/setup.sh: a missing one fails the test, it is never skipped.

# Hosted zone (the base operator's default), an IDN, accents, œ and an apostrophe.
ECHEVIS = """\
schema: 1
commune:
  name: Échevis
domain: échevis.fr
people:
  - id: maire
    name: Gérard Chabert
    role: maire
    mailbox: gerard.chabert
    aliases: [maire]
  - id: secretaire
    name: Bénédicte Lœuillet
    role: secrétaire de mairie
    mailbox: benedicte.loeuillet
  - id: adjoint
    name: François L'Hôte
    role: premier adjoint
    mailbox: francois.lhote
shared_mailboxes:
  - address: mairie
    name: Mairie d'Échevis
    members: {maire: full, secretaire: write}
"""
ECHEVIS_LOGINS = {
    "maire": "gerard.chabert@xn--chevis-9ua.fr",
    "secretaire": "benedicte.loeuillet@xn--chevis-9ua.fr",
    "adjoint": "francois.lhote@xn--chevis-9ua.fr",
}
WEBMAIL = "https://webmail.operateur-test.fr/"


def fnl_deploy(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    """The installed command, in a process of its own, as an operator runs it."""
    script = Path(sys.executable).with_name("fnl-deploy")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "fnl_deploy.cli"]
    env = {**os.environ, "FNL_DEPLOY_LANG": lang}
    done = subprocess.run([*argv, *args], capture_output=True, text=True, env=env, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def root(base: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The base platform, Échevis added, Ambel's zone external; passwords as an apply left them."""
    monkeypatch.delenv(secrets.VAULT_PASSWORD_ENV, raising=False)
    (base / "tenants" / "echevis.yml").write_text(ECHEVIS, encoding="utf-8")
    with (base / "tenants" / "base.yml").open("a", encoding="utf-8") as ambel:
        ambel.write("dns:\n  mode: external\n")
    secrets.create_local_vault_password(base)
    store = secrets.PasswordStore.open(base)
    store.ensure([*ECHEVIS_LOGINS.values(), "anne.vial@mairie-ambel.fr"])
    store.save()
    return base


def passwords(root: Path) -> dict[str, str]:
    return {a: e["password"] for a, e in secrets.PasswordStore.open(root).entries.items()}


def pages_text(pdf: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]  # pdftotext ends every page with a form feed


def render(pdf: Path, out: Path, dpi: int) -> list[Path]:
    out.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(out / "page")],
        capture_output=True,
        check=True,
    )
    return sorted(out.glob("page-*.png"))


def qr_codes(png: Path) -> list[str]:
    done = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True)
    assert done.returncode in (0, 4), done.stderr  # 4: no code found
    return done.stdout.split()


def test_one_page_per_person_with_the_right_settings(root: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "out" / "echevis.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(b"an older, world-readable file")
    pdf.chmod(0o644)
    done = fnl_deploy("welcome", "echevis", "-i", str(root), "--output", str(pdf))
    assert done.returncode == 0, done.stderr
    assert str(pdf) in done.stdout and "delete the file" in done.stdout
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    assert [p.name for p in pdf.parent.iterdir()] == ["echevis.pdf"]  # no temporary left

    pngs = render(pdf, tmp_path / "png", 50)
    assert len(pngs) == 3
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 1000 for p in pngs)

    known = passwords(root)
    pages = pages_text(pdf)
    assert len(pages) == 3
    for page, (name, display, login) in zip(
        pages,
        [
            ("Gérard Chabert", "gerard.chabert@échevis.fr", ECHEVIS_LOGINS["maire"]),
            ("Bénédicte Lœuillet", "benedicte.loeuillet@échevis.fr", ECHEVIS_LOGINS["secretaire"]),
            ("François L’Hôte", "francois.lhote@échevis.fr", ECHEVIS_LOGINS["adjoint"]),
        ],
        strict=True,
    ):
        assert "Échevis" in page and name in page
        assert display in page and login in page
        assert known[login] in page
        others = [p for a, p in known.items() if a != login]
        assert not any(other in page for other in others), "another person's password"
        assert "Changez ce mot de passe à la première connexion" in page
        assert WEBMAIL in page
        assert "mail.xn--chevis-9ua.fr" in page
        assert "port 993, SSL/TLS" in page
        assert "port 465, SSL/TLS" in page and "port 587, STARTTLS" in page
        assert f"{WEBMAIL}SOGo/dav/" in page
        assert "Syndicat de test — support@operateur-test.fr" in page
    maire, secretaire, adjoint = pages
    assert "Maire" in maire and "maire@échevis.fr" in maire
    assert "mairie@échevis.fr (Mairie d’Échevis)" in maire
    assert "accès complet, y compris l'envoi au nom de la boîte" in maire
    assert "Secrétaire de mairie" in secretaire
    assert "lecture, classement et suppression" in secretaire
    assert "Boîtes partagées" not in adjoint

    for png, local in zip(
        render(pdf, tmp_path / "qr", 150),
        ["gerard.chabert", "benedicte.loeuillet", "francois.lhote"],
        strict=True,
    ):
        assert qr_codes(png) == [
            f"https://autoconfig.xn--chevis-9ua.fr/apple.mobileconfig?user={local}"
        ]


def test_person_restricts_and_json_carries_no_password(root: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "maire.pdf"
    done = fnl_deploy(
        "welcome", "échevis.fr", "--person", "maire", "-o", str(pdf), "--json", "-i", str(root)
    )
    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["status"] == "ok"
    assert envelope["data"] == {
        "tenant": "echevis",
        "output": str(pdf),
        "pages": 1,
        "people": [ECHEVIS_LOGINS["maire"]],
    }
    assert not any(p in done.stdout + done.stderr for p in passwords(root).values())
    assert len(render(pdf, tmp_path / "png", 50)) == 1


def test_external_zone_gets_the_server_name_and_no_qr_code(root: Path, tmp_path: Path) -> None:
    """mail. and autoconfig. of an external zone are not in the certificates: no dead link."""
    pdf = tmp_path / "ambel.pdf"
    done = fnl_deploy("welcome", "base", "-o", str(pdf), "-i", str(root))
    assert done.returncode == 0, done.stderr
    (page,) = pages_text(pdf)
    assert "anne.vial@mairie-ambel.fr" in page
    assert passwords(root)["anne.vial@mairie-ambel.fr"] in page
    assert "mail1.operateur-test.fr" in page and "mail.mairie-ambel.fr" not in page
    assert "autoconfig." not in page
    assert "mairie@mairie-ambel.fr : accès complet" in page  # no name: no "(mairie)"
    (png,) = render(pdf, tmp_path / "png", 150)
    assert qr_codes(png) == []


@pytest.mark.parametrize("through_a_link", [False, True])
def test_output_inside_the_deployment_directory_is_refused(
    root: Path, tmp_path: Path, through_a_link: bool
) -> None:
    if through_a_link:
        (tmp_path / "elsewhere").symlink_to(root / "secrets")
        target = tmp_path / "elsewhere" / "sheets.pdf"
    else:
        target = root / "sheets.pdf"
    before = sorted(p for p in root.rglob("*"))
    done = fnl_deploy("welcome", "echevis", "-o", str(target), "-i", str(root))
    assert done.returncode == 2
    assert "is inside the deployment directory" in done.stderr
    assert "--output /tmp/sheets.pdf" in done.stderr
    assert sorted(p for p in root.rglob("*")) == before
    french = fnl_deploy("welcome", "echevis", "-o", str(target), "-i", str(root), lang="fr")
    assert french.returncode == 2
    assert "est dans le répertoire de déploiement" in french.stderr


def test_unknown_person_lists_the_known_ones(root: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "x.pdf"
    done = fnl_deploy("welcome", "echevis", "--person", "nobody", "-o", str(pdf), "-i", str(root))
    assert done.returncode == 2
    assert "no person 'nobody' in tenant echevis" in done.stderr
    assert "known people: adjoint, maire, secretaire" in done.stderr
    assert not pdf.exists()


def test_a_person_never_applied_has_no_sheet_yet(root: Path, tmp_path: Path) -> None:
    newcomer = "  - id: nouveau\n    name: Léa Neuve\n    mailbox: lea.neuve\nshared_mailboxes:"
    tenant = ECHEVIS.replace("shared_mailboxes:", newcomer)
    (root / "tenants" / "echevis.yml").write_text(tenant, encoding="utf-8")
    pdf = tmp_path / "x.pdf"
    done = fnl_deploy("welcome", "echevis", "-o", str(pdf), "-i", str(root))
    assert done.returncode == 2, done.stderr
    assert "no password yet for lea.neuve@xn--chevis-9ua.fr" in done.stderr
    assert "fnl-deploy apply --tenant echevis" in done.stderr
    assert not pdf.exists()
    # The others still get theirs.
    ok = fnl_deploy("welcome", "echevis", "--person", "maire", "-o", str(pdf), "-i", str(root))
    assert ok.returncode == 0, ok.stderr


def test_a_name_beyond_helvetica_is_printed_intact(root: Path, tmp_path: Path) -> None:
    text = (root / "tenants" / "echevis.yml").read_text(encoding="utf-8")
    (root / "tenants" / "echevis.yml").write_text(
        text.replace("Gérard Chabert", "Nguyễn Văn Łukasz"), encoding="utf-8"
    )
    pdf = tmp_path / "x.pdf"
    done = fnl_deploy("welcome", "echevis", "--person", "maire", "-o", str(pdf), "-i", str(root))
    assert done.returncode == 0, done.stderr
    (page,) = pages_text(pdf)
    assert "Nguyễn Văn Łukasz" in page and "Échevis" in page


def test_a_disabled_person_gets_no_sheet(root: Path, tmp_path: Path) -> None:
    tenant = ECHEVIS.replace(
        "    mailbox: francois.lhote\n", "    mailbox: francois.lhote\n    disabled: true\n"
    )
    (root / "tenants" / "echevis.yml").write_text(tenant, encoding="utf-8")
    pdf = tmp_path / "x.pdf"
    done = fnl_deploy("welcome", "echevis", "-o", str(pdf), "-i", str(root), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["people"] == [
        ECHEVIS_LOGINS["maire"],
        ECHEVIS_LOGINS["secretaire"],
    ]
    alone = fnl_deploy("welcome", "echevis", "--person", "adjoint", "-o", str(pdf), "-i", str(root))
    assert alone.returncode == 2
    assert "adjoint cannot log in" in alone.stderr
