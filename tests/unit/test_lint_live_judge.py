# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live lint judgement's pure parts: a statement's table, where the run creates it, the verdict per rule."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import LintError
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_live import (
    RunCreations,
    check_threshold,
    judge,
    statement_tables,
)


@dataclass(frozen=True)
class Sql:
    path: str
    sql: str

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)


class Facts:
    """What the database would say about each table (the integration tests read the real one)."""

    def __init__(self, **tables):
        self.tables = tables

    def get(self, name):
        if name not in self.tables:
            return {"exists": False, "error": ""}
        rows = self.tables[name]
        facts = {"exists": True, "countable": True, "table": name, "estimate": float(rows)}
        if rows < 1000:
            facts.update(counted=min(rows, 1001), limit=1001, error="")
        return facts


@pytest.mark.parametrize("sql, tables, created", [
    ("CREATE INDEX idx ON public.items (a)", ["items"], False),
    ("CREATE UNIQUE INDEX IF NOT EXISTS idx ON ONLY app.items (a)", ["app.items"], False),
    ("ALTER TABLE items ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES big (id)", ["items"], False),
    ('ALTER TABLE IF EXISTS ONLY "Odd Name" ADD COLUMN b int', ['"Odd Name"'], False),
    ("ALTER TABLE items ALTER COLUMN a SET NOT NULL, ADD COLUMN b int REFERENCES big", ["items"], False),
    ("DROP TABLE a, b CASCADE", ["a", "b"], False),
    ("TRUNCATE a, b", ["a", "b"], False),
    ("REINDEX TABLE items", ["items"], False),
    ("CREATE TABLE fresh (id int REFERENCES big)", ["fresh"], True),
    ("CREATE TABLE IF NOT EXISTS fresh (id int)", ["fresh"], True),
    ("CREATE MATERIALIZED VIEW mv AS SELECT * FROM big", ["mv"], True),
    ("DO $$ BEGIN EXECUTE 'CREATE INDEX ON x (a)'; END $$", [], False),
    ("ALTER TABLE ALL IN TABLESPACE ts SET TABLESPACE other", [], False),
    ("CREATE EXTENSION vector", [], False),
    ("", [], False),
])
def test_statement_tables(sql, tables, created):
    assert statement_tables(sql) == (tables, created)


def files(*texts):
    return [Sql("/m/%03d_f.sql" % (n + 1), text) for n, text in enumerate(texts)]


def test_run_creations_know_file_line_and_order():
    run = RunCreations.of(files("SELECT 1;\n\nCREATE TABLE a (id int);\nCREATE TABLE IF NOT EXISTS b (id int);",
                                "CREATE INDEX i ON a (id);\nCREATE TABLE c (id int);\nCREATE TABLE a (x int);"))
    assert run.origins["a"] == {"at": (0, 2), "file": "001_f.sql", "line": 3, "certain": True}
    assert run.origins["b"]["certain"] is False
    assert "i" not in run.origins  # an index is not a table a finding is about
    assert run.before("a", 0, 1) is None and run.before("a", 0, 2) and run.before("a", 1, 1)
    assert run.before("c", 1, 1) is None and run.before("c", 1, 2)["line"] == 2


def verdict(rule, tables, facts, statement=1, position=1, run=None, created_here=False):
    finding = {"rule": rule, "statement": statement, "file": "002_f.sql"}
    return judge(finding, tables, created_here, run or RunCreations(), position, facts, 1000)


def test_the_verdict_per_rule_and_table():
    facts = Facts(small=12, empty=0, big=2_300_000, border=1000)
    assert verdict("require-concurrent-index-creation", ["small"], facts) == (
        True, "table small holds 12 rows (threshold 1000)")
    assert verdict("require-concurrent-index-creation", ["big"], facts) == (
        False, "table big holds ~2.3M rows (estimate, pg_class.reltuples; threshold 1000)")
    assert verdict("adding-foreign-key-constraint", ["border"], facts)[0] is False
    assert verdict("ban-drop-column", ["small"], facts)[0] is False
    assert verdict("ban-drop-column", ["empty"], facts) == (
        True, "table empty holds no rows: nothing is lost or refused")
    assert verdict("renaming-column", ["empty"], facts)[0] is False
    assert verdict("ban-concurrent-index-creation-in-transaction", ["empty"], facts)[1].startswith(
        "ban-concurrent-index-creation-in-transaction is not about a table's size or age")
    assert "cannot be told" in verdict("require-concurrent-index-creation", [], facts)[1]
    assert "does not exist in the database" in verdict("require-concurrent-index-creation", ["nowhere"], facts)[1]
    assert verdict("ban-drop-table", ["small", "big"], facts)[0] is False  # every table must qualify


def test_a_table_created_earlier_in_the_run_relaxes_every_table_rule():
    run = RunCreations.of(files("CREATE TABLE big (id int);", "SELECT 1;"))
    facts = Facts()
    for rule in ("renaming-column", "ban-drop-table", "require-concurrent-index-creation"):
        ok, reason = verdict(rule, ["big"], facts, run=run)
        assert ok and reason.startswith("table big is created by 001_f.sql line 1 in this run")
    # created later than the finding's statement: not yet
    later = RunCreations.of(files("SELECT 1;", "SELECT 1;\nCREATE TABLE big (id int);"))
    assert verdict("require-concurrent-index-creation", ["big"], facts, run=later)[0] is False
    # IF NOT EXISTS on a table that exists: the run does not create it, its rows count
    maybe = RunCreations.of(files("CREATE TABLE IF NOT EXISTS big (id int);"))
    assert verdict("require-concurrent-index-creation", ["big"], Facts(big=5000), run=maybe)[0] is False
    assert verdict("require-concurrent-index-creation", ["big"], Facts(), run=maybe)[0] is True


@pytest.mark.parametrize("value, expected", [(None, 1000), (0, 0), (25, 25), ("25", 25)])
def test_threshold(value, expected):
    assert check_threshold(value) == expected


@pytest.mark.parametrize("value", [-1, "many", 2.5, "1e3"])
def test_threshold_refused(value):
    with pytest.raises(LintError, match="lint_small_table_rows"):
        check_threshold(value)
