"""The lab's port mapping and its reading of hosts.yml: pure, no Podman needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fnl_deploy import lab
from fnl_deploy.errors import LabError

REPO = Path(__file__).resolve().parents[2]


def write_hosts(tmp_path: Path, text: str) -> Path:
    (tmp_path / "hosts.yml").write_text(text, encoding="utf-8")
    return tmp_path


def test_server_n_publishes_port_p_at_n_times_10000_plus_p():
    assert lab.host_port(1, 22) == 10022
    assert lab.host_port(2, 22) == 20022
    assert lab.host_port(1, 4190) == 14190
    assert lab.host_port(2, 5269) == 25269
    assert lab.host_port(6, 5269) == 65269  # the last server that still fits under 65535


@pytest.mark.parametrize("index", [0, 7, -1])
def test_server_numbers_outside_the_scheme_are_refused(index):
    with pytest.raises(LabError, match="out of range"):
        lab.host_port(index, 22)


def test_published_ports_cover_every_protocol_of_the_platform():
    ports = lab.published_ports(1)
    assert ports == {
        "22/tcp": 10022,
        "25/tcp": 10025,
        "53/tcp": 10053,
        "53/udp": 10053,
        "80/tcp": 10080,
        "143/tcp": 10143,
        "443/tcp": 10443,
        "465/tcp": 10465,
        "587/tcp": 10587,
        "993/tcp": 10993,
        "4190/tcp": 14190,
        "5222/tcp": 15222,
        "5269/tcp": 15269,
    }
    # No two servers ever share a host port.
    all_ports = [
        p for n in range(1, 7) for k, p in lab.published_ports(n).items() if "udp" not in k
    ]
    assert len(all_ports) == len(set(all_ports))


def test_the_shipped_lab_inventory():
    servers = lab.lab_servers(REPO / "inventories" / "lab")
    assert [(s.name, s.fqdn, s.index, s.ssh_port, s.container) for s in servers] == [
        ("mail1", "mail1.alpes-numerique.fr", 1, 10022, "fnl-lab-mail1"),
        ("mail2", "mail2.alpes-numerique.fr", 2, 20022, "fnl-lab-mail2"),
    ]
    assert servers[1].ports["587/tcp"] == 20587
    assert servers[0].address != servers[1].address


def test_servers_are_numbered_in_file_order_unless_fnl_lab_index_says_otherwise(tmp_path):
    inventory = write_hosts(
        tmp_path,
        """
all:
  children:
    fnl_servers:
      hosts:
        b:
          fnl_fqdn: b.example.fr
        a:
          fnl_fqdn: a.example.fr
        c:
          fnl_fqdn: c.example.fr
          fnl_lab_index: 5
          ansible_port: 50022
""",
    )
    servers = lab.lab_servers(inventory)
    assert [(s.name, s.index, s.ssh_port) for s in servers] == [
        ("b", 1, 10022),
        ("a", 2, 20022),
        ("c", 5, 50022),
    ]
    assert all(s.state == "absent" for s in servers)


def test_an_ansible_port_that_disagrees_with_the_mapping_is_refused(tmp_path):
    inventory = write_hosts(
        tmp_path,
        """
all:
  children:
    fnl_servers:
      hosts:
        mail1:
          fnl_fqdn: mail1.example.fr
          ansible_port: 2222
""",
    )
    with pytest.raises(LabError, match="ansible_port must be 10022"):
        lab.lab_servers(inventory)


def test_a_server_without_fqdn_is_refused(tmp_path):
    inventory = write_hosts(
        tmp_path, "all:\n  children:\n    fnl_servers:\n      hosts:\n        mail1: {}\n"
    )
    with pytest.raises(LabError, match="mail1 has no fnl_fqdn"):
        lab.lab_servers(inventory)


def test_an_inventory_without_lab_servers_is_refused(tmp_path):
    with pytest.raises(LabError, match="no server in group fnl_servers"):
        lab.lab_servers(write_hosts(tmp_path, "all:\n  hosts:\n    other: {}\n"))
    with pytest.raises(LabError, match="cannot read"):
        lab.lab_servers(tmp_path / "missing")


def test_the_image_tag_follows_the_recipe():
    tag = lab.image_tag()
    assert re.fullmatch(r"localhost/fnl-deploy/debian12:[0-9a-f]{12}", tag)
    assert lab.image_tag() == tag


def test_docs_list_the_same_ports():
    doc = (REPO / "docs" / "lab.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| [^|]+ \| (\d+) \| (\d+) \| (\d+) \|$", doc, re.MULTILINE)
    documented = {int(port): (int(one), int(two)) for port, one, two in rows}
    assert documented == {
        port: (lab.host_port(1, port), lab.host_port(2, port)) for port, _ in lab.PUBLISHED_PORTS
    }
