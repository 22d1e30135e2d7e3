"""The tenant file: one commune (or EPCI, school…) with its domains, people and resources."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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


class TenantDns(Strict):
    """How the commune's zone is served."""

    mode: DnsMode | None = Field(
        None,
        description="hosted: the platform serves the zone (DNSSEC); external: the admin "
        "enters the records at the registrar. Default from operator settings.",
    )


class Quotas(Strict):
    """Storage limits, counted in bytes of stored mail, every folder included.

    ``mailbox`` limits each mailbox; ``tenant`` limits what all the tenant's mailboxes store
    together (quotas may add up to more than the cap, as disk space is shared).
    """

    mailbox: Size | None = Field(None, description="Default quota of each mailbox.")
    tenant: Size | None = Field(None, description="Cap on the sum of the tenant's quotas.")


class Services(Strict):
    """Service switches for this tenant."""

    mail: bool = Field(True, description="Mail (IMAP, SMTP, webmail).")
    groupware: bool = Field(True, description="Agenda and address book (CalDAV, CardDAV, web).")
    activesync: bool = Field(False, description="Exchange ActiveSync for phones.")


class Person(Strict):
    """Someone who works for the commune: a login, a mailbox, optional aliases."""

    id: Identifier = Field(description="Short id used to refer to this person in the file.")
    name: DisplayText = Field(description="Full name as shown to others.")
    role: DisplayText | None = Field(None, description="Role, e.g. maire, secrétaire.")
    mailbox: LocalPart = Field(description="Address before the @, e.g. marie.martin.")
    aliases: tuple[LocalPart, ...] = Field((), description="Other addresses that reach them.")
    admin: bool = Field(False, description="May manage the commune's shared resources.")
    quota: Size | None = Field(None, description="Overrides the default mailbox quota.")


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

    @field_validator("schema_", mode="before")
    @classmethod
    def _schema_is_a_number(cls, value: object) -> object:
        # Literal[1] alone would take true (== 1) for a version.
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(t("schema.not_number", supported=SCHEMA_VERSION))
        return value
