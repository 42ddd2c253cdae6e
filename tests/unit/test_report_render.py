# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log built and rendered from facts alone (no database): the template's headings, every absent figure
with its reason and no placeholder, the facts as the other modules give them (tolerating what is missing), the verdict,
and the set_stats summary staying small."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_build import _phases, build
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_facts import (
    failure_of,
    monitor_of,
    num,
    phase_of,
    preserved_percent,
    summary_of,
    when,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_render import cell, markdown, seconds, stats

RUN = "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11"
PLACEHOLDER = re.compile(r"XXX|YYYY|\[Name|TODO|TBD|\?\?|\bNone\b|\bnull\b|\[[A-Z][a-z]+/[A-Z]")
HEADINGS = ("**Migration Date:**", "**Migration Version:**", "**Environment:**", "**Executed By:**",
            "## Pre-Migration Status", "## Migration Results", "## Post-Migration Status", "## Rollback Status",
            "## Next Steps")
CONTEXT = {"host": "kh-01", "generated_at": "2026-11-24T21:40:00+00:00", "check_mode": False,
           "before_source": "/r/x.before.json", "own_tables": ["public.migration_log"]}


def ledger_row(version, name, status="applied", duration=800, started="2026-11-24T21:33:00+00:00",
               completed="2026-11-24T21:33:01+00:00"):
    return {"run_id": RUN, "version": version, "name": name, "status": status, "duration_ms": duration,
            "executed_by": "alice", "job_id": "4711", "started_at": started, "completed_at": completed}


def measured(**changes):
    base = {"measured_at": "2026-11-24T21:40:00+00:00", "database": "knowledgehub", "database_size_bytes": 60 * 2 ** 20,
            "record_counts": {"ai_memories": 1000, "documents": 100, "chunks": 2000},
            "tables": ["public.ai_memories", "public.chunks", "public.documents", "public.rag_configurations"],
            "ledger": [ledger_row("004", "hybrid_rag_schema"),
                       ledger_row("005", "data_migration", completed="2026-11-24T21:35:12+00:00")],
            "recovery_points": [{"id": 7, "purpose": "before", "backup_id": "kh_1", "kind": "dump",
                                 "size_bytes": 2 ** 20, "location": "/b/kh_1.dump",
                                 "created_at": "2026-11-24T21:32:00+00:00", "removed_at": None}]}
    base.update(changes)
    return base


BEFORE = {"measured_at": "2026-11-24T21:32:00+00:00", "database_size_bytes": 50 * 2 ** 20,
          "record_counts": {"chunks": 2000, "ai_memories": 1000, "documents": 100},
          "tables": ["public.ai_memories", "public.chunks", "public.documents"]}
PROBE = {"figures": {"samples": 20, "errors": 0, "min_ms": 1.0, "p50_ms": 2.0, "p95_ms": 3.0, "max_ms": 4.0,
                     "mean_ms": 2.0}, "probe": "GET http://127.0.0.1:8080/health"}


def render(facts, before="default", **changes):
    report = build(RUN, facts, measured(**changes), BEFORE if before == "default" else before, CONTEXT)
    return report, markdown(report)


def test_a_complete_run_fills_the_template():
    facts = {"environment": "production", "probe": {"before": PROBE, "after": dict(PROBE, impact_percent={
        "p50": 10.0, "mean": -5.0})}, "validation": {"ok": True, "data_preserved_percent": 100},
        "phases": [{"name": "schema", "status": "success", "duration_ms": 800, "versions": ["004_hybrid_rag_schema"]},
                   {"name": "data", "status": "ok", "duration_ms": 131000, "versions": ["005_data_migration"]}],
        "monitor": {"peaks": {"cpu_percent": 63.5, "memory_percent": 71}}}
    report, md = render(facts)
    for heading in HEADINGS:
        assert heading in md
    assert not PLACEHOLDER.findall(md) and report["absent"] == {}
    assert report["verdict"] == "SUCCESS"
    assert "**Migration Version:** 004_hybrid_rag_schema + 005_data_migration" in md
    assert "**Migration Date:** 2026-11-24 (started 2026-11-24 21:33:00 UTC, finished 2026-11-24 21:35:12 UTC)" in md
    assert "**Executed By:** alice (job 4711)" in md and "Total Duration: 2 min 12 s" in md
    assert "Database Size: 50.0 MB" in md and "Database Size: 60.0 MB (+10.0 MB)" in md
    # the order of count_tables, not the snapshot file's
    assert "Record Counts: ai_memories (1,000), documents (100), chunks (2,000)" in md
    assert "Data Migration: SUCCESS (005_data_migration, 2 min 11 s)" in md
    assert "New Table Count: 1 (public.rag_configurations)" in md
    assert "Performance Impact: -5.0% (mean), +10.0% (p50)" in md
    assert "Monitoring Peaks: cpu_percent 63.5, memory_percent 71" in md
    assert "| 7 | before | kh_1 | dump | 1.0 MB | yes | 2026-11-24 21:32:00 UTC |" in md


def test_every_absent_figure_says_why_and_nothing_is_a_placeholder():
    report, md = render({}, before=None, ledger=[], recovery_points=[])
    assert not PLACEHOLDER.findall(md), PLACEHOLDER.findall(md)
    for heading in HEADINGS:
        assert heading in md
    assert report["verdict"] == "NO CHANGE" and "none applied: nothing was pending" in md
    assert set(report["absent"]) == {
        "migration.date", "migration.duration_s", "migration.environment", "migration.executed_by",
        "pre_migration.database_size_bytes", "pre_migration.record_counts", "pre_migration.response_time",
        "post_migration.response_time", "post_migration.new_table_count", "post_migration.data_preserved_percent",
        "post_migration.performance_impact_percent", "post_migration.monitor", "results.validation"}
    for path, reason in report["absent"].items():
        assert reason.startswith(("not measured", "not given", "not recorded", "not run")), path
    assert "Performance Baseline: not measured: no probe configured" in md
    assert "Database Size: not measured: no snapshot was taken before the run" in md
    assert "No recovery point was recorded for this run." in md and "Ledger: no row of this run" in md


def test_a_failure_makes_the_report_failed_with_the_message_and_the_way_back():
    facts = {"failure": {"task": "Apply pending migrations under the ledger, phase data", "msg": "boom: 22012",
                         "file": "005_data_migration.sql", "statement": 3, "line": None},
             "phases": [{"phase": "schema", "result": {"applied": [{"version": "004", "name": "hybrid_rag_schema",
                                                                    "duration_ms": 900}]}}]}
    rows = [ledger_row("004", "hybrid_rag_schema"), ledger_row("005", "data_migration", status="failed")]
    report, md = render(facts, ledger=rows)
    assert report["verdict"] == "FAILED" and "**Result:** FAILED" in md
    phases = [(p["name"], p["status"]) for p in report["results"]["phases"]]
    assert phases == [("schema", "SUCCESS"), ("data", "FAILED")]
    assert "FAILED: boom: 22012 (task: Apply pending migrations under the ledger, phase data); at file " \
           "005_data_migration.sql, statement 3" in md
    assert "004_hybrid_rag_schema + 005_data_migration (failed)" in md
    assert "Not Applied: the database is as the ledger says: 004 applied, 005 failed" in md
    assert "recover.yml -e recover_run_id=%s" % RUN in md and not PLACEHOLDER.findall(md)


def test_a_failure_with_nothing_else_known_still_reports():
    report, md = render({"failure": "lint refused 004"}, before=None, ledger=[], recovery_points=[])
    assert report["verdict"] == "FAILED" and "Migration: FAILED" in md and "lint refused 004" in md
    assert "none applied: the run failed before a migration committed" in md and not PLACEHOLDER.findall(md)


def test_validation_failing_or_a_rollback_shows_in_the_verdict_and_the_status():
    report, md = render({"validation": {"ok": False, "failing": [{"check": "fk", "message": "orphan chunks: 3"}]},
                         "rollback": {"status": "applied", "detail": "recovery point before"}})
    assert report["verdict"] == "FAILED" and "Validation: FAILED" in md
    assert "validation check failed: orphan chunks: 3" in md
    assert "Rollback Status\n\nApplied Successfully: recovery point before" in md
    rows = [ledger_row("004", "hybrid_rag_schema", status="rolled_back")]
    report, md = render({}, ledger=rows)
    assert report["rollback"]["status"] == "Applied Successfully" and "004 rolled back" in md


def test_the_migrate_roles_facts_are_read_as_they_come():
    result = {"applied": [{"version": "005", "name": "data_migration", "duration_ms": "1500"},
                          {"version": "006", "name": "harden_rollback_functions", "duration_ms": 20}]}
    assert phase_of({"phase": "data", "result": result}) == {
        "name": "data", "status": "SUCCESS", "duration_ms": 1520,
        "versions": ["005_data_migration", "006_harden_rollback_functions"]}
    assert phase_of({"phase": "data", "result": {"applied": [], "pending": [{"version": "5", "name": "x"}]}})[
        "status"] == "PLANNED"
    assert phase_of({"phase": "data", "result": {"failed": True, "msg": "x"}})["status"] == "FAILED"
    assert phase_of({"name": "x", "status": "weird"})["status"] == "WEIRD"
    noted = [{"purpose": "after_data", "backup_id": "kh_2", "recovery_point_id": "8", "size_bytes": "2048",
              "verified": True}]
    report, md = render({"recovery_points": noted})
    assert [(p["backup_id"], p["recorded"]) for p in report["recovery_points"]] == [("kh_1", True), ("kh_2", False)]
    assert report["recovery_points"][1]["size_bytes"] == 2048


def test_markdown_tables_hold_hostile_text_in_one_cell():
    assert cell("a|b\nc") == "a\\|b c"
    rows = [ledger_row("004", "x|y\n| 1 | injected |")]
    _report, md = render({}, ledger=rows)
    line = [text for text in md.splitlines() if text.startswith("| 004 ")][0]
    assert line.count(" | ") == 5


@pytest.mark.parametrize("value,expected", [(0.04, "0.0 s"), (59.94, "59.9 s"), (131, "2 min 11 s"),
                                            (3725, "1 h 02 min 05 s")])
def test_durations_read_as_people_write_them(value, expected):
    assert seconds(value) == expected


def test_small_helpers():
    assert num("12") == 12 and num("1.5") == 1.5 and num(True) is None and num("None") is None and num(None) is None
    assert when("2026-11-24T21:33:00Z").isoformat() == "2026-11-24T21:33:00+00:00" and when("yesterday") is None
    assert preserved_percent({"a": 10, "b": 10}, {"a": 10, "b": 9}) == 95.0
    assert preserved_percent({"a": 10}, {"a": 12}) == 100.0 and preserved_percent({"a": 0}, {"a": 0}) == 100.0
    assert preserved_percent({"a": 10}, {"a": None}) is None
    assert failure_of({"failure": {"msg": "x", "task": "Run the phases, phase schema"}})["phase"] == "schema"
    assert failure_of({}) is None


def test_stats_stay_small_whatever_the_run():
    points = [{"id": i, "purpose": "p%d" % i, "backup_id": "kh_%d" % i, "kind": "dump", "size_bytes": 1,
               "location": "/b/" + "x" * 200, "created_at": None, "removed_at": None} for i in range(500)]
    rows = [ledger_row("%03d" % i, "m%d" % i) for i in range(500)]
    report, _md = render({"environment": "staging"}, ledger=rows, recovery_points=points)
    summary = stats(report, {"markdown": "/r/%s.md" % RUN, "json": "/r/%s.json" % RUN})
    assert summary["run_id"] == RUN and summary["host"] == "kh-01" and summary["verdict"] == "SUCCESS"
    assert len(summary["recovery_points"]) == 10 and len(summary["versions_applied"]) == 20
    assert len(json.dumps(summary)) < 4096
    assert len(report["migration"]["ledger"]) == 50 and report["migration"]["ledger_total"] == 500
    assert len(json.dumps(report)) < 100000


def test_monitor_results_of_several_phases_merge_into_the_highest_peaks_and_every_alert():
    schema = {"peaks": {"cpu_percent": 91.5, "lock_wait_s": 0.2}, "warnings": ["cpu 91.5% above 80"], "pauses": 0}
    data = {"peaks": {"cpu_percent": 40.0, "lock_wait_s": 3.5}, "warnings": [], "pauses": 2, "paused_seconds": 7.5,
            "aborted": False}
    merged = monitor_of([schema, {}, data])
    assert merged["peaks"] == {"cpu_percent": 91.5, "lock_wait_s": 3.5, "pauses": 2, "paused_seconds": 7.5}
    assert merged["alerts"] == ["cpu 91.5% above 80"]
    assert monitor_of([]) is None and monitor_of({}) is None
    # a phase without a sample has its peaks as None: nothing measured, nothing printed as a figure
    assert monitor_of([{"peaks": {"cpu_percent": None}, "warnings": []}]) is None
    assert monitor_of([{"peaks": {"cpu_percent": None}}, data])["peaks"]["cpu_percent"] == 40.0
    assert "aborted" in monitor_of({"peaks": {}, "aborted": True})["alerts"][0]


def test_a_failed_gate_is_named_by_its_failing_checks_and_their_messages():
    result = {"ok": False, "failed_checks": ["indexes (004_hybrid_rag_schema.yml)"], "checks": [
        {"name": "indexes (004_hybrid_rag_schema.yml)", "status": "fail",
         "message": "index idx_kg_entities_entity_type (004_hybrid_rag_schema.yml) is missing"},
        {"name": "views (004_hybrid_rag_schema.yml)", "status": "pass", "message": "4 of 4 present"}]}
    assert summary_of(result, "validation")["failing"] == [
        "indexes (004_hybrid_rag_schema.yml): index idx_kg_entities_entity_type (004_hybrid_rag_schema.yml) is missing"]
    assert summary_of({"ok": False, "failed_checks": ["x"]}, "validation")["failing"] == ["x"]


def test_a_failure_after_the_phases_leaves_them_as_they_ran():
    ran = [{"phase": "schema", "result": {"applied": [{"file": "004_x.sql", "duration_ms": 10}]}}]
    after = failure_of({"failure": {"task": "Fail naming the failing checks", "msg": "Validation failed"}})
    assert [p["status"] for p in _phases({"phases": ran}, after)] == ["SUCCESS"]
    during = failure_of({"failure": {"task": "Apply pending migrations under the ledger, phase data", "msg": "x"}})
    assert [(p["name"], p["status"]) for p in _phases({"phases": ran}, during)][-1] == ("data", "FAILED")
    assert [p["name"] for p in _phases({}, after)] == ["migration"]
