"""Validated scalar types: domains (IDNA 2008), local parts, ids, sizes, identifiers, text."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from fnl_deploy.model.types import (
    _display_text,
    _identifier,
    _insee,
    _local_part,
    _siren,
    _siret,
    format_size,
    luhn_ok,
    parse_size,
    to_a_label,
    to_u_label,
)

GIB = 2**30


def error_of(function, value) -> str:
    with pytest.raises(PydanticCustomError) as caught:
        function(value)
    return caught.value.message()


# --- Domains --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "a_label"),
    [
        ("voiron.fr", "voiron.fr"),
        ("échevis.fr", "xn--chevis-9ua.fr"),
        ("Échevis.FR", "xn--chevis-9ua.fr"),  # upper case is folded before IDNA
        ("abergement-clémenciat.fr", "xn--abergement-clmenciat-n2b.fr"),
        ("xn--chevis-9ua.fr", "xn--chevis-9ua.fr"),  # A-label kept as is
        ("XN--CHEVIS-9UA.FR", "xn--chevis-9ua.fr"),
        ("echevis.fr.", "echevis.fr"),  # root dot dropped
        ("e\u0301chevis.fr", "xn--chevis-9ua.fr"),  # decomposed accent normalised to NFC
        ("straße.de", "xn--strae-oqa.de"),  # IDNA 2008: ß is a letter, not "ss"
        ("ab.xn--p1ai", "ab.xn--p1ai"),
    ],
)
def test_domain_to_a_label(given: str, a_label: str) -> None:
    assert to_a_label(given) == a_label


@pytest.mark.parametrize("domain", ["échevis.fr", "abergement-clémenciat.fr", "straße.de"])
def test_a_label_round_trip(domain: str) -> None:
    a_label = to_a_label(domain)
    assert a_label.isascii()
    assert to_u_label(a_label) == domain
    assert to_a_label(to_u_label(a_label)) == a_label == to_a_label(a_label)


def test_label_limit_is_63_counted_on_the_a_label() -> None:
    assert to_a_label("a" * 63 + ".fr") == "a" * 63 + ".fr"
    assert "64 characters" in error_of(to_a_label, "a" * 64 + ".fr")
    assert "66 characters long in DNS" in error_of(to_a_label, "é" * 60 + ".fr")
    accented = "é" * 30  # short as text, over 63 octets once encoded
    assert len(accented) < 63
    assert "at most 63" in error_of(to_a_label, accented * 2 + ".fr")


def test_domain_limit_is_253_counted_on_the_a_labels() -> None:
    label = "a" * 63
    ok = ".".join([label, label, label, "a" * 58]) + ".fr"  # 253
    assert len(ok) == 253 and to_a_label(ok) == ok
    too_long = ".".join([label, label, label, "a" * 59]) + ".fr"
    assert error_of(to_a_label, too_long) == "domain is 254 characters long in DNS (at most 253)"
    # Short as text, long in DNS: a label of 28 accented letters is a 39-octet A-label.
    label = ("éèêëàâäîïôöùûüç" * 2)[:28]
    idn = ".".join([label] * 7) + ".fr"
    assert len(idn) < 253
    assert "at most 253" in error_of(to_a_label, idn)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("-echevis.fr", "label '-echevis' starts or ends with a hyphen"),
        ("echevis-.fr", "label 'echevis-' starts or ends with a hyphen"),
        ("echevis.-fr", "label '-fr' starts or ends with a hyphen"),
        ("ec--hevis.fr", "label 'ec--hevis' has '--' in 3rd and 4th position"),
        ("xn--zz.fr", "label 'xn--zz' is not a valid A-label (xn--…): Invalid A-label"),
        ("xn--cafe-yvc.fr", "Normalization Form C"),  # decodes to e + combining accent
        ("xn--abc-.fr", "starts or ends with a hyphen"),
        ("p\u0430ypal.fr", "mixes scripts (CYRILLIC, LATIN)"),
        ("xn--pypal-4ve.fr", "mixes scripts (CYRILLIC, LATIN)"),  # the same, as an A-label
        ("mairie_echevis.fr", "contains '_' (U+005F)"),
        ("ｅｃｈｅｖｉｓ.fr", "U+FF45"),  # full-width letters
        ("echevis..fr", "has an empty label"),
        (".echevis.fr", "has an empty label"),
        ("fr", "needs at least two labels"),
        ("192.168.0.1", "cannot be numeric"),
        ("echevis;id.fr", "forbidden character ';'"),
        ("$(id).fr", "forbidden character '$'"),
        ("`id`.fr", "forbidden character '`'"),
        ("a|b.fr", "forbidden character '|'"),
        ("../etc.fr", "forbidden character '/'"),
        ("echevis.fr\nevil.fr", "forbidden character '\\n'"),
        ("eche vis.fr", "forbidden character ' '"),
        ("eche\x00vis.fr", "forbidden character '\\x00'"),
        ("eche\u200bvis.fr", "forbidden character '\\u200b'"),  # zero-width space
    ],
)
def test_bad_domains(domain: str, message: str) -> None:
    assert message in error_of(to_a_label, domain)


def test_u_label_of_a_broken_a_label_is_left_alone() -> None:
    assert to_u_label("xn--zz.fr") == "xn--zz.fr"


# --- Local parts and ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "local", ["marie.martin", "m", "secretariat-mairie", "a_b", "elus2026", "a" * 64]
)
def test_good_local_parts(local: str) -> None:
    assert _local_part(local) == local


@pytest.mark.parametrize(
    ("local", "message"),
    [
        ("Marie.Martin", "has upper-case letters"),
        ("marie@echevis.fr", "write only the part before @ ('marie')"),
        ("postmaster", "reserved for the platform"),
        ("abuse", "reserved for the platform"),
        ("mailer-daemon", "reserved for the platform"),
        ("marie..martin", "no two dots in a row"),
        (".marie", "not a valid address local part"),
        ("marie.", "not a valid address local part"),
        ("élodie", "not a valid address local part"),
        ("a;b", "not a valid address local part"),
        ("$(id)", "not a valid address local part"),
        ("../../etc/passwd", "not a valid address local part"),
        ("a b", "not a valid address local part"),
        ("a\nb", "not a valid address local part"),
        ("a" * 65, "not a valid address local part"),
        ("", "not a valid address local part"),
    ],
)
def test_bad_local_parts(local: str, message: str) -> None:
    assert message in error_of(_local_part, local)


def test_ids() -> None:
    assert _identifier("mmartin") == "mmartin"
    assert _identifier("a" * 32) == "a" * 32
    for bad in ("Marie", "1abc", "marie.martin", "a" * 33, "", "a b"):
        assert "is not a valid id" in error_of(_identifier, bad)


# --- Sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("5 GiB", 5 * GIB),
        ("500 MiB", 500 * 2**20),
        ("2 Go", 2 * 10**9),
        ("2 Gio", 2 * GIB),
        ("1,5 GiB", 3 * GIB // 2),  # French decimal comma
        ("1.5 GiB", 3 * GIB // 2),
        ("10GB", 10 * 10**9),
        ("2 TiB", 2 * 2**40),
        ("1024", 1024),
        (4096, 4096),
        ("  5 gib ", 5 * GIB),
    ],
)
def test_sizes(given: object, size: int) -> None:
    assert parse_size(given) == size


@pytest.mark.parametrize("given", ["5 GB2", "5 gigas", "GiB", "5 G B", "-1 GiB", "", True, "1e3"])
def test_bad_sizes(given: object) -> None:
    assert "is not a size" in error_of(parse_size, given)


@pytest.mark.parametrize("given", [0, "0", "0 GiB", "0.0001 B"])
def test_zero_size(given: object) -> None:
    assert error_of(parse_size, given) == "size must be greater than zero"


def test_format_size() -> None:
    assert format_size(5 * GIB) == "5 GiB"
    assert format_size(500 * 2**20) == "500 MiB"
    assert format_size(2 * 10**9) == "2 GB"  # written "2 Go"
    assert format_size(1536 * 2**20) == "1.5 GiB"
    assert format_size(2**30 + 1) == "1.0 GiB"
    assert format_size(100) == "100 B"


# --- French public identifiers --------------------------------------------------------------


def test_luhn() -> None:
    assert luhn_ok("213803836")  # Saint-Étienne-de-Crossey
    assert luhn_ok("210100012")
    assert not luhn_ok("213803837")
    assert luhn_ok("21010001200009")


def test_siren() -> None:
    assert _siren("213803836") == "213803836"
    assert _siren(213803836) == "213803836"  # written unquoted
    assert _siren("213 803 836") == "213803836"  # written the way INSEE prints it
    for bad in ("213803837", "21380383", "2138038360", "21380383a", True):
        assert "is not a valid SIREN" in error_of(_siren, bad)


def test_siret() -> None:
    assert _siret("21010001200009") == "21010001200009"
    for bad in ("21010001200010", "2101000120000", True):
        assert "is not a valid SIRET" in error_of(_siret, bad)


def test_insee() -> None:
    assert _insee("01001") == "01001"
    assert _insee("2A004") == "2A004"  # Corsica
    assert _insee(38383) == "38383"
    assert error_of(_insee, 1001) == (
        '1001 was read as a number and lost its leading zero; quote it: insee: "01001"'
    )
    for bad in ("1001", "380080", "2C004", True):
        assert "is not an INSEE code" in error_of(_insee, bad)


# --- Display text -----------------------------------------------------------------------------


def test_apostrophe_becomes_typographic() -> None:
    assert _display_text("L'Abergement-Clémenciat") == "L\u2019Abergement-Clémenciat"
    assert _display_text("L\u2019Isle-d\u2019Abeau") == "L\u2019Isle-d\u2019Abeau"


def test_display_text_is_normalised_and_trimmed() -> None:
    assert _display_text("  E\u0301chevis ") == "Échevis"


@pytest.mark.parametrize("char", [*'"`$\\;|&<>{}[]*?!#=%^~/', "\n", "\t", "\x00", "\u202e"])
def test_display_text_refuses(char: str) -> None:
    assert "contains a forbidden character" in error_of(_display_text, f"Mairie{char}x")


def test_display_text_limits() -> None:
    assert error_of(_display_text, "   ") == "must not be empty"
    assert "longer than 120" in error_of(_display_text, "a" * 121)
    assert _display_text("a" * 120) == "a" * 120
