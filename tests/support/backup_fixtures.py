# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and helpers shared by the backup, restore and clone tests.

Those test modules load it with ``pytest_plugins = ["conftest_backup"]`` and
import its helpers: a second ``conftest.py`` in this directory would shadow
``tests/conftest.py`` under the module name ``conftest`` that the other tests
import from.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import uuid

import psycopg2
import pytest

from conftest import COLLECTIONS, REPO, Database, run_module

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup


@pytest.fixture
def createdb(cluster):
    """The application role may create and rename databases (swap, clone) for the test."""
    cluster.psql("ALTER ROLE knowledgehub CREATEDB")
    yield
    cluster.psql("ALTER ROLE knowledgehub NOCREATEDB")


TEMPLATE = "kh_backup_template"


@pytest.fixture(scope="session")
def kh_template(cluster):
    """A KnowledgeHub database with 2000 chunks, loaded once and copied for each test (much faster than loading)."""
    if cluster.psql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % TEMPLATE) == "0":
        cluster.psql('CREATE DATABASE "%s" OWNER knowledgehub TEMPLATE knowledgehub_template' % TEMPLATE)
        Database(cluster, TEMPLATE).load_baseline(chunks=2000)
    yield TEMPLATE
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % TEMPLATE)


@pytest.fixture
def kh(cluster, kh_template):
    """A fresh copy of the KnowledgeHub template database; it and the databases derived from it are dropped
    afterwards."""
    name = "kh_" + uuid.uuid4().hex[:12]
    cluster.psql('CREATE DATABASE "%s" OWNER knowledgehub TEMPLATE "%s"' % (name, kh_template))
    yield Database(cluster, name)
    drop_derived(cluster, name)
    cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def drop_derived(cluster, name: str) -> None:
    names = cluster.psql("SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE '%s\\_%%'" % name)
    for derived in (names or "").split():
        cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % derived)


def databases_like(cluster, name: str) -> list[str]:
    out = cluster.psql("SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database "
                       "WHERE datname LIKE '%s\\_%%'" % name)
    return (out or "").split()


@pytest.fixture
def backup_dir(tmp_path):
    return str(tmp_path / "backups")


def backup(db, backup_dir: str, check_mode: bool = False, **options) -> dict:
    return run_module("pg_backup", dict(db.params, backup_dir=backup_dir, **options), check_mode=check_mode)


def restore(db, check_mode: bool = False, **options) -> dict:
    return run_module("pg_restore", dict(db.params, **options), check_mode=check_mode)


def ok(result: dict) -> dict:
    assert result["_rc"] == 0 and not result.get("failed"), result.get("msg") or result["_stderr"][-3000:]
    return result


def failed(result: dict) -> str:
    assert result.get("failed") and result["_rc"] != 0, "expected a failure, got %s" % {
        k: v for k, v in result.items() if not k.startswith("_")}
    return result["msg"]


def nothing_recorded(backup_dir: str, label: str | None = None) -> None:
    """No backup counted as good: no manifest, no archive, nothing retention would count."""
    if not os.path.isdir(backup_dir):
        return
    leftovers = [n for n in os.listdir(backup_dir) if not n.endswith(_backup.FAILED_SUFFIX)]
    assert leftovers == [], leftovers
    if label:
        assert _backup.good_backups(backup_dir, label) == []


def manifest_of(result: dict) -> dict:
    with open(result["manifest"], encoding="utf-8") as handle:
        return json.load(handle)


def start_module(name: str, args: dict) -> subprocess.Popen:
    """Start a module like run_module does, without waiting for it."""
    module_args = dict(args, _ansible_check_mode=False, _ansible_no_log=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.knowledgehub.migration.plugins.modules." + name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=COLLECTIONS), cwd=REPO)
    proc.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    proc.stdin.close()
    proc.stdin = None  # communicate() must not touch it again
    return proc


def superuser_connection(cluster, dbname: str):
    conn = psycopg2.connect(host=cluster.socket_dir, port=cluster.port, user="postgres", dbname=dbname)
    return conn


def app_connection(db, application: str = "kh-test-app"):
    return psycopg2.connect(host="127.0.0.1", port=db.pg.port, user="knowledgehub", password=db.pg.app_password,
                            dbname=db.name, application_name=application)


def archive_files(backup_dir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(backup_dir, "*")))
