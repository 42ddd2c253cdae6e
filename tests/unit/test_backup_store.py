# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup directory without a database: size estimates and free space, manifests, backup ids, retention."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup_store
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
    assert _backup_store.load_manifest(path)["when"] == "2026-11-24 21:33:00+00:00"
    assert os.listdir(str(tmp_path)) == ["x.manifest.json"]
    (tmp_path / "other.manifest.json").write_text('{"something": "else"}', encoding="utf-8")
    with pytest.raises(_backup_store.BackupError, match="is not a manifest of this collection"):
        _backup_store.load_manifest(str(tmp_path / "other.manifest.json"))


def test_backup_ids_never_collide(tmp_path):
    first = _backup_store.new_backup_id(str(tmp_path), "kh", NOW)
    assert first == "kh_20261124T213300Z"
    (tmp_path / (first + ".dump.partial")).write_bytes(b"")
    assert _backup_store.new_backup_id(str(tmp_path), "kh", NOW) == "kh_20261124T213300Z_2"
    with pytest.raises(OptionError, match="label="):
        check_label("../etc")


def make_backup(directory, label: str, minute: int, verified: bool = True, kind: str = "dump", consumed: bool = False):
    backup_id = "%s_202611242%d00Z" % (label, minute)
    archive = os.path.join(directory, backup_id + ".dump")
    with open(archive, "wb") as handle:
        handle.write(b"x")
    manifest = {"manifest_version": 1, "backup_id": backup_id, "label": label, "kind": kind, "verified": verified,
                "created_at": "2026-11-24T2%d:00:00+00:00" % minute, "archive": {"name": backup_id + ".dump"}}
    if consumed:
        manifest["consumed_at"] = "2026-11-25T00:00:00+00:00"
    with open(_backup_store.manifest_path(directory, backup_id), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    return backup_id


def test_retention_counts_only_good_backups_of_the_label_and_kind(tmp_path):
    directory = str(tmp_path)
    ids = [make_backup(directory, "kh", m) for m in (1, 2, 3, 4)]
    unverified = make_backup(directory, "kh", 5, verified=False)
    other = make_backup(directory, "other", 0)
    consumed = make_backup(directory, "kh", 0, consumed=True)
    clone = make_backup(directory, "kh", 6, kind="clone")
    assert [pm[1]["backup_id"] for pm in _backup_store.good_backups(directory, "kh", "dump")] == ids[::-1]
    removed = _backup_store.apply_retention(directory, "kh", "dump", 2)
    assert removed == [ids[1], ids[0]]
    left = sorted(os.listdir(directory))
    for backup_id in (ids[2], ids[3], unverified, other, consumed, clone):
        assert backup_id + ".dump" in left and backup_id + ".manifest.json" in left
    for backup_id in ids[:2]:
        assert backup_id + ".dump" not in left and backup_id + ".manifest.json" not in left
    assert _backup_store.apply_retention(directory, "kh", "dump", 0) == []
    dropped = []
    assert _backup_store.apply_retention(directory, "kh", "clone", 1, drop_clone=dropped.append) == []
