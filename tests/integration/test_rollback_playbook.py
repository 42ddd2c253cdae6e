# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rollback.yml, selective rollback as the runbook's safe_rollback_table and safe_remove_column do it,
against a real PostgreSQL 15 migrated to 006: the named table or column goes (kept first, logged), nothing else
changes; hostile names (quotes, semicolons, mixed case, schema-qualified, a pre-004 table, the ledger itself) are
refused before anything changes; a table restored alone from a verified backup."""

from __future__ import annotations

import json

import pytest

from support.modules import backup, migrate, ok
from support.playbooks import ansible_playbook, staging_inventory

pytestmark = pytest.mark.legacy_chunks(500)

ROLLBACK_PLAYBOOK = "playbooks/rollback.yml"


@pytest.fixture
def migrated(legacy_db):
    ok(migrate(legacy_db, baseline_version="003"))
    return legacy_db


@pytest.fixture
def inventory(tmp_path, migrated):
    return staging_inventory(tmp_path, migrated)


def rollback(inventory, *args, **extra):
    return ansible_playbook(inventory, ROLLBACK_PLAYBOOK, "-l", "staging", "-e", json.dumps(extra), *args)


def everything_but(db, *tables):
    """The schema and the content of every table except ``tables`` and the rollback bookkeeping."""
    return db.schema_dump(), {t: c for t, c in db.snapshot().items()
                              if t not in tables and not t.startswith("rollback_backup")}


def test_a_table_of_004_is_dropped_kept_first_and_logged(inventory, migrated):
    rows = migrated.sql("SELECT count(*) FROM rag_configurations")
    _schema, others = everything_but(migrated, "rag_configurations")
    proc = rollback(inventory, rollback_tables=["rag_configurations"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert migrated.sql("SELECT to_regclass('rag_configurations') IS NULL") == "t"
    kept = migrated.sql("SELECT backup_table FROM rollback_backup_log WHERE table_name = 'rag_configurations'")
    assert kept.startswith("rollback_backup_rag_configurations_")
    assert migrated.sql('SELECT count(*) FROM "%s"' % kept) == rows
    assert everything_but(migrated, "rag_configurations")[1] == others


def test_a_column_of_004_is_dropped_kept_first_and_logged(inventory, migrated):
    proc = rollback(inventory, rollback_columns=["ai_memories.importance_score"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "importance_score" not in migrated.columns("ai_memories")
    assert migrated.sql("SELECT count(*) FROM rollback_backup_log WHERE column_name = 'importance_score'") == "1"


HOSTILE = [
    dict(rollback_tables=["ai_memories"]),                                  # predates 004
    dict(rollback_tables=["migration_log"]),                                # the ledger
    dict(rollback_tables=["rollback_backup_log"]),                          # the log itself
    dict(rollback_tables=['rag_configurations"; DROP TABLE chunks; --']),   # quotes and a semicolon
    dict(rollback_tables=["RAG_Configurations"]),                           # mixed case
    dict(rollback_tables=["public.rag_configurations"]),                    # schema-qualified
    dict(rollback_tables=["rag_configurations", "chunks"]),                 # one good, one refused: nothing at all
    dict(rollback_columns=["chunks.content"]),                              # a pre-004 column
    dict(rollback_columns=["ai_memories.cluster_id; DROP TABLE chunks"]),  # not table.column
    dict(rollback_columns=["ai_memories"]),                                 # not table.column
]


@pytest.mark.parametrize("extra", HOSTILE, ids=[json.dumps(h)[:60] for h in HOSTILE])
def test_hostile_names_are_refused_and_nothing_changes(inventory, migrated, extra):
    before = everything_but(migrated)
    log = migrated.sql("SELECT count(*) FROM rollback_backup_log")
    proc = rollback(inventory, **extra)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert everything_but(migrated) == before
    assert migrated.sql("SELECT count(*) FROM rollback_backup_log") == log


def test_check_mode_checks_the_names_and_changes_nothing(inventory, migrated):
    before = everything_but(migrated)
    proc = rollback(inventory, "--check", rollback_tables=["rag_configurations"])
    assert proc.returncode == 0 and "CHECK MODE" in proc.stdout
    assert everything_but(migrated) == before
    assert rollback(inventory, "--check", rollback_tables=["chunks"]).returncode != 0


def test_a_table_restored_alone_from_the_newest_verified_backup(inventory, migrated, tmp_path):
    ok(backup(migrated, str(tmp_path / "backups")))
    # query_feedback: no other table references it, so it can be put back alone (a table others reference is refused
    # by pg_restore, naming them)
    feedback = migrated.snapshot(["query_feedback"])
    migrated.sql("DELETE FROM query_feedback WHERE id % 2 = 0")
    assert migrated.snapshot(["query_feedback"]) != feedback  # the mistake is real
    _schema, others = everything_but(migrated, "query_feedback")
    proc = rollback(inventory, rollback_restore_tables=["query_feedback"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert migrated.snapshot(["query_feedback"]) == feedback
    assert everything_but(migrated, "query_feedback")[1] == others
