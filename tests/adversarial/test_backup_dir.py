# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: a backup directory that is not what it seems.

A backup_dir that is a symbolic link (its last component) is refused with a clear error (what, where, what
to do: give the real path), and nothing is changed: not the link's target's mode, not a file in it. An
existing real directory whose mode is wider than 0700 is tightened and that is said (a warning and the
result's ``backup_dir_mode``, with the old and the new mode): a directory's mode never changes silently.
The same rules hold for pg_backup (dumps and clones) and compose_backup.
"""

from __future__ import annotations

import os
import stat

import pytest

from support.database import databases_like
from support.hostile import warned
from support.modules import backup, failed, ok, run_module


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.fixture
def linked(tmp_path):
    """(link, its target): a real directory, mode 0755, and a symbolic link to it."""
    real = tmp_path / "real"
    real.mkdir()
    real.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(real)
    return str(link), real


def config_backup(tmp_path, backup_dir, **options) -> dict:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "compose.yml").write_text("services: {}\n")
    return run_module("compose_backup", dict(backup_dir=str(backup_dir), project_dir=str(project),
                                             paths=["compose.yml"], **options))


def refused(msg: str, link: str, real) -> None:
    assert "backup_dir %s is a symbolic link" % link in msg and str(real) in msg
    assert "give the real path" in msg and "Nothing was changed" in msg


@pytest.mark.parametrize("fmt", ["custom", "directory", "clone"])
def test_pg_backup_refuses_a_symlinked_backup_dir(legacy_db, linked, createdb, cluster, fmt):
    link, real = linked
    refused(failed(backup(legacy_db, link, format=fmt)), link, real)
    assert mode_of(real) == 0o755 and os.listdir(str(real)) == []
    assert databases_like(cluster, legacy_db.name) == []


def test_check_mode_refuses_it_too(legacy_db, linked):
    link, real = linked
    refused(failed(backup(legacy_db, link, check_mode=True)), link, real)


def test_a_dangling_link_is_refused_and_nothing_is_created(legacy_db, tmp_path):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    msg = failed(backup(legacy_db, str(link)))
    assert "is a symbolic link" in msg
    assert not os.path.exists(str(tmp_path / "nowhere"))


def test_a_trailing_slash_does_not_hide_the_link(legacy_db, linked):
    link, real = linked
    refused(failed(backup(legacy_db, link + "/")), link, real)
    assert mode_of(real) == 0o755 and os.listdir(str(real)) == []


def test_a_file_is_not_a_backup_dir(legacy_db, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    msg = failed(backup(legacy_db, str(path)))
    assert "backup_dir %s is not a directory" % path in msg and path.read_text() == "x"


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o750])
def test_a_wide_directory_is_tightened_and_said(legacy_db, tmp_path, mode):
    directory = tmp_path / "wide"
    directory.mkdir()
    directory.chmod(mode)
    result = ok(backup(legacy_db, str(directory)))
    assert mode_of(directory) == 0o700
    assert result["backup_dir_mode"] == {"path": str(directory), "old": "%04o" % mode, "new": "0700"}
    assert warned(result, "%04o" % mode, "0700", str(directory))


def test_a_private_or_new_directory_is_not_reported(legacy_db, tmp_path):
    new = tmp_path / "new"
    result = ok(backup(legacy_db, str(new)))
    assert mode_of(new) == 0o700 and result.get("backup_dir_mode") is None
    again = ok(backup(legacy_db, str(new)))
    assert again.get("backup_dir_mode") is None and not warned(again, "0700")


def test_compose_backup_refuses_a_symlinked_backup_dir(tmp_path, linked):
    link, real = linked
    refused(failed(config_backup(tmp_path, link)), link, real)
    assert mode_of(real) == 0o755 and os.listdir(str(real)) == []


def test_compose_backup_tightens_and_says_so(tmp_path):
    directory = tmp_path / "wide"
    directory.mkdir()
    directory.chmod(0o777)
    result = ok(config_backup(tmp_path, directory))
    assert mode_of(directory) == 0o700 and result["backup_dir_mode"]["old"] == "0777"
    assert warned(result, "0777")
