# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery points as the runbook has them (before, after the schema, after the data), taken by
playbooks/migrate.yml for one run and recorded beside the ledger, and their controller copies (the backup role),
against a real PostgreSQL 15."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys

import pytest
import yaml

from support.backups import backup_files
from support.database import recovery_points
from support.modules import backup, ok, restore
from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook, recap


def sha256_of(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def write_inventory(tmp_path, db, **extra) -> str:
    host = dict(ansible_connection="local", ansible_python_interpreter=sys.executable, login_port=db.pg.port,
                login_db=db.name)
    content = {"all": {"hosts": {"kh-staging": host},
                       "vars": dict({"login_host": "127.0.0.1", "login_user": "knowledgehub",
                                     "login_password": db.pg.app_password,
                                     "backup_dir": str(tmp_path / "backups")}, **extra)}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return str(path)


# -- the playbook: three recovery points for one run ---------------------------------------------


def test_migrate_playbook_takes_the_runbooks_three_recovery_points_for_one_run(
        legacy_db, tmp_path, createdb, cluster):
    controller = tmp_path / "controller"
    inventory = write_inventory(tmp_path, legacy_db, backup_fetch=True, backup_fetch_dir=str(controller))
    backups = tmp_path / "backups"

    check = ansible_playbook(inventory, MIGRATE_PLAYBOOK, "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert backup_files(backups) == [] and recovery_points(legacy_db) == [] and legacy_db.ledger() == []
    assert not controller.exists()

    first = ansible_playbook(inventory, MIGRATE_PLAYBOOK)
    assert first.returncode == 0, first.stdout[-4000:]
    points = recovery_points(legacy_db)
    ledger = legacy_db.ledger()
    run_id = ledger[0]["run_id"]

    # the runbook's three recovery points, in its order, for the one run, each with the ledger version inside it:
    # a full backup before, a schema-only point after the schema, a complete point (a clone) after the data
    assert [(p["purpose"], p["ledger_version"], p["kind"], p["format"], p["scope"]) for p in points] == [
        ("before", "003", "dump", "custom", "full"), ("after_schema", "004", "dump", "custom", "schema-only"),
        ("after_data", "006", "clone", "clone", "full")]  # the data phase: 005 and 006
    assert {p["run_id"] for p in points} == {run_id} and all(p["removed_at"] is None for p in points)
    # every ledger row of the run carries its id; the rows applied name the recovery point before them
    assert {r["run_id"] for r in ledger} == {run_id}
    refs = {r["version"]: r["backup_ref"] for r in ledger}
    assert refs == {"001": None, "002": None, "003": None, "004": points[0]["backup_id"],
                    "005": points[1]["backup_id"], "006": points[1]["backup_id"]}
    # the summary lists them
    assert re.search(r"Recovery points:\s+before\s+%s\s+\(ledger\s+at\s+003\),\s+after_schema\s+%s\s+"
                     r"\(ledger\s+at\s+004\),\s+after_data\s+%s\s+\(ledger\s+at\s+006\)"
                     % tuple(p["backup_id"] for p in points), first.stdout)

    for point in points[:2]:
        # the row tells the truth about the file it names, and the file is a verified, restorable archive
        assert os.path.dirname(point["location"]) == str(backups)
        assert sha256_of(point["location"]) == point["sha256"] and os.path.getsize(point["location"]) == \
            point["size_bytes"]
        with open(point["manifest"], encoding="utf-8") as handle:
            manifest = json.load(handle)
        assert manifest["verified"] is True and manifest["run_id"] == run_id
        assert manifest["purpose"] == point["purpose"] and manifest["archive"]["sha256"] == point["sha256"]
        checked = ok(restore(legacy_db, check_mode=True, manifest=point["manifest"], mode="new_database",
                             target_db=legacy_db.name + "_rp_check"))
        assert checked["integrity"]["sha256"] == point["sha256"]
        # the controller copy: archive and manifest, checked there against the manifest
        copy = controller / "kh-staging" / os.path.basename(point["location"])
        assert sha256_of(str(copy)) == point["sha256"]
        assert (controller / "kh-staging" / os.path.basename(point["manifest"])).is_file()
    assert oct(os.stat(controller / "kh-staging").st_mode & 0o777) == "0o700"

    # the schema phase's point holds the structure after 004 (its tables, no rows); the data phase's clone is the
    # database after 005 and 006, ledger included
    ok(restore(legacy_db, manifest=points[1]["manifest"], mode="new_database", target_db=legacy_db.name + "_as"))
    assert cluster.psql("SELECT to_regclass('enhanced_chunks') IS NOT NULL AND NOT EXISTS (SELECT FROM ai_memories) "
                        "AND NOT EXISTS (SELECT FROM migration_log)", db=legacy_db.name + "_as") == "t"
    clone = points[2]["location"]
    assert cluster.psql("SELECT datallowconn FROM pg_database WHERE datname = '%s'" % clone) == "f"  # kept closed
    cluster.psql('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % clone)  # only to look inside
    ledger_in_clone = cluster.psql("SELECT string_agg(version || ' ' || status, ', ' ORDER BY id) FROM migration_log",
                                   db=clone)
    assert ledger_in_clone == "001 baseline, 002 baseline, 003 baseline, 004 applied, 005 applied, 006 applied"
    assert cluster.psql("SELECT count(*) FROM ai_memories", db=clone) == legacy_db.sql("SELECT count(*) FROM ai_memories")
    cluster.psql('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % clone)

    second = ansible_playbook(inventory, MIGRATE_PLAYBOOK)
    assert second.returncode == 0, second.stdout[-3000:]
    assert recap(second.stdout)["changed"] == 0
    # 2 archives and their manifests, the clone's manifest
    assert recovery_points(legacy_db) == points and len(backup_files(backups)) == 5, backup_files(backups)
    assert "Recovery points: none (nothing pending)" in second.stdout


def test_without_createdb_the_after_data_point_is_a_verified_dump_and_no_error_is_shown(legacy_db, tmp_path):
    """The application role without CREATEDB cannot clone: the point after the data phase is a verified dump instead,
    decided before anything is tried, so the run shows no failed task."""
    inventory = write_inventory(tmp_path, legacy_db)
    result = ansible_playbook(inventory, MIGRATE_PLAYBOOK)
    assert result.returncode == 0, result.stdout[-4000:]
    points = recovery_points(legacy_db)
    assert [(p["purpose"], p["kind"], p["scope"]) for p in points] == [
        ("before", "dump", "full"), ("after_schema", "dump", "schema-only"), ("after_data", "dump", "full")]
    counts = recap(result.stdout)
    assert counts["failed"] == 0 and counts.get("rescued", 0) == 0, counts
    assert "FAILED!" not in result.stdout


def test_a_clone_that_would_not_leave_backup_keep_free_mb_free_is_a_verified_dump(
        legacy_db, tmp_path, createdb, cluster):
    """backup_keep_free_mb is asked of the server's volume before the clone (the role may read where the data
    directory is): more than it has free, and the pre-flight warns (server_volume) and the point after the data phase
    is a verified dump, with no failed task."""
    inventory = write_inventory(tmp_path, legacy_db, backup_keep_free_mb=2 ** 40)
    cluster.psql("GRANT pg_read_all_settings TO knowledgehub")
    try:
        result = ansible_playbook(inventory, MIGRATE_PLAYBOOK)
    finally:
        cluster.psql("REVOKE pg_read_all_settings FROM knowledgehub")
    assert result.returncode == 0, result.stdout[-4000:]
    points = recovery_points(legacy_db)
    assert [(p["purpose"], p["kind"]) for p in points] == [
        ("before", "dump"), ("after_schema", "dump"), ("after_data", "dump")]
    assert re.search(r"server_volume\s+WARN", result.stdout), result.stdout[-6000:]
    assert "clone not possible (Not enough free space on the database" in " ".join(result.stdout.split())
    counts = recap(result.stdout)
    assert counts["failed"] == 0 and counts.get("rescued", 0) == 0, counts


def test_a_failed_backup_records_no_recovery_point_and_the_migration_does_not_start(
        legacy_db, tmp_path, cluster):
    # a table the application role may not read: pg_dump (and the row counts) fail on it. The pre-flight names it
    # before anything is written (test_migrate_playbook_gates); here it is off, so that the backup meets it.
    cluster.psql("CREATE TABLE public.audit_secret (id int); INSERT INTO public.audit_secret VALUES (1)",
                 db=legacy_db.name)
    inventory = write_inventory(tmp_path, legacy_db)
    result = ansible_playbook(inventory, MIGRATE_PLAYBOOK, "-e", "migrate_preflight=false")
    assert result.returncode != 0
    assert "Take a verified backup, purpose before" in result.stdout and "audit_secret" in result.stdout
    assert recovery_points(legacy_db) == []
    assert [r["status"] for r in legacy_db.ledger()] == ["baseline"] * 3  # adopted, nothing applied
    assert "Apply pending migrations under the ledger, phase schema" not in result.stdout
    assert backup_files(tmp_path / "backups") == []


# -- the controller copy ------------------------------------------------------------------------------


VERIFY_PLAY = """
- name: Check a controller copy
  hosts: all
  gather_facts: false
  tasks:
    - name: Check it
      ansible.builtin.include_role:
        name: knowledgehub.migration.backup
        tasks_from: verify_copy
      vars:
        backup_copy_manifest: "{{ copy_manifest }}"
"""


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_a_corrupted_controller_copy_is_detected(legacy_db, backup_dir, tmp_path, fmt):
    result = ok(backup(legacy_db, backup_dir, format=fmt))
    copy_dir = tmp_path / "controller"
    copy_dir.mkdir()
    shutil.copy(result["manifest"], copy_dir)
    archive = copy_dir / os.path.basename(result["path"])
    if fmt == "directory":
        shutil.copytree(result["path"], archive)
    else:
        shutil.copy(result["path"], archive)
    play = tmp_path / "verify.yml"
    play.write_text(VERIFY_PLAY, encoding="utf-8")
    inventory = write_inventory(tmp_path, legacy_db)
    manifest = "copy_manifest=%s" % (copy_dir / os.path.basename(result["manifest"]))

    good = ansible_playbook(inventory, str(play), "-e", manifest)
    assert good.returncode == 0, good.stdout[-3000:]

    victim = archive / "toc.dat" if fmt == "directory" else archive
    with open(victim, "r+b") as handle:
        handle.seek(os.path.getsize(victim) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    bad = ansible_playbook(inventory, str(play), "-e", manifest)
    assert bad.returncode != 0
    assert "The controller copy %s of backup %s has sha256" % (victim, result["backup_id"]) in bad.stdout
    assert "Do not restore from this copy" in bad.stdout

    os.remove(victim)
    gone = ansible_playbook(inventory, str(play), "-e", manifest)
    assert gone.returncode != 0 and "is missing" in gone.stdout
