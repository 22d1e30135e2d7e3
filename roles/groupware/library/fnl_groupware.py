#!/usr/bin/python
"""Ansible module: what SOGo reads from the directory, and the calendars it serves."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_groupware
short_description: Directory views for SOGo; resources, shared calendars and their rights
description:
  - C(phase=directory) prepares what SOGo reads, in one transaction whatever the number of
    tenants. The database role C(sogo) (peer authentication, no password), its database,
    and in the directory one view per tenant domain (SOGo's user source for that domain,
    so a commune sees only its own people), each with a trigger that writes a password
    changed in the web interface back to the account as an Argon2id hash. Also a service
    account of this server, whose secret never leaves it, that SOGo treats as superuser.
  - C(phase=calendars) runs once SOGo answers. For every room, equipment and shared
    calendar of the tenant files it creates the calendar of its account, names it, and
    sets the rights of the commune's people (book, read, write, manage) through SOGo's
    own DAV interface; a renamed person's agenda and contacts follow the new address
    (sogo-tool rename-user); people who gain access are subscribed to it. Only differences are
    sent; a calendar that left the files keeps its events (its account is disabled by
    the directory).
  - Supports check mode; returns the changes as C(fnl_changes).
options:
  phase: {type: str, required: true, choices: [directory, calendars]}
  desired_file: {type: path, required: true, description: Desired state JSON.}
  scope:
    type: list
    elements: str
    description: Only these tenant ids (fnl-deploy apply --tenant); others untouched.
  database: {type: str, default: fnl_directory, description: Directory database.}
  server_fqdn: {type: str, required: true, description: Domain of the service account.}
  state_directory: {type: path, default: /etc/fnl-deploy/groupware}
  sogo_url: {type: str, default: "http://127.0.0.1:20000/SOGo"}
"""

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_postgres import connect_as_postgres, transaction

try:
    import psycopg2
except ImportError:  # reported by main() with the package to install
    psycopg2 = None

SERVICE_LOCAL_PART = "fnl-groupware"

#: SOGo roles on a calendar for each right a tenant file grants.
ROLES = {
    # See when a room or vehicle is taken, and book it (SOGo refuses a double booking).
    "book": ["PublicDAndTViewer", "ConfidentialDAndTViewer", "PrivateDAndTViewer"],
    "read": ["PublicViewer", "ConfidentialViewer", "PrivateDAndTViewer"],
    "write": ["PublicModifier", "ConfidentialModifier", "PrivateModifier",
              "ObjectCreator", "ObjectEraser"],
}
ROLES["manage"] = ROLES["write"]

#: What the per-domain views select: SOGo's SQL user source columns.
VIEW_SQL = (
    "CREATE VIEW sogo_directory.%s AS SELECT c_uid, c_name, c_password, c_cn, mail, "
    "c_kind, c_multiplebookings FROM fnl.groupware_account WHERE c_domain = %%s"
)


def view_name(domain):
    """A plain SQL identifier per domain (SOGo puts it unquoted in its queries)."""
    readable = re.sub(r"[^a-z0-9]+", "_", domain.lower())[:40]
    return "d_%s_%s" % (readable, hashlib.sha1(domain.encode()).hexdigest()[:8])


def change(tenant, action, kind, name, detail=""):
    return {"tenant": tenant, "service": "groupware", "action": action, "kind": kind,
            "name": name, "detail": detail}


def groupware_tenants(desired, scope):
    for tenant in desired["tenants"]:
        if scope is not None and tenant["id"] not in scope:
            continue
        if tenant.get("services", {}).get("groupware", True):
            yield tenant


# --- phase directory ------------------------------------------------------------------


def service_secret(state_directory, create):
    """The service account's password: made here once, readable by root only."""
    path = os.path.join(state_directory, "service-password")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip(), False
    if not create:
        return None, True
    os.makedirs(state_directory, mode=0o700, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret, True


def argon2id(secret):
    import argon2  # python3-argon2, installed by the role

    hasher = argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)
    return "{ARGON2ID}" + hasher.hash(secret)


def ensure_sogo_database(changes):
    connection = connect_as_postgres("postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'sogo'")
            if cur.fetchone() is None:
                cur.execute("CREATE ROLE sogo LOGIN")
                changes.append(change(None, "+", "database role", "sogo"))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'sogo'")
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE sogo OWNER sogo ENCODING 'UTF8' TEMPLATE template0")
                changes.append(change(None, "+", "database", "sogo"))
    finally:
        connection.close()


def sync_directory(module, params, desired):
    sources = [
        {"domain": t["domain"], "view": view_name(t["domain"]), "name": t["name"],
         "tenant": t["id"]}
        for t in groupware_tenants(desired, None)
    ]
    scope = set(params["scope"]) if params["scope"] is not None else None
    service_login = "%s@%s" % (SERVICE_LOCAL_PART, params["server_fqdn"])
    result = {"sources": sorted(sources, key=lambda s: s["domain"]),
              "service_login": service_login, "service_domain": params["server_fqdn"]}
    changes = []
    installed = psycopg2 is not None and os.path.exists("/usr/sbin/sogod")
    if module.check_mode and not installed:
        changes.append(change(None, "+", "database", "sogo"))
        changes += [change(s["tenant"], "+", "address book", s["domain"]) for s in sources
                    if scope is None or s["tenant"] in scope]
        return result, changes
    if psycopg2 is None:
        module.fail_json(msg="python3-psycopg2 is required on the server")
    if not module.check_mode:
        ensure_sogo_database(changes)
    secret, new_secret = service_secret(params["state_directory"], not module.check_mode)
    try:
        with transaction(connect_as_postgres(params["database"]), module.check_mode) as cur:
            cur.execute("SELECT to_regclass('fnl.groupware_account')")
            if cur.fetchone()[0] is None:
                module.fail_json(msg="the directory has no groupware views yet: run the "
                                     "directory role (schema version 3) first")
            cur.execute("CREATE SCHEMA IF NOT EXISTS sogo_directory")
            cur.execute("GRANT USAGE ON SCHEMA sogo_directory TO sogo")
            cur.execute("ALTER ROLE sogo IN DATABASE %s SET search_path = sogo_directory"
                        % params["database"].replace('"', ""))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS sogo_directory.service_account ("
                " c_uid text PRIMARY KEY, c_name text NOT NULL, c_password text NOT NULL,"
                " c_cn text NOT NULL, mail text NOT NULL)")
            cur.execute("GRANT SELECT ON sogo_directory.service_account TO sogo")
            cur.execute("SELECT c_password FROM sogo_directory.service_account WHERE c_uid = %s",
                        (service_login,))
            row = cur.fetchone()
            if secret is not None and (row is None or new_secret):
                cur.execute("DELETE FROM sogo_directory.service_account")
                cur.execute(
                    "INSERT INTO sogo_directory.service_account VALUES (%s, %s, %s, %s, %s)",
                    (service_login, service_login, argon2id(secret), "fnl-deploy", service_login))
                changes.append(change(None, "+", "service account", service_login))
            cur.execute("SELECT viewname FROM pg_views WHERE schemaname = 'sogo_directory'")
            existing = {r[0] for r in cur.fetchall()}
            wanted = {s["view"]: s for s in sources}
            for view, source in sorted(wanted.items()):
                if view in existing:
                    continue
                cur.execute(VIEW_SQL % view, (source["domain"],))
                cur.execute(
                    "CREATE TRIGGER password_change INSTEAD OF UPDATE ON sogo_directory.%s "
                    "FOR EACH ROW EXECUTE FUNCTION fnl.groupware_password_change()" % view)
                cur.execute("GRANT SELECT, UPDATE (c_password) ON sogo_directory.%s TO sogo"
                            % view)
                changes.append(change(source["tenant"], "+", "address book", source["domain"]))
            for view in sorted(existing - set(wanted)):
                # A view only: the accounts and their data stay in the directory and SOGo.
                cur.execute("DROP VIEW sogo_directory.%s" % view)
                changes.append(change(None, "-", "address book", view, "no longer served"))
    except psycopg2.Error as exc:
        module.fail_json(msg="groupware directory sync failed, nothing was changed: %s" % exc)
    return result, changes


# --- phase calendars ------------------------------------------------------------------


def wanted_calendars(desired, scope):
    """{owner address: (tenant id, display name, {member address: right})}."""
    wanted = {}
    for tenant in groupware_tenants(desired, scope):
        people = sorted(m["address"] for m in tenant["mailboxes"] if m["kind"] == "person")
        for calendar in tenant.get("calendars", []):
            owner = calendar["address"]
            rights = {}
            if calendar["kind"] in ("room", "equipment"):
                for person in people:
                    rights[person] = "book"
                for manager in calendar["managers"]:
                    rights[manager] = "manage"
            for access in calendar["access"]:
                members = people if access["member"] == "everyone" else [access["member"]]
                for member in members:
                    # The strongest right wins (write over read, manage over book).
                    if rights.get(member) not in ("write", "manage"):
                        rights[member] = access["right"]
            wanted[owner] = (tenant["id"], calendar["name"], rights)
    return wanted


def current_calendars():
    """Calendars SOGo already has for these accounts, and the roles granted on them."""
    try:
        connection = connect_as_postgres("sogo")
    except psycopg2.OperationalError:  # SOGo installed, its database not made yet (a plan)
        return set(), {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass('sogo_folder_info'), to_regclass('sogo_acl')")
            if None in cur.fetchone():
                return set(), {}
            cur.execute("SELECT c_path2 FROM sogo_folder_info "
                        "WHERE c_path3 = 'Calendar' AND c_path4 = 'personal'")
            folders = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT c_object, c_uid, c_role FROM sogo_acl")
            acls = {}
            for obj, uid, role in cur.fetchall():
                parts = obj.strip("/").split("/")
                if len(parts) == 3 and parts[1:] == ["Calendar", "personal"]:
                    acls.setdefault(parts[0], {}).setdefault(uid, set()).add(role)
            return folders, acls
    finally:
        connection.close()


class Sogo:
    """SOGo's DAV interface on this server, as the service account (a SOGo superuser)."""

    def __init__(self, base_url, login, secret):
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(("%s:%s" % (login, secret)).encode()).decode()
        self.headers = {"Authorization": "Basic " + token}

    def request(self, method, owner, body=None, headers=None):
        url = "%s/dav/%s/Calendar/personal/" % (self.base_url, urllib.parse.quote(owner))
        all_headers = dict(self.headers, **(headers or {}))
        data = body.encode("utf-8") if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            raise RuntimeError("SOGo answered %s to %s %s" % (exc.code, method, url)) from exc

    def create_calendar(self, owner, name):
        # The superuser's first look at an account's calendar creates it.
        self.request("PROPFIND", owner, None, {"Depth": "0"})
        self.request(
            "PROPPATCH", owner,
            '<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:">'
            "<D:set><D:prop><D:displayname>%s</D:displayname></D:prop></D:set>"
            "</D:propertyupdate>" % escape(name),
            {"Content-Type": "application/xml; charset=utf-8"})

    def acl(self, owner, query):
        self.request(
            "POST", owner,
            '<?xml version="1.0" encoding="utf-8"?>'
            '<acl-query xmlns="urn:inverse:params:xml:ns:inverse-dav">%s</acl-query>' % query,
            {"Content-Type": "application/xml; charset=utf-8"})

    def set_roles(self, owner, member, roles):
        user = escape(member, {'"': "&quot;"})
        self.acl(owner, '<add-user user="%s"/>' % user)
        self.acl(owner, '<set-roles user="%s">%s</set-roles>'
                 % (user, "".join("<%s/>" % role for role in sorted(roles))))

    def remove(self, owner, member):
        self.acl(owner, '<remove-user user="%s"/>' % escape(member, {'"': "&quot;"}))


def subscribe(newcomers, names, sogo_url):
    """Show calendars in the web interface and CalDAV clients of the people who just got
    access to them, then restart SOGo and memcached.

    Written into SOGo's own profile table rather than through SOGo: its workers and
    memcached keep copies of users' settings, and a worker's stale copy, saved at the
    user's next login, silently drops a subscription made elsewhere (seen with SOGo's DAV
    subscribe and with sogo-tool). A restart of both leaves no copy behind; it happens
    only when someone gains access to a calendar. Sessions live in the database.
    """
    by_member = {}
    for owner, members in newcomers.items():
        for member in members:
            by_member.setdefault(member, []).append(owner)
    connection = connect_as_postgres("sogo")
    try:
        with connection.cursor() as cur:
            for member, owners in sorted(by_member.items()):
                cur.execute("SELECT c_settings FROM sogo_user_profile WHERE c_uid = %s "
                            "FOR UPDATE", (member,))
                row = cur.fetchone()
                settings = json.loads(row[0]) if row and row[0] else {}
                calendar = settings.setdefault("Calendar", {})
                folders = calendar.setdefault("SubscribedFolders", [])
                display_names = calendar.setdefault("FolderDisplayNames", {})
                for owner in sorted(owners):
                    reference = "%s:Calendar/personal" % owner
                    if reference not in folders:
                        folders.append(reference)
                    display_names.setdefault(reference, names[owner])
                value = json.dumps(settings, ensure_ascii=False)
                if row is None:
                    cur.execute("INSERT INTO sogo_user_profile (c_uid, c_settings) "
                                "VALUES (%s, %s)", (member, value))
                else:
                    cur.execute("UPDATE sogo_user_profile SET c_settings = %s WHERE c_uid = %s",
                                (value, member))
        connection.commit()
    finally:
        connection.close()
    restart_sogo(sogo_url)


def restart_sogo(sogo_url):
    """Restart SOGo and memcached (no stale copy of a user's settings survives), then wait
    until SOGo answers again."""
    subprocess.run(["systemctl", "restart", "memcached", "sogo"], check=True,
                   capture_output=True, timeout=180)
    for _ in range(90):  # the next task, or a user, finds it answering
        try:
            with urllib.request.urlopen(sogo_url.rstrip("/") + "/", timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    raise RuntimeError("SOGo did not answer within 90 s of its restart")


def right_of(roles):
    for right in ("write", "read", "book"):
        if set(ROLES[right]) <= roles:
            return right
    return "custom"


def sogo_users():
    """Accounts SOGo holds data or settings for."""
    connection = connect_as_postgres("sogo")
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT to_regclass('sogo_folder_info'), to_regclass('sogo_user_profile')")
            if None in cur.fetchone():
                return set()
            cur.execute("SELECT c_path2 FROM sogo_folder_info UNION "
                        "SELECT c_uid FROM sogo_user_profile")
            return {r[0] for r in cur.fetchall()}
    finally:
        connection.close()


def pending_renames(desired, scope, users):
    """(tenant, former, new) for each renamed person whose agenda and address book SOGo
    still files under a former address (the directory renamed the account itself)."""
    renames = []
    for tenant in groupware_tenants(desired, scope):
        for mailbox in tenant["mailboxes"]:
            if mailbox["kind"] != "person" or mailbox["address"] in users:
                continue
            for former in mailbox.get("former", []):
                if former in users:
                    renames.append((tenant["id"], former, mailbox["address"]))
                    break
    return renames


def departed_people(database, desired, scope, users):
    """(tenant, address, retired uid) for each person who left the files and whose agenda,
    contacts and settings SOGo still files under their address. Set aside under a name no
    one logs in with, so that the address given to someone new later starts empty, as its
    mailbox does; the data stays (an offboarding exports it with the rest of the domain)."""
    live = {t["id"]: t for t in groupware_tenants(desired, scope)}
    wanted = {m["address"] for t in live.values() for m in t["mailboxes"]}
    wanted |= {c["address"] for t in live.values() for c in t.get("calendars", [])}
    with transaction(connect_as_postgres(database), True) as cur:
        cur.execute("SELECT to_regclass('fnl.mailbox')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute(
            "SELECT DISTINCT ON (address) tenant_id, address, id::text FROM fnl.mailbox m "
            "WHERE state <> 'active' AND tenant_id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM "
            "fnl.mailbox a WHERE a.address = m.address AND a.state = 'active') "
            "ORDER BY address, created_at DESC", (sorted(live),))
        rows = cur.fetchall()
    return [(tenant, address, "retired-%s@%s" % (mailbox_id, address.rpartition("@")[2]))
            for tenant, address, mailbox_id in rows
            if address in users and address not in wanted]


def rename_users(module, params, desired, scope, installed):
    """SOGo's records follow renamed people (sogo-tool rename-user), and those of people
    who left are set aside (departed_people)."""
    try:
        users = sogo_users() if installed else set()
    except psycopg2.OperationalError:  # SOGo's database not made yet (a plan)
        users = set()
    renames = pending_renames(desired, scope, users)
    changes = [change(tenant, "~", "agenda", new,
                      "renamed from %s, events and contacts kept" % former)
               for tenant, former, new in renames]
    renamed = {former for _, former, _ in renames}
    departed = [d for d in (departed_people(params["database"], desired, scope, users)
                            if installed else []) if d[1] not in renamed]
    changes += [change(tenant, "~", "agenda", address,
                       "person left: events and contacts set aside as %s" % retired)
                for tenant, address, retired in departed]
    renames += departed
    if module.check_mode or not renames:
        return changes
    for _, former, new in renames:
        result = subprocess.run(["runuser", "-u", "sogo", "--", "sogo-tool", "rename-user",
                                 former, new], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            module.fail_json(msg="sogo-tool rename-user %s %s: %s" % (
                former, new, result.stderr.strip()[-500:]), fnl_changes=changes)
    restart_sogo(params["sogo_url"])
    return changes


def sync_calendars(module, params, desired):
    scope = set(params["scope"]) if params["scope"] is not None else None
    wanted = wanted_calendars(desired, scope)
    installed = psycopg2 is not None and os.path.exists("/usr/sbin/sogod")
    renamed = rename_users(module, params, desired, scope, installed)
    folders, acls = current_calendars() if installed else (set(), {})
    changes, work = renamed, []
    for owner, (tenant, name, rights) in sorted(wanted.items()):
        if owner not in folders:
            changes.append(change(tenant, "+", "calendar", owner, name))
            work.append(("create", owner, name))
        granted = acls.get(owner, {})
        for member, right in sorted(rights.items()):
            roles = set(ROLES[right])
            if granted.get(member) != roles:
                old = granted.get(member)
                detail = "%s: %s" % (member, right if old is None
                                     else "%s → %s" % (right_of(old), right))
                changes.append(change(tenant, "+" if old is None else "~", "calendar right",
                                      owner, detail))
                work.append(("set", owner, member, roles, old is None))
        for member in sorted(set(granted) - set(rights)):
            if member.startswith("<") or member == "anonymous":
                continue
            changes.append(change(tenant, "-", "calendar right", owner, member))
            work.append(("remove", owner, member))
    if module.check_mode or not work:
        return changes
    secret, _ = service_secret(params["state_directory"], False)
    if secret is None:
        module.fail_json(msg="no service account secret: run phase=directory first")
    sogo = Sogo(params["sogo_url"], "%s@%s" % (SERVICE_LOCAL_PART, params["server_fqdn"]),
                secret)
    newcomers = {}
    try:
        for item in work:
            if item[0] == "create":
                sogo.create_calendar(item[1], item[2])
            elif item[0] == "set":
                _, owner, member, roles, new = item
                sogo.set_roles(owner, member, roles)
                if new:
                    newcomers.setdefault(owner, []).append(member)
            else:
                sogo.remove(item[1], item[2])
        # Subscribed once, when they gain access: someone who hides it later stays free to.
        if newcomers:
            names = {owner: name for owner, (_, name, _) in wanted.items()}
            subscribe(newcomers, names, params["sogo_url"])
    except (RuntimeError, OSError, psycopg2.Error, subprocess.SubprocessError) as exc:
        module.fail_json(msg="calendar sync stopped: %s" % exc, fnl_changes=changes)
    return changes


def main():
    module = AnsibleModule(
        argument_spec={
            "phase": {"type": "str", "required": True, "choices": ["directory", "calendars"]},
            "desired_file": {"type": "path", "required": True},
            "scope": {"type": "list", "elements": "str"},
            "database": {"type": "str", "default": "fnl_directory"},
            "server_fqdn": {"type": "str", "required": True},
            "state_directory": {"type": "path", "default": "/etc/fnl-deploy/groupware"},
            "sogo_url": {"type": "str", "default": "http://127.0.0.1:20000/SOGo"},
        },
        supports_check_mode=True,
    )
    params = module.params
    with open(params["desired_file"], encoding="utf-8") as handle:
        desired = json.load(handle)
    if params["phase"] == "directory":
        result, changes = sync_directory(module, params, desired)
        module.exit_json(changed=bool(changes), fnl_changes=changes, **result)
    changes = sync_calendars(module, params, desired)
    module.exit_json(changed=bool(changes), fnl_changes=changes)


if __name__ == "__main__":
    main()
