"""The benchmark's generator: valid deployments, and platforms that grow by prefix."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from generate import communes, generate, write_tenants

from fnl_deploy.deployment import load_deployment


def test_a_larger_platform_starts_with_the_smaller_one():
    small = [row["insee"] for row in communes(10)]
    large = [row["insee"] for row in communes(1001)]
    assert large[:10] == small
    assert len(set(large)) == 1001


def test_growing_and_shrinking_rewrites_only_what_differs(tmp_path):
    root = generate(tmp_path / "platform", 3)
    tenants = root / "tenants"
    first = {p.name: p.stat().st_mtime_ns for p in tenants.glob("*.yml")}
    write_tenants(tenants, 5)
    grown = {p.name: p.stat().st_mtime_ns for p in tenants.glob("*.yml")}
    assert len(grown) == 5
    assert all(grown[name] == mtime for name, mtime in first.items())
    write_tenants(tenants, 2)
    assert len(list(tenants.glob("*.yml"))) == 2


def test_generated_platform_is_valid_with_accented_domains(tmp_path):
    deployment = load_deployment(generate(tmp_path / "platform", 20))
    assert len(deployment.live_tenants) == 20
    assert any(entry.tenant.domain.startswith("xn--") for entry in deployment.live_tenants)


def test_a_large_platform_keeps_every_certificate_under_the_acme_limit(tmp_path):
    """One certificate per commune: the server's stays small however many communes."""
    from fnl_deploy.compile import compile_deployment

    desired = compile_deployment(load_deployment(generate(tmp_path / "platform", 300)))
    for state in desired.values():
        tls = state["tls"]
        assert len(tls["names"]) <= 2  # the server's host name, and the webmail's name
        assert tls["tenants"]
        for certificate in tls["tenants"]:
            assert 0 < len(certificate["names"]) <= 100
            domain = certificate["name"]
            # Only this commune's names (its domain and its alias domains' mta-sts).
            assert all(
                name.endswith("." + domain) or name.startswith("mta-sts.")
                for name in certificate["names"]
            )
            assert certificate["names"] == certificate["mail_names"] + certificate["client_names"]
