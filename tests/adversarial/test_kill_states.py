# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: a database left unreachable, or without its name, by a kill.

Every state pg_backup and pg_restore put a database in (refusing connections while sessions drain, a copy
being made or restored into, a recovery point opened for its row counts) is journaled before it is entered
and undone, or finished, at the start of the next run of either module on that server, which reports it
(``settled``, and a warning). A swap renames the live database aside and the new one into its place in ONE
transaction, so no crash leaves the application's name without a database. Copies left by killed attempts
(the tool's own, by their journal, never the operator's databases) are dropped by the next run; copies kept
with keep_failed are listed, never dropped; a run still in progress is left alone.

Each case kills the module with SIGKILL at the step it is about: a session that stays connected holds the
drain, and an open transaction on the database's catalog entry holds a rename or a copy at its lock.
"""

from __future__ import annotations

import json

import psycopg2
import pytest

from support.database import app_connection, databases_like, superuser_connection
from support.hostile import (
    allows_connections,
    child_killed_with,
    comment_of,
    kill_hard,
    sessions_gone,
    slow_client_dir,
    wait_for,
    waiting_on_lock,
    warned,
)
from support.modules import backup, ok, restore, start_module


def idle_session(db):
    """An application session idle in a transaction: a drain without terminate_connections waits for it."""
    app = app_connection(db, application="kh-api")
    app.cursor().execute("SELECT 1")
    return app


def start_held(name: str, db, cluster, **options):
    """Start a module on ``db`` while a session keeps it from draining; return once ``db`` refuses connections."""
    app = idle_session(db)
    proc = start_module(name, dict(db.params, terminate_connections=False, drain_timeout=120, **options))
    wait_for(lambda: allows_connections(cluster, db.name) == "f", "%s to refuse connections" % db.name, proc=proc)
    return proc, app


def kill_while_draining(name: str, db, cluster, **options) -> None:
    """Start a module on ``db`` and kill it while it waits for ``db``'s sessions to drain; wait for its sessions
    to end."""
    proc, app = start_held(name, db, cluster, **options)
    kill_hard(proc)
    app.close()
    sessions_gone(cluster)


def kill_at_its_lock(proc, app, cluster, name: str, statement: str) -> None:
    """Hold database ``name``'s catalog entry (an open transaction that commented on it), let the drain end, and
    kill the module once its ``statement`` (a rename, a copy) waits for that lock; then let the lock go."""
    holder = superuser_connection(cluster, "postgres")
    holder.cursor().execute("COMMENT ON DATABASE \"%s\" IS 'held by the test'" % name)
    try:
        app.close()
        wait_for(lambda: waiting_on_lock(cluster, statement), "%s to wait for its lock" % statement, proc=proc)
    finally:
        kill_hard(proc)
        holder.rollback()
        holder.close()
    sessions_gone(cluster)


def settled_names(result: dict) -> list[str]:
    return sorted(entry["database"] for entry in result["settled"])


def test_a_clone_killed_while_draining_is_undone_by_the_next_run(legacy_db, backup_dir, createdb, cluster):
    cluster.psql("COMMENT ON DATABASE \"%s\" IS 'the live one'" % legacy_db.name)
    kill_while_draining("pg_backup", legacy_db, cluster, backup_dir=backup_dir, format="clone")
    assert allows_connections(cluster, legacy_db.name) == "f"  # what the kill leaves
    result = ok(backup(legacy_db, backup_dir))  # any later run: a dump
    assert allows_connections(cluster, legacy_db.name) == "t"
    assert comment_of(cluster, legacy_db.name) == "the live one"
    assert settled_names(result) == [legacy_db.name]
    assert warned(result, legacy_db.name, "interrupted")
    assert databases_like(cluster, legacy_db.name) == []


def test_a_clone_killed_while_copying_is_undone_and_its_copy_dropped(legacy_db, backup_dir, createdb, cluster):
    proc, app = start_held("pg_backup", legacy_db, cluster, backup_dir=backup_dir, format="clone")
    kill_at_its_lock(proc, app, cluster, legacy_db.name, "CREATE DATABASE")
    left = databases_like(cluster, legacy_db.name)
    result = ok(backup(legacy_db, backup_dir, format="clone"))
    assert databases_like(cluster, legacy_db.name) == [result["database"]]  # the killed run's copy is gone
    assert settled_names(result) == [legacy_db.name]
    assert all(any(copy in action for action in result["settled"][0]["actions"]) for copy in left)
    assert allows_connections(cluster, legacy_db.name) == "t"


def test_a_swap_killed_while_draining_is_undone_and_its_copy_dropped(legacy_db, backup_dir, createdb, cluster):
    made = ok(backup(legacy_db, backup_dir))
    legacy_db.sql("DELETE FROM chunks WHERE id % 2 = 0")
    mutated = legacy_db.snapshot()
    kill_while_draining("pg_restore", legacy_db, cluster, manifest=made["manifest"])
    copies = [n for n in databases_like(cluster, legacy_db.name) if "_restore_" in n]
    assert copies  # the restored copy the swap was for
    result = ok(backup(legacy_db, backup_dir))
    assert allows_connections(cluster, legacy_db.name) == "t" and legacy_db.snapshot() == mutated
    assert settled_names(result) == sorted([legacy_db.name] + copies)
    assert databases_like(cluster, legacy_db.name) == []


def test_a_swap_killed_between_its_renames_leaves_the_live_database_in_place(legacy_db, backup_dir, createdb,
                                                                             cluster):
    made = ok(backup(legacy_db, backup_dir))
    legacy_db.sql("DELETE FROM chunks WHERE id % 2 = 0")
    mutated = legacy_db.snapshot()
    proc, app = start_held("pg_restore", legacy_db, cluster, manifest=made["manifest"])
    kill_at_its_lock(proc, app, cluster, legacy_db.name, "ALTER DATABASE")
    assert cluster.psql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % legacy_db.name) == "1"
    result = ok(backup(legacy_db, backup_dir))
    assert legacy_db.snapshot() == mutated and databases_like(cluster, legacy_db.name) == []
    assert legacy_db.name in settled_names(result)


def test_copies_of_killed_restores_are_dropped_never_the_operators(legacy_db, backup_dir, createdb, cluster,
                                                                   tmp_path):
    made = ok(backup(legacy_db, backup_dir))
    operators = legacy_db.name + "_restore_20200101000000"
    cluster.psql('CREATE DATABASE "%s" OWNER knowledgehub' % operators)
    slow = slow_client_dir(tmp_path)
    for _attempt in range(2):
        proc = start_module("pg_restore", dict(legacy_db.params, manifest=made["manifest"], pg_bin_dir=slow))
        with child_killed_with(proc, "sleep"):
            pass
        sessions_gone(cluster)
    # each attempt dropped the copy of the one before it when it started: one copy is left, the last one's
    copies = [n for n in databases_like(cluster, legacy_db.name) if n != operators]
    assert len(copies) == 1
    result = ok(restore(legacy_db, manifest=made["manifest"], check_mode=True))
    assert sorted(e["database"] for e in result["would_settle"]) == copies
    assert len(databases_like(cluster, legacy_db.name)) == 2  # check mode changes nothing
    result = ok(backup(legacy_db, backup_dir))
    assert settled_names(result) == copies
    assert databases_like(cluster, legacy_db.name) == [operators]


def test_a_kept_failed_copy_is_listed_never_dropped(legacy_db, backup_dir, createdb, cluster):
    made = ok(backup(legacy_db, backup_dir))
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    manifest["row_counts"]["public.chunks"] += 1
    with open(made["manifest"], "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    failed_run = restore(legacy_db, manifest=made["manifest"], keep_failed=True)
    kept = failed_run["failed_database"]
    result = ok(backup(legacy_db, backup_dir))
    assert kept in databases_like(cluster, legacy_db.name)
    assert [e["database"] for e in result["not_settled"]] == [kept]
    assert "keep_failed" in result["not_settled"][0]["reason"]
    assert warned(result, kept)


def test_a_run_in_progress_is_left_alone(legacy_db, other_legacy, backup_dir, createdb, cluster):
    proc, app = start_held("pg_backup", legacy_db, cluster, backup_dir=backup_dir, format="clone")
    try:
        other = ok(backup(other_legacy, backup_dir))
        assert other["settled"] == []
        assert [e["database"] for e in other["not_settled"]] == [legacy_db.name]
        assert "in progress" in other["not_settled"][0]["reason"]
        assert allows_connections(cluster, legacy_db.name) == "f"  # still draining: not undone under its feet
    finally:
        app.close()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    assert allows_connections(cluster, legacy_db.name) == "t"


def test_a_recovery_point_swap_killed_while_draining_is_undone(legacy_db, backup_dir, createdb, cluster):
    point = ok(backup(legacy_db, backup_dir, format="clone"))
    marker = comment_of(cluster, point["database"])
    legacy_db.sql("DELETE FROM chunks WHERE id % 2 = 0")
    mutated = legacy_db.snapshot()
    kill_while_draining("pg_restore", legacy_db, cluster, manifest=point["manifest"])
    result = ok(backup(legacy_db, backup_dir))
    assert allows_connections(cluster, legacy_db.name) == "t" and legacy_db.snapshot() == mutated
    assert allows_connections(cluster, point["database"]) == "f" and comment_of(cluster, point["database"]) == marker
    assert legacy_db.name in settled_names(result)
    back = ok(restore(legacy_db, manifest=point["manifest"]))  # the recovery point is whole and still usable
    assert back["row_counts_checked"] is True


def test_the_killed_swap_leaves_the_application_able_to_connect(legacy_db, backup_dir, createdb, cluster):
    made = ok(backup(legacy_db, backup_dir))
    kill_while_draining("pg_restore", legacy_db, cluster, manifest=made["manifest"])
    with pytest.raises(psycopg2.OperationalError):
        app_connection(legacy_db).close()  # refused until a run settles it
    ok(restore(legacy_db, manifest=made["manifest"]))
    app_connection(legacy_db).close()
