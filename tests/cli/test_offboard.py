"""Offboarding's refusals, decided on the controller before any server is touched, and
the mark it leaves in the tenant file (the lab test, tests/e2e/test_offboard.py, runs the
whole procedure against real servers)."""

from __future__ import annotations

import datetime
from pathlib import Path

from fnl_deploy.commands import list_tenants
from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import load_deployment
from fnl_deploy.offboard import _mark_offboarded
from tests.cli.test_cli import envelope, run


def test_purge_without_a_visa_is_refused(example: Path) -> None:
    result = run("offboard", "ambel", "--purge", "-i", str(example), "--json")
    assert result.exit_code == 2
    assert "--visa" in envelope(result)["errors"][0]["message"]


def test_purge_of_a_tenant_still_served_is_refused(example: Path) -> None:
    result = run("offboard", "ambel", "--purge", "--visa", "AD38-2026-1", "-i", str(example))
    assert result.exit_code == 2
    assert "not offboarded" in result.stderr


def test_purge_without_an_archive_made_here_is_refused(example: Path) -> None:
    tenant = example / "tenants" / "ambel.yml"
    tenant.write_text(tenant.read_text("utf-8") + "offboarded: 2026-11-29\n", "utf-8")
    result = run("offboard", "ambel", "--purge", "--visa", "AD38-2026-1", "-i", str(example))
    assert result.exit_code == 2
    assert "no archive of ambel" in result.stderr


def test_the_offboarded_mark_keeps_the_file_valid_and_takes_the_tenant_off_the_servers(
    example: Path,
) -> None:
    tenant = example / "tenants" / "ambel.yml"
    before = tenant.read_text("utf-8")
    entry = load_deployment(example).tenant("ambel")
    archive = {
        "archive": "/var/lib/fnl-deploy/offboard/ambel.tar.gz",
        "server": "mail1",
        "sha256": "ab" * 32,
    }
    assert _mark_offboarded(entry, archive)
    after = tenant.read_text("utf-8")
    assert after.startswith(before), "the operator's text stays as written"
    deployment = load_deployment(example)
    assert deployment.tenant("ambel").tenant.offboarded == datetime.date.today()
    assert not _mark_offboarded(deployment.tenant("ambel"), archive)
    served = {t["id"] for s in compile_deployment(deployment).values() for t in s["tenants"]}
    assert "ambel" not in served and served
    # Still listed (its file is there), still validated.
    assert "ambel" in {t["id"] for t in list_tenants(example).data["tenants"]}
