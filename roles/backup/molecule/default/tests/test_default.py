"""Role backup: a schedule, private settings, and a backup that holds the mail store."""

ENV = "set -a; . /etc/fnl-deploy/backup/borg.env; set +a; "


def test_backups_are_scheduled(host):
    timer = host.service("fnl-backup.timer")
    assert timer.is_enabled and timer.is_running


def test_settings_and_passphrase_are_root_only(host):
    for path in ("/etc/fnl-deploy/backup/borg.env", "/etc/fnl-deploy/backup/passphrase"):
        secret = host.file(path)
        assert secret.user == "root" and secret.mode == 0o600
    assert "molecule-only-passphrase" not in host.file("/etc/fnl-deploy/backup/borg.env").content_string


def test_the_repository_is_encrypted(host):
    info = host.run(ENV + "borg info --json")
    assert info.rc == 0, info.stderr
    assert '"mode": "repokey-blake2"' in info.stdout


def test_a_backup_holds_the_mail_and_its_status(host):
    run = host.run("systemctl start fnl-backup.service")
    assert run.rc == 0, host.run("journalctl -u fnl-backup -n 20 --no-pager").stdout
    archives = host.run(ENV + "borg list --short").stdout.split()
    assert len(archives) == 1 and archives[0].startswith("backup-instance-")
    files = host.run(ENV + f"borg list --short ::{archives[0]}").stdout.splitlines()
    assert "var/vmail/example.fr/anne/Maildir/cur/1700000000.M1P1.test:2,S" in files
    assert "var/lib/fnl-deploy/staged/credentials.json" not in files
    assert archives[0] in host.file("/var/lib/fnl-deploy/backup/last-success.json").content_string
