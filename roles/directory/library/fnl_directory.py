#!/usr/bin/python
"""Ansible module: sync the whole account directory of a server in one transaction."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_directory
short_description: Sync tenants, domains, mailboxes, aliases, lists and rights to PostgreSQL
description:
  - Reads the server's desired state (the JSON file fnl-deploy ships to the server) and
    makes the directory match it in one transaction, whatever the number of tenants.
  - Never deletes an account. A mailbox, domain or tenant that left the files is disabled
    (login refused, mail no longer accepted) and its row is kept, so that its mail can be
    archived. An address added again later gets a new account with a new mail directory:
    old mail never goes to a new owner.
  - A password hash is written only when an account is created, or when the credentials
    file asks for a reset; afterwards the password belongs to the user.
  - Supports check mode: the changes are computed against the live directory and rolled
    back, so a plan is exact. Returns them as C(fnl_changes).
options:
  desired_file: {type: path, required: true, description: Desired state JSON.}
  credentials_file:
    type: path
    description: JSON {"hashes": {address: hash}, "resets": [address]}; hashes of new accounts.
  scope:
    type: list
    elements: str
    description: Only these tenant ids are synced (fnl-deploy apply --tenant); others untouched.
  database: {type: str, default: fnl_directory, description: Database name.}
  readers:
    type: list
    elements: str
    default: []
    description: Database roles (named after the services' system accounts) that read the views.
  carried_file:
    type: path
    description:
      - Accounts of communes moving here (written by fnl_move import), by address; an
        account created here for one of them keeps its id, mail directory and password hash.
  elsewhere:
    type: dict
    default: {}
    description:
      - Tenant id -> host name of the server the files place it on, when not this one. A
        commune this server held that now lives there has its domains deferred (4xx) here.
"""

import json
import os
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fnl_postgres import connect_as_postgres, transaction

try:
    import psycopg2
except ImportError:  # reported by main() with the package to install
    psycopg2 = None

#: Schema migrations, applied in order; each runs once (table fnl.schema_version).
MIGRATIONS = [
    """
    CREATE SCHEMA IF NOT EXISTS fnl;
    CREATE TABLE fnl.schema_version (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE fnl.tenant (
        id text PRIMARY KEY,
        name text NOT NULL,
        quota_bytes bigint NOT NULL,
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE fnl.domain (
        name text PRIMARY KEY,
        tenant_id text NOT NULL REFERENCES fnl.tenant (id),
        alias_of text REFERENCES fnl.domain (name),
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled'))
    );
    CREATE TABLE fnl.mailbox (
        id uuid PRIMARY KEY,
        address text NOT NULL,
        tenant_id text NOT NULL REFERENCES fnl.tenant (id),
        domain text NOT NULL REFERENCES fnl.domain (name),
        local_part text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('person', 'shared')),
        display_name text NOT NULL,
        password_hash text,
        quota_bytes bigint NOT NULL,
        maildir text NOT NULL UNIQUE,
        state text NOT NULL DEFAULT 'active'
            CHECK (state IN ('active', 'disabled', 'archived')),
        created_at timestamptz NOT NULL DEFAULT now(),
        disabled_at timestamptz
    );
    -- One live account per address; disabled ones stay until archived.
    CREATE UNIQUE INDEX mailbox_active_address ON fnl.mailbox (address)
        WHERE state = 'active';
    CREATE TABLE fnl.forward (
        address text NOT NULL,
        target text NOT NULL,
        tenant_id text NOT NULL REFERENCES fnl.tenant (id),
        kind text NOT NULL CHECK (kind IN ('alias', 'list')),
        PRIMARY KEY (address, target)
    );
    CREATE TABLE fnl.shared_right (
        mailbox text NOT NULL,
        member text NOT NULL,
        tenant_id text NOT NULL REFERENCES fnl.tenant (id),
        rights text NOT NULL CHECK (rights IN ('read', 'write', 'full')),
        PRIMARY KEY (mailbox, member)
    );
    """,
    # 2: what the mail services read, live. Only views: Postfix and Dovecot (and later
    # SOGo) see active accounts of active domains of active tenants, nothing else.
    """
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fnl_reader') THEN
            CREATE ROLE fnl_reader NOLOGIN;
        END IF;
    END $$;
    CREATE VIEW fnl.mail_domain AS
        SELECT d.name, d.alias_of, d.tenant_id
        FROM fnl.domain d JOIN fnl.tenant t ON t.id = d.tenant_id
        WHERE d.state = 'active' AND t.state = 'active';
    CREATE VIEW fnl.mail_account AS
        SELECT m.address, m.kind, m.display_name, m.password_hash, m.quota_bytes,
               m.maildir, m.tenant_id, m.domain, m.local_part
        FROM fnl.mailbox m
        JOIN fnl.mail_domain d ON d.name = m.domain AND d.tenant_id = m.tenant_id
        WHERE m.state = 'active';
    -- Where mail to an address goes when it is not a mailbox: aliases, lists, and every
    -- address of a domain repeated in its alias domains (local@alias -> local@domain).
    CREATE VIEW fnl.mail_forward AS
        WITH direct AS (
            SELECT f.address, f.target
            FROM fnl.forward f JOIN fnl.tenant t ON t.id = f.tenant_id
            WHERE t.state = 'active'
        ), known AS (
            SELECT address FROM fnl.mail_account UNION SELECT address FROM direct
        )
        SELECT address, target FROM direct
        UNION ALL
        SELECT split_part(k.address, '@', 1) || '@' || d.name, k.address
        FROM known k JOIN fnl.mail_domain d ON d.alias_of = split_part(k.address, '@', 2);
    -- Who may send as an address: its owner, the people an alias reaches, members with
    -- full rights on a shared mailbox; the same for the address in each alias domain.
    CREATE VIEW fnl.sender_login AS
        WITH base AS (
            SELECT address AS sender, address AS login
            FROM fnl.mail_account WHERE kind = 'person'
            UNION
            SELECT f.address, f.target
            FROM fnl.forward f JOIN fnl.mail_account a ON a.address = f.target
            WHERE f.kind = 'alias' AND a.kind = 'person'
            UNION
            SELECT r.mailbox, r.member
            FROM fnl.shared_right r
            JOIN fnl.mail_account s ON s.address = r.mailbox
            JOIN fnl.mail_account a ON a.address = r.member
            WHERE r.rights = 'full'
        )
        SELECT sender, login FROM base
        UNION
        SELECT split_part(b.sender, '@', 1) || '@' || d.name, b.login
        FROM base b JOIN fnl.mail_domain d ON d.alias_of = split_part(b.sender, '@', 2);
    -- Rights members hold on shared mailboxes of their own tenant, for the IMAP ACLs.
    CREATE VIEW fnl.mail_shared_right AS
        SELECT r.mailbox, r.member, r.rights, s.maildir
        FROM fnl.shared_right r
        JOIN fnl.mail_account s ON s.address = r.mailbox
        JOIN fnl.mail_account a ON a.address = r.member AND a.tenant_id = s.tenant_id;
    GRANT USAGE ON SCHEMA fnl TO fnl_reader;
    GRANT SELECT ON fnl.mail_domain, fnl.mail_account, fnl.mail_forward, fnl.sender_login,
        fnl.mail_shared_right TO fnl_reader;
    """,
    # 3: agenda and address book (SOGo, role groupware). Rooms, equipment and shared
    # calendars are accounts without a password; a room's address reaches its managers.
    # One view holds every account SOGo knows; the groupware role adds one view per domain
    # on top of it, whose UPDATE (a password changed in the web interface) lands here.
    """
    CREATE TABLE fnl.calendar (
        address text PRIMARY KEY,
        tenant_id text NOT NULL REFERENCES fnl.tenant (id),
        domain text NOT NULL REFERENCES fnl.domain (name),
        kind text NOT NULL CHECK (kind IN ('shared', 'room', 'equipment')),
        display_name text NOT NULL,
        capacity integer,
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled'))
    );
    ALTER TABLE fnl.forward DROP CONSTRAINT forward_kind_check;
    ALTER TABLE fnl.forward ADD CONSTRAINT forward_kind_check
        CHECK (kind IN ('alias', 'list', 'resource'));
    CREATE VIEW fnl.groupware_account AS
        SELECT a.address AS c_uid, a.address AS c_name, a.password_hash AS c_password,
               a.display_name AS c_cn, a.address AS mail, a.domain AS c_domain,
               NULL::text AS c_kind, 0 AS c_multiplebookings
        FROM fnl.mail_account a
        UNION ALL
        SELECT c.address, c.address, NULL, c.display_name, c.address, c.domain,
               CASE c.kind WHEN 'room' THEN 'location' WHEN 'equipment' THEN 'thing' END,
               CASE WHEN c.kind = 'shared' THEN 0 ELSE 1 END
        FROM fnl.calendar c
        JOIN fnl.mail_domain d ON d.name = c.domain AND d.tenant_id = c.tenant_id
        WHERE c.state = 'active';
    -- SOGo changes a password with an UPDATE on its view: only a live person's own hash.
    CREATE FUNCTION fnl.groupware_password_change() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = fnl, pg_temp AS $$
    BEGIN
        IF NEW.c_password IS DISTINCT FROM OLD.c_password THEN
            UPDATE fnl.mailbox SET password_hash = NEW.c_password
            WHERE address = OLD.c_uid AND state = 'active' AND kind = 'person';
        END IF;
        RETURN NEW;
    END $$;
    """,
    # 4: staff changes. A person can be suspended (login refused everywhere, mail still
    # delivered): the services read no password for them, the stored hash stays theirs.
    """
    ALTER TABLE fnl.mailbox ADD COLUMN login_enabled boolean NOT NULL DEFAULT true;
    CREATE OR REPLACE VIEW fnl.mail_account AS
        SELECT m.address, m.kind, m.display_name,
               CASE WHEN m.login_enabled THEN m.password_hash END AS password_hash,
               m.quota_bytes, m.maildir, m.tenant_id, m.domain, m.local_part
        FROM fnl.mailbox m
        JOIN fnl.mail_domain d ON d.name = m.domain AND d.tenant_id = m.tenant_id
        WHERE m.state = 'active';
    """,
    # 5: communes moved to another server of the platform. Mail for their domains that
    # still reaches this server (a sender's DNS cache, until the MX record's TTL runs out)
    # is deferred with a 4xx, so that the sender retries and finds the new server: never
    # bounced, never stored here.
    """
    CREATE TABLE fnl.moved_domain (
        name text PRIMARY KEY,
        server text NOT NULL,
        moved_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE VIEW fnl.mail_moved_domain AS SELECT name, server FROM fnl.moved_domain;
    GRANT SELECT ON fnl.mail_moved_domain TO fnl_reader;
    """,
]


def ensure_readers(cur, readers):
    """Login roles (peer authentication: same name as the service's system account) that
    may read the directory's views and nothing else. Returns the roles it created."""
    created = []
    for name in readers:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute('CREATE ROLE "%s" LOGIN IN ROLE fnl_reader' % name.replace('"', ""))
            created.append(name)
        else:
            cur.execute(
                "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles r ON r.oid = m.member "
                "WHERE g.rolname = 'fnl_reader' AND r.rolname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute('GRANT fnl_reader TO "%s"' % name.replace('"', ""))
                created.append(name)
    return created


def migrate(cur):
    cur.execute("SELECT to_regclass('fnl.schema_version')")
    current = 0
    if cur.fetchone()[0] is not None:
        cur.execute("SELECT coalesce(max(version), 0) FROM fnl.schema_version")
        current = cur.fetchone()[0]
    for version, sql in enumerate(MIGRATIONS, start=1):
        if version > current:
            cur.execute(sql)
            cur.execute("INSERT INTO fnl.schema_version (version) VALUES (%s)", (version,))
    return current


def change(tenant, action, kind, name, detail="", service="mail"):
    return {
        "tenant": tenant,
        "service": service,
        "action": action,
        "kind": kind,
        "name": name,
        "detail": detail,
    }


def size(n):
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= factor and n % factor == 0:
            return "%d %s" % (n // factor, unit)
    return "%d B" % n


class Sync:
    """Compute and apply the difference between the directory and the desired state."""

    def __init__(self, cur, tenants, scope, credentials, offboarded=(), carried=None,
                 elsewhere=None):
        self.cur = cur
        #: Accounts of communes moving here (fnl_move import): address -> their id, mail
        #: directory and password hash, taken over as they were on the former server.
        self.carried = carried or {}
        #: Tenant id -> host name of the server the files now place it on, for tenants
        #: this server may hold (a commune moving away leaves its domains deferred here).
        self.elsewhere = elsewhere or {}
        self.tenants = {t["id"]: t for t in tenants}
        #: Disabled as a whole by an offboarding: their accounts, routes and rights stay
        #: as they are (the views hide them), so nothing is archived one by one.
        self.offboarded = set(offboarded)
        self.scope = set(scope) if scope is not None else None
        self.hashes = credentials.get("hashes", {})
        self.resets = set(credentials.get("resets", []))
        self.changes = []
        #: former address → new address, for the groupware's own records of the account.
        self.renamed = {}

    def in_scope(self, tenant_id):
        return self.scope is None or tenant_id in self.scope

    def may_remove(self, tenant_id):
        """Whether rows of this tenant that left the files are to be disabled or removed."""
        return self.in_scope(tenant_id) and tenant_id not in self.offboarded

    def run(self):
        self.sync_tenants()
        self.sync_domains()
        self.sync_mailboxes()
        self.sync_forwards()
        self.sync_rights()
        self.sync_calendars()
        return self.changes

    def sync_tenants(self):
        cur = self.cur
        cur.execute("SELECT id, name, quota_bytes, state FROM fnl.tenant")
        current = {row[0]: row for row in cur.fetchall()}
        for tid, t in sorted(self.tenants.items()):
            if not self.in_scope(tid):
                continue
            row = current.get(tid)
            if row is None:
                cur.execute(
                    "INSERT INTO fnl.tenant (id, name, quota_bytes) VALUES (%s, %s, %s)",
                    (tid, t["name"], t["quota_bytes"]),
                )
                self.changes.append(change(tid, "+", "tenant", t["domain_display"]))
                continue
            if row[3] != "active":
                cur.execute("UPDATE fnl.tenant SET state = 'active' WHERE id = %s", (tid,))
                self.changes.append(change(tid, "~", "tenant", tid, "enabled again"))
            if row[2] != t["quota_bytes"]:
                cur.execute(
                    "UPDATE fnl.tenant SET quota_bytes = %s, updated_at = now() WHERE id = %s",
                    (t["quota_bytes"], tid),
                )
                self.changes.append(
                    change(tid, "~", "tenant quota", tid,
                           "%s → %s" % (size(row[2]), size(t["quota_bytes"])))
                )
            if row[1] != t["name"]:
                cur.execute("UPDATE fnl.tenant SET name = %s WHERE id = %s", (t["name"], tid))
                self.changes.append(change(tid, "~", "tenant name", tid, t["name"]))
        for tid, row in sorted(current.items()):
            if tid not in self.tenants and self.in_scope(tid) and row[3] == "active":
                cur.execute("UPDATE fnl.tenant SET state = 'disabled' WHERE id = %s", (tid,))
                self.changes.append(change(tid, "-", "tenant", tid, (
                    "offboarded: disabled, accounts and data kept as they are"
                    if tid in self.offboarded else "disabled, data kept")))

    def sync_domains(self):
        cur = self.cur
        cur.execute("SELECT name, tenant_id, alias_of, state FROM fnl.domain")
        current = {row[0]: row for row in cur.fetchall()}
        wanted = {}
        for tid, t in self.tenants.items():
            if self.in_scope(tid):
                wanted[t["domain"]] = (tid, None)
                for alias in t["alias_domains"]:
                    wanted[alias] = (tid, t["domain"])
        # Primary domains first: alias domains point at them.
        for name, (tid, alias_of) in sorted(wanted.items(), key=lambda i: (i[1][1] is not None, i[0])):
            row = current.get(name)
            kind = "alias domain" if alias_of else "domain"
            if row is None:
                cur.execute(
                    "INSERT INTO fnl.domain (name, tenant_id, alias_of) VALUES (%s, %s, %s)",
                    (name, tid, alias_of),
                )
                self.changes.append(change(tid, "+", kind, name))
            elif row[1:] != (tid, alias_of, "active"):
                cur.execute(
                    "UPDATE fnl.domain SET tenant_id = %s, alias_of = %s, state = 'active' "
                    "WHERE name = %s",
                    (tid, alias_of, name),
                )
                self.changes.append(change(tid, "~", kind, name, "enabled again"
                                           if row[3] != "active" else "moved"))
        # A domain this server serves again is no longer "moved away".
        cur.execute("DELETE FROM fnl.moved_domain WHERE name = ANY(%s)", (sorted(wanted),))
        for name, row in sorted(current.items()):
            if name not in wanted and self.in_scope(row[1]) and row[3] == "active":
                server = self.elsewhere.get(row[1])
                if server:
                    cur.execute(
                        "INSERT INTO fnl.moved_domain (name, server) VALUES (%s, %s) "
                        "ON CONFLICT (name) DO UPDATE SET server = EXCLUDED.server, "
                        "moved_at = now()", (name, server))
                cur.execute("UPDATE fnl.domain SET state = 'disabled' WHERE name = %s", (name,))
                self.changes.append(change(row[1], "-", "domain", name, (
                    "moved to %s: mail still arriving here is deferred, data kept" % server
                    if server else "disabled, mail refused, data kept")))

    def sync_mailboxes(self):
        cur = self.cur
        cur.execute(
            "SELECT id, address, tenant_id, kind, display_name, quota_bytes, "
            "password_hash IS NULL, login_enabled FROM fnl.mailbox WHERE state = 'active'"
        )
        current = {row[1]: row for row in cur.fetchall()}
        wanted = {}
        for tid, t in self.tenants.items():
            if self.in_scope(tid):
                for m in t["mailboxes"]:
                    wanted[m["address"]] = (tid, t["domain"], m)
        self.rename_mailboxes(current, wanted)
        for address, (tid, domain, m) in sorted(wanted.items()):
            row = current.get(address)
            if row is None:
                mailbox_id = str(uuid.uuid4())
                local = address.split("@", 1)[0]
                # The mail directory carries the account id, never only the address: an
                # address given to someone else later starts with an empty mailbox.
                maildir = "%s/%s.%s" % (domain, local, mailbox_id[:8])
                password_hash = self.hashes.get(address)
                detail = size(m["quota_bytes"])
                carried = self.carried.get(address)
                if carried:
                    # Moved from another server: the same account, mail and password.
                    mailbox_id, maildir = carried["id"], carried["maildir"]
                    password_hash = carried["password_hash"]
                    detail += ", moved here with its mail and password"
                cur.execute(
                    "INSERT INTO fnl.mailbox (id, address, tenant_id, domain, local_part, kind,"
                    " display_name, password_hash, quota_bytes, maildir)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (mailbox_id, address, tid, domain, local, m["kind"], m["name"],
                     password_hash, m["quota_bytes"], maildir),
                )
                kind = "shared mailbox" if m["kind"] == "shared" else "mailbox"
                self.changes.append(change(tid, "+", kind, address, detail))
                continue
            if row[5] != m["quota_bytes"]:
                cur.execute("UPDATE fnl.mailbox SET quota_bytes = %s WHERE id = %s",
                            (m["quota_bytes"], row[0]))
                self.changes.append(change(tid, "~", "quota", address, "%s → %s" % (
                    size(row[5]), size(m["quota_bytes"]))))
            if row[3] != m["kind"]:
                # A departed person's mailbox handed to a successor (declared as a shared
                # mailbox with them as member), or back: same account, same mail.
                cur.execute("UPDATE fnl.mailbox SET kind = %s WHERE id = %s", (m["kind"], row[0]))
                self.changes.append(change(tid, "~", "mailbox", address, (
                    "now a shared mailbox: its members read the mail, its owner no longer "
                    "logs in" if m["kind"] == "shared" else "a person's mailbox again")))
            if row[4] != m["name"]:
                cur.execute("UPDATE fnl.mailbox SET display_name = %s WHERE id = %s",
                            (m["name"], row[0]))
                self.changes.append(change(tid, "~", "mailbox", address, m["name"]))
            login = m.get("login", m["kind"] == "person")
            if m["kind"] == "person" and row[7] != login:
                cur.execute("UPDATE fnl.mailbox SET login_enabled = %s WHERE id = %s",
                            (login, row[0]))
                self.changes.append(change(tid, "~", "login", address, (
                    "enabled again, same password" if login
                    else "disabled: login refused, mail still delivered and kept")))
            if row[6] and address in self.hashes and address not in self.resets:
                # An account that never had a password gets its initial one; a password
                # once set is never overwritten except on an explicit reset.
                cur.execute("UPDATE fnl.mailbox SET password_hash = %s WHERE id = %s",
                            (self.hashes[address], row[0]))
                self.changes.append(change(tid, "~", "password", address, "initial"))
            if address in self.resets and address in self.hashes:
                cur.execute("UPDATE fnl.mailbox SET password_hash = %s WHERE id = %s",
                            (self.hashes[address], row[0]))
                self.changes.append(change(tid, "~", "password", address, "reset"))
        for address, row in sorted(current.items()):
            if address not in wanted and self.may_remove(row[2]):
                cur.execute(
                    "UPDATE fnl.mailbox SET state = 'disabled', disabled_at = now() "
                    "WHERE id = %s",
                    (row[0],),
                )
                self.changes.append(change(row[2], "-", "mailbox", address,
                                           "disabled, login refused, mail kept"))

    def rename_mailboxes(self, current, wanted):
        """A person's new address takes over the account at one of their former addresses:
        same id, same mail directory, same password; only the address changes. The former
        address then stays theirs as an alias (sync_forwards)."""
        for address, (tid, domain, m) in sorted(wanted.items()):
            if address in current:
                continue
            for former in m.get("former", []):
                row = current.get(former)
                if row is None or former in wanted or row[2] != tid or row[3] != "person":
                    continue
                self.cur.execute(
                    "UPDATE fnl.mailbox SET address = %s, local_part = %s, domain = %s "
                    "WHERE id = %s", (address, address.split("@", 1)[0], domain, row[0]))
                current[address] = (row[0], address) + tuple(row[2:])
                del current[former]
                self.changes.append(change(tid, "~", "mailbox", address,
                                           "renamed from %s, mail kept" % former))
                self.renamed[former] = address
                break

    def sync_forwards(self):
        cur = self.cur
        cur.execute("SELECT address, target, tenant_id, kind FROM fnl.forward")
        current = {(r[0], r[1]): r for r in cur.fetchall()}
        wanted = {}
        for tid, t in self.tenants.items():
            if not self.in_scope(tid):
                continue
            for alias in t["aliases"]:
                for target in alias["targets"]:
                    wanted[(alias["address"], target)] = (tid, "alias")
            for mlist in t["lists"]:
                for member in mlist["members"]:
                    wanted[(mlist["address"], member)] = (tid, "list")
            for calendar in t.get("calendars", []):
                # Booking notices SOGo sends to a room or vehicle reach its managers.
                for manager in calendar.get("managers", []):
                    wanted[(calendar["address"], manager)] = (tid, "resource")
        for key, (tid, kind) in sorted(wanted.items()):
            if key not in current:
                cur.execute(
                    "INSERT INTO fnl.forward (address, target, tenant_id, kind) "
                    "VALUES (%s, %s, %s, %s)",
                    (key[0], key[1], tid, kind),
                )
                self.changes.append(change(tid, "+", kind, key[0], "→ " + key[1]))
        for key, row in sorted(current.items()):
            if key not in wanted and self.may_remove(row[2]):
                # Routing only: removing it never touches stored mail.
                cur.execute("DELETE FROM fnl.forward WHERE address = %s AND target = %s", key)
                self.changes.append(change(row[2], "-", row[3], key[0], "→ " + key[1]))

    def sync_rights(self):
        cur = self.cur
        cur.execute("SELECT mailbox, member, tenant_id, rights FROM fnl.shared_right")
        current = {(r[0], r[1]): r for r in cur.fetchall()}
        wanted = {}
        for tid, t in self.tenants.items():
            if self.in_scope(tid):
                for right in t["shared_rights"]:
                    wanted[(right["mailbox"], right["member"])] = (tid, right["right"])
        for key, (tid, rights) in sorted(wanted.items()):
            row = current.get(key)
            if row is None:
                cur.execute(
                    "INSERT INTO fnl.shared_right (mailbox, member, tenant_id, rights) "
                    "VALUES (%s, %s, %s, %s)",
                    (key[0], key[1], tid, rights),
                )
                self.changes.append(change(tid, "+", "right", key[0], "%s: %s" % (key[1], rights)))
            elif row[3] != rights:
                cur.execute(
                    "UPDATE fnl.shared_right SET rights = %s WHERE mailbox = %s AND member = %s",
                    (rights, key[0], key[1]),
                )
                self.changes.append(change(tid, "~", "right", key[0],
                                           "%s: %s → %s" % (key[1], row[3], rights)))
        for key, row in sorted(current.items()):
            if key not in wanted and self.may_remove(row[2]):
                cur.execute("DELETE FROM fnl.shared_right WHERE mailbox = %s AND member = %s", key)
                self.changes.append(change(row[2], "-", "right", key[0], key[1]))

    def sync_calendars(self):
        cur = self.cur
        cur.execute("SELECT address, tenant_id, kind, display_name, capacity, state "
                    "FROM fnl.calendar")
        current = {r[0]: r for r in cur.fetchall()}
        wanted = {}
        for tid, t in self.tenants.items():
            if self.in_scope(tid) and t.get("services", {}).get("groupware", True):
                for c in t.get("calendars", []):
                    wanted[c["address"]] = (tid, t["domain"], c)
        for address, (tid, domain, c) in sorted(wanted.items()):
            row = current.get(address)
            values = (c["kind"], c["name"], c.get("capacity"))
            if row is None:
                cur.execute(
                    "INSERT INTO fnl.calendar (address, tenant_id, domain, kind, display_name,"
                    " capacity) VALUES (%s, %s, %s, %s, %s, %s)",
                    (address, tid, domain) + values,
                )
                self.changes.append(change(tid, "+", c["kind"], address, c["name"],
                                           service="groupware"))
            elif row[2:5] != values or row[5] != "active" or row[1] != tid:
                cur.execute(
                    "UPDATE fnl.calendar SET tenant_id = %s, kind = %s, display_name = %s,"
                    " capacity = %s, state = 'active' WHERE address = %s",
                    (tid,) + values + (address,),
                )
                self.changes.append(change(tid, "~", c["kind"], address, c["name"],
                                           service="groupware"))
        for address, row in sorted(current.items()):
            if address not in wanted and self.may_remove(row[1]) and row[5] == "active":
                # Its events stay in SOGo; only the account stops being served.
                cur.execute("UPDATE fnl.calendar SET state = 'disabled' WHERE address = %s",
                            (address,))
                self.changes.append(change(row[1], "-", row[2], address, "disabled, events kept",
                                           service="groupware"))


class EmptyDirectory:
    """Stands in for a directory that does not exist yet (a plan against a new server):
    every read is empty and every write is ignored, so the plan lists everything as new."""

    def execute(self, sql, args=None):
        pass

    def fetchall(self):
        return []

    def fetchone(self):
        return (None,)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def database_exists(database):
    try:
        connection = connect_as_postgres("postgres")
    except (psycopg2.Error, KeyError):  # no server yet, or no postgres account
        return False
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            return cur.fetchone() is not None
    finally:
        connection.close()


def ensure_database(database):
    """Create the directory's database on first use (not in a transaction: autocommit)."""
    connection = connect_as_postgres("postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute('CREATE DATABASE "%s" ENCODING \'UTF8\' TEMPLATE template0'
                            % database.replace('"', ""))
                return True
    finally:
        connection.close()
    return False


def main():
    module = AnsibleModule(
        argument_spec={
            "desired_file": {"type": "path", "required": True},
            "credentials_file": {"type": "path"},
            "scope": {"type": "list", "elements": "str"},
            "database": {"type": "str", "default": "fnl_directory"},
            "readers": {"type": "list", "elements": "str", "default": []},
            "carried_file": {"type": "path"},
            "elsewhere": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    params = module.params
    with open(params["desired_file"], encoding="utf-8") as handle:
        desired = json.load(handle)
    credentials = {}
    if params["credentials_file"]:
        try:
            with open(params["credentials_file"], encoding="utf-8") as handle:
                credentials = json.load(handle)
        except FileNotFoundError:
            credentials = {}
    carried = {}
    if params["carried_file"] and os.path.exists(params["carried_file"]):
        with open(params["carried_file"], encoding="utf-8") as handle:
            carried = json.load(handle)
    if module.check_mode and (psycopg2 is None or not database_exists(params["database"])):
        changes = Sync(EmptyDirectory(), desired["tenants"], params["scope"], credentials,
                       desired.get("offboarded", [])).run()
        module.exit_json(changed=True, fnl_changes=changes, schema_version=0, new_directory=True)
    if psycopg2 is None:
        module.fail_json(msg="python3-psycopg2 is required on the server")
    try:
        created = False if module.check_mode else ensure_database(params["database"])
        connection = connect_as_postgres(params["database"])
    except psycopg2.Error as exc:
        module.fail_json(msg="cannot connect to the directory: %s" % exc)
    try:
        with transaction(connection, module.check_mode) as cur:
            before = migrate(cur)
            changes = Sync(cur, desired["tenants"], params["scope"], credentials,
                           desired.get("offboarded", []), carried, params["elsewhere"]).run()
            readers_created = ensure_readers(cur, params["readers"])
            schema_changed = created or before < len(MIGRATIONS) or bool(readers_created)
    except psycopg2.Error as exc:
        module.fail_json(msg="directory sync failed, nothing was changed: %s" % exc)
    module.exit_json(
        changed=bool(changes) or schema_changed,
        fnl_changes=changes,
        schema_version=len(MIGRATIONS),
    )


if __name__ == "__main__":
    main()
