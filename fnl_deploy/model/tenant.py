"""The tenant file: one commune (or EPCI, school…) with its domains, people and resources."""

from __future__ import annotations

import datetime
import re
import unicodedata
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fnl_deploy.i18n import t
from fnl_deploy.model.types import (
    DisplayText,
    Domain,
    EmailAddress,
    Identifier,
    InseeCode,
    LocalPart,
    Siren,
    Siret,
    Size,
    fail,
)

#: The tenant file format this code reads; a change needs a migration (DESIGN.md §9).
SCHEMA_VERSION = 1

#: A key of ``access`` maps that means every person of the tenant.
EVERYONE = "everyone"


class Strict(BaseModel):
    """Base for every model: immutable, and unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganisationKind(StrEnum):
    commune = "commune"
    commune_nouvelle = "commune_nouvelle"
    epci = "epci"
    syndicat = "syndicat"
    ccas = "ccas"
    ecole = "ecole"
    sdis = "sdis"
    autre = "autre"


class Commune(Strict):
    """Who the tenant is: official name and public identifiers."""

    name: DisplayText = Field(description="Official name, accents and apostrophes allowed.")
    kind: OrganisationKind = Field(OrganisationKind.commune, description="Kind of organisation.")
    insee: InseeCode | None = Field(None, description='INSEE code (quote it: "01001").')
    siren: Siren | None = Field(None, description="SIREN, 9 digits.")
    siret: Siret | None = Field(None, description="SIRET of the town hall, 14 digits.")
    population: int | None = Field(None, ge=0, description="Municipal population.")

    @field_validator("siret")
    @classmethod
    def _siret_matches_siren(cls, siret: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model one) so the error points at the siret line.
        siren = info.data.get("siren")
        if siren and siret and not siret.startswith(siren):
            raise fail(t("siret.siren_mismatch", siret=siret, siren=siren))
        return siret


class DnsMode(StrEnum):
    hosted = "hosted"
    external = "external"


#: Owner names the platform writes itself (mail, agenda, client set-up): a commune's own
#: records may not take them, or a typo in a tenant file would break its mail.
RESERVED_RECORD_NAMES = frozenset(
    {
        "_dmarc",
        "_mta-sts",
        "mta-sts",
        "_smtp._tls",
        "autoconfig",
        "autodiscover",
        "_autodiscover._tcp",
        "_submissions._tcp",
        "_submission._tcp",
        "_imaps._tcp",
        "_imap._tcp",
        "_pop3s._tcp",
        "_pop3._tcp",
        "_caldavs._tcp",
        "_carddavs._tcp",
        "_caldav._tcp",
        "_carddav._tcp",
        "_xmpp-client._tcp",
        "_xmpp-server._tcp",
        "_xmpps-client._tcp",
        "_xmpp-server._tcp.salons",
        "_xmpp-server._tcp.upload",
        "salons",
        "upload",
    }
)
_RECORD_LABEL = re.compile(r"^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$")


class ExtraRecord(Strict):
    """A record the commune needs besides mail and agenda (its website, a verification)."""

    name: str = Field(
        description='Owner name relative to the domain: "@" for the domain itself, "www"…'
    )
    type: Literal["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA"]
    value: str = Field(
        description="As in a zone file; host names are absolute (example.org). TXT: the text."
    )
    ttl: int | None = Field(None, ge=60, le=86400, description="Default: the operator's TTL.")

    @field_validator("name")
    @classmethod
    def _owner_name(cls, name: str) -> str:
        name = name.strip().lower().removesuffix(".")
        if name == "@":
            return name
        labels = name.split(".")
        if not all(_RECORD_LABEL.match(label) for label in labels) or len(name) > 200:
            raise fail(t("record.bad_name", name=name))
        if name in RESERVED_RECORD_NAMES or name.endswith("._domainkey"):
            raise fail(t("record.reserved_name", name=name))
        return name

    @field_validator("value")
    @classmethod
    def _value_is_one_line(cls, value: str) -> str:
        if any(unicodedata.category(char)[0] == "C" for char in value) or not value.strip():
            raise fail(t("record.bad_value", value=value[:60]))
        return value.strip()

    @model_validator(mode="after")
    def _value_parses(self) -> ExtraRecord:
        # dnspython reads the value as Knot will; host names are taken as absolute.
        import dns.exception
        import dns.name
        import dns.rdata

        # Zone-file syntax (comments, grouping, directives, escapes) has no place in a value.
        forbidden = set('"\\') if self.type == "TXT" else set(";()$\\")
        found = sorted(forbidden & set(self.value))
        if found:
            raise fail(t("record.forbidden_char", char=found[0], value=self.value[:60]))
        if self.type == "TXT":
            if self.name == "@" and self.value.lower().startswith("v=spf1"):
                raise fail(t("record.reserved_spf"))
            return self
        if self.name == "@" and self.type in ("CNAME", "MX"):
            raise fail(t("record.reserved_apex", type=self.type))
        try:
            dns.rdata.from_text("IN", self.type, self.value, origin=dns.name.root)
        except (dns.exception.DNSException, ValueError) as exc:
            raise fail(t("record.unparsable", type=self.type, value=self.value, why=exc)) from exc
        return self


class TenantDns(Strict):
    """How the commune's zone is served, and its own records."""

    mode: DnsMode | None = Field(
        None,
        description="hosted: the platform serves the zone (DNSSEC); external: the admin "
        "enters the records at the registrar. Default from operator settings.",
    )
    records: tuple[ExtraRecord, ...] = Field(
        (), description="The commune's own records (its website…), served in hosted mode."
    )
    acme_redirect: bool = Field(
        False,
        description="The commune's own website (its @ record) redirects "
        "http://<domain>/.well-known/acme-challenge/ to http://mail.<domain>/: the platform "
        "then certifies the domain itself, which chat apps require.",
    )


class Quotas(Strict):
    """Storage limits, counted in bytes of stored mail, every folder included.

    ``mailbox`` limits each mailbox; ``tenant`` limits what all the tenant's mailboxes store
    together (quotas may add up to more than the cap, as disk space is shared).
    """

    mailbox: Size | None = Field(None, description="Default quota of each mailbox.")
    tenant: Size | None = Field(None, description="Cap on the sum of the tenant's quotas.")
    files: Size | None = Field(None, description="What the commune's shared files may hold.")


class Services(Strict):
    """Service switches for this tenant."""

    mail: bool = Field(True, description="Mail (IMAP, SMTP, webmail).")
    groupware: bool = Field(True, description="Agenda and address book (CalDAV, CardDAV, web).")
    activesync: bool = Field(False, description="Exchange ActiveSync for phones.")
    files: bool = Field(
        False,
        description="Shared files (WebDAV) at https://mail.<domain>/fichiers/: the folders "
        "below and a personal folder per person, same address and password.",
    )
    chat: bool = Field(
        False,
        description="Chat (XMPP): the chat address is the mail address, same password; "
        "rooms below, web chat at https://mail.<domain>/chat/.",
    )


class Person(Strict):
    """Someone who works for the commune: a login, a mailbox, optional aliases."""

    id: Identifier = Field(description="Short id used to refer to this person in the file.")
    name: DisplayText = Field(description="Full name as shown to others.")
    role: DisplayText | None = Field(None, description="Role, e.g. maire, secrétaire.")
    mailbox: LocalPart = Field(description="Address before the @, e.g. marie.martin.")
    aliases: tuple[LocalPart, ...] = Field((), description="Other addresses that reach them.")
    admin: bool = Field(False, description="May manage the commune's shared resources.")
    quota: Size | None = Field(None, description="Overrides the default mailbox quota.")
    former_addresses: tuple[LocalPart, ...] = Field(
        (),
        description="Earlier mailbox names of this person (a rename, a marriage): the mailbox "
        "keeps its mail, agenda and password, and these addresses keep reaching it.",
    )
    disabled: bool = Field(
        False,
        description="Login refused everywhere (IMAP, SMTP, web, DAV) while mail still "
        "arrives and is kept; back to false restores access with the same password.",
    )


class Right(StrEnum):
    """Rights on a shared mailbox.

    read: read and mark as read; write: also file, flag and delete messages;
    full: also send as the shared address and manage its folders.
    """

    read = "read"
    write = "write"
    full = "full"


class SharedMailbox(Strict):
    """A mailbox several people use, e.g. mairie@."""

    address: LocalPart
    name: DisplayText | None = Field(None, description="Display name, e.g. Mairie.")
    members: dict[Identifier, Right] = Field(default_factory=dict)
    quota: Size | None = None


class Alias(Strict):
    """An address that forwards to addresses of the tenant (or outside)."""

    address: LocalPart
    to: tuple[LocalPart | EmailAddress, ...] = Field(
        min_length=1,
        description="Local parts of this tenant's addresses, or full external addresses.",
    )


class MailingList(Strict):
    """A distribution list: mail to it reaches every member."""

    address: LocalPart
    name: DisplayText | None = None
    members: tuple[Identifier, ...] = Field(description="Ids of people.")
    external: tuple[EmailAddress, ...] = Field((), description="Members outside the commune.")


class CalendarKind(StrEnum):
    shared = "shared"
    room = "room"
    equipment = "equipment"


class Access(StrEnum):
    read = "read"
    write = "write"


class Calendar(Strict):
    """A shared agenda, or a bookable resource (room, vehicle, projector)."""

    id: Identifier | None = Field(None, description="Short id; derived from the name if absent.")
    name: DisplayText
    kind: CalendarKind = CalendarKind.shared
    access: dict[Identifier, Access] = Field(
        default_factory=dict,
        description=f"Per person id, or '{EVERYONE}': read or write (shared calendars).",
    )
    managers: tuple[Identifier, ...] = Field(
        (), description="People who approve bookings (rooms and equipment)."
    )
    capacity: int | None = Field(None, ge=1, description="Seats, for a room.")


class ChatRoom(Strict):
    """A chat room of the commune (e.g. the council's): members only, never listed to others."""

    id: Identifier | None = Field(
        None, description="Short id, the room's address before the @; derived from the name."
    )
    name: DisplayText
    description: DisplayText | None = Field(None, description="Shown under the room's name.")
    members: tuple[Identifier, ...] = Field(
        min_length=1,
        description=f"Ids of the people who may join, or '{EVERYONE}' for every person.",
    )
    moderators: tuple[Identifier, ...] = Field(
        (), description="People who may change the subject and remove a message or a person."
    )


#: The folder that holds each person's own folder in a commune's shared files.
PERSONAL_FOLDER = "Personnel"


class SharedFolder(Strict):
    """A folder of the commune's shared files, e.g. the council's documents."""

    name: DisplayText = Field(description="As people see it, e.g. Conseil municipal.")
    read: tuple[Identifier, ...] = Field(
        (), description=f"Ids of the people who may open it, or '{EVERYONE}'."
    )
    write: tuple[Identifier, ...] = Field(
        (), description=f"Ids of the people who may also add, change and delete, or '{EVERYONE}'."
    )

    @field_validator("name")
    @classmethod
    def _a_folder_name(cls, name: str) -> str:
        # A directory on the server and a segment of a URL: no separators, nothing hidden,
        # and not the personal folders' own name.
        if "/" in name or "\\" in name or name.startswith(".") or name == PERSONAL_FOLDER:
            raise fail(t("folder.bad_name", name=name, personal=PERSONAL_FOLDER))
        return name


class Tenant(Strict):
    """One tenant file (``tenants/<id>.yml``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="fnl-deploy tenant file",
        json_schema_extra={"$id": "https://fnl-deploy.invalid/schema/tenant-1.json"},
    )

    schema_: Literal[1] = Field(alias="schema", description="Tenant file format version.")
    commune: Commune
    domain: Domain = Field(description="Primary domain; accents allowed.")
    alias_domains: tuple[Domain, ...] = Field((), description="Other domains, same mailboxes.")
    placement: Identifier | None = Field(
        None, description="Server (inventory name) that hosts this tenant."
    )
    dns: TenantDns = TenantDns()
    quotas: Quotas = Quotas()
    services: Services = Services()
    people: tuple[Person, ...] = ()
    shared_mailboxes: tuple[SharedMailbox, ...] = ()
    aliases: tuple[Alias, ...] = ()
    lists: tuple[MailingList, ...] = ()
    calendars: tuple[Calendar, ...] = ()
    rooms: tuple[ChatRoom, ...] = Field((), description="Chat rooms (services.chat: true).")
    folders: tuple[SharedFolder, ...] = Field(
        (), description="Shared folders (services.files: true)."
    )
    offboarded: datetime.date | None = Field(
        None,
        description="Written by `fnl-deploy offboard` once the commune's data is archived: "
        "its accounts, domains and zone are disabled, its data kept until a purge.",
    )

    @field_validator("schema_", mode="before")
    @classmethod
    def _schema_is_a_number(cls, value: object) -> object:
        # Literal[1] alone would take true (== 1) for a version.
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(t("schema.not_number", supported=SCHEMA_VERSION))
        return value
