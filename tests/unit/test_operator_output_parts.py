# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts behind the operator's output (issue 12): the plan's lock table, and which backups retention keeps
whatever keep_last says."""

from __future__ import annotations

from ansible_collections.knowledgehub.migration.plugins.module_utils._details import lock_table
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import protected


def _stmt(number, *locks):
    return {"number": number, "line": number * 10, "summary": "statement %d" % number,
            "locks": [{"relation": r, "mode": m, "created_in_file": c} for r, m, c in locks]}


def test_the_lock_table_has_the_strongest_lock_per_table_and_the_first_statement_taking_it():
    per_file = {"004.sql": {"statements": [
        _stmt(1, ("chunks", "SHARE ROW EXCLUSIVE", False)),
        _stmt(2, ("chunks", "ACCESS EXCLUSIVE", False), ("new_table", "ACCESS EXCLUSIVE", True)),
        _stmt(3, ("chunks", "ACCESS EXCLUSIVE", False), ("documents", "ACCESS SHARE", False)),
        _stmt(4, ("*", "unknown", False)),
        _stmt(5, ("*", "unknown", False)),
    ]}}
    table = lock_table(per_file)
    assert [(r["relation"], r["mode"], r["statement"]) for r in table["rows"]] == [
        ("chunks", "ACCESS EXCLUSIVE", 2), ("documents", "ACCESS SHARE", 3), ("*", "unknown", 4)]
    assert table["rows"][-1]["summary"].endswith("statements 4, 5")
    assert (table["rows_total"], table["rows_left_out"]) == (3, 0)
    many = {"f.sql": {"statements": [_stmt(n, ("t%03d" % n, "ACCESS SHARE", False)) for n in range(1, 80)]}}
    short = lock_table(many)
    assert len(short["rows"]) == 50 and short["rows_total"] == 79 and short["rows_left_out"] == 29


def _manifest(backup_id, run_id=None, purpose=None, scope="full"):
    return ("/b/%s.manifest.json" % backup_id, {"backup_id": backup_id, "run_id": run_id, "purpose": purpose,
                                                "scope": scope})


def test_retention_keeps_the_current_runs_points_and_the_one_a_recover_of_the_ledgers_last_run_needs():
    rows = [_manifest("r2_after", "r2", "after_data"), _manifest("r2_before", "r2", "before"),
            _manifest("r1_after", "r1", "after_data"), _manifest("r1_schema", "r1", "after_schema", "schema-only"),
            _manifest("r1_before", "r1", "before"), _manifest("plain")]
    new = {"run_id": "r2", "ledger": {"latest_run_id": "r1"}}
    kept = protected(rows, new)
    assert sorted(kept) == ["r1_before", "r2_after", "r2_before"]
    assert "current run r2" in kept["r2_before"] and "recover of run r1" in kept["r1_before"]
    # the ledger's last run is the current one: the older run's points are no one's to keep
    assert sorted(protected(rows, {"run_id": "r2", "ledger": {"latest_run_id": "r2"}})) == ["r2_after", "r2_before"]
    # a run without a full "before" point: its newest full point (a schema-only one restores no rows)
    without_before = [r for r in rows if r[1]["backup_id"] != "r1_before"]
    assert sorted(protected(without_before, {"ledger": {"latest_run_id": "r1"}})) == ["r1_after"]
    assert protected(rows, None) == {} and protected(rows, {"ledger": None}) == {}
