# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_recover: back to a recovery point of a migration run, against a real PostgreSQL 15.

A run as the migrate role makes it: recovery point "before" (a verified dump recorded against the run), 004-006
applied, recovery point "after_data"; then rows written by the new release. pg_recover must give back the
pre-migration schema and rows, keep the replaced database, refuse a damaged point naming the one it would use
instead, say in check mode what would be lost, and finish the job when rerun after a kill.
"""

from __future__ import annotations

import os
import uuid

import pytest

from support.backups import manifest_of
from support.hostile import kill_hard, sessions_gone, wait_for
from support.modules import backup, failed, migrate, ok, run_module, start_module

PRE_004_TABLES = ["ai_memories", "documents", "chunks"]


@pytest.fixture
def migrated(legacy_db, backup_dir, createdb):  # pylint: disable=unused-argument
    """A legacy database migrated as migrate.yml does it, with points before and after; yields (db, run_id,
    snapshot and schema before the migration)."""
    run_id = str(uuid.uuid4())
    ok(migrate(legacy_db, baseline_version="003", target_version="003", run_id=run_id))
    schema = legacy_db.schema_dump()
    snapshot = legacy_db.snapshot(PRE_004_TABLES)
    ok(backup(legacy_db, backup_dir, run_id=run_id, purpose="before"))
    ok(migrate(legacy_db, run_id=run_id))
    ok(backup(legacy_db, backup_dir, run_id=run_id, purpose="after_data"))
    legacy_db.sql("INSERT INTO ai_memories (user_id, memory_type, content) SELECT 'u', 'fact', 'written after the "
                  "migration ' || g "
                  "FROM generate_series(1, 25) g")
    legacy_db.sql("ANALYZE")
    return legacy_db, run_id, snapshot, schema  # legacy_db's teardown drops the databases derived from it


def after_data_id(backup_dir) -> str:
    return [m["backup_id"] for m in (manifest_of({"manifest": os.path.join(backup_dir, n)})
                                     for n in os.listdir(backup_dir) if n.endswith(".manifest.json"))
            if m["purpose"] == "after_data"][0]


def recover(db, backup_dir, check_mode=False, **options):
    return run_module("pg_recover", dict(db.params, backup_dir=backup_dir, **options), check_mode=check_mode)


def test_recover_gives_back_the_schema_and_rows_before_the_migration_and_keeps_the_replaced_database(
        migrated, backup_dir):
    db, run_id, snapshot, schema = migrated
    result = ok(recover(db, backup_dir))
    assert result["changed"] and result["point"]["purpose"] == "before" and result["point"]["run_id"] == run_id
    assert result["verification"]["checked"] == "sha256 and size"
    assert db.schema_dump() == schema
    assert db.snapshot(PRE_004_TABLES) == snapshot
    kept = result["previous_database"]
    assert kept.startswith(db.name + "_pre_restore_")
    assert db.sql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % kept) == "1"
    assert set(result["would_lose"]["versions"]) == {"004", "005", "006"}


def test_check_mode_says_what_would_be_lost_and_changes_nothing(migrated, backup_dir):
    db, _run_id, _snapshot, _schema = migrated
    before = db.schema_dump()
    result = ok(recover(db, backup_dir, check_mode=True))
    assert result["would_lose"]["versions"] == ["004", "005", "006"]
    lost = result["would_lose"]["rows"]["public.ai_memories"]
    assert lost["now_estimated"] - lost["backup"] == 25
    assert result["point"]["age_seconds"] >= 0 and result["restore"]["would_restore"]
    assert db.schema_dump() == before and not os.path.exists(result["journal"])


def test_a_rerun_after_success_changes_nothing(migrated, backup_dir):
    db, _run_id, _snapshot, schema = migrated
    first = ok(recover(db, backup_dir))
    second = ok(recover(db, backup_dir))
    assert second["already_recovered"] and not second["changed"]
    assert second["previous_database"] == first["previous_database"]
    assert db.schema_dump() == schema


def test_a_point_that_fails_verification_is_refused_naming_the_one_to_use_instead(migrated, backup_dir):
    db, _run_id, _snapshot, _schema = migrated
    before_point = [m for m in (manifest_of({"manifest": os.path.join(backup_dir, n)})
                                for n in os.listdir(backup_dir) if n.endswith(".manifest.json"))
                    if m["purpose"] == "before"][0]
    archive = os.path.join(backup_dir, before_point["archive"]["name"])
    with open(archive, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    schema = db.schema_dump()
    message = failed(recover(db, backup_dir))
    assert "fails its verification" in message and "sha256" in message
    assert "would use instead" in message and "point=%s" % after_data_id(backup_dir) in message
    assert db.schema_dump() == schema


@pytest.mark.parametrize("options, words", [
    (dict(run_id="not-a-uuid"), "is not a UUID"),
    (dict(run_id=str(uuid.UUID(int=7))), "No verified recovery point of run"),
    (dict(point="after_nothing"), "has no verified recovery point 'after_nothing'"),
    (dict(label="../x"), "plain label"),
])
def test_bad_input_is_refused_and_changes_nothing(migrated, backup_dir, options, words):
    db, _run_id, _snapshot, _schema = migrated
    schema = db.schema_dump()
    message = failed(recover(db, backup_dir, **options))
    assert words in message and "Traceback" not in message
    assert db.schema_dump() == schema


def test_a_schema_only_point_is_never_restored_as_data(migrated, backup_dir):
    """The runbook's schema-only point after the schema phase holds no rows: asked for, it is refused, naming the full
    points of the run to use instead, and nothing changes."""
    db, run_id, _snapshot, _schema = migrated
    ok(backup(db, backup_dir, run_id=run_id, purpose="after_schema", scope="schema-only"))
    schema, rows = db.schema_dump(), db.snapshot(PRE_004_TABLES)
    message = failed(recover(db, backup_dir, point="after_schema"))
    assert "is schema-only" in message and "Nothing was changed" in message and "Traceback" not in message
    assert "point=before" in message and "point=after_data" in message
    assert db.schema_dump() == schema and db.snapshot(PRE_004_TABLES) == rows


def test_kill_9_during_recover_then_rerun_finishes_the_job(migrated, backup_dir, cluster):
    db, _run_id, snapshot, schema = migrated
    proc = start_module("pg_recover", dict(db.params, backup_dir=backup_dir))
    # killed while pg_restore loads the new database (before the swap)
    wait_for(lambda: cluster.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%s\\_restore\\_%%'"
                                  % db.name) != "0", "the restore's new database", proc=proc)
    kill_hard(proc)
    sessions_gone(cluster)
    result = ok(recover(db, backup_dir))
    assert result["changed"] and not result["already_recovered"]
    assert db.schema_dump() == schema and db.snapshot(PRE_004_TABLES) == snapshot
    assert cluster.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%s\\_restore\\_%%'" % db.name) == "0"
