# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration files' hand-over from the controller (pure file handling): byte for byte, only .sql files,
a private directory removed afterwards, and clear errors."""

from __future__ import annotations

import os
import pathlib
import stat
import tempfile

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._migration_files import (
    MigrationFilesError,
    collect,
    unpacked,
)


def test_the_sql_files_travel_byte_for_byte_into_a_private_directory_removed_afterwards(tmp_path):
    source = tmp_path / "migrations"
    (source / "expectations").mkdir(parents=True)
    (source / "001_a.sql").write_bytes(b"SELECT 1;\n")
    (source / "002_b.sql").write_bytes(b"-- caf\xe9 in latin-1\nSELECT 2;\n")
    (source / "README.md").write_text("not a migration", encoding="utf-8")
    (source / "expectations" / "001_a.yml").write_text("tables: []", encoding="utf-8")
    handed = collect(str(source))
    assert sorted(handed) == ["001_a.sql", "002_b.sql"]
    with unpacked(handed) as directory:
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert sorted(os.listdir(directory)) == ["001_a.sql", "002_b.sql"]
        for name in handed:
            assert (source / name).read_bytes() == pathlib.Path(directory, name).read_bytes()
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600
    assert not os.path.exists(directory)


def test_a_directory_that_is_not_there_or_holds_no_sql_file_is_named(tmp_path):
    with pytest.raises(MigrationFilesError, match="is not a directory on the controller"):
        collect(str(tmp_path / "nowhere"))
    with pytest.raises(MigrationFilesError, match="holds no .sql file"):
        collect(str(tmp_path))


@pytest.mark.parametrize("handed, says", [
    ({"../001_x.sql": "U0VMRUNUIDE="}, "is not a file name"),
    ({"001_x.txt": "U0VMRUNUIDE="}, "is not a file name"),
    ({"001_x.sql": "%%%"}, "is not base64"),
    ({}, "is set only by the collection's action plugin"),
    ("001_x.sql", "is set only by the collection's action plugin"),
])
def test_a_forged_hand_over_is_refused_and_its_directory_removed(handed, says):
    before = set(os.listdir(tempfile.gettempdir()))
    with pytest.raises(MigrationFilesError, match=says):
        with unpacked(handed):
            pass
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


def test_no_private_directory_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with pytest.raises(MigrationFilesError, match="Cannot make a private directory for the migration files"):
        with unpacked({"001_x.sql": "U0VMRUNUIDE="}):
            pass
