"""Golden files of the example deployment: desired state per server, zones, DNS JSON.

Compared byte for byte; rewritten only with ``pytest --regen-golden`` (then review the diff).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fnl_deploy.cli import main
from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import Deployment, load_deployment
from fnl_deploy.dns import zone_text
from fnl_deploy.model.tenant import DnsMode

GOLDEN = Path(__file__).resolve().parent / "example"
DNS_SHOW_TENANT = "l-abergement-clemenciat"


@pytest.fixture
def deployment(example: Path) -> Deployment:
    return load_deployment(example)


def rendered(deployment: Deployment, example: Path) -> dict[str, str]:
    """Every golden file's expected content, by file name."""
    files = {
        f"{name}.json": json.dumps(state, ensure_ascii=False, indent=2) + "\n"
        for name, state in compile_deployment(deployment).items()
    }
    for entry in deployment.tenants:
        for domain in entry.domains:
            files[f"{domain}.zone"] = zone_text(deployment, entry, domain)
    result = CliRunner().invoke(
        main, ["dns", "show", DNS_SHOW_TENANT, "--format", "json", "-i", str(example)]
    )
    assert result.exit_code == 0, result.stderr
    files[f"dns-show-{DNS_SHOW_TENANT}.json"] = result.stdout
    return files


def test_golden_files(deployment: Deployment, example: Path, regen_golden: bool) -> None:
    files = rendered(deployment, example)
    if regen_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for name, text in files.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
        return
    on_disk = sorted(p.name for p in GOLDEN.iterdir())
    assert on_disk == sorted(files), "golden files differ; run pytest --regen-golden and review"
    for name, text in files.items():
        assert (GOLDEN / name).read_text(encoding="utf-8") == text, (
            f"{name} changed; if intended, run pytest --regen-golden and review the diff"
        )


def test_golden_set_is_complete() -> None:
    names = {p.name for p in GOLDEN.iterdir()}
    assert {"mail1.json", "mail2.json", "voiron.fr.zone", "xn--chevis-9ua.fr.zone"} <= names
    assert f"dns-show-{DNS_SHOW_TENANT}.json" in names


# --- named-checkzone (Debian package bind9-utils) -------------------------------------------

CHECKZONE = shutil.which("named-checkzone")
needs_checkzone = pytest.mark.skipif(
    CHECKZONE is None, reason="named-checkzone missing: apt-get install bind9-utils"
)


def checkzone(domain: str, path: Path) -> subprocess.CompletedProcess[str]:
    # -i local: check in-zone integrity only, never look names up on the network.
    return subprocess.run(
        [CHECKZONE, "-i", "local", "-k", "fail", "-n", "fail", domain, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


@needs_checkzone
def test_every_hosted_zone_passes_named_checkzone(deployment: Deployment, tmp_path: Path) -> None:
    checked = 0
    for entry in deployment.tenants:
        if deployment.dns_mode(entry) is not DnsMode.hosted:
            continue
        for domain in entry.domains:
            path = tmp_path / f"{domain}.zone"
            path.write_text(zone_text(deployment, entry, domain), encoding="utf-8")
            result = checkzone(domain, path)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "OK" in result.stdout
            checked += 1
    assert checked == 6  # 4 hosted tenants, 2 of them with an alias domain


@needs_checkzone
def test_hosted_zone_with_a_dkim_key_passes_named_checkzone(example: Path, tmp_path: Path) -> None:
    cache = example / ".fnl" / "dkim"
    cache.mkdir(parents=True)
    key = {"selector": "s20260101", "public_key": "MIIBIjANBgkqhkiG9w0BAQEFAAOC" + "A" * 364}
    (cache / "voiron.fr.json").write_text(json.dumps(key), encoding="utf-8")
    deployment = load_deployment(example)
    path = tmp_path / "voiron.fr.zone"
    path.write_text(zone_text(deployment, deployment.tenant("voiron"), "voiron.fr"), "utf-8")
    result = checkzone("voiron.fr", path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_checkzone
def test_named_checkzone_catches_a_broken_zone(deployment: Deployment, tmp_path: Path) -> None:
    """The check above can fail: a zone without its SOA, or with a bad record, is refused."""
    text = zone_text(deployment, deployment.tenant("voiron"), "voiron.fr")
    no_soa = "\n".join(line for line in text.splitlines() if " SOA " not in line) + "\n"
    bad_record = text + "www 3600 A 999.1.1.1\n"
    for broken in (no_soa, bad_record):
        path = tmp_path / "broken.zone"
        path.write_text(broken, encoding="utf-8")
        assert checkzone("voiron.fr", path).returncode != 0
