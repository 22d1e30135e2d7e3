"""Generate a synthetic deployment directory of N real communes (~10 mailboxes each).

Usage: python bench/generate.py OUTPUT_DIR --communes 1000 [--servers 2]

Communes come from the official list (accents, apostrophes), taken in a fixed order so
that two runs produce the same files. Each gets people, aliases, a shared mailbox, a list
and a room, and is placed on one of the servers in turn.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
from importlib import resources
from pathlib import Path

import yaml

FIRST_NAMES = ["Marie", "Jean", "Élodie", "François", "Léa", "Noël", "Zoé", "Jérôme", "Anaïs"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Lefèvre", "Girard", "Bonnet", "Mercier", "Faure"]
ROLES = ["maire", "adjoint", "secrétaire de mairie", "agent", "conseillère", "conseiller"]


class _Dumper(yaml.SafeDumper):
    """Quote digit-only strings (INSEE codes, SIREN): YAML 1.2 would read 01001 as 1001."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if value.isdigit() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False)


#: Communes are sampled once, every n-th of this many, so that N communes are always the
#: first N of a larger platform: a benchmark grows a platform from 10 to 1,000 and beyond
#: without dropping any commune it already holds.
SAMPLE = 2000


def communes(count: int) -> list[dict[str, str]]:
    path = resources.files("fnl_deploy.data").joinpath("communes.csv")
    with path.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["population"] or 0) < 5000]
    # Every n-th commune, so the sample spans all départements, not just Ain.
    step = max(1, len(rows) // max(count, SAMPLE))
    return rows[::step][:count]


def domain_for(row: dict[str, str]) -> str:
    """An accented (IDN) domain unique per commune: ``l-abergement-clémenciat-01001.fr``."""
    name = re.sub(r"[^\w]+", "-", row["nom"].lower()).strip("-")[:40].strip("-")
    return f"{name}-{row['insee'].lower()}.fr"


def tenant_file(row: dict[str, str], index: int, servers: int, mailboxes: int) -> dict:
    people = []
    for n in range(mailboxes - 1):
        first = FIRST_NAMES[(index + n) % len(FIRST_NAMES)]
        last = LAST_NAMES[(index * 3 + n) % len(LAST_NAMES)]
        people.append(
            {
                "id": f"p{n}",
                "name": f"{first} {last}",
                "role": ROLES[n % len(ROLES)],
                "mailbox": f"agent{n}",
                **({"aliases": ["maire"], "admin": True} if n == 0 else {}),
            }
        )
    return {
        "schema": 1,
        "commune": {
            "name": row["nom"],
            "insee": row["insee"],
            "siren": row["siren"],
            "population": int(row["population"] or 0),
        },
        "domain": domain_for(row),
        "placement": f"mail{index % servers + 1}",
        "people": people,
        "shared_mailboxes": [{"address": "mairie", "members": {"p0": "full", "p1": "read"}}],
        "aliases": [{"address": "contact", "to": ["mairie"]}],
        "lists": [{"address": "conseil", "members": [p["id"] for p in people[:4]]}],
        "calendars": [{"name": "Salle des fêtes", "kind": "room", "managers": ["p1"]}],
    }


def generate(out: Path, count: int, servers: int = 2, mailboxes: int = 10) -> Path:
    if out.exists():
        shutil.rmtree(out)
    (out / "tenants").mkdir(parents=True)
    (out / "group_vars" / "all").mkdir(parents=True)
    hosts = {
        "all": {
            "children": {
                "fnl_servers": {
                    "hosts": {
                        f"mail{n}": {"fnl_fqdn": f"mail{n}.bench-numerique.fr"}
                        for n in range(1, servers + 1)
                    }
                }
            }
        }
    }
    (out / "hosts.yml").write_text(dump(hosts), encoding="utf-8")
    operator = {
        "fnl_operator": {
            "name": "Syndicat mixte de banc d'essai",
            "technical_domain": "bench-numerique.fr",
            "contact": "support@bench-numerique.fr",
            "defaults": {"dns_mode": "hosted", "tenant_quota": "100 GiB"},
            "dns": {"nameservers": ["ns1.bench-numerique.fr", "ns2.bench-numerique.fr"]},
        }
    }
    (out / "group_vars" / "all" / "operator.yml").write_text(dump(operator), encoding="utf-8")
    write_tenants(out / "tenants", count, servers, mailboxes)
    return out


def write_tenants(directory: Path, count: int, servers: int = 2, mailboxes: int = 10) -> None:
    """Make DIRECTORY hold exactly the tenant files of the first COUNT communes."""
    wanted = {}
    for index, row in enumerate(communes(count)):
        wanted[f"c{row['insee'].lower()}.yml"] = tenant_file(row, index, servers, mailboxes)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yml"):
        if stale.name not in wanted:
            stale.unlink()
    for name, data in wanted.items():
        path = directory / name
        text = dump(data)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--communes", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--mailboxes", type=int, default=10)
    args = parser.parse_args()
    generate(args.output, args.communes, args.servers, args.mailboxes)
    print(f"{args.communes} communes written to {args.output}")


if __name__ == "__main__":
    main()
