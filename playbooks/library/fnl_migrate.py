#!/usr/bin/python
"""Ansible module: copy mailboxes from an old IMAP provider with doveadm sync -1 (one way)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fnl_migrate
short_description: Import mailboxes from an old IMAP provider, one way, resumable
description:
  - C(action=start) takes the tenant's migration lock (a file lock under C(directory),
    released by the kernel when the worker ends), then starts a detached worker and returns
    at once. For each mailbox in turn, the worker counts the messages of every folder on the
    old server (IMAP STATUS) and in the destination (doveadm mailbox status), runs
    C(doveadm sync -1 -R -u ADDRESS imapc:) and counts again.
  - C(sync -1) is dsync's one-way mode: it copies what the old server has and never deletes
    or reverts anything in the destination (unlike C(doveadm backup)), so mail delivered to
    the new mailbox meanwhile stays. Messages already copied are recognised by UID and a
    hash of their Date and Message-ID headers, so running it again continues an
    interrupted copy without duplicates. After a folder received mail on both sides dsync
    can copy messages again: each copy is followed by the removal of byte-identical extra
    copies in the folders it wrote to (same Message-ID, same SHA-256 of the raw message,
    the lowest UID stays; rule in docs/migration.md).
  - Passwords arrive in module arguments (task with no_log), stay in the worker's memory,
    and reach doveadm in a root-only configuration file in /run (tmpfs) given to
    C(doveadm -c), deleted as soon as that mailbox is done; never on a command line.
  - C(action=follow) reads the worker's progress (to be retried until C(finished));
    C(action=stop) stops the worker (the current doveadm is terminated; what it has
    copied stays) and returns the final state.
options:
  action:
    type: str
    required: true
    choices: [check, start, follow, stop]
    description: C(check) fails when a migration of the tenant is running.
  tenant: {type: str, required: true, description: Tenant id (one migration at a time each).}
  run_id: {type: str, required: true, description: Id of the controller's run.}
  source: {type: dict, description: "Old server: host, port, ssl (imaps or starttls)."}
  ca_pem: {type: str, description: PEM of a CA to trust besides the system store.}
  mailboxes:
    type: list
    elements: dict
    description: "Each: old_login, new_address, line (of the operator's CSV map)."
  passwords: {type: dict, no_log: true, description: "old_login -> password."}
  directory: {type: path, default: /run/fnl-deploy/migrate, description: Lock and state.}
  dovecot_config: {type: path, default: /etc/dovecot/dovecot.conf, description: Included.}
  shared_prefix: {type: str, default: shared/, description: Destination's shared namespace.}
"""

import base64
import contextlib
import errno
import fcntl
import hashlib
import imaplib
import json
import os
import re
import signal
import ssl
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

#: doveadm sync exit code when the mailbox changed while it ran: run it again.
DSYNC_CHANGED = 2
#: How often the worker counts the destination while doveadm copies (progress).
COUNT_EVERY = 5.0
#: How long `stop` waits for the worker to leave.
STOP_WAIT = 60.0


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- IMAP on the old server -------------------------------------------------------------


def decode_mutf7(name):
    """IMAP's modified UTF-7 mailbox names (RFC 3501 5.1.3) as text: ``&AOk-`` → ``é``."""
    out, i = [], 0
    while i < len(name):
        char = name[i]
        end = name.find("-", i) if char == "&" else -1
        if char != "&" or end < 0:
            out.append(char)
            i += 1
            continue
        if end == i + 1:
            out.append("&")
        else:
            chunk = name[i + 1 : end].replace(",", "/")
            out.append(base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("utf-16-be"))
        i = end + 1
    return "".join(out)


def tokens(text):
    """IMAP response text as nested lists of strings (None for NIL)."""
    stack, current, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "(":
            stack.append(current)
            current = []
            i += 1
        elif char == ")":
            done, current = current, stack.pop() if stack else []
            current.append(done)
            i += 1
        elif char == '"':
            j, value = i + 1, []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                value.append(text[j])
                j += 1
            current.append("".join(value))
            i = j + 1
        elif char.isspace():
            i += 1
        else:
            match = re.match(r"[^\s()\"]+", text[i:])
            atom = match.group(0)
            current.append(None if atom.upper() == "NIL" else atom)
            i += len(atom)
    return current


def quote(name):
    """A quoted string as IMAP and dovecot.conf both read it (backslash escapes)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tls_context(ca_file):
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@contextlib.contextmanager
def imap_login(source, login, password, ca_file):
    """An IMAP connection to the old server, logged in as ``login``; logged out at the end."""
    timeout = 60
    context = tls_context(ca_file)
    if source["ssl"] == "imaps":
        client = imaplib.IMAP4_SSL(
            source["host"], source["port"], ssl_context=context, timeout=timeout
        )
    else:
        client = imaplib.IMAP4(source["host"], source["port"], timeout=timeout)
        client.starttls(ssl_context=context)
    try:
        client.login(login, password)
        yield client
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def source_folders(source, login, password, ca_file):
    """{folder: messages} of the old account's own folders, names as dsync writes them
    locally (text, '/' between levels), the masks of shared folders to leave out, and
    {folder: name on the old server} (modified UTF-7, the server's separator)."""
    with imap_login(source, login, password, ca_file) as client:
        excluded = []
        # Asked even when the greeting does not announce it (imaplib keeps the capabilities
        # of before the login, when servers announce less).
        try:
            typ, data = client.namespace()
        except imaplib.IMAP4.error:
            typ, data = "NO", []
        if typ == "OK" and data and data[0]:
            parsed = tokens(data[0].decode("utf-8", "replace"))
            # Other users' and shared namespaces are someone else's mail: not copied.
            for group in parsed[1:3]:
                for entry in group or []:
                    if isinstance(entry, list) and entry and entry[0]:
                        prefix, sep = entry[0], entry[1] if len(entry) > 1 else None
                        name = decode_mutf7(prefix)
                        if sep:
                            name = name.replace(sep, "/")
                        excluded.append(name.rstrip("/"))
        typ, data = client.list('""', "*")
        folders, raw_names = {}, {}
        items = list(data or [])
        while items:
            item = items.pop(0)
            if item is None:
                continue
            if isinstance(item, tuple):  # the name came as a literal
                head, literal = item[0].decode("utf-8", "replace"), item[1].decode()
                parts = [*tokens(re.sub(r"\{\d+\}$", "", head).strip()), literal]
            else:
                parts = tokens(item.decode("utf-8", "replace"))
            if len(parts) < 3:
                continue
            flags, sep, raw = parts[0] or [], parts[1], parts[2]
            if any(f.lower() in ("\\noselect", "\\nonexistent") for f in flags):
                continue
            name = decode_mutf7(raw)
            if sep:
                name = name.replace(sep, "/")
            if name.upper() == "INBOX":
                name = "INBOX"
            if any(name == x or name.startswith(x + "/") for x in excluded):
                continue
            typ, status = client.status(quote(raw), "(MESSAGES)")
            match = re.search(rb"MESSAGES (\d+)", status[0] or b"") if typ == "OK" else None
            folders[name] = int(match.group(1)) if match else 0
            raw_names[name] = raw
        return folders, excluded, raw_names


def message_id_key(value):
    """A Message-ID as compared: its header value without any white space (folding)."""
    return re.sub(r"\s+", "", value)


def source_message_ids(client, raw):
    """{Message-ID: how many messages carry it} in one folder of the old server."""
    typ, data = client.select(quote(raw), readonly=True)
    if typ != "OK":
        raise RuntimeError(f"the old server refused to open {decode_mutf7(raw)}")
    counts = {}
    if int((data or [b"0"])[0] or 0) == 0:
        return counts
    typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    if typ != "OK":
        raise RuntimeError(f"the old server refused to list the messages of {decode_mutf7(raw)}")
    for part in data or []:
        if isinstance(part, tuple):
            header = re.sub(rb"\r?\n[ \t]", b" ", part[1])
            match = re.search(rb"^message-id:(.*)$", header, re.I | re.M)
            key = message_id_key(match.group(1).decode("utf-8", "replace")) if match else ""
            if key:
                counts[key] = counts.get(key, 0) + 1
    return counts


# --- The destination, through doveadm ----------------------------------------------------


def dest_folders(address, shared_prefix):
    """{folder: messages} of the destination mailbox's own folders (not shared ones)."""
    result = subprocess.run(
        ["doveadm", "-f", "tab", "mailbox", "status", "-u", address, "messages", "*"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(first_error(result.stderr) or f"doveadm exited {result.returncode}")
    folders = {}
    lines = result.stdout.splitlines()
    for line in lines[1:]:  # the first line names the columns
        name, _, count = line.rpartition("\t")
        if name and not name.startswith(shared_prefix) and count.isdigit():
            folders[name] = int(count)
    return folders


def doveadm(*args):
    """doveadm's standard output (bytes); RuntimeError with its error when it fails."""
    result = subprocess.run(["doveadm", *args], capture_output=True, check=False)
    if result.returncode != 0:
        text = result.stderr.decode("utf-8", "replace")
        raise RuntimeError(first_error(text) or f"doveadm exited {result.returncode}")
    return result.stdout


#: Characters that make a name given to doveadm's ``mailbox`` search key a pattern.
PATTERN_CHARS = frozenset("*%?")


def dest_message_ids(address, folder):
    """{Message-ID: [uid, ...] in ascending order} of one destination folder (messages
    without a Message-ID left out).

    The folder is named with ``mailbox NAME``, not ``mailbox-guid``: the same GUID also
    matches the mailbox seen through the shared namespace (``shared/<user>/``)."""
    text = doveadm(
        "-f", "tab", "fetch", "-u", address, "uid hdr.message-id", "mailbox", folder
    ).decode("utf-8", "replace")
    records = []
    for line in text.splitlines()[1:]:
        match = re.match(r"(\d+)\t(.*)$", line)
        if match:
            records.append([int(match.group(1)), match.group(2)])
        elif records:  # a folded header goes on with white space, never a digit
            records[-1][1] += line
    uids = {}
    for uid, value in sorted(records):
        key = message_id_key(value)
        if key:
            uids.setdefault(key, []).append(uid)
    return uids


def message_digest(address, folder, uid):
    """SHA-256 of one message's full raw text (None when it is gone). doveadm's pager
    output is a fixed frame around the bytes: equal outputs mean equal messages."""
    raw = doveadm("-f", "pager", "fetch", "-u", address, "text", "mailbox", folder, "uid", str(uid))
    return hashlib.sha256(raw).hexdigest() if raw else None


def remove_duplicates(address, folders, source_ids):
    """Expunge byte-identical extra copies of a message within each of ``folders``; the
    number removed.

    The rule, so that nothing can be lost: only messages with a Message-ID; only inside
    one folder; only a copy whose full raw text has the same SHA-256 as a copy that stays
    (the lowest UID, re-read just before); never below as many messages with that
    Message-ID as the old folder holds (``source_ids(folder)``: {Message-ID: count}); and
    not in a folder whose name doveadm would take as a pattern.
    """
    removed = 0
    for folder in folders:
        if PATTERN_CHARS & set(folder):
            continue  # it could not be named alone
        groups = {k: u for k, u in dest_message_ids(address, folder).items() if len(u) > 1}
        if not groups:
            continue
        in_source = source_ids(folder)
        for key, uids in sorted(groups.items()):
            budget = len(uids) - max(in_source.get(key, 0), 1)
            same = {}
            for uid in uids:
                digest = message_digest(address, folder, uid)
                if digest:
                    same.setdefault(digest, []).append(uid)
            for digest, copies in same.items():
                extra = copies[1:][: max(budget, 0)]
                if not extra or message_digest(address, folder, copies[0]) != digest:
                    continue
                uid_set = ",".join(str(uid) for uid in extra)
                doveadm("expunge", "-u", address, "mailbox", folder, "uid", uid_set)
                removed += len(extra)
                budget -= len(extra)
    return removed


def first_error(text):
    """The line of doveadm's output worth showing: its first error, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "Error:" in line or "Fatal:" in line:
            return line[:500]
    return lines[-1][:500] if lines else ""


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --- State shared by the worker and the follow/stop calls --------------------------------


class Job:
    """Files of one tenant's migration under the state directory."""

    def __init__(self, directory, tenant):
        self.dir = os.path.join(directory, re.sub(r"[^A-Za-z0-9._-]", "_", tenant))
        self.lock_path = os.path.join(self.dir, "lock")
        self.state_path = os.path.join(self.dir, "state.json")

    def prepare(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def read(self):
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def write(self, state):
        tmp = self.state_path + ".tmp"
        write_private(tmp, json.dumps(state, ensure_ascii=False))
        os.replace(tmp, self.state_path)

    def try_lock(self):
        """An open descriptor holding the lock, or None when someone else holds it."""
        self.prepare()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return None
            raise
        return fd

    def busy(self):
        fd = self.try_lock()
        if fd is None:
            return True
        os.close(fd)
        return False


def public(state):
    """What the controller may see (never a password)."""
    return [dict(m) for m in state.get("mailboxes", [])]


# --- The worker ---------------------------------------------------------------------------


class Worker:
    def __init__(self, job, state, params, passwords, ca_file):
        self.job, self.state, self.params = job, state, params
        self.passwords, self.ca_file = passwords, ca_file
        self.child = None
        self.stopping = False

    def on_term(self, signum, frame):
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()

    def save(self):
        self.state["updated_at"] = now()
        self.job.write(self.state)

    def run(self):
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            for index, mailbox in enumerate(self.state["mailboxes"]):
                if self.stopping:
                    mailbox.update(state="incomplete", reason="interrupted before it started")
                    continue
                self.migrate(index, mailbox)
                self.save()
        finally:
            self.state["finished"] = True
            self.state["finished_at"] = now()
            self.state["interrupted"] = self.stopping
            self.save()
            if self.ca_file:
                remove(self.ca_file)

    def count_destination(self, mailbox, key):
        """The destination's folders, their total recorded under ``key``; None when doveadm
        cannot tell (the mailbox is then marked failed)."""
        try:
            folders = dest_folders(mailbox["new_address"], self.params["shared_prefix"])
        except RuntimeError as error:
            mailbox.update(state="failed", reason=f"destination: {error}")
            return None
        mailbox[key] = sum(folders.values())
        return folders

    def migrate(self, index, mailbox):
        mailbox.update(state="counting", started_at=now())
        self.save()
        login = mailbox["old_login"]
        password = self.passwords.get(login, "")
        try:
            source, excluded, raw_names = source_folders(
                self.params["source"], login, password, self.ca_file
            )
        except imaplib.IMAP4.error as error:
            text = str(error).replace(password, "***") if password else str(error)
            mailbox.update(state="failed", reason=f"old server refused the login: {text}"[:500])
            return
        except (TimeoutError, OSError, ssl.SSLError) as error:
            mailbox.update(state="failed", reason=f"cannot reach the old server: {error}"[:500])
            return
        mailbox["source"] = sum(source.values())
        mailbox["source_folders"] = source
        before = self.count_destination(mailbox, "before")
        if before is None:
            return
        mailbox["copied"] = 0
        mailbox["state"] = "copying"
        self.save()
        started = time.monotonic()
        rc, error = self.sync(index, mailbox, login, password, excluded, before)
        mailbox["duplicates_removed"] = 0
        dedup_error = ""
        if not self.stopping:
            # After a folder got mail on both sides, dsync (pairing by UID, an IMAP source
            # has no GUIDs) can copy again what it copied before: remove those copies.
            mailbox["state"] = "checking"
            self.save()
            try:
                mailbox["duplicates_removed"] = self.remove_duplicates(
                    mailbox, login, password, raw_names
                )
            except (RuntimeError, imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
                text = str(exc).replace(password, "***") if password else str(exc)
                dedup_error = text or type(exc).__name__
        mailbox["seconds"] = round(time.monotonic() - started, 1)
        after = self.count_destination(mailbox, "after")
        if after is None:
            return
        # before + copied - duplicates_removed = after
        mailbox["copied"] = max(
            0, mailbox["after"] - mailbox["before"] + mailbox["duplicates_removed"]
        )
        short = sorted(f for f, n in source.items() if after.get(f, 0) < n)
        mailbox["short_folders"] = short
        if self.stopping:
            mailbox.update(state="incomplete", reason="interrupted")
        elif rc != 0:
            mailbox.update(state="failed", reason=f"doveadm sync exited {rc}: {error}"[:500])
        elif dedup_error:
            mailbox.update(state="failed", reason=f"removing duplicates: {dedup_error}"[:500])
        elif short:
            mailbox.update(
                state="incomplete",
                reason="fewer messages than on the old server in: " + ", ".join(short)[:400],
            )
        else:
            mailbox.update(state="ok", reason="")

    def remove_duplicates(self, mailbox, login, password, raw_names):
        """Duplicates removed from the folders this sync wrote to (the old account's)."""
        with contextlib.ExitStack() as stack:
            clients = []

            def source_ids(folder):
                if not clients:  # logged in only when a folder has duplicates to look at
                    clients.append(
                        stack.enter_context(
                            imap_login(self.params["source"], login, password, self.ca_file)
                        )
                    )
                return source_message_ids(clients[0], raw_names[folder])

            return remove_duplicates(mailbox["new_address"], sorted(raw_names), source_ids)

    def sync(self, index, mailbox, login, password, excluded, before):
        """Run doveadm sync -1 -R (again while it reports changes during the sync)."""
        source = self.params["source"]
        conf = os.path.join(self.job.dir, f"doveadm-{index}.conf")
        # The password reaches doveadm in this root-only file on tmpfs, deleted when the
        # mailbox is done: never on a command line (ps) or on disk. Dovecot unescapes
        # quoted values; imapc_user also expands %variables, imapc_password does not.
        lines = [
            f"!include {self.params['dovecot_config']}",
            f"imapc_host = {source['host']}",
            f"imapc_port = {int(source['port'])}",
            f"imapc_ssl = {'imaps' if source['ssl'] == 'imaps' else 'starttls'}",
            "imapc_ssl_verify = yes",
            f"imapc_user = {quote(login.replace('%', '%%'))}",
            f"imapc_password = {quote(password)}",
            # Not guid-forced: with Dovecot 2.3.19 it made dsync fail ("Remote sent unwanted
            # message body") on LF-stored sources and after an interrupted run. Without
            # it, dsync pairs messages by UID + Date/Message-ID hash: see
            # docs/migration.md for the duplicates this can leave (open problem).
            "imapc_features = rfc822.size fetch-headers",
            "mail_prefetch_count = 20",
            "ssl_client_ca_dir = /etc/ssl/certs",
        ]
        if self.ca_file:
            lines.append(f"ssl_client_ca_file = {self.ca_file}")
        write_private(conf, "\n".join(lines) + "\n")
        argv = ["doveadm", "-c", conf, "sync", "-1", "-R", "-u", mailbox["new_address"]]
        for mask in excluded:
            argv += ["-x", mask, "-x", mask + "/*"]
        argv.append("imapc:")
        rc, error = 0, ""
        shared = self.params["shared_prefix"]
        try:
            for _attempt in range(3):
                if self.stopping:
                    break
                log_path = os.path.join(self.job.dir, "doveadm.log")
                with os.fdopen(
                    os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600), "w+"
                ) as log:
                    self.child = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, text=True
                    )
                    last = time.monotonic()
                    while self.child.poll() is None:
                        time.sleep(0.5)
                        if time.monotonic() - last >= COUNT_EVERY:
                            last = time.monotonic()
                            try:
                                now_in = dest_folders(mailbox["new_address"], shared)
                                mailbox["copied"] = max(
                                    0, sum(now_in.values()) - sum(before.values())
                                )
                                self.save()
                            except RuntimeError:
                                pass
                    rc = self.child.returncode
                    log.seek(0)
                    output = log.read()
                    error = first_error(output.replace(password, "***") if password else output)
                self.child = None
                if rc != DSYNC_CHANGED:
                    break
        finally:
            remove(conf)
        return rc, error


def start_worker(module, job, lock_fd, state, passwords, ca_file):
    """Detach the worker (double fork, new session) so that it outlives this module and
    the SSH session; it alone keeps the lock descriptor."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        os.close(lock_fd)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, lock_fd)
        os.closerange(lock_fd + 1, 1024)
        state["pid"] = os.getpid()
        job.write(state)
        Worker(job, state, module.params, passwords, ca_file).run()
    finally:
        os._exit(0)


# --- The module ----------------------------------------------------------------------------


def holder_text(state):
    if not state:
        return "another migration"
    return f"run {state.get('run_id')} (pid {state.get('pid')}) since {state.get('started_at')}"


def refuse_if_busy(module, job):
    if job.busy():
        state = job.read() or {}
        module.fail_json(
            msg=f"a migration of {module.params['tenant']} is already running on this server: "
            f"{holder_text(state)}",
            fnl_migrate_busy={k: state.get(k) for k in ("run_id", "pid", "started_at")},
        )


def start(module, job):
    params = module.params
    lock_fd = job.try_lock()
    if lock_fd is None:
        refuse_if_busy(module, job)
    ca_file = None
    if params["ca_pem"]:
        # Not secret, and read by doveadm once it runs as the mail user: world-readable,
        # beside the private job directory.
        ca_file = job.dir + ".ca.pem"
        write_private(ca_file, params["ca_pem"])
        os.chmod(ca_file, 0o644)
    state = {
        "run_id": params["run_id"],
        "tenant": params["tenant"],
        "started_at": now(),
        "finished": False,
        "mailboxes": [
            {
                "old_login": m["old_login"],
                "new_address": m["new_address"],
                "line": m.get("line"),
                "state": "pending",
                "reason": "",
            }
            for m in params["mailboxes"] or []
        ],
    }
    job.write(state)
    start_worker(module, job, lock_fd, state, dict(params["passwords"] or {}), ca_file)
    module.exit_json(changed=True, fnl_migrate_progress=public(state), finished=False)


def follow(module, job, stop=False):
    state = job.read()
    if not state or state.get("run_id") != module.params["run_id"]:
        if stop:  # interrupted before it started: nothing to stop
            module.exit_json(changed=False, finished=True, fnl_migrations=[])
        module.fail_json(msg=f"no migration {module.params['run_id']} on this server")
    if stop and not state.get("finished") and job.busy():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(state.get("pid") or 0), signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while job.busy() and time.monotonic() < deadline:
            time.sleep(0.2)
        state = job.read() or state
    finished = bool(state.get("finished"))
    if not finished and not job.busy():
        # The worker is gone without finishing (killed, server rebooted): say so.
        for mailbox in state["mailboxes"]:
            if mailbox["state"] not in ("ok", "incomplete", "failed"):
                mailbox.update(state="failed", reason="the migration process stopped")
        state["finished"] = finished = True
    result = {"changed": False, "finished": finished, "fnl_migrate_progress": public(state)}
    if finished:
        result["fnl_migrations"] = public(state)
        result["changed"] = any(m.get("copied") for m in state["mailboxes"])
        result["interrupted"] = bool(state.get("interrupted"))
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec={
            "action": {
                "type": "str",
                "required": True,
                "choices": ["check", "start", "follow", "stop"],
            },
            "tenant": {"type": "str", "required": True},
            "run_id": {"type": "str", "required": True},
            "source": {"type": "dict"},
            "ca_pem": {"type": "str"},
            "mailboxes": {"type": "list", "elements": "dict"},
            "passwords": {"type": "dict", "no_log": True},
            "directory": {"type": "path", "default": "/run/fnl-deploy/migrate"},
            "dovecot_config": {"type": "path", "default": "/etc/dovecot/dovecot.conf"},
            "shared_prefix": {"type": "str", "default": "shared/"},
        },
        required_if=[("action", "start", ("source", "mailboxes", "passwords"))],
        supports_check_mode=False,
    )
    job = Job(module.params["directory"], module.params["tenant"])
    action = module.params["action"]
    if action == "check":
        refuse_if_busy(module, job)
        module.exit_json(changed=False)
    elif action == "start":
        start(module, job)
    else:
        follow(module, job, stop=action == "stop")


if __name__ == "__main__":
    main()
