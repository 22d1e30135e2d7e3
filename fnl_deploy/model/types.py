"""Validated scalar types: domains (IDNA 2008), address local parts, ids, sizes, safe text.

Everything a config file, SQL statement or shell could later see is checked here, so no
newline, NUL, quote, shell metacharacter or path separator can reach a role.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import idna
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from fnl_deploy.i18n import t


def fail(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``message`` (no "Value error," prefix)."""
    return PydanticCustomError("fnl", "{message}", {"message": message})


# --- Display text -------------------------------------------------------------------------

# Characters that have a meaning to a shell, a config parser, SQL or a path. Display names
# are only ever handed to services as data, but refusing these keeps every later layer simple.
_FORBIDDEN_TEXT = set('"`$\\;|&<>{}[]*?!#=%^~/')
_MAX_TEXT = 120


def _display_text(value: str) -> str:
    if not isinstance(value, str):
        raise fail(t("field.type", expected="text", got=type(value).__name__))
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise fail(t("text.empty"))
    for char in text:
        if char in _FORBIDDEN_TEXT or unicodedata.category(char)[0] == "C":
            raise fail(t("text.forbidden_char", char=repr(char)))
    if len(text) > _MAX_TEXT:
        raise fail(t("text.too_long", max=_MAX_TEXT))
    # French names carry apostrophes (L'Abergement-Clémenciat). The typographic apostrophe
    # is correct French and is not a quote to any parser, so it is what reaches the roles.
    return text.replace("'", "\u2019")


DisplayText = Annotated[
    str,
    AfterValidator(_display_text),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": _MAX_TEXT}),
]


# --- Identifiers ----------------------------------------------------------------------------

_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _identifier(value: str) -> str:
    if not _ID.match(value):
        raise fail(t("id.invalid", value=value))
    return value


Identifier = Annotated[
    str, AfterValidator(_identifier), WithJsonSchema({"type": "string", "pattern": _ID.pattern})
]


# --- Address local parts --------------------------------------------------------------------

_LOCAL = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
#: Created by the platform for every domain (RFC 2142) or used by the mail system itself.
RESERVED_LOCAL_PARTS = frozenset(
    {"postmaster", "abuse", "hostmaster", "mailer-daemon", "root", "nobody"}
)


def _local_part(value: str) -> str:
    if "@" in value:
        raise fail(t("local.with_domain", local=value.split("@", 1)[0]))
    if value != value.lower() and _LOCAL.match(value.lower()):
        raise fail(t("local.uppercase", value=value))
    if not _LOCAL.match(value) or ".." in value:
        raise fail(t("local.invalid", value=value))
    if value in RESERVED_LOCAL_PARTS:
        raise fail(t("rule.reserved_local", value=value))
    return value


LocalPart = Annotated[
    str,
    AfterValidator(_local_part),
    WithJsonSchema({"type": "string", "pattern": _LOCAL.pattern, "maxLength": 64}),
]


# --- Domains --------------------------------------------------------------------------------


def _scripts(label: str) -> set[str]:
    """Unicode scripts of the letters in a label, approximated by the character name."""
    scripts = set()
    for char in label:
        if char.isalpha():
            name = unicodedata.name(char, "")
            scripts.add(name.split(" ")[0] if name else "UNKNOWN")
    return scripts


def _a_label_length(label: str) -> int:
    """Length of a label as DNS stores it: the A-label (xn--…) for a non-ASCII label."""
    if label.isascii():
        return len(label)
    return len("xn--") + len(label.encode("punycode"))


def to_a_label(value: str) -> str:
    """Validate a domain under IDNA 2008 and return it as lower-case A-labels.

    Accepts U-labels (``échevis.fr``) and A-labels (``xn--chevis-bva.fr``); refuses bad
    punycode, mixed scripts, over-long labels or names and leading or trailing hyphens.
    """
    if not isinstance(value, str):
        raise fail(t("field.type", expected="domain", got=type(value).__name__))
    domain = unicodedata.normalize("NFC", value.strip()).rstrip(".")
    for char in domain:
        if unicodedata.category(char)[0] in "CZ" or char in _FORBIDDEN_TEXT:
            raise fail(t("text.forbidden_char", char=repr(char)))
    labels = domain.split(".")
    if any(not label for label in labels):
        raise fail(t("domain.empty_label", domain=value))
    if len(labels) < 2:
        raise fail(t("domain.single_label", domain=value))
    a_labels = []
    for label in labels:
        lowered = label.lower()
        # Our own checks first: they explain in the admin's terms what idna would only name.
        if lowered.startswith("-") or lowered.endswith("-"):
            raise fail(t("domain.hyphen", label=label))
        if lowered[2:4] == "--" and not lowered.startswith("xn--"):
            raise fail(t("domain.hyphen34", label=label))
        length = _a_label_length(lowered)
        if length > 63:
            raise fail(t("domain.label_too_long", label=label, length=length))
        if lowered.startswith("xn--"):
            try:
                u_label = idna.decode(lowered)
                a_label = idna.encode(u_label).decode("ascii")
            except (idna.IDNAError, UnicodeError) as exc:
                raise fail(t("domain.bad_alabel", label=label, detail=exc)) from exc
            if a_label != lowered:
                raise fail(t("domain.bad_alabel", label=label, detail="not canonical"))
        else:
            u_label = lowered
            try:
                a_label = idna.encode(lowered, uts46=False).decode("ascii")
            except idna.InvalidCodepoint as exc:
                code = re.search(r"U\+([0-9A-Fa-f]{4,6})", str(exc))
                if code is None:
                    raise fail(t("domain.idna", domain=value, detail=exc)) from exc
                char = chr(int(code.group(1), 16))
                raise fail(
                    t("domain.bad_char", label=label, char=repr(char), code=f"U+{code.group(1)}")
                ) from exc
            except idna.IDNAError as exc:
                raise fail(t("domain.idna", domain=value, detail=exc)) from exc
        scripts = _scripts(u_label)
        if len(scripts) > 1:
            raise fail(t("domain.mixed_scripts", label=label, scripts=", ".join(sorted(scripts))))
        a_labels.append(a_label)
    if a_labels[-1].isdigit():
        raise fail(t("domain.numeric_tld", domain=value))
    result = ".".join(a_labels)
    if len(result) > 253:
        raise fail(t("domain.too_long", length=len(result)))
    return result


def to_u_label(a_label_domain: str) -> str:
    """The human form of an A-label domain, for display only."""
    try:
        return idna.decode(a_label_domain)
    except idna.IDNAError:
        return a_label_domain


Domain = Annotated[
    str,
    AfterValidator(to_a_label),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 253,
            "description": "Domain name; accents allowed (stored as A-labels, IDNA 2008).",
        }
    ),
]


# --- E-mail address (external, e.g. operator contact) -------------------------------------


def _email(value: str) -> str:
    if not isinstance(value, str) or value.count("@") != 1:
        raise fail(t("local.invalid", value=value))
    local, domain = value.split("@")
    if not _LOCAL.match(local) or ".." in local:
        raise fail(t("local.invalid", value=local))
    return f"{local}@{to_a_label(domain)}"


EmailAddress = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "description": "An e-mail address."}),
]


# --- Sizes ----------------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([A-Za-z]*)\s*$")
_UNITS = {
    "": 1, "b": 1, "o": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "ko": 10**3, "mo": 10**6, "go": 10**9, "to": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
    "kio": 2**10, "mio": 2**20, "gio": 2**30, "tio": 2**40,
}  # fmt: skip


def parse_size(value: object) -> int:
    """Bytes from ``5 GiB``, ``500 MiB``, ``2 Go`` (French octets) or a plain integer."""
    if isinstance(value, bool):
        raise fail(t("size.invalid", value=value))
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        unit = match.group(2).lower() if match else None
        if not match or unit not in _UNITS:
            raise fail(t("size.invalid", value=value))
        size = int(float(match.group(1).replace(",", ".")) * _UNITS[unit])
    if size <= 0:
        raise fail(t("size.zero"))
    return size


_BINARY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
_DECIMAL = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3))


def format_size(size: int) -> str:
    """A size as an admin wrote it: 5368709120 → ``5 GiB``, 2000000000 → ``2 GB``.

    Only the largest unit that fits is used, so no message says ``1953125 KiB``.
    """
    for units in (_BINARY, _DECIMAL):
        unit, factor = next(((u, f) for u, f in units if size >= f), ("B", 1))
        if size % factor == 0:
            return f"{size // factor} {unit}"
    unit, factor = next(((u, f) for u, f in _BINARY if size >= f), ("B", 1))
    return f"{size / factor:.1f} {unit}"


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*\d+(?:[.,]\d+)?\s*[A-Za-z]*\s*$"},
                {"type": "integer", "minimum": 1},
            ],
            "description": "A size: 5 GiB, 500 MiB, 2 Go (bytes if a bare number).",
            "examples": ["5 GiB", "500 MiB"],
        }
    ),
]


# --- French public identifiers ------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


def _insee(value: object) -> str:
    text = str(value) if not isinstance(value, bool) else ""
    if isinstance(value, int) and len(text) == 4:
        # YAML read 01001 as the number 1001: 4 digits means a lost leading zero.
        raise fail(t("insee.lost_zero", value=value))
    if not _INSEE.match(text):
        raise fail(t("insee.invalid", value=value))
    return text


InseeCode = Annotated[
    str, BeforeValidator(_insee), WithJsonSchema({"type": "string", "pattern": _INSEE.pattern})
]


def _siren(value: object) -> str:
    text = str(value).replace(" ", "") if not isinstance(value, bool) else ""
    if not (len(text) == 9 and text.isdigit() and luhn_ok(text)):
        raise fail(t("siren.invalid", value=value))
    return text


def _siret(value: object) -> str:
    text = str(value).replace(" ", "") if not isinstance(value, bool) else ""
    # La Poste's establishments (SIREN 356000000) use a different key; they are not communes.
    if not (len(text) == 14 and text.isdigit() and luhn_ok(text)):
        raise fail(t("siret.invalid", value=value))
    return text


Siren = Annotated[
    str, BeforeValidator(_siren), WithJsonSchema({"type": "string", "pattern": r"^\d{9}$"})
]
Siret = Annotated[
    str, BeforeValidator(_siret), WithJsonSchema({"type": "string", "pattern": r"^\d{14}$"})
]
