# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/migrate.yml as an operator runs it: an inventory of their own, -l staging."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from support.modules import backup, ok
from support.paths import MIGRATIONS
from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook, recap, staging_inventory, task_outcome

# legacy_db: 001-003 applied by hand, 1000 chunks of sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(1000)

APPLY = "Apply pending migrations under the ledger, phase schema"


@pytest.fixture
def inventory(tmp_path, legacy_db):
    """staging is the test database; production points at a port where nothing listens."""
    return staging_inventory(tmp_path, legacy_db, production=True)


def playbook(inventory, *args: str) -> subprocess.CompletedProcess:
    """ansible-playbook -i inventory playbooks/migrate.yml ARGS"""
    return ansible_playbook(inventory, MIGRATE_PLAYBOOK, *args)


def test_migrate_playbook_on_staging_only(inventory, legacy_db):
    db = legacy_db
    schema = db.schema_dump()
    password = db.pg.app_password

    check = playbook(inventory, "-l", "staging", "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert task_outcome(check.stdout, APPLY) == "changed"  # check mode predicts the change
    assert "CHECK MODE: nothing was written" in check.stdout
    assert re.search(r"Would apply:\s+004_hybrid_rag_schema.sql, 005_data_migration.sql,\s+"
                     r"006_harden_rollback_functions.sql", check.stdout)
    assert db.schema_dump() == schema and db.ledger() == []

    first = playbook(inventory, "-l", "staging", "-vvv")
    assert first.returncode == 0, first.stdout[-3000:]
    assert re.search(r"Baselined:\s+001_knowledge_store.sql, 002_ai_memories.sql, 003_search_and_feedback.sql",
                     first.stdout)
    assert re.search(r"Applied:\s+004_hybrid_rag_schema.sql \([\d.]+ s, \d+ statements\), "
                     r"005_data_migration.sql\s+\([^)]*\),\s+006_harden_rollback_functions.sql", first.stdout)
    assert recap(first.stdout, "kh-staging")["changed"] >= 1 and task_outcome(first.stdout, APPLY) == "changed"
    assert "kh-production" not in first.stdout
    assert password not in first.stdout + first.stderr
    assert [(r["version"], r["status"]) for r in db.ledger()][-3:] == [
        ("004", "applied"), ("005", "applied"), ("006", "applied")]
    assert all(r["executed_by"] for r in db.ledger())

    second = playbook(inventory, "-l", "staging")
    assert second.returncode == 0, second.stdout[-3000:]
    # the module ran and said "nothing to do" (a result key Ansible reserves, such as "skipped", would
    # make it look skipped)
    assert recap(second.stdout, "kh-staging") == dict(recap(second.stdout, "kh-staging"), changed=0, failed=0)
    assert task_outcome(second.stdout, APPLY) == "ok"
    assert re.search(r"Applied:\s+none", second.stdout)
    assert re.search(r"Already applied:\s+001_knowledge_store.sql,[\s\S]*?005_data_migration.sql,\s+"
                     r"006_harden_rollback_functions.sql", second.stdout)


def test_unreachable_database_fails_the_host_clearly(inventory):
    result = playbook(inventory, "-l", "production")
    assert result.returncode != 0
    assert "Cannot connect to database 'knowledgehub' on 127.0.0.1:1" in result.stdout
    assert recap(result.stdout, "kh-production")["failed"] == 1


def test_rehearsal_runs_on_a_scratch_copy_of_the_latest_backup_first(inventory, legacy_db, tmp_path):
    db = legacy_db
    db.pg.psql("ALTER ROLE knowledgehub CREATEDB")  # the rehearsal creates a scratch database
    try:
        _rehearse(inventory, db, tmp_path)
    finally:
        db.pg.psql("ALTER ROLE knowledgehub NOCREATEDB")


def _rehearse(inventory, db, tmp_path):
    backups = tmp_path / "backups"
    ok(backup(db, str(backups), label="kh"))
    rehearsal = ["-e", "migrate_rehearse=true", "-e", "migrate_rehearse_backup_dir=%s" % backups,
                 "-e", "migrate_rehearse_label=kh", "-e", "migrate_rehearse_db=%s_rehearsal" % db.name]

    # a migration that fails at run time: the rehearsal catches it, the real database is never touched
    schema = db.schema_dump()
    broken = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, broken)
    with open(broken / "005_data_migration.sql", "a", encoding="utf-8") as handle:  # within the phases' targets
        handle.write("\nSELECT 1 / 0;\n")
    caught = playbook(inventory, "-l", "staging", "-e", "migrate_migrations_src=%s" % broken, *rehearsal)
    assert caught.returncode != 0
    assert "Run the pending migrations on the scratch database" in caught.stdout and "division by zero" in caught.stdout
    assert db.schema_dump() == schema and db.ledger() == []
    assert db.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%rehearsal%'") == "0"

    rehearsed = playbook(inventory, "-l", "staging", *rehearsal)
    assert rehearsed.returncode == 0, rehearsed.stdout[-3000:]
    assert re.search(r"Rehearsal on a copy of backup \S+: 004_hybrid_rag_schema.sql\s+[\d.]+ s,"
                     r"\s+005_data_migration.sql\s+[\d.]+ s,\s+006_harden_rollback_functions.sql\s+[\d.]+ s",
                     rehearsed.stdout)
    assert [(r["version"], r["status"]) for r in db.ledger()][-3:] == [
        ("004", "applied"), ("005", "applied"), ("006", "applied")]
    assert "rehearsal" not in " ".join(r["executed_by"] for r in db.ledger())
    assert db.pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%rehearsal%'") == "0"
