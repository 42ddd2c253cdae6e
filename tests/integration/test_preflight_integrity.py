# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight data integrity and baseline checks against a legacy KnowledgeHub database (real PostgreSQL 15).

Rows that would break a new foreign key, CHECK, NOT NULL or unique index are counted and sampled (fail); the
constraints 004 adds NOT VALID on its new columns and 005's VALIDATE of them have nothing to check (pass, why);
a check that cannot finish in time warns; a wrong baseline_version fails naming the file and the objects; nothing
is ever written.
"""

from __future__ import annotations

import psycopg2
import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._baseline_check import baseline_checks
from ansible_collections.knowledgehub.migration.plugins.module_utils._integrity import integrity_checks
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover

from support.database import app_connection, superuser_connection
from support.modules import failed, ok, run_module

pytestmark = pytest.mark.legacy_chunks(200)

# A later migration that puts back the session foreign key and adds rules on existing columns of legacy tables.
LATER = """
ALTER TABLE ai_memories
    ADD CONSTRAINT fk_ai_memories_session_id FOREIGN KEY (session_id)
        REFERENCES memory_sessions (session_id) ON DELETE SET NULL;
ALTER TABLE ai_memories ADD CONSTRAINT ck_ai_memories_access_count_sane CHECK (access_count < 1000);
CREATE UNIQUE INDEX idx_documents_content_sha256_unique ON documents (content_sha256);
ALTER TABLE ai_memories ADD CONSTRAINT ck_ai_memories_later CHECK (access_count < 10) NOT VALID;
"""


def pending(directory, extra=None):
    if extra:
        (directory / "007_later_rules.sql").write_text(extra, encoding="utf-8")
    files, _ignored = discover(str(directory))
    return [f for f in files if f.order > 3], [f for f in files if f.order <= 3]


def by_name(checks):
    return {c["name"]: c for c in checks}


@pytest.fixture
def conn(legacy_db):
    connection = app_connection(legacy_db, "kh-test-preflight")
    connection.autocommit = True
    yield connection
    connection.close()


def break_rules(legacy_db):
    """Rows the later rules refuse: two memories of a session that no longer exists (the key was dropped first),
    three with a huge access count, two documents with the same content hash."""
    legacy_db.sql("""
        ALTER TABLE ai_memories DROP CONSTRAINT fk_ai_memories_session_id;
        UPDATE ai_memories SET session_id = 'ghost-session' WHERE id IN (
            SELECT id FROM ai_memories WHERE session_id IS NOT NULL ORDER BY id LIMIT 2);
        UPDATE ai_memories SET access_count = 5000 WHERE id IN (SELECT id FROM ai_memories ORDER BY id DESC LIMIT 3);
        UPDATE documents SET content_sha256 = (SELECT content_sha256 FROM documents ORDER BY id LIMIT 1)
         WHERE id = (SELECT id FROM documents ORDER BY id OFFSET 1 LIMIT 1);""")


def test_rows_that_would_break_new_constraints_are_counted_and_sampled(legacy_db, conn, migrations_copy):
    break_rules(legacy_db)
    before = (legacy_db.snapshot(), legacy_db.schema_dump())
    files, _baselined = pending(migrations_copy, LATER)
    checks = by_name(integrity_checks(conn, files))

    fk = checks["data_integrity:fk_ai_memories_session_id"]
    assert fk["status"] == "fail" and fk["observed"]["violations"] == 2 and fk["threshold"] == 0
    assert {d["session_id"] for d in fk["details"]} == {"ghost-session"} and all("id" in d for d in fk["details"])
    assert "007_later_rules.sql line 2" in fk["message"] and "one lookup in memory_sessions" in fk["message"]

    check = checks["data_integrity:ck_ai_memories_access_count_sane"]
    assert check["status"] == "fail" and check["observed"]["violations"] == 3 and len(check["details"]) == 3

    unique = checks["data_integrity:idx_documents_content_sha256_unique"]
    assert unique["status"] == "fail" and unique["observed"]["violations"] == 2
    assert unique["details"][0]["rows"] == 2

    not_valid = checks["data_integrity:ck_ai_memories_later"]
    assert not_valid["status"] == "pass" and "NOT VALID" in not_valid["message"]
    # what 004 adds on ai_memories: new columns, NOT VALID; 005 validates them after its backfill
    for name in ("fk_ai_memories_cluster_id", "ck_ai_memories_content_hash_format"):
        added, validated = checks["data_integrity:" + name], checks["data_integrity:%s:validate" % name]
        assert added["status"] == "pass" and "added by this run" in added["message"]
        assert validated["status"] == "pass" and "written by the run" in validated["message"]
        assert "005_data_migration.sql" in validated["observed"]["file"]
    assert (legacy_db.snapshot(), legacy_db.schema_dump()) == before  # nothing written


def test_the_real_files_pass_on_a_sound_legacy_database(legacy_db, conn, migrations_copy):
    files, _baselined = pending(migrations_copy)
    checks = integrity_checks(conn, files)
    assert checks and all(c["status"] == "pass" for c in checks), [c["message"] for c in checks]


def test_validate_of_a_not_valid_constraint_the_database_has_is_checked(legacy_db, conn, migrations_copy):
    legacy_db.sql("UPDATE ai_memories SET access_count = 0; UPDATE ai_memories SET access_count = 50 WHERE id IN (SELECT id FROM ai_memories LIMIT 4);"
                  "ALTER TABLE ai_memories ADD CONSTRAINT ck_small CHECK (access_count < 10) NOT VALID")
    files, _baselined = pending(migrations_copy, "ALTER TABLE ai_memories VALIDATE CONSTRAINT ck_small;\n")
    check = by_name(integrity_checks(conn, files))["data_integrity:ck_small:validate"]
    assert check["status"] == "fail" and check["observed"]["violations"] == 4


def test_a_check_that_cannot_finish_in_time_warns(legacy_db, conn, migrations_copy):
    break_rules(legacy_db)
    files, _baselined = pending(migrations_copy, LATER)
    holder = app_connection(legacy_db, "kh-test-lock-holder")
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE ai_memories IN ACCESS EXCLUSIVE MODE")
        checks = by_name(integrity_checks(conn, files, statement_timeout="300ms"))
    finally:
        holder.rollback()
        holder.close()
    fk = checks["data_integrity:fk_ai_memories_session_id"]
    assert fk["status"] == "warn" and "could not finish within statement_timeout 300ms" in fk["message"]
    assert checks["data_integrity:idx_documents_content_sha256_unique"]["status"] == "fail"


def test_a_wrong_baseline_fails_naming_the_file_and_objects(legacy_db, conn, migrations_copy):
    _files, baselined = pending(migrations_copy)
    assert [c["status"] for c in baseline_checks(conn, baselined, "003")] == ["pass"] * 3
    legacy_db.sql("DROP TABLE search_queries CASCADE")
    before = legacy_db.schema_dump()
    checks = by_name(baseline_checks(conn, baselined, "003"))
    assert checks["baseline:001_knowledge_store.sql"]["status"] == "pass"
    wrong = checks["baseline:003_search_and_feedback.sql"]
    assert wrong["status"] == "fail"
    assert wrong["message"].startswith("baseline_version 003 says 003_search_and_feedback.sql is applied, but "
                                       "table search_queries, index idx_search_queries_created_at")
    assert "check baseline_version" in wrong["message"]
    assert wrong["observed"] == {"file": "003_search_and_feedback.sql", "objects": 9, "missing": 5}
    assert legacy_db.schema_dump() == before


def test_nothing_to_check_is_one_pass(conn):
    assert [c["status"] for c in integrity_checks(conn, [])] == ["pass"]
    assert [c["name"] for c in baseline_checks(conn, [])] == ["baseline"]


def test_a_connection_in_a_transaction_is_left_as_it_was(legacy_db, migrations_copy):
    """A caller's connection without autocommit: the checks run in its transaction, read only, rolled back."""
    connection = app_connection(legacy_db, "kh-test-preflight-tx")
    try:
        files, baselined = pending(migrations_copy, LATER)
        integrity_checks(connection, files)
        baseline_checks(connection, baselined)
        assert connection.status == psycopg2.extensions.STATUS_READY
    finally:
        connection.close()


# -- through pg_preflight -------------------------------------------------------------------------------


def preflight(db, migrations_dir, tmp_path, check_mode=False, **options):
    args = dict(db.params, migrations_dir=str(migrations_dir), baseline_version="003",
                backup_dir=str(tmp_path / "backups"), max_cpu_percent=100000, fail_on="never")
    args.update(options)
    return run_module("pg_preflight", args, check_mode=check_mode)


def test_pg_preflight_reports_broken_rows_and_a_wrong_baseline(legacy_db, migrations_copy, tmp_path):
    break_rules(legacy_db)
    legacy_db.sql("DROP TABLE search_queries CASCADE")
    (migrations_copy / "007_later_rules.sql").write_text(LATER, encoding="utf-8")
    before = (legacy_db.snapshot(), legacy_db.schema_dump(), legacy_db.ledger())
    for check_mode in (False, True):
        result = ok(preflight(legacy_db, migrations_copy, tmp_path, check_mode=check_mode))
        found = by_name(result["checks"])
        assert result["ok"] is False and result["changed"] is False
        assert {"data_integrity:fk_ai_memories_session_id", "data_integrity:ck_ai_memories_access_count_sane",
                "data_integrity:idx_documents_content_sha256_unique",
                "baseline:003_search_and_feedback.sql"} <= set(result["failed_checks"])
        assert found["data_integrity:fk_ai_memories_session_id"]["observed"]["violations"] == 2
        assert found["baseline:001_knowledge_store.sql"]["status"] == "pass"
        assert found["data_integrity:fk_ai_memories_cluster_id:validate"]["status"] == "pass"
    message = failed(preflight(legacy_db, migrations_copy, tmp_path, fail_on="fail"))
    assert "baseline_version 003 says 003_search_and_feedback.sql is applied, but table search_queries" in message
    assert "2 existing row(s) violate it" in message
    assert (legacy_db.snapshot(), legacy_db.schema_dump(), legacy_db.ledger()) == before


def test_pg_preflight_refuses_a_bad_integrity_timeout(legacy_db, migrations_copy, tmp_path):
    result = ok(preflight(legacy_db, migrations_copy, tmp_path, integrity_timeout="soon"))
    bad = [c for c in result["checks"] if c["name"] in ("data_integrity", "baseline")]
    assert [c["status"] for c in bad] == ["fail", "fail"] and "integrity_timeout='soon'" in bad[0]["message"]


def test_pg_preflight_fails_on_an_invalid_index_and_an_orphaned_row_and_writes_nothing(
        legacy_db, migrations_copy, tmp_path):
    # what an interrupted migration leaves: the invalid index of a failed CREATE INDEX CONCURRENTLY, and a row let in
    # while the foreign keys' triggers were off (a restore with session_replication_role = replica)
    conn = app_connection(legacy_db, "kh-test-breaker")
    conn.autocommit = True
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.UniqueViolation):
        cur.execute("CREATE UNIQUE INDEX CONCURRENTLY kh_half_built ON chunks ((1))")
    conn.close()
    admin = superuser_connection(legacy_db.pg, legacy_db.name)
    with admin, admin.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("INSERT INTO chunks (document_id, chunk_index, content, token_count) "
                    "VALUES ('00000000-0000-0000-0000-00000000dead', 0, 'lost', 1) RETURNING id")
        orphan = cur.fetchone()[0]
    admin.close()
    before = (legacy_db.snapshot(), legacy_db.schema_dump(), legacy_db.ledger())
    for check_mode in (False, True):
        result = ok(preflight(legacy_db, migrations_copy, tmp_path, check_mode=check_mode))
        found = by_name(result["checks"])
        assert {"invalid_indexes", "orphaned_rows"} <= set(result["failed_checks"]), result["failed_checks"]
        assert "index kh_half_built on chunks is invalid" in found["invalid_indexes"]["message"]
        assert ("1 row(s) of chunks point to no documents row through fk_chunks_document_id (document_id) (key %d)"
                % orphan) in found["orphaned_rows"]["message"]
        assert [found[n]["status"] for n in ("not_valid_constraints", "disabled_triggers", "sequences_behind")] == [
            "pass", "pass", "pass"]
    message = failed(preflight(legacy_db, migrations_copy, tmp_path, fail_on="fail"))
    assert "kh_half_built" in message and "DROP INDEX CONCURRENTLY" in message and "fk_chunks_document_id" in message
    assert (legacy_db.snapshot(), legacy_db.schema_dump(), legacy_db.ledger()) == before
    # put right, the database is healthy again
    legacy_db.sql("DROP INDEX kh_half_built; DELETE FROM chunks WHERE id = %d" % orphan)
    healthy = by_name(ok(preflight(legacy_db, migrations_copy, tmp_path))["checks"])
    assert [healthy[n]["status"] for n in ("invalid_indexes", "not_valid_constraints", "disabled_triggers",
                                           "sequences_behind", "orphaned_rows")] == ["pass"] * 5
