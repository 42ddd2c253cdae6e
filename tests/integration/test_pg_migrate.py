# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_migrate against a real PostgreSQL 15: the KnowledgeHub migration (004, 005, 006) end to end."""

from __future__ import annotations

import json
import os
import threading

import pytest

from support.database import CRITICAL, app_connection
from support.expectations import expectations
from support.modules import failed, migrate, ok
from support.paths import MIGRATIONS

EXPECT_004 = expectations("004")
EXPECT_005 = expectations("005")
EXPECT_006 = expectations("006")
# legacy_db: 001-003 applied by hand, 3000 chunks of sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(3000)


def catalog(db):
    """Names of the objects in schema public, by kind."""
    def names(query):
        return {r[0] for r in db.rows(query)}
    return {
        "tables": names("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"),
        "views": names("SELECT viewname FROM pg_views WHERE schemaname = 'public'"),
        "indexes": names("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"),
        "functions": names("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"),
        "foreign_keys": names("SELECT conname FROM pg_constraint WHERE contype = 'f' "
                              "AND connamespace = 'public'::regnamespace"),
        "constraint_indexes": names("SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x') "
                                    "AND connamespace = 'public'::regnamespace"),
    }


def test_fresh_database_gets_every_migration_in_order(db):
    result = migrate(db)
    ok(result)
    assert result["changed"] is True
    assert result["ledger_created"] is True
    assert result["baselined"] == []
    assert [m["version"] for m in result["applied"]] == ["001", "002", "003", "004", "005", "006"]
    ledger = db.ledger()
    assert [(r["version"], r["status"]) for r in ledger] == [
        ("001", "applied"), ("002", "applied"), ("003", "applied"), ("004", "applied"), ("005", "applied"),
        ("006", "applied")]
    for row in ledger:
        assert len(row["checksum"]) == 64
        assert row["completed_at"] and row["duration_ms"] is not None and row["executed_by"]


def test_004_creates_exactly_the_promised_objects(legacy_db):
    before = catalog(legacy_db)
    result = migrate(legacy_db, baseline_version="003", target_version="004")
    ok(result)
    assert [m["version"] for m in result["applied"]] == ["004"]
    assert [m["version"] for m in result["beyond_target"]] == ["005", "006"]
    after = catalog(legacy_db)

    new_tables = after["tables"] - before["tables"] - {"migration_log"}
    assert new_tables == set(EXPECT_004["tables"])
    assert len(new_tables) == 19 and "rollback_backup_log" in new_tables
    new_views = after["views"] - before["views"]
    assert new_views == set(EXPECT_004["views"]) and len(new_views) == 4
    assert set(EXPECT_004["functions"]) == {"safe_rollback_table", "safe_remove_column"}
    assert set(EXPECT_004["functions"]) <= after["functions"] - before["functions"]
    new_indexes = after["indexes"] - before["indexes"] - after["constraint_indexes"] \
        - {"migration_log_one_present_per_version"}
    assert new_indexes == set(EXPECT_004["indexes"])
    assert len(new_indexes) >= 30
    new_fks = after["foreign_keys"] - before["foreign_keys"]
    assert new_fks == set(EXPECT_004["foreign_keys"]) and new_fks
    for table, columns in EXPECT_004["columns_added"].items():
        assert set(columns) <= set(legacy_db.columns(table))
    # nothing of the baseline disappeared
    assert before["tables"] <= after["tables"] and before["indexes"] <= after["indexes"]


def test_005_preserves_every_row_and_its_invariants_hold(legacy_db):
    originals = {t: legacy_db.columns(t) for t in CRITICAL}
    before = {t: legacy_db.checksum(t, originals[t]) for t in CRITICAL}
    result = migrate(legacy_db, baseline_version="003")
    ok(result)
    assert [m["version"] for m in result["applied"]] == ["004", "005", "006"]
    after = {t: legacy_db.checksum(t, originals[t]) for t in CRITICAL}
    assert after == before
    assert all(int(v.split(":")[0]) > 0 for v in before.values())
    violations = {inv["name"]: int(legacy_db.sql(inv["sql"])) for inv in EXPECT_005["invariants"]}
    assert violations and all(v == 0 for v in violations.values()), violations
    # and the invariants do catch a broken migration: remove one carried-over chunk
    legacy_db.sql("DELETE FROM enhanced_chunks WHERE id = (SELECT min(id) FROM enhanced_chunks)")
    broken = {inv["name"]: int(legacy_db.sql(inv["sql"])) for inv in EXPECT_005["invariants"]}
    assert any(v > 0 for v in broken.values()), broken


def function_settings(db) -> dict:
    """pg_proc.proconfig of the functions 006 replaces (None: no settings of their own)."""
    rows = db.rows("SELECT proname, coalesce(array_to_json(proconfig), 'null') FROM pg_proc "
                   "WHERE pronamespace = 'public'::regnamespace AND proname IN ('%s')"
                   % "', '".join(f["name"] for f in EXPECT_006["functions"]))
    return {r[0]: json.loads(r[1]) for r in rows}


def test_006_replaces_the_two_functions_and_changes_nothing_else(legacy_db):
    def bodies():
        return dict(legacy_db.rows("SELECT proname, md5(prosrc) FROM pg_proc WHERE pronamespace = "
                                   "'public'::regnamespace"))

    ok(migrate(legacy_db, baseline_version="003", target_version="005"))
    names = {f["name"] for f in EXPECT_006["functions"]}
    assert function_settings(legacy_db) == {name: None for name in names}  # 004's: no search_path of their own
    before, data, functions = catalog(legacy_db), legacy_db.snapshot(), bodies()
    result = ok(migrate(legacy_db))
    assert [m["version"] for m in result["applied"]] == ["006"]
    # the same objects and rows; the same functions, only the two replaced, with the same arguments
    assert catalog(legacy_db) == before and legacy_db.snapshot() == data
    after = bodies()
    assert set(after) == set(functions) and {f for f in after if after[f] != functions[f]} == names
    assert function_settings(legacy_db) == {f["name"]: f["config"] for f in EXPECT_006["functions"]}
    arguments = dict(legacy_db.rows("SELECT proname, pg_get_function_arguments(oid) FROM pg_proc "
                                    "WHERE pronamespace = 'public'::regnamespace"))
    assert {f["name"]: f["arguments"] for f in EXPECT_006["functions"]} == {name: arguments[name] for name in names}


def test_second_run_changes_nothing_and_says_so(legacy_db):
    first = migrate(legacy_db, baseline_version="003")
    assert ok(first)["changed"] is True
    schema = legacy_db.schema_dump()
    data = legacy_db.snapshot()
    ledger = legacy_db.ledger()
    second = migrate(legacy_db, baseline_version="003")
    ok(second)
    assert second["changed"] is False
    assert second["applied"] == [] and second["baselined"] == []
    assert [m["version"] for m in second["already_applied"]] == ["001", "002", "003", "004", "005", "006"]
    assert legacy_db.schema_dump() == schema
    assert legacy_db.snapshot() == data
    assert legacy_db.ledger() == ledger


def test_legacy_database_without_baseline_is_refused_unchanged(legacy_db):
    schema = legacy_db.schema_dump()
    result = migrate(legacy_db)
    failed(result)
    assert "baseline_version" in result["msg"] and "Nothing was changed" in result["msg"]
    assert legacy_db.schema_dump() == schema
    assert legacy_db.ledger() == []


def test_baseline_records_present_versions_without_running_them(legacy_db):
    result = migrate(legacy_db, baseline_version="003", target_version="003")
    ok(result)
    assert [m["version"] for m in result["baselined"]] == ["001", "002", "003"]
    assert result["applied"] == []
    assert [(r["version"], r["status"]) for r in legacy_db.ledger()] == [
        ("001", "baseline"), ("002", "baseline"), ("003", "baseline")]


def test_check_mode_reports_without_writing(legacy_db):
    schema = legacy_db.schema_dump()
    result = migrate(legacy_db, check_mode=True, baseline_version="003")
    ok(result)
    assert result["changed"] is True and result["ledger_created"] is True
    assert [m["version"] for m in result["baselined"]] == ["001", "002", "003"]
    assert [m["version"] for m in result["pending"]] == ["004", "005", "006"]
    assert result["applied"] == []
    assert legacy_db.schema_dump() == schema
    assert legacy_db.ledger() == []
    # after the real run, check mode predicts "nothing to do"
    ok(migrate(legacy_db, baseline_version="003"))
    again = migrate(legacy_db, check_mode=True, baseline_version="003")
    assert again["changed"] is False and again["pending"] == []


def test_rollback_script_returns_exactly_the_baseline(legacy_db):
    ok(migrate(legacy_db, baseline_version="003", target_version="003"))
    schema = legacy_db.schema_dump()
    data = legacy_db.snapshot()
    ok(migrate(legacy_db))
    assert legacy_db.schema_dump() != schema
    legacy_db.apply_file(os.path.join(MIGRATIONS, "rollback_004_005.sql"))
    assert legacy_db.schema_dump() == schema
    assert legacy_db.snapshot() == data
    statuses = {r["version"]: r["status"] for r in legacy_db.ledger()}
    assert statuses == {"001": "baseline", "002": "baseline", "003": "baseline",
                        "004": "rolled_back", "005": "rolled_back", "006": "rolled_back"}
    # the ledger told the truth, so a rerun applies 004, 005 and 006 again (006's functions, not 004's)
    rerun = migrate(legacy_db)
    ok(rerun)
    assert [m["version"] for m in rerun["applied"]] == ["004", "005", "006"]
    assert function_settings(legacy_db) == {f["name"]: f["config"] for f in EXPECT_006["functions"]}


def test_drifted_file_is_refused_and_nothing_changes(legacy_db, migrations_copy):
    ok(migrate(legacy_db, migrations_dir=migrations_copy, baseline_version="003", target_version="004"))
    schema, data, ledger = legacy_db.schema_dump(), legacy_db.snapshot(), legacy_db.ledger()
    path = migrations_copy / "004_hybrid_rag_schema.sql"
    path.write_text(path.read_text(encoding="utf-8") + "\n-- a harmless-looking edit\n", encoding="utf-8")
    result = migrate(legacy_db, migrations_dir=migrations_copy)
    failed(result)
    assert "Drift" in result["msg"] and "004_hybrid_rag_schema.sql" in result["msg"]
    assert legacy_db.schema_dump() == schema and legacy_db.snapshot() == data and legacy_db.ledger() == ledger


def test_missing_migrations_directory_is_a_clear_error(db, tmp_path):
    missing = tmp_path / "nowhere"
    result = migrate(db, migrations_dir=missing)
    failed(result)
    assert str(missing) in result["msg"] and "does not exist" in result["msg"]
    assert db.tables() == []


def test_syntax_error_rolls_back_the_file_and_the_ledger_says_so(legacy_db, migrations_copy):
    path = migrations_copy / "004_hybrid_rag_schema.sql"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    middle = len(lines) // 2
    while lines[middle - 1].strip():  # insert between two statements
        middle += 1
    lines.insert(middle, "CREATE TABEL broken (id int);\n")
    path.write_text("".join(lines), encoding="utf-8")
    ok(migrate(legacy_db, migrations_dir=migrations_copy, baseline_version="003", target_version="003"))
    schema, data = legacy_db.schema_dump(), legacy_db.snapshot()

    gated = migrate(legacy_db, migrations_dir=migrations_copy)
    assert "Lint gate" in failed(gated)
    assert "004_hybrid_rag_schema.sql line %d" % (middle + 1) in gated["msg"]
    assert legacy_db.schema_dump() == schema and [r["status"] for r in legacy_db.ledger()] == ["baseline"] * 3

    # without the gate, PostgreSQL finds it: the file's transaction rolls back
    result = migrate(legacy_db, migrations_dir=migrations_copy, lint=False)
    failed(result)
    failure = result["failure"]
    assert failure["file"] == "004_hybrid_rag_schema.sql"
    assert failure["sqlstate"] == "42601"
    assert failure["line"] == middle + 1
    assert failure["statement"] > 1
    assert "line %d" % (middle + 1) in result["msg"] and "TABEL" in result["msg"]
    assert "nothing of this file is applied" in result["msg"]
    assert legacy_db.schema_dump() == schema and legacy_db.snapshot() == data
    statuses = [(r["version"], r["status"]) for r in legacy_db.ledger()]
    assert statuses[-1] == ("004", "failed") and ("005", "applied") not in statuses
    assert ("006", "applied") not in statuses


def test_wrong_password_is_a_clear_error_and_leaks_nothing(legacy_db):
    schema = legacy_db.schema_dump()
    secret = "not-the-password-Zq81"
    result = migrate(legacy_db, baseline_version="003", login_password=secret)
    failed(result)
    assert "Cannot connect" in result["msg"] and "password authentication failed" in result["msg"]
    assert secret not in result["_stdout"] + result["_stderr"]
    assert legacy_db.schema_dump() == schema and legacy_db.ledger() == []


def test_transaction_control_in_a_file_is_refused_before_anything_runs(db, migrations_copy):
    path = migrations_copy / "005_data_migration.sql"
    path.write_text("COMMIT;\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    result = migrate(db, migrations_dir=migrations_copy)
    failed(result)
    assert "005_data_migration.sql, statement 1 (line 1) is transaction control" in result["msg"]
    assert db.tables() == []


def test_a_second_run_waits_for_the_lock_then_names_the_holder(legacy_db):
    from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import (  # pylint: disable=import-outside-toplevel
        Ledger, LOCK_NAMESPACE)
    holder = app_connection(legacy_db, "the other runner")
    holder.autocommit = True
    key = Ledger(holder, "public", "migration_log").lock_key
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, %s), pg_backend_pid()", (LOCK_NAMESPACE, key))
        pid = cur.fetchone()[1]
    try:
        result = migrate(legacy_db, baseline_version="003", lock_wait_timeout=1)
        failed(result)
        assert "pid %d" % pid in result["msg"] and "the other runner" in result["msg"]
        assert "user knowledgehub, from 127.0.0.1" in result["msg"]
        assert legacy_db.ledger() == []
        # released in time: the waiting run proceeds
        timer = threading.Timer(1.0, holder.close)
        timer.start()
        result = migrate(legacy_db, baseline_version="003", lock_wait_timeout=30)
        timer.join()
        ok(result)
    finally:
        if not holder.closed:
            holder.close()


def test_bad_timeout_value_is_refused(db):
    result = migrate(db, lock_timeout="ten seconds")
    assert "lock_timeout" in failed(result)
    assert db.tables() == []


def test_failure_at_commit_leaves_nothing_applied(db, tmp_path):
    """A deferred constraint fails at COMMIT: the file and its ledger row roll back together."""
    (tmp_path / "001_parent.sql").write_text("CREATE TABLE parent (id int PRIMARY KEY);\n", encoding="utf-8")
    (tmp_path / "002_child.sql").write_text(
        "CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO child VALUES (42);\n", encoding="utf-8")
    result = migrate(db, migrations_dir=tmp_path)
    failed(result)
    assert "002_child.sql failed at commit" in result["msg"] and result["failure"]["sqlstate"] == "23503"
    assert db.tables() == ["migration_log", "parent"]
    assert [(r["version"], r["status"]) for r in db.ledger()] == [("001", "applied"), ("002", "failed")]


def _leave_running_row(db, backend_pid):
    """The ledger row a runner killed in the middle of 004 leaves behind."""
    checksum = [m for m in migrate(db, check_mode=True)["pending"] if m["version"] == "004"][0]["checksum"]
    db.sql("INSERT INTO migration_log (run_id, version, name, checksum, status, executed_by, executed_from, "
           "backend_pid) VALUES (gen_random_uuid(), '004', 'hybrid_rag_schema', '%s', 'running', 'ops', 'gone', %d)"
           % (checksum, backend_pid))


def test_row_left_running_by_a_killed_runner_is_marked_and_the_run_continues(legacy_db):
    ok(migrate(legacy_db, baseline_version="003", target_version="003"))
    _leave_running_row(legacy_db, 999999)
    check = migrate(legacy_db, check_mode=True)
    assert [r["version"] for r in check["interrupted"]] == ["004"] and check["changed"] is True
    result = migrate(legacy_db)
    ok(result)
    assert [r["version"] for r in result["interrupted"]] == ["004"]
    assert [m["version"] for m in result["applied"]] == ["004", "005", "006"]
    rows = [(r["version"], r["status"]) for r in legacy_db.ledger()]
    assert rows[3:] == [("004", "failed"), ("004", "applied"), ("005", "applied"), ("006", "applied")]
    assert legacy_db.ledger()[3]["error"].startswith("interrupted")


def test_a_killed_runners_session_still_open_is_waited_for_then_named(legacy_db):
    ok(migrate(legacy_db, baseline_version="003", target_version="003"))
    zombie = app_connection(legacy_db, "knowledgehub.migration pg_migrate 004")
    try:
        with zombie.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        _leave_running_row(legacy_db, pid)
        result = migrate(legacy_db, lock_wait_timeout=1)
        failed(result)
        assert "pid %d" % pid in result["msg"] and "pg_terminate_backend" in result["msg"]
        assert legacy_db.ledger()[-1]["status"] == "running"
        assert "ai_memories" in legacy_db.tables() and "enhanced_chunks" not in legacy_db.tables()
    finally:
        zombie.close()
    result = migrate(legacy_db, lock_wait_timeout=5)
    ok(result)
    assert [m["version"] for m in result["applied"]] == ["004", "005", "006"]
