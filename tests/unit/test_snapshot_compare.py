# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of the snapshot: the classification of rows, the percentage, a table's verdict, the file's name,
the columns left out, and the file's shape."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._snapshot import (
    FORMAT,
    SnapshotError,
    excluded,
    read,
    snapshot_path,
    write,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._snapshot_compare import (
    classify,
    preserved_percent,
    table_verdict,
    unread_rows_reason,
)


def test_every_row_is_classed_once():
    snapshot = {"1": "a", "2": "b", "3": "c", "4": "d", "5": "e"}
    now = [("1", "a"), ("2", "B", False), ("3", "C", True), ("5", "e", True), ("9", "z")]
    found = classify(snapshot, now)
    assert found["counts"] == {"unchanged": 2, "changed": 1, "changed_by_application": 1, "missing": 1, "added": 1}
    assert found["differences"] == [("2", "changed"), ("3", "changed_by_application"), ("4", "missing")]
    assert snapshot == {"4": "d"}  # consumed: what is left is what is missing


def test_an_unchanged_row_newer_than_the_snapshot_is_still_unchanged():
    assert classify({"1": "a"}, [("1", "a", True)])["counts"]["unchanged"] == 1


def test_a_row_not_hashed_again_is_unchanged_and_only_hashed_rows_are_counted():
    found = classify({"1": "a", "2": "b", "3": "c"}, [("1", None), ("2", "x"), ("4", "d")])
    assert found["counts"] == {"unchanged": 1, "changed": 1, "changed_by_application": 0, "missing": 1, "added": 1}
    assert found["rehashed"] == 2 and found["differences"] == [("2", "changed"), ("3", "missing")]


HORIZON = {"xmin": 5000, "xid": 5000, "xmax": 5003, "database_oid": 16385, "server_started": "2026-12-01 10:00:00+00"}


@pytest.mark.parametrize("now, reason", [
    ({}, ""),
    ({"xmax": 9000}, ""),
    ({"database_oid": 16999}, "another OID"),
    ({"server_started": "2026-12-01 11:00:00+00"}, "server restarted"),
    ({"xmax": 4000}, "transaction counter"),
    ({"xmax": 5000 + 2 ** 30}, "transaction counter"),
])
def test_rows_older_than_the_snapshot_are_taken_as_read_only_in_the_same_database_and_server_lifetime(now, reason):
    found = unread_rows_reason(dict(HORIZON, **now), {"horizon": HORIZON})
    assert (reason in found) if reason else found == ""


def test_a_snapshot_without_its_horizon_is_hashed_again_in_full():
    assert unread_rows_reason(HORIZON, {}) == "the snapshot records no horizon"
    assert unread_rows_reason(HORIZON, {"horizon": {"xmin": "5000"}}) == "the snapshot records no horizon"


def test_differences_are_cut_but_counted():
    snapshot = {str(i): "x" for i in range(100)}
    found = classify(snapshot, [(str(i), "y") for i in range(50)], keep=10)
    assert found["counts"]["changed"] == 50 and found["counts"]["missing"] == 50
    assert len(found["differences"]) == 10 and {s for _k, s in found["differences"]} == {"changed"}


@pytest.mark.parametrize("unchanged, total, percent", [
    (2000, 2000, 100.0), (1999, 2000, 99.95), (999999, 1000000, 99.99), (0, 10, 0.0), (0, 0, 100.0),
    (2, 3, 66.66)])
def test_the_percentage_is_rounded_down_so_a_loss_never_reads_100(unchanged, total, percent):
    assert preserved_percent(unchanged, total) == percent


def test_a_table_fails_on_a_missing_or_changed_row_and_warns_on_the_applications_changes():
    base = {"unchanged": 9, "changed": 0, "changed_by_application": 0, "missing": 0, "added": 2}
    assert table_verdict("public.t", 9, base, [])["status"] == "pass"
    app = dict(base, unchanged=8, changed_by_application=1)
    verdict = table_verdict("public.t", 9, app, [("7", "changed_by_application")])
    assert verdict["status"] == "warn" and "1 changed by application (key 7)" in verdict["message"]
    lost = dict(base, unchanged=8, missing=1)
    verdict = table_verdict("public.t", 9, lost, [("3", "missing")])
    assert verdict["status"] == "fail"
    assert verdict["message"] == ("snapshot public.t: 8 of 9 rows unchanged (88.88%); 1 missing (key 3); "
                                  "2 added since the snapshot (not a loss)")


def test_the_snapshot_file_is_named_by_the_run_id_and_nothing_else(tmp_path):
    run = "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11"
    assert snapshot_path(str(tmp_path), run) == str(tmp_path / (run + ".snapshot.json"))
    assert snapshot_path(str(tmp_path), "pre-004.a") == str(tmp_path / "pre-004.a.snapshot.json")
    for bad in ("", "../x", "a/b", ".hidden", "a..b"):
        with pytest.raises(SnapshotError):
            snapshot_path(str(tmp_path), bad)


def test_excluded_columns_name_their_table():
    assert excluded("ai_memories", ["ai_memories.access_count", "public.ai_memories.last_accessed_at",
                                    "documents.title", "bare"]) == {"access_count", "last_accessed_at"}


def test_a_written_snapshot_is_private_and_reads_back(tmp_path):
    path = str(tmp_path / "r.snapshot.json")
    table = {"columns": [{"name": "id", "type": "bigint"}], "primary_key": ["id"], "rows": 1, "hashes": {"1": "ab"}}
    document = {"format": FORMAT, "tables": {"public.t": table}}
    size = write(path, document)
    assert size == os.path.getsize(path) and os.stat(path).st_mode & 0o777 == 0o600
    assert read(path) == document
    assert os.listdir(tmp_path) == ["r.snapshot.json"]


def test_a_damaged_or_foreign_snapshot_is_refused(tmp_path):
    path = tmp_path / "s.snapshot.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SnapshotError, match="cannot be read"):
        read(str(path))
    path.write_text(json.dumps({"format": "other", "tables": {}}), encoding="utf-8")
    with pytest.raises(SnapshotError, match="not a snapshot of this collection"):
        read(str(path))
    path.write_text(json.dumps({"format": FORMAT, "tables": {"public.t": {"rows": "many"}}}), encoding="utf-8")
    with pytest.raises(SnapshotError, match="damaged"):
        read(str(path))
    link = tmp_path / "link.snapshot.json"
    link.symlink_to(path)
    with pytest.raises(SnapshotError, match="symbolic link"):
        read(str(link))
    with pytest.raises(SnapshotError, match="symbolic link"):
        write(str(link), {"format": FORMAT, "tables": {}})
