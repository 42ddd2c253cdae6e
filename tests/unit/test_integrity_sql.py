# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the pending files promise about existing rows and what baselined files leave behind, read from their text."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ansible_collections.knowledgehub.migration.plugins.module_utils._integrity_sql import (
    constraint_steps,
    created_objects,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover

from support.paths import MIGRATIONS


@dataclass(frozen=True)
class Sql:
    path: str
    sql: str

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)


def steps(*texts):
    return constraint_steps([Sql("/m/%03d_f.sql" % (n + 1), t) for n, t in enumerate(texts)])


def test_each_kind_of_constraint_is_read():
    found = steps("""
        ALTER TABLE ONLY public.a ADD CONSTRAINT fk_a_b FOREIGN KEY (b_id, c) REFERENCES b (id, c) NOT VALID,
            ADD CHECK (x > 0 AND f(y, z)), ALTER COLUMN "Mixed" SET NOT NULL, ADD UNIQUE NULLS NOT DISTINCT (u),
            ADD CONSTRAINT pk PRIMARY KEY USING INDEX a_pk, ADD COLUMN n int;
        CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux ON a USING btree (lower(e), k) WHERE k > 0;
        ALTER TABLE a VALIDATE CONSTRAINT FK_A_B;""")
    assert [(s["kind"], s["name"], s.get("columns"), s["not_valid"]) for s in found] == [
        ("foreign key", "fk_a_b", ["b_id", "c"], True), ("check", "", None, False),
        ("not null", "", ['"Mixed"'], False), ("unique", "", ["u"], False),
        ("unique index", "ux", ["lower(e)", "k"], False), ("validate", "fk_a_b", None, False)]
    assert found[0]["references"] == "b" and found[0]["ref_columns"] == ["id", "c"]
    assert found[1]["expr"] == "x > 0 AND f(y, z)"
    assert found[3]["nulls_distinct"] is False and found[4]["where"] == "k > 0"
    assert found[5]["added"]["kind"] == "foreign key" and found[5]["line"] == 6


def test_what_the_run_creates_before_a_constraint_is_known():
    found = steps("CREATE TABLE t (id int);\nALTER TABLE old ADD COLUMN c int;",
                  "ALTER TABLE t ADD CHECK (id > 0);\nALTER TABLE old ADD CONSTRAINT ck CHECK (c > 0 AND d > 0);\n"
                  "ALTER TABLE old ALTER COLUMN d SET NOT NULL;")
    assert found[0]["new_table"] == "001_f.sql line 1"
    assert found[1]["new_table"] is None and found[1]["new_columns"] == {"c": "001_f.sql line 2"}
    assert found[2]["new_columns"] == {}


def test_the_real_004_and_005():
    files, _ignored = discover(MIGRATIONS)
    found = constraint_steps([f for f in files if f.order > 3])
    on_memories = [s for s in found if s["table"] == "ai_memories"]
    assert [(s["kind"], s["name"], s["not_valid"]) for s in on_memories] == [
        ("foreign key", "fk_ai_memories_cluster_id", True), ("check", "ck_ai_memories_content_hash_format", True),
        ("check", "ck_ai_memories_importance_score_range", True),
        ("validate", "fk_ai_memories_cluster_id", False), ("validate", "ck_ai_memories_content_hash_format", False),
        ("validate", "ck_ai_memories_importance_score_range", False)]
    assert all(s["new_columns"] or s["added"]["new_columns"] for s in on_memories)


def test_created_objects_minus_what_later_files_drop_or_rename():
    files = [Sql("/m/001_a.sql", "CREATE TABLE a (id int); CREATE INDEX ia ON a (id); CREATE TABLE gone (x int);\n"
                                 "CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
                                 "CREATE TYPE mood AS ENUM ('ok'); CREATE VIEW v AS SELECT 1;"),
             Sql("/m/002_b.sql", "ALTER TABLE a ADD COLUMN IF NOT EXISTS b text, ADD c int; DROP TABLE IF EXISTS gone;"
                                 "ALTER TABLE a DROP COLUMN c; CREATE TABLE old (x int); ALTER TABLE old RENAME TO new;"
                                 "DROP FUNCTION f(int);")]
    found = created_objects(files)
    assert found == {
        "001_a.sql": [{"kind": "table", "name": "a"}, {"kind": "index", "name": "ia"},
                      {"kind": "type", "name": "mood"}, {"kind": "view", "name": "v"}],
        "002_b.sql": [{"kind": "column", "name": "b", "table": "a"}, {"kind": "table", "name": "new"}]}
