# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test database on the session's PostgreSQL 15 cluster (tools/pgsandbox.py), and helpers around it."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pgsandbox  # tools/
import psycopg2

from support.paths import MIGRATIONS, SAMPLE_DATA

# The tables the runbook protects above all.
CRITICAL = ("ai_memories", "documents", "chunks")
# The recovery points pg_backup records beside the ledger (migration_log).
RP_TABLE = "migration_log_recovery_point"


class Database:
    """One database owned by the knowledgehub role, with helpers to inspect it."""

    def __init__(self, pg: pgsandbox.Cluster, name: str) -> None:
        self.pg = pg
        self.name = name

    @property
    def params(self) -> dict:
        """pg_migrate connection options for the application role over TCP."""
        return dict(login_host="127.0.0.1", login_port=self.pg.port, login_user="knowledgehub",
                    login_password=self.pg.app_password, login_db=self.name)

    def sql(self, query: str) -> str:
        return self.pg.psql(query, db=self.name)

    def rows(self, query: str) -> list[list[str]]:
        out = self.sql(query)
        return [line.split("|") for line in out.splitlines()] if out else []

    def apply_file(self, path: str, variables: dict | None = None) -> None:
        """Apply a SQL file with psql as the application role, in one transaction."""
        self.pg.psql_file(path, self.name, variables, user="knowledgehub")

    def load_baseline(self, chunks: int = 2000) -> None:
        """A KnowledgeHub database from before the ledger: 001-003 and sample data, applied by hand."""
        for name in sorted(os.listdir(MIGRATIONS)):
            if name[:3] in ("001", "002", "003") and name.endswith(".sql"):
                self.apply_file(os.path.join(MIGRATIONS, name))
        self.pg.psql_file(SAMPLE_DATA, self.name, {"chunks": str(chunks), "dim": "16"}, single_transaction=False,
                          user="knowledgehub")

    def schema_dump(self, exclude_ledger: bool = False) -> str:
        cmd = [os.path.join(pgsandbox.PG_BIN, "pg_dump"), "--schema-only", "--no-owner", "-d", self.name]
        if exclude_ledger:
            # the ledger and the tool's tables beside it (its recovery points, its reports)
            cmd += ["--exclude-table", "migration_log", "--exclude-table", "migration_log_recovery_point",
                    "--exclude-table", "migration_log_report"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.pg.client_env(), check=True)
        # pg_dump >= 15.14 brackets its output with \restrict / \unrestrict and a random key per dump
        return "".join(line for line in proc.stdout.splitlines(keepends=True)
                       if not line.startswith(("\\restrict ", "\\unrestrict ")))

    def tables(self) -> list[str]:
        return [r[0] for r in self.rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.rows(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.%s'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum" % table)]

    def checksum(self, table: str, columns: list[str] | None = None) -> str:
        """md5 over every row of ``table`` (only ``columns`` when given), order-independent."""
        cols = ", ".join('"%s"' % c for c in (columns or self.columns(table)))
        return self.sql("SELECT count(*) || ':' || coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') "
                        "FROM (SELECT ROW(%s)::text AS r FROM public.%s) s" % (cols, table))

    def snapshot(self, tables: list[str] | None = None) -> dict[str, str]:
        """Content checksums of the given (default: all but the ledger) tables."""
        return {t: self.checksum(t) for t in (tables or self.tables()) if t != "migration_log"}

    def ledger(self) -> list[dict]:
        if self.sql("SELECT to_regclass('public.migration_log') IS NULL") == "t":
            return []
        out = self.sql("SELECT coalesce(json_agg(l ORDER BY id), '[]') FROM migration_log l")
        return json.loads(out)


def new_database(cluster: pgsandbox.Cluster, template: str = "knowledgehub_template") -> Database:
    """A new database owned by the application role, a copy of ``template`` (by default an empty database)."""
    name = "kh_" + uuid.uuid4().hex[:12]
    cluster.psql('CREATE DATABASE "%s" OWNER knowledgehub TEMPLATE "%s"' % (name, template))
    return Database(cluster, name)


def drop_database(cluster: pgsandbox.Cluster, name: str, derived: bool = False) -> None:
    """DROP DATABASE ``name`` (sessions ended); with ``derived``, first the databases named ``<name>_...``
    that the modules made from it (recovery points, restores, the database a swap replaced)."""
    if derived:
        drop_derived(cluster, name)
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def drop_derived(cluster: pgsandbox.Cluster, name: str) -> None:
    for derived in databases_like(cluster, name):
        cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % derived)


def databases_like(cluster: pgsandbox.Cluster, name: str) -> list[str]:
    """The databases named ``<name>_...``, by name."""
    out = cluster.psql("SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database "
                       "WHERE datname LIKE '%s\\_%%'" % name)
    return (out or "").split()


def superuser_connection(cluster: pgsandbox.Cluster, dbname: str):
    """A psycopg2 connection as the cluster's superuser, through its Unix socket."""
    return psycopg2.connect(host=cluster.socket_dir, port=cluster.port, user="postgres", dbname=dbname)


def app_connection(db: Database, application: str = "kh-test-app"):
    """A psycopg2 connection as the application role over TCP, as the application (or an operator) makes one."""
    return psycopg2.connect(host="127.0.0.1", port=db.pg.port, user="knowledgehub", password=db.pg.app_password,
                            dbname=db.name, application_name=application)


def recovery_points(db: Database) -> list[dict]:
    """The rows of the recovery-point table beside the ledger, oldest first ([] without the table)."""
    if db.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t":
        return []
    return json.loads(db.sql("SELECT coalesce(json_agg(r ORDER BY id), '[]') FROM %s r" % RP_TABLE))
