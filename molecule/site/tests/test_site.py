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


def test_web_interface_serves_each_commune_its_own_people(host):
    for service in ("sogo", "memcached", "nginx"):
        assert host.service(service).is_running, service
    page = host.run("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/SOGo/")
    assert page.stdout == "200"
    redirect = host.run(
        "curl -sk -o /dev/null -w '%{redirect_url}' https://127.0.0.1/.well-known/caldav"
    )
    assert redirect.stdout.endswith("/SOGo/dav/")
    # SOGo's own database account reads one view per commune, over peer authentication.
    views = host.run(
        "runuser -u sogo -- psql -d fnl_directory -Atc "
        "\"select viewname from pg_views where schemaname = 'sogo_directory'\""
    ).stdout.split()
    assert len(views) == 2, views
    people = {}
    for view in views:
        rows = host.run(f"runuser -u sogo -- psql -d fnl_directory -Atc 'select mail from {view}'")
        assert rows.rc == 0, rows.stderr
        domains = {line.split("@")[1] for line in rows.stdout.split()}
        assert len(domains) == 1, (view, domains)  # never another commune's people
        people.update(dict.fromkeys(domains, rows.stdout.split()))
    assert "marie.martin@saint-etienne-de-crossey.fr" in people["saint-etienne-de-crossey.fr"]
    assert "gerard.chabert@xn--chevis-9ua.fr" in people["xn--chevis-9ua.fr"]


def test_room_calendar_exists_with_its_managers_and_bookers(host):
    acl = host.run(
        "runuser -u sogo -- psql -d sogo -Atc \"select c_uid || ' ' || c_role from sogo_acl "
        "where c_object = '/salle-des-fetes@saint-etienne-de-crossey.fr/Calendar/personal'\""
    )
    assert acl.rc == 0, acl.stderr
    roles = set(acl.stdout.splitlines())
    assert "elodie.rossi@saint-etienne-de-crossey.fr ObjectCreator" in roles  # manager
    assert "pierre.durand@saint-etienne-de-crossey.fr PublicDAndTViewer" in roles  # books
    assert not any("chevis" in line for line in roles)  # nobody from the other commune
