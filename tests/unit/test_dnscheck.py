"""The comparison behind `dns check`: each record ok, missing, wrong or pending, its fix, RCPNT."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace
from pathlib import Path

import pytest

from fnl_deploy import dnscheck
from fnl_deploy.deployment import Deployment, load_deployment
from fnl_deploy.dns import Record, domain_records, txt
from fnl_deploy.dnscheck import (
    NEEDS_FIX,
    Fix,
    Lookup,
    Status,
    check_records,
    gather,
    key,
    parse_resolver,
    rcpnt_criteria,
)
from fnl_deploy.errors import UsageError
from fnl_deploy.i18n import MESSAGES
from fnl_deploy.model.tenant import DnsMode, TenantDns
from tests.conftest import EXAMPLE

DOMAIN = "mairie-ambel.fr"
MX = "10 mail1.alpes-numerique.fr."
SPF = "v=spf1 mx -all"
WEB = "webmail.alpes-numerique.fr."


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return load_deployment(EXAMPLE)


@pytest.fixture
def records(deployment: Deployment) -> list[Record]:
    return domain_records(deployment, deployment.tenant("ambel"), DOMAIN)


@pytest.fixture
def external_records(deployment: Deployment) -> list[Record]:
    """Ambel's records had its DNS stayed at its registrar: CNAMEs to the webmail host."""
    entry = deployment.tenant("ambel")
    tenant = entry.tenant.model_copy(update={"dns": TenantDns(mode=DnsMode.external)})
    external = dataclasses.replace(deployment, tenants=(dataclasses.replace(entry, tenant=tenant),))
    return domain_records(external, external.tenants[0], DOMAIN)


def published(records: list[Record]) -> dict[tuple[str, str], Lookup]:
    """Answers exactly as a zone made from ``records`` would give them."""
    values: dict[tuple[str, str], list[str]] = {}
    for r in records:
        if not r.pending:
            values.setdefault(key(r.fqdn, r.type), []).append(r.registrar_value)
    return {k: Lookup(tuple(v)) for k, v in values.items()}


def edit(answers: dict, name: str, rtype: str, *values: str) -> dict:
    fqdn = DOMAIN if name == "@" else f"{name}.{DOMAIN}"
    return {**answers, key(fqdn, rtype): Lookup(tuple(values))}


def finding(records: list[Record], answers: dict, name: str, rtype: str) -> dnscheck.Finding:
    findings = [
        f
        for f in check_records(records, answers)
        if (f.record.name, f.record.type) == (name, rtype)
        and not (rtype == "TXT" and name == "@" and "spf" not in f.record.value)
    ]
    assert len(findings) == 1, findings
    return findings[0]


def not_ok(records: list[Record], answers: dict) -> list[tuple[str, str, Status]]:
    return [
        (f.record.name, f.record.type, f.status)
        for f in check_records(records, answers)
        if f.status is not Status.ok
    ]


# --- a complete zone ---------------------------------------------------------------------------


def test_a_complete_zone_is_ok_and_dkim_is_pending(records: list[Record]) -> None:
    findings = check_records(records, published(records))
    assert [f.record for f in findings] == records
    assert not_ok(records, published(records)) == [("<selector>._domainkey", "TXT", Status.pending)]
    assert not any(f.status in NEEDS_FIX for f in findings)
    assert Status.pending not in NEEDS_FIX


def test_the_pending_dkim_placeholder_is_never_queried(records: list[Record]) -> None:
    asked: list[tuple[str, str]] = []

    def ask(fqdn: str, rtype: str) -> Lookup:
        asked.append((fqdn, rtype))
        return published(records).get((fqdn, rtype), Lookup())

    answers = gather(records, ask)
    assert not any("_domainkey" in fqdn for fqdn, _ in asked)
    assert len(asked) == len(set(asked))  # one query per name and type
    assert (f"{DOMAIN}.", "MX") in answers
    # Only the expected A records are asked for: every CNAME was answered as such.
    expected_a = {(r.fqdn, "A") for r in records if r.type == "A"}
    assert {(f, rtype) for f, rtype in asked if rtype == "A"} == expected_a


def test_a_real_dkim_key_is_compared(records: list[Record]) -> None:
    dkim = Record(DOMAIN, "s2025._domainkey", "TXT", txt("v=DKIM1; k=rsa; p=ABCDEF"), 3600, "")
    both = [*records, dkim]
    answers = published(both)
    assert finding(both, answers, "s2025._domainkey", "TXT").status is Status.ok
    # Whitespace inside p= is not significant (long keys are often split when pasted).
    answers = edit(answers, "s2025._domainkey", "TXT", "v=DKIM1; k=rsa; p=ABC DEF")
    assert finding(both, answers, "s2025._domainkey", "TXT").status is Status.ok
    answers = edit(answers, "s2025._domainkey", "TXT", "v=DKIM1; k=rsa; p=OLDKEY")
    found = finding(both, answers, "s2025._domainkey", "TXT")
    assert found.status is Status.wrong and found.found == ("v=DKIM1; k=rsa; p=OLDKEY",)


# --- MX and the other exclusive types ----------------------------------------------------------


def test_mx_missing_gives_the_record_to_add(records: list[Record]) -> None:
    answers = edit(published(records), "@", "MX")
    mx = finding(records, answers, "@", "MX")
    assert mx.status is Status.missing
    assert mx.fixes == (Fix("add", "@", "MX", MX),)


def test_an_old_mx_left_in_place_must_be_removed(records: list[Record]) -> None:
    answers = edit(published(records), "@", "MX", MX, "20 mx.old-provider.fr.")
    mx = finding(records, answers, "@", "MX")
    assert mx.status is Status.wrong
    assert [i.code for i in mx.issues] == ["extra"]
    assert mx.fixes == (Fix("remove", "@", "MX", "20 mx.old-provider.fr."),)


def test_an_mx_elsewhere_is_replaced(records: list[Record]) -> None:
    answers = edit(published(records), "@", "MX", "10 mx.old-provider.fr.")
    mx = finding(records, answers, "@", "MX")
    assert mx.status is Status.wrong and mx.found == ("10 mx.old-provider.fr.",)
    assert mx.fixes == (
        Fix("remove", "@", "MX", "10 mx.old-provider.fr."),
        Fix("add", "@", "MX", MX),
    )


def test_names_compare_without_case(records: list[Record]) -> None:
    answers = edit(published(records), "@", "MX", "10 MAIL1.Alpes-Numerique.FR.")
    assert finding(records, answers, "@", "MX").status is Status.ok


def test_a_wrong_cname(external_records: list[Record]) -> None:
    records = external_records
    answers = edit(published(records), "autoconfig", "CNAME", "elsewhere.example.")
    cname = finding(records, answers, "autoconfig", "CNAME")
    assert cname.status is Status.wrong
    assert cname.fixes == (
        Fix("remove", "autoconfig", "CNAME", "elsewhere.example."),
        Fix("add", "autoconfig", "CNAME", WEB),
    )


def test_an_address_where_a_cname_belongs(external_records: list[Record]) -> None:
    records = external_records
    answers = edit(published(records), "autoconfig", "CNAME")
    answers = edit(answers, "autoconfig", "A", "192.0.2.80")
    cname = finding(records, answers, "autoconfig", "CNAME")
    assert cname.status is Status.wrong and [i.code for i in cname.issues] == ["not_cname"]
    assert cname.found == ("A 192.0.2.80",)
    assert cname.fixes == (
        Fix("remove", "autoconfig", "A", "192.0.2.80"),
        Fix("add", "autoconfig", "CNAME", WEB),
    )


def test_a_missing_srv(records: list[Record]) -> None:
    answers = edit(published(records), "_imaps._tcp", "SRV")
    srv = finding(records, answers, "_imaps._tcp", "SRV")
    assert srv.status is Status.missing
    assert srv.fixes == (Fix("add", "_imaps._tcp", "SRV", "0 1 993 mail1.alpes-numerique.fr."),)


def test_name_servers_of_a_hosted_zone(records: list[Record]) -> None:
    answers = edit(published(records), "@", "NS", "ns1.alpes-numerique.fr.")
    statuses = [
        (f.record.value, f.status) for f in check_records(records, answers) if f.record.type == "NS"
    ]
    assert statuses == [
        ("ns1.alpes-numerique.fr.", Status.ok),
        ("ns2.alpes-numerique.fr.", Status.missing),
    ]


def test_other_caa_issuers_are_tolerated_a_missing_one_is_not(records: list[Record]) -> None:
    answers = published(records)
    caa = answers[key(DOMAIN, "CAA")].values
    answers = edit(answers, "@", "CAA", *caa, '0 issue "sectigo.com"')
    assert not_ok(records, answers) == [("<selector>._domainkey", "TXT", Status.pending)]
    answers = edit(answers, "@", "CAA", '0 issue "sectigo.com"')
    assert [s for n, t_, s in not_ok(records, answers) if t_ == "CAA"] == [Status.missing] * 2


# --- SPF ---------------------------------------------------------------------------------------


def test_spf_among_other_txt_records_is_found(records: list[Record]) -> None:
    answers = edit(published(records), "@", "TXT", "google-site-verification=abc", SPF)
    assert finding(records, answers, "@", "TXT").status is Status.ok


def test_two_spf_records_keep_the_right_one(records: list[Record]) -> None:
    answers = edit(published(records), "@", "TXT", SPF, "v=spf1 a -all")
    spf = finding(records, answers, "@", "TXT")
    assert spf.status is Status.wrong
    assert [(i.code, i.value) for i in spf.issues] == [("spf_twice", "2")]
    assert spf.fixes == (Fix("remove", "@", "TXT", "v=spf1 a -all"),)


def test_two_wrong_spf_records_are_both_replaced(records: list[Record]) -> None:
    answers = edit(published(records), "@", "TXT", "v=spf1 a ~all", "v=spf1 ip4:192.0.2.1 -all")
    spf = finding(records, answers, "@", "TXT")
    assert [f.action for f in spf.fixes] == ["remove", "remove", "add"]
    assert spf.fixes[-1] == Fix("add", "@", "TXT", SPF)


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("v=spf1 mx ~all", ["spf_softfail"]),
        ("v=spf1 mx", ["spf_no_all"]),
        ("v=spf1 mx +all", ["spf_no_all"]),
        ("v=spf1 a -all", ["spf_no_mx"]),
        ("v=spf1 ip4:192.0.2.1", ["spf_no_all", "spf_no_mx"]),
        ("v=spf1 mx include:_spf.example.org -all", []),
        ("V=SPF1 MX -ALL", []),
    ],
)
def test_spf_mistakes(records: list[Record], value: str, codes: list[str]) -> None:
    spf = finding(records, edit(published(records), "@", "TXT", value), "@", "TXT")
    assert [i.code for i in spf.issues] == codes
    assert spf.status is (Status.wrong if codes else Status.ok)


def test_missing_spf(records: list[Record]) -> None:
    spf = finding(records, edit(published(records), "@", "TXT", "some=thing"), "@", "TXT")
    assert spf.status is Status.missing
    assert spf.fixes == (Fix("add", "@", "TXT", SPF),)


# --- DMARC and the other tagged TXT records ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("v=DMARC1; p=none; rua=mailto:x@example.org", ["dmarc_none"]),
        ("v=DMARC1; p=quarantine; pct=50", ["dmarc_pct"]),
        ("v=DMARC1; p=none; pct=20", ["dmarc_none", "dmarc_pct"]),
        ("v=DMARC1; p=block", ["dmarc_policy"]),
        ("v=DMARC1", ["dmarc_policy"]),
        # Stricter, or reports sent elsewhere: still what RCPNT asks for.
        ("v=DMARC1; p=reject", []),
        ("v=DMARC1;p=quarantine;pct=100;rua=mailto:dmarc@commune.fr", []),
    ],
)
def test_dmarc(records: list[Record], value: str, codes: list[str]) -> None:
    dmarc = finding(records, edit(published(records), "_dmarc", "TXT", value), "_dmarc", "TXT")
    assert [i.code for i in dmarc.issues] == codes
    assert dmarc.status is (Status.wrong if codes else Status.ok)
    if codes:
        assert dmarc.fixes[0] == Fix("remove", "_dmarc", "TXT", value)
        assert dmarc.fixes[1].value.startswith("v=DMARC1; p=quarantine; pct=100;")


def test_two_dmarc_records(records: list[Record]) -> None:
    answers = edit(published(records), "_dmarc", "TXT", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    dmarc = finding(records, answers, "_dmarc", "TXT")
    assert [i.code for i in dmarc.issues] == ["dmarc_twice"]


def test_a_stale_mta_sts_id_is_wrong_blanks_do_not_matter(records: list[Record]) -> None:
    expected = finding(records, published(records), "_mta-sts", "TXT").record.registrar_value
    compact = expected.replace("; ", ";")
    ok = finding(records, edit(published(records), "_mta-sts", "TXT", compact), "_mta-sts", "TXT")
    assert ok.status is Status.ok
    stale = "v=STSv1; id=20200101"
    wrong = finding(records, edit(published(records), "_mta-sts", "TXT", stale), "_mta-sts", "TXT")
    assert wrong.status is Status.wrong and [i.code for i in wrong.issues] == ["differs"]
    assert wrong.fixes == (
        Fix("remove", "_mta-sts", "TXT", stale),
        Fix("add", "_mta-sts", "TXT", expected),
    )


def test_an_unanswered_query_is_not_a_missing_record(records: list[Record]) -> None:
    answers = {**published(records), key(DOMAIN, "MX"): Lookup(error="timeout")}
    mx = finding(records, answers, "@", "MX")
    assert mx.status is Status.unanswered and mx.error == "timeout" and mx.fixes == ()
    assert Status.unanswered in NEEDS_FIX


# --- RCPNT -------------------------------------------------------------------------------------


def criteria(answers: dict, domain: str = DOMAIN, country: str = "FR") -> dict[str, bool]:
    found = rcpnt_criteria(domain, answers, country, ["mail1.alpes-numerique.fr"])
    return {c.code: c.met for c in found}


ALL_MET = {"extension": True, "mx": True, "spf": True, "dmarc": True, "eu_hosting": True}


def test_rcpnt_met_by_a_complete_zone(records: list[Record]) -> None:
    assert criteria(published(records)) == ALL_MET


@pytest.mark.parametrize(
    ("name", "rtype", "values", "failed"),
    [
        ("@", "MX", (), {"mx", "eu_hosting"}),
        ("@", "MX", ("0 .",), {"mx", "eu_hosting"}),  # null MX: accepts no mail
        ("@", "MX", ("10 mx.elsewhere.example.",), {"eu_hosting"}),
        ("@", "TXT", (SPF, "v=spf1 a -all"), {"spf"}),
        ("@", "TXT", (), {"spf"}),
        ("_dmarc", "TXT", ("v=DMARC1; p=none",), {"dmarc"}),
        ("_dmarc", "TXT", ("v=DMARC1; p=reject; pct=10",), {"dmarc"}),
        ("_dmarc", "TXT", (), {"dmarc"}),
    ],
)
def test_rcpnt_failures(
    records: list[Record], name: str, rtype: str, values: tuple[str, ...], failed: set[str]
) -> None:
    result = criteria(edit(published(records), name, rtype, *values))
    assert {k for k, met in result.items() if not met} == failed


def test_rcpnt_extension_and_country(records: list[Record]) -> None:
    answers = published(records)
    assert criteria(answers, country="US")["eu_hosting"] is False
    assert criteria(answers, country="DE")["eu_hosting"] is True
    moved = {(k[0].replace(DOMAIN, "mairie-ambel.com"), k[1]): v for k, v in answers.items()}
    assert criteria(moved, domain="mairie-ambel.com")["extension"] is False
    breton = {(k[0].replace(DOMAIN, "ambel.bzh"), k[1]): v for k, v in answers.items()}
    assert criteria(breton, domain="ambel.bzh") == ALL_MET


# --- resolver argument, messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_resolver(text: str, parsed: tuple[str, int]) -> None:
    assert parse_resolver(text) == parsed


@pytest.mark.parametrize("text", ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", ":53", "[::1]x"])
def test_parse_resolver_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_resolver(text)


def test_every_message_the_check_builds_exists() -> None:
    source = Path(dnscheck.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'Issue\(\s*"([a-z_]+)"', source))
    codes |= {"spf_twice", "dmarc_twice", "twice"}  # chosen from a table
    assert {"extra", "not_cname", "dmarc_none", "spf_softfail", "differs"} <= codes
    keys = {f"dnscheck.issue.{c}" for c in codes}
    keys |= {f"dnscheck.status.{s.value}" for s in Status}
    keys |= {f"dnscheck.rcpnt.{c}" for c in ALL_MET}
    keys |= {f"dnscheck.error.{e}" for e in ("timeout", "servfail", "unreachable", "other")}
    keys |= {"dnscheck.add", "dnscheck.remove", "dnscheck.found"}
    assert sorted(keys - set(MESSAGES)) == []


def test_a_record_with_a_pending_flag_is_never_compared(records: list[Record]) -> None:
    fake = replace(records[0], pending=True)
    (found,) = check_records([fake], {})
    assert found.status is Status.pending and found.fixes == ()
