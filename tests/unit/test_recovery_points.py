# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of recovery points: the row made from a backup, the table's name, the option checks."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    BackupError,
    check_recovery_point_options,
    wants_recovery_point,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import LedgerError
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import is_uuid
from ansible_collections.knowledgehub.migration.plugins.module_utils._recovery_points import (
    RECOVERY_POINT_COLUMNS,
    recovery_point_row,
    recovery_point_table,
)

RUN = "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11"


def dump_result(**manifest_changes):
    manifest = {"backup_id": "kh_20261124T213300Z", "label": "kh", "kind": "dump", "format": "custom",
                "scope": "full", "verified": True, "created_at": "2026-11-24T21:33:00+00:00",
                "archive": {"name": "kh_20261124T213300Z.dump", "type": "file", "sha256": "a" * 64,
                            "size_bytes": 1234},
                "ledger": {"last_applied_version": "004"}, "executed": {"user": "deploy", "host": "kh-01"}}
    manifest.update(manifest_changes)
    return {"backup_id": manifest["backup_id"], "path": "/b/kh_20261124T213300Z.dump", "size_bytes": 1234,
            "manifest": "/b/kh_20261124T213300Z.manifest.json", "manifest_data": manifest}


def test_a_dump_becomes_a_row_with_everything_a_restore_needs():
    row = recovery_point_row(dump_result(), RUN.upper(), "after_schema")
    assert row == {"run_id": RUN, "purpose": "after_schema", "label": "kh", "backup_id": "kh_20261124T213300Z",
                   "kind": "dump", "format": "custom", "scope": "full", "location": "/b/kh_20261124T213300Z.dump",
                   "manifest": "/b/kh_20261124T213300Z.manifest.json", "sha256": "a" * 64, "size_bytes": 1234,
                   "ledger_version": "004", "created_at": "2026-11-24T21:33:00+00:00", "created_by": "deploy",
                   "created_on": "kh-01"}
    assert set(row) <= set(RECOVERY_POINT_COLUMNS)


def test_a_clone_is_located_by_its_database_and_has_no_checksum():
    result = dump_result(kind="clone", format="clone", archive=None, clone={"database": "kh_rp_20261124213300"},
                         ledger={"last_applied_version": None})
    result["path"] = None
    row = recovery_point_row(result, RUN, None)
    assert row["location"] == "kh_rp_20261124213300" and row["sha256"] is None and row["kind"] == "clone"
    assert row["ledger_version"] is None and row["purpose"] is None


@pytest.mark.parametrize("changes, message", [
    (dict(verified=False), "not verified"),
    (dict(kind="tarball"), "unknown kind"),
])
def test_only_a_verified_backup_of_a_known_kind_becomes_a_recovery_point(changes, message):
    with pytest.raises(LedgerError, match=message):
        recovery_point_row(dump_result(**changes), RUN, "before")


def test_the_run_id_must_be_the_ledgers_kind_of_id():
    with pytest.raises(LedgerError, match="not a UUID"):
        recovery_point_row(dump_result(), "awx-1234", "before")
    assert is_uuid(RUN) and is_uuid(RUN.upper()) and not is_uuid("run-1") and not is_uuid("")


def test_the_table_sits_beside_the_ledger_and_fits_postgresql_names():
    assert recovery_point_table("migration_log") == "migration_log_recovery_point"
    assert recovery_point_table("l" * 48) == "l" * 48 + "_recovery_point"  # exactly 63 bytes
    with pytest.raises(LedgerError, match="longer than PostgreSQL's 63 bytes"):
        recovery_point_table("l" * 49)


@pytest.mark.parametrize("params, wanted", [
    ({}, False),
    ({"run_id": RUN}, True),
    ({"run_id": RUN, "record_recovery_point": False}, False),
    ({"record_recovery_point": True}, True),
])
def test_recording_defaults_to_when_a_run_id_is_given(params, wanted):
    assert wants_recovery_point(params) is wanted


@pytest.mark.parametrize("params, message", [
    ({"record_recovery_point": True, "ledger_table": "migration_log"}, "needs run_id"),
    ({"run_id": "run-7", "ledger_table": "migration_log"}, "not a UUID"),
    ({"run_id": RUN, "ledger_table": "x" * 60}, "longer than"),
])
def test_recovery_point_options_are_checked_before_the_backup(params, message):
    with pytest.raises(BackupError, match=message):
        check_recovery_point_options(params)


def test_options_without_a_recovery_point_pass():
    check_recovery_point_options({"run_id": "run-7", "record_recovery_point": False, "ledger_table": "x" * 60})
    check_recovery_point_options({"run_id": RUN, "ledger_table": "migration_log"})
