"""Role monitoring: exporters on the management address, reachable by the scraper, with
real metrics and fnl-deploy's facts."""

import re
import urllib.request

EXPORTERS = {
    9100: "prometheus-node-exporter",
    9154: "prometheus-postfix-exporter",
    9113: "prometheus-nginx-exporter",
}


def _address(host):
    return host.interface("eth0").addresses[0]


def _scrape(host, port):
    """GET /metrics from the machine running the tests: the container network's gateway,
    the one scraper the firewall lets in."""
    with urllib.request.urlopen(f"http://{_address(host)}:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def test_exporters_run_and_listen_on_the_management_address_only(host):
    address = _address(host)
    for port, service in EXPORTERS.items():
        assert host.service(service).is_running and host.service(service).is_enabled, service
        assert host.socket(f"tcp://{address}:{port}").is_listening, service
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, service
        assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening, service
    # nginx's own counters stay on the loopback.
    assert host.socket("tcp://127.0.0.1:8089").is_listening
    assert not host.socket(f"tcp://{address}:8089").is_listening


def test_the_firewall_accepts_the_exporters_from_the_scraper_only(host):
    gateway = host.run("ip -4 route show default").stdout.split()[2]
    ruleset = host.run("nft list table inet fnl_filter").stdout
    for port in EXPORTERS:
        rules = [line.strip() for line in ruleset.splitlines() if f"dport {port} " in line]
        assert len(rules) == 1 and rules[0].startswith(f"ip saddr {gateway} tcp dport {port} accept"), rules


def test_node_exporter_reports_disks_units_and_the_facts(host):
    metrics = _scrape(host, 9100)
    assert 'node_filesystem_avail_bytes{device=' in metrics
    assert 'mountpoint="/"' in metrics, "the container's overlay root is watched"
    for unit in ("nginx.service", "postfix@-.service", "prometheus-node-exporter.service"):
        assert re.search(rf'^node_systemd_unit_state{{name="{re.escape(unit)}",state="active",type="\w+"}} 1$',
                         metrics, re.MULTILINE), unit
    assert 'fnl_certificate_expiry_timestamp_seconds{certificate="server"}' in metrics
    assert 'fnl_certificate_expiry_timestamp_seconds{certificate="saint-etienne-de-crossey.fr"}' in metrics
    assert "fnl_certificates_unreadable 1" in metrics
    assert "fnl_backup_configured 1" in metrics
    assert "fnl_backup_last_success_timestamp_seconds 1.7960052e+09" in metrics
    assert "fnl_apply_last_success_timestamp_seconds 1.7960184e+09" in metrics
    assert "fnl_mail_queue_messages 0" in metrics
    assert 'node_textfile_scrape_error 0' in metrics


def test_the_commune_certificate_expires_in_ten_days(host):
    metrics = _scrape(host, 9100)
    line = next(line for line in metrics.splitlines()
                if line.startswith('fnl_certificate_expiry_timestamp_seconds{certificate="saint-etienne'))
    now = int(host.run("date +%s").stdout)
    assert abs(float(line.split()[-1]) - (now + 10 * 86400)) < 3600


def test_a_waiting_message_shows_in_the_queue_facts(host):
    # An address literal in TEST-NET: Postfix tries, waits and defers; the message stays.
    sent = host.run("printf 'Subject: file\\n\\nx\\n' | sendmail -f root@mail1.example.org 'probe@[192.0.2.1]'")
    assert sent.rc == 0, sent.stderr
    try:
        host.run("sleep 2")
        assert host.run("systemctl start fnl-monitoring-facts.service").rc == 0
        facts = host.file("/var/lib/prometheus/node-exporter/fnl.prom").content_string
        assert "fnl_mail_queue_messages 1" in facts
        assert "fnl_mail_queue_oldest_message_timestamp_seconds " in facts
    finally:
        host.run("postsuper -d ALL")
        host.run("systemctl start fnl-monitoring-facts.service")


def test_postfix_and_nginx_exporters_read_their_services(host):
    postfix = _scrape(host, 9154)
    assert 'postfix_up{path="/var/spool/postfix/public/showq"} 1' in postfix
    nginx = _scrape(host, 9113)
    assert "nginx_up 1" in nginx
    assert "nginx_connections_accepted " in nginx


def test_facts_are_refreshed_on_schedule_and_written_whole(host):
    timer = host.service("fnl-monitoring-facts.timer")
    assert timer.is_enabled and timer.is_running
    directory = host.file("/var/lib/prometheus/node-exporter")
    assert [name for name in directory.listdir() if name.startswith(".fnl.")] == []
    assert host.file("/var/lib/prometheus/node-exporter/fnl.prom").mode == 0o644
