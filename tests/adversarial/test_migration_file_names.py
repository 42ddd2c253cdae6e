# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: entries of the migrations directory that are not what they look like.

Every entry is a migration, a revert file, or listed in ``ignored_files`` with the reason
(``ignored_reasons``); nothing is skipped silently, and only ASCII digits make a version.
"""

from __future__ import annotations

import os

import pytest

from support.modules import ok, run_module

BODY = "CREATE TABLE IF NOT EXISTS hostile_name_probe (id int);\n"


def _entry(directory, name: str, kind: str) -> None:
    path = os.path.join(str(directory), name)
    if kind == "file":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(BODY)
    elif kind == "dir":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "broken link":
        os.symlink(os.path.join(str(directory), "nowhere.sql"), path)


CASES = [
    ("006_new.SQL", "file", "lowercase .sql"),
    ("007_x.Sql", "file", "lowercase .sql"),
    ("008_dir.sql", "dir", "a directory"),
    ("009_fifo.sql", "fifo", "FIFO"),
    ("010_gone.sql", "broken link", "broken link"),
    ("\u0660\u0661\u0661_arabic_digits.sql", "file", "ASCII digits"),
    ("\uff10\uff11\uff12_fullwidth.sql", "file", "ASCII digits"),
    ("013 spaced.sql", "file", "not named NNN_name.sql"),
    ("014_.sql", "file", "not named NNN_name.sql"),
    ("notes.txt", "file", "not a .sql file"),
]


@pytest.mark.parametrize("name,kind,reason", CASES, ids=[c[0].encode("unicode_escape").decode() for c in CASES])
def test_each_entry_is_a_migration_or_ignored_with_its_reason(db, migrations_copy, name, kind, reason):
    _entry(migrations_copy, name, kind)
    result = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations_copy)), check_mode=True))
    assert name in result["ignored_files"], result["ignored_files"]
    assert reason in result["ignored_reasons"][name]
    assert all(m["file"] != name for m in result["pending"])


def test_revert_files_are_neither_migrations_nor_ignored(db, migrations_copy):
    _entry(migrations_copy, "005_data_migration.down.sql", "file")
    result = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations_copy)), check_mode=True))
    assert "005_data_migration.down.sql" not in result["ignored_files"]
    assert "rollback_004_005.sql" not in result["ignored_files"]
    assert [m["file"] for m in result["pending"]][-1] == "006_harden_rollback_functions.sql"
    assert result["ignored_files"] == ["expectations"] and result["ignored_reasons"] == {"expectations": "a directory"}
