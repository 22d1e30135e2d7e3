"""Role directory: the accounts Postfix and Dovecot will read are there, as declared."""


def psql(host, sql):
    result = host.run(f"runuser -u postgres -- psql -At -d fnl_directory -c \"{sql}\"")
    assert result.rc == 0, result.stderr
    return result.stdout.split()


def test_mailboxes_are_in_the_directory_with_their_quota(host):
    rows = psql(host, "SELECT address || '|' || kind || '|' || quota_bytes FROM fnl.mailbox"
                      " WHERE state = 'active' ORDER BY address")
    assert rows == ["anne.vial@mairie-ambel.fr|person|2147483648",
                    "mairie@mairie-ambel.fr|shared|2147483648",
                    "marie.curie@voiron.fr|person|2147483648"]


def test_alias_domain_points_at_the_primary_domain(host):
    assert psql(host, "SELECT alias_of FROM fnl.domain WHERE name = 'ambel.fr'") == [
        "mairie-ambel.fr"]


def test_alias_and_rights_are_recorded(host):
    assert psql(host, "SELECT target FROM fnl.forward WHERE address = 'contact@mairie-ambel.fr'"
                ) == ["mairie@mairie-ambel.fr"]
    assert psql(host, "SELECT rights FROM fnl.shared_right") == ["full"]


def test_each_account_has_its_own_mail_directory(host):
    maildirs = psql(host, "SELECT maildir FROM fnl.mailbox WHERE tenant_id = 'ambel'")
    assert len(set(maildirs)) == 2
    assert all(m.startswith("mairie-ambel.fr/") for m in maildirs)


def test_an_account_carried_from_another_server_keeps_its_id_mail_and_password(host):
    # A commune moving here (site.yml's move play): the account is the one it was there.
    assert psql(host, "SELECT id || '|' || maildir || '|' || password_hash FROM fnl.mailbox"
                      " WHERE address = 'marie.curie@voiron.fr'") == [
        "1b4e28ba-2fa1-41d2-883f-0016d3cca427|voiron.fr/marie.curie.1b4e28ba|"
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHQ$chosenbymarie"]


def test_postfix_reads_the_domains_moved_away(host):
    # Empty here; role mail's Postfix defers mail for the domains listed (4xx).
    assert psql(host, "SET ROLE postfix; SELECT count(*) FROM fnl.mail_moved_domain")[-1:] == ["0"]


def test_schema_is_versioned(host):
    assert psql(host, "SELECT max(version) FROM fnl.schema_version") == ["5"]


def test_groupware_sees_the_same_live_accounts(host):
    # What SOGo's per-domain views select from (role groupware): the live people and
    # shared mailboxes, each with its domain.
    accounts = psql(host, "SELECT c_uid || '|' || c_domain FROM fnl.groupware_account ORDER BY 1")
    assert accounts == [
        "anne.vial@mairie-ambel.fr|mairie-ambel.fr",
        "mairie@mairie-ambel.fr|mairie-ambel.fr",
        "marie.curie@voiron.fr|voiron.fr",
    ]


def test_services_read_the_views_and_nothing_else(host):
    as_dovecot = "SET ROLE dovecot; SELECT address FROM fnl.mail_account ORDER BY address"
    assert psql(host, as_dovecot)[-3:] == [
        "anne.vial@mairie-ambel.fr", "mairie@mairie-ambel.fr", "marie.curie@voiron.fr"]
    denied = host.run(
        "runuser -u postgres -- psql -At -d fnl_directory"
        " -c 'SET ROLE postfix; SELECT count(*) FROM fnl.mailbox'"
    )
    assert denied.rc != 0 and "permission denied" in denied.stderr
