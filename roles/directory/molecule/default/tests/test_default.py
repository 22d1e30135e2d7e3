"""Role directory: the accounts Postfix and Dovecot will read are there, as declared."""


def psql(host, sql):
    result = host.run(f"runuser -u postgres -- psql -At -d fnl_directory -c \"{sql}\"")
    assert result.rc == 0, result.stderr
    return result.stdout.split()


def test_mailboxes_are_in_the_directory_with_their_quota(host):
    rows = psql(host, "SELECT address || '|' || kind || '|' || quota_bytes FROM fnl.mailbox"
                      " WHERE state = 'active' ORDER BY address")
    assert rows == ["anne.vial@mairie-ambel.fr|person|2147483648",
                    "mairie@mairie-ambel.fr|shared|2147483648"]


def test_alias_domain_points_at_the_primary_domain(host):
    assert psql(host, "SELECT alias_of FROM fnl.domain WHERE name = 'ambel.fr'") == [
        "mairie-ambel.fr"]


def test_alias_and_rights_are_recorded(host):
    assert psql(host, "SELECT target FROM fnl.forward WHERE address = 'contact@mairie-ambel.fr'"
                ) == ["mairie@mairie-ambel.fr"]
    assert psql(host, "SELECT rights FROM fnl.shared_right") == ["full"]


def test_each_account_has_its_own_mail_directory(host):
    maildirs = psql(host, "SELECT maildir FROM fnl.mailbox")
    assert len(set(maildirs)) == 2
    assert all(m.startswith("mairie-ambel.fr/") for m in maildirs)


def test_schema_is_versioned(host):
    assert psql(host, "SELECT max(version) FROM fnl.schema_version") == ["4"]


def test_groupware_sees_the_same_live_accounts(host):
    # What SOGo's per-domain views select from (role groupware): the live people and
    # shared mailboxes, each with its domain.
    accounts = psql(host, "SELECT c_uid || '|' || c_domain FROM fnl.groupware_account ORDER BY 1")
    assert accounts == [
        "anne.vial@mairie-ambel.fr|mairie-ambel.fr",
        "mairie@mairie-ambel.fr|mairie-ambel.fr",
    ]


def test_services_read_the_views_and_nothing_else(host):
    as_dovecot = "SET ROLE dovecot; SELECT address FROM fnl.mail_account ORDER BY address"
    assert psql(host, as_dovecot)[-2:] == ["anne.vial@mairie-ambel.fr", "mairie@mairie-ambel.fr"]
    denied = host.run(
        "runuser -u postgres -- psql -At -d fnl_directory"
        " -c 'SET ROLE postfix; SELECT count(*) FROM fnl.mailbox'"
    )
    assert denied.rc != 0 and "permission denied" in denied.stderr
