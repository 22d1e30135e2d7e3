"""Role base, as a user of the server would notice it."""

import socket


def test_firewall_drops_by_default_and_opens_only_listed_ports(host):
    ruleset = host.run("nft list table inet fnl_filter").stdout
    assert "policy drop" in ruleset
    assert "tcp dport 22 accept" in ruleset
    assert "tcp dport 25 accept" in ruleset
    # 8080 is open to 192.0.2.0/24 only (base_firewall_restricted_ports).
    restricted = [line.strip() for line in ruleset.splitlines() if "dport 8080" in line]
    assert restricted and all(line.startswith("ip saddr 192.0.2.0/24 tcp dport 8080 accept") for line in restricted)


def _reachable(address: str, port: int) -> bool:
    """A TCP connection from the machine running the tests, across the Podman network."""
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_a_port_not_listed_is_dropped_from_the_network(host):
    address = host.interface("eth0").addresses[0]
    host.run("systemctl stop probe8080; systemd-run --unit=probe8080 python3 -m http.server 8080")
    try:
        # Something listens on 8080 and answers locally, but the firewall drops it from
        # the network (open to 192.0.2.0/24 only), while SSH (always open) answers on the
        # same address.
        assert host.run("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8080), 3)'").rc == 0
        assert _reachable(address, 22)
        assert not _reachable(address, 8080)
    finally:
        host.run("systemctl stop probe8080")


def test_ssh_refuses_passwords_and_root(host):
    config = host.run("sshd -T").stdout.lower()
    assert "passwordauthentication no" in config
    # The runner is root here: key only ("without-password" is sshd's name for it).
    assert "permitrootlogin without-password" in config


def test_fail2ban_watches_ssh(host):
    status = host.run("fail2ban-client status sshd")
    assert status.rc == 0, status.stderr
    assert "Currently banned" in status.stdout


def test_security_updates_only(host):
    config = host.file("/etc/apt/apt.conf.d/52fnl-deploy-unattended-upgrades").content_string
    assert "Debian-Security" in config
    assert 'label=Debian";' not in config
    assert host.file("/etc/apt/apt.conf.d/20auto-upgrades").contains('Unattended-Upgrade "1"')


def test_journal_is_capped(host):
    assert host.file("/etc/systemd/journald.conf.d/10-fnl-deploy.conf").contains("SystemMaxUse=500M")
