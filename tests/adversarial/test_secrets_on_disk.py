# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: secrets on disk, and children that outlive their module.

The password must not outlive the process that needed it, even after kill -9: no passfile at all (the
client program gets PGPASSWORD in its own environment, never in argv), stale ``kh-pgpass-*`` directories
that older versions left are removed at the next start, and a killed module's client programs die with it.
Each case runs the module with a private TMPDIR, so "the temp dir" is exactly what the module could write.
"""

from __future__ import annotations

import json
import os

import pytest

from support.database import superuser_connection
from support.hostile import child_killed_with, slow_client_dir, start_with_env
from support.modules import backup, failed, ok, run_module


def files_holding(top: str, secret: bytes) -> list[str]:
    """Every file below ``top`` whose bytes hold ``secret``."""
    found = []
    for root, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as handle:
                    if secret in handle.read():
                        found.append(path)
            except OSError:
                continue
    return found


@pytest.fixture
def tmpdir_env(tmp_path):
    """A private TMPDIR for the module: everything it writes to "the temp dir" lands here."""
    path = tmp_path / "tmp"
    path.mkdir()
    return {"TMPDIR": str(path)}


def test_kill_9_during_pg_dump_leaves_no_password_and_no_orphan(legacy_db, backup_dir, cluster, tmpdir_env):
    password = legacy_db.pg.app_password.encode()
    # An uncommitted rename of a sequence holds pg_dump when it reads it, and nothing the module does
    # before pg_dump touches sequences: pg_dump is certainly running when the module is killed.
    blocker = superuser_connection(cluster, legacy_db.name)
    blocker.cursor().execute("ALTER SEQUENCE sources_id_seq RENAME TO kh_test_blocked_seq")
    proc = start_with_env("pg_backup", dict(legacy_db.params, backup_dir=backup_dir), tmpdir_env)
    try:
        with child_killed_with(proc, "pg_dump") as pg_dump:
            with open("/proc/%d/environ" % pg_dump, "rb") as handle:
                environ = dict(e.split(b"=", 1) for e in handle.read().split(b"\0") if b"=" in e)
            with open("/proc/%d/cmdline" % pg_dump, "rb") as handle:
                assert password not in handle.read()
    finally:
        blocker.rollback()
        blocker.close()
    assert environ.get(b"PGPASSWORD") == password and b"PGPASSFILE" not in environ
    assert files_holding(tmpdir_env["TMPDIR"], password) == []
    assert [n for n in os.listdir(tmpdir_env["TMPDIR"]) if n.startswith("kh-pgpass-")] == []
    assert not os.path.isdir(backup_dir) or files_holding(backup_dir, password) == []


def test_a_bad_session_setting_leaves_no_password_behind(legacy_db, backup_dir, tmpdir_env):
    ok(backup(legacy_db, backup_dir))
    password = legacy_db.pg.app_password
    result = run_module("pg_restore", dict(legacy_db.params, backup_dir=backup_dir, mode="new_database",
                                           session_settings={"work_mem": "1GB -c log_statement=all"}),
                        env=tmpdir_env)
    assert "not a plain PostgreSQL setting" in failed(result)
    assert password not in result["_stdout"] + result["_stderr"]
    assert files_holding(tmpdir_env["TMPDIR"], password.encode()) == []
    assert os.listdir(tmpdir_env["TMPDIR"]) == []


def test_a_backup_failing_before_pg_dump_leaves_no_password_behind(legacy_db, backup_dir, cluster, tmpdir_env):
    password = legacy_db.pg.app_password
    blocker = superuser_connection(cluster, legacy_db.name)
    blocker.cursor().execute("LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE")  # the backup's own lock times out
    try:
        result = run_module("pg_backup", dict(legacy_db.params, backup_dir=backup_dir, lock_wait_timeout="1s"),
                            env=tmpdir_env)
    finally:
        blocker.rollback()
        blocker.close()
    assert "lock timeout" in failed(result)
    assert password not in result["_stdout"] + result["_stderr"]
    assert files_holding(tmpdir_env["TMPDIR"], password.encode()) == []
    assert os.listdir(tmpdir_env["TMPDIR"]) == []


def test_stale_passfiles_of_older_versions_are_removed_at_the_next_start(legacy_db, backup_dir, tmpdir_env):
    tmp = tmpdir_env["TMPDIR"]
    stale = os.path.join(tmp, "kh-pgpass-olderversion")
    os.mkdir(stale, 0o700)
    with open(os.path.join(stale, "pgpass"), "w", encoding="utf-8") as handle:
        handle.write("*:*:*:*:%s\n" % legacy_db.pg.app_password)
    foreign = os.path.join(tmp, "kh-pgpass-someoneelse")
    os.mkdir(foreign, 0o700)
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)  # another user's: never ours to remove
    lookalike = os.path.join(tmp, "kh-pgpass-link")
    os.symlink(foreign, lookalike)
    result = run_module("pg_backup", dict(legacy_db.params, backup_dir=backup_dir), env=tmpdir_env)
    ok(result)
    assert not os.path.exists(stale)
    assert os.path.isdir(foreign) == (os.geteuid() == 0)
    assert os.path.islink(lookalike)  # a link is not a directory of ours: left alone, never followed


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_no_password_in_output_backup_dir_or_temp_dir(legacy_db, backup_dir, createdb, tmpdir_env, fmt):
    password = legacy_db.pg.app_password
    results = [run_module("pg_backup", dict(legacy_db.params, backup_dir=backup_dir, format=fmt), env=tmpdir_env)]
    results.append(run_module("pg_restore", dict(legacy_db.params, backup_dir=backup_dir, mode="new_database",
                                                 target_db=legacy_db.name + "_restore_x"), env=tmpdir_env))
    for result in results:
        ok(result)
        assert password not in result["_stdout"] + result["_stderr"]
        assert password not in json.dumps(result)
    assert files_holding(backup_dir, password.encode()) == []
    assert files_holding(tmpdir_env["TMPDIR"], password.encode()) == []


def test_a_killed_restore_takes_its_pg_restore_with_it(legacy_db, backup_dir, createdb, tmp_path, tmpdir_env):
    ok(backup(legacy_db, backup_dir))
    proc = start_with_env("pg_restore", dict(legacy_db.params, backup_dir=backup_dir, mode="new_database",
                                             pg_bin_dir=slow_client_dir(tmp_path)), tmpdir_env)
    with child_killed_with(proc, "sleep"):
        pass
    assert files_holding(tmpdir_env["TMPDIR"], legacy_db.pg.app_password.encode()) == []
