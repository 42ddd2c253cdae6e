# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning a run: drift, baseline, order, targets, discovery errors."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import MigrationError, discover
from ansible_collections.knowledgehub.migration.plugins.module_utils._plan import make_plan


@pytest.fixture
def files(tmp_path):
    for name, body in [("001_a.sql", "CREATE TABLE a (id int);"), ("002_b.sql", "CREATE TABLE b (id int);"),
                       ("003_c.sql", "CREATE TABLE c (id int);"), ("rollback_003.sql", "DROP TABLE c;"),
                       ("notes.sql", "-- scratch"), ("README.md", "x")]:
        (tmp_path / name).write_text(body, encoding="utf-8")
    found, ignored = discover(str(tmp_path))
    assert list(ignored) == ["README.md", "notes.sql"]
    assert ignored["notes.sql"].startswith("not named NNN_name.sql") and ignored["README.md"] == "not a .sql file"
    return found


def row(migration, status="applied", checksum=None):
    return dict(version=migration.version, name=migration.name, status=status,
                checksum=checksum or migration.checksum, completed_at="2026-11-01")


def versions(migrations):
    return [m.version for m in migrations]


def test_discovery_orders_by_number_and_hashes_bytes(files):
    assert versions(files) == ["001", "002", "003"]
    assert files[0].checksum == hashlib.sha256(b"CREATE TABLE a (id int);").hexdigest()


def test_empty_database_runs_everything(files):
    plan = make_plan(files, [], database_is_empty=True, baseline_version="002")
    assert plan.baseline == [] and versions(plan.pending) == ["001", "002", "003"]


def test_non_empty_database_without_history_needs_a_baseline(files):
    with pytest.raises(MigrationError, match="baseline_version"):
        make_plan(files, [], database_is_empty=False)
    plan = make_plan(files, [], database_is_empty=False, baseline_version="002")
    assert versions(plan.baseline) == ["001", "002"] and versions(plan.pending) == ["003"]


def test_baseline_is_ignored_once_there_is_history(files):
    plan = make_plan(files, [row(files[0])], database_is_empty=False, baseline_version="002")
    assert plan.baseline == [] and versions(plan.pending) == ["002", "003"]


def test_a_failed_attempt_is_history_enough_no_baseline_is_demanded(files):
    plan = make_plan(files, [row(files[0], "failed")], database_is_empty=False)
    assert plan.baseline == [] and versions(plan.pending) == ["001", "002", "003"]


def test_applied_files_are_skipped(files):
    plan = make_plan(files, [row(files[0]), row(files[1], "baseline")], database_is_empty=False)
    assert versions(plan.present) == ["001", "002"] and versions(plan.pending) == ["003"]
    assert plan.has_work


def test_failed_and_rolled_back_rows_do_not_count_as_present(files):
    ledger = [row(files[0]), row(files[1], "failed"), row(files[2], "rolled_back")]
    plan = make_plan(files, ledger, database_is_empty=False)
    assert versions(plan.pending) == ["002", "003"]


def test_drift_names_the_file_and_both_checksums(files):
    with pytest.raises(MigrationError) as err:
        make_plan(files, [row(files[0], checksum="0" * 64)], database_is_empty=False)
    assert "Drift: 001_a.sql" in str(err.value) and "0" * 64 in str(err.value) and files[0].checksum in str(err.value)


def test_missing_applied_file_is_refused(files):
    ledger = [row(files[0]), dict(version="009", name="gone", status="applied", checksum="1" * 64)]
    with pytest.raises(MigrationError, match="no file for it"):
        make_plan(files, ledger, database_is_empty=False)


def test_out_of_order_pending_file_is_refused(files):
    with pytest.raises(MigrationError, match="out of order"):
        make_plan(files, [row(files[0]), row(files[2])], database_is_empty=False)


def test_target_version_stops_early(files):
    plan = make_plan(files, [], target_version="002")
    assert versions(plan.pending) == ["001", "002"] and versions(plan.beyond_target) == ["003"]


@pytest.mark.parametrize("option", ["baseline_version", "target_version"])
@pytest.mark.parametrize("value, message", [("7", "matches no migration file"), ("v2", "not a version number")])
def test_version_options_are_checked(files, option, value, message):
    with pytest.raises(MigrationError, match=message):
        make_plan(files, [], **{option: value})


def test_duplicate_versions_are_refused(tmp_path):
    (tmp_path / "001_a.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / "1_b.sql").write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match="share version"):
        discover(str(tmp_path))


def test_directory_without_migrations_is_refused(tmp_path):
    with pytest.raises(MigrationError, match="holds no migration file"):
        discover(str(tmp_path))


def test_non_utf8_file_is_refused(tmp_path):
    (tmp_path / "001_a.sql").write_bytes(b"SELECT '\xff';")
    with pytest.raises(MigrationError, match="not valid UTF-8"):
        discover(str(tmp_path))


def test_transaction_control_is_refused_with_its_place(tmp_path):
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (id int);\n\nCOMMIT;\n", encoding="utf-8")
    found = discover(str(tmp_path))[0]
    with pytest.raises(MigrationError, match=r"001_a.sql, statement 2 \(line 3\) is transaction control"):
        found[0].statements()
