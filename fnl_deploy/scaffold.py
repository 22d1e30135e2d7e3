"""New tenant files from a commented template, prefilled from the official commune list."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jinja2 import Environment, StrictUndefined
from pydantic_core import PydanticCustomError

from fnl_deploy.errors import UsageError
from fnl_deploy.i18n import t
from fnl_deploy.model.types import to_a_label, to_u_label
from fnl_deploy.paths import share_dir


@dataclass(frozen=True)
class Commune:
    """A row of the official commune list (INSEE COG, via Etalab's decoupage-administratif)."""

    insee: str
    name: str
    siren: str
    departement: str
    population: int
    epci: str


def find_commune(insee: str) -> Commune:
    with resources.files("fnl_deploy.data").joinpath("communes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["insee"] == insee:
                return Commune(
                    insee=row["insee"],
                    name=row["nom"],
                    siren=row["siren"],
                    departement=row["departement"],
                    population=int(row["population"] or 0),
                    epci=row["epci_nom"],
                )
    raise UsageError(t("tenant.insee_unknown", code=insee))


def suggest_domain(name: str) -> str:
    """``L'Abergement-Clémenciat`` → ``abergement-clemenciat.fr`` (ASCII, the usual choice)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    ascii_name = re.sub(r"^(l|d)'", "", ascii_name)
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:60] + ".fr"


def file_id(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:63] or "tenant"


def render_tenant(
    name: str,
    domain: str,
    commune: Commune | None = None,
    placement: str | None = None,
) -> str:
    env = Environment(keep_trailing_newline=True, undefined=StrictUndefined, autoescape=False)
    template_text = (share_dir("templates") / "tenant.yml.j2").read_text(encoding="utf-8")
    return env.from_string(template_text).render(
        name=name,
        domain=to_u_label(to_a_label(domain)),
        commune=commune,
        placement=placement,
    )


def new_tenant(
    root: Path,
    name: str | None,
    domain: str | None,
    insee: str | None,
    placement: str | None,
) -> Path:
    """Write ``tenants/<id>.yml``; never overwrite an existing file."""
    commune = find_commune(insee) if insee else None
    name = name or (commune.name if commune else None)
    if not name:
        raise UsageError(t("tenant.need_name"))
    if not domain:
        if not commune:
            raise UsageError(t("tenant.need_domain"))
        domain = suggest_domain(commune.name)
    try:
        to_a_label(domain)
    except PydanticCustomError as exc:
        raise UsageError(f"--domain: {exc.message()}") from exc
    path = root / "tenants" / f"{file_id(name)}.yml"
    if path.exists():
        raise UsageError(t("tenant.exists", path=path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_tenant(name, domain, commune, placement), encoding="utf-8")
    write_schema(root)
    return path


def write_schema(root: Path) -> Path:
    """Keep ``<root>/tenant.schema.json`` current: tenant files point editors at it."""
    from fnl_deploy.commands import schema_json  # late: commands imports the whole model

    path = root / "tenant.schema.json"
    text = json.dumps(schema_json(), ensure_ascii=False, indent=2) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path
