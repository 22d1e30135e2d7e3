"""Role dns: Knot serves the hosted zones, signed, and the DS the role returns matches."""

import json

ZONES = ["example.org", "xn--chevis-9ua.fr"]


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def test_knot_runs_with_a_checked_configuration(host):
    assert host.service("knot").is_running
    assert "Configuration is valid" in run(host, "knotc conf-check")


def test_zones_answer_signed(host):
    for zone in ZONES:
        out = run(host, f"kdig @127.0.0.1 {zone} SOA +dnssec +norec")
        assert "status: NOERROR" in out and "Flags: qr aa;" in out, out  # authoritative
        assert "RRSIG\tSOA 13 " in out, out  # signed, ECDSA P-256 (algorithm 13)


def test_the_dkim_key_reported_in_the_run_is_published(host):
    out = run(host, "kdig @127.0.0.1 fnl202611._domainkey.example.org TXT +short")
    assert "v=DKIM1; k=rsa; p=MFkw" in out


def test_nsec3_without_extra_iterations_or_salt(host):
    out = run(host, "kdig @127.0.0.1 example.org NSEC3PARAM +short")
    assert out.split() == ["1", "0", "0", "-"]


def test_the_returned_ds_matches_the_key_signing_key(host):
    ds = json.loads(run(host, "cat /var/lib/fnl-deploy-molecule/ds.json"))
    assert sorted(ds) == ZONES
    for zone in ZONES:
        (value,) = ds[zone]
        tag, algorithm, digest_type, _ = value.split()
        assert (algorithm, digest_type) == ("13", "2")
        dnskeys = run(host, f"kdig @127.0.0.1 {zone} DNSKEY +short +multiline")
        ksk = next(line for line in dnskeys.splitlines() if "KSK" in line)
        assert ksk.endswith(f"id = {tag}"), dnskeys


def test_the_returned_ds_is_what_keymgr_prints_with_knots_configuration(host):
    # The module reads the KASP database alone (keymgr -D): it must find the keys that a
    # keymgr reading /etc/knot/knot.conf finds, SHA-256 digests only.
    ds = json.loads(run(host, "cat /var/lib/fnl-deploy-molecule/ds.json"))
    for zone in ZONES:
        printed = [line.split()[2:] for line in run(host, f"keymgr {zone} ds").splitlines()]
        assert ds[zone] == [" ".join(v) for v in printed if v[2] == "2"], printed


def test_zone_files_are_ours_and_carry_no_serial_to_manage(host):
    # Knot numbers versions itself (dateserial) and never rewrites our files.
    text = run(host, "cat /var/lib/knot/fnl/example.org.zone")
    assert " 1 3600 900 1209600 300" in text
    serial = run(host, "kdig @127.0.0.1 example.org SOA +short").split()[2]
    assert len(serial) == 10 and serial.startswith("20")


def test_transfers_only_to_the_secondary(host):
    result = host.run("kdig @127.0.0.1 example.org AXFR")
    assert "server replied with error 'NOTAUTH'" in result.stdout + result.stderr
