# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration files handed from the controller (``migrations_source``) to pg_migrate and pg_preflight, on a real
PostgreSQL 15: the module applies them byte for byte from a private directory that is gone when it ends; a forged
hand-over is refused with nothing run; the action plugin refuses a source that is not there, or both sources."""

from __future__ import annotations

import glob
import hashlib
import os
import sys
import tempfile
import time

import yaml

from support.modules import failed, ok, run_module, start_module
from support.paths import MIGRATIONS
from support.playbooks import ansible_playbook, recap

from ansible_collections.knowledgehub.migration.plugins.module_utils._migration_files import collect


def unpacked_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "knowledgehub-migrations-*")))


def test_pg_migrate_applies_the_handed_files_byte_for_byte_and_leaves_no_copy(db):
    before = unpacked_dirs()
    result = ok(run_module("pg_migrate", dict(db.params, _migration_files=collect(MIGRATIONS), lint=False)))
    ledger = db.ledger()
    assert [(row["version"], row["status"]) for row in ledger] == [
        (v, "applied") for v in ("001", "002", "003", "004", "005", "006")]
    assert len(result["applied"]) == 6
    for row in ledger:
        name = "%s_%s.sql" % (row["version"], row["name"])
        with open(os.path.join(MIGRATIONS, name), "rb") as handle:
            assert row["checksum"] == hashlib.sha256(handle.read()).hexdigest(), name
    assert unpacked_dirs() == before


def test_a_forged_hand_over_is_refused_and_nothing_runs(db):
    before = unpacked_dirs()
    for forged, says in (({"../001_x.sql": "U0VMRUNUIDE="}, "is not a file name of a migration directory"),
                         ({"001_x.sql": "not base64!"}, "is not base64"),
                         ({}, "is set only by the collection's action plugin")):
        message = failed(run_module("pg_migrate", dict(db.params, _migration_files=forged, lint=False)))
        assert says in message and "Traceback" not in message, message
    assert db.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"
    assert unpacked_dirs() == before


def test_without_migrations_dir_or_the_handed_files_the_module_names_both_public_options(db):
    message = failed(run_module("pg_migrate", dict(db.params, lint=False)))
    assert "set migrations_dir (a directory on the managed host) or migrations_source" in message, message
    assert "_migration_files" not in message and "Traceback" not in message
    assert db.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"


def test_the_action_plugin_refuses_a_missing_source_and_two_sources(db, tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"kh-staging": dict(
        ansible_connection="local", ansible_python_interpreter=sys.executable)}}}), encoding="utf-8")
    connection = dict(db.params)
    for source, extra, says in ((str(tmp_path / "nowhere"), {}, "is not a directory on the controller"),
                                (MIGRATIONS, {"migrations_dir": MIGRATIONS}, "not both")):
        playbook = tmp_path / "play.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [{
            "name": "Migrate from the controller",
            "knowledgehub.migration.pg_migrate": dict(connection, migrations_source=source, lint=False, **extra)}]}]),
            encoding="utf-8")
        run = ansible_playbook(inventory, str(playbook))
        assert recap(run.stdout)["failed"] == 1 and says in run.stdout, run.stdout[-3000:]
        assert "Traceback" not in run.stdout + run.stderr
    assert db.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"


def test_after_a_kill_9_the_next_hand_over_removes_the_left_directory(db, tmp_path):
    """A module killed while it runs from handed-over files cannot remove their directory: the next hand-over on the
    host does (its pid is in the name and no longer runs), and leaves the directory of a module still running."""
    source = tmp_path / "migrations"
    source.mkdir()
    (source / "001_slow.sql").write_text("SELECT pg_sleep(20);\n", encoding="utf-8")
    before = unpacked_dirs()
    proc = start_module("pg_migrate", dict(db.params, _migration_files=collect(str(source)), lint=False))
    try:
        deadline = time.monotonic() + 20
        while not unpacked_dirs() - before and time.monotonic() < deadline:
            time.sleep(0.1)
        left = unpacked_dirs() - before
        assert len(left) == 1 and str(proc.pid) in next(iter(left)), left
    finally:
        proc.kill()
        proc.communicate()
    assert unpacked_dirs() - before == left  # kill -9: the directory stays behind
    running = tempfile.mkdtemp(prefix="knowledgehub-migrations-%d-" % os.getpid())  # a module still running
    try:
        ok(run_module("pg_migrate", dict(db.params, _migration_files=collect(MIGRATIONS), lint=False),
                      check_mode=True))
        assert unpacked_dirs() - before == {running}
    finally:
        os.rmdir(running)
