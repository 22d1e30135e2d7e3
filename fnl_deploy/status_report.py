"""`fnl-deploy report`: only what changed since an earlier status, as text, a page, a mail.

A daily report for 500 communes stays readable because it lists changes, not the state:
the findings that appeared, changed (their figures) or were resolved since the status
chosen by ``--since``, then the count of what still needs action, unchanged. It takes a
status now (like `fnl-deploy status`, and keeps it), or with ``--saved`` reads the latest
kept one without contacting the servers. ``--html DIR`` writes the dashboard
(fnl_deploy.dashboard); ``--mail-to`` sends the report, with the dashboard attached.

Which earlier status ``--since`` means (statuses are kept in .fnl/status/, see status.py):

- ``last``: the previous status;
- ``yesterday``: the latest status at least 23 hours old — a daily job compares with the
  day before's run even when it starts a few minutes early, and ignores statuses taken
  by hand in between;
- ``12h``, ``7d``, ``2w``: the latest status at least that old;
- ``2026-11-28`` or ``2026-11-28T07:00``: the latest status taken before that moment
  (local time).
"""

from __future__ import annotations

import datetime
import os
import re
import smtplib
import ssl
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from fnl_deploy import status
from fnl_deploy.errors import FnlDeployError, UsageError
from fnl_deploy.i18n import t
from fnl_deploy.report import Result, readable

#: Allowance on "yesterday": a daily job started a few minutes early still finds the day
#: before's status.
YESTERDAY_HOURS = 23
_AGO = re.compile(r"^(\d+)\s*([hdw])$")
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
#: Where the SMTP password comes from: never a command-line argument (ps, shell history).
SMTP_PASSWORD_VARIABLE = "FNL_DEPLOY_SMTP_PASSWORD"


def since_moment(text: str, now: float) -> float | None:
    """Epoch seconds the baseline status must be taken at or before; None for "last"."""
    value = text.strip().lower()
    if value in ("last", "previous"):
        return None
    if value == "yesterday":
        return now - YESTERDAY_HOURS * 3600
    ago = _AGO.match(value)
    if ago:
        return now - int(ago.group(1)) * _UNITS[ago.group(2)]
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(t("report.bad_since", value=text), t("report.bad_since.hint")) from None
    return moment.timestamp()  # naive: local time, as the operator reads their clock


def _baseline(root: Path, since: float | None, skip: str | None) -> dict[str, Any] | None:
    """The status to compare with: the latest at or before ``since`` (never ``skip``)."""
    for path in status.saved_statuses(root):
        data = status.load_saved(path)
        if data["checked"] == skip:
            continue
        if since is None or status.checked_epoch(data) <= since:
            return data
    return None


def _oldest(root: Path) -> dict[str, Any] | None:
    saved = status.saved_statuses(root)
    return status.load_saved(saved[-1]) if saved else None


def build(root: Path, since_text: str, saved: bool, resolver: str | None) -> dict[str, Any]:
    """The report's data: the current status, its baseline, the changes between them."""
    since = since_moment(since_text, time.time())
    if saved:
        latest = status.previous(root)
        if latest is None:
            raise UsageError(t("report.nothing_saved"), t("report.nothing_saved.hint"))
        current = latest
        baseline = _baseline(root, since, skip=current["checked"])
    else:
        # The baseline is chosen before this status joins the history.
        baseline = _baseline(root, since, skip=None)
        taken = status.collect(root, None, resolver)
        status.save(root, taken)
        current = taken.as_dict()
    compared = "exact"
    if baseline is None:
        baseline = _oldest(root)
        compared = "oldest" if baseline and baseline["checked"] != current["checked"] else "none"
        if compared == "none":
            baseline = None
    diff = status.changes(baseline, current["findings"])
    touched = {f["key"] for kind in ("new", "changed") for f in diff[kind]}
    still = [f for f in current["findings"] if f["action"] and f["key"] not in touched]
    return {
        **current,
        "since": since_text,
        "baseline": baseline["checked"] if baseline else None,
        "compared": compared,
        "changes": diff,
        "unchanged_action": dict(sorted(Counter(f["check"] for f in still).items())),
        "series": status.load_series(root),
    }


def _line(finding: dict[str, Any]) -> str:
    """A finding in the current language (a kept status may be in the other)."""
    text = t(f"status.{finding['check']}", **finding["params"])
    return f"{finding['tenant'] or finding['server']}: {text}"


def subject(data: dict[str, Any]) -> str:
    diff = data["changes"]
    action = sum(1 for f in data["findings"] if f["action"])
    return t(
        "report.subject",
        new=len(diff["new"]),
        changed=len(diff["changed"]),
        resolved=len(diff["resolved"]),
        action=action,
    )


def render(data: dict[str, Any]) -> str:
    """The report as plain text: the same for the terminal and the mail's body."""
    action = sum(1 for f in data["findings"] if f["action"])
    lines = [
        t(
            "report.heading",
            checked=data["checked"],
            servers=len(data["servers"]),
            tenants=len(data["tenants"]),
        )
    ]
    if data["compared"] == "none":
        lines.append(t("report.no_baseline"))
    else:
        key = "report.compared" if data["compared"] == "exact" else "report.compared_oldest"
        lines.append(t(key, since=data["since"], baseline=data["baseline"]))
    diff = data["changes"]
    for sign, kind in (("+", "new"), ("~", "changed"), ("-", "resolved")):
        if diff[kind]:
            lines += ["", t(f"report.{kind}", count=len(diff[kind]))]
            lines += [f"  {sign} {_line(f)}" for f in diff[kind]]
    if not any(diff.values()):
        lines += ["", t("report.nothing_changed")]
    if data["unchanged_action"]:
        counts = ", ".join(f"{check} {n}" for check, n in data["unchanged_action"].items())
        lines += ["", t("report.still", count=sum(data["unchanged_action"].values()), by=counts)]
    lines += ["", t("status.healthy") if not action else t("status.unhealthy", count=action)]
    if data.get("html"):
        lines.append(t("report.html_written", path=data["html"]))
    for address in data.get("mailed", []):
        lines.append(t("report.mailed", address=address))
    return readable("\n".join(lines))


# --- mail -------------------------------------------------------------------------------


def _split_host(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "25")
    if not port.isdigit():
        raise UsageError(t("report.bad_smtp", value=value))
    return host.strip("[]") or "localhost", int(port)


def mail(
    data: dict[str, Any],
    recipients: list[str],
    sender: str,
    smtp: str,
    user: str | None,
    page: str,
) -> None:
    """Send the report, the dashboard attached, through ``smtp``.

    With a login (``user``, password from FNL_DEPLOY_SMTP_PASSWORD): TLS is required and
    the relay's certificate verified against the system's authorities (SSL_CERT_FILE
    changes them) — port 465 from the start, other ports by STARTTLS. Without a login
    (a local MTA on port 25): STARTTLS when offered, unverified, as between MTAs (RFC
    7435): nothing secret crosses, and a local relay's certificate rarely names localhost.
    """
    message = EmailMessage()
    message["Subject"] = subject(data)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render(data))
    message.add_attachment(
        page.encode("utf-8"),
        maintype="text",
        subtype="html",
        filename=f"fnl-deploy-{data['checked'][:10]}.html",
    )
    host, port = _split_host(smtp)
    password = os.environ.get(SMTP_PASSWORD_VARIABLE)
    if user and not password:
        raise UsageError(t("report.no_password", variable=SMTP_PASSWORD_VARIABLE))
    verified = ssl.create_default_context()
    try:
        if port == 465:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, context=verified, timeout=30)
        else:
            client = smtplib.SMTP(host, port, timeout=30)
        with client:
            client.ehlo()
            if port != 465 and user:
                client.starttls(context=verified)  # refused if not offered: never in clear
                client.ehlo()
            elif port != 465 and client.has_extn("starttls"):
                opportunistic = ssl.create_default_context()
                opportunistic.check_hostname = False
                opportunistic.verify_mode = ssl.CERT_NONE
                client.starttls(context=opportunistic)
                client.ehlo()
            if user:
                client.login(user, password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:  # ssl.SSLError, timeouts: OSErrors
        raise FnlDeployError(t("report.mail_failed", smtp=f"{host}:{port}", error=error)) from None


def report_command(
    root: Path,
    since: str,
    saved: bool,
    resolver: str | None,
    html_dir: Path | None,
    mail_to: list[str],
    mail_from: str | None,
    smtp: str,
    smtp_user: str | None,
) -> Result:
    """Build the report, write the page, send the mail; exit 1 when something needs action."""
    from fnl_deploy import dashboard
    from fnl_deploy.deployment import load_deployment

    deployment = load_deployment(root)  # invalid input stops here, before any server work
    data = build(root, since, saved, resolver)
    page = dashboard.render(data, deployment.operator.name)
    if html_dir is not None:
        data["html"] = str(dashboard.write(html_dir, page))
    if mail_to:
        sender = mail_from or smtp_user or f"fnl-deploy@{deployment.operator.technical_domain}"
        mail(data, mail_to, sender, smtp, smtp_user, page)
        data["mailed"] = mail_to
    action = any(f["action"] for f in data["findings"])
    return Result("report", data=data, exit_code=1 if action else 0)
