# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: manifests of one kind taken for another, and errors that surface as a bare KeyError.

One backup directory holds every kind (database dumps, clone recovery points, configuration and volume
archives), under labels that may be the same. A restore considers dump and clone manifests only;
each module's retention only its own kind. Every manifest is checked, when it is loaded, for the fields its
kind needs; a malformed one is reported by name (skipped with a warning where manifests are looked through,
refused when it is the one asked for), never a "Module failed: 'scope'".
"""

from __future__ import annotations

import json
import os

import pytest

from support.hostile import warned
from support.modules import backup, failed, ok, restore, run_module


def config_backup(tmp_path, backup_dir, label, **options) -> dict:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "compose.yml").write_text("services: {}\n")
    return ok(run_module("compose_backup", dict(backup_dir=backup_dir, project_dir=str(project),
                                                paths=["compose.yml"], label=label, **options)))


def write_manifest(backup_dir: str, backup_id: str, data: dict) -> str:
    path = os.path.join(backup_dir, backup_id + ".manifest.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


def test_a_configuration_backup_with_the_same_label_is_not_restored(legacy_db, backup_dir, createdb, tmp_path):
    dump = ok(backup(legacy_db, backup_dir))
    config_backup(tmp_path, backup_dir, legacy_db.name)  # newer, same label
    result = ok(restore(legacy_db, backup_dir=backup_dir, drop_previous=True))
    assert result["backup_id"] == dump["backup_id"] and result["kind"] == "dump"


def test_a_configuration_manifest_named_explicitly_is_refused_by_kind(legacy_db, backup_dir, tmp_path):
    config = config_backup(tmp_path, backup_dir, legacy_db.name)
    msg = failed(restore(legacy_db, manifest=config["manifest"]))
    assert "config" in msg and "pg_restore restores dump and clone backups" in msg
    assert os.path.basename(config["manifest"]) in msg


def test_a_volume_manifest_with_the_same_label_is_not_restored(legacy_db, backup_dir, createdb):
    dump = ok(backup(legacy_db, backup_dir))
    write_manifest(backup_dir, legacy_db.name + "-volume_29991231T000000Z", {
        "manifest_version": 1, "backup_id": legacy_db.name + "-volume_29991231T000000Z", "label": legacy_db.name,
        "kind": "volume", "format": "tar.gz", "created_at": "2999-12-31T00:00:00+00:00", "verified": True,
        "archive": {"name": "x.tar.gz", "type": "file", "sha256": "0" * 64, "size_bytes": 1}})
    result = ok(restore(legacy_db, backup_dir=backup_dir, check_mode=True))
    assert result["backup_id"] == dump["backup_id"]


@pytest.mark.parametrize("field", ["scope", "archive", "row_counts", "format", "database"])
def test_a_dump_manifest_without_a_field_it_needs_is_reported_by_name(legacy_db, backup_dir, field):
    made = ok(backup(legacy_db, backup_dir))
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    del manifest[field]
    write_manifest(backup_dir, made["backup_id"], manifest)
    result = restore(legacy_db, manifest=made["manifest"], check_mode=True)
    msg = failed(result)
    assert made["manifest"] in msg and field in msg and "malformed" in msg
    assert "Traceback" not in result["_stderr"] and "KeyError" not in result["_stdout"]


def test_a_malformed_newest_manifest_is_skipped_with_a_warning(legacy_db, backup_dir, createdb):
    good = ok(backup(legacy_db, backup_dir))
    path = write_manifest(backup_dir, legacy_db.name + "_29991231T000000Z", {
        "manifest_version": 1, "backup_id": legacy_db.name + "_29991231T000000Z", "label": legacy_db.name,
        "kind": "dump", "created_at": "2999-12-31T00:00:00+00:00", "verified": True})
    result = ok(restore(legacy_db, backup_dir=backup_dir, check_mode=True))
    assert result["backup_id"] == good["backup_id"]
    assert warned(result, os.path.basename(path), "malformed")


def test_retention_skips_a_malformed_manifest_with_a_warning(legacy_db, backup_dir):
    first = ok(backup(legacy_db, backup_dir))
    with open(first["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    del manifest["archive"]
    write_manifest(backup_dir, first["backup_id"], manifest)
    ok(backup(legacy_db, backup_dir))
    result = ok(backup(legacy_db, backup_dir, keep_last=1))
    assert first["backup_id"] not in result["removed"] and len(result["removed"]) == 1
    assert warned(result, os.path.basename(first["manifest"]), "malformed")
    assert os.path.exists(first["path"])  # a manifest that cannot be trusted never decides what is deleted


def test_an_unknown_kind_is_reported_not_restored(legacy_db, backup_dir):
    made = ok(backup(legacy_db, backup_dir))
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    manifest["kind"] = "snapshot"
    write_manifest(backup_dir, made["backup_id"], manifest)
    msg = failed(restore(legacy_db, manifest=made["manifest"], check_mode=True))
    assert "snapshot" in msg and made["manifest"] in msg


def test_each_modules_retention_keeps_to_its_own_kind(legacy_db, backup_dir, tmp_path):
    dumps = [ok(backup(legacy_db, backup_dir, label="kh")) for _attempt in range(2)]
    configs = [config_backup(tmp_path, backup_dir, "kh") for _attempt in range(2)]
    kept = config_backup(tmp_path, backup_dir, "kh", keep_last=1)
    assert sorted(kept["removed"]) == sorted(c["backup_id"] for c in configs)
    assert all(os.path.exists(d["manifest"]) for d in dumps)
    result = ok(backup(legacy_db, backup_dir, label="kh", keep_last=1))
    assert sorted(result["removed"]) == sorted(d["backup_id"] for d in dumps)
    assert os.path.exists(kept["manifest"])


def test_a_table_restore_with_a_manifest_missing_a_row_count_says_so(legacy_db, backup_dir):
    made = ok(backup(legacy_db, backup_dir))
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    del manifest["row_counts"]["public.chunks"]
    write_manifest(backup_dir, made["backup_id"], manifest)
    result = restore(legacy_db, manifest=made["manifest"], mode="tables", tables=["chunks"], check_mode=True)
    msg = failed(result)
    assert "public.chunks" in msg and "row count" in msg and made["manifest"] in msg
    assert "Traceback" not in result["_stderr"]
