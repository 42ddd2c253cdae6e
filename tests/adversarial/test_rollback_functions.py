# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: safe rollback functions on edge input (issue 9).

safe_rollback_table(table, backup) and safe_remove_column(table, column) drop things. 004 created
them; 006 replaced them. On a database that pg_migrate took through every migration, they refuse
NULLs, names off their allow-lists (quotes, semicolons, schema prefixes, other spellings, names past
PostgreSQL's 63-character identifier limit) and the tables that predate 004, and leave the database
as it was when they refuse. With a search_path that puts another schema first (holding tables of
the same names, or functions shadowing built-ins) or a temporary table of the same name, they touch
only the objects 004 created, in the schema they live in, and write their log row to 004's log.
Their pg_proc.proconfig pins the search_path.

Each call runs as the application role in a session of its own, as an operator's psql would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

import psycopg2
import pytest

from support.database import CRITICAL, app_connection
from support.expectations import expectations
from support.modules import migrate, ok
from support.paths import MIGRATIONS

EXPECT_004 = expectations("004")
EXPECT_006 = expectations("006")
REFUSED = EXPECT_006["refused"]
FUNCTIONS = [f["name"] for f in EXPECT_006["functions"]]
COLUMNS = EXPECT_006["allowed_columns"]["ai_memories"]
SHADOW = "operator_scratch"  # a schema an operator put first on the search_path
# the first 63 characters are a real table's name: PostgreSQL truncates an identifier that long to them
LONG_NAME = "rag_configurations_" + "x" * 44
assert len(LONG_NAME) == 63


def pending_versions() -> list[str]:
    """The versions after the 003 baseline in migrations/ (004 onwards)."""
    return sorted(n[:3] for n in os.listdir(MIGRATIONS)
                  if re.match(r"^\d{3}_.+\.sql$", n) and not n.endswith(".down.sql") and n[:3] > "003")


@pytest.fixture
def migrated(legacy_db):
    """The legacy database (001-003 by hand, sample data) taken by pg_migrate through every migration."""
    result = ok(migrate(legacy_db, baseline_version="003"))
    assert [m["version"] for m in result["applied"]] == pending_versions()
    assert int(legacy_db.sql("SELECT count(*) FROM rag_configurations")) > 0
    return legacy_db


@contextlib.contextmanager
def operator_session(db):
    """A cursor on an autocommit session of the application role, closed afterwards."""
    conn = app_connection(db, "kh-operator")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def call(cur, function: str, *args):
    """SELECT public.<function>(args): its message."""
    cur.execute("SELECT public.%s(%s)" % (function, ", ".join(["%s"] * len(args))), args)
    return cur.fetchone()[0]


def attempt(cur, function: str, *args):
    """The error a call raised, or its message if it ran."""
    try:
        return call(cur, function, *args)
    except psycopg2.Error as error:
        return error


def refusal(cur, function: str, *args) -> psycopg2.Error:
    """The error of a call that must be refused."""
    outcome = attempt(cur, function, *args)
    assert isinstance(outcome, psycopg2.Error), "not refused, it ran: %s" % outcome
    return outcome


def state(db) -> tuple[str, dict[str, str]]:
    """The schema and the content of every table in public."""
    return db.schema_dump(), db.snapshot()


def log_rows(db, schema: str = "public") -> list[list[str]]:
    return db.rows("SELECT table_name, coalesce(column_name, ''), coalesce(backup_table, ''), row_count, action "
                   "FROM %s.rollback_backup_log ORDER BY id" % schema)


def content(db, qualified: str) -> str:
    """Row count and md5 of every row of a table given as schema.table."""
    return db.sql("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') "
                  "FROM %s t" % qualified)


def as_operator(db, sql: str) -> str:
    """SQL run as the application role (the operator's own objects are theirs, not the superuser's)."""
    return db.pg.psql(sql, db=db.name, PGUSER="knowledgehub")


def tables_in(db, schema: str) -> list[str]:
    return [r[0] for r in db.rows("SELECT tablename FROM pg_tables WHERE schemaname = '%s' ORDER BY 1" % schema)]


def shadow_schema(db, tables) -> dict[str, str]:
    """Schema SHADOW with a table of each given name (rollback_backup_log shaped like 004's), a few rows in each;
    returns their content."""
    as_operator(db, "CREATE SCHEMA %s" % SHADOW)
    for table in tables:
        if table == "rollback_backup_log":
            as_operator(db, "CREATE TABLE {s}.rollback_backup_log (LIKE public.rollback_backup_log INCLUDING ALL); "
                            "INSERT INTO {s}.rollback_backup_log (table_name, backup_table, row_count, action) "
                            "VALUES ('operator_notes', NULL, 7, 'drop_table')".format(s=SHADOW))
        else:
            columns = ", ".join("%s bigint" % c for c in COLUMNS) if table == "ai_memories" else "note text"
            as_operator(db, "CREATE TABLE {s}.{t} (id bigint PRIMARY KEY, {c}); INSERT INTO {s}.{t} (id) "
                            "SELECT g FROM generate_series(1, 5) g".format(s=SHADOW, t=table, c=columns))
    return {t: content(db, "%s.%s" % (SHADOW, t)) for t in tables}


def backups(db, schema: str = "public") -> list[str]:
    return [t for t in tables_in(db, schema) if t.startswith("rollback_backup_") and t != "rollback_backup_log"]


# -- NULL ------------------------------------------------------------------------------------------------


def test_a_null_backup_flag_is_refused_and_the_table_is_intact(migrated):
    before = state(migrated)
    with operator_session(migrated) as cur:
        error = attempt(cur, "safe_rollback_table", "rag_configurations", None)
    assert "rag_configurations" in migrated.tables(), "the table is gone: %s" % error
    assert isinstance(error, psycopg2.Error) and error.pgcode == REFUSED["null_argument"], error
    assert "must not be NULL" in error.pgerror
    assert state(migrated) == before and log_rows(migrated) == [] and backups(migrated) == []


@pytest.mark.parametrize("function, args", [
    ("safe_rollback_table", (None,)),
    ("safe_rollback_table", (None, True)),
    ("safe_rollback_table", (None, False)),
    ("safe_rollback_table", (None, None)),
    ("safe_remove_column", (None, "cluster_id")),
    ("safe_remove_column", ("ai_memories", None)),
    ("safe_remove_column", (None, None)),
], ids=lambda v: repr(v) if isinstance(v, tuple) else v)
def test_a_null_table_or_column_is_refused_and_nothing_changes(migrated, function, args):
    before = state(migrated)
    with operator_session(migrated) as cur:
        error = refusal(cur, function, *args)
    assert error.pgcode == REFUSED["null_argument"], error.pgerror
    assert state(migrated) == before and log_rows(migrated) == [] and backups(migrated) == []


# -- the search_path ---------------------------------------------------------------------------------


def test_a_schema_first_on_the_search_path_with_tables_of_the_same_names_is_not_touched(migrated):
    shadow = shadow_schema(migrated, ["rag_configurations", "rollback_backup_log", "ai_memories"])
    shadow_log = log_rows(migrated, SHADOW)
    rows = int(migrated.sql("SELECT count(*) FROM public.rag_configurations"))
    memories = int(migrated.sql("SELECT count(*) FROM public.ai_memories"))
    with operator_session(migrated) as cur:
        cur.execute("SET search_path = %s, public" % SHADOW)
        dropped = call(cur, "safe_rollback_table", "rag_configurations", True)
        removed = call(cur, "safe_remove_column", "ai_memories", "cluster_id")

    # the other schema's tables, rows and log are as they were, and no backup landed there
    assert tables_in(migrated, SHADOW) == sorted(shadow)
    assert {t: content(migrated, "%s.%s" % (SHADOW, t)) for t in shadow} == shadow
    assert log_rows(migrated, SHADOW) == shadow_log
    assert migrated.sql("SELECT count(*) FROM pg_attribute WHERE attrelid = '%s.ai_memories'::regclass "
                        "AND attname = 'cluster_id' AND NOT attisdropped" % SHADOW) == "1"
    assert backups(migrated, SHADOW) == []
    # 004's table and column are gone, backed up in public and logged in 004's log
    assert "rag_configurations" not in migrated.tables()
    assert "cluster_id" not in migrated.columns("ai_memories")
    table_backup, column_backup = sorted(backups(migrated), key=lambda t: "cluster_id" in t)
    assert table_backup.startswith("rollback_backup_rag_configurations_") and table_backup in dropped
    assert column_backup.startswith("rollback_backup_ai_memories_cluster_id_") and column_backup in removed
    assert int(migrated.sql("SELECT count(*) FROM public.%s" % table_backup)) == rows
    assert int(migrated.sql("SELECT count(*) FROM public.%s" % column_backup)) == memories
    assert log_rows(migrated) == [
        ["rag_configurations", "", table_backup, str(rows), "drop_table"],
        ["ai_memories", "cluster_id", column_backup, str(memories), "drop_column"]]


def test_every_allowed_table_and_column_is_taken_from_public_only(migrated):
    """A schema holding every name the functions accept, first on the search_path: each call touches 004's."""
    allowed = EXPECT_006["allowed_tables"]
    assert set(allowed) == set(EXPECT_004["tables"]) - {"rollback_backup_log"}
    assert EXPECT_006["allowed_columns"] == EXPECT_004["columns_added"]
    shadow = shadow_schema(migrated, allowed + ["rollback_backup_log", "ai_memories"])
    shadow_log = log_rows(migrated, SHADOW)
    with operator_session(migrated) as cur:
        cur.execute("SET search_path = %s, public" % SHADOW)
        for table in allowed:  # three with a backup (the names starting with r), the others without
            call(cur, "safe_rollback_table", table, table.startswith("r"))
        for column in COLUMNS:
            call(cur, "safe_remove_column", "ai_memories", column)
    assert tables_in(migrated, SHADOW) == sorted(shadow)
    assert {t: content(migrated, "%s.%s" % (SHADOW, t)) for t in shadow} == shadow
    assert log_rows(migrated, SHADOW) == shadow_log and backups(migrated, SHADOW) == []
    assert set(allowed).isdisjoint(migrated.tables()) and "rollback_backup_log" in migrated.tables()
    assert set(COLUMNS).isdisjoint(migrated.columns("ai_memories"))
    assert [(r[0], r[1], r[4]) for r in log_rows(migrated)] == \
        [(t, "", "drop_table") for t in allowed] + [("ai_memories", c, "drop_column") for c in COLUMNS]
    assert len(backups(migrated)) == len([t for t in allowed if t.startswith("r")]) + len(COLUMNS)


def test_a_temporary_table_of_the_same_name_is_not_touched(migrated):
    """pg_temp is searched first for relations, whatever the search_path says, unless it is named last."""
    rows = int(migrated.sql("SELECT count(*) FROM public.rag_configurations"))
    with operator_session(migrated) as cur:
        cur.execute("CREATE TEMPORARY TABLE rag_configurations (id int, note text); "
                    "INSERT INTO rag_configurations VALUES (1, 'scratch'), (2, 'work')")
        message = call(cur, "safe_rollback_table", "rag_configurations", True)
        cur.execute("SELECT to_regclass('pg_temp.rag_configurations') IS NOT NULL")
        assert cur.fetchone()[0], "the temporary table was dropped: %s" % message
        cur.execute("SELECT count(*) FROM pg_temp.rag_configurations")
        assert cur.fetchone()[0] == 2
    assert "rag_configurations" not in migrated.tables()
    (backup,) = backups(migrated)
    assert backup in message and int(migrated.sql("SELECT count(*) FROM public.%s" % backup)) == rows
    assert log_rows(migrated) == [["rag_configurations", "", backup, str(rows), "drop_table"]]


def test_a_function_shadowing_a_built_in_earlier_on_the_search_path_is_never_called(migrated):
    as_operator(migrated, "CREATE SCHEMA {s}; CREATE TABLE {s}.calls (fn text); "
                "CREATE FUNCTION {s}.quote_ident(text) RETURNS text LANGUAGE sql AS "
                "$$ INSERT INTO {s}.calls VALUES ('quote_ident'); SELECT pg_catalog.quote_ident($1) $$; "
                "CREATE FUNCTION {s}.to_regclass(text) RETURNS regclass LANGUAGE sql AS "
                "$$ INSERT INTO {s}.calls VALUES ('to_regclass'); SELECT pg_catalog.to_regclass($1) $$; "
                "CREATE FUNCTION {s}.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS "
                "$$ INSERT INTO {s}.calls VALUES ('clock_timestamp'); SELECT pg_catalog.clock_timestamp() $$"
                .format(s=SHADOW))
    with operator_session(migrated) as cur:
        cur.execute("SET search_path = %s, pg_catalog, public" % SHADOW)
        call(cur, "safe_rollback_table", "query_cache", True)
        call(cur, "safe_remove_column", "ai_memories", "enhanced_at")
    assert migrated.sql("SELECT count(*) FROM %s.calls" % SHADOW) == "0"
    assert "query_cache" not in migrated.tables() and "enhanced_at" not in migrated.columns("ai_memories")
    assert [r[0] for r in log_rows(migrated)] == ["query_cache", "ai_memories"]


@pytest.mark.parametrize("way", ["fresh database", "legacy database"])
def test_the_functions_run_with_a_pinned_search_path(request, way):
    database = request.getfixturevalue("db" if way == "fresh database" else "legacy_db")
    ok(migrate(database) if way == "fresh database" else migrate(database, baseline_version="003"))
    rows = database.rows("SELECT proname, pg_get_function_arguments(oid), coalesce(array_to_json(proconfig), "
                         "'null'), prosecdef FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                         "AND proname IN ('%s') ORDER BY proname" % "', '".join(FUNCTIONS))
    found = {r[0]: {"arguments": r[1], "config": json.loads(r[2]), "security_definer": r[3] == "t"} for r in rows}
    assert found == {f["name"]: {k: f[k] for k in ("arguments", "config", "security_definer")}
                     for f in EXPECT_006["functions"]}
    assert ("006", "applied") in [(r["version"], r["status"]) for r in database.ledger()]


# -- hostile names ---------------------------------------------------------------------------------


HOSTILE_TABLES = [
    'rag_configurations"; DROP TABLE documents; --',
    "rag_configurations; DROP TABLE chunks",
    "rag_configurations'; DROP TABLE chunks; --",
    '"rag_configurations"',
    "public.rag_configurations",
    "%s.rag_configurations" % SHADOW,
    "Rag_Configurations",
    "RAG_CONFIGURATIONS",
    " rag_configurations",
    "rag_configurations ",
    "rag_configurations\n",
    "",
    LONG_NAME + "_dropped",  # 70 characters, truncated to LONG_NAME as an identifier
    "rollback_backup_rag_configurations_20260101000000",
    "pg_class",
]


@pytest.mark.parametrize("name", HOSTILE_TABLES, ids=repr)
def test_a_hostile_table_name_is_refused_and_nothing_is_dropped(migrated, name):
    # bait: what a name would hit if it reached SQL (the long one truncated to 63 characters)
    as_operator(migrated, 'CREATE TABLE public."%s" (id int); INSERT INTO public."%s" VALUES (1); '
                'CREATE TABLE public.rollback_backup_rag_configurations_20260101000000 AS TABLE rag_configurations'
                % (LONG_NAME, LONG_NAME))
    before = state(migrated)
    with operator_session(migrated) as cur:
        for backup in (True, False):
            error = refusal(cur, "safe_rollback_table", name, backup)
            assert error.pgcode == REFUSED["not_allowed"], error.pgerror
            assert "is not a table created by migration 004" in error.pgerror
    assert state(migrated) == before and log_rows(migrated) == []


def test_rollback_backup_log_itself_is_refused(migrated):
    before = state(migrated)
    with operator_session(migrated) as cur:
        for backup in (True, False):
            error = refusal(cur, "safe_rollback_table", "rollback_backup_log", backup)
            assert error.pgcode == REFUSED["rollback_backup_log"], error.pgerror
    assert state(migrated) == before


HOSTILE_COLUMNS = [
    ("ai_memories", "cluster_id; DROP TABLE chunks"),
    ("ai_memories", 'cluster_id" CASCADE; DROP TABLE documents; --'),
    ("ai_memories", '"cluster_id"'),
    ("ai_memories", "Cluster_Id"),
    ("ai_memories", "cluster_id "),
    ("AI_MEMORIES", "cluster_id"),
    ('"ai_memories"', "cluster_id"),
    ("public.ai_memories", "cluster_id"),
    ("ai_memories.cluster_id", ""),
    ("ai", "memories.cluster_id"),
    ("ai_memories", "cluster_id" + "_" * 60),
    ("enhanced_chunks", "content_hash"),
    ("", ""),
]


@pytest.mark.parametrize("table, column", HOSTILE_COLUMNS, ids=repr)
def test_a_hostile_column_name_is_refused_and_nothing_is_dropped(migrated, table, column):
    before = state(migrated)
    with operator_session(migrated) as cur:
        error = refusal(cur, "safe_remove_column", table, column)
    assert error.pgcode == REFUSED["not_allowed"], error.pgerror
    assert "is not a column added by migration 004" in error.pgerror
    assert state(migrated) == before and log_rows(migrated) == []


# -- what predates 004 -----------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(CRITICAL) + ["sources", "search_queries", "query_feedback",
                                                    "memory_sessions", "migration_log"])
def test_a_table_that_predates_004_is_refused(migrated, table):
    before = state(migrated)
    ledger = migrated.ledger()
    with operator_session(migrated) as cur:
        for backup in (True, False):
            error = refusal(cur, "safe_rollback_table", table, backup)
            assert error.pgcode == REFUSED["not_allowed"], error.pgerror
    assert table in migrated.tables() and state(migrated) == before and migrated.ledger() == ledger
    assert log_rows(migrated) == [] and backups(migrated) == []


@pytest.mark.parametrize("table, column", [("ai_memories", "id"), ("ai_memories", "content"),
                                           ("ai_memories", "embedding"), ("documents", "title"),
                                           ("chunks", "content"), ("chunks", "cluster_id")])
def test_a_column_that_predates_004_is_refused(migrated, table, column):
    before = state(migrated)
    with operator_session(migrated) as cur:
        error = refusal(cur, "safe_remove_column", table, column)
    assert error.pgcode == REFUSED["not_allowed"], error.pgerror
    assert state(migrated) == before and log_rows(migrated) == []
