# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: a message that names another operation than the one that failed, and a result that claims a check
that was not made.

What backups and restores share (resolving tables, checking an archive's entries, draining a database's
sessions, counting rows) reports failures in the words of the operation that called it: a table restore
that fails never says "Cannot back up", a recovery point never "restore". The first sentence names the
operation. ``row_counts_checked`` is true only when row counts were compared with the manifest.
"""

from __future__ import annotations


import pytest

from support.database import app_connection
from support.hostile import rewrite_manifest
from support.modules import backup, failed, ok, restore


def first_sentence(msg: str, *names: str) -> str:
    """The message's first sentence, without the paths and names in it (a tmp_path may hold any word)."""
    for name in names:
        msg = msg.replace(name, "<>")
    return msg.split(". ")[0].split(": ")[0]


@pytest.fixture
def made(legacy_db, backup_dir):
    return ok(backup(legacy_db, backup_dir))


def test_a_table_restore_of_a_missing_table_says_restore(legacy_db, made):
    msg = failed(restore(legacy_db, manifest=made["manifest"], mode="tables", tables=["nosuch", "chunks"]))
    assert "back up" not in msg and "Cannot restore the tables asked for" in msg
    assert "no such table: nosuch" in msg and "Nothing was changed" in msg


def test_a_backup_of_a_missing_table_still_says_back_up(legacy_db, backup_dir):
    msg = failed(backup(legacy_db, backup_dir, tables=["nosuch"]))
    assert first_sentence(msg, backup_dir).startswith("Cannot back up the tables asked for")


def test_truncate_false_does_not_claim_a_row_count_check(legacy_db, made):
    legacy_db.sql("DELETE FROM ai_memories")
    result = ok(restore(legacy_db, manifest=made["manifest"], mode="tables", tables=["ai_memories"],
                        truncate=False))
    assert result["row_counts_checked"] is False and result["row_counts"]["public.ai_memories"] > 0


def test_verify_rows_false_does_not_claim_it_either(legacy_db, made, createdb):
    result = ok(restore(legacy_db, manifest=made["manifest"], verify_rows=False, drop_previous=True))
    assert result["row_counts_checked"] is False


def test_an_archive_lacking_an_entry_says_which_restore_failed(legacy_db, made):
    rewrite_manifest(made["manifest"], lambda m: m["verification"]["entries"].append(["TABLE", "public", "ghost"]))
    msg = failed(restore(legacy_db, manifest=made["manifest"], check_mode=True))
    sentence = first_sentence(msg, made["path"], made["manifest"], legacy_db.name, made["backup_id"])
    assert sentence.startswith("Cannot restore"), msg
    assert "TABLE public.ghost" in msg


def test_a_table_restore_of_a_table_the_backup_lacks_says_restore(legacy_db, backup_dir):
    part = ok(backup(legacy_db, backup_dir, scope="data-only", tables=["documents"]))
    msg = failed(restore(legacy_db, manifest=part["manifest"], mode="tables", tables=["chunks"]))
    assert first_sentence(msg, part["backup_id"], backup_dir).startswith("Cannot restore"), msg
    assert "public.chunks" in msg


def test_a_swap_that_cannot_drain_says_swap(legacy_db, made, createdb):
    app = app_connection(legacy_db, application="kh-api")
    app.cursor().execute("SELECT 1")
    try:
        msg = failed(restore(legacy_db, manifest=made["manifest"], terminate_connections=False, drain_timeout=1))
    finally:
        app.close()
    assert first_sentence(msg, legacy_db.name).startswith("Cannot swap the restored database in"), msg
    assert "still has 1 session(s) after 1s" in msg and "'kh-api'" in msg


def test_a_recovery_point_that_cannot_drain_says_recovery_point(legacy_db, backup_dir, createdb):
    app = app_connection(legacy_db, application="kh-api")
    app.cursor().execute("SELECT 1")
    try:
        msg = failed(backup(legacy_db, backup_dir, format="clone", drain_timeout=1))
    finally:
        app.close()
    assert first_sentence(msg, legacy_db.name).startswith("Cannot make the recovery point"), msg
    assert "still has 1 session(s) after 1s" in msg


def test_a_restore_without_rights_says_restore(legacy_db, made, cluster):
    cluster.psql("ALTER ROLE knowledgehub NOCREATEDB")
    msg = failed(restore(legacy_db, manifest=made["manifest"]))
    assert first_sentence(msg, legacy_db.name).startswith("Cannot restore"), msg
    assert "lacks the CREATEDB privilege" in msg
