"""Role mail: Postfix, Dovecot and Rspamd serve the directory's accounts, live.

Each testinfra command is a round trip to the container, so checks are batched: one
command per table, per service list, per client session.
"""

import json
import shlex
import time
import uuid

HOSTNAME = "mail1.example.org"
ANNE = "anne.vial@mairie-ambel.fr"
ANNE_PASSWORD = "Anne-Vial-2026!"
GERARD = "gerard.chabert@xn--chevis-9ua.fr"
SHARED = "mairie@mairie-ambel.fr"
SHARED_ECHEVIS = "mairie@xn--chevis-9ua.fr"
UNKNOWN = "nobody@mairie-ambel.fr"
DOMAINS = ["ambel.fr", "mairie-ambel.fr", "xn--chevis-9ua.fr"]
CA = "/etc/fnl-deploy/tls/ca.crt"


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}\nrc={result.rc}\n{result.stdout}{result.stderr}"
    return result.stdout


def python(host, script):
    """Run a Python script in the container (a client talking to the services)."""
    return run(host, "python3 -c " + shlex.quote(script))


def lookup(host, table, *keys):
    """Postfix's answers from one of its directory lookups, as smtpd and cleanup get them
    (through proxymap, as root): {key: value} for the keys the table knows."""
    out = run(host, f"printf '%s\\n' {' '.join(keys)} |"
                    f" postmap -q - proxy:pgsql:/etc/postfix/pgsql/{table}.cf")
    return dict(line.split("\t", 1) for line in out.splitlines())


def home(host, address):
    return run(host, f"doveadm user -f home {address}").strip()


# --- Services -------------------------------------------------------------------------

def test_services_are_running(host):
    # postfix.service is only a wrapper on Debian: the instance postfix@- is the daemon.
    units = ["postfix@-", "dovecot", "rspamd", "redis-server"]
    states = host.run("systemctl is-active " + " ".join(units)).stdout.split()
    assert dict(zip(units, states, strict=True)) == dict.fromkeys(units, "active")
    run(host, "postfix status")
    # Running because they never stopped: a reload that kills a service, restarted by
    # systemd, must not pass for a working one.
    restarts = run(host, "systemctl show -p NRestarts --value " + " ".join(units)).split()
    assert dict(zip(units, restarts, strict=True)) == dict.fromkeys(units, "0")


def test_mail_ports_are_listening(host):
    local = {line.split()[3] for line in run(host, "ss -Hltn").splitlines()}
    ports = {address.rsplit(":", 1)[1] for address in local}
    for port in ["25", "465", "587", "143", "993", "4190"]:
        assert port in ports, f"nothing listens on port {port}: {sorted(local)}"
    # Rspamd's milter, Dovecot's quota policy and Redis stay on the loopback.
    assert {"127.0.0.1:11332", "127.0.0.1:12340", "127.0.0.1:6379"} <= local


def test_postfix_uses_the_server_name(host):
    assert run(host, "postconf -h myhostname").strip() == HOSTNAME


# --- Postfix lookups in the directory -----------------------------------------------

def test_postfix_knows_the_domains(host):
    assert lookup(host, "virtual_mailbox_domains", *DOMAINS, "example.com") == {
        "mairie-ambel.fr": "1", "xn--chevis-9ua.fr": "1"}
    assert lookup(host, "virtual_alias_domains", *DOMAINS, "example.com") == {"ambel.fr": "1"}


def test_postfix_accepts_active_mailboxes_only(host):
    assert lookup(host, "virtual_mailbox_maps", ANNE, SHARED, GERARD, UNKNOWN,
                  "contact@mairie-ambel.fr") == {ANNE: "1", SHARED: "1", GERARD: "1"}


def test_aliases_lists_and_alias_domains_forward(host):
    found = lookup(host, "virtual_alias_maps", "contact@mairie-ambel.fr",
                   "conseil@mairie-ambel.fr", "maire@xn--chevis-9ua.fr",
                   "anne.vial@ambel.fr", "contact@ambel.fr", UNKNOWN, ANNE)
    found = {key: sorted(value.split(",")) for key, value in found.items()}
    assert found == {
        "contact@mairie-ambel.fr": [SHARED],
        "conseil@mairie-ambel.fr": [ANNE, GERARD],
        "maire@xn--chevis-9ua.fr": [GERARD],
        "anne.vial@ambel.fr": [ANNE],
        "contact@ambel.fr": ["contact@mairie-ambel.fr"],
    }


def test_sender_logins_are_the_owners(host):
    found = lookup(host, "sender_login_maps", ANNE, SHARED, "anne.vial@ambel.fr",
                   "mairie@ambel.fr", "maire@xn--chevis-9ua.fr", SHARED_ECHEVIS, UNKNOWN)
    assert found == {
        ANNE: ANNE,
        "anne.vial@ambel.fr": ANNE,
        # Full rights on a shared mailbox let the member send as it; read rights do not.
        SHARED: ANNE,
        "mairie@ambel.fr": ANNE,
        "maire@xn--chevis-9ua.fr": GERARD,
    }


# --- Dovecot accounts -------------------------------------------------------------------

def test_dovecot_finds_the_account_in_the_mail_store(host):
    fields = dict(line.split("\t", 1) for line in
                  run(host, f"doveadm user {ANNE}").splitlines()[1:] if "\t" in line)
    assert fields["home"].startswith("/var/vmail/mairie-ambel.fr/anne.vial.")
    assert (fields["uid"], fields["gid"]) == ("5000", "5000")
    assert fields["quota_rule"] == "*:bytes=2147483648"
    assert home(host, SHARED).startswith("/var/vmail/mairie-ambel.fr/mairie.")
    assert host.run(f"doveadm user {UNKNOWN}").rc != 0


def test_login_with_the_shipped_password_hash(host):
    good = host.run(f"doveadm auth test {ANNE} {shlex.quote(ANNE_PASSWORD)}")
    assert good.rc == 0 and "auth succeeded" in good.stdout, good.stdout + good.stderr
    wrong = host.run(f"doveadm auth test {ANNE} {shlex.quote(ANNE_PASSWORD + 'x')}")
    assert wrong.rc != 0 and "auth failed" in wrong.stdout, wrong.stdout + wrong.stderr
    # Shared mailboxes have no password: nobody logs in as them.
    shared = host.run(f"doveadm auth test {SHARED} {shlex.quote(ANNE_PASSWORD)}")
    assert shared.rc != 0


# --- DKIM -------------------------------------------------------------------------------

def test_every_domain_has_a_dkim_key_only_rspamd_reads(host):
    selectors = dict(line.split() for line in
                     run(host, "cat /etc/rspamd/dkim_selectors.map").splitlines())
    assert sorted(selectors) == DOMAINS
    keys = [f"/var/lib/rspamd/dkim/{domain}.{selectors[domain]}.key" for domain in DOMAINS]
    stats = run(host, "stat -c '%n %U:%G %a' /var/lib/rspamd/dkim " + " ".join(keys))
    assert stats.splitlines() == ["/var/lib/rspamd/dkim _rspamd:_rspamd 700"] + [
        f"{key} _rspamd:_rspamd 600" for key in keys]
    assert all(selector.startswith("fnl") for selector in selectors.values())
    # A usable RSA key (the one the DNS record will publish).
    out = run(host, f"openssl pkey -in {keys[1]} -noout -text_pub")
    assert "2048 bit" in out


# --- Shared mailboxes -------------------------------------------------------------------

def test_shared_mailboxes_give_their_members_the_declared_rights(host):
    for address, member, rights in [(SHARED, ANNE, "lrswipkxte"),
                                    (SHARED_ECHEVIS, GERARD, "lrs")]:
        acl = f"{home(host, address)}/Maildir/dovecot-acl"
        assert run(host, f"stat -c '%U:%G %a' {acl}").strip() == "vmail:vmail 600"
        assert run(host, f"cat {acl}").splitlines() == ["owner lrswipkxte",
                                                         f"user={member} {rights}"]
    # Dovecot reads them: the member's rights as Dovecot applies them.
    rights = {line.split()[0]: set(line.split()[1:]) for line in
              run(host, f"doveadm acl get -u {SHARED} INBOX").splitlines()[1:]}
    assert rights[f"user={ANNE}"] == {"lookup", "read", "write-seen", "write", "insert", "post",
                                      "create", "delete", "write-deleted", "expunge"}
    rights = {line.split()[0]: set(line.split()[1:]) for line in
              run(host, f"doveadm acl get -u {SHARED_ECHEVIS} INBOX").splitlines()[1:]}
    assert rights[f"user={GERARD}"] == {"lookup", "read", "write-seen"}


# --- Clients ----------------------------------------------------------------------------

def test_imap_requires_tls_and_shows_the_shared_mailbox(host):
    # A client from another address (Dovecot trusts a connection from its own address).
    out = python(host, f"""
import imaplib, json, socket, ssl
with socket.create_connection(("127.0.0.1", 143), source_address=("127.0.0.2", 0)) as plain:
    greeting = plain.makefile("rb").readline().decode()
# Clients reach the server by its name: the certificate is checked against it.
context = ssl.create_default_context(cafile={CA!r})
starttls = imaplib.IMAP4({HOSTNAME!r}, 143)
starttls.starttls(ssl_context=context)
starttls.login({ANNE!r}, {ANNE_PASSWORD!r})
starttls.logout()
imap = imaplib.IMAP4_SSL({HOSTNAME!r}, 993, ssl_context=context)
imap.login({ANNE!r}, {ANNE_PASSWORD!r})
mailboxes = [line.decode().rsplit(" ", 1)[1].strip('"') for line in imap.list()[1]]
imap.logout()
print(json.dumps({{"greeting": greeting, "mailboxes": mailboxes}}))
""")
    result = json.loads(out)
    assert "STARTTLS" in result["greeting"] and "LOGINDISABLED" in result["greeting"], result
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk"} <= set(result["mailboxes"])
    assert f"shared/{SHARED}" in result["mailboxes"]


def test_submission_requires_login_and_checks_the_sender(host):
    out = python(host, f"""
import json, smtplib, ssl
context = ssl.create_default_context(cafile={CA!r})
results = {{}}
with smtplib.SMTP({HOSTNAME!r}, 587, local_hostname="client.example.org", timeout=60) as smtp:
    smtp.starttls(context=context)
    smtp.login({ANNE!r}, {ANNE_PASSWORD!r})
    for sender in [{SHARED!r}, {GERARD!r}]:
        smtp.mail(sender)
        results[sender] = smtp.rcpt({GERARD!r})[0]
        smtp.rset()
print(json.dumps(results))
""")
    codes = json.loads(out)
    assert codes[SHARED] == 250, "a member with full rights sends as the shared mailbox"
    assert codes[GERARD] == 553, "nobody sends as someone else's address"


def test_mail_to_a_person_lands_in_their_maildir(host):
    token = uuid.uuid4().hex
    out = python(host, f"""
import json, smtplib
from email.message import EmailMessage
codes = {{}}
with smtplib.SMTP("127.0.0.1", 25, local_hostname="client.example.org", timeout=60) as smtp:
    smtp.ehlo()
    smtp.mail("sender@example.com")
    codes["unknown"] = smtp.rcpt({UNKNOWN!r})[0]
    smtp.rset()
    for n, to in enumerate([{ANNE!r}, "anne.vial@ambel.fr"]):
        message = EmailMessage()
        message["From"] = {GERARD!r}
        message["To"] = to
        message["Subject"] = "molecule {token} " + str(n)
        message.set_content("Bonjour,\\nmessage de test.\\n")
        smtp.send_message(message)
print(json.dumps(codes))
""")
    assert json.loads(out) == {"unknown": 550}, "unknown recipients are refused at RCPT"
    maildir = f"{home(host, ANNE)}/Maildir"
    deadline = time.monotonic() + 20
    while True:
        # Messages only (Dovecot's index files quote them too), in any folder.
        found = host.run(f"find {maildir} -type f -regex '.*/\\(new\\|cur\\)/[^/]*'"
                         f" -exec grep -l 'molecule {token}' {{}} +").stdout.split()
        if len(found) == 2 or time.monotonic() > deadline:
            break
        time.sleep(1)
    queue = host.run("postqueue -p; journalctl -n 30 --no-pager -u postfix@- -u dovecot").stdout
    assert len(found) == 2, f"not delivered to {maildir} in 20 s:\n{queue}"
    # In the inbox (not filed in Junk), signed by rspamd for the sender's domain.
    assert all(path.startswith(f"{maildir}/new/") or path.startswith(f"{maildir}/cur/")
               for path in found), found
    message = run(host, f"cat {found[0]}")
    assert "DKIM-Signature:" in message and "d=xn--chevis-9ua.fr" in message, message
