"""`fnl-deploy report` on the lab: only what changed, a dashboard in a browser, a mail.

Three reports in a row against the applied lab: the first one is the baseline; then one
service stops (fail2ban on mail2, harmless to the other tests) and the report lists that
and nothing else; then it starts again and the report lists it as resolved, writes the
dashboard (opened in Chromium, screenshot kept in artifacts/) and mails itself to a
commune's mailbox through the lab's Postfix.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from collections import Counter

from playwright.sync_api import sync_playwright

from fnl_deploy.deployment import load_deployment
from tests.e2e.conftest import fnl
from tests.e2e.mailclient import port, send_inbound, token, wait_for
from tests.e2e.test_status import EXTERNAL_ZONE, NS1, on
from tests.e2e.webclient import ARTIFACTS, CHROMIUM

READER = "anne.vial@mairie-ambel.fr"
STOPPED = "mail2/service/fail2ban.service"


def report(inventory, *args: str) -> tuple[int, dict]:
    run = fnl("report", *args, "--resolver", NS1, "--json", inventory=inventory)
    assert run.rc in (0, 1), run.stdout + run.stderr
    return run.rc, json.loads(run.stdout)["data"]


def keys(found: list[dict]) -> list[str]:
    return [f["key"] for f in found]


def test_report_lists_only_changes_renders_a_page_and_mails_it(lab_copy):
    shutil.rmtree(lab_copy / ".fnl" / "status", ignore_errors=True)  # this copy's own history
    communes = {e.id: e.tenant.commune.name for e in load_deployment(lab_copy).live_tenants}
    # A message delivered just now: the commune's mail of the last 24 h counts it.
    subject = f"volume {token()}"
    assert send_inbound("mail1", [READER], subject) == {}
    wait_for("mail1", READER, subject)

    rc, first = report(lab_copy, "--since", "last")
    assert rc == 1 and first["compared"] == "none"  # the first status of this copy
    # What needs action on the lab before anything breaks: échevis.fr's external zone
    # (no registrar in the lab), and servers not backed up yet when test_status has not run.
    before = {f["key"]: f["check"] for f in first["findings"] if f["action"]}
    assert EXTERNAL_ZONE in before, first["findings"]
    counted = dict(sorted(Counter(before.values()).items()))
    rows = {row["id"]: row for row in first["tenants"]}
    assert set(rows) == set(communes)
    assert rows["ambel"]["mail"]["received"] >= 1, rows["ambel"]

    on("mail2", "systemctl", "stop", "fail2ban")
    try:
        rc, broken = report(lab_copy, "--since", "last")
        assert rc == 1 and broken["baseline"] == first["checked"]
        assert keys(broken["changes"]["new"]) == [STOPPED], broken["changes"]
        assert broken["changes"]["changed"] == [] and broken["changes"]["resolved"] == []
        assert broken["unchanged_action"] == counted  # all there before, none listed
        # The same report as text, from the kept statuses: the one change, the rest counted.
        text = fnl("report", "--saved", "--since", "last", inventory=lab_copy)
        assert text.rc == 1, text.stdout + text.stderr
        assert "+ mail2: fail2ban.service is inactive" in text.stdout
        by = ", ".join(f"{check} {n}" for check, n in counted.items())
        assert f"Still needing action, unchanged: {len(before)} ({by})." in text.stdout
        assert "échevis" not in text.stdout and "echevis" not in text.stdout
    finally:
        on("mail2", "systemctl", "start", "fail2ban")

    page_dir = ARTIFACTS / "dashboard"
    mark = token()
    rc, repaired = report(
        lab_copy,
        "--since",
        "last",
        "--html",
        str(page_dir),
        "--mail-to",
        READER,
        "--mail-from",
        f"rapport-{mark}@example.org",
        "--smtp",
        f"127.0.0.1:{port('mail1', 25)}",
    )
    assert rc == 1
    assert keys(repaired["changes"]["resolved"]) == [STOPPED]
    assert repaired["changes"]["new"] == [] and repaired["changes"]["changed"] == []
    assert {f["key"] for f in repaired["findings"] if f["action"]} == set(before)
    assert repaired["mailed"] == [READER]

    # The mail: the text report in the body, the dashboard attached.
    raw = wait_for("mail1", READER, "[fnl-deploy] 0 new, 0 changed, 1 resolved")
    received = email.message_from_bytes(raw, policy=email.policy.default)
    assert received["From"] == f"rapport-{mark}@example.org"
    body = received.get_body(("plain",)).get_content()
    assert "- mail2: fail2ban.service is inactive" in body
    attached = [part for part in received.iter_attachments()]
    assert [part.get_content_type() for part in attached] == ["text/html"]
    assert "Voiron" in attached[0].get_content()

    # The page in a real browser: one row per commune, the verdict, the trends.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((page_dir / "index.html").as_uri())
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            shown = page.locator("#communes tbody tr").evaluate_all(
                "rows => rows.map(row => row.dataset.tenant)"
            )
            assert sorted(shown) == sorted(communes)
            assert shown[0] == "echevis"  # the commune that needs action comes first
            for name in communes.values():
                assert page.get_by_text(name, exact=True).count() == 1, name
            verdict = page.locator("#verdict").inner_text()
            assert verdict.startswith(f"{len(before)} to act on"), verdict
            assert page.locator("#servers tbody tr").count() == 2
        finally:
            browser.close()
