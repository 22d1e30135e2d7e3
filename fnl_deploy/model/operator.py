"""Operator settings (``group_vars/all/*.yml``, key ``fnl_operator``) and servers."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address

from pydantic import Field, model_validator

from fnl_deploy.model.tenant import DnsMode, Strict
from fnl_deploy.model.types import DisplayText, Domain, EmailAddress, Identifier, Size

GIB = 2**30


class Defaults(Strict):
    """Values a tenant file may leave out."""

    mailbox_quota: Size = Field(5 * GIB, description="Quota of each mailbox.")
    tenant_quota: Size = Field(10 * GIB, description="Cap on the sum of a tenant's quotas.")
    files_quota: Size = Field(10 * GIB, description="What a commune's shared files may hold.")
    server: Identifier | None = Field(
        None, description="Server for tenants without placement (default: the first server)."
    )
    dns_mode: DnsMode = Field(DnsMode.external, description="hosted or external.")


class DmarcPolicy(StrEnum):
    quarantine = "quarantine"
    reject = "reject"


class OperatorDns(Strict):
    """What every tenant zone carries."""

    nameservers: tuple[Domain, ...] = Field(
        (), description="Name servers of hosted zones (NS records)."
    )
    ttl: int = Field(3600, ge=60, le=86400, description="Default TTL of tenant records.")
    dmarc_policy: DmarcPolicy = Field(
        DmarcPolicy.quarantine, description="quarantine or reject (RCPNT asks for one of them)."
    )
    dmarc_reports: EmailAddress | None = Field(
        None, description="Where DMARC aggregate reports go (default dmarc@technical domain)."
    )
    tls_reports: EmailAddress | None = Field(
        None, description="Where TLS-RPT reports go (default tls-reports@technical domain)."
    )
    caa_issuers: tuple[Domain, ...] = Field(
        ("letsencrypt.org",), description="Certificate authorities allowed by CAA."
    )
    mta_sts_mode: str = Field("enforce", pattern="^(enforce|testing)$")
    technical_zone: DnsMode = Field(
        DnsMode.external,
        description="hosted: the platform's name servers also serve the technical domain "
        "(its servers, name servers and webmail); external: the operator serves it elsewhere.",
    )


MIB = 2**20


class ChatSettings(Strict):
    """The chat service (Prosody) of every commune with services.chat."""

    federation: bool = Field(
        False,
        description="Let the communes' people talk with other XMPP servers (port 5269). "
        "Off: chat stays between the platform's communes.",
    )
    archive_days: int = Field(
        365,
        ge=0,
        le=3650,
        description="Days the server keeps messages for history on every device and in "
        "rooms (XEP-0313); 0 keeps none.",
    )
    upload_limit: Size = Field(20 * MIB, description="Largest file a person may send in chat.")
    upload_days: int = Field(
        90, ge=1, le=3650, description="Days a file sent in chat stays downloadable."
    )


class Operator(Strict):
    """The shared-service operator running the platform."""

    name: DisplayText
    technical_domain: Domain = Field(description="The operator's own domain for host names.")
    contact: EmailAddress = Field(description="Administrative contact (CAA iodef, reports).")
    webmail_hostname: Domain | None = Field(
        None, description="Web interface host name (default webmail.<technical_domain>)."
    )
    hosting_country: str = Field(
        "FR", pattern="^[A-Z]{2}$", description="ISO country where the servers run (RCPNT)."
    )
    defaults: Defaults = Defaults()
    dns: OperatorDns = OperatorDns()
    chat: ChatSettings = ChatSettings()

    @model_validator(mode="after")
    def _fill_derived(self) -> Operator:
        # Frozen model: derived defaults are set once, here, so every later layer reads them.
        if self.webmail_hostname is None:
            object.__setattr__(self, "webmail_hostname", f"webmail.{self.technical_domain}")
        if self.dns.dmarc_reports is None or self.dns.tls_reports is None:
            dns = self.dns.model_copy(
                update={
                    "dmarc_reports": self.dns.dmarc_reports or f"dmarc@{self.technical_domain}",
                    "tls_reports": self.dns.tls_reports or f"tls-reports@{self.technical_domain}",
                }
            )
            object.__setattr__(self, "dns", dns)
        return self


#: EU and EEA member states, for the RCPNT "MX hosted in the EU" criterion.
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


class Server(Strict):
    """A server of the platform, from hosts.yml (group ``fnl_servers``)."""

    name: Identifier = Field(description="Inventory host name, used by tenant placement.")
    fqdn: Domain = Field(description="Public host name (MX target), host var fnl_fqdn.")
    storage: Size | None = Field(None, description="Mail storage available (host var fnl_storage).")
    ipv4: IPv4Address | None = Field(
        None,
        description="Public IPv4 address (host var fnl_ipv4): A records of hosted zones.",
    )
    nameserver: Domain | None = Field(
        None,
        description="Name server name this server answers as (host var fnl_nameserver), "
        "one of the operator's dns.nameservers; the first of them signs the zones.",
    )
