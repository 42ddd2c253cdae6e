# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup directory without a database: size estimates and free space, private files, backup ids, and the
backup directory itself (never a link, never wider than 0700 without saying so)."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup_store, _manifests
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_label

NOW = datetime.datetime(2026, 11, 24, 21, 33, 0, tzinfo=datetime.timezone.utc)


def test_estimate_by_compression_and_scope():
    gib = 1024 ** 3
    assert _backup_store.estimate_size(gib, 7, "full", "none") == int(gib * 1.8) + 1024 * 1024 + 7 * 4096
    assert _backup_store.estimate_size(gib, 7, "full", "gzip:1") == int(gib * 0.8) + 1024 * 1024 + 7 * 4096
    assert _backup_store.estimate_size(gib, 7, "schema-only", "gzip:1") == 1024 * 1024 + 7 * 4096


def test_space_verdict_reports_the_numbers(tmp_path):
    verdict = _backup_store.space_verdict(str(tmp_path / "not" / "yet"), 1000)
    assert verdict["filesystem_path"] == str(tmp_path)
    assert verdict["required_free_bytes"] == 1000 + 16 * 1024 * 1024
    assert verdict["ok"] is (verdict["free_bytes"] >= verdict["required_free_bytes"])
    huge = _backup_store.space_verdict(str(tmp_path), 10 ** 18)
    assert huge["ok"] is False and "needs" in huge["summary"] and "free on %s" % tmp_path in huge["summary"]


def test_manifest_is_written_atomically_and_privately(tmp_path):
    path = str(tmp_path / "x.manifest.json")
    _backup_store.write_json_atomic(path, {"manifest_version": 1, "when": NOW})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle)["when"] == "2026-11-24 21:33:00+00:00"
    assert os.listdir(str(tmp_path)) == ["x.manifest.json"]
    (tmp_path / "other.manifest.json").write_text('{"something": "else"}', encoding="utf-8")
    with pytest.raises(_backup_store.BackupError, match="is not a manifest of this collection"):
        _manifests.load_manifest(str(tmp_path / "other.manifest.json"))


def test_backup_ids_never_collide(tmp_path):
    first = _backup_store.new_backup_id(str(tmp_path), "kh", NOW)
    assert first == "kh_20261124T213300Z"
    (tmp_path / (first + ".dump.partial")).write_bytes(b"")
    assert _backup_store.new_backup_id(str(tmp_path), "kh", NOW) == "kh_20261124T213300Z_2"
    # retention removed the first of the second while the second one stays: its id (recorded as a recovery point)
    # is not handed out again, the next one goes after the highest
    (tmp_path / "kh_20261124T213300Z_2.dump").write_bytes(b"")
    (tmp_path / (first + ".dump.partial")).unlink()
    assert _backup_store.new_backup_id(str(tmp_path), "kh", NOW) == "kh_20261124T213300Z_3"
    assert _backup_store.new_backup_id(str(tmp_path), "kh_2026", NOW) == "kh_2026_20261124T213300Z"
    with pytest.raises(OptionError, match="label="):
        check_label("../etc")


def test_a_symlinked_backup_dir_is_refused_and_its_target_untouched(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    real.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(real)
    for given in (str(link), str(link) + "/"):
        with pytest.raises(_backup_store.BackupError, match="is a symbolic link .*give the real path"):
            _backup_store.ensure_private_dir(given)
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o755
    (tmp_path / "file").write_text("x")
    with pytest.raises(_backup_store.BackupError, match="is not a directory"):
        _backup_store.check_backup_dir(str(tmp_path / "file"))


def test_a_wide_backup_dir_is_tightened_and_said(tmp_path):
    wide = tmp_path / "wide"
    wide.mkdir()
    wide.chmod(0o751)
    result: dict = {}
    _backup_store.private_dir(str(wide), result)
    assert stat.S_IMODE(os.stat(wide).st_mode) == 0o700
    assert result["backup_dir_mode"] == {"path": str(wide), "old": "0751", "new": "0700"}
    assert "0751" in result["warnings"][0]
    again: dict = {}
    _backup_store.private_dir(str(wide), again)
    _backup_store.private_dir(str(tmp_path / "new" / "dir"), again)
    assert again == {} and stat.S_IMODE(os.stat(tmp_path / "new" / "dir").st_mode) == 0o700


def test_sweep_removes_what_no_writer_holds_and_leaves_what_one_does(tmp_path):
    live = tmp_path / "kh_20261201T120000Z.dump.partial"
    dead = tmp_path / "kh_20261201T110000Z.dump.partial"
    dead_dir = tmp_path / "kh_20261201T100000Z.dir.partial"
    lockless = tmp_path / "kh_20261130T100000Z.dump.partial"  # a version before the locks
    stale_lock = tmp_path / ".writing-kh_20261129T100000Z.dump.partial"  # killed before pg_dump made its file
    kept = [tmp_path / "kh_20261128T100000Z.dump", tmp_path / "kh_20261128T100000Z.dump.failed"]
    for path in [dead, lockless, stale_lock] + kept:
        path.write_text("x")
    dead_dir.mkdir()
    (dead_dir / "toc.dat").write_text("x")
    (tmp_path / (".writing-" + dead.name)).write_text("")  # its writer's lock, no longer held
    (tmp_path / (".writing-" + dead_dir.name)).write_text("")
    with _backup_store.writing(str(live)):
        live.write_text("being written")
        removed = _backup_store.sweep_partials(str(tmp_path))
        assert live.exists() and (tmp_path / (".writing-" + live.name)).exists()
    assert sorted(os.path.basename(p) for p in removed) == sorted(
        [dead.name, ".writing-" + dead.name, dead_dir.name, ".writing-" + dead_dir.name, lockless.name,
         stale_lock.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name] + [p.name for p in kept])
