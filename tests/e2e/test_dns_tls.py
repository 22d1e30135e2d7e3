"""DNS and TLS of the applied lab: signed hosted zones, Pebble certificates, client set-up.

Real clients only: dnspython against the lab's Knot (on the lab network and through the
published ports), TLS handshakes with the ACME root as the only trust anchor, testssl.sh,
checkdmarc, and HTTPS to the client set-up names.
"""

from __future__ import annotations

import http.client
import json
import plistlib
import smtplib
import socket
import ssl
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.dnssec
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import pytest

from fnl_deploy import lab
from tests.e2e.conftest import Lab, acme_root, fnl
from tests.e2e.mailclient import port

NS1 = "10.89.64.11"  # the lab's first server on its Podman network: Knot, primary signer
NS2 = "10.89.64.12"
HOSTED = ["voiron.fr", "ville-voiron.fr", "saint-etienne-de-crossey.fr", "mairie-ambel.fr"]
FQDN = {"mail1": "mail1.alpes-numerique.fr", "mail2": "mail2.alpes-numerique.fr"}
WEBMAIL = "webmail.alpes-numerique.fr"
PCT_REMOVED = "Support for the pct tag was removed in RFC 9989"
CHECKDMARC = str(Path(sys.executable).with_name("checkdmarc"))  # installed with the test extra


def ask(server: str, name: str, rtype: str, dnssec: bool = True) -> dns.message.Message:
    query = dns.message.make_query(name, rtype, want_dnssec=dnssec)
    return dns.query.udp(query, server, timeout=5)


def rrsets(
    answer: dns.message.Message, name: str, rtype: str
) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    owner = dns.name.from_text(name)
    data = answer.find_rrset(
        answer.answer, owner, dns.rdataclass.IN, dns.rdatatype.from_text(rtype)
    )
    signature = answer.find_rrset(
        answer.answer, owner, dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.from_text(rtype)
    )
    return data, signature


def ds_of(domain: str) -> list[str]:
    """The DS records `dns show` gives the admin for the registrar."""
    run = fnl("dns", "show", "voiron" if "voiron" in domain else domain, "--format", "json")
    assert run.rc == 0, run.stderr
    records = json.loads(run.stdout)["records"]
    return [r["value"] for r in records if r["type"] == "DS" and r["domain"] == domain]


@pytest.mark.parametrize("domain", ["voiron.fr", "ville-voiron.fr"])
def test_a_hosted_zone_validates_from_the_ds_given_to_the_registrar(lab_platform: Lab, domain):
    (ds_text,) = ds_of(domain)
    zone = dns.name.from_text(domain)
    keys, keys_signature = rrsets(ask(NS1, domain, "DNSKEY"), domain, "DNSKEY")
    # The trust anchor: the DS the registrar publishes must name one of the zone's keys…
    anchor = dns.rdata.from_text("IN", "DS", ds_text)
    assert any(dns.dnssec.make_ds(zone, key, "SHA256") == anchor for key in keys)
    # …which signs the key set, whose keys sign the records (dnspython checks RRSIG dates).
    dns.dnssec.validate(keys, keys_signature, {zone: keys})
    for rtype in ("SOA", "MX", "TXT"):
        data, signature = rrsets(ask(NS1, domain, rtype), domain, rtype)
        dns.dnssec.validate(data, signature, {zone: keys})


def test_a_communes_own_records_are_served_signed(lab_platform: Lab):
    zone = dns.name.from_text("voiron.fr")
    keys, _ = rrsets(ask(NS1, "voiron.fr", "DNSKEY"), "voiron.fr", "DNSKEY")
    for name, rtype, value in [
        ("voiron.fr", "A", "192.0.2.80"),
        ("www.voiron.fr", "CNAME", "voiron.fr."),
    ]:
        data, signature = rrsets(ask(NS2, name, rtype), name, rtype)
        assert [r.to_text() for r in data] == [value]
        dns.dnssec.validate(data, signature, {zone: keys})


def test_the_secondary_serves_the_same_signed_zone(lab_platform: Lab):
    for domain in HOSTED:
        primary = ask(NS1, domain, "SOA").answer
        secondary = ask(NS2, domain, "SOA").answer
        assert primary and primary == secondary, domain  # same serial, same signature


def test_the_zones_publish_the_dkim_key_the_server_signs_with(lab_platform: Lab):
    for domain in HOSTED:
        run = fnl("dns", "show", "voiron" if "voiron" in domain else domain, "--format", "json")
        records = json.loads(run.stdout)["records"]
        (dkim,) = [
            r for r in records if r["name"].endswith("._domainkey") and r["domain"] == domain
        ]
        assert not dkim["pending"]
        answer = ask(NS1, dkim["fqdn"], "TXT", dnssec=False)
        (txt,) = answer.answer
        assert b"".join(txt[0].strings).decode() == dkim["registrar_value"]


def test_dns_check_passes_on_every_hosted_tenant(lab_platform: Lab):
    for tenant in ("voiron", "saint-etienne-de-crossey", "ambel", "l-abergement-clemenciat"):
        run = fnl("dns", "check", tenant, "--resolver", NS1, "--json")
        data = json.loads(run.stdout)["data"]
        assert run.rc == 0, run.stdout
        assert all(c["met"] for d in data["tenants"][0]["domains"] for c in d["rcpnt"]), tenant


def test_checkdmarc_accepts_every_hosted_domain(lab_platform: Lab):
    result = subprocess.run(
        [CHECKDMARC, "-n", NS1, "-f", "json", *HOSTED],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    for report in reports:
        assert report["spf"]["valid"], report
        assert report["dmarc"]["valid"], report
        assert report["dmarc"]["record"].startswith("v=DMARC1; p=quarantine"), report
        # RCPNT asks for pct=100, which DMARCbis (RFC 9989) dropped: receivers ignore it.
        assert set(report["dmarc"].get("warnings", [])) <= {PCT_REMOVED}, report["dmarc"]
        assert report["mx"]["hosts"], report
        # No "dnssec" assertion: the lab has no .fr zone holding the DS, so checkdmarc
        # rightly sees an unanchored zone; the DNSSEC tests above validate from the DS.


# --- certificates --------------------------------------------------------------------------


def pebble_context(hostname_check: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=acme_root())  # Pebble's root only
    context.check_hostname = hostname_check
    return context


def served_certificate(server: str, number: int, name: str) -> dict:
    """The certificate behind container port ``number``, verified for ``name``."""
    address = ("127.0.0.1", port(server, number))
    context = pebble_context()
    if number in (25, 587):
        with smtplib.SMTP(*address, timeout=30) as smtp:
            smtp.ehlo("test.fnl-deploy")
            smtp._host = name  # smtplib sends this as SNI and checks the certificate for it
            smtp.starttls(context=context)
            return smtp.sock.getpeercert()
    raw = socket.create_connection(address, timeout=30)
    with context.wrap_socket(raw, server_hostname=name) as tls:
        return tls.getpeercert()


@pytest.mark.parametrize("server", ["mail1", "mail2"])
@pytest.mark.parametrize("number", [443, 465, 587, 993, 25])
def test_pebble_certificates_on_every_tls_port(lab_platform: Lab, server: str, number: int):
    cert = served_certificate(server, number, FQDN[server])
    issuer = dict(item for rdn in cert["issuer"] for item in rdn)
    assert issuer["commonName"].startswith("Pebble Intermediate CA"), issuer


def dns_names(cert: dict) -> set[str]:
    return {value for kind, value in cert["subjectAltName"] if kind == "DNS"}


def test_the_webmail_name_and_client_names_are_served_with_valid_certificates(lab_platform: Lab):
    for name in (WEBMAIL, "autoconfig.voiron.fr", "mta-sts.ville-voiron.fr"):
        cert = served_certificate("mail1", 443, name)  # verified for that name
        assert ("DNS", name) in cert["subjectAltName"]


def test_each_commune_has_a_certificate_of_its_own(lab_platform: Lab):
    # One certificate with every commune's names would pass ACME's limit of 100 names
    # at ~25 communes: the servers' certificates carry their own names only, and each
    # commune's names are on its own certificate, chosen by SNI in Postfix, Dovecot, nginx.
    for server in ("mail1", "mail2"):
        for number in (443, 993, 465):
            own = dns_names(served_certificate(server, number, FQDN[server]))
            assert own <= {FQDN[server], WEBMAIL}, (server, number, own)
    voiron_setup = {
        "mta-sts.voiron.fr",
        "autoconfig.voiron.fr",
        "autodiscover.voiron.fr",
        "mta-sts.ville-voiron.fr",  # its alias domain
    }
    for name in sorted(voiron_setup):
        assert dns_names(served_certificate("mail1", 443, name)) == voiron_setup
    for number in (443, 993, 465, 587, 25):
        assert dns_names(served_certificate("mail2", number, "mail.voiron.fr")) == {
            "mail.voiron.fr"
        }
    crossey = dns_names(served_certificate("mail1", 993, "mail.saint-etienne-de-crossey.fr"))
    assert "mail.saint-etienne-de-crossey.fr" in crossey
    assert not any("voiron" in name or "ambel" in name for name in crossey), crossey


def test_mail_clients_may_use_mail_dot_the_communes_domain(lab_platform: Lab):
    # mail.<domain> resolves to the commune's own server, which presents its certificate.
    for server, domain in (("mail2", "voiron.fr"), ("mail1", "saint-etienne-de-crossey.fr")):
        (address,) = ask(NS1, f"mail.{domain}", "A", dnssec=False).answer
        assert address[0].to_text() == {"mail1": NS1, "mail2": NS2}[server]
        for number in (993, 465, 587):
            served_certificate(server, number, f"mail.{domain}")  # verified for that name


TESTSSL_PORTS = {443: [], 465: [], 587: ["--starttls", "smtp"], 993: []}


def run_testssl(number: int, extra: list[str], out: Path, root: Path) -> list[dict]:
    """testssl.sh on mail1's port, as its name (127.0.0.1 given as the address to test)."""
    report = out / f"testssl-{number}.json"
    report.unlink(missing_ok=True)
    subprocess.run(
        [
            "testssl", "--quiet", "--color", "0", "--warnings", "off", "--openssl-timeout", "10",
            "--add-ca", str(root), "--severity", "MEDIUM", "--jsonfile", str(report),
            "--ip", "127.0.0.1", *extra, f"{FQDN['mail1']}:{port('mail1', number)}",
        ],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    return json.loads(report.read_text())


def test_testssl_finds_nothing_medium_or_worse(lab_platform: Lab, tmp_path: Path):
    root = tmp_path / "pebble-root.pem"
    root.write_text(acme_root())
    artifacts = Path("artifacts")
    artifacts.mkdir(exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(TESTSSL_PORTS)) as pool:
        runs = pool.map(lambda item: run_testssl(*item, artifacts, root), TESTSSL_PORTS.items())
        findings = dict(zip(TESTSSL_PORTS, runs, strict=True))
    serious = {
        number: [
            (f["id"], f["severity"], f["finding"])
            for f in found
            if f["severity"] in ("MEDIUM", "HIGH", "CRITICAL")
        ]
        for number, found in findings.items()
    }
    assert serious == {number: [] for number in TESTSSL_PORTS}


# --- client set-up -------------------------------------------------------------------------


def https_get(
    name: str, path: str, method: str = "GET", body: bytes = b""
) -> tuple[int, str, bytes]:
    """HTTPS to the webmail server as ``name`` (SNI, Host), verified for it with Pebble's root."""
    raw = socket.create_connection(("127.0.0.1", port("mail1", 443)), timeout=30)
    with pebble_context().wrap_socket(raw, server_hostname=name) as tls:
        head = f"{method} {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n"
        if body:
            head += f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
        tls.sendall(head.encode() + b"\r\n" + body)
        answer = http.client.HTTPResponse(tls)
        answer.begin()
        return answer.status, answer.getheader("Content-Type", ""), answer.read()


def test_thunderbird_autoconfig_names_the_right_servers(lab_platform: Lab):
    status, kind, body = https_get(
        "autoconfig.voiron.fr", "/mail/config-v1.1.xml?emailaddress=maire%40voiron.fr"
    )
    assert status == 200 and kind.startswith("application/xml")
    provider = ET.fromstring(body).find("emailProvider")
    assert provider.get("id") == "voiron.fr"
    incoming, outgoing = provider.find("incomingServer"), provider.find("outgoingServer")
    # Voiron lives on the second server: its clients are sent there, with TLS from the start.
    assert (
        incoming.get("type"),
        incoming.findtext("hostname"),
        incoming.findtext("port"),
        incoming.findtext("socketType"),
    ) == ("imap", FQDN["mail2"], "993", "SSL")
    assert (
        outgoing.get("type"),
        outgoing.findtext("hostname"),
        outgoing.findtext("port"),
        outgoing.findtext("socketType"),
    ) == ("smtp", FQDN["mail2"], "465", "SSL")
    assert incoming.findtext("username") == "%EMAILADDRESS%"


def test_mta_sts_policy_lists_the_mx(lab_platform: Lab):
    status, kind, body = https_get(
        "mta-sts.saint-etienne-de-crossey.fr", "/.well-known/mta-sts.txt"
    )
    assert status == 200 and kind.startswith("text/plain")
    policy = dict(line.split(": ", 1) for line in body.decode().splitlines())
    assert policy == {
        "version": "STSv1",
        "mode": "enforce",
        "mx": FQDN["mail1"],
        "max_age": "604800",
    }


def test_outlook_autodiscover_and_apple_profile(lab_platform: Lab):
    request = (
        b'<?xml version="1.0"?><Autodiscover><Request>'
        b"<EMailAddress>maire@voiron.fr</EMailAddress></Request></Autodiscover>"
    )
    status, _, body = https_get(
        "autodiscover.voiron.fr", "/autodiscover/autodiscover.xml", "POST", request
    )
    assert status == 200 and FQDN["mail2"].encode() in body
    ns = {"o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    protocols = ET.fromstring(body).findall(".//o:Protocol", ns)
    assert {
        (p.findtext("o:Type", namespaces=ns), p.findtext("o:Port", namespaces=ns))
        for p in protocols
    } == {("IMAP", "993"), ("SMTP", "465")}

    status, kind, body = https_get(
        "autoconfig.voiron.fr", "/apple.mobileconfig?user=julien.lefebvre"
    )
    assert status == 200 and kind == "application/x-apple-aspen-config"
    profile = plistlib.loads(body)
    mail, caldav, carddav = profile["PayloadContent"]
    assert (
        mail["IncomingMailServerHostName"] == FQDN["mail2"]
        and mail["EmailAddress"] == "julien.lefebvre@voiron.fr"
    )
    assert caldav["CalDAVHostName"] == WEBMAIL and carddav["CardDAVHostName"] == WEBMAIL
    assert len({p["PayloadUUID"] for p in [profile, mail, caldav, carddav]}) == 4
    # Anything but a local part in the query is refused (it would end up in the profile).
    status, _, _ = https_get("autoconfig.voiron.fr", "/apple.mobileconfig?user=%3Cscript%3E")
    assert status == 400


def test_unknown_domains_get_no_client_set_up(lab_platform: Lab):
    status, _, _ = https_get("autoconfig.voiron.fr", "/mail/config-v1.1.xml")
    assert status == 200
    # A name whose domain the platform does not serve (no certificate either: no SNI check).
    context = pebble_context(hostname_check=False)
    raw = socket.create_connection(("127.0.0.1", port("mail1", 443)), timeout=30)
    with context.wrap_socket(raw, server_hostname="autoconfig.example.org") as tls:
        tls.sendall(
            b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.org\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert tls.recv(64).startswith(b"HTTP/1.1 404")


def test_lab_ca_prints_the_root(lab_platform: Lab):
    run = fnl("lab", "ca")
    assert run.rc == 0 and run.stdout == acme_root() and "BEGIN CERTIFICATE" in run.stdout
    assert lab.ACME_DIRECTORY == "https://acme.lab:14000/dir"
