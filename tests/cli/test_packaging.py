"""`pip install .` (not only editable) into a fresh venv gives a working fnl-deploy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_install_carries_roles_playbooks_and_templates(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    fnl = str(venv / "bin" / "fnl-deploy")
    # Run from elsewhere, so nothing can come from the checkout.
    validate = subprocess.run(
        [fnl, "validate", "-i", str(REPO / "inventories" / "example")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert validate.returncode == 0, validate.stderr
    new = subprocess.run(
        [fnl, "tenant", "new", "--insee", "26117", "-i", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert new.returncode == 0, new.stderr
    assert "Échevis" in (tmp_path / "d" / "tenants" / "echevis.yml").read_text(encoding="utf-8")
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from fnl_deploy.paths import share_dir; "
            "print(share_dir('roles'), share_dir('playbooks'), share_dir('lab'))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    roles, playbooks, lab = map(Path, where)
    assert str(venv) in str(roles), "the wheel's copy must be used, not the checkout"
    assert (roles / "base" / "tasks" / "main.yml").is_file()
    assert (roles / "base" / "meta" / "argument_specs.yml").is_file()
    assert (playbooks / "site.yml").is_file()
    assert (playbooks / "library" / "fnl_lock.py").is_file()
    assert (lab / "image" / "build.sh").is_file()
