# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery points as the runbook has them (before, after the schema, after the data), recorded beside the
ledger against the run, against a real PostgreSQL 15: pg_backup, pg_migrate and the migrate/backup roles."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import yaml

pytest.register_assert_rewrite("conftest_backup")
pytest_plugins = ["conftest_backup"]

from conftest import MIGRATIONS, REPO, run_module  # noqa: E402  pylint: disable=wrong-import-position
from conftest_backup import (  # noqa: E402  pylint: disable=wrong-import-position
    backup,
    failed,
    ok,
    restore,
)

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
RP_TABLE = "migration_log_recovery_point"


# -- helpers ---------------------------------------------------------------------------------


def recovery_points(db) -> list[dict]:
    if db.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t":
        return []
    return json.loads(db.sql("SELECT coalesce(json_agg(r ORDER BY id), '[]') FROM %s r" % RP_TABLE))


def sha256_of(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def backup_files(backup_dir) -> list[str]:
    return sorted(os.listdir(backup_dir)) if os.path.isdir(backup_dir) else []


def migrate(db, check_mode: bool = False, **options) -> dict:
    return run_module("pg_migrate", dict(db.params, migrations_dir=MIGRATIONS, **options), check_mode=check_mode)


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


def ansible_playbook(inventory: str, playbook_path: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run([ANSIBLE_PLAYBOOK, playbook_path, "-i", inventory, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False, timeout=600)


def recap(output: str, host: str = "kh-staging") -> dict[str, int]:
    match = re.search(r"^%s\s*:\s*(.*)$" % re.escape(host), output, re.MULTILINE)
    assert match, output[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


# -- the playbook: three recovery points for one run ---------------------------------------------


def test_migrate_playbook_takes_the_runbooks_three_recovery_points_for_one_run(kh, tmp_path, createdb, cluster):
    controller = tmp_path / "controller"
    inventory = write_inventory(tmp_path, kh, backup_fetch=True, backup_fetch_dir=str(controller))
    backups = tmp_path / "backups"

    check = ansible_playbook(inventory, "playbooks/migrate.yml", "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert backup_files(backups) == [] and recovery_points(kh) == [] and kh.ledger() == []
    assert not controller.exists()

    first = ansible_playbook(inventory, "playbooks/migrate.yml")
    assert first.returncode == 0, first.stdout[-4000:]
    points = recovery_points(kh)
    ledger = kh.ledger()
    run_id = ledger[0]["run_id"]

    # three recovery points, in the runbook's order, for the one run, each with the ledger version inside it
    assert [(p["purpose"], p["ledger_version"], p["kind"], p["format"]) for p in points] == [
        ("before", "003", "dump", "custom"), ("after_schema", "004", "dump", "custom"),
        ("after_data", "005", "dump", "custom")]
    assert {p["run_id"] for p in points} == {run_id} and all(p["removed_at"] is None for p in points)
    # every ledger row of the run carries its id; the rows applied name the recovery point before them
    assert {r["run_id"] for r in ledger} == {run_id}
    refs = {r["version"]: r["backup_ref"] for r in ledger}
    assert refs == {"001": None, "002": None, "003": None, "004": points[0]["backup_id"],
                    "005": points[1]["backup_id"]}
    # the summary lists them
    assert re.search(r"Recovery points:\s+before\s+%s\s+\(ledger\s+at\s+003\),\s+after_schema\s+%s\s+"
                     r"\(ledger\s+at\s+004\),\s+after_data\s+%s\s+\(ledger\s+at\s+005\)"
                     % tuple(p["backup_id"] for p in points), first.stdout)

    for point in points:
        # the row tells the truth about the file it names, and the file is a verified, restorable archive
        assert os.path.dirname(point["location"]) == str(backups)
        assert sha256_of(point["location"]) == point["sha256"] and os.path.getsize(point["location"]) == \
            point["size_bytes"]
        with open(point["manifest"], encoding="utf-8") as handle:
            manifest = json.load(handle)
        assert manifest["verified"] is True and manifest["run_id"] == run_id
        assert manifest["purpose"] == point["purpose"] and manifest["archive"]["sha256"] == point["sha256"]
        checked = ok(restore(kh, check_mode=True, manifest=point["manifest"], mode="new_database",
                             target_db=kh.name + "_rp_check"))
        assert checked["integrity"]["sha256"] == point["sha256"]
        # the controller copy: archive and manifest, checked there against the manifest
        copy = controller / "kh-staging" / os.path.basename(point["location"])
        assert sha256_of(str(copy)) == point["sha256"]
        assert (controller / "kh-staging" / os.path.basename(point["manifest"])).is_file()
    assert oct(os.stat(controller / "kh-staging").st_mode & 0o777) == "0o700"

    # the schema phase's recovery point really holds the database after 004 and before 005
    after_schema = points[1]
    restored = ok(restore(kh, manifest=after_schema["manifest"], mode="new_database", target_db=kh.name + "_as"))
    assert restored["row_counts_checked"] is True
    ledger_in_point = cluster.psql("SELECT string_agg(version || ' ' || status, ', ' ORDER BY id) FROM migration_log",
                                   db=kh.name + "_as")
    assert ledger_in_point == "001 baseline, 002 baseline, 003 baseline, 004 applied"

    second = ansible_playbook(inventory, "playbooks/migrate.yml")
    assert second.returncode == 0, second.stdout[-3000:]
    assert recap(second.stdout)["changed"] == 0
    assert recovery_points(kh) == points and len(backup_files(backups)) == 6  # 3 archives, 3 manifests
    assert "Recovery points: none (nothing pending)" in second.stdout


def test_a_failed_backup_records_no_recovery_point_and_the_migration_does_not_start(kh, tmp_path, cluster):
    # a table the application role may not read: pg_dump (and the row counts) fail on it
    cluster.psql("CREATE TABLE public.audit_secret (id int); INSERT INTO public.audit_secret VALUES (1)", db=kh.name)
    inventory = write_inventory(tmp_path, kh)
    result = ansible_playbook(inventory, "playbooks/migrate.yml")
    assert result.returncode != 0
    assert "Take a verified backup, purpose before" in result.stdout and "audit_secret" in result.stdout
    assert recovery_points(kh) == []
    assert [r["status"] for r in kh.ledger()] == ["baseline"] * 3  # adopted, nothing applied
    assert "Apply pending migrations under the ledger, phase schema" not in result.stdout
    assert backup_files(tmp_path / "backups") == []


# -- pg_backup: recording, retention, check mode ----------------------------------------------------


def test_backup_with_run_id_is_recorded_once_verified(kh, backup_dir):
    run_id = str(uuid.uuid4())
    result = ok(backup(kh, backup_dir, run_id=run_id, purpose="before", format="directory"))
    row = result["recovery_point"]
    assert result["recovery_point_id"] == row["id"] and row["run_id"] == run_id
    assert recovery_points(kh) == [dict(row, created_at=recovery_points(kh)[0]["created_at"],
                                        recorded_at=recovery_points(kh)[0]["recorded_at"])]
    assert row["kind"] == "dump" and row["format"] == "directory" and row["location"] == result["path"]
    assert row["sha256"] == result["sha256"] and row["size_bytes"] == result["size_bytes"]
    assert row["ledger_version"] is None and row["purpose"] == "before" and row["label"] == kh.name
    assert row["created_by"] and row["created_on"]
    # a directory archive's sha256 is the one over its files' list, as in the manifest
    assert row["sha256"] == result["manifest_data"]["archive"]["sha256"]


def test_no_recovery_point_without_run_id_or_when_switched_off(kh, backup_dir):
    assert ok(backup(kh, backup_dir))["recovery_point"] is None
    assert ok(backup(kh, backup_dir, run_id=str(uuid.uuid4()), record_recovery_point=False))["recovery_point"] is None
    assert kh.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t"


@pytest.mark.parametrize("options, message", [
    (dict(record_recovery_point=True), "record_recovery_point=true needs run_id"),
    (dict(run_id="run-7"), "run_id='run-7' is not a UUID"),
])
def test_recovery_point_options_are_refused_before_anything_is_written(kh, backup_dir, options, message):
    assert message in failed(backup(kh, backup_dir, **options))
    assert backup_files(backup_dir) == [] and recovery_points(kh) == []


def test_check_mode_writes_no_recovery_point(kh, backup_dir):
    result = ok(backup(kh, backup_dir, check_mode=True, run_id=str(uuid.uuid4())))
    assert result["changed"] and "recovery_point" not in result
    assert kh.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t"


def test_a_failed_dump_records_no_recovery_point(kh, backup_dir, cluster):
    cluster.psql("CREATE TABLE public.audit_secret (id int)", db=kh.name)
    failed(backup(kh, backup_dir, run_id=str(uuid.uuid4()), purpose="before"))
    assert kh.sql("SELECT to_regclass('public.%s') IS NULL" % RP_TABLE) == "t"


def test_retention_marks_the_recovery_points_of_removed_backups(kh, backup_dir):
    run_id = str(uuid.uuid4())
    ids = [ok(backup(kh, backup_dir, run_id=run_id, purpose="p%d" % n, keep_last=2))["recovery_point_id"]
           for n in range(3)]
    removed = {p["id"]: p["removed_at"] for p in recovery_points(kh)}
    assert removed[ids[0]] is not None and removed[ids[1]] is None and removed[ids[2]] is None
    # a backup that is not itself a recovery point still marks the ones its retention removes
    plain = ok(backup(kh, backup_dir, keep_last=1))
    assert plain["recovery_point"] is None and plain["removed_recovery_points"] == ids[1:]
    assert all(p["removed_at"] for p in recovery_points(kh))
    assert not os.path.exists(recovery_points(kh)[0]["location"])


def test_a_clone_recovery_point_is_recorded_by_database_name(kh, backup_dir, createdb):
    run_id = str(uuid.uuid4())
    result = ok(backup(kh, backup_dir, format="clone", label="rp", run_id=run_id, purpose="after_schema"))
    row = recovery_points(kh)[0]
    assert row["id"] == result["recovery_point_id"] and row["kind"] == "clone" and row["format"] == "clone"
    assert row["location"] == result["database"] and row["sha256"] is None


# -- pg_migrate: one run over several invocations, the recovery-point table beside the ledger -----------


def test_phases_share_the_run_id_and_name_the_backup_before_them(legacy_clone):
    run_id = str(uuid.uuid4()).upper()  # any spelling of the UUID; the ledger keeps its canonical form
    schema = ok(migrate(legacy_clone, baseline_version="003", target_version="004", run_id=run_id,
                        backup_ref="kh_before"))
    data = ok(migrate(legacy_clone, target_version="005", run_id=run_id, backup_ref="kh_after_schema"))
    assert schema["run_id"] == data["run_id"] == run_id.lower()
    rows = legacy_clone.ledger()
    assert {r["run_id"] for r in rows} == {run_id.lower()}
    assert [(r["version"], r["backup_ref"]) for r in rows] == [
        ("001", "kh_before"), ("002", "kh_before"), ("003", "kh_before"), ("004", "kh_before"),
        ("005", "kh_after_schema")]
    assert "is not a UUID" in failed(migrate(legacy_clone, run_id="awx-1234"))


def test_a_recovery_point_table_does_not_make_an_empty_database_look_used(db, tmp_path):
    # a recovery point taken of an empty database, before its first migration
    ok(run_module("pg_backup", dict(db.params, backup_dir=str(tmp_path / "b"), run_id=str(uuid.uuid4()))))
    assert len(recovery_points(db)) == 1
    plan = ok(migrate(db, check_mode=True))
    assert plan["baselined"] == [] and [m["version"] for m in plan["pending"]] == ["001", "002", "003", "004", "005"]
    assert db.ledger() == []  # check mode wrote nothing
    applied = ok(migrate(db))
    assert [m["version"] for m in applied["applied"]] == ["001", "002", "003", "004", "005"]


def test_a_recovery_point_table_does_not_hide_a_legacy_database(legacy_clone, tmp_path):
    ok(run_module("pg_backup", dict(legacy_clone.params, backup_dir=str(tmp_path / "b"), run_id=str(uuid.uuid4()))))
    assert "baseline_version" in failed(migrate(legacy_clone))  # still refused without a baseline
    result = ok(migrate(legacy_clone, baseline_version="003"))
    assert [m["version"] for m in result["baselined"]] == ["001", "002", "003"]
    assert len(recovery_points(legacy_clone)) == 1


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
def test_a_corrupted_controller_copy_is_detected(kh, backup_dir, tmp_path, fmt):
    import shutil  # pylint: disable=import-outside-toplevel
    result = ok(backup(kh, backup_dir, format=fmt))
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
    inventory = write_inventory(tmp_path, kh)
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
