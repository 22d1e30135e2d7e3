"""The alert rules for the operator's Prometheus are valid, fire when they should, and
judge by `fnl-deploy status`'s thresholds; role monitoring's facts file is valid too.

promtool is not skipped when missing: scripts/setup.sh puts it in .venv/bin.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jinja2
import yaml

from fnl_deploy import status
from tests.conftest import REPO

MONITORING = REPO / "monitoring"
FACTS_TEMPLATE = REPO / "roles" / "monitoring" / "templates" / "fnl-monitoring-facts.j2"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    found = Path(sys.executable).parent / "promtool"
    command = str(found) if found.exists() else shutil.which("promtool")
    assert command, "promtool is missing: run scripts/setup.sh (it puts it in .venv/bin)"
    return subprocess.run(
        [command, *args], capture_output=True, text=True, input=stdin, check=False
    )


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(MONITORING / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_each_alert_fires_on_a_failure_and_not_on_a_healthy_server() -> None:
    tested = promtool("test", "rules", str(MONITORING / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_test_and_annotations() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    tests = yaml.safe_load((MONITORING / "alerts.test.yml").read_text(encoding="utf-8"))
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    for alert in alerts:
        assert alert["alert"] in tested, f"{alert['alert']} never fires in alerts.test.yml"
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]


def test_thresholds_are_those_of_fnl_deploy_status() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    expr = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    assert expr["FnlMailQueueStuck"].endswith(f"> {status.QUEUE_OLDEST_SECONDS}")
    assert expr["FnlMailQueueLarge"].endswith(f"> {status.QUEUE_MESSAGES}")
    assert re.search(rf"\)\s+> {status.DISK_PERCENT:g}$", expr["FnlDiskFull"])
    assert expr["FnlCertificateExpiring"].endswith(f"< {status.CERTIFICATE_DAYS:g} * 86400")
    assert f"> {status.BACKUP_HOURS:g} * 3600" in expr["FnlBackupTooOld"]


def test_the_example_scrape_configuration_is_valid(tmp_path: Path) -> None:
    config = (MONITORING / "prometheus.example.yml").read_text(encoding="utf-8")
    config = config.replace("/etc/prometheus/fnl-deploy-alerts.yml", str(MONITORING / "alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(config, encoding="utf-8")
    checked = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {job["job_name"] for job in yaml.safe_load(config)["scrape_configs"]}
    assert jobs == {"fnl-node", "fnl-postfix", "fnl-nginx"}


def _render_facts_script(tmp_path: Path) -> Path:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["to_json"] = json.dumps
    text = environment.from_string(FACTS_TEMPLATE.read_text(encoding="utf-8")).render(
        ansible_managed="test",
        monitoring_textfile_directory=str(tmp_path / "textfile"),
        monitoring_tls_directory=str(tmp_path / "tls"),
        monitoring_backup_settings=str(tmp_path / "borg.env"),
        monitoring_backup_marker=str(tmp_path / "last-success.json"),
        monitoring_apply_marker=str(tmp_path / "last-apply.json"),
    )
    script = tmp_path / "fnl-monitoring-facts"
    script.write_text(text, encoding="utf-8")
    return script


def test_the_facts_script_writes_valid_metrics(tmp_path: Path) -> None:
    tenants = tmp_path / "tls" / "tenants"
    tenants.mkdir(parents=True)
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(tmp_path / "key.pem"), "-out", str(tenants / "voiron.fr.crt"),
         "-subj", "/CN=mail.voiron.fr", "-days", "20"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (tenants / "ambel.fr.crt").write_text("not a certificate\n", encoding="utf-8")
    (tmp_path / "borg.env").write_text("", encoding="utf-8")
    (tmp_path / "last-apply.json").write_text(
        '{"finished": "2026-11-30T06:00:00Z", "run_id": "r"}', encoding="utf-8"
    )
    ran = subprocess.run(
        [sys.executable, str(_render_facts_script(tmp_path))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    written = sorted(p.name for p in (tmp_path / "textfile").iterdir())
    assert written == ["fnl.prom"], "only the final file, no temporary left"
    metrics = (tmp_path / "textfile" / "fnl.prom").read_text(encoding="utf-8")
    checked = promtool("check", "metrics", stdin=metrics)
    assert checked.returncode == 0, checked.stdout + checked.stderr + metrics
    lines = metrics.splitlines()
    expiry = next(line for line in lines if 'certificate="voiron.fr"' in line)
    # 20 days from now: within the day the test runs.
    assert abs(int(expiry.split()[-1]) - (int(time.time()) + 20 * 86400)) < 86400 + 60
    assert "fnl_certificates_unreadable 1" in lines
    assert "fnl_backup_configured 1" in lines
    assert not any(line.startswith("fnl_backup_last_success") for line in lines)
    assert "fnl_apply_last_success_timestamp_seconds 1796018400" in lines
