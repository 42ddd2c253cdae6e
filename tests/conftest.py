# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures: a real PostgreSQL 15 started by the test session, one fresh database per test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".collections")
MIGRATIONS = os.path.join(REPO, "migrations")
SAMPLE_DATA = os.path.join(REPO, "tools", "sample_data.sql")


def _link_collection() -> None:
    """Make ``ansible_collections.knowledgehub.migration`` importable from this checkout."""
    parent = os.path.join(COLLECTIONS, "ansible_collections", "knowledgehub")
    link = os.path.join(parent, "migration")
    if not os.path.lexists(link):
        os.makedirs(parent, exist_ok=True)
        os.symlink(os.path.relpath(REPO, parent), link)


_link_collection()
sys.path.insert(0, COLLECTIONS)
sys.path.insert(0, os.path.join(REPO, "tools"))

import pgsandbox  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def cluster():
    """A PostgreSQL 15 cluster on a free loopback port, removed at the end of the session."""
    basedir = tempfile.mkdtemp(prefix="kh-test-pg-")
    pg = pgsandbox.Cluster(basedir, pgsandbox.free_port(), fsync=False)
    pg.init()
    pg.start()
    pg.app_password = pg.create_app_db("knowledgehub", "knowledgehub_template")
    yield pg
    pg.destroy()


class Database:
    """One empty database owned by the knowledgehub role, with helpers to inspect it."""

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
            cmd += ["--exclude-table", "migration_log"]
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


def new_database(cluster, template: str = "knowledgehub_template") -> Database:
    name = "kh_" + uuid.uuid4().hex[:12]
    cluster.psql('CREATE DATABASE "%s" OWNER knowledgehub TEMPLATE "%s"' % (name, template))
    return Database(cluster, name)


@pytest.fixture
def db(cluster):
    """A fresh, empty database for one test, dropped afterwards."""
    database = new_database(cluster)
    yield database
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database.name)


@pytest.fixture(scope="session")
def legacy_template(cluster):
    """A production-like KnowledgeHub database (001-003 by hand, sample data, no ledger) to clone from."""
    template = new_database(cluster)
    template.load_baseline(chunks=3000)
    yield template
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % template.name)


@pytest.fixture
def legacy_clone(cluster, legacy_template):
    """A fresh copy of the legacy template for one test (a file copy: fast)."""
    database = new_database(cluster, legacy_template.name)
    yield database
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database.name)


def module_command(name: str, args: dict, check_mode: bool = False) -> tuple[list[str], str, dict]:
    """argv, stdin and environment that run a module of this collection as Ansible does."""
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_no_log=False)
    argv = [sys.executable, "-m", "ansible_collections.knowledgehub.migration.plugins.modules." + name]
    return argv, json.dumps({"ANSIBLE_MODULE_ARGS": module_args}), dict(os.environ, PYTHONPATH=COLLECTIONS)


def start_module(name: str, args: dict, check_mode: bool = False) -> subprocess.Popen:
    """Start a module without waiting for it (to kill it, or race it against another run)."""
    argv, stdin, env = module_command(name, args, check_mode)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() must not touch it again
    return proc


def module_result(proc: subprocess.Popen, timeout: float = 900) -> dict:
    """Wait for a module started with start_module and parse its result."""
    stdout, stderr = proc.communicate(timeout=timeout)
    try:
        result = json.loads(stdout)
    except ValueError:
        result = {"failed": True, "msg": "module printed no JSON"}
    result.update(_stdout=stdout, _stderr=stderr, _rc=proc.returncode)
    return result


def run_module(name: str, args: dict, check_mode: bool = False, env: dict | None = None) -> dict:
    """Run a module of this collection as Ansible does: a Python process, arguments on stdin.

    Returns the module's JSON result (with ``failed`` set on failure) and the raw
    process output under ``_stdout`` / ``_stderr`` / ``_rc`` for assertions on leaks.
    """
    argv, stdin, base_env = module_command(name, args, check_mode)
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=dict(base_env, **(env or {})),
                          cwd=REPO, check=False, timeout=900)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = {"failed": True, "msg": "module printed no JSON"}
    result.update(_stdout=proc.stdout, _stderr=proc.stderr, _rc=proc.returncode)
    return result


@pytest.fixture
def migrations_copy(tmp_path):
    """A private copy of migrations/ that a test may alter."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target
