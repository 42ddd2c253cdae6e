# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lock analysis: the table locks each statement takes, as PostgreSQL 15 takes them.

The expected modes were read from pg_locks on a PostgreSQL 15 server running
each statement inside a transaction (indexes and catalogs left out).
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import (
    NEW_NOTE,
    UNKNOWN,
    describe_mode,
    file_foreign_keys,
    file_locks,
    foreign_keys,
    relations_created,
    statement_locks,
    strongest_locks,
    summary,
    unknown_statements,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql

from support.paths import MIGRATIONS

AE, SRE, SUE = "ACCESS EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE"
AS, RS, RE = "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE"


def modes(sql, created=(), references=()):
    return {item["relation"]: item["mode"] for item in statement_locks(sql, created, references)}


@pytest.mark.parametrize("sql, expected", [
    # ALTER TABLE: the strongest sub-command wins; FOREIGN KEY also locks the referenced table
    ("ALTER TABLE t ADD COLUMN y bigint", {"t": AE}),
    ("ALTER TABLE t ADD CONSTRAINT fk2 FOREIGN KEY (x) REFERENCES u (id)", {"t": SRE, "u": SRE}),
    ("ALTER TABLE t ADD CONSTRAINT fk3 FOREIGN KEY (x) REFERENCES u (id) NOT VALID", {"t": SRE, "u": SRE}),
    ("ALTER TABLE t ADD COLUMN y bigint REFERENCES u (id)", {"t": AE, "u": SRE}),
    ("ALTER TABLE t ADD CONSTRAINT ck2 CHECK (d > 0) NOT VALID", {"t": AE}),
    ("ALTER TABLE w ADD CONSTRAINT uq UNIQUE (id)", {"w": AE}),
    ("ALTER TABLE t VALIDATE CONSTRAINT fk_nv", {"t": SUE}),
    ("ALTER TABLE t ALTER COLUMN d TYPE bigint USING d::bigint", {"t": AE}),
    ("ALTER TABLE t ALTER COLUMN e SET NOT NULL", {"t": AE}),
    ("ALTER TABLE t ALTER COLUMN m SET DEFAULT 2", {"t": AE}),
    ("ALTER TABLE t ALTER COLUMN s SET STATISTICS 100", {"t": SUE}),
    ("ALTER TABLE t ALTER COLUMN s SET (n_distinct = 10)", {"t": SUE}),
    ("ALTER TABLE t ALTER COLUMN s SET STORAGE EXTERNAL", {"t": AE}),
    ("ALTER TABLE t ALTER CONSTRAINT fk_t_x DEFERRABLE", {"t": AE}),
    ("ALTER TABLE t DROP COLUMN s", {"t": AE}),
    ("ALTER TABLE t DISABLE TRIGGER tr", {"t": SRE}),
    ("ALTER TABLE t ENABLE ROW LEVEL SECURITY", {"t": AE}),
    ("ALTER TABLE t SET (fillfactor = 80, autovacuum_enabled = false)", {"t": SUE}),
    ("ALTER TABLE t SET (user_catalog_table = true)", {"t": AE}),
    ("ALTER TABLE t CLUSTER ON t_g", {"t": SUE}),
    ("ALTER TABLE t RENAME COLUMN d TO dd", {"t": AE}),
    ("ALTER TABLE inh_child INHERIT inh_parent", {"inh_child": AE, "inh_parent": SUE}),
    ("ALTER TABLE inh_child NO INHERIT inh_parent", {"inh_child": AE, "inh_parent": AS}),
    ("ALTER TABLE parent ATTACH PARTITION loose FOR VALUES FROM (10) TO (20)", {"parent": SUE, "loose": AE}),
    ("ALTER TABLE parent DETACH PARTITION part1", {"parent": AE, "part1": AE}),
    # several sub-commands, IF EXISTS ONLY, quoted and schema-qualified names
    ("ALTER TABLE IF EXISTS ONLY x ALTER COLUMN g SET STATISTICS 5, ADD COLUMN q int", {"x": AE}),
    ("ALTER TABLE t ALTER COLUMN g SET STATISTICS 5, VALIDATE CONSTRAINT fk_nv", {"t": SUE}),
    ('ALTER TABLE "Odd Name" ADD COLUMN z int', {'"Odd Name"': AE}),
    ('ALTER TABLE app."Items" ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES "Ref Schema".ref (id)',
     {'app."Items"': SRE, '"Ref Schema".ref': SRE}),
    ("ALTER TABLE public.T DROP CONSTRAINT ck_h", {"t": AE}),
    # CREATE TABLE: nothing existing, except what it references, copies or extends
    ("CREATE TABLE n1 (id int REFERENCES u (id))", {"u": SRE}),
    ("CREATE TABLE n9 (id int, p int REFERENCES n9 (id), CONSTRAINT f FOREIGN KEY (id) REFERENCES app.u (k))",
     {"app.u": SRE}),
    ("CREATE TABLE n2 (LIKE t INCLUDING ALL)", {"t": AS}),
    ("CREATE TABLE n3 () INHERITS (inh_parent)", {"inh_parent": SUE}),
    ("CREATE TABLE n4 PARTITION OF parent FOR VALUES FROM (100) TO (200)", {"parent": AE}),
    ("CREATE TABLE n5 AS SELECT t.id, u.k FROM t JOIN u ON u.id = t.x", {"t": AS, "u": AS}),
    ("CREATE TABLE plain (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)", {}),
    # indexes
    ("CREATE INDEX n8 ON t (h)", {"t": "SHARE"}),
    ("CREATE UNIQUE INDEX IF NOT EXISTS n8 ON ONLY parent (id, k)", {"parent": "SHARE"}),
    ("CREATE INDEX CONCURRENTLY n9 ON t USING btree (lower(s)) INCLUDE (g) WHERE g > 0", {"t": SUE}),
    ("DROP INDEX IF EXISTS t_g", {"t_g": AE}),
    ("ALTER INDEX t_g RENAME TO t_gg", {"t_g": SUE}),
    ("REINDEX TABLE u", {"u": "SHARE"}),
    ("REINDEX INDEX t_g", {"t_g": AE}),
    # views read their tables at creation; OR REPLACE locks the old view
    ("CREATE VIEW n6 AS SELECT t.id FROM t JOIN u ON u.id = t.x", {"t": AS, "u": AS}),
    ("CREATE OR REPLACE VIEW v AS SELECT id FROM t", {"t": AS, "v": AE}),
    ("CREATE VIEW w AS SELECT round(avg(extract(epoch FROM e.done - e.started)) FILTER (WHERE e.ok), 1), "
     "(SELECT count(*) FROM logs l WHERE l.id = e.id) FROM runs e LEFT JOIN LATERAL (SELECT 1 FROM steps s) x "
     "ON true WHERE e.a IS DISTINCT FROM e.b", {"logs": AS, "runs": AS, "steps": AS}),
    ("DROP VIEW v", {"v": AE}),
    # triggers, rules, policies, comments
    ("CREATE TRIGGER tr2 AFTER INSERT OR UPDATE OF a ON t FOR EACH ROW EXECUTE FUNCTION trg()", {"t": SRE}),
    ("DROP TRIGGER IF EXISTS tr ON t", {"t": AE}),
    ("CREATE RULE r2 AS ON INSERT TO w DO ALSO NOTHING", {"w": AE}),
    ("CREATE POLICY p2 ON t USING (true)", {"t": AE}),
    ("COMMENT ON TABLE t IS 'x'", {"t": SUE}),
    ("COMMENT ON COLUMN public.t.s IS 'it''s (a) column'", {"t": SUE}),
    ("COMMENT ON CONSTRAINT ck_h ON t IS 'x'", {"t": AS}),
    ("COMMENT ON FUNCTION trg() IS 'x'", {}),
    ("CREATE STATISTICS st ON g, h FROM t", {"t": SUE}),
    # explicit locks and maintenance
    ("LOCK TABLE t", {"t": AE}),
    ("LOCK t, u IN SHARE MODE", {"t": "SHARE", "u": "SHARE"}),
    ("LOCK TABLE ONLY t IN ROW EXCLUSIVE MODE NOWAIT", {"t": RE}),
    ("ANALYZE t (g, h), u", {"t": SUE, "u": SUE}),
    ("VACUUM (FULL, ANALYZE) t", {"t": AE}),
    ("TRUNCATE w", {"w": AE}),
    ("CLUSTER t USING t_g", {"t": AE}),
    ("REFRESH MATERIALIZED VIEW mv", {"mv": AE}),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", {"mv": "EXCLUSIVE"}),
    ("ALTER SEQUENCE sq RESTART 5", {"sq": SRE}),
    # queries
    ("SELECT * FROM t, u WHERE t.x = u.id", {"t": AS, "u": AS}),
    ("SELECT * FROM t FOR UPDATE", {"t": RS}),
    ("SELECT * FROM t JOIN u x ON x.id = t.x FOR SHARE OF x", {"t": AS, "u": RS}),
    ("INSERT INTO t (id, x) SELECT id, id FROM u", {"t": RE, "u": AS}),
    ("UPDATE t SET g = 1 FROM u WHERE u.id = t.x", {"t": RE, "u": AS}),
    ("DELETE FROM t USING u WHERE u.id = t.x", {"t": RE, "u": AS}),
    ("MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET g = 1", {"t": RE, "u": AS}),
    ("WITH moved AS (DELETE FROM old RETURNING *) INSERT INTO arch SELECT * FROM moved, other o",
     {"old": RE, "arch": RE, "other": AS}),
    ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", {"t": RE}),
    ("SET lock_timeout = '10s'", {}),
    ("GRANT SELECT ON t TO PUBLIC", {}),
])
def test_statement_locks_match_postgresql_15(sql, expected):
    assert modes(sql) == expected


def test_procedural_and_unrecognised_statements_say_unknown():
    for sql in ("DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$", "CALL p()", "FROBNICATE t",
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT count(*)::int FROM t'",
                "DROP FUNCTION trg() CASCADE"):
        locks = statement_locks(sql)
        assert [(item["relation"], item["mode"]) for item in locks] == [("*", UNKNOWN)], sql
        assert locks[0]["note"]
    # a PL/pgSQL body is not analysed at creation: creating it locks nothing
    assert statement_locks("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$") == []


def test_relations_created_in_the_file_are_marked():
    locks = statement_locks("ALTER TABLE ai_memories ADD COLUMN cluster_id bigint, ADD CONSTRAINT fk "
                            "FOREIGN KEY (cluster_id) REFERENCES memory_clusters (id)", {"memory_clusters"})
    by_relation = {item["relation"]: item for item in locks}
    assert by_relation["ai_memories"]["mode"] == AE
    assert by_relation["ai_memories"]["created_in_file"] is False
    assert by_relation["memory_clusters"]["mode"] == SRE
    assert by_relation["memory_clusters"]["created_in_file"] is True
    assert by_relation["memory_clusters"]["note"].startswith(NEW_NOTE)


def test_relations_created_is_certain_only():
    assert relations_created("CREATE TABLE app.\"New\" (id int)") == {'app."New"'}
    assert relations_created("CREATE UNIQUE INDEX i ON t (a)") == {"i"}
    assert relations_created("CREATE MATERIALIZED VIEW mv AS SELECT 1") == {"mv"}
    assert relations_created("CREATE TABLE IF NOT EXISTS t (id int)") == set()   # may exist already
    assert relations_created("CREATE OR REPLACE VIEW v AS SELECT 1") == set()
    assert relations_created("CREATE INDEX ON t (a)") == set()
    assert relations_created("ALTER TABLE t ADD COLUMN a int") == set()


def test_foreign_keys_make_writes_and_drops_lock_the_linked_tables():
    refs = foreign_keys("CREATE TABLE t (id int, x int REFERENCES u (id) ON DELETE CASCADE, y int, "
                        "CONSTRAINT f FOREIGN KEY (y) REFERENCES w (id))")
    assert refs == [{"table": "t", "columns": ["x"], "references": "u", "on_delete_writes": True},
                    {"table": "t", "columns": ["y"], "references": "w", "on_delete_writes": False}]
    assert modes("INSERT INTO t VALUES (1)", references=refs) == {"t": RE, "u": RS, "w": RS}
    assert modes("UPDATE t SET y = 1", references=refs) == {"t": RE, "w": RS}  # only changed keys are checked
    assert modes("UPDATE t SET id = 1", references=refs) == {"t": RE}
    assert modes("DELETE FROM u", references=refs) == {"u": RE, "t": RE}  # ON DELETE CASCADE writes t
    assert modes("DELETE FROM w", references=refs) == {"w": RE, "t": RS}  # NO ACTION only checks t
    assert modes("DROP TABLE IF EXISTS t", references=refs) == {"t": AE, "u": AE, "w": AE}


def test_file_walk_tracks_created_relations_and_foreign_keys():
    script = ("CREATE TABLE clusters (id bigint PRIMARY KEY);\n"
              "ALTER TABLE memories ADD COLUMN cluster_id bigint REFERENCES clusters (id);\n"
              "CREATE INDEX idx ON memories (cluster_id);\n"
              "CREATE INDEX idx2 ON clusters (id);\n"
              "LOCK TABLE documents IN SHARE MODE;\n"
              "UPDATE memories SET cluster_id = 1;\n"
              "DO $$ BEGIN END $$;\n")
    per = file_locks(split_sql(script), references=[{"table": "memories", "columns": ["session_id"],
                                                     "references": "sessions", "on_delete_writes": False}])
    assert [(s["number"], s["line"]) for s in per] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7)]
    assert per[1]["summary"] == "ALTER TABLE memories ADD COLUMN cluster_id bigint REFEREN..."
    assert [item["created_in_file"] for item in per[1]["locks"]] == [False, True]
    assert per[3]["locks"][0]["created_in_file"] is True
    # the foreign key declared in statement 2 is checked by the update, the older one is not
    assert {i["relation"]: i["mode"] for i in per[5]["locks"]} == {"memories": RE, "clusters": RS}
    assert strongest_locks(per) == {"memories": AE, "documents": "SHARE"}
    assert [s["number"] for s in unknown_statements(per)] == [7]


def test_summary_and_mode_descriptions():
    assert summary("CREATE TABLE rag_configurations (\n id bigint)") == "CREATE TABLE rag_configurations"
    assert summary("COMMENT ON TABLE \"Odd\".x IS 'a (b)'") == "COMMENT ON TABLE \"Odd\".x IS '...'"
    assert summary("ALTER TABLE t " + "ADD COLUMN c int, " * 10) == "ALTER TABLE t ADD COLUMN c int, ADD COLUMN c int"
    assert len(summary("ALTER TABLE a_rather_long_table_name_here ADD COLUMN another_long_column_name int")) == 60
    assert "SELECT included" in describe_mode(AE)
    assert "writes" in describe_mode("SHARE")


def test_shipped_migrations_are_understood():
    """Every statement of migrations/*.sql is analysed; only procedural code is unknown."""
    references = []
    for name in sorted(os.listdir(MIGRATIONS)):
        if not name.endswith(".sql"):
            continue
        with open(os.path.join(MIGRATIONS, name), encoding="utf-8") as handle:
            statements = split_sql(handle.read())
        per = file_locks(statements, references=references)
        for stmt in unknown_statements(per):
            assert stmt["summary"].split()[0] in ("DO", "CALL"), (name, stmt)
        forward = name[:3].isdigit() and not name.endswith(".down.sql")  # NNN_name.down.sql: a revert file
        if forward:
            references = file_foreign_keys(statements, references)
        if forward and name.startswith("004"):
            strongest = strongest_locks(per)
            assert strongest["ai_memories"] == AE  # ALTER TABLE ai_memories ADD COLUMN ...
            assert {strongest[t] for t in ("chunks", "documents", "search_queries")} == {SRE}  # new foreign keys


def test_each_statement_is_tokenized_once(monkeypatch):
    """Linear work: the lock analysis of a file reads each statement once (it once read each five times)."""
    import ansible_collections.knowledgehub.migration.plugins.module_utils._locks as locks

    calls = []
    real = locks.tokenize
    monkeypatch.setattr(locks, "tokenize", lambda text: calls.append(text) or real(text))
    statements = split_sql("CREATE TABLE a (id int PRIMARY KEY);\n"
                           "CREATE TABLE b (id int, a_id int REFERENCES a (id));\n"
                           "DROP TABLE a CASCADE;\n" + "INSERT INTO b VALUES (1, 1);\n" * 40)
    per_statement = file_locks(statements)
    assert len(calls) == len(statements) == 43
    assert [item["mode"] for item in per_statement[-1]["locks"]] == ["ROW EXCLUSIVE"]
