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

import yaml

from support.modules import failed, ok, run_module
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
