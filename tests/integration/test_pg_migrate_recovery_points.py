# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_migrate and recovery points: one run over several invocations (run_id, the backup before each phase), and the
recovery-point table beside the ledger, against a real PostgreSQL 15."""

from __future__ import annotations

import uuid

import pytest

from support.database import recovery_points
from support.modules import backup, failed, migrate, ok

# legacy_db: 001-003 applied by hand, 3000 chunks of sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(3000)


def test_phases_share_the_run_id_and_name_the_backup_before_them(legacy_db):
    run_id = str(uuid.uuid4()).upper()  # any spelling of the UUID; the ledger keeps its canonical form
    schema = ok(migrate(legacy_db, baseline_version="003", target_version="004", run_id=run_id,
                        backup_ref="kh_before"))
    # the data phase as the migrate role runs it: everything pending (005 and 006)
    data = ok(migrate(legacy_db, run_id=run_id, backup_ref="kh_after_schema"))
    assert [m["version"] for m in data["applied"]] == ["005", "006"]
    assert schema["run_id"] == data["run_id"] == run_id.lower()
    rows = legacy_db.ledger()
    assert {r["run_id"] for r in rows} == {run_id.lower()}
    assert [(r["version"], r["backup_ref"]) for r in rows] == [
        ("001", "kh_before"), ("002", "kh_before"), ("003", "kh_before"), ("004", "kh_before"),
        ("005", "kh_after_schema"), ("006", "kh_after_schema")]
    assert "is not a UUID" in failed(migrate(legacy_db, run_id="awx-1234"))


def test_a_recovery_point_table_does_not_make_an_empty_database_look_used(db, tmp_path):
    # a recovery point taken of an empty database, before its first migration
    ok(backup(db, str(tmp_path / "b"), run_id=str(uuid.uuid4())))
    assert len(recovery_points(db)) == 1
    plan = ok(migrate(db, check_mode=True))
    assert plan["baselined"] == [] and [m["version"] for m in plan["pending"]] == [
        "001", "002", "003", "004", "005", "006"]
    assert db.ledger() == []  # check mode wrote nothing
    applied = ok(migrate(db))
    assert [m["version"] for m in applied["applied"]] == ["001", "002", "003", "004", "005", "006"]


def test_a_recovery_point_table_does_not_hide_a_legacy_database(legacy_db, tmp_path):
    ok(backup(legacy_db, str(tmp_path / "b"), run_id=str(uuid.uuid4())))
    assert "baseline_version" in failed(migrate(legacy_db))  # still refused without a baseline
    result = ok(migrate(legacy_db, baseline_version="003"))
    assert [m["version"] for m in result["baselined"]] == ["001", "002", "003"]
    assert len(recovery_points(legacy_db)) == 1
