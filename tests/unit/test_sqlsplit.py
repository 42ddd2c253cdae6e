# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The statement splitter: semicolons only end statements where PostgreSQL's lexer says so."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import (
    SqlSplitError,
    split_sql,
)


def texts(script):
    return [s.text for s in split_sql(script)]


def test_plain_statements_with_their_lines():
    stmts = split_sql("CREATE TABLE a (id int);\n\n-- note\nINSERT INTO a VALUES (1);\nSELECT 1")
    assert [(s.number, s.line, s.text) for s in stmts] == [
        (1, 1, "CREATE TABLE a (id int)"), (2, 4, "INSERT INTO a VALUES (1)"), (3, 5, "SELECT 1")]


def test_semicolons_inside_strings_identifiers_and_comments_do_not_split():
    script = (
        "INSERT INTO t VALUES ('a;b', 'it''s; fine');\n"
        'CREATE TABLE "odd;name" ("col;x" int);\n'
        "SELECT 1 /* a; comment /* nested; */ still; */ + 1;\n"
        "SELECT 2 -- trailing; comment\n;\n"
        "SELECT E'back\\'slash; quote';\n"
    )
    assert texts(script) == [
        "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
        'CREATE TABLE "odd;name" ("col;x" int)',
        "SELECT 1 /* a; comment /* nested; */ still; */ + 1",
        "SELECT 2 -- trailing; comment",
        "SELECT E'back\\'slash; quote'",
    ]


def test_backslash_is_literal_in_standard_strings():
    assert texts("SELECT 'C:\\';\nSELECT 2;") == ["SELECT 'C:\\'", "SELECT 2"]


def test_dollar_quoted_bodies_keep_their_semicolons():
    script = (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  PERFORM 1; RETURN 2;\nEND\n$$;\n"
        "DO $body$ BEGIN RAISE NOTICE 'x;$$;y'; END $body$;\n"
        "SELECT $1, a$b FROM t;\n"
    )
    stmts = split_sql(script)
    assert len(stmts) == 3
    assert stmts[0].text.endswith("$$") and stmts[1].line == 6 and stmts[2].line == 7


def test_sql_standard_function_body_is_one_statement():
    script = (
        "CREATE OR REPLACE FUNCTION g(x int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;\n  SELECT x;\nEND;\n"
        "SELECT g(1);\n"
    )
    stmts = split_sql(script)
    assert [s.line for s in stmts] == [1, 6]
    assert stmts[0].text.endswith("END")


def test_lines_count_newlines_inside_literals_and_comments():
    script = "SELECT 'a\nb';\n/* x\ny */\nSELECT $$\n\n$$;\nSELECT 3;"
    assert [s.line for s in split_sql(script)] == [1, 5, 8]


@pytest.mark.parametrize("script, line", [
    ("SELECT 1;\nSELECT 'open", 2),
    ('SELECT "open', 1),
    ("SELECT 1;\n/* open", 2),
    ("SELECT 1;\n\nDO $x$ BEGIN", 3),
])
def test_unterminated_tokens_are_reported_with_their_line(script, line):
    with pytest.raises(SqlSplitError) as err:
        split_sql(script)
    assert err.value.line == line


@pytest.mark.parametrize("sql, control, no_tx", [
    ("BEGIN", True, False),
    ("begin transaction isolation level serializable", True, False),
    ("START TRANSACTION", True, False),
    ("COMMIT", True, False),
    ("END", True, False),
    ("ROLLBACK", True, False),
    ("SAVEPOINT a", True, False),
    ("/* lead */ commit", True, False),
    ("CREATE INDEX CONCURRENTLY i ON t (a)", False, True),
    ("create unique index concurrently i on t (a)", False, True),
    ("DROP INDEX CONCURRENTLY i", False, True),
    ("REINDEX INDEX CONCURRENTLY i", False, True),
    ("REINDEX INDEX i", False, False),
    ("VACUUM ANALYZE t", False, True),
    ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", False, True),
    ("ALTER TABLE p DETACH PARTITION c", False, False),
    ("CREATE INDEX i ON t (a)", False, False),
    ("CREATE TABLE begin_log (id int)", False, False),
])
def test_statement_classification(sql, control, no_tx):
    stmt = split_sql(sql)[0]
    assert stmt.is_transaction_control is control
    assert stmt.needs_no_transaction is no_tx


def test_comment_only_script_has_no_statements():
    assert split_sql("-- nothing here\n/* nor here */\n;\n") == []


def test_a_migration_file_is_split_once_whatever_reads_it(tmp_path, monkeypatch):
    """The gate, the lint, the lock analysis and the run all read the file's statements: one split."""
    import ansible_collections.knowledgehub.migration.plugins.module_utils._migrations as migrations

    calls = []
    real = migrations.split_sql
    monkeypatch.setattr(migrations, "split_sql", lambda text: calls.append(1) or real(text))
    (tmp_path / "001_one.sql").write_text("CREATE TABLE one (id int);\nINSERT INTO one VALUES (1);\n")
    migration = migrations.discover(str(tmp_path))[0][0]
    first, second = migration.statements(), migration.statements()
    assert len(calls) == 1 and first == second and len(first) == 2
    first.pop()
    assert len(migration.statements()) == 2  # callers get their own list


def test_statements_that_do_not_start_with_a_word_are_kept():
    statements = split_sql("CREATE TABLE a (id int);\n\\set x 1\nCREATE TABLE b (id int);\n(SELECT 1);\n"
                           "'x';\n-- only a comment\n;;\n")
    assert [s.text.split()[0] for s in statements] == ["CREATE", "\\set", "(SELECT", "'x'"]
    assert [s.line for s in statements] == [1, 2, 4, 5]
