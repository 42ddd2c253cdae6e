# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place this collection connects to PostgreSQL.

Option names are community.postgresql's, so an inventory written for that
collection works here unchanged. The password goes to libpq as a keyword
argument (never on a command line); when it is empty, libpq's own PGPASSWORD /
PGPASSFILE / ~/.pgpass lookup applies.
"""

from __future__ import annotations

import traceback
from typing import Any

try:
    import psycopg2
    import psycopg2.extensions
    from psycopg2 import sql as pgsql
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR: str | None = traceback.format_exc()
    psycopg2 = None
    pgsql = None
else:
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None

APPLICATION_NAME = "knowledgehub.migration"


def connection_argument_spec() -> dict[str, Any]:
    """Connection options shared by every module (documented in the postgres doc fragment)."""
    return dict(
        login_user=dict(type="str", default="postgres", aliases=["login"]),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_unix_socket=dict(type="str", default=""),
        login_port=dict(type="int", default=5432, aliases=["port"]),
        login_db=dict(type="str", default="postgres", aliases=["db"]),
        ssl_mode=dict(type="str", default="prefer",
                      choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        ssl_cert=dict(type="path"),
        ssl_key=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
        connect_params=dict(type="dict", default={}),
    )


class ConnectionFailure(Exception):
    """PostgreSQL could not be reached or refused the login."""


def describe_target(params: dict[str, Any]) -> str:
    """Where a connection goes, for messages: never includes the password."""
    host = params.get("login_unix_socket") or params.get("login_host") or "local socket"
    return "database %r on %s:%s as user %r" % (
        params.get("login_db"), host, params.get("login_port"), params.get("login_user"))


def connect(params: dict[str, Any], autocommit: bool = False, purpose: str = "") -> Any:
    """Open a psycopg2 connection from module parameters.

    Raises ConnectionFailure with a message that says what failed and what to do;
    the message never contains the password.
    """
    kwargs: dict[str, Any] = {
        "dbname": params["login_db"],
        "user": params["login_user"],
        "port": params["login_port"],
        "sslmode": params["ssl_mode"],
        "connect_timeout": params["connect_timeout"],
        "application_name": "%s %s" % (APPLICATION_NAME, purpose) if purpose else APPLICATION_NAME,
        # A dead runner's sessions must not linger: keepalives end them promptly.
        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
    }
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        kwargs["host"] = host
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    for option, keyword in (("ca_cert", "sslrootcert"), ("ssl_cert", "sslcert"), ("ssl_key", "sslkey")):
        if params.get(option):
            kwargs[keyword] = params[option]
    kwargs.update(params.get("connect_params") or {})
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        password = params.get("login_password")
        if password:
            reason = reason.replace(password, "********")
        raise ConnectionFailure(
            "Cannot connect to %s: %s. Check login_host/login_port/login_user/login_password/login_db "
            "(or PGPASSFILE) and that the server accepts connections from this host (pg_hba.conf)."
            % (describe_target(params), reason)) from None
    conn.autocommit = autocommit
    return conn


def quote_qualified(schema: str, name: str) -> Any:
    """A schema-qualified identifier, quoted by psycopg2 (the one place identifiers are quoted)."""
    return pgsql.Identifier(schema, name)


def server_version(conn: Any) -> int:
    """The server's version as an integer (150008 for 15.8)."""
    return int(conn.server_version)
