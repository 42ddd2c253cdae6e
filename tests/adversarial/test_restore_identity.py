# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: a restore that trusts the backup to be of the database it replaces.

A restore must prove that the backup belongs to its target, whatever the mode (swap, new_database,
in_place, tables, a clone recovery point swapped back): the database's name, and the identity of its
migration history (the ledger's first row: its run_id and started_at, recorded in the manifest) when both
sides have a ledger. A mismatch is refused before anything is written, naming both databases or
identities and the override, ``allow_other_database: true``, whose use the result records and warns of.
Without a ledger on one side the name decides, and the result says that the identity was not checked,
and why. Manifests written before the identity was recorded still restore, by name.
"""

from __future__ import annotations

import json

import pytest

from support.database import databases_like, drop_database
from support.hostile import warned
from support.modules import backup, failed, migrate, ok, restore

FIRST_RUN = "11111111-1111-4111-8111-111111111111"
OTHER_RUN = "22222222-2222-4222-8222-222222222222"


def with_ledger(db, run_id: str) -> None:
    """Give ``db`` a ledger whose first run is ``run_id`` (001-003 recorded as baseline by pg_migrate)."""
    ok(migrate(db, baseline_version="003", target_version="003", run_id=run_id))


def untouched(cluster, db, rows) -> None:
    assert db.snapshot() == rows
    assert databases_like(cluster, db.name) == []


@pytest.mark.parametrize("mode", ["swap", "new_database", "in_place", "tables"])
def test_a_backup_of_another_database_is_refused_in_every_mode(legacy_db, other_legacy, backup_dir, createdb, cluster,
                                                               mode):
    made = ok(backup(legacy_db, backup_dir))
    other_legacy.sql("DELETE FROM chunks WHERE id % 2 = 0")
    rows = other_legacy.snapshot()
    msg = failed(restore(other_legacy, manifest=made["manifest"], mode=mode))
    assert "backup %s is of database %s, not of %s" % (made["backup_id"], legacy_db.name, other_legacy.name) in msg
    assert "allow_other_database" in msg and "Nothing was written" in msg
    untouched(cluster, other_legacy, rows)


def test_check_mode_refuses_the_other_database_too(legacy_db, other_legacy, backup_dir, createdb, cluster):
    made = ok(backup(legacy_db, backup_dir))
    msg = failed(restore(other_legacy, check_mode=True, manifest=made["manifest"]))
    assert "not of %s" % other_legacy.name in msg


def test_a_clone_recovery_point_of_another_database_is_refused(legacy_db, other_legacy, backup_dir, createdb, cluster):
    point = ok(backup(legacy_db, backup_dir, format="clone"))
    rows = other_legacy.snapshot()
    msg = failed(restore(other_legacy, manifest=point["manifest"]))
    assert "of database %s, not of %s" % (legacy_db.name, other_legacy.name) in msg and "allow_other_database" in msg
    untouched(cluster, other_legacy, rows)
    assert databases_like(cluster, legacy_db.name) == [point["database"]]  # the recovery point is still there


def test_same_name_but_another_migration_history_is_refused(legacy_db, other_legacy, backup_dir, createdb, cluster):
    with_ledger(legacy_db, FIRST_RUN)
    made = ok(backup(legacy_db, backup_dir))
    assert made["manifest_data"]["ledger"]["identity"]["run_id"] == FIRST_RUN
    # Another database with its own ledger takes the name: the same name, another history.
    with_ledger(other_legacy, OTHER_RUN)
    name = legacy_db.name
    drop_database(cluster, name)
    cluster.psql('ALTER DATABASE "%s" RENAME TO "%s"' % (other_legacy.name, name))
    other_legacy.name = name
    rows = other_legacy.snapshot()
    msg = failed(restore(other_legacy, manifest=made["manifest"]))
    assert FIRST_RUN in msg and OTHER_RUN in msg and "allow_other_database" in msg
    assert "another migration history" in msg
    untouched(cluster, other_legacy, rows)


def test_the_override_restores_and_is_recorded_and_warned(legacy_db, other_legacy, backup_dir, createdb, cluster):
    made = ok(backup(legacy_db, backup_dir))
    rows = legacy_db.snapshot()
    other_legacy.sql("DELETE FROM chunks")
    result = ok(restore(other_legacy, manifest=made["manifest"], allow_other_database=True, drop_previous=True))
    assert other_legacy.snapshot() == rows
    identity = result["identity"]
    assert identity["override"] is True and identity["backup_database"] == legacy_db.name
    assert identity["database"] == other_legacy.name and identity["names_match"] is False
    assert warned(result, "allow_other_database", legacy_db.name)


def test_the_same_history_restores_with_the_identity_checked(legacy_db, backup_dir, createdb):
    with_ledger(legacy_db, FIRST_RUN)
    made = ok(backup(legacy_db, backup_dir))
    legacy_db.sql("DELETE FROM chunks")
    result = ok(restore(legacy_db, manifest=made["manifest"], drop_previous=True))
    identity = result["identity"]
    assert identity["names_match"] is True and identity["ledger_checked"] is True
    assert identity["ledger_matches"] is True and identity["override"] is False
    assert identity["backup_ledger"]["run_id"] == FIRST_RUN == identity["database_ledger"]["run_id"]


def test_without_a_live_ledger_the_name_decides_and_says_so(legacy_db, backup_dir, createdb):
    with_ledger(legacy_db, FIRST_RUN)
    made = ok(backup(legacy_db, backup_dir))
    legacy_db.sql("DROP TABLE migration_log")
    result = ok(restore(legacy_db, manifest=made["manifest"], drop_previous=True))
    assert result["identity"]["ledger_checked"] is False
    assert "has no ledger" in result["identity"]["not_checked"] and "public.migration_log" in \
        result["identity"]["not_checked"]


def test_a_backup_from_before_the_ledger_restores_by_name(legacy_db, backup_dir, createdb):
    made = ok(backup(legacy_db, backup_dir))
    with_ledger(legacy_db, FIRST_RUN)
    result = ok(restore(legacy_db, manifest=made["manifest"], drop_previous=True))
    assert result["identity"]["ledger_checked"] is False
    assert "predates the ledger" in result["identity"]["not_checked"]


def test_an_old_manifest_without_the_identity_restores_by_name(legacy_db, backup_dir, createdb):
    with_ledger(legacy_db, FIRST_RUN)
    made = ok(backup(legacy_db, backup_dir))
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    del manifest["ledger"]["identity"]
    with open(made["manifest"], "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    result = ok(restore(legacy_db, manifest=made["manifest"], mode="in_place"))
    assert result["identity"]["names_match"] is True and result["identity"]["ledger_checked"] is False
    assert "manifest does not record" in result["identity"]["not_checked"]


def test_the_ledger_table_options_name_the_ledger_compared(legacy_db, other_legacy, backup_dir, createdb, cluster):
    with_ledger(legacy_db, FIRST_RUN)
    made = ok(backup(legacy_db, backup_dir))
    legacy_db.sql("ALTER TABLE migration_log RENAME TO history; "
                  "UPDATE history SET run_id = '%s' WHERE id = (SELECT min(id) FROM history)" % OTHER_RUN)
    rows = legacy_db.snapshot()
    msg = failed(restore(legacy_db, manifest=made["manifest"], mode="tables", ledger_table="history"))
    assert OTHER_RUN in msg and FIRST_RUN in msg
    assert legacy_db.snapshot() == rows
