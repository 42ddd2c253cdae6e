# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an operator reads from playbooks/migrate.yml (issue 12), against the test cluster: a failure ends in a short
block with the ledger's words, the recovery point and the recover command, and that command, run exactly as printed,
brings the database back; check mode prints an honest plan (each file once under its own phase, the ledger as it
would be, the lint findings, the lock table) from a plan task that is ok, not changed; backup retention keeps the
last few by default, never the current run's points nor the point a recover of the ledger's last run would use, and
the summary says sizes, durations, what was removed and the disk left."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid

import pytest
import yaml

from support.backups import backup_files
from support.database import recovery_points
from support.modules import backup, migrate, ok
from support.paths import MIGRATIONS, REPO
from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook, staging_inventory, task_outcome

pytestmark = pytest.mark.legacy_chunks(1000)

TABLES = ["ai_memories", "documents", "chunks"]
FAILURE_TASK = "Say what failed, where the database stands and how to go back"
PLAN_TASK = "Show the plan"
SUMMARY_TASK = "Summarise the run"
# keys of pg_migrate's whole result, which the default output must not print (only -v does)
DUMP_KEYS = ("already_applied:", "ignored_reasons:", "beyond_target:")


@pytest.fixture
def inventory(tmp_path, legacy_db, createdb):  # pylint: disable=unused-argument
    return staging_inventory(tmp_path, legacy_db)


@pytest.fixture
def migrations(tmp_path):
    """A copy of the collection's migrations that a test may add files to."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target


def run(inventory, *args: str) -> subprocess.CompletedProcess:
    return ansible_playbook(inventory, MIGRATE_PLAYBOOK, "-l", "staging", *args)


def printed(output: str, task: str) -> list[str]:
    """The lines a debug task printed (its msg list), read back from the YAML the callback wrote."""
    match = re.search(r"TASK \[[^\]]*: %s\][^\n]*\n(?:ok|changed): \[[^\]]+\] => \n((?:    .*\n)+)"
                      % re.escape(task), output)
    assert match, "task %r printed nothing in:\n%s" % (task, output[-3000:])
    return yaml.safe_load(match.group(1).replace("\n    ", "\n")[4:])["msg"]


def field(lines: list[str], name: str) -> str:
    found = [line[len(name) + 1:].strip() for line in lines if line.startswith(name + ":")]
    assert len(found) == 1, "%s: not once in %s" % (name, lines)
    return found[0]


# -- a failure: the short block, and its command brings the database back ---------------------------------------


def test_a_failure_ends_in_a_short_block_whose_command_brings_the_database_back(inventory, legacy_db, migrations):
    (migrations / "007_fails.sql").write_text("CREATE TABLE kh_test_partial (id int);\nSELECT 1 / 0;\n",
                                              encoding="utf-8")
    schema, snapshot = legacy_db.schema_dump(exclude_ledger=True), legacy_db.snapshot(TABLES)
    reports = inventory.parent / "reports"
    failed = run(inventory, "-e", "migrate_migrations_src=%s" % migrations, "-e", "report_dir=%s" % reports)
    assert failed.returncode != 0

    block = printed(failed.stdout, FAILURE_TASK)
    assert len(block) < 25, block
    assert block[0].startswith("MIGRATION FAILED on kh-staging")
    assert "007_fails.sql failed at statement 2" in " ".join(block) and "division by zero" in " ".join(block)
    assert field(block, "Database now") == ("as the ledger says: 001 baseline, 002 baseline, 003 baseline, "
                                            "004 applied, 005 applied, 006 applied, 007 failed")
    before = [p for p in recovery_points(legacy_db) if p["purpose"] == "before"]
    assert len(before) == 1 and os.path.isfile(before[0]["location"])
    assert field(block, "Recovery point") == "before %s, %s (recovery point id %d)" % (
        before[0]["backup_id"], before[0]["location"], before[0]["id"])
    # the long result of the failed task is not printed without -v
    assert not [key for key in DUMP_KEYS if key in failed.stdout], failed.stdout

    command = field(block, "To go back")
    where = re.search(r"^\(from (.+); add --check", block[block.index(
        next(line for line in block if line.startswith("To go back:"))) + 1].strip()).group(1)
    argv = shlex.split(command)
    assert argv[:2] == ["ansible-playbook", "playbooks/recover.yml"] and where == REPO
    assert "recover_run_id=%s" % before[0]["run_id"] in argv
    # the Migration Log of the failed run gives the same command in its Next Steps
    (log,) = (reports / "kh-staging").glob("*.json")
    steps = json.loads(log.read_text(encoding="utf-8"))["next_steps"]
    assert steps[-1] == "Or go back to the recovery point the command names, from %s: %s" % (where, command)
    # run as printed, from where it says, with the ansible-playbook the operator has (this venv's)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_NOCOLOR="1")
    back = subprocess.run(argv, cwd=where, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert back.returncode == 0, back.stdout[-3000:]
    assert legacy_db.schema_dump(exclude_ledger=True) == schema and legacy_db.snapshot(TABLES) == snapshot
    assert legacy_db.rows("SELECT version, status FROM migration_log ORDER BY id") == [
        ["001", "baseline"], ["002", "baseline"], ["003", "baseline"]]

    # the whole result is there with -v
    verbose = run(inventory, "-v", "-e", "migrate_migrations_src=%s" % migrations)
    assert verbose.returncode != 0
    assert all(key in verbose.stdout for key in DUMP_KEYS)
    assert len(printed(verbose.stdout, FAILURE_TASK)) < 25


# -- check mode: an honest plan ----------------------------------------------------------------------------------


def test_check_mode_prints_each_file_once_under_its_phase_with_lint_and_locks(inventory, legacy_db, tmp_path):
    schema = legacy_db.schema_dump()
    check = run(inventory, "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert task_outcome(check.stdout, "Read the plan (pg_migrate in check mode)") == "ok"

    plan = printed(check.stdout, PLAN_TASK)
    phases = {line.split(":")[0][len("Phase "):]: line.split(":", 1)[1].strip()
              for line in plan if line.startswith("Phase ")}
    assert phases == {"schema": "004_hybrid_rag_schema.sql",
                      "data": "005_data_migration.sql, 006_harden_rollback_functions.sql"}
    # no other listing by phase anywhere in the output: each file is under one phase, once
    assert len(re.findall(r"^    - '?Phase \w+:", check.stdout, re.MULTILINE)) == 2
    assert field(plan, "Ledger after") == ("001 baseline, 002 baseline, 003 baseline, 004 applied, 005 applied, "
                                           "006 applied")
    # the lint findings listed, not only counted
    assert re.search(r"^  004_hybrid_rag_schema.sql: prefer-bigint-over-int \(warning\) lines 68, 69, ",
                     "\n".join(plan), re.MULTILINE)
    # the lock table: the strongest lock per table and file, and the statement that takes it
    text = "\n".join(plan)
    assert "Locks on existing tables" in text
    assert re.search(r"^  004_hybrid_rag_schema.sql\n(    .*\n)*?    ai_memories\s+ACCESS EXCLUSIVE\s+#\d+, line \d+$",
                     text, re.MULTILINE)
    assert re.search(r"^    \(procedural code\)\s+unknown\s+statements? \d", text, re.MULTILINE)
    summary = printed(check.stdout, SUMMARY_TASK)
    assert field(summary, "Ledger after") == field(plan, "Ledger after")
    # nothing written
    assert legacy_db.schema_dump() == schema and legacy_db.ledger() == []
    assert backup_files(tmp_path / "backups") == []


# -- retention --------------------------------------------------------------------------------------------------


def _add_migration(migrations, version: str) -> None:
    (migrations / ("%s_keep_%s.sql" % (version, version))).write_text(
        "CREATE TABLE kh_keep_%s (id int);\n" % version, encoding="utf-8")


def _manifests(directory) -> list[str]:
    return sorted(name[:-len(".manifest.json")] for name in backup_files(directory)
                  if name.endswith(".manifest.json"))


def test_retention_keeps_the_last_few_by_default_and_the_summary_says_sizes_and_disk_left(
        inventory, legacy_db, migrations, tmp_path):
    backups = tmp_path / "backups"
    first = run(inventory, "-e", "migrate_migrations_src=%s" % migrations)
    assert first.returncode == 0, first.stdout[-3000:]
    for version in ("007", "008"):  # each later run: a point before and one after its data phase
        kept_before = set(_manifests(backups))
        _add_migration(migrations, version)
        later = run(inventory, "-e", "migrate_migrations_src=%s" % migrations)
        assert later.returncode == 0, later.stdout[-3000:]
    points = recovery_points(legacy_db)
    assert len(points) >= 7
    # per kind (dumps, clones), the newest 3 are kept by default, the others removed and marked so
    for kind in {p["kind"] for p in points}:
        of_kind = [p for p in points if p["kind"] == kind]
        assert [p["removed_at"] is None for p in of_kind] == [False] * (len(of_kind) - 3) + [True] * min(3, len(of_kind))
    assert {p["backup_id"] for p in points if p["removed_at"] is None} == set(_manifests(backups))
    removed_by_run_3 = sorted(kept_before - set(_manifests(backups)))
    assert removed_by_run_3

    summary = printed(later.stdout, SUMMARY_TASK)
    text = "\n".join(summary)
    assert re.search(r"retention \(keep_last 3\) removed %s \([\d.]+ \w+ freed\)" % ", ".join(removed_by_run_3),
                     field(summary, "Backups"))
    assert len(re.findall(r"^\s+[\d.]+ \w+, taken in [\d.]+ s", text, re.MULTILINE)) == 2  # each point's size, time
    assert re.search(r"^[\d.]+ \w+ free in %s after the run$" % re.escape(str(backups)), field(summary, "Disk left"))


def test_retention_never_removes_the_current_runs_points_nor_the_one_a_recover_needs(legacy_db, backup_dir):
    run_1, run_2 = str(uuid.uuid4()), str(uuid.uuid4())
    ok(migrate(legacy_db, baseline_version="003", target_version="003", run_id=run_1))  # the ledger's last run: 1
    before_1 = ok(backup(legacy_db, backup_dir, keep_last=1, run_id=run_1, purpose="before"))
    after_1 = ok(backup(legacy_db, backup_dir, keep_last=1, run_id=run_1, purpose="after_data"))
    # keep_last=1, but "before" is a point of the current run
    assert after_1["retention"]["removed"] == [] and after_1["removed"] == []
    assert [p["backup_id"] for p in after_1["retention"]["protected"]] == [before_1["backup_id"]]
    assert "current run" in after_1["retention"]["protected"][0]["reason"]

    # another run's first point: run 1 is still the ledger's last run, so its "before" stays (a recover needs it)
    before_2 = ok(backup(legacy_db, backup_dir, keep_last=1, run_id=run_2, purpose="before"))
    assert before_2["retention"]["removed"] == [after_1["backup_id"]]
    assert before_2["retention"]["removed_bytes"] == after_1["size_bytes"]
    assert before_2["retention"]["protected"] == [{
        "backup_id": before_1["backup_id"],
        "reason": "the point a recover of run %s, the last run in the ledger, would use" % run_1}]
    assert before_2["disk_free_bytes"] > 0 and before_2["retention"]["kept"] == 2

    # once the ledger's last run is run 2, run 1's point goes
    ok(migrate(legacy_db, baseline_version="003", target_version="004", run_id=run_2, lint=False))
    after_2 = ok(backup(legacy_db, backup_dir, keep_last=1, run_id=run_2, purpose="after_schema"))
    assert after_2["retention"]["removed"] == [before_1["backup_id"]]
    assert sorted(_manifests(backup_dir)) == sorted([before_2["backup_id"], after_2["backup_id"]])
