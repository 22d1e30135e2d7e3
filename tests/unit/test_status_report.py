"""`fnl-deploy report`: which earlier status --since means, only changes, the dashboard."""

from __future__ import annotations

import calendar
import copy
import html.parser
import json
import time

import pytest
from click.testing import CliRunner

from fnl_deploy import dashboard, i18n, status, status_report
from fnl_deploy.cli import main
from fnl_deploy.errors import UsageError
from tests.unit.test_status import AMBEL, HEALTHY


def epoch(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def test_since_names_a_moment_or_the_previous_status():
    now = epoch("2026-11-30T07:00:00Z")
    assert status_report.since_moment("last", now) is None
    assert status_report.since_moment("yesterday", now) == now - 23 * 3600
    assert status_report.since_moment("12h", now) == now - 12 * 3600
    assert status_report.since_moment("7d", now) == now - 7 * 86400
    assert status_report.since_moment("2w", now) == now - 14 * 86400
    local_midnight = time.mktime((2026, 11, 28, 0, 0, 0, 0, 0, -1))
    assert status_report.since_moment("2026-11-28", now) == local_midnight
    with pytest.raises(UsageError) as bad:
        status_report.since_moment("last tuesday", now)
    assert bad.value.exit_code == 2
    assert "--since last tuesday" in bad.value.message


def service(unit: str, state: str = "failed") -> status.Finding:
    return status.Finding(
        f"mail1/service/{unit}", "mail1", None, "service", {"unit": unit, "state": state}
    )


def tenant_row(tenant_id: str, name: str, used: int, received: int, sent: int) -> dict:
    row = copy.deepcopy(AMBEL) | {"id": tenant_id, "name": name, "server": "mail1"}
    row["used_bytes"] = used
    row["mail"] = {"hours": 24, "received": received, "sent": sent}
    row["dns"] = {"ok": True, "rcpnt": True, "counts": {}}
    return row


def save(root, checked: str, findings: list[status.Finding], used: int = 2**20) -> None:
    tenants = [
        tenant_row("ambel", "Ambel", used, 10, 3),
        tenant_row("echevis", "Échevis <test>", 2 * used, 4, 1),
    ]
    servers = [{"server": "mail1", "reachable": True, **HEALTHY}]
    status.save(root, status.Status(checked, servers=servers, tenants=tenants, findings=findings))


@pytest.fixture
def history(example):
    """A deployment with four kept statuses: 48 h, 25 h and 2 h ago, and now."""
    now = time.time()

    def at(hours: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - hours * 3600))

    save(example, at(48), [service("a.service")], used=2**20)
    save(example, at(25), [service("a.service"), service("b.service")], used=2 * 2**20)
    save(example, at(2), [service("c.service")], used=3 * 2**20)
    save(
        example,
        at(0),
        [service("b.service", "inactive"), service("c.service"), service("d.service")],
        used=4 * 2**20,
    )
    return example, at


def test_yesterday_compares_with_the_latest_status_at_least_23_hours_old(history):
    root, at = history
    data = status_report.build(root, "yesterday", saved=True, resolver=None)
    assert data["baseline"] == at(25) and data["compared"] == "exact"
    keys = {kind: [f["key"] for f in found] for kind, found in data["changes"].items()}
    assert keys == {
        "new": ["mail1/service/c.service", "mail1/service/d.service"],
        "changed": ["mail1/service/b.service"],
        "resolved": ["mail1/service/a.service"],
    }
    last = status_report.build(root, "last", saved=True, resolver=None)
    assert last["baseline"] == at(2)
    assert [f["key"] for f in last["changes"]["new"]] == [
        "mail1/service/b.service",
        "mail1/service/d.service",
    ]
    # c.service failed both times: not a change, only counted as still needing action.
    assert last["unchanged_action"] == {"service": 1}


def test_the_text_report_lists_changes_only(history):
    root, _ = history
    data = status_report.build(root, "last", saved=True, resolver=None)
    text = status_report.render(data)
    assert "+ mail1: b.service is inactive" in text
    assert "+ mail1: d.service is failed" in text
    assert "- mail1: c.service" not in text and "+ mail1: c.service" not in text
    assert "Still needing action, unchanged: 1 (service 1)." in text
    assert status_report.subject(data) == (
        "[fnl-deploy] 2 new, 0 changed, 0 resolved; 3 need action"
    )
    i18n.set_language("fr")
    assert "Toujours à traiter, sans changement : 1 (service 1)." in status_report.render(data)


def test_without_a_status_that_old_the_oldest_kept_is_the_baseline(history):
    root, at = history
    data = status_report.build(root, "30d", saved=True, resolver=None)
    assert (data["baseline"], data["compared"]) == (at(48), "oldest")
    assert "No status as old as --since 30d" in status_report.render(data)


def test_series_keeps_one_line_per_day_the_days_last_status(tmp_path):
    save(tmp_path, "2026-11-29T06:00:00Z", [], used=100)
    save(tmp_path, "2026-11-30T06:00:00Z", [], used=200)
    save(tmp_path, "2026-11-30T18:00:00Z", [], used=300)
    points = status.load_series(tmp_path)
    assert [(p["day"], p["tenants"]["ambel"]) for p in points] == [
        ("2026-11-29", [100, 10, 3]),
        ("2026-11-30", [300, 10, 3]),
    ]
    lines = (tmp_path / ".fnl/status/series.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["checked"] == "2026-11-30T18:00:00Z"


class _Page(html.parser.HTMLParser):
    """What a reader of the page sees: text, and the tags used."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_the_dashboard_is_one_page_without_script_listing_every_commune(history):
    root, _ = history
    data = status_report.build(root, "yesterday", saved=True, resolver=None)
    page = dashboard.render(data, "Syndicat mixte Alpes Numérique")
    parsed = _Page()
    parsed.feed(page)
    text = " ".join(parsed.text)
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert "Ambel" in text and "Échevis <test>" in text  # a name is text, never markup
    assert "<test>" not in page
    assert "svg" in parsed.tags and "polyline" in parsed.tags  # storage over two days
    assert "3 to act on" in text
    written = dashboard.write(root / "site", page)
    assert written.read_text(encoding="utf-8") == page


def test_a_single_day_of_history_says_charts_come_later(tmp_path):
    save(tmp_path, "2026-11-30T06:00:00Z", [])
    data = status_report.build(tmp_path, "last", saved=True, resolver=None)
    assert data["compared"] == "none"
    page = dashboard.render(data, "Opérateur")
    assert "Charts appear once statuses of two days are kept." in page


def test_report_refuses_a_bad_since_and_an_empty_history_with_exit_2(example):
    runner = CliRunner()
    bad = runner.invoke(main, ["report", "-i", str(example), "--saved", "--since", "soon"])
    assert bad.exit_code == 2, bad.output
    assert "--since soon" in bad.output and "Traceback" not in bad.output
    empty = runner.invoke(main, ["report", "-i", str(example), "--saved"])
    assert empty.exit_code == 2 and "no status kept yet" in empty.output


def test_report_from_saved_history_writes_the_page_and_exits_1_when_action_is_needed(
    history, tmp_path
):
    root, _ = history
    result = CliRunner().invoke(
        main, ["report", "-i", str(root), "--saved", "--html", str(tmp_path / "out"), "--json"]
    )
    assert result.exit_code == 1, result.output
    envelope = json.loads(result.output)
    assert envelope["data"]["html"] == str(tmp_path / "out" / "index.html")
    assert (tmp_path / "out" / "index.html").exists()


def test_the_dashboard_writes_domains_as_people_do(tmp_path):
    dns = status.Finding(
        "echevis/dns/records",
        "mail1",
        "echevis",
        "dns",
        {"problems": "MX xn--chevis-9ua.fr.: missing"},
    )
    save(tmp_path, "2026-11-30T06:00:00Z", [dns])
    page = dashboard.render(status_report.build(tmp_path, "last", True, None), "Opérateur")
    assert "MX échevis.fr.: missing" in page and "xn--chevis" not in page
