# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: statements the splitter once dropped without a word.

A statement that did not start with a word (a parenthesised query, a string, a psql meta-command and the
statement after it on the following lines) was left out of the file's statements: the file was recorded
``applied`` without it. Every statement that holds a token is kept; what cannot run is refused or fails, and the
ledger says so.
"""

from __future__ import annotations

import pytest

from support.modules import failed, ok, run_module

CASES = {
    # a psql meta-command swallowed the next statement (up to its semicolon): now refused before anything runs
    "meta-command": ("CREATE TABLE kept_a (id int);\n\\set x 1\nCREATE TABLE kept_b (id int);\n",
                     "is a psql meta-command (\\set)", None),
    # a parenthesised query was dropped: now it runs (and here fails, which rolls the file back)
    "parenthesised query": ("CREATE TABLE kept_a (id int);\n(SELECT 1 / 0);\n", "division by zero", None),
    # a statement starting with a literal was dropped: now PostgreSQL sees it (a syntax error)
    "string first": ("CREATE TABLE kept_a (id int);\n'not a statement';\n", "syntax error", None),
    # a parenthesised statement that works is applied
    "parenthesised insert source": ("CREATE TABLE kept_a (id int);\n(SELECT 1) UNION (SELECT 2);\n", None,
                                    2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_statement_is_left_out(db, tmp_path, case):
    body, error, statements = CASES[case]
    (tmp_path / "001_hostile.sql").write_text(body, encoding="utf-8")
    result = run_module("pg_migrate", dict(db.params, migrations_dir=str(tmp_path), lint=False))
    if error:
        assert error in failed(result)
        assert db.sql("SELECT to_regclass('kept_a') IS NULL") == "t"  # nothing of the file is applied
    else:
        assert ok(result)["applied"][0]["statements"] == statements
        assert db.sql("SELECT to_regclass('kept_a') IS NOT NULL") == "t"
