"""Shared by the fnl-deploy modules that read or write PostgreSQL on the server.

Lives in role directory, which every play runs before roles mail and groupware: a role's
module_utils serve every module of the play once the role is loaded.
"""

from __future__ import annotations

import os
import pwd
from contextlib import contextmanager


def connect_as_postgres(database):
    """Connect over the local socket with peer authentication as the postgres account.

    The modules run as root (they read root-only files); the socket's peer credentials are
    taken at connect time from the effective uid, so it switches to postgres just for that.
    """
    import psycopg2  # python3-psycopg2; each module reports it missing in its own words

    postgres = pwd.getpwnam("postgres")
    os.setegid(postgres.pw_gid)
    os.seteuid(postgres.pw_uid)
    try:
        return psycopg2.connect(dbname=database, user="postgres")
    finally:
        os.seteuid(0)
        os.setegid(0)


@contextmanager
def transaction(connection, check_mode):
    """A cursor in one transaction that commits, or in check mode rolls back: a plan
    computes its changes against the live data and leaves it untouched. Any error (or a
    module exiting early) rolls back. Closes the connection."""
    try:
        with connection.cursor() as cur:
            yield cur
        if check_mode:
            connection.rollback()
        else:
            connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()
