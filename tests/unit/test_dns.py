"""DNS records of tenant domains: valid, RCPNT-compliant, DKIM placeholder until a real key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from fnl_deploy.deployment import Deployment, load_deployment
from fnl_deploy.dns import Record, tenant_records, txt, zone_text


@pytest.fixture
def deployment(example: Path) -> Deployment:
    return load_deployment(example)


def all_records(deployment: Deployment) -> list[Record]:
    return [r for e in deployment.tenants for r in tenant_records(deployment, e)]


def test_every_record_parses_with_dnspython(deployment: Deployment) -> None:
    records = all_records(deployment)
    assert len(records) > 100
    for record in records:
        rdtype = dns.rdatatype.from_text(record.type)
        if record.pending:
            continue  # a commented-out placeholder, see below
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, record.value)
        assert rdata.to_text()
        assert record.fqdn.endswith(f"{record.domain}.")


def test_spf_ends_in_minus_all(deployment: Deployment) -> None:
    spf = [r for r in all_records(deployment) if "v=spf1" in r.value]
    assert len(spf) == sum(len(e.domains) for e in deployment.tenants)
    for record in spf:
        assert record.name == "@"
        assert record.registrar_value.endswith(" -all")


def test_dmarc_is_quarantine_at_100_percent(deployment: Deployment) -> None:
    dmarc = [r for r in all_records(deployment) if r.name == "_dmarc"]
    assert len(dmarc) == sum(len(e.domains) for e in deployment.tenants)
    for record in dmarc:
        tags = dict(
            part.strip().split("=", 1) for part in record.registrar_value.split(";") if part.strip()
        )
        assert tags["v"] == "DMARC1"
        assert tags["p"] == "quarantine"
        assert tags["pct"] == "100"
        assert tags["rua"] == "mailto:dmarc@alpes-numerique.fr"


def test_mx_points_at_the_tenant_server(deployment: Deployment) -> None:
    voiron = deployment.tenant("voiron")
    mx = [r for r in tenant_records(deployment, voiron) if r.type == "MX"]
    assert [(r.domain, r.value) for r in mx] == [
        ("voiron.fr", "10 mail2.alpes-numerique.fr."),
        ("ville-voiron.fr", "10 mail2.alpes-numerique.fr."),
    ]


def test_pending_dkim_is_commented_out_in_the_zone(deployment: Deployment) -> None:
    entry = deployment.tenant("voiron")
    text = zone_text(deployment, entry, "voiron.fr")
    dkim_lines = [line for line in text.splitlines() if "_domainkey" in line]
    assert len(dkim_lines) == 1
    assert dkim_lines[0].startswith("; PENDING <selector>._domainkey")
    # No line a DNS server would load carries a DKIM record, let alone an empty p=.
    zone = dns.zone.from_text(text, origin="voiron.fr.", relativize=False)
    assert not [name for name in zone.nodes if "_domainkey" in name.to_text()]


def write_dkim(root: Path, domain: str, public_key: str) -> None:
    cache = root / ".fnl" / "dkim"
    cache.mkdir(parents=True, exist_ok=True)
    data = {"selector": "s20260101", "public_key": public_key}
    (cache / f"{domain}.json").write_text(json.dumps(data), encoding="utf-8")


def test_dkim_key_from_the_cache_split_in_255_octet_strings(example: Path) -> None:
    public_key = base64.b64encode(bytes(range(256)) + bytes(38)).decode()  # 392 chars, RSA-2048
    write_dkim(example, "voiron.fr", public_key)
    deployment = load_deployment(example)
    records = tenant_records(deployment, deployment.tenant("voiron"))
    dkim = [r for r in records if r.name.endswith("._domainkey")]
    assert [(r.domain, r.name, r.pending) for r in dkim] == [
        ("voiron.fr", "s20260101._domainkey", False),
        ("ville-voiron.fr", "<selector>._domainkey", True),  # no key for this one yet
    ]
    record = dkim[0]
    assert record.registrar_value == f"v=DKIM1; k=rsa; p={public_key}"
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, record.value)
    assert [len(s) for s in rdata.strings] == [255, len(record.registrar_value) - 255]
    assert b"".join(rdata.strings).decode() == record.registrar_value
    text = zone_text(deployment, deployment.tenant("voiron"), "voiron.fr")
    assert f's20260101._domainkey 3600 TXT "v=DKIM1; k=rsa; p={public_key[:237]}" "' in text


def test_a_broken_dkim_cache_means_pending(example: Path) -> None:
    cache = example / ".fnl" / "dkim"
    cache.mkdir(parents=True)
    (cache / "voiron.fr.json").write_text("{not json", encoding="utf-8")
    deployment = load_deployment(example)
    records = tenant_records(deployment, deployment.tenant("voiron"))
    assert [r.pending for r in records if "_domainkey" in r.name] == [True, True]


def test_txt_splitting() -> None:
    assert txt("") == '""'
    assert txt("a" * 255) == f'"{"a" * 255}"'
    assert txt("a" * 256) == f'"{"a" * 255}" "a"'


def test_hosted_zone_has_soa_and_ns_external_has_neither(deployment: Deployment) -> None:
    hosted = zone_text(deployment, deployment.tenant("voiron"), "voiron.fr")
    zone = dns.zone.from_text(hosted, origin="voiron.fr.", relativize=False)
    apex = zone.find_node("voiron.fr.")
    assert apex.get_rdataset(dns.rdataclass.IN, dns.rdatatype.SOA) is not None
    ns = apex.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS)
    assert sorted(r.to_text() for r in ns) == ["ns1.alpes-numerique.fr.", "ns2.alpes-numerique.fr."]
    external = zone_text(deployment, deployment.tenant("echevis"), "xn--chevis-9ua.fr")
    loaded = [line for line in external.splitlines() if not line.startswith(";")]
    assert not [line for line in loaded if " SOA " in line or " NS " in line]
    assert "$ORIGIN xn--chevis-9ua.fr." in external


def test_srv_for_client_autoconfiguration_on_the_primary_domain_only(
    deployment: Deployment,
) -> None:
    records = tenant_records(deployment, deployment.tenant("voiron"))
    srv = {(r.domain, r.name) for r in records if r.type == "SRV"}
    assert ("voiron.fr", "_submissions._tcp") in srv
    assert ("voiron.fr", "_imaps._tcp") in srv
    assert not [s for s in srv if s[0] == "ville-voiron.fr"]


def test_rcpnt_warning_for_a_domain_outside_fr(example: Path) -> None:
    path = example / "tenants" / "echevis.yml"
    path.write_text(
        path.read_text(encoding="utf-8") + "alias_domains: [echevis-mairie.com]\n",
        encoding="utf-8",
    )
    deployment = load_deployment(example)
    assert [str(w) for w in deployment.warnings] == [
        f"{deployment.tenant('echevis').source.display}:22:17: alias_domains[0]: "
        "RCPNT: domain echevis-mairie.com is not under .fr or a French regional extension"
    ]
    assert all(w.severity == "warning" for w in deployment.warnings)


def test_no_warning_for_french_extensions(deployment: Deployment) -> None:
    assert deployment.warnings == ()


def test_keys_fetched_at_apply_are_saved_once_and_then_published(example: Path) -> None:
    from fnl_deploy.dns import dkim_key, save_dkim_keys

    key = {"selector": "fnl202611", "public_key": "MIIBIjAN"}
    save_dkim_keys(example, {"voiron.fr": key})
    path = example / ".fnl" / "dkim" / "voiron.fr.json"
    stamp = path.stat().st_mtime_ns
    save_dkim_keys(example, {"voiron.fr": key})  # unchanged: not rewritten
    assert path.stat().st_mtime_ns == stamp
    assert dkim_key(example, "voiron.fr") == ("fnl202611", "MIIBIjAN")
    deployment = load_deployment(example)
    names = [r.name for r in tenant_records(deployment, deployment.tenant("voiron"))]
    assert "fnl202611._domainkey" in names
