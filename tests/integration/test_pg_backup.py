# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup against a real PostgreSQL 15: proven backups, and every way one must fail."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import threading
import time

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _manifests

from support.backups import manifest_of, nothing_recorded
from support.database import CRITICAL, app_connection, superuser_connection
from support.modules import backup, failed, ok, restore, start_module

RUN_ID = "3c5a1f0e-8b2d-4c1a-9e7f-0a1b2c3d4e5f"


def mode_of(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def add_ledger(db, version: str = "003") -> None:
    """A minimal migration ledger (the columns the manifest reads), as pg_migrate leaves one."""
    db.sql("CREATE TABLE migration_log (version text, status text, completed_at timestamptz);"
           "INSERT INTO migration_log VALUES ('001', 'baseline', now()), ('%s', 'applied', now()), "
           "('999', 'failed', now());" % version)
    db.sql("ALTER TABLE migration_log OWNER TO knowledgehub")


@pytest.mark.parametrize("fmt", ["custom", "directory", "plain"])
def test_backup_then_restore_into_a_fresh_database_is_identical(legacy_db, backup_dir, createdb, fmt, cluster):
    add_ledger(legacy_db)
    before_schema = legacy_db.schema_dump()
    before_rows = legacy_db.snapshot()
    # the manifest notes run and purpose; recording it as a recovery point is tested in
    # test_pg_backup_recovery_points.py
    result = ok(backup(legacy_db, backup_dir, format=fmt, purpose="pre-migration", run_id=RUN_ID,
                       record_recovery_point=False))

    manifest = manifest_of(result)
    assert manifest["verified"] is True and manifest["backup_id"] == result["backup_id"]
    assert manifest["format"] == fmt and manifest["scope"] == "full" and manifest["kind"] == "dump"
    assert manifest["ledger"]["last_applied_version"] == "003"
    assert manifest["run_id"] == RUN_ID and manifest["purpose"] == "pre-migration"
    assert manifest["server"]["version"].startswith("15.")
    assert manifest["database"]["size_bytes"] > 0 and manifest["tools"]["pg_dump"].startswith("15.")
    assert manifest["options"]["compression"] == ("none" if fmt == "plain" else "gzip:1")
    # exact counts, for every table of the database
    assert manifest["row_counts"] == {"public." + t: int(v.split(":")[0]) for t, v in legacy_db.snapshot().items()} | {
        "public.migration_log": 3}
    # sha256 and size as recorded
    path = result["path"]
    if fmt == "directory":
        for name, info in manifest["archive"]["files"].items():
            with open(os.path.join(path, name), "rb") as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == info["sha256"]
        assert mode_of(path) == 0o700
        assert all(mode_of(os.path.join(path, n)) == 0o600 for n in os.listdir(path))
    else:
        with open(path, "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == manifest["archive"]["sha256"] == result["sha256"]
        assert os.path.getsize(path) == manifest["archive"]["size_bytes"]
        assert mode_of(path) == 0o600
    assert mode_of(result["manifest"]) == 0o600 and mode_of(backup_dir) == 0o700

    target = legacy_db.name + "_fresh"
    restored = ok(restore(legacy_db, manifest=result["manifest"], mode="new_database", target_db=target))
    assert restored["row_counts_checked"] is True
    copy = type(legacy_db)(cluster, target)
    assert copy.schema_dump() == before_schema
    assert copy.snapshot() == before_rows
    assert legacy_db.snapshot() == before_rows  # the source is untouched


def test_check_mode_reports_the_plan_and_writes_nothing(legacy_db, backup_dir):
    result = ok(backup(legacy_db, backup_dir, check_mode=True, tables=CRITICAL, scope="data-only"))
    assert result["changed"] is True
    plan = result["would_dump"]
    assert plan["tables"] == ["public.ai_memories", "public.documents", "public.chunks"]
    assert plan["scope"] == "data-only" and plan["compression"] == "gzip:1"
    assert "--data-only" in plan["cmd"] and '--table="public"."chunks"' in plan["cmd"]
    assert result["estimate"]["ok"] is True and result["estimate"]["estimated_bytes"] > 0
    assert result["estimate"]["free_bytes"] > result["estimate"]["required_free_bytes"]
    assert not os.path.exists(backup_dir)


def test_data_only_backup_of_the_critical_tables(legacy_db, backup_dir):
    result = ok(backup(legacy_db, backup_dir, scope="data-only", tables=CRITICAL, label="critical"))
    manifest = manifest_of(result)
    assert manifest["tables"] == ["public.ai_memories", "public.documents", "public.chunks"]
    assert set(manifest["row_counts"]) == {"public.ai_memories", "public.documents", "public.chunks"}
    entries = {tuple(e) for e in manifest["verification"]["entries"]}
    assert entries == {("TABLE DATA", "public", t) for t in CRITICAL}
    assert result["backup_id"].startswith("critical_")


def test_schema_only_backup(legacy_db, backup_dir):
    result = ok(backup(legacy_db, backup_dir, scope="schema-only"))
    manifest = manifest_of(result)
    assert manifest["row_counts"] == {}
    assert {e[0] for e in manifest["verification"]["entries"]} == {"TABLE"}


def test_a_table_that_does_not_exist_fails_before_dumping(legacy_db, backup_dir):
    msg = failed(backup(legacy_db, backup_dir, tables=["chunks", "chunkz", "public.nope"]))
    assert "no such table: chunkz, public.nope" in msg and "Nothing was written" in msg
    assert "public.chunks" in msg  # the tables that do exist are listed
    nothing_recorded(backup_dir, legacy_db.name)
    msg = failed(backup(legacy_db, backup_dir, tables=["pg_class"]))
    assert "not a table: pg_class" in msg
    nothing_recorded(backup_dir, legacy_db.name)


def test_wrong_password_fails_clearly(legacy_db, backup_dir):
    params = dict(legacy_db.params, login_password="not-the-password")
    result = backup(legacy_db, backup_dir, **{k: v for k, v in params.items() if k != "login_db"})
    msg = failed(result)
    assert "password authentication failed" in msg and "knowledgehub" in msg
    assert "not-the-password" not in result["_stdout"] + result["_stderr"]
    nothing_recorded(backup_dir, legacy_db.name)


def test_a_pg_dump_older_than_the_server_is_refused(legacy_db, backup_dir, tmp_path):
    # Only PostgreSQL 15 is installed here. The check is on the version pg_dump reports, so a wrapper that
    # reports 14.0 (and would otherwise run the real pg_dump) is an honest stand-in for an older client.
    bindir = tmp_path / "pg14" / "bin"
    bindir.mkdir(parents=True)
    wrapper = bindir / "pg_dump"
    wrapper.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 14.0"; exit 0; fi\n'
                       'exec /usr/lib/postgresql/15/bin/pg_dump "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    result = backup(legacy_db, backup_dir, pg_bin_dir=str(bindir))
    msg = failed(result)
    assert "server is PostgreSQL 15." in msg and "14.0 (%s)" % bindir in msg and "must be major version 15" in msg
    nothing_recorded(backup_dir, legacy_db.name)


@pytest.fixture
def small_fs(tmp_path):
    """An 8 MiB tmpfs mounted for the test (needs root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill up needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % proc.stderr.strip())
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_not_enough_free_space_fails_early_with_the_numbers(legacy_db, small_fs):
    target = str(small_fs / "backups")
    msg = failed(backup(legacy_db, target, format="plain"))
    assert "Not enough free space" in msg and "free on %s" % small_fs in msg and "MiB" in msg
    assert not os.path.exists(target)


def test_disk_full_during_the_dump_fails_and_leaves_nothing(legacy_db, small_fs):
    target = str(small_fs / "backups")
    filler = small_fs / "filler"
    stat_fs = os.statvfs(str(small_fs))
    filler.write_bytes(b"\0" * (stat_fs.f_bavail * stat_fs.f_frsize - 256 * 1024))  # leave 256 KiB
    result = backup(legacy_db, target, format="plain", check_free_space=False)
    msg = failed(result)
    assert "pg_dump of %s failed" % legacy_db.name in msg and "No space left on device" in msg
    nothing_recorded(target, legacy_db.name)


def test_retention_keeps_the_last_n_verified_backups(legacy_db, backup_dir):
    ids = [ok(backup(legacy_db, backup_dir, keep_last=2))["backup_id"] for number in range(3) if number >= 0]
    assert len(set(ids)) == 3
    good = [pm[1]["backup_id"] for pm in _manifests.good_backups(backup_dir, legacy_db.name)]
    assert good == [ids[2], ids[1]]
    assert sorted(os.listdir(backup_dir)) == sorted(
        [i + ".dump" for i in ids[1:]] + [i + ".manifest.json" for i in ids[1:]])
    # a failed backup is not counted and removes nothing
    failed(backup(legacy_db, backup_dir, keep_last=1, tables=["nope"]))
    assert [pm[1]["backup_id"] for pm in _manifests.good_backups(backup_dir, legacy_db.name)] == [ids[2], ids[1]]
    # another label is counted apart
    other = ok(backup(legacy_db, backup_dir, keep_last=1, label="other"))
    assert other["removed"] == []
    last = ok(backup(legacy_db, backup_dir, keep_last=1))
    assert sorted(last["removed"]) == sorted(ids[1:])


def test_keep_failed_renames_the_failed_archive(legacy_db, small_fs):
    target = str(small_fs / "backups")
    filler = small_fs / "filler"
    stat_fs = os.statvfs(str(small_fs))
    filler.write_bytes(b"\0" * (stat_fs.f_bavail * stat_fs.f_frsize - 256 * 1024))
    result = backup(legacy_db, target, format="plain", check_free_space=False, keep_failed=True)
    failed(result)
    assert result["failed_path"].endswith(".sql.failed") and os.path.exists(result["failed_path"])
    nothing_recorded(target, legacy_db.name)


def _cmdlines() -> dict[int, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    found[int(entry)] = handle.read()
            except OSError:
                continue
    return found


def test_no_password_in_ps_output_task_output_or_manifest(legacy_db, backup_dir, cluster):
    password = legacy_db.pg.app_password.encode()
    # Hold pg_dump at a lock so that it is certainly running while /proc is sampled: an uncommitted rename
    # of a sequence blocks pg_dump reading it, and nothing else the module does before pg_dump touches sequences.
    blocker = superuser_connection(cluster, legacy_db.name)
    blocker.cursor().execute("ALTER SEQUENCE sources_id_seq RENAME TO kh_test_blocked_seq")
    proc = start_module("pg_backup", dict(legacy_db.params, backup_dir=backup_dir))
    seen_pg_dump = []
    leaks = []
    ps_outputs = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(seen_pg_dump) < 10:
            for pid, cmdline in _cmdlines().items():
                if password in cmdline:
                    leaks.append(cmdline)
                argv = cmdline.split(b"\0")
                if argv[0].endswith(b"/pg_dump") and legacy_db.name.encode() in cmdline:
                    with open("/proc/%d/environ" % pid, "rb") as handle:
                        environ = dict(e.split(b"=", 1) for e in handle.read().split(b"\0") if b"=" in e)
                    # issue 9: no passfile, the password only in pg_dump's own environment (0400, its user's)
                    assert environ.get(b"PGPASSWORD") == password and b"PGPASSFILE" not in environ
                    assert mode_of("/proc/%d/environ" % pid) == 0o400
                    seen_pg_dump.append(pid)
            if seen_pg_dump and not ps_outputs:
                ps_outputs.append(subprocess.run(["ps", "-eo", "pid,args", "ww"], capture_output=True,
                                                 check=True).stdout)
            time.sleep(0.01)
    finally:
        blocker.rollback()
        blocker.close()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    assert seen_pg_dump, "pg_dump was never seen running: %s" % stdout[-2000:]
    assert leaks == []
    assert ps_outputs and password not in ps_outputs[0] and b"pg_dump" in ps_outputs[0]
    result = json.loads(stdout)
    assert password.decode() not in stdout + stderr
    with open(result["manifest"], "rb") as handle:
        assert password not in handle.read()


def test_jobs_only_for_directory_format(legacy_db, backup_dir):
    msg = failed(backup(legacy_db, backup_dir, jobs=4))
    assert "only format=directory dumps in parallel" in msg
    result = ok(backup(legacy_db, backup_dir, format="directory", jobs=3))
    assert "--jobs=3" in result["cmd"]


def test_compression_choices(legacy_db, backup_dir):
    msg = failed(backup(legacy_db, backup_dir, compression="zstd"))
    assert "needs pg_dump 16 or newer" in msg and "15." in msg
    msg = failed(backup(legacy_db, backup_dir, format="plain", compression="gzip:1"))
    assert "uncompressed" in msg
    result = ok(backup(legacy_db, backup_dir, compression="none", verify="full"))
    assert result["compression"] == "none" and "--compress=0" in result["cmd"]
    assert result["manifest_data"]["verification"]["depth"] == "full"


def test_counts_match_the_archive_while_the_application_writes(legacy_db, backup_dir, createdb, cluster):
    """The rows are counted in the dump's snapshot after pg_dump, under ACCESS SHARE locks the module holds from
    before pg_dump starts: with writers inserting and a TRUNCATE queued during the backup, the manifest's counts
    are the archive's counts."""
    stop = threading.Event()
    inserted = []

    def writer() -> None:
        conn = app_connection(legacy_db, "kh-test-writer")
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO documents (source_id, title) SELECT source_id, 'written during the "
                            "backup' FROM documents LIMIT 1 RETURNING id")
                inserted.append(cur.fetchone()[0])
        conn.close()

    # pg_dump is held while it reads sequences (an uncommitted rename), after it has locked the tables.
    blocker = superuser_connection(cluster, legacy_db.name)
    blocker.cursor().execute("ALTER SEQUENCE sources_id_seq RENAME TO kh_test_blocked_seq")
    observer = superuser_connection(cluster, legacy_db.name)
    observer.autocommit = True
    thread = threading.Thread(target=writer)
    thread.start()
    truncate = app_connection(legacy_db, "kh-test-truncate")
    holders = 0
    try:
        proc = start_module("pg_backup", dict(legacy_db.params, backup_dir=backup_dir))
        deadline = time.monotonic() + 30
        with observer.cursor() as cur:
            while holders < 2 and time.monotonic() < deadline:
                cur.execute("SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                            "WHERE a.application_name = 'knowledgehub.migration pg_backup' AND l.granted "
                            "AND l.mode = 'AccessShareLock' AND l.relation = 'ai_memories'::regclass")
                holders = cur.fetchone()[0]
                time.sleep(0.01)
        with truncate.cursor() as cur:  # queues behind the backup's locks, then empties the table
            cur.execute("SET lock_timeout = '60s'")
            blocker.rollback()
            cur.execute("TRUNCATE ai_memories")
        truncate.commit()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        stop.set()
        thread.join()
        for conn in (truncate, blocker, observer):
            conn.close()
    assert holders == 2, "the module's session did not hold ai_memories beside pg_dump"
    result = ok(dict(json.loads(stdout), _rc=proc.returncode, _stderr=stderr))
    assert len(inserted) > 10, "the writer did not run during the backup"
    counts = manifest_of(result)["row_counts"]
    assert counts["public.ai_memories"] > 0  # counted before the TRUNCATE could run
    restored = ok(restore(legacy_db, manifest=result["manifest"], mode="new_database",
                          target_db=legacy_db.name + "_during"))
    assert restored["row_counts_checked"] is True
    copy = type(legacy_db)(cluster, legacy_db.name + "_during")
    assert int(copy.sql("SELECT count(*) FROM documents")) == counts["public.documents"]
    assert int(copy.sql("SELECT count(*) FROM ai_memories")) == counts["public.ai_memories"]
    assert legacy_db.sql("SELECT count(*) FROM ai_memories") == "0"


def test_a_partial_archive_left_by_a_killed_backup_is_removed_by_the_next_and_a_live_one_is_not(
        legacy_db, backup_dir, cluster):
    # pg_dump is held at an uncommitted rename of a sequence: the module writes its archive until killed
    blocker = superuser_connection(cluster, legacy_db.name)
    blocker.cursor().execute("ALTER SEQUENCE sources_id_seq RENAME TO kh_test_blocked_seq")
    try:
        proc = start_module("pg_backup", dict(legacy_db.params, backup_dir=backup_dir))
        deadline = time.monotonic() + 30
        partials: list[str] = []
        while not partials and time.monotonic() < deadline:
            partials = [n for n in (os.listdir(backup_dir) if os.path.isdir(backup_dir) else [])
                        if n.endswith(".partial") and not n.startswith(".")]
            time.sleep(0.01)
        assert partials, "pg_dump never started its archive"
        # another backup into the same directory meanwhile: the archive still being written is not touched
        other_db = legacy_db.name + "_other"
        cluster.psql("CREATE DATABASE %s OWNER knowledgehub" % other_db)
        try:
            conn = superuser_connection(cluster, other_db)
            conn.cursor().execute("CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t OWNER TO knowledgehub")
            conn.commit()
            conn.close()
            other = ok(backup(legacy_db, backup_dir, login_db=other_db, label="other"))
        finally:
            cluster.psql("DROP DATABASE IF EXISTS %s" % other_db)
        assert "swept" not in other and os.path.exists(os.path.join(backup_dir, partials[0]))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    left = sorted(n for n in os.listdir(backup_dir) if "partial" in n)
    assert left == sorted([partials[0], ".writing-" + partials[0]])  # what kill -9 leaves
    again = ok(backup(legacy_db, backup_dir))
    assert sorted(os.path.basename(p) for p in again["swept"]) == left
    assert "killed while it wrote" in str(again["warnings"])
    assert [n for n in os.listdir(backup_dir) if "partial" in n] == []
