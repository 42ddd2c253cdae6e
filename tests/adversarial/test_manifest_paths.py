# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: paths and names read from a manifest are trusted.

Every path taken from a manifest is a plain name inside the backup directory: no separator, no ``..``,
not absolute, not hidden, not a symlink leading out. Anything else is refused and reported (retention
skips the manifest with a warning naming it, a restore refuses with a clear error), never followed.
A clone manifest's database is checked before anything is dropped or renamed: retention never drops a
database that is not a recovery point of the database being backed up (the live database least of all).
"""

from __future__ import annotations

import os
import shutil

import pytest

from support.database import databases_like
from support.hostile import comment_of, rewrite_manifest, warned
from support.modules import backup, failed, ok, restore, run_module


@pytest.fixture
def victim(tmp_path):
    """A directory outside the backup directory, with a file: what a hostile manifest points at."""
    path = tmp_path / "victim"
    path.mkdir()
    (path / "precious").write_text("keep me")
    return path


def set_archive(name):
    return lambda m: m["archive"].update(name=name)


@pytest.mark.parametrize("hostile", ["../victim", "ABSOLUTE", "sub/../../victim", ".hidden", ".."])
def test_retention_never_follows_a_hostile_archive_name(legacy_db, backup_dir, victim, hostile):
    first = ok(backup(legacy_db, backup_dir))
    rewrite_manifest(first["manifest"], set_archive(str(victim) if hostile == "ABSOLUTE" else hostile))
    ok(backup(legacy_db, backup_dir))
    result = ok(backup(legacy_db, backup_dir, keep_last=1))
    assert (victim / "precious").read_text() == "keep me"
    assert first["backup_id"] not in result["removed"]
    assert warned(result, os.path.basename(first["manifest"]), "archive")


def test_retention_never_follows_a_symlink_out(legacy_db, backup_dir, victim):
    first = ok(backup(legacy_db, backup_dir))
    os.remove(first["path"])
    os.symlink(str(victim), first["path"])
    ok(backup(legacy_db, backup_dir))
    result = ok(backup(legacy_db, backup_dir, keep_last=1))
    assert (victim / "precious").read_text() == "keep me"
    assert warned(result, os.path.basename(first["manifest"]))


@pytest.mark.parametrize("where", ["parent", "link"])
def test_a_restore_never_reads_an_archive_outside_the_backup_dir(legacy_db, backup_dir, tmp_path, createdb, cluster,
                                                                 where):
    made = ok(backup(legacy_db, backup_dir))
    outside = tmp_path / "outside.dump"
    shutil.move(made["path"], str(outside))  # the very archive, byte for byte: only its place is wrong
    if where == "parent":
        rewrite_manifest(made["manifest"], set_archive("../outside.dump"))
    else:
        os.symlink(str(outside), made["path"])
    rows = legacy_db.snapshot()
    legacy_db.sql("DELETE FROM chunks")
    mutated = legacy_db.snapshot()
    msg = failed(restore(legacy_db, manifest=made["manifest"]))
    assert os.path.basename(made["manifest"]) in msg and "outside the backup directory" in msg
    assert "Nothing was changed" in msg
    assert legacy_db.snapshot() == mutated != rows
    assert databases_like(cluster, legacy_db.name) == []


def test_a_hostile_backup_id_is_refused(legacy_db, backup_dir, createdb):
    made = ok(backup(legacy_db, backup_dir))
    rewrite_manifest(made["manifest"], lambda m: m.update(backup_id="../../etc/x"))
    msg = failed(restore(legacy_db, manifest=made["manifest"], check_mode=True))
    assert "backup_id" in msg and os.path.basename(made["manifest"]) in msg


def test_retention_never_drops_the_live_database_a_clone_manifest_names(legacy_db, backup_dir, createdb, cluster):
    first = ok(backup(legacy_db, backup_dir, format="clone"))
    # The live database made to look like that recovery point: a comment is not proof enough.
    cluster.psql("COMMENT ON DATABASE \"%s\" IS 'knowledgehub.migration recovery point of %s, now (backup_id %s)'"
                 % (legacy_db.name, legacy_db.name, first["backup_id"]))
    rewrite_manifest(first["manifest"], lambda m: m["clone"].update(database=legacy_db.name))
    result = ok(backup(legacy_db, backup_dir, format="clone", keep_last=1))
    assert legacy_db.sql("SELECT count(*) FROM chunks") == "2000"
    assert first["backup_id"] not in result["removed"]
    assert warned(result, os.path.basename(first["manifest"]), legacy_db.name)
    assert first["database"] in databases_like(cluster, legacy_db.name)


def test_retention_never_drops_another_databases_recovery_point(legacy_db, other_legacy, backup_dir, createdb,
                                                                cluster):
    theirs = ok(backup(other_legacy, backup_dir, format="clone", label="shared"))
    ok(backup(legacy_db, backup_dir, format="clone", label="shared"))
    result = ok(backup(legacy_db, backup_dir, format="clone", label="shared", keep_last=1))
    assert theirs["backup_id"] not in result["removed"]
    assert theirs["database"] in databases_like(cluster, other_legacy.name)
    assert comment_of(cluster, theirs["database"]).startswith("knowledgehub.migration recovery point")


def test_a_clone_manifest_naming_a_database_that_is_not_its_recovery_point_is_refused(legacy_db, backup_dir,
                                                                                      createdb, cluster):
    point = ok(backup(legacy_db, backup_dir, format="clone"))
    rewrite_manifest(point["manifest"], lambda m: m["clone"].update(database="postgres"))
    msg = failed(restore(legacy_db, manifest=point["manifest"]))
    assert "postgres" in msg and "recovery point" in msg
    assert cluster.psql("SELECT count(*) FROM pg_database WHERE datname = 'postgres'") == "1"
    assert databases_like(cluster, legacy_db.name) == [point["database"]]


def test_compose_backup_retention_never_follows_a_hostile_archive_name(tmp_path, backup_dir, victim):
    project = tmp_path / "project"
    project.mkdir()
    (project / "compose.yml").write_text("services: {}\n")
    args = dict(backup_dir=backup_dir, project_dir=str(project), paths=["compose.yml"], label="kh")
    first = ok(run_module("compose_backup", args))
    rewrite_manifest(first["manifest"], set_archive("../victim"))
    ok(run_module("compose_backup", args))
    result = ok(run_module("compose_backup", dict(args, keep_last=1)))
    assert (victim / "precious").read_text() == "keep me"
    assert warned(result, os.path.basename(first["manifest"]))
