# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/recover.yml and migrate.yml's failure path, as an operator runs them, on a host without a compose
project (the compose hosts have their own tests): migrate.yml, then recover.yml with no other input, gives back
the pre-migration schema and rows; a migration made to fail in its data phase stops with what failed, where the
database stands and the exact recover command, or goes back by itself with migrate_on_failure=recovery_point."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support.paths import MIGRATIONS
from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook, recap, staging_inventory

pytestmark = pytest.mark.legacy_chunks(1000)

RECOVER_PLAYBOOK = "playbooks/recover.yml"
TABLES = ["ai_memories", "documents", "chunks"]


@pytest.fixture
def inventory(tmp_path, legacy_db, createdb):  # pylint: disable=unused-argument
    return staging_inventory(tmp_path, legacy_db)


@pytest.fixture
def failing_migrations(tmp_path):
    """The migrations plus a 007 that fails in the data phase, after 005 and 006 committed."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    (target / "007_fails.sql").write_text("CREATE TABLE kh_test_partial (id int);\nSELECT 1 / 0;\n", encoding="utf-8")
    return target


def run(inventory, playbook, *args) -> subprocess.CompletedProcess:
    return ansible_playbook(inventory, playbook, "-l", "staging", *args)


def test_migrate_then_recover_gives_back_the_database_before_the_migration(inventory, legacy_db):
    # the legacy database has no ledger yet; the point "before" holds the one its baseline created
    schema, snapshot = legacy_db.schema_dump(exclude_ledger=True), legacy_db.snapshot(TABLES)
    assert run(inventory, MIGRATE_PLAYBOOK).returncode == 0
    plan = run(inventory, RECOVER_PLAYBOOK, "--check")
    assert plan.returncode == 0, plan.stdout[-3000:]
    assert "Would lose:   ledger versions 004, 005, 006" in plan.stdout and "CHECK MODE" in plan.stdout
    assert legacy_db.sql("SELECT count(*) FROM migration_log WHERE status = 'applied'") == "3"
    proc = run(inventory, RECOVER_PLAYBOOK)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "recovered to" in proc.stdout and "Replaced database kept as: %s_pre_restore_" % legacy_db.name \
        in proc.stdout
    assert legacy_db.schema_dump(exclude_ledger=True) == schema and legacy_db.snapshot(TABLES) == snapshot
    # the ledger is the one of the point: 001-003 baselined, nothing applied
    assert legacy_db.rows("SELECT version, status FROM migration_log ORDER BY id") == [
        ["001", "baseline"], ["002", "baseline"], ["003", "baseline"]]
    again = run(inventory, RECOVER_PLAYBOOK)
    assert again.returncode == 0 and "already at recovery point" in again.stdout
    assert recap(again.stdout)["changed"] == 0


def test_a_failed_data_phase_stops_and_says_how_to_go_back(inventory, legacy_db, failing_migrations):
    proc = run(inventory, MIGRATE_PLAYBOOK, "-e", "migrate_migrations_src=%s" % failing_migrations)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # the callback wraps long lines
    assert "MIGRATION FAILED on kh-staging" in out and "007_fails.sql, statement 2, line 2" in out
    assert "division by zero" in out
    assert "To go back: ansible-playbook playbooks/recover.yml -i %s -l kh-staging -e recover_run_id=" \
        % inventory in out
    assert "Database now: as the ledger says: 001 baseline, 002 baseline, 003 baseline, 004 applied, 005 applied, " \
        "006 applied, 007 failed" in out
    statuses = dict(legacy_db.rows("SELECT version, status FROM migration_log WHERE version >= '004' "
                                   "ORDER BY id"))
    assert statuses == {"004": "applied", "005": "applied", "006": "applied", "007": "failed"}
    assert legacy_db.sql("SELECT to_regclass('kh_test_partial') IS NULL") == "t"


def test_a_failed_data_phase_goes_back_to_the_recovery_point_when_asked(inventory, legacy_db, failing_migrations):
    schema, snapshot = legacy_db.schema_dump(exclude_ledger=True), legacy_db.snapshot(TABLES)
    proc = run(inventory, MIGRATE_PLAYBOOK, "-e", "migrate_migrations_src=%s" % failing_migrations,
               "-e", "migrate_on_failure=recovery_point")
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # the callback wraps long lines
    assert "MIGRATION FAILED on kh-staging" in out and "back at recovery point" in out
    assert "To go back" not in out
    assert legacy_db.snapshot(TABLES) == snapshot
    assert legacy_db.sql("SELECT to_regclass('rag_configurations') IS NULL") == "t"
    assert legacy_db.schema_dump(exclude_ledger=True) == schema


def test_recover_by_the_revert_files_gives_back_the_schema_and_keeps_the_rows(inventory, legacy_db):
    schema, snapshot = legacy_db.schema_dump(exclude_ledger=True), legacy_db.snapshot(TABLES)
    assert run(inventory, MIGRATE_PLAYBOOK).returncode == 0
    plan = run(inventory, RECOVER_PLAYBOOK, "--check", "-e", "recover_method=rollback_script")
    assert plan.returncode == 0, plan.stdout[-3000:]
    assert "006_harden_rollback_functions.down.sql" in plan.stdout
    assert legacy_db.sql("SELECT to_regclass('rag_configurations') IS NOT NULL") == "t"
    proc = run(inventory, RECOVER_PLAYBOOK, "-e", "recover_method=rollback_script")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "reverted 006_harden_rollback_functions.down.sql, 005_data_migration.down.sql, " \
        "004_hybrid_rag_schema.down.sql" in " ".join(proc.stdout.split())
    assert _without_recovery_points(legacy_db.schema_dump(exclude_ledger=True)) == schema
    assert legacy_db.snapshot(TABLES) == snapshot
    assert legacy_db.rows("SELECT version, status FROM migration_log WHERE version >= '004' ORDER BY version") == [
        ["004", "rolled_back"], ["005", "rolled_back"], ["006", "rolled_back"]]


def _without_recovery_points(dump: str) -> str:
    """The schema without the recovery-point table the migration's backups created beside the ledger (the revert
    files revert the migrations, not the tool's own bookkeeping)."""
    blocks = dump.split("\n--\n")
    return "\n--\n".join(b for b in blocks if "migration_log_recovery_point" not in b)


def test_a_failed_data_phase_is_reverted_by_the_revert_files_when_asked(inventory, legacy_db, failing_migrations):
    snapshot = legacy_db.snapshot(TABLES)
    proc = run(inventory, MIGRATE_PLAYBOOK, "-e", "migrate_migrations_src=%s" % failing_migrations,
               "-e", "migrate_on_failure=rollback_script")
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "MIGRATION FAILED on kh-staging" in out
    assert "Database now: reverted by 006_harden_rollback_functions.down.sql" in out
    assert legacy_db.sql("SELECT to_regclass('rag_configurations') IS NULL") == "t"
    assert legacy_db.snapshot(TABLES) == snapshot
