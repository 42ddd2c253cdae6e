# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the collection's work goes: one ``Target``, built once from the module's options.

``Target.from_params`` is the only code that reads the ``login_*`` options. Everything
else asks the target: a psycopg2 connection for a purpose, the same target on another
database, a libpq conninfo without the password for the client programs, their
environment (the password in it, never in a file), or the variant that reaches the server from
inside its compose service.

Option names are community.postgresql's, so an inventory written for that collection
works here unchanged. The password goes to libpq as a keyword argument (never on a
command line); when it is empty, libpq's own PGPASSWORD / PGPASSFILE / ~/.pgpass
lookup applies.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tempfile
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line, mask
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import pgoptions

try:
    import psycopg2
    import psycopg2.errors
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

# What the other files take from here: psycopg2 and its sql module come through this file only.
__all__ = ["APPLICATION_NAME", "HAS_PSYCOPG2", "PSYCOPG2_IMPORT_ERROR", "ConnectionFailure", "Target",
           "connection_argument_spec", "pgsql", "psycopg2", "server_version_text"]

APPLICATION_NAME = "knowledgehub.migration"
_TLS_FILES = (("ca_cert", "sslrootcert"), ("ssl_cert", "sslcert"), ("ssl_key", "sslkey"))


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
        connect_params=dict(type="dict", default={}, no_log=True),
    )


class ConnectionFailure(Failure):
    """PostgreSQL could not be reached or refused the login."""


def _conninfo_value(value: Any) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclasses.dataclass(frozen=True)
class Target:
    """One PostgreSQL database as the module's options describe it. Immutable: variants are new targets."""

    dbname: str
    user: str
    port: int
    host: str = ""  # a host name, an address or a unix socket directory; '' is libpq's default socket
    password: str = dataclasses.field(default="", repr=False)
    sslmode: str = "prefer"
    tls: tuple[tuple[str, str], ...] = ()  # (libpq keyword, file)
    connect_timeout: int = 10
    extra: tuple[tuple[str, str], ...] = ()  # connect_params other than the password

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Target":
        """The one reading of the connection options (``login_*``, ``ssl_*``, ``connect_params``)."""
        extra = dict(params.get("connect_params") or {})
        password = params.get("login_password") or str(extra.get("password") or "")
        extra = {k: v for k, v in extra.items() if k.lower() != "password"}
        return cls(
            dbname=params.get("login_db") or "postgres",
            user=params.get("login_user") or "postgres",
            port=int(params.get("login_port") or 5432),
            host=params.get("login_unix_socket") or params.get("login_host") or "",
            password=password,
            sslmode=params.get("ssl_mode") or "prefer",
            tls=tuple((keyword, params[option]) for option, keyword in _TLS_FILES if params.get(option)),
            connect_timeout=int(params.get("connect_timeout") or 10),
            extra=tuple((str(k), str(v)) for k, v in extra.items()),
        )

    # -- variants -------------------------------------------------------------

    def on(self, dbname: str) -> "Target":
        """The same server and login, another database."""
        return dataclasses.replace(self, dbname=dbname)

    def in_service(self, port: int, socket_dir: str) -> "Target":
        """The server as seen from inside its own container (``docker compose exec``): its socket and port,
        no TLS files of the host."""
        return dataclasses.replace(self, port=port, host=socket_dir or "127.0.0.1", tls=())

    # -- descriptions -----------------------------------------------------------

    def describe(self) -> str:
        """Where a connection goes, for messages: never includes the password."""
        return "database %r on %s:%s as user %r" % (self.dbname, self.host or "local socket", self.port, self.user)

    def scrub(self, text: str) -> str:
        """``text`` with the password masked."""
        return mask(text, self.password)

    def _keywords(self, application: str) -> dict[str, Any]:
        keywords: dict[str, Any] = {"dbname": self.dbname, "user": self.user, "port": self.port,
                                    "sslmode": self.sslmode, "connect_timeout": self.connect_timeout}
        if self.host:
            keywords["host"] = self.host
        keywords.update(self.tls)
        if application:
            keywords["application_name"] = application
        keywords.update(self.extra)
        return keywords

    def conninfo(self, application: str = "") -> str:
        """A libpq connection string for a client program's ``--dbname``, without the password."""
        return " ".join("%s=%s" % (key, _conninfo_value(value)) for key, value in self._keywords(application).items())

    # -- using it ---------------------------------------------------------------

    def connect(self, purpose: str = "", autocommit: bool = False) -> Any:
        """A psycopg2 connection. ConnectionFailure says what failed and what to do, never with the password."""
        application = "%s %s" % (APPLICATION_NAME, purpose) if purpose else APPLICATION_NAME
        # A dead runner's sessions must not linger: keepalives end them promptly (connect_params may override).
        keywords = dict(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        keywords.update(self._keywords(application))
        if self.password:
            keywords["password"] = self.password
        try:
            conn = psycopg2.connect(**keywords)
        except psycopg2.OperationalError as exc:
            raise ConnectionFailure(
                "Cannot connect to %s: %s. Check login_host/login_port/login_user/login_password/login_db "
                "(or PGPASSFILE) and that the server accepts connections from this host (pg_hba.conf)."
                % (self.describe(), self.scrub(first_line(exc)))) from None
        conn.autocommit = autocommit
        return conn

    @contextmanager
    def client_env(self, settings: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
        """The environment of a client program: messages in English, ``PGOPTIONS`` for ``settings`` (checked first),
        and the password as ``PGPASSWORD``. No passfile: a file would outlive a killed module, an environment
        dies with the process (on Linux only its user and root read /proc/<pid>/environ; it is never in argv).
        Stale ``kh-pgpass-*`` directories that older versions left in the temporary directory are removed."""
        options = pgoptions(settings or {})
        _remove_stale_passfiles()
        env = dict(os.environ)
        env["LC_ALL"] = "C"  # messages in English, so errors read the same everywhere
        env.pop("PGOPTIONS", None)
        if self.password:
            env["PGPASSWORD"] = self.password
            env.pop("PGPASSFILE", None)
        if options:
            env["PGOPTIONS"] = options
        yield env


def _remove_stale_passfiles() -> None:
    """Remove the ``kh-pgpass-*`` directories (private passfiles) that older versions left behind when they
    were killed: only real directories of this user, directly in the temporary directory."""
    top = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(top) if n.startswith("kh-pgpass-")]
    except OSError:
        return
    for name in names:
        path = os.path.join(top, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)


def server_version_text(num: int) -> str:
    """PostgreSQL's server_version_num as text: 150008 -> '15.8', 90624 -> '9.6.24'."""
    if num >= 100000:
        return "%d.%d" % (num // 10000, num % 10000)
    return "%d.%d.%d" % (num // 10000, (num // 100) % 100, num % 100)
