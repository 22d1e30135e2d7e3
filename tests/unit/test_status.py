"""`fnl-deploy status`: what the controller judges from the servers' facts, and history."""

from __future__ import annotations

import copy

import pytest

from fnl_deploy import i18n, status

HEALTHY = {
    "services": {"dovecot.service": "active", "postfix@-.service": "active"},
    "queue": {"messages": 2, "oldest_seconds": 30},
    "disks": [
        {"path": "/", "total_bytes": 10 * 2**30, "free_bytes": 6 * 2**30, "used_percent": 40.0}
    ],
    "certificates": [
        {"name": "server", "not_after": "2027-02-01T00:00:00Z", "issuer": "R11", "days_left": 63.0}
    ],
    "backup": {"finished": "2026-11-30T02:00:00Z", "age_hours": 2.0},
    "security_updates": [],
    "last_apply": {"finished": "2026-11-30T01:00:00Z", "age_hours": 3.0},
}

AMBEL = {
    "id": "ambel",
    "domain": "mairie-ambel.fr",
    "mailboxes": [
        {
            "address": "anne.vial@mairie-ambel.fr",
            "kind": "person",
            "used_bytes": 100 * 2**20,
            "quota_bytes": 2**30,
            "used_percent": 9.8,
        }
    ],
    "used_bytes": 100 * 2**20,
    "quota_bytes": 4 * 2**30,
    "dkim_key_age_days": 20.0,
}


@pytest.fixture(autouse=True)
def english():
    i18n.set_language("en")
    yield
    i18n.set_language("en")


def test_a_healthy_server_and_commune_need_nothing():
    assert status.judge_server("mail1", HEALTHY) == []
    assert status.judge_tenant("mail1", AMBEL) == []


def test_each_failure_that_matters_is_one_finding_with_a_stable_key():
    sick = copy.deepcopy(HEALTHY)
    sick["services"]["dovecot.service"] = "inactive"
    sick["queue"] = {"messages": 3, "oldest_seconds": 7200}
    sick["disks"][0].update(used_percent=91.0, free_bytes=2**30)
    sick["certificates"][0]["days_left"] = 5.0
    sick["backup"] = {"finished": "2026-11-27T02:00:00Z", "age_hours": 74.0}
    found = {f.key: f for f in status.judge_server("mail1", sick)}
    assert sorted(found) == [
        "mail1/backup/last",
        "mail1/certificate/server",
        "mail1/disk//",
        "mail1/queue/postfix",
        "mail1/service/dovecot.service",
    ]
    assert all(f.action for f in found.values())
    assert found["mail1/service/dovecot.service"].message == "dovecot.service is inactive"
    assert "the oldest 120 min old" in found["mail1/queue/postfix"].message


def test_a_server_without_any_backup_says_so_and_one_without_role_backup_does_not():
    never = {**HEALTHY, "backup": {"finished": None, "age_hours": None}}
    assert [f.check for f in status.judge_server("mail1", never)] == ["backup_never"]
    assert status.judge_server("mail1", {**HEALTHY, "backup": None}) == []


def test_pending_security_updates_and_old_dkim_keys_are_worth_knowing_not_action():
    found = status.judge_server("mail1", {**HEALTHY, "security_updates": ["openssl"]})
    assert [(f.check, f.action) for f in found] == [("updates", False)]
    old_key = {**AMBEL, "dkim_key_age_days": 400.0}
    assert [(f.check, f.action) for f in status.judge_tenant("mail1", old_key)] == [("dkim", False)]


def test_a_nearly_full_mailbox_and_commune_need_action_in_both_languages():
    full = copy.deepcopy(AMBEL)
    full["mailboxes"][0].update(used_bytes=int(0.95 * 2**30), used_percent=95.0)
    full["used_bytes"] = int(3.8 * 2**30)
    found = status.judge_tenant("mail1", full)
    assert [f.key for f in found] == [
        "ambel/mailbox/anne.vial@mairie-ambel.fr",
        "ambel/storage/total",
    ]
    assert found[0].message == "anne.vial@mairie-ambel.fr 95% full (0.9 GiB of 1.0 GiB)"
    i18n.set_language("fr")
    assert found[0].message == "anne.vial@mairie-ambel.fr plein à 95 % (0.9 GiB sur 1.0 GiB)"


def finding(key: str, **params) -> status.Finding:
    return status.Finding(key, "mail1", None, "service", {"unit": "x", "state": "failed", **params})


def test_changes_name_what_appeared_changed_and_went_away():
    old = status.Status("2026-11-29T06:00:00Z", findings=[finding("a"), finding("b")])
    new = status.Status(
        "2026-11-30T06:00:00Z", findings=[finding("b", state="inactive"), finding("c")]
    )
    diff = status.changes(old.as_dict(), new.as_dict()["findings"])
    assert [f["key"] for f in diff["new"]] == ["c"]
    assert [f["key"] for f in diff["changed"]] == ["b"]
    assert [f["key"] for f in diff["resolved"]] == ["a"]
    same = status.changes(new.as_dict(), new.as_dict()["findings"])
    assert same == {"new": [], "changed": [], "resolved": []}


def test_history_is_kept_and_found_by_date(tmp_path):
    for day in ("27", "28", "29"):
        status.save(tmp_path, status.Status(f"2026-11-{day}T06:00:00Z", findings=[finding(day)]))
    assert status.previous(tmp_path)["checked"] == "2026-11-29T06:00:00Z"
    before = status.calendar.timegm((2026, 11, 28, 12, 0, 0, 0, 0, 0))
    assert status.previous(tmp_path, before=before)["checked"] == "2026-11-28T06:00:00Z"
    assert status.previous(tmp_path / "nothing") is None


def test_render_lists_servers_communes_and_what_needs_action():
    sick = {**HEALTHY, "services": {"dovecot.service": "inactive"}}
    current = status.Status(
        "2026-11-30T06:00:00Z",
        servers=[{"server": "mail1", "reachable": True, **sick}, {"server": "mail2"}],
        tenants=[{"server": "mail1", **AMBEL, "dns": {"ok": True, "rcpnt": True}}],
        findings=status.judge_server("mail1", sick),
    )
    data = current.as_dict() | {
        "since": None,
        "changes": status.changes(None, current.as_dict()["findings"]),
    }
    text = status.render(data)
    assert "mail1" in text and "mail2" in text and "ambel" in text
    assert "Needs action\n  mail1: dovecot.service is inactive" in text
    assert text.endswith("1 thing(s) need action (exit code 1).")
