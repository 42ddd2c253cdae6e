# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_migrate's monitor and ANALYZE against a real PostgreSQL 15, during 005's batches on a legacy database.

005 runs for several seconds here: the database gets ``migration_005.batch_size = 100`` and
``migration_005.batch_pause = 300`` (the knobs 005 documents), so its chunks walk takes 20 batches.
Load is made for real: an application session waits for a lock another one holds (a lock wait that
grows until released), or the CPU threshold is 0, the honest way to cross it in a test (any CPU use
is above 0; a CPU-burning helper would make the test slow and flaky on a shared machine).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from support.database import app_connection, superuser_connection
from support.expectations import expectations
from support.modules import failed, module_result, ok, run_module, start_module
from support.paths import MIGRATIONS

EXPECT_005 = expectations("005")
pytestmark = pytest.mark.legacy_chunks(2000)
QUIET = dict(monitor_max_cpu=100, monitor_max_memory=100)  # only the figure a test crosses may fire


def args_for(db, **options):
    return dict(db.params, migrations_dir=MIGRATIONS, baseline_version="003", blocking_sessions="ignore",
                **options)


@pytest.fixture
def at_004(legacy_db):
    """The legacy database with 004 applied and 005's batches slowed down (100 rows, 300 ms apart)."""
    ok(run_module("pg_migrate", args_for(legacy_db, target_version="004", monitor_interval=0)))
    legacy_db.sql('ALTER DATABASE "%s" SET migration_005.batch_size = 100' % legacy_db.name)
    legacy_db.sql('ALTER DATABASE "%s" SET migration_005.batch_pause = 300' % legacy_db.name)
    return legacy_db


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def enhanced_chunks(db) -> int:
    return int(db.sql("SELECT count(*) FROM enhanced_chunks"))


def throttle_held(db) -> bool:
    """The monitor's session holds an advisory lock exclusively: the throttle is on."""
    return db.sql("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = "
                  "'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND a.datname = current_database() "
                  "AND a.application_name LIKE '%%pg_migrate monitor'") == "1"


def warned(result, *words) -> bool:
    """One of the module's warnings holds every word (Ansible reports them as text or as event records)."""
    return any(all(word in str(warning) for word in words) for warning in result.get("warnings") or [])


def invariants_hold(db):
    violations = {inv["name"]: int(db.sql(inv["sql"])) for inv in EXPECT_005["invariants"]}
    assert violations and all(v == 0 for v in violations.values()), violations


def statuses(db, version):
    return [r["status"] for r in db.ledger() if r["version"] == version]


class LockWait:
    """An application session holds a table lock and another waits for it: a lock wait that grows until
    ``release``. The table is the test's own, so 005 never touches it."""

    def __init__(self, db):
        setup = app_connection(db, "kh-test-setup")
        setup.autocommit = True
        with setup.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS kh_held (id int)")
        setup.close()
        self.holder = app_connection(db, "kh-test-holder")
        with self.holder.cursor() as cur:
            cur.execute("LOCK TABLE kh_held IN ACCESS EXCLUSIVE MODE")
        self.waiter = app_connection(db, "kh-test-waiter")
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self):
        with self.waiter.cursor() as cur:
            cur.execute("SELECT count(*) FROM kh_held")
        self.waiter.commit()

    def release(self):
        self.holder.rollback()
        self.thread.join(timeout=10)
        self.holder.close()
        self.waiter.close()


def test_pause_holds_the_batches_while_a_lock_wait_lasts_and_resumes_when_it_ends(at_004, tmp_path):
    details = tmp_path / "details.json"
    proc = start_module("pg_migrate", args_for(at_004, monitor_policy="pause", monitor_interval=0.5,
                                               monitor_max_lock_wait=1, details_file=str(details), **QUIET))
    wait_for(lambda: enhanced_chunks(at_004) > 0, what="005's chunks walk")
    wait = LockWait(at_004)
    try:
        wait_for(lambda: throttle_held(at_004), timeout=15, what="the throttle")
        time.sleep(0.6)  # the batch running when the throttle was taken ends
        before = enhanced_chunks(at_004)
        time.sleep(2)
        # paused: not one batch in 2 s, where 005 otherwise does one every 300 ms
        assert enhanced_chunks(at_004) == before and proc.poll() is None
        assert before < 2000
    finally:
        wait.release()
    result = ok(module_result(proc, timeout=300))
    monitor = result["monitor"]
    assert monitor["policy"] == "pause" and monitor["pauses"] >= 1 and monitor["paused_seconds"] >= 2
    assert monitor["aborted"] is False and monitor["error"] is None
    assert any("lock wait" in w and "monitor_max_lock_wait=1" in w and "kh-test-waiter" in w
               for w in monitor["warnings"]), monitor["warnings"]
    peaks = monitor["peaks"]
    assert peaks["lock_wait_s"] >= 1 and peaks["blocked_sessions"] >= 1
    assert isinstance(peaks["cpu_percent"], float) and isinstance(peaks["memory_percent"], float)
    assert 0 < peaks["memory_percent"] <= 100 and isinstance(peaks["io_write_bps"], int)
    actions = [s["action"] for s in monitor["timeline"]]
    assert "pause" in actions and "resume" in actions
    assert actions.index("pause") < actions.index("resume")
    notices = [n for m in result["applied"] for n in m["notices"]]
    assert any("paused" in n and "throttle" in n for n in notices), notices
    assert statuses(at_004, "005") == ["applied"]
    invariants_hold(at_004)
    whole = json.loads(details.read_text())["monitor"]
    assert whole["samples"] == monitor["samples"] == len(whole["timeline"])


def test_abort_cancels_the_migration_with_a_clear_message_and_a_rerun_finishes(at_004):
    proc = start_module("pg_migrate", args_for(at_004, monitor_policy="abort", monitor_interval=0.5,
                                               monitor_max_lock_wait=1, **QUIET))
    wait_for(lambda: enhanced_chunks(at_004) > 0, what="005's chunks walk")
    wait = LockWait(at_004)
    try:
        result = module_result(proc, timeout=120)
    finally:
        wait.release()
    message = failed(result)
    assert message.startswith("Migration 005_data_migration.sql failed at statement"), message
    assert "the run's monitor aborted it (monitor_policy=abort): lock wait" in message
    assert "above monitor_max_lock_wait=1" in message and "This is not a crash" in message
    assert "Rerun when the load is down" in message and "canceling statement" not in message
    assert result["monitor"]["aborted"] is True and result["failure"]["file"] == "005_data_migration.sql"
    rows = [r for r in at_004.ledger() if r["version"] == "005"]
    assert [r["status"] for r in rows] == ["failed"]
    assert rows[0]["error"].startswith("monitor: the run's monitor aborted it")
    assert 0 < enhanced_chunks(at_004) < 2000  # committed batches stay: 005 resumes from them
    rerun = ok(run_module("pg_migrate", args_for(at_004, monitor_policy="abort", monitor_max_lock_wait=1, **QUIET)))
    done = [m for m in rerun["applied"] if m["version"] == "005"][0]
    assert done["resumed_at"] and done["resumed_at"] > 1
    assert rerun["monitor"]["aborted"] is False
    assert statuses(at_004, "005") == ["failed", "applied"]
    invariants_hold(at_004)


def test_warn_records_each_crossing_and_the_peak_and_never_pauses(at_004):
    result = ok(run_module("pg_migrate", args_for(at_004, monitor_interval=0.5, monitor_max_cpu=0,
                                                  monitor_max_memory=100)))
    monitor = result["monitor"]
    assert monitor["policy"] == "warn" and monitor["pauses"] == 0 and monitor["paused_seconds"] == 0
    assert monitor["samples"] >= 4 and monitor["peaks"]["cpu_percent"] > 0
    cpu = [w for w in monitor["warnings"] if w.startswith("CPU ")]
    assert cpu and "above monitor_max_cpu=0" in cpu[0]
    # one warning per crossing, not one per sample
    assert len(cpu) < monitor["samples"]
    assert warned(result, "monitor: CPU")
    invariants_hold(at_004)


def test_a_pause_longer_than_max_pause_lets_the_migration_go_on(at_004):
    result = ok(run_module("pg_migrate", args_for(at_004, monitor_policy="pause", monitor_interval=0.5,
                                                  monitor_max_cpu=0, monitor_max_pause=1.5, monitor_max_memory=100)))
    monitor = result["monitor"]
    assert monitor["pauses"] >= 1 and monitor["paused_seconds"] >= 1.5
    assert any("monitor_max_pause 1.5s" in w for w in monitor["warnings"]), monitor["warnings"]
    assert statuses(at_004, "005") == ["applied"]
    invariants_hold(at_004)


def test_a_dead_monitor_releases_the_throttle_and_the_migration_finishes(at_004, cluster):
    proc = start_module("pg_migrate", args_for(at_004, monitor_policy="pause", monitor_interval=0.5,
                                               monitor_max_cpu=0, monitor_max_pause=600, monitor_max_memory=100))
    wait_for(lambda: throttle_held(at_004), timeout=30, what="the throttle")
    wait_for(lambda: at_004.sql("SELECT count(*) FROM ai_memories WHERE enhanced_at IS NOT NULL") != "0",
             what="005's first batch")
    time.sleep(1)
    conn = superuser_connection(cluster, at_004.name)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE '%pg_migrate monitor'")
    conn.close()
    result = ok(module_result(proc, timeout=120))
    monitor = result["monitor"]
    assert monitor["error"] and "stopped sampling" in monitor["error"]
    assert monitor["paused_seconds"] >= 1
    assert warned(result, "the migration went on without it")
    invariants_hold(at_004)


def analyze_count(db, table) -> int:
    return int(db.sql("SELECT coalesce(sum(analyze_count), 0) FROM pg_stat_user_tables WHERE relname = '%s'"
                      % table))


def test_analyze_runs_on_the_tables_the_files_created_or_changed(legacy_db):
    result = ok(run_module("pg_migrate", args_for(legacy_db, target_version="004", monitor_interval=0)))
    analyzed = {t["table"] for t in result["analyze"]["tables"]}
    # 004 creates rag_configurations (empty: autovacuum would not analyze it) and adds columns to ai_memories
    assert {"public.rag_configurations", "public.ai_memories", "public.enhanced_chunks"} <= analyzed
    assert "public.migration_log" not in analyzed and not result["analyze"]["failed"]
    assert result["analyze"]["duration_ms"] >= 0 and result["analyze"]["tables_total"] == len(analyzed)
    assert analyze_count(legacy_db, "rag_configurations") == 1
    by_table = {t["table"]: t for t in result["analyze"]["tables"]}
    assert by_table["public.enhanced_chunks"]["vector_columns_left_out"] == ["embedding"]
    assert legacy_db.sql("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                         "WHERE relname = 'rag_configurations'") == "t"


def test_analyze_false_leaves_the_statistics_alone(legacy_db):
    result = ok(run_module("pg_migrate", args_for(legacy_db, target_version="004", monitor_interval=0,
                                                  analyze=False)))
    assert result["analyze"] == {}
    assert analyze_count(legacy_db, "rag_configurations") == 0


def test_analyze_leaves_the_embedding_vectors_element_statistics_to_autovacuum(db, tmp_path):
    """Float arrays (embeddings) are left out of ANALYZE's column list; every other column gets its statistics, text
    arrays included (their element statistics serve @> and &&); a table of nothing but vectors is analyzed whole."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_vectors.sql").write_text(
        "CREATE TABLE kh_vec (id int PRIMARY KEY, tags text[], embedding real[], weights float8[]);\n"
        "INSERT INTO kh_vec SELECT g, ARRAY['t' || g % 7], ARRAY[g, g + 1]::real[], ARRAY[g]::float8[] "
        "FROM generate_series(1, 500) g;\n"
        "CREATE TABLE kh_only_vec (embedding real[]);\n"
        "INSERT INTO kh_only_vec SELECT ARRAY[g]::real[] FROM generate_series(1, 50) g;\n")
    result = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations), monitor_interval=0)))
    by_table = {t["table"]: t for t in result["analyze"]["tables"]}
    assert by_table["public.kh_vec"]["vector_columns_left_out"] == ["embedding", "weights"]
    assert "vector_columns_left_out" not in by_table["public.kh_only_vec"]
    stats = db.sql("SELECT string_agg(tablename || '.' || attname, ',' ORDER BY tablename, attname) FROM pg_stats "
                   "WHERE tablename IN ('kh_vec', 'kh_only_vec')")
    assert stats == "kh_only_vec.embedding,kh_vec.id,kh_vec.tags", stats


def test_a_failed_analyze_is_a_warning_and_the_files_stay_applied(db, tmp_path):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_create.sql").write_text("CREATE TABLE kh_held (id int);\n")
    first = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations))))
    assert [t["table"] for t in first["analyze"]["tables"]] == ["public.kh_held"]
    (migrations / "002_write.sql").write_text("INSERT INTO kh_held VALUES (1);\nCREATE TABLE kh_new (id int);\n")
    holder = app_connection(db, "kh-test-maintenance")
    try:
        with holder.cursor() as cur:  # what a manual VACUUM or ANALYZE holds: ANALYZE must not queue behind it
            cur.execute("LOCK TABLE kh_held IN SHARE UPDATE EXCLUSIVE MODE")
        result = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations), lock_timeout="300ms",
                                                  blocking_sessions="ignore")))
    finally:
        holder.rollback()
        holder.close()
    assert [m["version"] for m in result["applied"]] == ["002"] and statuses(db, "002") == ["applied"]
    assert [f["table"] for f in result["analyze"]["failed"]] == ["kh_held"]
    assert "lock timeout" in result["analyze"]["failed"][0]["error"]
    assert [t["table"] for t in result["analyze"]["tables"]] == ["public.kh_new"]
    assert warned(result, "ANALYZE of kh_held failed", "the ledger says so")


def test_a_run_shorter_than_the_interval_still_gets_its_figures(legacy_db):
    """004 runs in well under 30 s: the closing sample gives the run's load anyway (the report's peaks)."""
    result = ok(run_module("pg_migrate", args_for(legacy_db, target_version="004", monitor_interval=30, **QUIET)))
    monitor = result["monitor"]
    assert monitor["samples"] == 1 and monitor["timeline"][0]["action"] == "closing", monitor
    assert isinstance(monitor["peaks"]["cpu_percent"], (int, float)), monitor["peaks"]
    assert isinstance(monitor["peaks"]["memory_percent"], (int, float)), monitor["peaks"]
    assert monitor["warnings"] == [] and monitor["pauses"] == 0
