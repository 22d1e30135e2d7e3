"""The whole playbook on one server with two communes."""

import json


def test_desired_state_of_both_communes_is_recorded(host):
    desired = json.loads(host.file("/var/lib/fnl-deploy/desired.json").content_string)
    assert [t["id"] for t in desired["tenants"]] == ["echevis", "saint-etienne-de-crossey"]
    addresses = {m["address"] for t in desired["tenants"] for m in t["mailboxes"]}
    assert "gerard.chabert@xn--chevis-9ua.fr" in addresses
    assert "marie.martin@saint-etienne-de-crossey.fr" in addresses


def test_server_is_marked_provisioned_and_lock_released(host):
    assert host.file("/var/lib/fnl-deploy/provisioned.json").exists
    assert not host.file("/var/lib/fnl-deploy/apply.lock").exists


def test_firewall_opens_the_mail_ports_the_tenants_need(host):
    ruleset = host.run("nft list table inet fnl_filter").stdout
    for port in (25, 465, 587, 993):
        assert f"tcp dport {port} accept" in ruleset
