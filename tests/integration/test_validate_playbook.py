# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/validate.yml as an operator runs it, on a host without a compose project: the snapshot taken before the
migration, every phase passing after it with 100% of the data preserved, then a dropped index and a deleted row
failing the play with both named; --check prints the same checks and writes no snapshot."""

from __future__ import annotations


import pytest

from support.modules import migrate, ok
from support.playbooks import ansible_playbook, recap, staging_inventory

pytestmark = pytest.mark.legacy_chunks(300)

PLAYBOOK = "playbooks/validate.yml"
RUN = "validate-playbook-test"


@pytest.fixture
def inventory(tmp_path, legacy_db):
    return staging_inventory(tmp_path, legacy_db)


def run(inventory, *args):
    proc = ansible_playbook(inventory, PLAYBOOK, "-l", "staging", *args)
    return proc, " ".join(proc.stdout.split())  # the callback wraps long lines


def test_snapshot_then_validate_every_phase_then_a_failure_is_named(inventory, legacy_db, tmp_path):
    snapshot = tmp_path / "backups" / ("%s.snapshot.json" % RUN)
    planned, out = run(inventory, "--check", "-e", "validate_snapshot=take", "-e", "validate_run_id=%s" % RUN,
                       "-e", "validate_phase=schema")
    assert planned.returncode == 0, out[-3000:]
    assert "Snapshot: would write %s" % snapshot in out and not snapshot.exists()
    proc, out = run(inventory, "-e", "validate_snapshot=take", "-e", "validate_run_id=%s" % RUN,
                    "-e", "validate_phase=schema")
    assert proc.returncode == 0, out[-3000:]
    assert "Snapshot: written %s" % snapshot in out and snapshot.exists()
    assert "WARN ledger" in out and recap(proc.stdout)["changed"] == 1

    ok(migrate(legacy_db, baseline_version="003"))
    for phase in ("schema", "data"):
        proc, out = run(inventory, "-e", "validate_phase=%s" % phase)
        assert proc.returncode == 0, out[-3000:]
        assert "0 failed; versions 001, 002, 003, 004, 005, 006; new tables: 19." in out
    proc, out = run(inventory, "-e", "validate_snapshot=compare", "-e", "validate_run_id=%s" % RUN)
    assert proc.returncode == 0, out[-3000:]
    assert "PASS tables (004_hybrid_rag_schema.yml)" in out and "PASS orphaned_rows" in out
    assert "Data preserved: 100.0% of" in out and recap(proc.stdout)["changed"] == 0

    memory = legacy_db.sql("SELECT id FROM ai_memories ORDER BY id LIMIT 1")
    legacy_db.sql("DELETE FROM ai_memories WHERE id = '%s'; DROP INDEX idx_kg_entities_entity_type" % memory)
    for extra in ((), ("--check",)):
        proc, out = run(inventory, "-e", "validate_snapshot=compare", "-e", "validate_run_id=%s" % RUN, *extra)
        assert proc.returncode != 0 and recap(proc.stdout)["failed"] == 1
        assert "Validation failed (phase all): indexes (004_hybrid_rag_schema.yml), snapshot public.ai_memories" \
            in out
        assert "index idx_kg_entities_entity_type (004_hybrid_rag_schema.yml) is missing" in out
        assert "1 missing (key %s)" % memory in out and "Data preserved: 99." in out
    assert "FAIL indexes (004_hybrid_rag_schema.yml) 32 of 33 present (33 indexes)" in out
    # fail_on never: the play passes, the result says it
    proc, out = run(inventory, "-e", "validate_fail_on=never")
    assert proc.returncode == 0 and "1 failed" in out


def test_a_broken_expectation_file_is_refused_on_the_controller_naming_it(inventory, legacy_db, tmp_path):
    ok(migrate(legacy_db, baseline_version="003"))
    source = tmp_path / "expectations"
    source.mkdir()
    (source / "004_hybrid_rag_schema.yml").write_text("tables: [kg_entities\n", encoding="utf-8")
    proc, out = run(inventory, "-e", "validate_expectations_src=%s" % source)
    assert proc.returncode != 0 and recap(proc.stdout)["failed"] == 1
    assert "Expectation file %s is not valid YAML" % (source / "004_hybrid_rag_schema.yml") in out, out[-3000:]
    assert "(expectations_source, on the controller). Nothing was checked." in out
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_project_without_expectation_files_gets_the_generic_checks_and_a_warning(inventory, legacy_db, tmp_path):
    ok(migrate(legacy_db, baseline_version="003"))
    proc, out = run(inventory, "-e", "validate_expectations_src=%s" % (tmp_path / "no-expectations"))
    assert proc.returncode == 0, out[-3000:]
    assert "WARN expectations" in out and "generic checks only" in out
    assert "no expectations directory %s on the controller" % (tmp_path / "no-expectations") in out
    assert "PASS orphaned_rows" in out and "(004_hybrid_rag_schema.yml)" not in out
