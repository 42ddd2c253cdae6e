# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests without a database: what each kind needs, names that never lead out, retention."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _manifests
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import BackupError


def _manifest(backup_id: str, label: str, created_at: str, kind: str = "dump") -> dict:
    """A sound manifest of ``kind``: every field its kind needs."""
    data = {"manifest_version": 1, "backup_id": backup_id, "label": label, "kind": kind, "verified": True,
            "created_at": created_at, "format": "custom", "scope": "full", "database": {"name": label},
            "row_counts": {}, "verification": {"entries": []},
            "archive": {"name": backup_id + ".dump", "sha256": "0" * 64, "size_bytes": 1}}
    if kind == "clone":
        data.update(format="clone", archive=None, clone={"database": backup_id, "source": label})
    return data


def make_backup(directory, label: str, minute: int, verified: bool = True, kind: str = "dump", consumed: bool = False):
    backup_id = "%s_202611242%d00Z" % (label, minute)
    archive = os.path.join(directory, backup_id + ".dump")
    with open(archive, "wb") as handle:
        handle.write(b"x")
    manifest = dict(_manifest(backup_id, label, "2026-11-24T2%d:00:00+00:00" % minute, kind), verified=verified)
    if consumed:
        manifest["consumed_at"] = "2026-11-25T00:00:00+00:00"
    with open(_manifests.manifest_path(directory, backup_id), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    return backup_id


def test_retention_counts_only_good_backups_of_the_label_and_kind(tmp_path):
    directory = str(tmp_path)
    ids = [make_backup(directory, "kh", m) for m in (1, 2, 3, 4)]
    unverified = make_backup(directory, "kh", 5, verified=False)
    other = make_backup(directory, "other", 0)
    consumed = make_backup(directory, "kh", 0, consumed=True)
    clone = make_backup(directory, "kh", 6, kind="clone")
    assert [pm[1]["backup_id"] for pm in _manifests.good_backups(directory, "kh", "dump")] == ids[::-1]
    removed = _manifests.apply_retention(directory, "kh", "dump", 2)
    assert removed == [ids[1], ids[0]]
    left = sorted(os.listdir(directory))
    for backup_id in (ids[2], ids[3], unverified, other, consumed, clone):
        assert backup_id + ".dump" in left and backup_id + ".manifest.json" in left
    for backup_id in ids[:2]:
        assert backup_id + ".dump" not in left and backup_id + ".manifest.json" not in left
    assert _manifests.apply_retention(directory, "kh", "dump", 0) == []
    dropped = []
    assert _manifests.apply_retention(directory, "kh", "clone", 1, drop_clone=dropped.append) == []


def test_each_kind_is_checked_for_what_it_needs(tmp_path):
    sound = _manifest("kh_1", "kh", "2026-11-24T21:00:00+00:00")
    assert _manifests.manifest_problems(sound) == []
    assert _manifests.manifest_problems(_manifest("kh_2", "kh", "x", kind="clone")) == []
    assert _manifests.manifest_problems(dict(sound, kind="config")) == []
    assert _manifests.manifest_problems(dict(sound, kind="snapshot")) == [
        "kind 'snapshot' is not one of dump, clone, config, volume"]
    broken = dict(sound, scope=None, row_counts={"public.a": "3"}, verification={"entries": [["TABLE DATA", "s", "t"]]})
    assert _manifests.manifest_problems(broken) == [
        "no scope", "row_counts.public.a is not a number", "row_counts has no row count of s.t, whose rows it holds"]
    path = str(tmp_path / "kh_1.manifest.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dict(sound, archive=dict(sound["archive"], name="../../etc/x")), handle)
    with pytest.raises(BackupError, match=r"is malformed: archive.name '../../etc/x' is not a plain file name"):
        _manifests.load_manifest(path)


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "/abs", "a\\b", "nul\0"])
def test_names_that_could_lead_out_are_not_plain(name):
    assert not _manifests.plain_name(name)
    assert _manifests.plain_name("kh_20261124T213300Z.dump")


def test_an_archive_link_leading_out_is_never_followed(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    (tmp_path / "outside.dump").write_bytes(b"x")
    (backups / "kh_1.dump").symlink_to(tmp_path / "outside.dump")
    (backups / "inside.dump").write_bytes(b"y")
    (backups / "kh_2.dump").symlink_to(backups / "inside.dump")
    manifest_file = str(backups / "kh_1.manifest.json")
    with pytest.raises(BackupError, match="leads outside the backup directory"):
        _manifests.archive_path(manifest_file, _manifest("kh_1", "kh", "x"))
    assert _manifests.archive_path(manifest_file, _manifest("kh_2", "kh", "x")) == str(backups / "kh_2.dump")


def test_retention_leaves_what_it_must_not_touch_and_says_so(tmp_path):
    directory = str(tmp_path)
    ids = [make_backup(directory, "kh", m) for m in (1, 2, 3)]
    os.remove(os.path.join(directory, ids[0] + ".dump"))
    os.symlink(str(tmp_path), os.path.join(directory, ids[0] + ".dump"))
    warnings: list = []
    assert _manifests.apply_retention(directory, "kh", "dump", 1, warnings=warnings) == [ids[1]]
    assert os.path.islink(os.path.join(directory, ids[0] + ".dump")) and len(warnings) == 1
    assert ids[0] + ".manifest.json" in warnings[0]
