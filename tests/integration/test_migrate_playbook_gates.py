# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's gates in migrate.yml, as an operator runs it: the pre-flight stops a run before anything is
written, each phase is validated (a failed validation is a failed run), and the Migration Log's every figure comes
from the run; check mode writes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook, staging_inventory

pytestmark = pytest.mark.legacy_chunks(1000)
COUNTED = ("ai_memories", "documents", "chunks")
PLACEHOLDER = re.compile(r"XXX|YYYY|\[Name|TODO|TBD|\?\?|\bNone\b|\bnull\b|\[[A-Z][a-z]+/[A-Z]")


@pytest.fixture
def inventory(tmp_path, legacy_db):
    return staging_inventory(tmp_path, legacy_db, report_dir=str(tmp_path / "controller"))


def play(inventory, *args: str) -> subprocess.CompletedProcess:
    # the inventory's report_dir, not the harness's default
    return ansible_playbook(inventory, MIGRATE_PLAYBOOK, "-l", "staging", "-e", "report_dir=%s"
                            % (inventory.parent / "controller"), *args)


def written(db, tmp_path) -> dict:
    """Everything a run could write: the ledger, the schema, the backups, the reports."""
    return {"ledger": db.ledger(), "schema": db.schema_dump(),
            "files": sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                            if p.parts[len(tmp_path.parts)] in ("backups", "backups-reports", "controller"))}


def test_migrate_writes_a_migration_log_whose_every_figure_comes_from_the_run(inventory, legacy_db, tmp_path):
    before = written(legacy_db, tmp_path)
    check = play(inventory, "--check")
    assert check.returncode == 0, check.stdout[-4000:]
    assert "Pre-flight" in check.stdout and written(legacy_db, tmp_path) == before  # the plan writes nothing

    proc = play(inventory, "-e", '{"migrate_probe_query": "SELECT count(*) FROM documents", "migrate_probe_samples": 5,'
                                 ' "migrate_monitor_interval": 1}')
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = " ".join(proc.stdout.split())
    assert "connection" in out and "privileges" in out and "free_disk" in out  # the pre-flight table
    assert "Data preserved: 100" in out  # the snapshot compared after the data phase
    reports = tmp_path / "controller" / "kh-staging"
    [md_path] = list(reports.glob("*.md"))
    md = md_path.read_text(encoding="utf-8")
    data = json.loads(md_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert not PLACEHOLDER.findall(md), PLACEHOLDER.findall(md)
    assert data["verdict"] == "SUCCESS" and data["results"]["validation"] == "SUCCESS"
    counts = {t: int(legacy_db.sql("SELECT count(*) FROM %s" % t)) for t in COUNTED}
    assert data["pre_migration"]["record_counts"] == counts == data["post_migration"]["record_counts"]
    assert data["post_migration"]["new_table_count"] == 19
    assert data["post_migration"]["data_preserved_percent"] == 100.0
    assert data["pre_migration"]["preflight"]["ok"] is True and data["pre_migration"]["preflight"]["counts"]["fail"] == 0
    size = int(legacy_db.sql("SELECT pg_database_size(current_database())"))
    assert abs(data["post_migration"]["database_size_bytes"] - size) < size * 0.2
    impact = data["post_migration"]["performance_impact_percent"]
    assert isinstance(impact["p50"], (int, float)) and isinstance(impact["mean"], (int, float)), impact
    peaks = data["post_migration"]["monitor"]["peaks"]
    assert isinstance(peaks["cpu_percent"], (int, float)) and isinstance(peaks["memory_percent"], (int, float))
    ledger = {r["version"]: r for r in legacy_db.ledger()}
    assert [m["version"] if isinstance(m, dict) else m for m in data["migration"]["applied"]] \
        in (["004", "005", "006"], ["004_hybrid_rag_schema", "005_data_migration", "006_harden_rollback_functions"])
    assert {ledger[v]["status"] for v in ("004", "005", "006")} == {"applied"}
    assert [p["purpose"] for p in data["recovery_points"]] == ["before", "after_schema", "after_data"]
    snapshot = tmp_path / "backups-reports" / ("%s.snapshot.json" % data["migration"]["run_id"])
    assert snapshot.is_file() and (os.stat(snapshot).st_mode & 0o777) == 0o600
    # read beside the before point's dump, in its snapshot
    assert json.loads(snapshot.read_text(encoding="utf-8"))["backup_id"] == data["recovery_points"][0]["backup_id"]
    assert legacy_db.sql("SELECT verdict FROM migration_log_report") == "SUCCESS"
    assert legacy_db.pg.app_password not in proc.stdout + proc.stderr + md
    # the pre-flight checked the database's health, the dump read the snapshot, and 001-003 have no expectation
    # file: no validation before the run, only after each phase
    assert proc.stdout.count(VALIDATE_SCHEMA) == 1 and "orphaned_rows" in out


VALIDATE_SCHEMA = "TASK [knowledgehub.migration.validate : Validate, phase schema]"


def test_without_recovery_points_the_validate_role_takes_the_snapshot(inventory, legacy_db, tmp_path):
    proc = play(inventory, "-e", "migrate_recovery_points=false")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert proc.stdout.count(VALIDATE_SCHEMA) == 2  # before the run (the snapshot), after the schema phase
    assert "Data preserved: 100" in " ".join(proc.stdout.split())
    [snapshot] = list((tmp_path / "backups-reports").glob("*.snapshot.json"))
    taken = json.loads(snapshot.read_text(encoding="utf-8"))
    assert "backup_id" not in taken and taken["tables"]["public.chunks"]["rows"] > 0
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").glob("*.manifest.json"))


def test_a_failed_preflight_stops_the_play_before_anything_is_written(inventory, legacy_db, tmp_path):
    before = written(legacy_db, tmp_path)
    proc = play(inventory, "-e", "preflight_min_free_disk_mb=999999999")
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "Pre-flight failed" in out and "free_disk" in out, out[-3000:]
    assert written(legacy_db, tmp_path) == before  # no baseline, no backup, no snapshot, no report


@pytest.mark.parametrize("on_failure", ["stop", "rollback_script"])
def test_a_failed_recovery_point_before_the_run_gets_its_migration_log_too(inventory, legacy_db, tmp_path, on_failure):
    # a table the application role may not read (the superuser's): the pre-flight names it before anything is
    # written; without the pre-flight, the before point's backup fails on it
    legacy_db.sql("CREATE TABLE kh_private (id int PRIMARY KEY); REVOKE ALL ON kh_private FROM PUBLIC")
    before = written(legacy_db, tmp_path)
    proc = play(inventory)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and "Pre-flight failed" in out and "GRANT SELECT ON public.kh_private" in out
    assert written(legacy_db, tmp_path) == before
    # with rollback_script there is nothing of the run to revert: the run still ends with its log
    proc = play(inventory, "-e", "migrate_preflight=false", "-e", "migrate_on_failure=%s" % on_failure)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "permission denied for table kh_private" in out and "MIGRATION FAILED on kh-staging" in out, out[-4000:]
    assert not {r["version"] for r in legacy_db.ledger() if r["status"] != "baseline"}  # nothing migrated
    assert not list((tmp_path / "backups").glob("*.manifest.json"))
    [md_path] = list((tmp_path / "controller" / "kh-staging").glob("*.md"))
    md = md_path.read_text(encoding="utf-8")
    data = json.loads(md_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["verdict"] == "FAILED" and "permission denied for table kh_private" in md
    assert data["recovery_points"] == [] and data["rollback"]["status"] == "Not Required"
    assert "- Migration: FAILED" in md and "Migration Migration" not in md
    assert data["pre_migration"]["record_counts"] == data["post_migration"]["record_counts"]
    assert not PLACEHOLDER.findall(md), PLACEHOLDER.findall(md)
    assert legacy_db.sql("SELECT verdict FROM migration_log_report") == "FAILED"


def test_a_failed_validation_fails_the_run_and_the_migration_log_says_so(inventory, legacy_db, tmp_path,
                                                                         migrations_copy):
    # a later file drops an index 004's expectations list: every migration applies, the validation catches it
    (migrations_copy / "007_drop_an_index.sql").write_text(
        "DROP INDEX IF EXISTS idx_kg_entities_entity_type;\n", encoding="utf-8")
    proc = play(inventory, "-e", "migrate_migrations_src=%s" % migrations_copy)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "idx_kg_entities_entity_type" in out and "MIGRATION FAILED on kh-staging" in out, out[-4000:]
    [md_path] = list((tmp_path / "controller" / "kh-staging").glob("*.md"))
    md = md_path.read_text(encoding="utf-8")
    data = json.loads(md_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["verdict"] == "FAILED" and "**Result:** FAILED" in md
    assert "idx_kg_entities_entity_type" in md
    assert not PLACEHOLDER.findall(md), PLACEHOLDER.findall(md)


def test_the_versions_the_database_holds_are_validated_before_the_run_when_they_have_expectations(
        inventory, legacy_db, tmp_path, migrations_copy):
    # 003 is baselined; an expectation file of its own names a table the database lacks: the validation before
    # the run reads it, and stops the run before the first recovery point and the first migration
    (migrations_copy / "expectations" / "003_search_and_feedback.yml").write_text(
        "tables: [search_queries, kh_never_created]\n", encoding="utf-8")
    proc = play(inventory, "-e", "migrate_migrations_src=%s" % migrations_copy)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert proc.stdout.count(VALIDATE_SCHEMA) == 1 and "kh_never_created" in out, out[-4000:]
    assert {r["version"]: r["status"] for r in legacy_db.ledger()} == {"001": "baseline", "002": "baseline",
                                                                       "003": "baseline"}
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").glob("*.manifest.json"))
