# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report role in a play (tests/integration/playbooks/report_run.yml): the snapshot before the run, pg_migrate's
phases on a real PostgreSQL 15, pg_probe before and after, then the Migration Log. The Markdown and the JSON must be on
the controller (0600), the row in the database, every figure from the run (no placeholder; the counts are the real
tables'), the summary in the play's stats; a failed run must give a report saying FAILED with the message."""

from __future__ import annotations

import json
import os
import re
import stat
import uuid

import pytest

from support.paths import MIGRATIONS
from support.playbooks import ansible_playbook, staging_inventory

pytestmark = pytest.mark.legacy_chunks(300)

PLAYBOOK = "tests/integration/playbooks/report_run.yml"
PLACEHOLDER = re.compile(r"XXX|YYYY|\[Name|TODO|TBD|\?\?|\bNone\b|\bnull\b|\[[A-Z][a-z]+/[A-Z]")
COUNTED = ("ai_memories", "documents", "chunks")


@pytest.fixture
def inventory(tmp_path, legacy_db):
    return staging_inventory(tmp_path, legacy_db, backups=False)


def play(inventory, tmp_path, migrations, monkeypatch, *args):
    monkeypatch.setenv("ANSIBLE_SHOW_CUSTOM_STATS", "1")
    monkeypatch.setenv("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")  # the stats line as JSON
    run_id = str(uuid.uuid4())
    extra = {"run_migrations_dir": str(migrations), "report_run_id": run_id,
             "report_host_dir": str(tmp_path / "host-reports"), "report_dir": str(tmp_path / "controller")}
    proc = ansible_playbook(inventory, PLAYBOOK, "-l", "staging", "-e", json.dumps(extra), *args)
    return proc, run_id, tmp_path / "controller" / "kh-staging"


def copies(controller, run_id):
    md, js = controller / ("%s.md" % run_id), controller / ("%s.json" % run_id)
    for path in (md, js):
        assert path.is_file() and stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(controller).st_mode) == 0o700
    return md.read_text(encoding="utf-8"), json.loads(js.read_text(encoding="utf-8"))


def row(db, run_id):
    return json.loads(db.sql("SELECT coalesce(json_agg(r), '[]') FROM migration_log_report r WHERE run_id = '%s'"
                             % run_id))


def custom_stats(output):
    match = re.search(r"CUSTOM STATS: \*+\s*\n\s*RUN: (\{.*\})", output)
    assert match, "no custom stats in:\n%s" % output[-3000:]
    return json.loads(match.group(1))


def test_a_run_and_its_report_on_the_controller_in_the_database_and_the_stats(inventory, legacy_db, tmp_path,
                                                                              monkeypatch):
    proc, run_id, controller = play(inventory, tmp_path, MIGRATIONS, monkeypatch)
    assert proc.returncode == 0, proc.stdout[-4000:]
    md, data = copies(controller, run_id)
    assert not PLACEHOLDER.findall(md), PLACEHOLDER.findall(md)
    # the copies are the host's files, byte for byte (the HTML page too)
    for suffix in (".md", ".json", ".html"):
        name = run_id + suffix
        assert (controller / name).read_bytes() == (tmp_path / "host-reports" / name).read_bytes(), name

    counts = {t: int(legacy_db.sql("SELECT count(*) FROM %s" % t)) for t in COUNTED}
    assert data["post_migration"]["record_counts"] == counts == data["pre_migration"]["record_counts"]
    assert "Record Counts: ai_memories ({:,}), documents ({:,}), chunks ({:,})".format(*counts.values()) in md
    assert data["verdict"] == "SUCCESS" and "**Result:** SUCCESS" in md
    assert "Schema Migration: SUCCESS (004_hybrid_rag_schema" in md
    assert "Data Migration: SUCCESS (005_data_migration, 006_harden_rollback_functions" in md
    assert data["migration"]["environment"] == "staging" and data["migration"]["host"] == "kh-staging"
    assert re.search(r"Performance Baseline: Avg response time \d+\.\d{3} ms", md)
    assert re.search(r"Performance Impact: [+-]\d+\.\d% \(mean\), [+-]\d+\.\d% \(p50\)", md)
    assert data["post_migration"]["performance_impact_percent"] is not None

    stored = row(legacy_db, run_id)
    assert len(stored) == 1 and stored[0]["verdict"] == "SUCCESS" and stored[0]["markdown"] == md
    assert stored[0]["host"] == "kh-staging" and stored[0]["environment"] == "staging"

    stats = custom_stats(proc.stdout)["knowledgehub_migration_reports"]["kh-staging"]
    assert stats["run_id"] == run_id and stats["verdict"] == "SUCCESS"
    assert stats["versions_applied"] == ["004_hybrid_rag_schema", "005_data_migration",
                                         "006_harden_rollback_functions"]
    assert stats["controller_copy"] == str(controller) and stats["report"]["markdown"].endswith(run_id + ".md")
    assert "## Post-Migration Status" in proc.stdout  # printed
    assert legacy_db.pg.app_password not in proc.stdout + proc.stderr


def test_a_failed_run_gets_a_report_saying_failed_with_the_message(inventory, legacy_db, tmp_path, monkeypatch,
                                                                   migrations_copy):
    (migrations_copy / "005_data_migration.sql").write_text("SELECT 1/0;\n")
    proc, run_id, controller = play(inventory, tmp_path, migrations_copy, monkeypatch)
    assert proc.returncode == 0, proc.stdout[-4000:]  # the play caught the failure and reported it
    md, data = copies(controller, run_id)
    assert not PLACEHOLDER.findall(md), PLACEHOLDER.findall(md)
    assert data["verdict"] == "FAILED" and "**Result:** FAILED" in md
    assert "division by zero" in data["failure"]["message"] and data["failure"]["message"] in md
    assert "Data Migration: FAILED" in md and "Schema Migration: SUCCESS" in md
    assert "Rollback Status\n\nNot Applied" in md
    assert row(legacy_db, run_id)[0]["verdict"] == "FAILED"
    assert custom_stats(proc.stdout)["knowledgehub_migration_reports"]["kh-staging"]["verdict"] == "FAILED"


def test_check_mode_prints_the_report_and_writes_nothing(inventory, legacy_db, tmp_path, monkeypatch):
    proc, _run_id, controller = play(inventory, tmp_path, MIGRATIONS, monkeypatch, "--check")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "CHECK MODE: this report was computed and not written" in proc.stdout
    assert not controller.exists() and not (tmp_path / "host-reports").exists()
    assert legacy_db.sql("SELECT to_regclass('migration_log_report') IS NULL") == "t"
