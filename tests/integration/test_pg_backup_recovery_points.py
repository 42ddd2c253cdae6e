# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup records a verified backup taken for a run as a recovery point beside the ledger: recording,
retention, check mode, options, against a real PostgreSQL 15."""

from __future__ import annotations

import os
import uuid

import pytest

from support.backups import backup_files
from support.database import RP_TABLE, recovery_points
from support.modules import backup, failed, ok


def test_backup_with_run_id_is_recorded_once_verified(legacy_db, backup_dir):
    run_id = str(uuid.uuid4())
    result = ok(backup(legacy_db, backup_dir, run_id=run_id, purpose="before", format="directory"))
    row = result["recovery_point"]
    assert result["recovery_point_id"] == row["id"] and row["run_id"] == run_id
    assert recovery_points(legacy_db) == [dict(row, created_at=recovery_points(legacy_db)[0]["created_at"],
                                               recorded_at=recovery_points(legacy_db)[0]["recorded_at"])]
    assert row["kind"] == "dump" and row["format"] == "directory" and row["location"] == result["path"]
    assert row["sha256"] == result["sha256"] and row["size_bytes"] == result["size_bytes"]
    assert row["ledger_version"] is None and row["purpose"] == "before" and row["label"] == legacy_db.name
    assert row["created_by"] and row["created_on"]
    # a directory archive's sha256 is the one over its files' list, as in the manifest
    assert row["sha256"] == result["manifest_data"]["archive"]["sha256"]


def test_no_recovery_point_without_run_id_or_when_switched_off(legacy_db, backup_dir):
    assert ok(backup(legacy_db, backup_dir))["recovery_point"] is None
    assert ok(backup(legacy_db, backup_dir, run_id=str(uuid.uuid4()),
                     record_recovery_point=False))["recovery_point"] is None
    assert legacy_db.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t"


@pytest.mark.parametrize("options, message", [
    (dict(record_recovery_point=True), "record_recovery_point=true needs run_id"),
    (dict(run_id="run-7"), "run_id='run-7' is not a UUID"),
])
def test_recovery_point_options_are_refused_before_anything_is_written(legacy_db, backup_dir, options, message):
    assert message in failed(backup(legacy_db, backup_dir, **options))
    assert backup_files(backup_dir) == [] and recovery_points(legacy_db) == []


def test_check_mode_writes_no_recovery_point(legacy_db, backup_dir):
    result = ok(backup(legacy_db, backup_dir, check_mode=True, run_id=str(uuid.uuid4())))
    assert result["changed"] and "recovery_point" not in result
    assert legacy_db.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t"


def test_a_failed_dump_records_no_recovery_point(legacy_db, backup_dir, cluster):
    cluster.psql("CREATE TABLE public.audit_secret (id int)", db=legacy_db.name)
    failed(backup(legacy_db, backup_dir, run_id=str(uuid.uuid4()), purpose="before"))
    assert legacy_db.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t"


def test_retention_marks_the_recovery_points_of_removed_backups(legacy_db, backup_dir):
    # three runs' points (retention never removes a point of the run the backup belongs to)
    ids = [ok(backup(legacy_db, backup_dir, run_id=str(uuid.uuid4()), purpose="before", keep_last=2))[
        "recovery_point_id"] for _n in range(3)]
    removed = {p["id"]: p["removed_at"] for p in recovery_points(legacy_db)}
    assert removed[ids[0]] is not None and removed[ids[1]] is None and removed[ids[2]] is None
    # a backup that is not itself a recovery point still marks the ones its retention removes
    plain = ok(backup(legacy_db, backup_dir, keep_last=1))
    assert plain["recovery_point"] is None and plain["removed_recovery_points"] == ids[1:]
    assert all(p["removed_at"] for p in recovery_points(legacy_db))
    assert not os.path.exists(recovery_points(legacy_db)[0]["location"])


def test_a_clone_recovery_point_is_recorded_by_database_name(legacy_db, backup_dir, createdb):
    run_id = str(uuid.uuid4())
    result = ok(backup(legacy_db, backup_dir, format="clone", label="rp", run_id=run_id, purpose="after_schema"))
    row = recovery_points(legacy_db)[0]
    assert row["id"] == result["recovery_point_id"] and row["kind"] == "clone" and row["format"] == "clone"
    assert row["location"] == result["database"] and row["sha256"] is None
