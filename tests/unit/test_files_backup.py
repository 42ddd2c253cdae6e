# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration backups on real files (no database, no engine)."""

from __future__ import annotations

import json
import os
import socket
import tarfile

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _files_backup
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import BackupError
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import load_manifest


def run_files_backup(params, check_mode):
    """The job as _module.execute runs it: its plan, applied unless in check mode."""
    job = _files_backup.FilesBackup(params)
    try:
        plan = job.plan()
        return plan if check_mode else job.apply(plan)
    finally:
        job.close()


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "srv" / "knowledgehub"
    (root / "config").mkdir(parents=True)
    (root / "compose.yml").write_text("services:\n  db:\n    image: postgres:15\n")
    (root / ".env").write_text("POSTGRES_PASSWORD=s3cret-test-value\n")
    (root / "config" / "api.yml").write_text("search:\n  hybrid_weight: 0.6\n")
    (root / "config" / "nested").mkdir()
    (root / "config" / "nested" / "prompts.txt").write_text("x" * 100000)
    os.symlink("api.yml", root / "config" / "current.yml")
    return root


def backup(tmp_path, project, **extra):
    params = dict(backup_dir=str(tmp_path / "backups"), label="kh", paths=["compose.yml", ".env", "config"],
                  project_dir=str(project), compression="gzip", keep_last=0, check_free_space=True)
    params.update(extra)
    return run_files_backup(params, check_mode=False)


def test_config_backup_holds_every_file_byte_for_byte_and_is_private(tmp_path, project):
    result = backup(tmp_path, project)
    assert result["changed"] and result["files"] == 4 and result["kind"] == "config"
    assert os.stat(result["path"]).st_mode & 0o777 == 0o600
    assert os.stat(result["manifest"]).st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "backups").st_mode & 0o777 == 0o700
    out = tmp_path / "restored"
    with tarfile.open(result["path"]) as tar:
        tar.extractall(out, filter="tar")
    for name in ("compose.yml", ".env", "config/api.yml", "config/nested/prompts.txt"):
        assert (out / name).read_bytes() == (project / name).read_bytes()
    assert os.readlink(out / "config" / "current.yml") == "api.yml"
    manifest = load_manifest(result["manifest"])
    assert manifest["verified"] is True and manifest["kind"] == "config"
    assert set(manifest["files"]) == {"compose.yml", ".env", "config/api.yml", "config/nested/prompts.txt"}
    assert manifest["archive"]["sha256"] == result["sha256"]
    # names and hashes only: the secret in .env is not in the manifest or the result
    assert "s3cret-test-value" not in json.dumps(manifest) and "s3cret-test-value" not in json.dumps(result)


def test_a_missing_path_fails_naming_it_and_writes_nothing(tmp_path, project):
    with pytest.raises(BackupError, match=r"do not exist: .*/srv/knowledgehub/secrets\.yml.*nothing was written"):
        backup(tmp_path, project, paths=["compose.yml", "secrets.yml"])
    assert not (tmp_path / "backups").exists()


def test_a_relative_path_without_project_dir_is_refused(tmp_path, project):
    with pytest.raises(BackupError, match="relative path"):
        backup(tmp_path, project, project_dir=None)


def test_read_back_catches_a_changed_or_truncated_archive(tmp_path, project):
    target = str(tmp_path / "a.tar")
    written = _files_backup.write_config_tar(target, [str(project)], str(project), compress=False)
    assert _files_backup.read_back(target, written["files"])["entries"] == written["entries"]
    altered = dict(written["files"], **{"config/api.yml": {"sha256": "0" * 64, "size": 1}})
    with pytest.raises(BackupError, match=r"does not hold the bytes .*config/api\.yml"):
        _files_backup.read_back(target, altered)
    gz = str(tmp_path / "b.tar.gz")
    _files_backup.write_config_tar(gz, [str(project)], str(project), compress=True)
    with open(gz, "r+b") as handle:
        handle.truncate(os.path.getsize(gz) // 2)
    with pytest.raises(BackupError, match="cannot be read back"):
        _files_backup.read_back(gz)


def test_special_files_are_left_out_with_a_warning(tmp_path, project):
    sock = socket.socket(socket.AF_UNIX)
    path = str(project / "config" / "api.sock")
    try:
        sock.bind(path)
        result = backup(tmp_path, project, compression="none")
    finally:
        sock.close()
    assert result["skipped_special_files"] == [path]
    assert any("special files" in w for w in result["warnings"])
    assert result["path"].endswith(".tar")


def test_retention_keeps_the_newest_config_archives(tmp_path, project):
    ids = [backup(tmp_path, project, keep_last=2)["backup_id"] for attempt in range(3)]
    left = sorted(n for n in os.listdir(tmp_path / "backups") if n.endswith(".tar.gz"))
    assert [n.split(".")[0] for n in left] == sorted(ids[1:])


def test_check_mode_writes_nothing(tmp_path, project):
    params = dict(backup_dir=str(tmp_path / "backups"), paths=[str(project)], compression="gzip")
    result = run_files_backup(params, check_mode=True)
    assert result["changed"] is False and result["entries"] == 8 and result["free_space"]["ok"]
    assert not (tmp_path / "backups").exists()


def test_arcnames_are_relative_to_the_project():
    assert _files_backup.arcname("/srv/kh/config/a.yml", "/srv/kh") == "config/a.yml"
    assert _files_backup.arcname("/srv/khx/a.yml", "/srv/kh") == "srv/khx/a.yml"
    assert _files_backup.arcname("/etc/nginx/nginx.conf", None) == "etc/nginx/nginx.conf"
