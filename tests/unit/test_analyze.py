# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which tables pg_migrate analyzes after a run: those the applied files create or change, read from their text."""

from __future__ import annotations

import os

from ansible_collections.knowledgehub.migration.plugins.module_utils._analyze import touched_tables
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def files_of(tmp_path, text):
    (tmp_path / "001_x.sql").write_text(text)
    return discover(str(tmp_path))[0]


def test_created_written_and_altered_tables_count_and_reads_and_lock_only_statements_do_not(tmp_path):
    names, procedural = touched_tables(files_of(tmp_path, """
CREATE TABLE made (id int, p int REFERENCES parent_of_made (id));
ALTER TABLE keyed ADD CONSTRAINT k FOREIGN KEY (p) REFERENCES parent_of_keyed (id);
ALTER TABLE widened_with_key ADD COLUMN p int REFERENCES parent_of_widened (id);
CREATE TABLE IF NOT EXISTS maybe_made (id int);
INSERT INTO filled SELECT * FROM read_only;
ALTER TABLE widened ADD COLUMN note text;
LOCK TABLE locked IN SHARE MODE;
COMMENT ON TABLE commented IS 'x';
CREATE TRIGGER t AFTER INSERT ON triggered FOR EACH ROW EXECUTE FUNCTION f();
ANALYZE analyzed;
CREATE VIEW v AS SELECT * FROM viewed;
DO $$ BEGIN UPDATE hidden SET a = 1; END $$;
"""))
    # the view is a name created too: the run analyzes only what is a table once the files applied. A new foreign key
    # changes no row and no column of its table or of the table it references: keyed and the parents are left out.
    assert names == ["made", "widened_with_key", "maybe_made", "filled", "widened", "v"]
    assert procedural == 1


def test_the_knowledgehub_migrations():
    files = {f.version: f for f in discover(os.path.join(REPO, "migrations"))[0]}
    names, _procedural = touched_tables([files["004"]])
    assert {"rag_configurations", "enhanced_chunks", "ai_memories", "memory_clusters"} <= set(names)
    assert "sources" not in names  # only read by a view
    # referenced by its new foreign keys only: ANALYZE of 330,000 unchanged chunks would be wasted
    assert "chunks" not in names and "documents" not in names
    names, procedural = touched_tables([files["005"]])
    assert {"memory_clusters", "rag_configurations", "agent_workflows"} <= set(names)
    assert "chunks" not in names and "documents" not in names  # triggers only: no data, no column changed
    assert procedural >= 5  # its batches are DO blocks
