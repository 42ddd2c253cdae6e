# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lint gate judged against the live database (pg_migrate, real PostgreSQL 15, real squawk).

The same pending file is blocked against a populated table and passes, its findings reported as relaxed with
the reason, against an empty table and against one an earlier pending file of the same run creates;
lint_small_table_rows=0 restores blocking; a finding whose table cannot be told keeps its level.
"""

from __future__ import annotations

import pytest

from support.modules import failed, migrate, ok

BASE = "CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a integer NOT NULL);\n"
# two blocking rules of the lock category: a volatile default (rewrite) and an index built without CONCURRENTLY
CHANGE = ("SELECT 1;\n"
          "ALTER TABLE items ADD COLUMN stamped_at timestamptz NOT NULL DEFAULT clock_timestamp();\n"
          "CREATE INDEX idx_items_a ON items (a);\n")
RULES = {"adding-field-with-default", "require-concurrent-index-creation"}


def write(directory, files):
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


def table_findings(result):
    return [f for f in result["lint"]["findings"] if f["rule"] in RULES]


@pytest.fixture
def applied_base(db, tmp_path):
    """``db`` with 001 (the table items) applied through pg_migrate; returns the migrations directory."""
    directory = write(tmp_path / "m", {"001_items.sql": BASE})
    ok(migrate(db, migrations_dir=directory))
    return directory


def test_blocked_against_a_populated_table(db, applied_base):
    db.sql("INSERT INTO items (a) SELECT g FROM generate_series(1, 5000) g; ANALYZE items")
    write(applied_base, {"002_change.sql": CHANGE})
    for check_mode in (True, False):
        result = migrate(db, check_mode=check_mode, migrations_dir=applied_base)
        message = failed(result)
        assert "Lint gate" in message and "~5.0k rows (estimate" in message and "threshold 1000" in message
        blocking = [f for f in result["lint"]["blocking"] if f["rule"] in RULES]
        assert {f["rule"] for f in blocking} == RULES
        assert all(f["relaxed"] is False and "items holds ~5.0k rows" in f["reason"] for f in blocking)
    assert "stamped_at" not in db.columns("items")
    assert [r["version"] for r in db.ledger()] == ["001"]


def test_a_stale_estimate_is_checked_by_a_bounded_count(db, applied_base):
    """reltuples says 0 (analyzed while empty), the table holds 3000 rows: the count stops at 1001 and blocks."""
    db.sql("ANALYZE items; ALTER TABLE items SET (autovacuum_enabled = false)")
    db.sql("INSERT INTO items (a) SELECT g FROM generate_series(1, 3000) g")
    write(applied_base, {"002_change.sql": CHANGE})
    result = migrate(db, check_mode=True, migrations_dir=applied_base)
    assert "Lint gate" in failed(result)
    reasons = {f["reason"] for f in result["lint"]["blocking"]}
    assert reasons == {"table items holds more than 1000 rows (threshold 1000; the estimate said ~0)"}


def test_passes_against_an_empty_table_with_the_reason(db, applied_base):
    db.sql("INSERT INTO items (a) VALUES (1), (2), (3)")
    write(applied_base, {"002_change.sql": CHANGE})
    plan = ok(migrate(db, check_mode=True, migrations_dir=applied_base))
    findings = table_findings(plan)
    assert {f["rule"] for f in findings} == RULES and plan["lint"]["ok"] and plan["lint"]["counts"]["relaxed"] == 2
    for finding in findings:
        assert finding["relaxed"] is True and finding["level"] == "warning" and finding["policy_level"] == "error"
        assert finding["reason"] == "table items holds 3 rows (threshold 1000)"
    assert "2 relaxed" in plan["lint"]["summary"]
    assert "stamped_at" not in db.columns("items")  # check mode wrote nothing
    result = ok(migrate(db, migrations_dir=applied_base))
    assert [m["version"] for m in result["applied"]] == ["002"] and "stamped_at" in db.columns("items")


def test_passes_when_an_earlier_pending_file_creates_the_table(db, tmp_path):
    directory = write(tmp_path / "m", {"001_items.sql": "-- the table\n\n" + BASE, "002_change.sql": CHANGE})
    plan = ok(migrate(db, check_mode=True, migrations_dir=directory))
    findings = table_findings(plan)
    assert {f["rule"] for f in findings} == RULES
    for finding in findings:
        assert finding["relaxed"] is True
        assert finding["reason"].startswith("table items is created by 001_items.sql line 3 in this run")
    result = ok(migrate(db, migrations_dir=directory))
    assert [m["version"] for m in result["applied"]] == ["001", "002"]


def test_threshold_zero_restores_blocking(db, tmp_path):
    directory = write(tmp_path / "m", {"001_items.sql": BASE, "002_change.sql": CHANGE})
    result = migrate(db, check_mode=True, migrations_dir=directory, lint_small_table_rows=0)
    assert "Lint gate" in failed(result)
    blocking = [f for f in result["lint"]["blocking"] if f["rule"] in RULES]
    assert {f["rule"] for f in blocking} == RULES and all(not f["relaxed"] for f in blocking)
    assert all("lint_small_table_rows=0" in f["reason"] for f in blocking)
    assert db.tables() == []


def test_a_finding_whose_table_is_unknown_is_unchanged(db, tmp_path):
    """001 creates its table in procedural code: the analysis cannot see it, the table does not exist yet."""
    directory = write(tmp_path / "m", {
        "001_dynamic.sql": "DO $$ BEGIN EXECUTE 'CREATE TABLE dyn (a integer)'; END $$;\n",
        "002_index.sql": "CREATE INDEX idx_dyn_a ON dyn (a);\nCREATE INDEX idx_other ON other_schema_table (a);\n"})
    result = migrate(db, check_mode=True, migrations_dir=directory)
    assert "Lint gate" in failed(result)
    blocking = result["lint"]["blocking"]
    assert [(f["line"], f["rule"], f["relaxed"]) for f in blocking] == [
        (1, "require-concurrent-index-creation", False), (2, "require-concurrent-index-creation", False)]
    assert "table dyn does not exist in the database" in blocking[0]["reason"]
    assert "cannot be judged" in blocking[1]["reason"]


def test_rules_outside_the_size_policy_keep_blocking_on_an_empty_table(db, applied_base):
    """A rename breaks the running application whatever the rows; a dropped column of an empty table loses
    nothing and is relaxed, of a table with one row it blocks."""
    write(applied_base, {"002_rename.sql": "ALTER TABLE items RENAME COLUMN a TO b;\n"})
    result = migrate(db, check_mode=True, migrations_dir=applied_base)
    assert "Lint gate" in failed(result)
    assert "relaxed only for a table created in the run" in result["lint"]["blocking"][0]["reason"]
    (applied_base / "002_rename.sql").unlink()
    write(applied_base, {"002_drop.sql": "ALTER TABLE items DROP COLUMN a;\n"})
    plan = ok(migrate(db, check_mode=True, migrations_dir=applied_base))
    assert [(f["rule"], f["relaxed"], f["reason"]) for f in plan["lint"]["findings"]] == [
        ("ban-drop-column", True, "table items holds no rows: nothing is lost or refused")]
    db.sql("INSERT INTO items (a) VALUES (1)")
    result = migrate(db, check_mode=True, migrations_dir=applied_base)
    assert "loses or refuses data whatever the size" in failed(result)
