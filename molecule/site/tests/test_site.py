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


def test_mail_services_answer_for_both_communes(host):
    for service in ("postfix", "dovecot", "rspamd", "redis-server", "postgresql"):
        assert host.service(service).is_running, service
    for port in (25, 465, 587, 993):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening, port
    lookup = "postmap -q {} proxy:pgsql:/etc/postfix/pgsql/virtual_mailbox_maps.cf"
    assert host.run(lookup.format("gerard.chabert@xn--chevis-9ua.fr")).stdout.strip() == "1"
    assert host.run(lookup.format("nobody@xn--chevis-9ua.fr")).stdout.strip() == ""
    selectors = host.file("/etc/rspamd/dkim_selectors.map").content_string
    assert "xn--chevis-9ua.fr fnl" in selectors
    assert "saint-etienne-de-crossey.fr fnl" in selectors
