# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clone recovery points (pg_backup format=clone) and going back to them by swap (pg_restore)."""

from __future__ import annotations

import os
import time

import psycopg2
import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _manifests

from support.backups import manifest_of, nothing_recorded
from support.database import app_connection, databases_like
from support.modules import backup, failed, ok, restore

RUN_ID = "7d0c2e94-1f3b-4a5c-8d6e-9f0a1b2c3d4e"


def allow_connections(cluster, name: str) -> str:
    return cluster.psql("SELECT datallowconn FROM pg_database WHERE datname = '%s'" % name)


def test_recovery_point_then_back_to_it_by_swap(legacy_db, backup_dir, createdb, cluster):
    schema, rows = legacy_db.schema_dump(), legacy_db.snapshot()
    point = ok(backup(legacy_db, backup_dir, format="clone", label="rp", purpose="post-schema", run_id=RUN_ID,
                      record_recovery_point=False))
    name = point["database"]
    assert name.startswith(legacy_db.name + "_rp_") and point["path"] is None
    assert point["size_bytes"] > 1000000 and 0 <= point["clone_ms"] <= point["downtime_ms"] < 10000
    manifest = manifest_of(point)
    assert manifest["kind"] == "clone" and manifest["verified"] is True and manifest["run_id"] == RUN_ID
    assert manifest["clone"]["database"] == name and manifest["clone"]["strategy"] == "file_copy"
    assert manifest["row_counts"]["public.chunks"] == 2000 and manifest["database"]["name"] == legacy_db.name
    assert allow_connections(cluster, legacy_db.name) == "t"  # the source is open again
    assert allow_connections(cluster, name) == "f"  # nobody changes the recovery point by accident
    assert point["backup_id"] in cluster.psql("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                              "WHERE datname = '%s'" % name)

    legacy_db.sql("DELETE FROM chunks WHERE id % 2 = 0; DROP TABLE query_feedback")
    back = ok(restore(legacy_db, manifest=point["manifest"]))
    assert back["kind"] == "clone" and back["restored_database"] == name
    assert back["previous_database"].startswith(legacy_db.name + "_pre_restore_")
    assert back["downtime_ms"] < 10000 and back["row_counts_checked"] is True
    assert legacy_db.schema_dump() == schema and legacy_db.snapshot() == rows
    assert allow_connections(cluster, legacy_db.name) == "t"
    assert cluster.psql("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = '%s'" % legacy_db.name) == ""
    assert databases_like(cluster, legacy_db.name) == [back["previous_database"]]
    # a recovery point is used up by the swap
    assert manifest_of(point)["consumed_at"]
    assert "was consumed" in failed(restore(legacy_db, manifest=point["manifest"]))
    assert _manifests.good_backups(backup_dir, "rp") == []


def test_connected_sessions_are_listed_and_ended_only_when_told(legacy_db, backup_dir, createdb, cluster):
    app = app_connection(legacy_db, application="kh-api")
    app.cursor().execute("SELECT 1")  # idle in transaction: not ended without being told
    msg = failed(backup(legacy_db, backup_dir, format="clone", drain_timeout=1))
    assert "still has 1 session(s) after 1s" in msg and "pid %d" % app.get_backend_pid() in msg
    assert "'kh-api'" in msg and "terminate_connections=true" in msg
    assert databases_like(cluster, legacy_db.name) == []
    assert allow_connections(cluster, legacy_db.name) == "t"
    nothing_recorded(backup_dir, legacy_db.name)

    point = ok(backup(legacy_db, backup_dir, format="clone", drain_timeout=1, terminate_connections=True))
    assert [s["pid"] for s in point["terminated_sessions"]] == [app.get_backend_pid()]
    with pytest.raises(psycopg2.OperationalError):
        app.cursor().execute("SELECT 1")
    assert databases_like(cluster, legacy_db.name) == [point["database"]]


def _autovacuum_workers(cluster, dbname: str) -> list[str]:
    return cluster.psql("SELECT pid FROM pg_stat_activity WHERE datname = '%s' AND backend_type = 'autovacuum worker'"
                        % dbname).split()


def test_an_autovacuum_worker_does_not_hold_the_clone(legacy_db, backup_dir, createdb, cluster):
    """CREATE DATABASE ... TEMPLATE ends an autovacuum worker itself: waiting for it (a vacuum of a large table
    after a migration's writes can take minutes) would make a clone give way to a dump."""
    legacy_db.sql("CREATE TABLE vacuum_me AS SELECT g AS id, repeat('x', 200) AS filler FROM generate_series(1, 50000) g;"
                  "ALTER TABLE vacuum_me SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, "
                  "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1); DELETE FROM vacuum_me; "
                  "ALTER TABLE vacuum_me OWNER TO knowledgehub")
    cluster.psql("ALTER SYSTEM SET autovacuum_naptime = 1; SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 60
        while not _autovacuum_workers(cluster, legacy_db.name) and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _autovacuum_workers(cluster, legacy_db.name)
        assert workers, "no autovacuum worker came to the database within 60 s"
        point = ok(backup(legacy_db, backup_dir, format="clone", drain_timeout=20))
        assert point["downtime_ms"] < 10000 and not point["terminated_sessions"]
        assert databases_like(cluster, legacy_db.name) == [point["database"]]
    finally:
        cluster.psql("ALTER SYSTEM RESET autovacuum_naptime; SELECT pg_reload_conf()")


def test_the_servers_volume_must_hold_the_clone_and_what_stays_free(legacy_db, backup_dir, createdb, cluster):
    """A clone writes the database's size on the server's own volume (its WAL's too): read where the role may see
    the data directory, refused before anything changes when it cannot hold the copy plus keep_free_mb, and a
    warning where it cannot be read."""
    unseen = ok(backup(legacy_db, backup_dir, format="clone", label="unseen"))
    assert unseen["server_space"]["ok"] is None and unseen["server_space"]["measured"] is None
    warned = str(unseen["warnings"])  # texts, or the structured warnings of newer ansible-core
    assert "Free space on the database server's volume not read" in warned and "pg_read_all_settings" in warned

    cluster.psql("GRANT pg_read_all_settings TO knowledgehub")
    try:
        data_dir = cluster.psql("SHOW data_directory")
        seen = ok(backup(legacy_db, backup_dir, format="clone", label="seen"))
        space = seen["server_space"]
        assert space["ok"] is True and space["measured"] == "local" and space["filesystem_path"] == data_dir
        stat = os.statvfs(data_dir)
        assert abs(space["free_bytes"] - stat.f_bavail * stat.f_frsize) < 2 ** 30
        assert space["required_free_bytes"] == space["estimated_bytes"] + 1024 * 1024 * 1024  # keep_free_mb 1024

        before = databases_like(cluster, legacy_db.name)
        too_much = (space["free_bytes"] // (1024 * 1024)) + 1
        plan = backup(legacy_db, backup_dir, format="clone", label="big", keep_free_mb=too_much, check_mode=True)
        for result in (plan, backup(legacy_db, backup_dir, format="clone", label="big", keep_free_mb=too_much)):
            msg = failed(result)
            assert "Not enough free space on the database server's volume for a clone of %s" % legacy_db.name in msg
            assert "kept free" in msg and "Nothing was changed." in msg
        assert databases_like(cluster, legacy_db.name) == before
        assert allow_connections(cluster, legacy_db.name) == "t"
        assert _manifests.good_backups(backup_dir, "big") == []
    finally:
        cluster.psql("REVOKE pg_read_all_settings FROM knowledgehub")


def test_retention_drops_old_recovery_points(legacy_db, backup_dir, createdb, cluster):
    first = ok(backup(legacy_db, backup_dir, format="clone", keep_last=1))
    dump = ok(backup(legacy_db, backup_dir, keep_last=1))  # dumps are counted apart
    second = ok(backup(legacy_db, backup_dir, format="clone", keep_last=1))
    assert second["removed"] == [first["backup_id"]] and dump["removed"] == []
    assert databases_like(cluster, legacy_db.name) == [second["database"]]
    assert not os.path.exists(first["manifest"]) and os.path.exists(dump["manifest"])


def test_a_recovery_point_needs_createdb(legacy_db, backup_dir, cluster):
    msg = failed(backup(legacy_db, backup_dir, format="clone"))
    assert "lacks the CREATEDB privilege (ALTER ROLE knowledgehub CREATEDB)" in msg
    assert databases_like(cluster, legacy_db.name) == []
    nothing_recorded(backup_dir, legacy_db.name)


def test_check_mode_reports_the_clone_and_the_sessions(legacy_db, backup_dir, createdb, cluster):
    app = app_connection(legacy_db)
    result = ok(backup(legacy_db, backup_dir, format="clone", check_mode=True))
    plan = result["would_clone"]
    assert plan["source"] == legacy_db.name and plan["database"].startswith(legacy_db.name + "_rp_")
    assert plan["sessions_connected"] == 1 and plan["estimated_disk_bytes"] > 0
    assert databases_like(cluster, legacy_db.name) == [] and not os.path.exists(backup_dir)
    app.close()
