# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration_report against a real PostgreSQL 15: the snapshot before a run, then pg_migrate, then the Migration Log
of the run, whose every figure must come from the run (the counts are the tables' real counts, the size is the
database's, the versions are the ledger's), with no placeholder; a failed run reported as FAILED; check mode writing
nothing; the table beside the ledger only where the ledger has history; bad input refused with nothing written."""

from __future__ import annotations

import json
import os
import re
import stat
import uuid

import pytest

from support.modules import failed, migrate, ok, run_module

pytestmark = pytest.mark.legacy_chunks(300)

COUNTED = ("ai_memories", "documents", "chunks")
PLACEHOLDER = re.compile(r"XXX|YYYY|\[Name|TODO|TBD|\?\?|\bNone\b|\bnull\b|\[[A-Z][a-z]+/[A-Z]")
HEADINGS = ("**Migration Date:**", "**Migration Version:**", "**Environment:**", "**Executed By:**",
            "## Pre-Migration Status", "## Migration Results", "## Post-Migration Status", "## Rollback Status",
            "## Next Steps")
REPORT_TABLE = "migration_log_report"


def report(db, dest, run_id, check_mode=False, **options):
    return run_module("migration_report", dict(db.params, dest=str(dest), run_id=run_id, **options),
                      check_mode=check_mode)


def real_counts(db):
    return {t: int(db.sql("SELECT count(*) FROM %s" % t)) for t in COUNTED}


def stored(db, run_id):
    if db.sql("SELECT to_regclass('%s') IS NULL" % REPORT_TABLE) == "t":
        return []
    return json.loads(db.sql("SELECT coalesce(json_agg(r), '[]') FROM %s r WHERE run_id = '%s'"
                             % (REPORT_TABLE, run_id)))


def private_file(path):
    return os.path.isfile(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def assert_no_placeholder(text):
    found = PLACEHOLDER.findall(text)
    assert not found, "placeholder-looking tokens %s in:\n%s" % (found, text)


@pytest.fixture
def run(legacy_db, tmp_path):
    """A run as migrate.yml makes it: the snapshot before, then 004-006 under one run id; rows are written after."""
    run_id = str(uuid.uuid4())
    dest = tmp_path / "reports"
    before = real_counts(legacy_db)
    snap = ok(report(legacy_db, dest, run_id, snapshot="before"))
    schema = ok(migrate(legacy_db, baseline_version="003", target_version="004", run_id=run_id))
    data = ok(migrate(legacy_db, run_id=run_id))
    legacy_db.sql("INSERT INTO documents (source_id, title) SELECT (SELECT min(id) FROM sources), 'after ' || g "
                  "FROM generate_series(1, 7) g")
    return {"db": legacy_db, "run_id": run_id, "dest": dest, "snapshot": snap, "before": before,
            "phases": [{"phase": "schema", "result": schema}, {"phase": "data", "result": data}]}


def test_the_snapshot_records_the_real_figures_before_the_run(run):
    snap, db = run["snapshot"], run["db"]
    path = run["dest"] / ("%s.before.json" % run["run_id"])
    assert snap["changed"] and snap["paths"]["snapshot"] == str(path) and private_file(path)
    assert stat.S_IMODE(os.stat(run["dest"]).st_mode) == 0o700
    on_disk = json.loads(path.read_text())
    assert on_disk == snap["snapshot"] and on_disk["record_counts"] == run["before"]
    assert on_disk["run_id"] == run["run_id"] and "public.rag_configurations" not in on_disk["tables"]
    assert "public.chunks" in on_disk["tables"] and on_disk["database"] == db.name


def test_the_report_fills_every_figure_from_the_run(run):
    db, run_id, dest = run["db"], run["run_id"], run["dest"]
    probe_figures = {"samples": 20, "errors": 0, "min_ms": 1.0, "p50_ms": 2.0, "p95_ms": 3.0, "max_ms": 4.0,
                     "mean_ms": 2.5}
    after = dict(probe_figures, p50_ms=2.5, mean_ms=3.0)
    facts = {"environment": "staging", "phases": run["phases"],
             "probe": {"before": {"figures": probe_figures}, "after": {"figures": after}},
             "validation": {"ok": True, "counts": {"checks": 12}, "data_preserved_percent": 100}}
    result = ok(report(db, dest, run_id, host="kh-staging", facts=facts))
    md, data = result["markdown"], result["json"]
    assert result["verdict"] == "SUCCESS" and data["verdict"] == "SUCCESS"

    # files and row
    assert private_file(result["paths"]["markdown"]) and private_file(result["paths"]["json"])
    assert open(result["paths"]["markdown"], encoding="utf-8").read() == md
    assert json.load(open(result["paths"]["json"], encoding="utf-8")) == data
    rows = stored(db, run_id)
    assert len(rows) == 1 and rows[0]["verdict"] == "SUCCESS" and rows[0]["markdown"] == md
    assert rows[0]["report"]["post_migration"]["record_counts"] == data["post_migration"]["record_counts"]

    # measured, not copied
    now = real_counts(db)
    assert data["post_migration"]["record_counts"] == now and now["documents"] == run["before"]["documents"] + 7
    assert data["pre_migration"]["record_counts"] == run["before"]
    size = int(db.sql("SELECT pg_database_size(current_database())"))
    assert abs(data["post_migration"]["database_size_bytes"] - size) < 2 * 1024 * 1024
    ledger = [r for r in db.ledger() if r["run_id"] == run_id]
    assert data["migration"]["applied"] == ["%s_%s" % (r["version"], r["name"]) for r in ledger
                                            if r["status"] == "applied"]
    assert data["migration"]["applied"][:2] == ["004_hybrid_rag_schema", "005_data_migration"]
    assert data["migration"]["executed_by"] == ledger[0]["executed_by"]
    new = set(data["post_migration"]["new_tables"])
    assert "public.rag_configurations" in new and REPORT_TABLE not in " ".join(new)
    assert data["post_migration"]["new_table_count"] == len(new)
    assert data["post_migration"]["data_preserved_percent"] == 100.0
    assert data["post_migration"]["performance_impact_percent"] == {"p50": 25.0, "mean": 20.0}
    assert [p["status"] for p in data["results"]["phases"]] == ["SUCCESS", "SUCCESS"]

    # the Markdown says it
    for heading in HEADINGS:
        assert heading in md
    assert "004_hybrid_rag_schema + 005_data_migration + 006_harden_rollback_functions" in md
    assert "Record Counts: ai_memories ({:,}), documents ({:,}), chunks ({:,})".format(
        now["ai_memories"], now["documents"], now["chunks"]) in md
    assert "Schema Migration: SUCCESS" in md and "Data Migration: SUCCESS" in md and "Validation: SUCCESS" in md
    assert "Performance Impact: +20.0% (mean), +25.0% (p50)" in md and "Rollback Status\n\nNot Required" in md
    assert "Environment:** staging (host kh-staging" in md
    assert_no_placeholder(md)
    assert not [k for k in data["absent"] if not k.startswith(("post_migration.monitor", "pre_migration.response"))]

    # stats: small, for set_stats
    assert result["stats"]["verdict"] == "SUCCESS" and result["stats"]["run_id"] == run_id
    assert result["stats"]["report"] == result["paths"] and len(json.dumps(result["stats"])) < 2048


def test_what_is_absent_says_why(run):
    """No probe, no validation, no environment: plain reasons, never a placeholder."""
    db, run_id, dest = run["db"], run["run_id"], run["dest"]
    result = ok(report(db, dest, run_id))
    md, data = result["markdown"], result["json"]
    assert "Performance Baseline: not measured: no probe configured" in md
    assert "Performance Impact: not measured: no probe configured" in md
    assert "Validation: not run: no validation result in facts.validation" in md
    assert "Environment:** not given: facts.environment is empty" in md
    assert data["pre_migration"]["response_time"] is None and "pre_migration.response_time" in data["absent"]
    assert data["pre_migration"]["record_counts"] == run["before"]  # the snapshot file is found by run id
    assert_no_placeholder(md)


def test_without_a_snapshot_the_before_figures_are_not_measured(legacy_db, tmp_path):
    run_id = str(uuid.uuid4())
    ok(migrate(legacy_db, baseline_version="003", run_id=run_id))
    result = ok(report(legacy_db, tmp_path / "r", run_id))
    md = result["markdown"]
    assert "Pre-Migration Status\n\n- Database Size: not measured: no snapshot was taken before the run" in md
    assert "New Table Count: not measured: no snapshot" in md and "Data Preserved: not measured" in md
    assert result["json"]["post_migration"]["record_counts"] == real_counts(legacy_db)
    assert_no_placeholder(md)


def test_a_failed_run_is_reported_as_failed_with_its_message(legacy_db, migrations_copy, tmp_path):
    run_id = str(uuid.uuid4())
    dest = tmp_path / "reports"
    ok(report(legacy_db, dest, run_id, snapshot="before"))
    (migrations_copy / "005_data_migration.sql").write_text("SELECT 1/0;\n")
    ok(migrate(legacy_db, baseline_version="003", target_version="004", migrations_dir=migrations_copy,
               run_id=run_id))
    broken = migrate(legacy_db, migrations_dir=migrations_copy, run_id=run_id)
    message = failed(broken)
    facts = {"failure": {"task": "Apply pending migrations under the ledger, phase data", "msg": message,
                         "file": broken["failure"]["file"], "statement": broken["failure"]["statement"]}}
    result = ok(report(legacy_db, dest, run_id, facts=facts))
    md, data = result["markdown"], result["json"]
    assert result["verdict"] == "FAILED" and stored(legacy_db, run_id)[0]["verdict"] == "FAILED"
    assert "**Result:** FAILED" in md and "Data Migration: FAILED" in md and message.splitlines()[0] in md
    assert "005_data_migration (failed)" in md and "division by zero" in md
    assert data["rollback"]["status"] == "Not Applied" and "recover.yml -e recover_run_id=%s" % run_id in md
    assert data["post_migration"]["record_counts"] == real_counts(legacy_db)
    assert_no_placeholder(md)


def test_check_mode_returns_the_report_and_writes_nothing(run):
    db, run_id, dest = run["db"], run["run_id"], run["dest"]
    before = sorted(os.listdir(dest))
    result = ok(report(db, dest, run_id, check_mode=True, facts={"environment": "staging"}))
    assert "## Post-Migration Status" in result["markdown"] and "CHECK MODE" in result["markdown"]
    assert sorted(os.listdir(dest)) == before and result["stored"] is None
    assert db.sql("SELECT to_regclass('%s') IS NULL" % REPORT_TABLE) == "t"
    fresh = dest.parent / "fresh"
    snap = ok(report(db, fresh, run_id, check_mode=True, snapshot="before"))
    assert snap["snapshot"]["record_counts"] == real_counts(db) and not fresh.exists()


def test_a_second_report_of_the_run_replaces_the_first(run):
    db, run_id, dest = run["db"], run["run_id"], run["dest"]
    first = ok(report(db, dest, run_id, facts={"environment": "staging"}))
    second = ok(report(db, dest, run_id, facts={"environment": "production"}))
    assert not first["stored"]["replaced"] and second["stored"]["replaced"]
    rows = stored(db, run_id)
    assert len(rows) == 1 and rows[0]["environment"] == "production"


def test_no_table_is_made_where_the_ledger_has_no_history(db, tmp_path):
    """An empty database with a report table would look used to pg_migrate (and be baselined)."""
    run_id = str(uuid.uuid4())
    result = ok(report(db, tmp_path / "r", run_id, facts={"failure": {"msg": "lint refused 004"}}))
    assert result["stored"] is None and "has no history" in result["stored_note"]
    assert db.tables() == [] and result["verdict"] == "FAILED" and private_file(result["paths"]["markdown"])
    assert ok(migrate(db))["applied"][0]["version"] == "001"  # still an empty database to pg_migrate


def test_a_table_of_that_name_that_is_not_the_tools_is_refused(run):
    db, run_id, dest = run["db"], run["run_id"], run["dest"]
    db.sql("CREATE TABLE %s (id int)" % REPORT_TABLE)
    message = failed(report(db, dest, run_id))
    assert "is not this tool's report table" in message and not os.path.exists(dest / ("%s.md" % run_id))


BAD = [
    (dict(run_id="not-a-uuid"), "is not a UUID"),
    (dict(count_tables=["chunks; DROP TABLE chunks"]), "is not a plain table name"),
    (dict(ledger_table="l" * 60), "longer than PostgreSQL's 63 bytes"),
]


@pytest.mark.parametrize("options,words", BAD, ids=[w for _o, w in BAD])
def test_bad_input_is_refused_and_nothing_is_written(legacy_db, tmp_path, options, words):
    options = dict(dict(run_id=str(uuid.uuid4())), **options)
    message = failed(run_module("migration_report", dict(legacy_db.params, dest=str(tmp_path / "r"), **options)))
    assert words in message and "Traceback" not in message and not (tmp_path / "r").exists()
    assert legacy_db.sql("SELECT count(*) FROM chunks") != "0"


def test_a_dest_that_is_a_link_is_refused(legacy_db, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "link")
    message = failed(report(legacy_db, tmp_path / "link", str(uuid.uuid4())))
    assert "symbolic link" in message and os.listdir(tmp_path / "elsewhere") == []
