"""Role monitoring on the lab: this machine, the lab network's gateway, is the lab's
Prometheus. It scrapes each server's exporters at the server's lab address and finds real
metrics and fnl-deploy's own facts; other machines, and the ports published on
127.0.0.1, do not reach them.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import urllib.request

import pytest
import yaml

from tests.e2e.conftest import LAB, fnl, server_exec

pytestmark = pytest.mark.lab

NODE, POSTFIX, NGINX = 9100, 9154, 9113
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def lab_addresses() -> dict[str, str]:
    """Each lab server's address on the lab network, from the inventory."""
    hosts = yaml.safe_load((LAB / "hosts.yml").read_text(encoding="utf-8"))
    servers = hosts["all"]["children"]["fnl_servers"]["hosts"]
    return {name: server["fnl_ipv4"] for name, server in servers.items()}


def scrape(address: str, port: int) -> list[tuple[str, dict[str, str], float]]:
    """One scrape, as Prometheus makes it: (name, labels, value) of each sample."""
    with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=10) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    samples = []
    for line in text.splitlines():
        found = SAMPLE.match(line)
        if found and not line.startswith("#"):
            labels = dict(LABEL.findall(found.group(2) or ""))
            samples.append((found.group(1), labels, float(found.group(3))))
    return samples


def value(samples, metric: str, /, **labels: str) -> float:
    """The value of the sample of `metric` whose labels include `labels`."""
    matching = [v for n, ls, v in samples if n == metric and labels.items() <= ls.items()]
    assert matching, f"no {metric} {labels} in the scrape"
    return matching[0]


def epoch(moment: str) -> float:
    parsed = datetime.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ")
    return parsed.replace(tzinfo=datetime.UTC).timestamp()


def refresh_facts(server: str) -> None:
    """Run the facts script now rather than wait for its timer."""
    done = server_exec(server, "systemctl", "start", "fnl-monitoring-facts.service")
    assert done.returncode == 0, done.stderr


def test_each_server_exports_node_postfix_and_nginx_metrics(lab_platform):
    for server, address in lab_addresses().items():
        node = scrape(address, NODE)
        assert value(node, "node_filesystem_avail_bytes", mountpoint="/") > 0, server
        for unit in ("postfix@-.service", "dovecot.service", "nginx.service", "sogo.service"):
            assert value(node, "node_systemd_unit_state", name=unit, state="active") == 1, unit
        assert value(node, "node_textfile_scrape_error") == 0, server

        postfix = scrape(address, POSTFIX)
        assert value(postfix, "postfix_up", path="/var/spool/postfix/public/showq") == 1, server
        assert any(name.startswith("postfix_showq_message_") for name, _, _ in postfix), server

        nginx = scrape(address, NGINX)
        assert value(nginx, "nginx_up") == 1, server
        assert value(nginx, "nginx_connections_accepted") >= 1, server


def test_the_facts_give_certificates_last_backup_and_last_apply(lab_platform):
    address = lab_addresses()["mail1"]
    marker = server_exec("mail1", "cat", "/var/lib/fnl-deploy/backup/last-success.json")
    if marker.returncode != 0:
        # No night has passed on this lab yet: back up as the timer would.
        backed_up = fnl("backup", "run", "mail1")
        assert backed_up.rc == 0, backed_up.stdout + backed_up.stderr
        marker = server_exec("mail1", "cat", "/var/lib/fnl-deploy/backup/last-success.json")
    applied = server_exec("mail1", "cat", "/var/lib/fnl-deploy/last-apply.json")
    assert applied.returncode == 0, "the lab was applied"
    refresh_facts("mail1")
    node = scrape(address, NODE)

    assert value(node, "fnl_backup_configured") == 1
    backup = json.loads(marker.stdout)["finished"]
    assert value(node, "fnl_backup_last_success_timestamp_seconds") == epoch(backup)
    apply = json.loads(applied.stdout)["finished"]
    assert value(node, "fnl_apply_last_success_timestamp_seconds") == epoch(apply)

    # A commune's certificate (role tls), to the second as openssl reads it.
    listed = server_exec("mail1", "ls", "/etc/fnl-deploy/tls/tenants").stdout.split()
    commune = sorted(name for name in listed if name.endswith(".crt"))[0]
    end = server_exec(
        "mail1", "openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601",
        "-in", f"/etc/fnl-deploy/tls/tenants/{commune}",
    )  # fmt: skip
    assert end.returncode == 0, end.stderr
    not_after = end.stdout.strip().split("=", 1)[1].replace(" ", "T")
    expiry = value(node, "fnl_certificate_expiry_timestamp_seconds", certificate=commune[:-4])
    assert expiry == epoch(not_after)
    assert value(node, "fnl_certificate_expiry_timestamp_seconds", certificate="server") > 0
    assert value(node, "fnl_certificates_unreadable") == 0
    assert value(node, "fnl_mail_queue_messages") >= 0


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_only_the_scraper_reaches_the_exporters(lab_platform):
    addresses = lab_addresses()
    # mail2 is on the lab network but not in monitoring_scrapers: its firewall drops it.
    url = f"http://{addresses['mail1']}:{NODE}/metrics"
    probe = server_exec("mail2", "curl", "-sS", "-m", "5", "-o", "/dev/null", url)
    assert probe.returncode != 0, "mail1's firewall let a non-scraper in"
    # Nothing new is published on this machine's loopback (lab ports: N*10000 + port).
    for index, port in ((1, NODE), (1, POSTFIX), (2, NGINX)):
        assert not _answers("127.0.0.1", index * 10000 + port)
