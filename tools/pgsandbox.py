# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway PostgreSQL 15 cluster for the demo and the tests.

    python tools/pgsandbox.py start --dir .demo/pg --port 5433 --passfile .demo/pgpass
    python tools/pgsandbox.py stop --dir .demo/pg
    python tools/pgsandbox.py destroy --dir .demo/pg     # stop and remove its files

The cluster listens on 127.0.0.1 only. Its superuser connects through the Unix
socket in <dir>/socket (trust); the application role (knowledgehub) logs in
over TCP with a random password that is written only to a 0600 passfile and
sent to the server on psql's stdin, never on a command line. initdb and
pg_ctl refuse to run as root, so as root they run as the ``postgres`` user.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Cluster:
    """A PostgreSQL cluster in ``basedir`` (data/, socket/, server.log)."""

    def __init__(self, basedir: str, port: int, fsync: bool = True) -> None:
        self.basedir = os.path.abspath(basedir)
        self.port = port
        self.fsync = fsync
        self.data = os.path.join(self.basedir, "data")
        self.socket_dir = os.path.join(self.basedir, "socket")
        self.log = os.path.join(self.basedir, "server.log")
        self.as_root = os.geteuid() == 0

    # -- commands -------------------------------------------------------------

    def _server_cmd(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        cmd = [os.path.join(PG_BIN, args[0])] + args[1:]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)

    def client_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGHOST=self.socket_dir, PGPORT=str(self.port), PGUSER="postgres", PGDATABASE="postgres")
        env.update(extra)
        return env

    def psql(self, sql: str, db: str = "postgres", **extra_env: str) -> str:
        """Run SQL (given on stdin) as the superuser; return the unaligned output."""
        proc = subprocess.run(
            [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db],
            input=sql, capture_output=True, text=True, env=self.client_env(**extra_env), check=False)
        if proc.returncode != 0:
            raise RuntimeError("psql failed (%d): %s" % (proc.returncode, proc.stderr.strip()))
        return proc.stdout.strip()

    def psql_file(self, path: str, db: str, variables: dict[str, str] | None = None,
                  single_transaction: bool = True, user: str = "postgres") -> None:
        """Run a SQL file with psql over the socket as ``user`` (trusted locally), stopping at the first error."""
        cmd = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", path]
        if single_transaction:
            cmd.insert(1, "-1")
        for key, value in (variables or {}).items():
            cmd += ["-v", "%s=%s" % (key, value)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.client_env(PGUSER=user), check=False)
        if proc.returncode != 0:
            raise RuntimeError("psql -f %s failed (%d): %s" % (path, proc.returncode, proc.stderr.strip()))

    # -- lifecycle ------------------------------------------------------------

    def init(self) -> None:
        if os.path.exists(self.data):
            raise RuntimeError("%s already exists; stop and remove it first" % self.data)
        os.makedirs(self.socket_dir, exist_ok=True)
        os.chmod(self.basedir, 0o755)
        if self.as_root:
            shutil.chown(self.basedir, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._server_cmd(["initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"])
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.socket_dir,
            "fsync": "on" if self.fsync else "off",
            "synchronous_commit": "on" if self.fsync else "off",
            "full_page_writes": "on" if self.fsync else "off",
            "max_connections": "100",
            "shared_buffers": "256MB",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] %u@%d '",
        }
        conf = "".join("%s = %s\n" % item for item in settings.items())
        self._append_conf(conf)

    def _append_conf(self, conf: str) -> None:
        path = os.path.join(self.data, "postgresql.auto.conf")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(conf)

    def start(self) -> None:
        self._server_cmd(["pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._server_cmd(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])

    def is_running(self) -> bool:
        proc = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", self.socket_dir, "-p", str(self.port)],
                              capture_output=True, check=False)
        return proc.returncode == 0

    def postmaster_pid(self) -> int:
        with open(os.path.join(self.data, "postmaster.pid"), encoding="utf-8") as handle:
            return int(handle.readline())

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.basedir, ignore_errors=True)

    # -- application role and database ----------------------------------------

    def create_app_db(self, user: str = "knowledgehub", db: str = "knowledgehub",
                      password: str | None = None) -> str:
        """Create a login role owning database ``db``; return its password."""
        password = password or secrets.token_urlsafe(18)
        self.psql("CREATE ROLE %s LOGIN PASSWORD %s;" % (quote_ident(user), quote_literal(password)))
        self.psql("CREATE DATABASE %s OWNER %s;" % (quote_ident(db), quote_ident(user)))
        self.psql("REVOKE ALL ON SCHEMA public FROM PUBLIC; ALTER SCHEMA public OWNER TO %s;" % quote_ident(user),
                  db=db)
        return password

    def write_passfile(self, path: str, user: str, db: str, password: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("127.0.0.1:%d:%s:%s:%s\n" % (self.port, db, user, password.replace(":", "\\:")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status", "destroy"])
    parser.add_argument("--dir", required=True, help="cluster directory (data/, socket/, server.log)")
    parser.add_argument("--port", type=int, default=5433)
    parser.add_argument("--user", default="knowledgehub")
    parser.add_argument("--db", default="knowledgehub")
    parser.add_argument("--passfile", help="where to write the application role's libpq passfile (0600)")
    parser.add_argument("--fresh", action="store_true", help="remove an existing cluster in --dir first")
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir, args.port)
    if args.action == "status":
        print("running" if cluster.is_running() else "stopped")
        return 0 if cluster.is_running() else 3
    if args.action == "stop":
        cluster.stop()
        return 0
    if args.action == "destroy":
        cluster.destroy()
        return 0
    if args.fresh and os.path.exists(cluster.basedir):
        cluster.destroy()
    cluster.init()
    cluster.start()
    password = cluster.create_app_db(args.user, args.db)
    if args.passfile:
        cluster.write_passfile(args.passfile, args.user, args.db, password)
    print("PostgreSQL %s on 127.0.0.1:%d, database %s owned by %s (password in %s)"
          % (cluster.psql("SHOW server_version"), args.port, args.db, args.user, args.passfile or "nowhere"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
