# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning a rollback without a database: the migrate:reverts directive, revert files, target_version,
revert_script paths, which versions are reverted by which file in which order, drift and missing files."""

from __future__ import annotations

import os

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import (
    MigrationError,
    discover,
    parse_directives,
    reverted_versions,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._revert_plan import (
    RevertError,
    check_target,
    down_files,
    plan_revert,
    read_revert_file,
    resolve_script,
    to_revert,
)

from support.paths import MIGRATIONS


def write(directory, name, text):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def mdir(tmp_path):
    """Migrations 001-004, each with its .down file, and a rollback script for 003 and 004."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    for version, name in (("001", "a"), ("002", "b"), ("003", "c"), ("004", "d")):
        write(directory, "%s_%s.sql" % (version, name), "CREATE TABLE %s (id int);\n" % name)
        write(directory, "%s_%s.down.sql" % (version, name), "DROP TABLE %s;\n" % name)
    write(directory, "rollback_3_4.sql", "-- undoes 003 and 004\n-- migrate:reverts 003 004\nDROP TABLE d;\nDROP TABLE c;\n")
    return directory


def files_of(directory):
    return discover(str(directory))[0]


def rows_for(files, status="applied", **changes):
    rows = []
    for number, migration in enumerate(files, start=1):
        rows.append(dict(id=number, version=migration.version, name=migration.name, checksum=migration.checksum,
                         status=status, last_statement=None))
    for version, change in changes.items():
        next(r for r in rows if r["version"] == version.lstrip("v")).update(change)
    return rows


def plan(directory, rows, target, script=None):
    def load(name):
        return read_revert_file(os.path.join(str(directory), name))

    return plan_revert(files_of(directory), rows, target, down_files(os.listdir(str(directory))),
                       read_revert_file(str(directory / script)) if script else None, load)


def shape(steps):
    return [(s.file.filename, [r["version"] for r in s.rows]) for s in steps]


# -- the directive --------------------------------------------------------------------------------------


def test_reverts_lists_versions_in_the_order_given():
    assert reverted_versions("004 005 006") == ["004", "005", "006"]
    assert reverted_versions(" 004, 005,006 ") == ["004", "005", "006"]


@pytest.mark.parametrize("value, why", [("", "names no version"), ("004 4", "twice"), ("abc", "not a version"),
                                        ("004 0.5", "not a version"), ("\u0663", "not a version"),
                                        ("-4", "not a version")])
def test_reverts_refuses_what_is_not_a_list_of_versions(value, why):
    with pytest.raises(ValueError, match=why):
        reverted_versions(value)


def test_the_directive_is_read_and_checked_in_revert_files_only():
    assert parse_directives("rollback_x.sql", "-- migrate:reverts 004 005\nSELECT 1;") == {"reverts": "004 005"}
    assert parse_directives("004_a.down.sql", "-- migrate:reverts 004\nSELECT 1;") == {"reverts": "004"}
    with pytest.raises(MigrationError, match=r"rollback_x.sql, line 2: migrate:reverts 'x' is not a version"):
        parse_directives("rollback_x.sql", "-- what it does\n-- migrate:reverts x\nSELECT 1;")
    with pytest.raises(MigrationError, match=r"004_a.sql, line 1: migrate:reverts belongs in a revert file"):
        parse_directives("004_a.sql", "-- migrate:reverts 004\nSELECT 1;")


def test_the_shipped_rollback_script_declares_004_005_006():
    script = read_revert_file(os.path.join(MIGRATIONS, "rollback_004_005.sql"))
    assert script.reverts == ("006", "005", "004") and script.version == "006"


# -- revert files ---------------------------------------------------------------------------------------


def test_a_down_file_reverts_its_own_version(mdir):
    down = read_revert_file(str(mdir / "003_c.down.sql"))
    assert (down.version, down.reverts, down.filename) == ("003", ("003",), "003_c.down.sql")
    assert down.describe() == {"file": "003_c.down.sql", "checksum": down.checksum, "reverts": ["003"]}


def test_a_down_file_declaring_another_version_is_drift(mdir):
    write(mdir, "003_c.down.sql", "-- migrate:reverts 004\nDROP TABLE c;\n")
    with pytest.raises(RevertError, match=r"Drift: 003_c.down.sql is named for version 003 but its header says"):
        read_revert_file(str(mdir / "003_c.down.sql"))


def test_a_rollback_script_must_declare_its_versions(mdir):
    write(mdir, "rollback_all.sql", "DROP TABLE d;\n")
    with pytest.raises(RevertError, match="declares no version it reverts: add the header line"):
        read_revert_file(str(mdir / "rollback_all.sql"))


def test_a_revert_file_that_is_not_utf8_is_named(mdir):
    (mdir / "004_d.down.sql").write_bytes(b"DROP TABLE \xff;\n")
    with pytest.raises(RevertError, match="004_d.down.sql is not valid UTF-8"):
        read_revert_file(str(mdir / "004_d.down.sql"))


# -- target_version -------------------------------------------------------------------------------------


def test_target_version_is_a_version_number(mdir):
    files = files_of(mdir)
    assert check_target("003", files) == 3 and check_target("3", files) == 3 and check_target("0", files) == 0
    assert check_target(" 002 ", files) == 2


@pytest.mark.parametrize("value", ["abc", "3.0", "", None, "-1", "\u0663", "003; DROP TABLE a", "v3"])
def test_target_version_that_is_not_a_version_is_refused(mdir, value):
    with pytest.raises(RevertError, match="is not a version"):
        check_target(value, files_of(mdir))


def test_target_version_without_a_migration_file_is_refused(mdir):
    with pytest.raises(RevertError, match="target_version=030 matches no migration file; versions present: 001"):
        check_target("030", files_of(mdir))


# -- revert_script paths --------------------------------------------------------------------------------


def test_revert_script_by_name_or_absolute_path_in_migrations_dir(mdir):
    path = str(mdir / "rollback_3_4.sql")
    assert resolve_script(str(mdir), "rollback_3_4.sql") == path
    assert resolve_script(str(mdir), path) == path
    assert resolve_script(str(mdir), None) is None and resolve_script(str(mdir), "") is None


@pytest.mark.parametrize("value, why", [
    ("../migrations/rollback_3_4.sql", "'..' is refused"),
    ("..", "'..' is refused"),
    ("sub/rollback_3_4.sql", "give the file's name in migrations_dir"),
    ("/etc/passwd", "is not in migrations_dir"),
    ("004_d.sql", "is not named like a revert file"),
    ("README.md", "is not named like a revert file"),
    ("rollback_none.sql", "is not a file in migrations_dir"),
])
def test_revert_script_outside_migrations_dir_or_not_a_revert_file_is_refused(mdir, value, why):
    with pytest.raises(RevertError, match=why):
        resolve_script(str(mdir), value)


def test_revert_script_elsewhere_by_absolute_path_or_through_a_link_is_refused(mdir, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write(outside, "rollback_evil.sql", "-- migrate:reverts 004\nDROP TABLE a;\n")
    with pytest.raises(RevertError, match="is not in migrations_dir"):
        resolve_script(str(mdir), str(outside / "rollback_evil.sql"))
    with pytest.raises(RevertError, match="'..' is refused"):
        resolve_script(str(mdir), str(mdir) + "/../elsewhere/rollback_evil.sql")
    os.symlink(str(outside / "rollback_evil.sql"), str(mdir / "rollback_link.sql"))
    with pytest.raises(RevertError, match="is a link leading out of migrations_dir"):
        resolve_script(str(mdir), "rollback_link.sql")


# -- which versions ---------------------------------------------------------------------------------------


def test_versions_above_the_target_that_the_ledger_holds_highest_first(mdir):
    files = files_of(mdir)
    rows = rows_for(files, v001={"status": "baseline"})
    assert [r["version"] for r in to_revert(rows, 1)] == ["004", "003", "002"]
    assert to_revert(rows, 4) == []
    assert [r["version"] for r in to_revert(rows, 0)] == ["004", "003", "002", "001"]


def test_rolled_back_and_failed_versions_are_not_reverted_but_a_cut_short_one_is(mdir):
    files = files_of(mdir)
    rows = rows_for(files, v004={"status": "rolled_back"}, v003={"status": "failed", "last_statement": 2},
                    v002={"status": "failed"})
    rows.append(dict(rows[0], id=9, version="004", status="failed", last_statement=None))
    assert [(r["version"], r["status"]) for r in to_revert(rows, 1)] == [("003", "failed")]


def test_a_version_applied_again_after_a_rollback_is_its_newest_present_row(mdir):
    files = files_of(mdir)
    rows = rows_for(files, v004={"status": "rolled_back"})
    rows.append(dict(rows[3], id=5, status="applied"))
    assert [r["id"] for r in to_revert(rows, 3)] == [5]


# -- the plan ---------------------------------------------------------------------------------------------


def test_down_files_run_highest_version_first(mdir):
    steps = plan(mdir, rows_for(files_of(mdir)), 1)
    assert shape(steps) == [("004_d.down.sql", ["004"]), ("003_c.down.sql", ["003"]), ("002_b.down.sql", ["002"])]
    described = steps[0].describe(1)
    assert described["order"] == 1 and described["versions"][0]["ledger_id"] == 4
    assert described["versions"][0]["partly_applied"] is False


def test_a_revert_script_takes_the_versions_it_declares_in_one_step(mdir):
    steps = plan(mdir, rows_for(files_of(mdir)), 1, script="rollback_3_4.sql")
    assert shape(steps) == [("rollback_3_4.sql", ["004", "003"]), ("002_b.down.sql", ["002"])]


def test_a_missing_down_file_is_refused_naming_the_file_expected(mdir):
    os.remove(str(mdir / "003_c.down.sql"))
    with pytest.raises(RevertError, match=r"No revert file for 003_c.sql: expected 003_c.down.sql beside it"):
        plan(mdir, rows_for(files_of(mdir)), 1)
    assert shape(plan(mdir, rows_for(files_of(mdir)), 3)) == [("004_d.down.sql", ["004"])]


def test_a_down_file_written_for_another_migration_is_drift(mdir):
    write(mdir, "003_other.down.sql", "DROP TABLE other;\n")
    with pytest.raises(RevertError, match=r"Drift: 003_other.down.sql is named for version 003, but migrations_dir"):
        plan(mdir, rows_for(files_of(mdir)), 1)


def test_a_changed_forward_file_is_drift(mdir):
    rows = rows_for(files_of(mdir))
    write(mdir, "003_c.sql", "CREATE TABLE c (id bigint);\n")
    with pytest.raises(RevertError, match=r"Drift: 003_c.sql was applied with sha256 [0-9a-f]{64}, but the file now"):
        plan(mdir, rows, 1)


def test_an_applied_version_without_its_file_is_refused(mdir):
    rows = rows_for(files_of(mdir))
    os.remove(str(mdir / "003_c.sql"))
    with pytest.raises(RevertError, match=r"version 003 \(c\) is applied, but migrations_dir has no file for it"):
        plan(mdir, rows, 1)


def test_a_script_reverting_at_or_below_the_target_is_refused(mdir):
    with pytest.raises(RevertError, match="rollback_3_4.sql reverts 003, which is not above target_version 3"):
        plan(mdir, rows_for(files_of(mdir)), 3, script="rollback_3_4.sql")


def test_a_script_for_versions_never_applied_is_refused(mdir):
    rows = [r for r in rows_for(files_of(mdir)) if r["version"] in ("001", "002")]
    with pytest.raises(RevertError, match=r"rollback_3_4.sql reverts 004, 003, but none of them is applied"):
        plan(mdir, rows, 1, script="rollback_3_4.sql")


def test_a_script_may_declare_a_version_not_applied_beside_applied_ones(mdir):
    rows = [r for r in rows_for(files_of(mdir)) if r["version"] != "004"]
    steps = plan(mdir, rows, 2, script="rollback_3_4.sql")
    assert shape(steps) == [("rollback_3_4.sql", ["003"])] and steps[0].not_applied == ["004"]


def test_a_script_declaring_a_version_without_a_migration_file_is_refused(mdir):
    write(mdir, "rollback_typo.sql", "-- migrate:reverts 004 040\nSELECT 1;\n")
    with pytest.raises(RevertError, match="rollback_typo.sql declares that it reverts 40, but no migration file"):
        plan(mdir, rows_for(files_of(mdir)), 1, script="rollback_typo.sql")


def test_a_script_skipping_an_applied_version_in_between_is_refused(mdir):
    write(mdir, "rollback_2_4.sql", "-- migrate:reverts 002 004\nSELECT 1;\n")
    with pytest.raises(RevertError, match="rollback_2_4.sql reverts 004, 002 in one transaction, but 003_c.down.sql"):
        plan(mdir, rows_for(files_of(mdir)), 1, script="rollback_2_4.sql")


def test_a_down_file_for_a_version_never_applied_is_not_run(mdir):
    write(mdir, "005_e.sql", "CREATE TABLE e (id int);\n")
    write(mdir, "005_e.down.sql", "SELECT 1 / 0;\n")
    rows = [r for r in rows_for(files_of(mdir)) if r["version"] != "005"]
    assert shape(plan(mdir, rows, 2)) == [("004_d.down.sql", ["004"]), ("003_c.down.sql", ["003"])]


@pytest.mark.parametrize("body, why", [
    ("-- migrate:transaction off\nDROP TABLE d;\n", "says '-- migrate:transaction off', but a revert file runs in one"),
    ("DROP INDEX CONCURRENTLY i;\n", "cannot run inside a transaction, and this file runs in one. Revert files always"),
    ("BEGIN;\nDROP TABLE d;\nCOMMIT;\n", "is transaction control"),
    ("-- nothing\n", "holds no SQL statement"),
    ("DROP TABLE 'd;\n", "004_d.down.sql, line 1"),
])
def test_a_revert_file_that_cannot_run_whole_in_one_transaction_is_refused(mdir, body, why):
    write(mdir, "004_d.down.sql", body)
    with pytest.raises((RevertError, MigrationError), match=why):
        plan(mdir, rows_for(files_of(mdir)), 3)


# -- the shipped files ------------------------------------------------------------------------------------


def test_the_shipped_revert_files_plan_006_005_004():
    files = files_of(MIGRATIONS)
    rows = rows_for(files, v001={"status": "baseline"}, v002={"status": "baseline"}, v003={"status": "baseline"})
    assert shape(plan_revert(files, rows, 3, down_files(os.listdir(MIGRATIONS)), None,
                             lambda name: read_revert_file(os.path.join(MIGRATIONS, name)))) == [
        ("006_harden_rollback_functions.down.sql", ["006"]), ("005_data_migration.down.sql", ["005"]),
        ("004_hybrid_rag_schema.down.sql", ["004"])]
    script = read_revert_file(os.path.join(MIGRATIONS, "rollback_004_005.sql"))
    assert shape(plan_revert(files, rows, 3, [], script, None)) == [("rollback_004_005.sql", ["006", "005", "004"])]
    with pytest.raises(RevertError, match="No revert file for 003_search_and_feedback.sql"):
        plan_revert(files, rows, 0, down_files(os.listdir(MIGRATIONS)), None,
                    lambda name: read_revert_file(os.path.join(MIGRATIONS, name)))
