# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml as an operator runs it: the checklist printed, a failed check failing the play with
what to fix, and nothing written either way (the staging directory included)."""

from __future__ import annotations

import glob
import os
import re
import tempfile

import pytest

from support.playbooks import ansible_playbook, recap, staging_inventory, task_outcome

PREFLIGHT_PLAYBOOK = os.path.join("playbooks", "preflight.yml")

# legacy_db: 001-003 applied by hand, sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(200)


@pytest.fixture
def inventory(tmp_path, legacy_db):
    """staging is the test database; production points at a port where nothing listens. The CPU warning level is
    lifted: the load of a shared CI host is not under test."""
    return staging_inventory(tmp_path, legacy_db, production=True, preflight_max_cpu_percent=100000)


def fingerprint(db):
    return {"schema": db.schema_dump(), "ledger": db.ledger(), "rows": db.snapshot()}


def staging_dirs():
    """The private directories the modules unpack the handed-over migration files into (and the role's earlier
    staging directories): none may be left behind."""
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "knowledgehub-preflight-*"))) | \
        set(glob.glob(os.path.join(tempfile.gettempdir(), "knowledgehub-migrations-*")))


def table_line(output, name):
    match = re.search(r"^\s*-? ?'?%s\s+(PASS|WARN|FAIL)\s+(.*?)'?$" % re.escape(name), output, re.MULTILINE)
    assert match, "no table line for %s in:\n%s" % (name, output[-4000:])
    return match.group(1), match.group(2)


def test_the_checklist_passes_on_staging_and_prints_the_table(inventory, legacy_db, tmp_path):
    before, staged = fingerprint(legacy_db), staging_dirs()
    for args in ((), ("--check",)):
        run = ansible_playbook(inventory, PREFLIGHT_PLAYBOOK, "-l", "staging", *args)
        assert run.returncode == 0, run.stdout[-4000:]
        for name in ("connection", "primary", "privileges", "free_disk", "free_memory", "cpu_load", "client_programs",
                     "psycopg2", "squawk", "sessions", "replication", "pending_migrations"):
            assert table_line(run.stdout, name)[0] == "PASS", name
        status, observed = table_line(run.stdout, "free_memory")
        assert re.match(r"\d+ \(1024\)$", observed)
        assert re.search(r"Pre-flight: \d+ passed, 0 warned, 0 failed\.", run.stdout)
        assert re.search(r"Pending: 004_hybrid_rag_schema.sql, 005_data_migration.sql, "
                         r"006_harden_rollback_functions.sql", run.stdout)
        assert recap(run.stdout) == dict(recap(run.stdout), changed=0, failed=0)
        assert task_outcome(run.stdout, "Fail with what to fix") == "skipping"
        assert "kh-production" not in run.stdout and legacy_db.pg.app_password not in run.stdout + run.stderr
    assert fingerprint(legacy_db) == before and staging_dirs() == staged
    assert not os.path.exists(tmp_path / "backups")


def test_a_failed_check_fails_the_play_with_what_to_fix_and_nothing_written(inventory, legacy_db):
    before, staged = fingerprint(legacy_db), staging_dirs()
    run = ansible_playbook(inventory, PREFLIGHT_PLAYBOOK, "-l", "staging", "-e", "preflight_min_free_memory_mb=100000000",
                           "-e", "preflight_min_free_disk_mb=1000000000")
    assert run.returncode == 2, run.stdout[-4000:]
    assert table_line(run.stdout, "free_memory")[0] == "FAIL" and table_line(run.stdout, "free_disk")[0] == "FAIL"
    assert table_line(run.stdout, "privileges")[0] == "PASS"
    assert task_outcome(run.stdout, "Fail with what to fix") == "fatal"
    assert "Pre-flight failed: free_disk, free_memory. Nothing was written. Fix these before migrating:" in run.stdout
    assert "Only" in run.stdout and "point backup_dir at a larger file system" in run.stdout
    assert recap(run.stdout)["failed"] == 1
    assert fingerprint(legacy_db) == before and staging_dirs() == staged

    report = ansible_playbook(inventory, PREFLIGHT_PLAYBOOK, "-l", "staging", "-e", "preflight_fail_on=never",
                              "-e", "preflight_min_free_memory_mb=100000000")
    assert report.returncode == 0, report.stdout[-4000:]
    assert re.search(r"Pre-flight: \d+ passed, 0 warned, 1 failed\.", report.stdout)
