# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore against a real PostgreSQL 15: swap, in place, chosen tables; damaged archives refused."""

from __future__ import annotations

import json
import os

import psycopg2
import pytest

from support.database import app_connection, databases_like
from support.modules import backup, failed, ok, restore


def mutate(db) -> None:
    """What a failed migration might leave behind: rows gone, rows changed, rows added."""
    db.sql("DELETE FROM chunks WHERE id % 3 = 0; UPDATE documents SET title = 'broken' WHERE id::text < '8';"
           "UPDATE ai_memories SET content = 'lost' WHERE memory_type = 'fact';"
           "DELETE FROM memory_sessions WHERE session_id IN (SELECT session_id FROM memory_sessions LIMIT 5);"
           "INSERT INTO sources (name, source_type) SELECT 'extra-' || g, 'manual' FROM generate_series(1, 3) g")


def edit_manifest(path: str, change) -> None:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    change(data)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def database_properties(cluster, name: str) -> str:
    """Privileges, comment and settings of a database: what neither a dump nor a clone carries."""
    return cluster.psql("SELECT ARRAY(SELECT a::text FROM unnest(datacl) a ORDER BY 1), "
                        "shobj_description(oid, 'pg_database'), "
                        "(SELECT setconfig::text FROM pg_db_role_setting WHERE setdatabase = d.oid) "
                        "FROM pg_database d WHERE datname = '%s'" % name)


@pytest.fixture
def full_backup(legacy_db, backup_dir):
    result = ok(backup(legacy_db, backup_dir))
    return result


def test_swap_restores_checks_rows_then_replaces_the_live_database(legacy_db, full_backup, createdb, cluster):
    schema, rows = legacy_db.schema_dump(), legacy_db.snapshot()
    cluster.psql("ALTER DATABASE %s SET work_mem = '7MB'; REVOKE CONNECT ON DATABASE %s FROM PUBLIC;"
                 "GRANT CONNECT ON DATABASE %s TO knowledgehub; COMMENT ON DATABASE %s IS 'live one'"
                 % ((legacy_db.name,) * 4))
    properties = database_properties(cluster, legacy_db.name)
    mutate(legacy_db)
    mutated = legacy_db.snapshot()
    app = app_connection(legacy_db)
    app.autocommit = True  # an idle pooled connection: ended at once, nothing in flight is lost
    app.cursor().execute("SELECT 1")
    app_pid = app.get_backend_pid()

    result = ok(restore(legacy_db, manifest=full_backup["manifest"]))
    assert result["mode"] == "swap" and result["row_counts_checked"] is True
    assert result["restored_database"].startswith(legacy_db.name + "_restore_")
    assert result["previous_database"].startswith(legacy_db.name + "_pre_restore_")
    assert [s["pid"] for s in result["terminated_sessions"]] == [app_pid]
    assert 0 <= result["downtime_ms"] < 10000 and "--jobs=2" in result["cmd"]
    assert result["session_settings"] == {"maintenance_work_mem": "512MB", "synchronous_commit": "off"}
    assert legacy_db.schema_dump() == schema and legacy_db.snapshot() == rows
    assert result["analyze_ms"] >= 0
    assert legacy_db.sql("SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'chunks'") == "t"
    assert database_properties(cluster, legacy_db.name) == properties
    previous = type(legacy_db)(cluster, result["previous_database"])
    assert previous.snapshot() == mutated
    with pytest.raises(psycopg2.OperationalError):
        app.cursor().execute("SELECT 1")
    assert databases_like(cluster, legacy_db.name) == [result["previous_database"]]


def test_swap_can_drop_the_previous_database(legacy_db, full_backup, createdb, cluster):
    rows = legacy_db.snapshot()
    mutate(legacy_db)
    result = ok(restore(legacy_db, manifest=full_backup["manifest"], drop_previous=True, jobs=1, analyze=False))
    assert result["previous_database"] is None and "analyze_ms" not in result and "--jobs=2" not in result["cmd"]
    assert legacy_db.snapshot() == rows
    assert databases_like(cluster, legacy_db.name) == []


def test_check_mode_verifies_the_archive_and_changes_nothing(legacy_db, full_backup, createdb, cluster):
    result = ok(restore(legacy_db, check_mode=True, backup_dir=os.path.dirname(full_backup["manifest"])))
    assert result["changed"] is True and result["backup_id"] == full_backup["backup_id"]
    assert result["integrity"]["sha256"] == full_backup["sha256"]
    assert result["integrity"]["entries_checked"] == 14  # 7 tables: TABLE and TABLE DATA each
    plan = result["would_restore"]
    assert plan["then_swap_into"] == legacy_db.name and plan["into"].startswith(legacy_db.name + "_restore_")
    assert plan["rows_expected"]["public.chunks"] == 2000
    assert databases_like(cluster, legacy_db.name) == []


def test_a_truncated_archive_is_refused(legacy_db, full_backup, createdb, cluster):
    mutate(legacy_db)
    mutated = legacy_db.snapshot()
    with open(full_backup["path"], "r+b") as handle:
        handle.truncate(full_backup["size_bytes"] // 2)
    msg = failed(restore(legacy_db, manifest=full_backup["manifest"]))
    assert "does not match its manifest" in msg and "truncated" in msg and "Nothing was changed" in msg
    assert legacy_db.snapshot() == mutated and databases_like(cluster, legacy_db.name) == []
    assert "truncated" in failed(restore(legacy_db, manifest=full_backup["manifest"], check_mode=True))


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_an_archive_with_one_byte_flipped_is_refused(legacy_db, backup_dir, createdb, cluster, fmt):
    result = ok(backup(legacy_db, backup_dir, format=fmt))
    target = result["path"]
    if fmt == "directory":
        data_files = [n for n in os.listdir(target) if n != "toc.dat"]
        target = os.path.join(target, max(data_files, key=lambda n: os.path.getsize(os.path.join(target, n))))
    with open(target, "r+b") as handle:
        handle.seek(os.path.getsize(target) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))
    msg = failed(restore(legacy_db, manifest=result["manifest"], mode="new_database"))
    assert "does not match its manifest" in msg and "sha256" in msg
    if fmt == "directory":
        assert "file %s differs" % os.path.basename(target) in msg
    assert databases_like(cluster, legacy_db.name) == []


def test_rows_that_do_not_match_the_manifest_stop_the_swap(legacy_db, full_backup, createdb, cluster):
    mutate(legacy_db)
    mutated = legacy_db.snapshot()
    edit_manifest(full_backup["manifest"], lambda m: m["row_counts"].update({"public.chunks": 2001}))
    msg = failed(restore(legacy_db, manifest=full_backup["manifest"]))
    assert "does not hold the backup's rows: public.chunks: 2000 rows, the backup has 2001" in msg
    assert "was dropped; %s is untouched" % legacy_db.name in msg
    assert legacy_db.snapshot() == mutated and databases_like(cluster, legacy_db.name) == []


def test_swap_needs_createdb_and_says_so(legacy_db, full_backup, cluster):
    msg = failed(restore(legacy_db, manifest=full_backup["manifest"]))
    assert "lacks the CREATEDB privilege" in msg and "Nothing was changed" in msg
    assert databases_like(cluster, legacy_db.name) == []


def test_in_place_restore(legacy_db, full_backup):
    schema, rows = legacy_db.schema_dump(), legacy_db.snapshot()
    mutate(legacy_db)
    result = ok(restore(legacy_db, manifest=full_backup["manifest"], mode="in_place"))
    assert result["single_transaction"] is True and "--clean" in result["cmd"] and "--if-exists" in result["cmd"]
    assert "--single-transaction" in result["cmd"] and result["session_settings"]["lock_timeout"] == "30s"
    assert legacy_db.schema_dump() == schema and legacy_db.snapshot() == rows


def test_plain_backup_restores_through_psql_in_one_transaction(legacy_db, backup_dir, createdb, cluster):
    rows = legacy_db.snapshot()
    result = ok(backup(legacy_db, backup_dir, format="plain"))
    mutate(legacy_db)
    restored = ok(restore(legacy_db, manifest=result["manifest"]))
    assert os.path.basename(restored["cmd"][0]) == "psql"
    assert "--set=ON_ERROR_STOP=1" in restored["cmd"] and "--single-transaction" in restored["cmd"]
    assert legacy_db.snapshot() == rows
    assert "mode=in_place needs a custom or directory backup" in failed(
        restore(legacy_db, manifest=result["manifest"], mode="in_place"))


def test_chosen_tables_are_restored_in_one_transaction_in_foreign_key_order(legacy_db, full_backup):
    tables = ["ai_memories", "memory_sessions"]  # ai_memories references memory_sessions
    rows = legacy_db.snapshot()
    seq_before = legacy_db.sql("SELECT last_value FROM chunks_id_seq")
    mutate(legacy_db)
    mutated = legacy_db.snapshot()
    result = ok(restore(legacy_db, manifest=full_backup["manifest"], mode="tables", tables=tables))
    assert result["tables"] == ["public.memory_sessions", "public.ai_memories"]
    assert result["row_counts"] == {"public.memory_sessions": 50, "public.ai_memories": 400}
    after = legacy_db.snapshot()
    for table, checksum in after.items():
        assert checksum == (rows[table] if table in tables else mutated[table]), table
    assert legacy_db.sql("SELECT last_value FROM chunks_id_seq") == seq_before


def test_tables_referenced_from_outside_the_set_are_refused_before_anything_runs(legacy_db, backup_dir):
    critical = ["ai_memories", "documents", "chunks"]
    result = ok(backup(legacy_db, backup_dir, scope="data-only", tables=critical, label="critical"))
    mutate(legacy_db)
    mutated = legacy_db.snapshot()
    msg = failed(restore(legacy_db, manifest=result["manifest"], mode="tables"))
    assert "public.search_queries references public.chunks" in msg and "query_feedback" in msg
    assert legacy_db.snapshot() == mutated
    # with the referencing tables' rows in a full backup, the set restores whole
    assert "holds data only" in failed(restore(legacy_db, manifest=result["manifest"]))


def test_row_count_check_inside_the_transaction_rolls_the_tables_back(legacy_db, full_backup):
    mutate(legacy_db)
    mutated = legacy_db.snapshot()
    edit_manifest(full_backup["manifest"], lambda m: m["row_counts"].update({"public.ai_memories": 399}))
    msg = failed(restore(legacy_db, manifest=full_backup["manifest"], mode="tables",
                         tables=["ai_memories", "memory_sessions"]))
    assert "row count of public.ai_memories: 400 rows, the backup has 399" in msg
    assert "the tables are unchanged" in msg
    assert legacy_db.snapshot() == mutated


def test_restore_the_newest_backup_of_a_label(legacy_db, backup_dir, createdb):
    first = ok(backup(legacy_db, backup_dir))
    legacy_db.sql("DELETE FROM query_feedback")
    rows = legacy_db.snapshot()
    second = ok(backup(legacy_db, backup_dir))
    assert second["backup_id"] != first["backup_id"]
    mutate(legacy_db)
    result = ok(restore(legacy_db, backup_dir=backup_dir, kind="dump"))
    assert result["backup_id"] == second["backup_id"]
    assert legacy_db.snapshot() == rows
