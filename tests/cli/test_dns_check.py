"""`dns check` against a real Knot DNS server on 127.0.0.1: a good zone passes, a broken one fails.

knotd (Debian package ``knot``) serves zones written by ``dns.zone_text()`` from a private
directory on a free high port; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest
from click.testing import CliRunner, Result

from fnl_deploy import dnscheck
from fnl_deploy.cli import main
from fnl_deploy.deployment import load_deployment
from fnl_deploy.dns import domain_records, zone_text
from tests.conftest import EXAMPLE

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"

pytestmark = pytest.mark.skipif(
    not Path(KNOTD).exists(), reason="knotd not installed (Debian package knot; CI installs it)"
)

GOOD = ("voiron.fr", "ville-voiron.fr")  # tenant voiron, hosted, with an alias domain
BROKEN = "mairie-ambel.fr"  # tenant ambel
WRONG_AUTOCONFIG = "192.0.2.99"
#: The operator's zone, where the name servers of hosted zones point back to this knotd.
OPERATOR = "alpes-numerique.fr"
OPERATOR_ZONE = """$ORIGIN alpes-numerique.fr.
$TTL 3600
@ SOA ns1 hostmaster 1 3600 900 1209600 300
@ NS ns1
@ NS ns2
ns1 A 127.0.0.1
ns2 A 127.0.0.1
"""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (knotd listens on both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def broken(zone: str) -> str:
    """MX missing, DMARC p=none, SPF twice, autoconfig pointing elsewhere."""
    lines = []
    for line in zone.splitlines():
        if line.startswith("@ 3600 MX "):
            continue
        if line.startswith("_dmarc "):
            line = line.replace("p=quarantine", "p=none")
        if line.startswith("autoconfig "):
            line = f"autoconfig 3600 A {WRONG_AUTOCONFIG}"
        lines.append(line)
        if line.startswith('@ 3600 TXT "v=spf1'):
            lines.append('@ 3600 TXT "v=spf1 a -all"')
    return "\n".join(lines) + "\n"


#: Échevis keeps its DNS at its registrar (dns.mode: external).
EXTERNAL = "xn--chevis-9ua.fr"
ELSEWHERE = "autoconfig.registrar.example."


def broken_external(zone: str) -> str:
    """The registrar's zone as an admin typed it: DMARC forgotten, autoconfig mistyped."""
    lines = []
    for line in zone.splitlines():
        if line.startswith("; SOA and NS"):
            line = (
                "@ 3600 SOA ns.registrar.example. hostmaster.registrar.example. "
                "1 3600 900 1209600 300\n@ 3600 NS ns.registrar.example."
            )
        if line.startswith("_dmarc "):
            continue
        if line.startswith("autoconfig "):
            line = f"autoconfig 3600 CNAME {ELSEWHERE}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def zones() -> dict[str, str]:
    deployment = load_deployment(EXAMPLE)
    voiron, ambel = deployment.tenant("voiron"), deployment.tenant("ambel")
    assert voiron.domains == GOOD and ambel.domains == (BROKEN,)
    texts = {d: zone_text(deployment, voiron, d) for d in GOOD}
    texts[BROKEN] = broken(zone_text(deployment, ambel, BROKEN))
    texts[OPERATOR] = OPERATOR_ZONE
    echevis = deployment.tenant("echevis")
    assert echevis.domains == (EXTERNAL,)
    texts[EXTERNAL] = broken_external(zone_text(deployment, echevis, EXTERNAL))
    assert texts[BROKEN].count("v=spf1") == 2 and "3600 MX" not in texts[BROKEN]
    return texts


def wait_for(port: int, zone: str, process: subprocess.Popen[bytes]) -> None:
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"knotd exited with {process.returncode}")
        try:
            if dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2).answer:
                return
        except (OSError, dns.exception.Timeout):
            pass
        time.sleep(0.05)
    raise RuntimeError("knotd did not answer within 5 s")


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A knotd serving the good and the broken zones; yields its port."""
    root = tmp_path_factory.mktemp("knot")
    for sub in ("zones", "run", "db"):
        (root / sub).mkdir()
    texts = zones()
    for domain, text in texts.items():
        (root / "zones" / f"{domain}.zone").write_text(text, encoding="utf-8")
    port = free_port()
    conf = root / "knot.conf"
    conf.write_text(
        f"""server:
    rundir: "{root}/run"
    listen: 127.0.0.1@{port}
log:
  - target: stderr
    any: warning
database:
    storage: "{root}/db"
template:
  - id: default
    storage: "{root}/zones"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
"""
        + "".join(f"  - domain: {d}\n" for d in texts),
        encoding="utf-8",
    )
    subprocess.run([KNOTC, "-c", str(conf), "conf-check"], check=True, capture_output=True)
    log = (root / "knotd.log").open("wb")
    process = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for domain in texts:
            wait_for(port, domain, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def check(knot: int, *args: str) -> Result:
    return run("dns", "check", *args, "--resolver", f"127.0.0.1:{knot}", "-i", str(EXAMPLE))


def problems(domain: dict) -> list[tuple[str, str, str]]:
    return [(r["status"], r["type"], r["name"]) for r in domain["records"] if r["status"] != "ok"]


def test_a_zone_from_zone_text_passes(knot: int) -> None:
    result = check(knot, "voiron", "--json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["command"] == "dns check" and data["status"] == "ok"
    tenant = data["data"]["tenants"][0]
    assert [d["domain"] for d in tenant["domains"]] == list(GOOD)
    for domain in tenant["domains"]:
        assert problems(domain) == [("pending", "TXT", "<selector>._domainkey")]
        assert all(c["met"] for c in domain["rcpnt"]), domain["rcpnt"]
        assert domain["server"] == f"127.0.0.1:{knot}"
    # 38: the two records of Voiron's own (website) included.
    assert tenant["counts"]["ok"] == 38 and tenant["counts"]["pending"] == 2


def test_a_zone_from_zone_text_passes_human(knot: int) -> None:
    result = check(knot, "voiron")
    assert result.exit_code == 0
    assert (
        "  pending    TXT   <selector>._domainkey (first apply): the server generates"
        in result.stdout
    )
    assert "RCPNT: .fr extension ✓ · MX present ✓ · one SPF ✓" in result.stdout
    assert result.stdout.rstrip().endswith(
        "DNS check: 1 of 1 tenant(s) without problems, 1 meeting RCPNT; "
        "0 record(s) to fix, 2 pending, 0 unanswered."
    )


def test_a_broken_zone_reports_exactly_its_problems_and_their_fixes(knot: int) -> None:
    result = check(knot, "ambel", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["exit_code"] == 1
    (domain,) = data["data"]["tenants"][0]["domains"]
    assert problems(domain) == [
        ("missing", "MX", "@"),
        ("wrong", "TXT", "@"),
        ("pending", "TXT", "<selector>._domainkey"),
        ("wrong", "TXT", "_dmarc"),
        ("wrong", "A", "autoconfig"),
    ]
    records = {(r["type"], r["name"]): r for r in domain["records"]}
    mx = records[("MX", "@")]
    assert mx["fix"] == [
        {"action": "add", "name": "@", "type": "MX", "value": "10 mail1.alpes-numerique.fr."}
    ]
    spf = records[("TXT", "@")]
    assert [i["code"] for i in spf["issues"]] == ["spf_twice"]
    assert spf["fix"] == [
        {"action": "remove", "name": "@", "type": "TXT", "value": "v=spf1 a -all"}
    ]
    dmarc = records[("TXT", "_dmarc")]
    assert [i["code"] for i in dmarc["issues"]] == ["dmarc_none"]
    assert dmarc["found"] == [
        "v=DMARC1; p=none; pct=100; rua=mailto:dmarc@alpes-numerique.fr; adkim=s; aspf=s"
    ]
    assert [f["action"] for f in dmarc["fix"]] == ["remove", "add"]
    assert dmarc["fix"][1]["value"] == dmarc["expected"]
    assert '"' not in dmarc["fix"][1]["value"]  # registrar form: no zone-file quoting
    # A hosted zone points client set-up names at the webmail server's address.
    address = records[("A", "autoconfig")]
    assert address["found"] == [WRONG_AUTOCONFIG]
    assert address["fix"] == [
        {"action": "remove", "name": "autoconfig", "type": "A", "value": WRONG_AUTOCONFIG},
        {"action": "add", "name": "autoconfig", "type": "A", "value": "192.0.2.11"},
    ]
    rcpnt = {c["criterion"]: c["met"] for c in domain["rcpnt"]}
    assert rcpnt == {
        "extension": True,
        "mx": False,
        "spf": False,
        "dmarc": False,
        "eu_hosting": False,
    }


def test_a_broken_external_zone_reports_exactly_its_problems(knot: int) -> None:
    result = check(knot, "echevis", "--json")
    assert result.exit_code == 1
    (domain,) = json.loads(result.stdout)["data"]["tenants"][0]["domains"]
    assert problems(domain) == [
        ("pending", "TXT", "<selector>._domainkey"),
        ("missing", "TXT", "_dmarc"),
        ("wrong", "CNAME", "autoconfig"),
    ]
    records = {(r["type"], r["name"]): r for r in domain["records"]}
    dmarc = records[("TXT", "_dmarc")]
    assert dmarc["fix"] == [
        {"action": "add", "name": "_dmarc", "type": "TXT", "value": dmarc["expected"]}
    ]
    # An external zone names the webmail host (a CNAME the registrar keeps right).
    assert records[("CNAME", "autoconfig")]["fix"] == [
        {"action": "remove", "name": "autoconfig", "type": "CNAME", "value": ELSEWHERE},
        {
            "action": "add",
            "name": "autoconfig",
            "type": "CNAME",
            "value": "webmail.alpes-numerique.fr.",
        },
    ]
    rcpnt = {c["criterion"]: c["met"] for c in domain["rcpnt"]}
    assert rcpnt == {"extension": True, "mx": True, "spf": True, "dmarc": False, "eu_hosting": True}


def test_a_broken_zone_human_output(knot: int) -> None:
    result = check(knot, "ambel")
    assert result.exit_code == 1
    out = result.stdout
    assert out.startswith(f"ambel: mairie-ambel.fr (answers from 127.0.0.1:{knot})\n")
    assert "  missing    MX    @: mail exchanger\n" in out
    assert "             add    name @  type MX  value 10 mail1.alpes-numerique.fr.\n" in out
    assert "2 SPF records: receivers treat this as an error" in out
    assert "             remove name @  type TXT  value v=spf1 a -all\n" in out
    assert "DMARC p=none only monitors" in out
    assert (
        "  wrong      A     autoconfig: Thunderbird autoconfiguration\n"
        f"             found  {WRONG_AUTOCONFIG}\n"
        f"             remove name autoconfig  type A  value {WRONG_AUTOCONFIG}\n"
        "             add    name autoconfig  type A  value 192.0.2.11\n"
    ) in out
    assert "ambel: 25 ok, 4 to fix, 1 pending, 0 unanswered." in out
    assert "MX present ✗ · one SPF ✗ · DMARC quarantine/reject 100% ✗" in out
    assert "  Hosted zone: `fnl-deploy apply` publishes these records" in out


def test_messages_in_french(knot: int) -> None:
    result = run(
        "--lang",
        "fr",
        "dns",
        "check",
        "ambel",
        "--resolver",
        f"127.0.0.1:{knot}",
        "-i",
        str(EXAMPLE),
    )
    assert result.exit_code == 1
    assert "  absent       MX    @: mail exchanger\n" in result.stdout
    assert (
        "               ajouter nom @  type MX  valeur 10 mail1.alpes-numerique.fr.\n"
        in result.stdout
    )
    assert "Vérification DNS : 0 collectivité(s) sur 1 sans problème" in result.stdout


def test_every_tenant_zones_the_server_does_not_serve_are_unanswered(knot: int) -> None:
    result = check(knot, "--json")
    assert result.exit_code == 1
    tenants = {t["tenant"]: t for t in json.loads(result.stdout)["data"]["tenants"]}
    assert sorted(tenants) == sorted(e.id for e in load_deployment(EXAMPLE).tenants)
    assert tenants["voiron"]["ok"] and not tenants["ambel"]["ok"]
    # This knotd does not serve L'Abergement-Clémenciat's zones: unanswered, never "ok".
    unserved = tenants["l-abergement-clemenciat"]
    assert not unserved["ok"] and unserved["counts"]["ok"] == 0
    assert unserved["counts"]["unanswered"] > 0
    assert {r["error"] for d in unserved["domains"] for r in d["records"]} == {"servfail", None}


def test_authoritative_servers_are_found_through_ns_and_asked(knot: int) -> None:
    base = dnscheck.Querier(["127.0.0.1"], knot)
    auth = dnscheck.authoritative("voiron.fr", base, port=knot)
    assert auth is not None
    assert auth.label == "ns1.alpes-numerique.fr, ns2.alpes-numerique.fr"
    assert auth.resolver.nameservers == ["127.0.0.1", "127.0.0.1"]
    deployment = load_deployment(EXAMPLE)
    records = domain_records(deployment, deployment.tenant("voiron"), "voiron.fr")
    findings = dnscheck.check_records(records, dnscheck.gather(records, auth))
    assert {f.status for f in findings} == {dnscheck.Status.ok, dnscheck.Status.pending}
    # A zone nobody serves: no authoritative servers, the caller falls back to its resolver.
    assert dnscheck.authoritative("xn--chevis-9ua.fr", base, port=knot) is None


def test_a_silent_server_never_hangs_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that swallows queries: each query times out, then the server is given up."""
    monkeypatch.setattr(dnscheck, "TIMEOUT", 0.1)
    monkeypatch.setattr(dnscheck, "LIFETIME", 0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        started = time.monotonic()
        result = check(port, "voiron", "--json")
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    records = [
        r for d in json.loads(result.stdout)["data"]["tenants"][0]["domains"] for r in d["records"]
    ]
    assert {r["status"] for r in records} == {"unanswered", "pending"}
    # One query per name and type: only the first GIVE_UP_AFTER ones waited for a timeout.
    asked = {(r["fqdn"], r["type"]): r["error"] for r in records if r["status"] == "unanswered"}
    errors = list(asked.values())
    assert errors[: dnscheck.GIVE_UP_AFTER] == ["timeout"] * dnscheck.GIVE_UP_AFTER
    assert set(errors[dnscheck.GIVE_UP_AFTER :]) == {"unreachable"}
    assert elapsed < 3


@pytest.mark.parametrize("value", ["127.0.0.1:99999", "127.0.0.1:x", "", "[::1]x"])
def test_a_bad_resolver_is_a_usage_error(value: str) -> None:
    result = run("dns", "check", "voiron", "--resolver", value, "-i", str(EXAMPLE))
    assert result.exit_code == 2
    assert "Error: --resolver" in result.stderr
    assert "Hint: e.g. --resolver 127.0.0.1:5353" in result.stderr


def test_an_unknown_tenant_is_a_usage_error() -> None:
    result = run("dns", "check", "nowhere", "--resolver", "127.0.0.1:9", "-i", str(EXAMPLE))
    assert result.exit_code == 2
    assert "no tenant 'nowhere'" in result.stderr
