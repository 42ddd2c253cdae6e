# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_validate on a real PostgreSQL 15: a legacy KnowledgeHub database snapshotted, migrated with pg_migrate (004-006)
and validated. A clean run passes every phase with 100% of the rows preserved; a dropped index, a deleted row, a
changed row, a broken invariant, an orphaned row, a NOT VALID constraint and a sequence behind its column are each
caught and named; nothing is written to the database; check mode gives the same checks and writes no file."""

from __future__ import annotations

import json
import math
import os
import stat

import pytest

from support.database import superuser_connection
from support.modules import failed, migrate, ok, run_module
from support.paths import MIGRATIONS

pytestmark = pytest.mark.legacy_chunks(400)

RUN_ID = "0b7c1e52-63a1-4c5e-9a3e-5d8f1f5c2a10"


def validate(db, check_mode=False, **options):
    args = dict(db.params, migrations_dir=MIGRATIONS)
    args.update(options)
    return run_module("pg_validate", args, check_mode=check_mode)


def take(db, backup_dir, check_mode=False, **options):
    return validate(db, check_mode, **dict(dict(phase="schema", snapshot="take", backup_dir=str(backup_dir),
                                                run_id=RUN_ID), **options))


def compare(db, backup_dir, check_mode=False, **options):
    return validate(db, check_mode, **dict(dict(phase="all", snapshot="compare", backup_dir=str(backup_dir),
                                                run_id=RUN_ID), **options))


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def public(result):
    """The result without the process output and the timings."""
    out = {k: v for k, v in result.items() if not k.startswith("_") and k not in ("invocation", "warnings")}
    if "snapshot_comparison" in out:
        out["snapshot_comparison"] = {k: v for k, v in out["snapshot_comparison"].items() if k != "duration_ms"}
    return out


def fingerprint(db):
    """The schema, every table's content, and the catalog rows a write would touch."""
    catalog = db.sql("SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT concat_ws(' ', oid, relname, relkind, "
                     "relnatts) AS x FROM pg_class UNION ALL SELECT concat_ws(' ', conname, convalidated) FROM "
                     "pg_constraint UNION ALL SELECT concat_ws(' ', indexrelid, indisvalid) FROM pg_index) s")
    return db.schema_dump(), db.snapshot(), catalog


@pytest.fixture
def migrated(legacy_db, tmp_path):
    """The legacy database snapshotted (before), then migrated to 006; returns (db, backup_dir)."""
    backup_dir = tmp_path / "backups"
    ok(take(legacy_db, backup_dir))
    ok(migrate(legacy_db, baseline_version="003"))
    return legacy_db, backup_dir


def test_a_clean_migration_passes_every_phase_with_every_row_preserved(legacy_db, tmp_path):
    backup_dir = tmp_path / "backups"
    before = take(legacy_db, backup_dir)
    ok(before)
    snap = before["snapshot"]
    assert snap["action"] == "write" and before["changed"]
    path = backup_dir / ("%s.snapshot.json" % RUN_ID)
    assert snap["path"] == str(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(backup_dir).st_mode) == 0o700
    counts = {t: int(legacy_db.sql("SELECT count(*) FROM %s" % t)) for t in ("ai_memories", "documents", "chunks")}
    assert snap["tables"] == {"public.%s" % t: n for t, n in counts.items()} and snap["rows"] == sum(counts.values())
    content = path.read_text(encoding="utf-8")
    assert legacy_db.pg.app_password not in content
    document = json.loads(content)
    assert [c["name"] for c in document["tables"]["public.ai_memories"]["columns"]] == \
        legacy_db.columns("ai_memories")
    # before the migration: no ledger, so nothing to check against expectations (a warning), generic checks pass
    assert before["counts"]["fail"] == 0 and by_name(before)["ledger"]["status"] == "warn"

    ok(migrate(legacy_db, baseline_version="003"))
    for phase in ("schema", "data"):
        result = ok(validate(legacy_db, phase=phase))
        assert result["ok"] and result["counts"]["fail"] == 0, result["failed_checks"]
        assert result["versions"] == ["001", "002", "003", "004", "005", "006"]
        assert result["new_table_count"] == 19
    schema = by_name(ok(validate(legacy_db, phase="schema")))
    assert schema["indexes (004_hybrid_rag_schema.yml)"]["observed"] == "33 of 33 present"
    assert schema["function settings (006_harden_rollback_functions.yml)"]["status"] == "pass"
    assert schema["expectations 001_knowledge_store"]["status"] == "warn"
    result = ok(compare(legacy_db, backup_dir))
    assert result["data_preserved_percent"] == 100.0 and result["snapshot_differences"] == []
    assert result["snapshot_comparison"]["totals"]["unchanged"] == sum(counts.values())
    # 005 updated every memory (a new row version each) and only read the chunks: those are not hashed again
    tables = result["snapshot_comparison"]["tables"]
    assert [tables["public.%s" % t]["rows_hashed_again"] for t in ("ai_memories", "chunks")] == [counts["ai_memories"], 0]
    checks = by_name(result)
    assert checks["invariant every_memory_is_enhanced (005_data_migration.yml)"]["status"] == "pass"
    assert {c["status"] for c in result["checks"]} <= {"pass", "warn"}
    assert [c["name"] for c in result["checks"] if c["status"] == "warn"] == [
        "expectations 001_knowledge_store", "expectations 002_ai_memories", "expectations 003_search_and_feedback"]
    # 004 added columns to ai_memories after the snapshot: they are not part of the comparison
    assert "content_hash" in legacy_db.columns("ai_memories")


def test_a_dropped_index_is_named(migrated):
    db, _backup_dir = migrated
    db.sql("DROP INDEX idx_kg_entities_entity_type")
    msg = failed(validate(db, phase="schema"))
    assert "index idx_kg_entities_entity_type (004_hybrid_rag_schema.yml) is missing" in msg
    result = validate(db, phase="schema", fail_on="never")
    ok(result)
    assert not result["ok"] and result["failed_checks"] == ["indexes (004_hybrid_rag_schema.yml)"]
    assert by_name(result)["indexes (004_hybrid_rag_schema.yml)"]["observed"] == "32 of 33 present"


def test_a_deleted_row_and_a_changed_row_are_named_and_counted(migrated):
    db, backup_dir = migrated
    memory = db.sql("SELECT id FROM ai_memories ORDER BY id LIMIT 1")
    document = db.sql("SELECT id FROM documents ORDER BY id LIMIT 1")
    touched = db.sql("SELECT id FROM documents ORDER BY id DESC LIMIT 1")
    db.sql("DELETE FROM ai_memories WHERE id = '%s'" % memory)
    db.sql("UPDATE documents SET title = title || ' (edited)' WHERE id = '%s'" % document)
    # the application's own edit: updated_at moves on with it
    db.sql("UPDATE documents SET title = title || ' (app)', updated_at = now() + interval '1 second' "
           "WHERE id = '%s'" % touched)
    total = sum(int(db.sql("SELECT count(*) FROM %s" % t)) for t in ("ai_memories", "documents", "chunks")) + 1
    result = compare(db, backup_dir)
    msg = failed(result)
    assert "snapshot public.ai_memories" in msg and "1 missing (key %s)" % memory in msg
    assert "snapshot public.documents" in msg and "1 changed (key %s)" % document in msg
    assert result["data_preserved_percent"] == math.floor((total - 3) * 10000 / total) / 100 < 100
    assert {(d["table"], d["key"], d["status"]) for d in result["snapshot_differences"]} == {
        ("public.ai_memories", memory, "missing"), ("public.documents", document, "changed"),
        ("public.documents", touched, "changed_by_application")}
    assert result["snapshot_differences_total"] == 3
    assert result["snapshot_comparison"]["tables"]["public.chunks"]["preserved_percent"] == 100.0
    assert by_name(result)["snapshot public.chunks"]["status"] == "pass"


def test_rows_added_after_the_snapshot_are_no_loss(migrated):
    db, backup_dir = migrated
    # a memory the new release writes (its derived columns set, so every invariant still holds)
    db.sql("INSERT INTO ai_memories (user_id, memory_type, content, cluster_id, content_hash, importance_score, "
           "enhanced_at) SELECT c.user_id, c.memory_type, 'added later', c.id, "
           "encode(sha256(convert_to('added later', 'UTF8')), 'hex'), 0.5, now() FROM memory_clusters c "
           "WHERE c.memory_type IS NOT NULL ORDER BY c.id LIMIT 1")
    result = ok(compare(db, backup_dir, phase="data"))
    assert result["data_preserved_percent"] == 100.0
    assert result["snapshot_comparison"]["tables"]["public.ai_memories"]["added"] == 1


def test_a_broken_invariant_is_named(migrated):
    db, _backup_dir = migrated
    db.sql("UPDATE ai_memories SET content_hash = repeat('0', 64) "
           "WHERE id = (SELECT id FROM ai_memories ORDER BY id LIMIT 1)")
    msg = failed(validate(db, phase="data"))
    assert "invariant every_memory_has_correct_content_hash (005_data_migration.yml) is broken: 1 row(s)" in msg
    ok(validate(db, phase="schema"))  # the schema is whole


def test_an_orphaned_row_is_named(migrated):
    db, _backup_dir = migrated
    conn = superuser_connection(db.pg, db.name)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE search_queries DISABLE TRIGGER ALL")
        cur.execute("INSERT INTO search_queries (user_id, query_text, search_type, result_count, latency_ms, "
                    "top_document_id) VALUES ('u', 'q', 'hybrid', 1, 1, gen_random_uuid()) RETURNING id")
        orphan = cur.fetchone()[0]
        disabled = failed(validate(db, phase="schema"))
        cur.execute("ALTER TABLE search_queries ENABLE TRIGGER ALL")
    conn.close()
    assert "trigger" in disabled and "on search_queries is disabled" in disabled
    result = validate(db, phase="schema")
    msg = failed(result)
    assert result["failed_checks"] == ["orphaned_rows"]
    assert "1 row(s) of search_queries point to no documents row" in msg and "(key %s)" % orphan in msg


def test_not_valid_constraints_and_sequences_behind_are_named(migrated):
    db, _backup_dir = migrated
    db.sql("ALTER TABLE documents ADD CONSTRAINT ck_documents_title_short CHECK (length(title) < 100000) NOT VALID")
    schema = ok(validate(db, phase="schema"))
    assert by_name(schema)["not_valid_constraints"]["status"] == "warn"  # the data phase would validate it
    msg = failed(validate(db, phase="data"))
    assert "constraint ck_documents_title_short on documents is NOT VALID" in msg
    db.sql("ALTER TABLE documents VALIDATE CONSTRAINT ck_documents_title_short")
    ok(validate(db, phase="data"))
    db.sql("SELECT setval(pg_get_serial_sequence('chunks', 'id'), 1)")
    msg = failed(validate(db, phase="data"))
    assert "sequence chunks_id_seq would give 2 next, but chunks.id already holds" in msg


def test_nothing_is_written_to_the_database_and_check_mode_is_identical(legacy_db, tmp_path):
    db, backup_dir = legacy_db, tmp_path / "backups"
    ok(migrate(db, baseline_version="003"))
    db.sql("UPDATE ai_memories SET content_hash = repeat('0', 64) "
           "WHERE id = (SELECT id FROM ai_memories ORDER BY id LIMIT 1)")
    before = fingerprint(db)  # before any run of pg_validate on this database
    ok(take(db, backup_dir, fail_on="never"))
    assert fingerprint(db) == before
    db.sql("DELETE FROM ai_memories WHERE id = (SELECT id FROM ai_memories ORDER BY id DESC LIMIT 1)")
    before = fingerprint(db)
    real = compare(db, backup_dir, fail_on="never")
    checked = compare(db, backup_dir, fail_on="never", check_mode=True)
    assert public(real) == public(checked) and not real["ok"] and not real["changed"]
    assert real["snapshot_differences_total"] == 1 and real["data_preserved_percent"] < 100
    assert fingerprint(db) == before
    # a take in check mode plans, writes nothing; a take of an existing run id keeps the file
    path = backup_dir / ("%s.snapshot.json" % RUN_ID)
    content = path.read_bytes()
    plan = ok(take(db, backup_dir, check_mode=True, run_id="plan-only"))
    assert plan["snapshot"]["action"] == "write" and plan["snapshot"]["rows_estimated"] > 0
    assert not (backup_dir / "plan-only.snapshot.json").exists()
    again = ok(take(db, backup_dir))
    assert again["snapshot"]["action"] == "keep" and not again["changed"] and path.read_bytes() == content
    assert fingerprint(db) == before


def test_bad_input_is_a_clear_error(migrated, tmp_path):
    db, backup_dir = migrated
    assert "snapshot=compare belongs to the data phase" in failed(compare(db, backup_dir, phase="schema"))
    assert "cannot name a file" in failed(take(db, backup_dir, run_id="../escape"))
    assert "no such table: no_such_table" in failed(take(db, backup_dir, run_id="x1",
                                                         snapshot_tables=["no_such_table"]))
    missing = compare(db, tmp_path / "elsewhere")
    assert "No snapshot %s" % (tmp_path / "elsewhere" / ("%s.snapshot.json" % RUN_ID)) in failed(missing)
    assert "is not a PostgreSQL duration" in failed(validate(db, statement_timeout="soon"))
    assert "does not exist" in failed(validate(db, expectations_dir=str(tmp_path / "nope")))
    for result in (missing,):
        assert "Traceback" not in result["_stderr"]


def test_the_digest_reads_binary_values_text_only_where_it_must_and_leaves_generated_columns_out(legacy_db, tmp_path):
    """An embedding element, a json value and a tsvector value changed by the smallest step are each caught; a stored
    generated column is not part of the digest; a snapshot of an earlier format is refused with what to do."""
    db, backup_dir = legacy_db, tmp_path / "backups"
    db.sql("CREATE TABLE extra (id int PRIMARY KEY, doc json, tags tsvector, amount numeric, "
           "twice int GENERATED ALWAYS AS (id * 2) STORED)")
    db.sql("INSERT INTO extra (id, doc, tags, amount) SELECT g, json_build_object('n', g), to_tsvector('simple', "
           "'tag' || g), g * 1.5 FROM generate_series(1, 50) g")
    db.sql("ALTER TABLE extra OWNER TO knowledgehub")
    ok(take(db, backup_dir, snapshot_tables=["extra", "chunks"]))
    path = backup_dir / ("%s.snapshot.json" % RUN_ID)
    document = json.loads(path.read_text())
    columns = {c["name"]: c["hash"] for c in document["tables"]["public.extra"]["columns"]}
    assert columns == {"id": "binary", "doc": "text", "tags": "text", "amount": "binary"}
    assert {c["name"]: c["hash"] for c in document["tables"]["public.chunks"]["columns"]}["embedding"] == "binary"
    assert "content_tsv" not in {c["name"] for c in document["tables"]["public.chunks"]["columns"]}
    chunk = db.sql("SELECT id FROM chunks WHERE embedding IS NOT NULL ORDER BY id LIMIT 1")
    element = "SELECT embedding[2]::float8::text FROM chunks WHERE id = %s" % chunk
    old = db.sql(element)
    # the next float4 away from zero: one bit of one of 384 floats
    db.sql("UPDATE chunks SET embedding[2] = CASE WHEN embedding[2] = 0 THEN 1e-30::real ELSE "
           "(embedding[2]::float8 * (1 + 2e-7 * sign(embedding[2])))::real END WHERE id = %s" % chunk)
    assert db.sql(element) != old
    db.sql("UPDATE extra SET doc = '{\"n\": 7 }' WHERE id = 7")  # same jsonb, another json text
    db.sql("UPDATE extra SET tags = to_tsvector('simple', 'other') WHERE id = 8")
    db.sql("UPDATE extra SET amount = 13.50 WHERE id = 9")  # 9 * 1.5 = 13.5: equal as numeric
    result = compare(db, backup_dir, phase="data", versions=["003"])
    differences = {(d["table"], d["key"], d["status"]) for d in result["snapshot_differences"]}
    assert differences == {("public.chunks", chunk, "changed"), ("public.extra", "7", "changed"),
                           ("public.extra", "8", "changed")}, differences
    document["format"] = "knowledgehub.migration snapshot 1"
    path.write_text(json.dumps(document))
    refused = failed(compare(db, backup_dir, phase="data", versions=["003"]))
    assert "taken by another version of this collection" in refused


def test_the_generic_checks_and_the_compare_read_beside_the_checks_with_two_workers_and_after_them_with_one(
        migrated, tmp_path):
    db, backup_dir = migrated
    probe = tmp_path / "probe-expectations"
    probe.mkdir()
    # invariants that count as broken when, a second into the checks, no session of the generic checks (or of the
    # compare) is connected
    (probe / "005_probe.yml").write_text("invariants:\n" + "".join(
        "  - name: the_%s_is_connected\n"
        "    sql: >-\n"
        "      SELECT (SELECT 1 - count(*)::int FROM pg_stat_activity\n"
        "               WHERE application_name LIKE '%%%s%%')\n"
        "        FROM (SELECT pg_sleep(1) OFFSET 0) s\n" % (name, session)
        for name, session in (("generic", "generic checks"), ("compare", "snapshot compare"))), encoding="utf-8")
    probes = ["invariant the_%s_is_connected (005_probe.yml)" % name for name in ("generic", "compare")]
    both = ok(compare(db, backup_dir, phase="data", expectations_dir=str(probe)))
    assert [by_name(both)[name]["status"] for name in probes] == ["pass", "pass"]
    assert both["data_preserved_percent"] == 100.0
    alone = compare(db, backup_dir, phase="data", expectations_dir=str(probe), workers=1, fail_on="never")
    assert [by_name(alone)[name]["status"] for name in probes] == ["fail", "fail"]
    assert alone["data_preserved_percent"] == 100.0
    # the same result either way, but for the probe and the timings
    assert [c["name"] for c in alone["checks"]] == [c["name"] for c in both["checks"]]


def test_a_take_keeps_the_newest_snapshot_files_and_its_own(legacy_db, tmp_path):
    backup_dir = tmp_path / "backups"
    runs = ["run-a", "run-b", "run-c"]
    for age, run in enumerate(runs):
        ok(take(legacy_db, backup_dir, run_id=run, snapshot_keep_last=0))
        os.utime(backup_dir / ("%s.snapshot.json" % run), (1700000000 + age, 1700000000 + age))
    (backup_dir / "notes.json").write_text("{}", encoding="utf-8")  # not a snapshot file: never touched
    # the oldest (run-a) is taken again: it is the run's own, so it stays, with the newest other one (run-c)
    again = ok(take(legacy_db, backup_dir, run_id="run-a", snapshot_keep_last=2, snapshot_overwrite=True))
    assert [os.path.basename(r["path"]) for r in again["snapshot"]["removed"]] == ["run-b.snapshot.json"]
    assert sorted(p.name for p in backup_dir.iterdir()) == ["notes.json", "run-a.snapshot.json", "run-c.snapshot.json"]
    refused = take(legacy_db, backup_dir, run_id="run-d", snapshot_keep_last=-1)
    assert "snapshot_keep_last=-1 must not be negative" in failed(refused)
    assert not (backup_dir / "run-d.snapshot.json").exists()


def hashed_again(result, table):
    entry = result["snapshot_comparison"]["tables"]["public.%s" % table]
    return entry["rows_hashed_again"], entry["every_row_hashed_because"]


def test_only_the_rows_written_since_the_snapshot_are_hashed_again(legacy_db, tmp_path):
    """A row version older than the snapshot's xmin is the one the snapshot read: a compare hashes the rows written
    since (an UPDATE to the same values included, and found unchanged), or every row with snapshot_rehash=all."""
    db, backup_dir = legacy_db, tmp_path / "backups"
    ok(take(db, backup_dir))
    same, edited = db.sql("SELECT min(id) || ' ' || max(id) FROM chunks").split()
    db.sql("UPDATE chunks SET content = content WHERE id = %s" % same)
    db.sql("UPDATE chunks SET content = content || ' (edited)' WHERE id = %s" % edited)
    chunks = int(db.sql("SELECT count(*) FROM chunks"))
    for rehash, hashed in (("written", 2), ("all", chunks)):
        result = compare(db, backup_dir, phase="data", fail_on="never", snapshot_rehash=rehash)
        assert hashed_again(result, "chunks") == (hashed, None if rehash == "written" else "rehash=all")
        assert result["snapshot_differences"] == [{"table": "public.chunks", "key": edited, "status": "changed"}]
        tables = result["snapshot_comparison"]["tables"]
        assert tables["public.chunks"]["unchanged"] == chunks - 1
        if rehash == "written":
            assert hashed_again(result, "documents") == (0, None)


def test_a_table_replaced_since_the_snapshot_is_hashed_again_in_full(legacy_db, tmp_path):
    """A table swapped in by name (filled before the snapshot, so its rows are older than it) is not the table the
    snapshot read: its OID differs, every row is hashed, and the row that differs is named."""
    db, backup_dir = legacy_db, tmp_path / "backups"
    db.sql("CREATE TABLE documents_next (LIKE documents INCLUDING ALL); "
           "INSERT INTO documents_next SELECT * FROM documents; ALTER TABLE documents_next OWNER TO knowledgehub")
    key = db.sql("SELECT id FROM documents ORDER BY id LIMIT 1")
    db.sql("UPDATE documents_next SET title = 'replaced' WHERE id = '%s'" % key)
    ok(take(db, backup_dir))
    db.sql("ALTER TABLE documents RENAME TO documents_before; ALTER TABLE documents_next RENAME TO documents")
    result = compare(db, backup_dir, phase="data", fail_on="never")
    hashed, because = hashed_again(result, "documents")
    assert hashed is not None, by_name(result)["snapshot public.documents"]["message"]
    assert hashed == int(db.sql("SELECT count(*) FROM documents")) and "table was replaced" in because
    assert result["snapshot_differences"] == [{"table": "public.documents", "key": key, "status": "changed"}]


def test_a_database_swapped_for_an_older_copy_is_hashed_again_in_full(legacy_db, tmp_path):
    """A copy made before the snapshot and renamed into place (as a restore does) holds row versions older than the
    snapshot with other values: another database OID, so every row is hashed and the row that differs is named."""
    db, backup_dir = legacy_db, tmp_path / "backups"
    copy = db.name + "_older"
    db.pg.psql('CREATE DATABASE "%s" OWNER knowledgehub TEMPLATE "%s"' % (copy, db.name))
    key = db.sql("SELECT id FROM ai_memories ORDER BY id LIMIT 1")
    db.sql("UPDATE ai_memories SET content = content || ' (after the copy)' WHERE id = '%s'" % key)
    ok(take(db, backup_dir))
    db.pg.psql('ALTER DATABASE "%s" RENAME TO "%s_newer"' % (db.name, db.name))
    db.pg.psql('ALTER DATABASE "%s" RENAME TO "%s"' % (copy, db.name))
    result = compare(db, backup_dir, phase="data", fail_on="never")
    for table in ("ai_memories", "documents", "chunks"):
        hashed, because = hashed_again(result, table)
        assert hashed == int(db.sql("SELECT count(*) FROM %s" % table)) and "another OID" in because
    assert result["snapshot_differences"] == [{"table": "public.ai_memories", "key": key, "status": "changed"}]


def test_a_large_table_is_read_in_two_halves_in_one_exported_snapshot(legacy_db, monkeypatch):
    """With a second reader, a table of SPLIT_PAGES pages or more is read half on each connection. The second one
    works in the first one's exported snapshot: a row deleted after the export is still read, and the digests are
    those of one reader. Without the exported snapshot the second reader misses it (so it did read its half)."""
    from ansible_collections.knowledgehub.migration.plugins.module_utils import _snapshot
    from support.database import app_connection

    monkeypatch.setattr(_snapshot, "SPLIT_PAGES", 2)
    db = legacy_db
    assert int(db.sql("SELECT pg_relation_size('chunks') / 8192")) >= 4
    last = db.sql("SELECT id FROM chunks ORDER BY ctid DESC LIMIT 1")
    tables = [("public", "chunks")]
    readers = [app_connection(db, "kh-test-reader-%d" % number) for number in range(3)]
    try:
        first, second, plain = readers
        taken_at = _snapshot.begin(first, "0", "5s")
        with first.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            exported = cur.fetchone()[0]
        db.sql("DELETE FROM chunks WHERE id = %s" % last)
        _snapshot.begin(second, "0", "5s", exported)
        _snapshot.begin(plain, "0", "5s")
        one = _snapshot.take(first, tables, [], taken_at)["public.chunks"]["hashes"]
        two = _snapshot.take(first, tables, [], taken_at, second)["public.chunks"]["hashes"]
        assert last in one and two == one
        apart = _snapshot.take(first, tables, [], taken_at, plain)["public.chunks"]["hashes"]
        assert last not in apart and len(apart) == len(one) - 1
    finally:
        for conn in readers:
            conn.close()
