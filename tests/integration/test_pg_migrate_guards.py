# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guarded execution against a real PostgreSQL 15: locks, timeouts, kills, shutdowns, races."""

from __future__ import annotations

import json
import random
import signal
import threading
import time

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover

from support.database import CRITICAL, app_connection, drop_database
from support.expectations import expectations
from support.modules import failed, module_result, ok, run_module, start_module
from support.paths import MIGRATIONS

EXPECT_004 = expectations("004")
EXPECT_005 = expectations("005")
EXPECT_006 = expectations("006")
FILES = {f.version: f for f in discover(MIGRATIONS)[0]}
# legacy_db (001-003 by hand, sample data, no ledger) and the run the kill points are spread over
CHUNKS = 3000
pytestmark = pytest.mark.legacy_chunks(CHUNKS)
FAST_RETRIES = dict(lock_timeout="300ms", lock_retries=2, lock_retry_delay=0.1, blocking_sessions="ignore")


def args_for(db, **options):
    return dict(dict(db.params, migrations_dir=MIGRATIONS, baseline_version="003"), **options)


def backend_pid(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def hold_read_lock(conn, table="ai_memories"):
    """An application transaction left open after reading a table: DDL on it must wait."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM %s" % table)


@pytest.fixture
def baselined(legacy_db):
    """The legacy database adopted by the ledger (001-003 baseline), 004, 005 and 006 pending."""
    result = run_module("pg_migrate", args_for(legacy_db, target_version="003"))
    ok(result)
    return legacy_db


def test_lock_timeout_retries_then_names_the_relation_and_the_blocker(baselined):
    schema = baselined.schema_dump()
    blocker = app_connection(baselined, "the application")
    try:
        hold_read_lock(blocker)
        pid = backend_pid(blocker)
        started = time.monotonic()
        result = run_module("pg_migrate", args_for(baselined, **FAST_RETRIES))
        elapsed = time.monotonic() - started
    finally:
        blocker.close()
    failed(result)
    failure = result["failure"]
    assert failure["sqlstate"] == "55P03" and failure["attempts"] == 3
    assert "ai_memories" in failure["blocked_by"] and "pid %d" % pid in failure["blocked_by"]
    assert "the application" in result["msg"] and "after 3 attempt(s)" in result["msg"]
    assert elapsed < 15
    assert baselined.schema_dump() == schema
    assert [(r["version"], r["status"]) for r in baselined.ledger()][-1] == ("004", "failed")


def test_lock_timeout_retry_succeeds_once_the_blocker_is_gone(baselined):
    blocker = app_connection(baselined, "the application")
    hold_read_lock(blocker)
    timer = threading.Timer(1.5, blocker.close)
    timer.start()
    try:
        result = run_module("pg_migrate", args_for(baselined, lock_timeout="300ms", lock_retries=8,
                                                   lock_retry_delay=0.2, blocking_sessions="ignore"))
    finally:
        timer.join()
    ok(result)
    first = result["applied"][0]
    assert first["version"] == "004" and first["attempts"] > 1
    assert [m["version"] for m in result["applied"]] == ["004", "005", "006"]


def test_long_transactions_are_listed_and_nothing_runs_under_policy_fail(baselined):
    schema = baselined.schema_dump()
    blocker = app_connection(baselined, "a forgotten psql")
    try:
        hold_read_lock(blocker, "documents")
        pid = backend_pid(blocker)
        time.sleep(2.2)
        result = run_module("pg_migrate", args_for(baselined, blocking_sessions="fail", long_transaction_seconds=2))
    finally:
        blocker.close()
    failed(result)
    assert "pid %d" % pid in result["msg"] and "a forgotten psql" in result["msg"]
    assert "pg_terminate_backend" in result["msg"] and "Nothing of 004_hybrid_rag_schema.sql was run" in result["msg"]
    assert baselined.schema_dump() == schema
    assert [r["version"] for r in baselined.ledger()] == ["001", "002", "003"]


def test_policy_wait_goes_ahead_once_the_long_transaction_ends(baselined):
    blocker = app_connection(baselined, "the application")
    hold_read_lock(blocker, "documents")
    time.sleep(1.2)
    timer = threading.Timer(2.0, blocker.close)
    timer.start()
    try:
        started = time.monotonic()
        result = run_module("pg_migrate", args_for(baselined, blocking_sessions="wait", long_transaction_seconds=1,
                                                   blocking_sessions_timeout=30))
    finally:
        timer.join()
    ok(result)
    assert time.monotonic() - started >= 0.5
    assert [m["version"] for m in result["applied"]] == ["004", "005", "006"]


def test_header_directives_set_this_files_timeouts(db, tmp_path):
    (tmp_path / "001_defaults.sql").write_text(
        "CREATE TABLE seen_001 AS SELECT current_setting('lock_timeout') AS lock_timeout,\n"
        "  current_setting('statement_timeout') AS statement_timeout,\n"
        "  current_setting('idle_in_transaction_session_timeout') AS idle;\n", encoding="utf-8")
    (tmp_path / "002_overrides.sql").write_text(
        "-- What this file does, in words.\n-- migrate:lock_timeout 250ms\n-- migrate:statement_timeout 5min\n\n"
        "CREATE TABLE seen_002 AS SELECT current_setting('lock_timeout') AS lock_timeout,\n"
        "  current_setting('statement_timeout') AS statement_timeout;\n", encoding="utf-8")
    result = run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path), lock_timeout="4s",
                                           idle_in_transaction_timeout="45s"))
    ok(result)
    assert db.rows("TABLE seen_001") == [["4s", "0", "45s"]]
    assert db.rows("TABLE seen_002") == [["250ms", "5min"]]


def test_unknown_directive_is_refused_before_anything_runs(db, tmp_path):
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (id int);\n", encoding="utf-8")
    (tmp_path / "002_b.sql").write_text("-- migrate:transactions off\nCREATE TABLE b (id int);\n", encoding="utf-8")
    result = run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path)))
    failed(result)
    assert "002_b.sql, line 1: unknown directive migrate:transactions" in result["msg"]
    assert db.tables() == []


STATEMENT_BY_STATEMENT = """-- migrate:transaction off
-- Builds an index without blocking writers, which cannot happen inside a transaction.
CREATE TABLE IF NOT EXISTS tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
INSERT INTO tags (name) SELECT 'tag-' || g FROM generate_series(1, 500) g;
INSERT INTO tags (name) VALUES ('duplicate'), ('duplicate');
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS tags_name_key ON tags (name);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tags_name_len ON tags (length(name));
"""


def test_statement_by_statement_file_resumes_where_it_failed_and_drops_the_invalid_index(db, tmp_path):
    (tmp_path / "001_tags.sql").write_text(STATEMENT_BY_STATEMENT, encoding="utf-8")
    first = run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path)))
    failed(first)
    assert first["failure"]["statement"] == 4 and first["failure"]["sqlstate"] == "23505"
    assert "a rerun continues at the failing statement" in first["msg"]
    row = db.ledger()[-1]
    assert (row["status"], row["last_statement"]) == ("failed", 3)
    assert db.rows("SELECT indisvalid FROM pg_index WHERE indexrelid = 'tags_name_key'::regclass") == [["f"]]

    db.sql("DELETE FROM tags WHERE id = (SELECT max(id) FROM tags WHERE name = 'duplicate')")
    second = run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path)))
    ok(second)
    assert second["applied"][0]["resumed_at"] == 4
    assert db.sql("SELECT count(*) FROM tags") == "501"  # statements 2 and 3 were not run twice
    assert db.rows("SELECT indexrelid::regclass::text, indisvalid FROM pg_index WHERE indrelid = 'tags'::regclass "
                   "ORDER BY 1") == [["tags_name_key", "t"], ["tags_name_len", "t"], ["tags_pkey", "t"]]
    assert [(r["status"], r["last_statement"]) for r in db.ledger()] == [("failed", 3), ("applied", 5)]


def test_partly_applied_file_that_changed_is_refused(db, tmp_path):
    path = tmp_path / "001_tags.sql"
    path.write_text(STATEMENT_BY_STATEMENT, encoding="utf-8")
    failed(run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path))))
    path.write_text(STATEMENT_BY_STATEMENT.replace("('duplicate'), ('duplicate')", "('once')"), encoding="utf-8")
    result = run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path)))
    assert "was partly applied (statements 1-3 committed" in failed(result)
    assert db.sql("SELECT count(*) FROM tags") == "502"


def test_two_runs_started_together_apply_once(baselined):
    procs = [start_module("pg_migrate", args_for(baselined)), start_module("pg_migrate", args_for(baselined))]
    results = [module_result(p) for p in procs]
    assert all(r["_rc"] == 0 for r in results), [r.get("msg") for r in results]
    applied = sorted(len(r["applied"]) for r in results)
    assert applied == [0, 3]
    idle = [r for r in results if not r["applied"]][0]
    assert idle["changed"] is False and [m["version"] for m in idle["already_applied"]][-3:] == ["004", "005", "006"]
    statuses = [(r["version"], r["status"]) for r in baselined.ledger()]
    assert statuses.count(("004", "applied")) == 1 and statuses.count(("005", "applied")) == 1
    assert statuses.count(("006", "applied")) == 1


# -- killed runners and crashed servers --------------------------------------------------------

class Originals:
    """Content checksums of the critical tables over the columns they had before 004."""

    def __init__(self, db):
        self.columns = {t: db.columns(t) for t in CRITICAL}
        self.checksums = self.of(db)

    def of(self, db):
        return {t: db.checksum(t, self.columns[t]) for t in CRITICAL}


PHASES_SEEN: list[str] = []


def phase(db) -> str:
    """Where a run had got to, by the ledger: before 004, inside 005 (journaled statements), 005 done and 006 not
    yet, or done (006, the last file)."""
    rows = db.ledger()
    applied = {r["version"] for r in rows if r["status"] == "applied"}
    if "006" in applied:
        return "006 applied"
    if "005" in applied:
        return "005 applied, 006 not started"
    if "004" in applied:
        journaled = [r["last_statement"] or 0 for r in rows if r["version"] == "005"]
        return "005 partly journaled" if any(journaled) else "004 applied, 005 not started"
    return "nothing applied"


def assert_ledger_tells_the_truth(db, baseline_schema, originals):
    """Each migration is either applied (and its ledger row says so) or its traces are exactly what the ledger says."""
    PHASES_SEEN.append(phase(db))
    rows = db.ledger()
    status = {}
    for row in rows:
        status.setdefault(row["version"], []).append(row)
    applied = {v for v, rs in status.items() if any(r["status"] == "applied" for r in rs)}
    tables = set(db.tables())
    if "004" in applied:
        assert set(EXPECT_004["tables"]) <= tables
    else:
        assert db.schema_dump(exclude_ledger=True) == baseline_schema
        assert "005" not in applied
    if "005" in applied:
        for inv in EXPECT_005["invariants"]:
            assert int(db.sql(inv["sql"])) == 0, inv["name"]
    elif "004" in applied and FILES["005"].transactional:
        assert db.sql("SELECT count(*) FROM enhanced_chunks") == "0"
    # 006 (one transaction) is applied after 005 and its functions are in place, or it left no trace
    if "006" in applied:
        assert "005" in applied
        assert pinned_functions(db) == {f["name"]: True for f in EXPECT_006["functions"]}
    elif "004" in applied:
        assert pinned_functions(db) == {f["name"]: False for f in EXPECT_006["functions"]}
    for version, rs in status.items():
        assert sum(r["status"] == "applied" for r in rs) <= 1, version
    assert originals.of(db) == originals.checksums


def pinned_functions(db) -> dict:
    """Whether each function 006 replaces runs with 006's settings (its pinned search_path)."""
    settings = {f["name"]: f["config"] for f in EXPECT_006["functions"]}
    rows = db.rows("SELECT proname, coalesce(array_to_json(proconfig), 'null') FROM pg_proc "
                   "WHERE pronamespace = 'public'::regnamespace AND proname IN ('%s')" % "', '".join(settings))
    return {r[0]: json.loads(r[1]) == settings[r[0]] for r in rows}


def finish_and_check(db, originals):
    result = run_module("pg_migrate", args_for(db, lock_wait_timeout=30))
    ok(result)
    statuses = {r["version"]: r["status"] for r in db.ledger()}
    assert statuses["004"] == "applied" and statuses["005"] == "applied"
    assert statuses["006"] == "applied" and max(statuses) == "006"
    assert pinned_functions(db) == {f["name"]: True for f in EXPECT_006["functions"]}
    for inv in EXPECT_005["invariants"]:
        assert int(db.sql(inv["sql"])) == 0, inv["name"]
    assert originals.of(db) == originals.checksums


@pytest.fixture(scope="module")
def full_run_seconds(cluster, legacy_templates):
    """How long 004, 005 and 006 take on the template's data: kill points are spread over it."""
    db = legacy_templates.clone(CHUNKS)
    try:
        started = time.monotonic()
        ok(run_module("pg_migrate", args_for(db)))
        return time.monotonic() - started
    finally:
        drop_database(cluster, db.name)


KILL_TRIALS = 20


@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_kill_9_of_the_runner_leaves_each_migration_whole_and_a_rerun_finishes(trial, baselined, full_run_seconds):
    baseline_schema = baselined.schema_dump(exclude_ledger=True)
    originals = Originals(baselined)
    # spread the kill points over the whole run, from process start-up to the last commit and past it (a loaded
    # machine runs slower than the measured run: some kills must still land after the end)
    delay = random.Random(trial).uniform(0.05, full_run_seconds * 1.3)
    proc = start_module("pg_migrate", args_for(baselined))
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)
    assert_ledger_tells_the_truth(baselined, baseline_schema, originals)
    finish_and_check(baselined, originals)


@pytest.mark.parametrize("trial", range(3))
def test_immediate_shutdown_mid_migration_then_rerun(trial, cluster, baselined, full_run_seconds):
    baseline_schema = baselined.schema_dump(exclude_ledger=True)
    originals = Originals(baselined)
    delay = random.Random(100 + trial).uniform(0.3, full_run_seconds * 0.9)
    proc = start_module("pg_migrate", args_for(baselined))
    time.sleep(delay)
    cluster.stop("immediate")
    result = module_result(proc, timeout=120)
    cluster.start()
    assert result["_rc"] != 0 or result["applied"], result
    if result["_rc"] != 0 and not result["msg"].startswith("Cannot connect to database"):
        # a shutdown before the module connected is a plain connection failure (nothing started); any later one
        # must say that a rerun finishes the job
        assert "rerun" in result["msg"].lower(), result["msg"]
    assert_ledger_tells_the_truth(baselined, baseline_schema, originals)
    finish_and_check(baselined, originals)


def test_the_kill_points_landed_in_every_phase():
    """The trials above mean something only if the kills hit each phase of the run."""
    if len(PHASES_SEEN) < KILL_TRIALS:
        pytest.skip("runs only after the kill trials")
    assert {"nothing applied", "006 applied"} <= set(PHASES_SEEN), PHASES_SEEN
    assert {"004 applied, 005 not started", "005 partly journaled"} & set(PHASES_SEEN), PHASES_SEEN


# -- lint gate and lock report -------------------------------------------------------------------

def test_check_mode_lists_pending_files_lint_findings_and_locks(baselined):
    schema = baselined.schema_dump()
    result = run_module("pg_migrate", args_for(baselined), check_mode=True)
    ok(result)
    assert [m["version"] for m in result["pending"]] == ["004", "005", "006"]
    assert result["lint"]["counts"]["error"] == 0 and result["lint"]["files"] == [
        "004_hybrid_rag_schema.sql", "005_data_migration.sql", "006_harden_rollback_functions.sql"]
    locks = result["locks"]["004_hybrid_rag_schema.sql"]
    assert locks["strongest"]["ai_memories"] == "ACCESS EXCLUSIVE"
    alter = [s for s in locks["statements"] if s["summary"].startswith("ALTER TABLE ai_memories")][0]
    assert {"relation": "ai_memories", "mode": "ACCESS EXCLUSIVE"}.items() <= alter["locks"][0].items()
    # 006 replaces two functions: no lint finding, no lock on a table (its DO block is procedural code, reported
    # as such; the COMMENTs lock no table)
    assert [f for f in result["lint"]["findings"] if f["file"] == "006_harden_rollback_functions.sql"] == []
    hardening = result["locks"]["006_harden_rollback_functions.sql"]
    assert hardening["strongest"] == {}
    assert [s["summary"].split()[0] for s in hardening["statements"]] == ["DO", "COMMENT", "COMMENT"]
    assert [lock["mode"] for lock in hardening["statements"][0]["locks"]] == ["unknown"]
    assert all(s["locks"] == [] for s in hardening["statements"][1:])
    assert baselined.schema_dump() == schema


def _with_extra_migration(migrations_copy, body):
    (migrations_copy / "007_token_index.sql").write_text(body, encoding="utf-8")
    return migrations_copy


def test_lint_gate_blocks_a_long_lock_on_a_populated_table_and_nothing_runs(baselined, migrations_copy):
    ok(run_module("pg_migrate", args_for(baselined)))
    ledger = baselined.ledger()
    migrations = _with_extra_migration(migrations_copy,
                                       "-- An index on a big table, built the blocking way.\n"
                                       "CREATE INDEX idx_chunks_token_count ON chunks (token_count);\n")
    result = run_module("pg_migrate", args_for(baselined, migrations_dir=str(migrations)))
    failed(result)
    assert "Lint gate" in result["msg"] and "007_token_index.sql line 2" in result["msg"]
    assert "require-concurrent-index-creation" in result["msg"] and "Nothing was run" in result["msg"]
    assert result["lint"]["blocking"][0]["statement"] == 1
    assert baselined.ledger() == ledger
    assert "idx_chunks_token_count" not in baselined.sql("SELECT string_agg(indexname, ',') FROM pg_indexes")


def test_a_finding_accepted_for_one_statement_lets_the_run_go(baselined, migrations_copy):
    ok(run_module("pg_migrate", args_for(baselined)))
    migrations = _with_extra_migration(
        migrations_copy,
        "-- squawk-ignore require-concurrent-index-creation -- chunks is write-once, a short SHARE lock is fine\n"
        "CREATE INDEX idx_chunks_token_count ON chunks (token_count);\n")
    result = run_module("pg_migrate", args_for(baselined, migrations_dir=str(migrations)))
    ok(result)
    assert [m["version"] for m in result["applied"]] == ["007"]
    assert result["lint"]["counts"]["error"] == 0 and result["lint"]["ignores"][0]["rules"] == [
        "require-concurrent-index-creation"]


def test_missing_linter_is_a_clear_error(baselined):
    result = run_module("pg_migrate", args_for(baselined, squawk_path="/nonexistent/squawk"))
    msg = failed(result)
    assert "/nonexistent/squawk" in msg and "squawk-cli" in msg
    assert [r["version"] for r in baselined.ledger()] == ["001", "002", "003"]
