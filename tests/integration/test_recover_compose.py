# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The way back on a real docker-compose host, as an operator runs it: migrate.yml then recover.yml gives back
the pre-migration schema and rows with the api healthy, also after an interrupted recover.yml and a rerun; a
migration that fails in its data phase with migrate_on_failure=recovery_point ends at the recovery point with the
api running and the summary saying so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from support.compose import content, load_legacy_state, ready
from support.compose_fixtures import LEGACY_CHUNKS
from support.hostile import wait_for
from support.paths import MIGRATIONS, REPO
from support.playbooks import MIGRATE_PLAYBOOK, ansible

RECOVER_PLAYBOOK = "playbooks/recover.yml"
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


def schema(host, *exclude: str) -> str:
    """pg_dump --schema-only of the host's database, without the tool's own tables (the ledger, its recovery points
    and reports: the point "before" holds those the baseline created; the legacy database has none) and the tables
    in ``exclude``."""
    env = host.env_file()
    proc = host.run([PG_DUMP if os.path.exists(PG_DUMP) else "pg_dump", "--schema-only", "--no-owner",
                     "--exclude-table=migration_log*", *("--exclude-table=%s" % name for name in exclude),
                     "-h", "127.0.0.1", "-p", "5433", "-U", env["POSTGRES_USER"], "-d", "knowledgehub"], cwd="/", env={"PGPASSFILE": str(host.pgpassfile)})
    return "".join(line for line in proc.stdout.splitlines(keepends=True)
                   if not line.startswith(("\\restrict ", "\\unrestrict ")))


@pytest.fixture
def legacy(staging, tmp_path):
    """The staging host with a fresh legacy database; its schema and content; a backup dir for the test."""
    load_legacy_state(staging, chunks=LEGACY_CHUNKS)
    for name in staging.psql("SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE "
                             "'knowledgehub\\_%'", db="postgres").split():
        staging.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, db="postgres")
    return staging, schema(staging), content(staging), tmp_path / "backups"


def play(deployment, playbook, backup_dir, *extra) -> subprocess.CompletedProcess:
    return ansible("ansible-playbook", deployment.inventory, playbook, "-l", "staging",
                   "-e", "backup_dir=%s" % backup_dir, *extra)


def assert_back_before_the_migration(host, before_schema, before_content) -> None:
    assert schema(host) == before_schema
    assert content(host) == before_content
    assert host.psql("SELECT to_regclass('rag_configurations') IS NULL") == "t"
    wait_for(lambda: ready(host, "api"), "the api to be healthy", timeout=60)


def test_migrate_then_recover_gives_back_the_database_with_the_api_healthy(compose_hosts, legacy):
    host, before_schema, before_content, backup_dir = legacy
    assert play(compose_hosts, MIGRATE_PLAYBOOK, backup_dir).returncode == 0
    assert host.psql("SELECT to_regclass('rag_configurations') IS NOT NULL") == "t"
    proc = play(compose_hosts, RECOVER_PLAYBOOK, backup_dir)
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = " ".join(proc.stdout.split())
    assert "recovered to" in out and "Replaced database kept as: knowledgehub_pre_restore_" in out
    assert "Application downtime:" in out
    assert "kh-test-only-password" not in proc.stdout
    assert_back_before_the_migration(host, before_schema, before_content)


def test_an_interrupted_recover_then_a_rerun_finishes_the_job(compose_hosts, legacy):
    host, before_schema, before_content, backup_dir = legacy
    assert play(compose_hosts, MIGRATE_PLAYBOOK, backup_dir).returncode == 0
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(compose_hosts.inventory),
            RECOVER_PLAYBOOK, "-l", "staging", "-e", "backup_dir=%s" % backup_dir]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        # the operator's ssh session dies while the restore loads the new database
        wait_for(lambda: host.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'knowledgehub\\_restore\\_%'",
                                   db="postgres") != "0", "the restore's new database", timeout=300)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the module on the host dies with its connection, or finishes: wait until it has left the server
    wait_for(lambda: host.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                               "'knowledgehub.migration%'", db="postgres") == "0", "the killed run to end",
             timeout=300)
    time.sleep(1)
    rerun = play(compose_hosts, RECOVER_PLAYBOOK, backup_dir)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert_back_before_the_migration(host, before_schema, before_content)
    assert host.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'knowledgehub\\_restore\\_%'",
                     db="postgres") == "0"


def test_a_failed_data_phase_goes_back_to_the_recovery_point_with_the_api_running(compose_hosts, legacy, tmp_path):
    host, before_schema, before_content, backup_dir = legacy
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations)
    (migrations / "007_fails.sql").write_text("SELECT 1 / 0;\n", encoding="utf-8")
    proc = play(compose_hosts, MIGRATE_PLAYBOOK, backup_dir, "-e", "migrate_migrations_src=%s" % migrations,
                "-e", "migrate_on_failure=recovery_point")
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "MIGRATION FAILED on staging" in out and "back at recovery point" in out
    assert_back_before_the_migration(host, before_schema, before_content)


def test_recover_by_the_volume_archive_and_the_configuration_archive(compose_hosts, legacy):
    """recover_method=volume puts the postgres_data archive of the run's first point back (compose_restore stops and
    starts db and api), recover_config the configuration archive; --check first changes nothing."""
    host, before_schema, before_content, backup_dir = legacy
    api_yml = host.project_dir / "config" / "api.yml"
    saved = api_yml.read_bytes()
    proc = play(compose_hosts, MIGRATE_PLAYBOOK, backup_dir,
                "-e", '{"migrate_config_paths": ["compose.yml", ".env", "config"], "migrate_volume": "postgres_data"}')
    assert proc.returncode == 0, proc.stdout[-4000:]
    api_yml.write_bytes(saved + b"# changed after the migration\n")
    options = ("-e", "recover_method=volume", "-e", "recover_config=true", "-e", '{"recover_config_restart": ["api"]}')
    check = play(compose_hosts, RECOVER_PLAYBOOK, backup_dir, "--check", *options)
    assert check.returncode == 0, check.stdout[-4000:]
    assert "CHECK MODE: nothing was changed. The volume archive knowledgehub-volume_" in " ".join(check.stdout.split())
    assert host.psql("SELECT to_regclass('rag_configurations') IS NOT NULL") == "t"
    assert api_yml.read_bytes() != saved
    proc = play(compose_hosts, RECOVER_PLAYBOOK, backup_dir, *options)
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = " ".join(proc.stdout.split())
    assert "staging: volume postgres_data put back from knowledgehub-volume_" in out, out[-3000:]
    assert "kept in the volume as .kh-pre-restore-" in out and "Configuration: " in out
    assert "kh-test-only-password" not in proc.stdout
    assert api_yml.read_bytes() == saved
    assert schema(host) == before_schema
    assert content(host) == before_content
    assert host.psql("SELECT to_regclass('rag_configurations') IS NULL") == "t"
    wait_for(lambda: ready(host, "api"), "the api to be healthy", timeout=60)
