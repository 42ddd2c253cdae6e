# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups on real docker-compose hosts: pg_dump / pg_restore inside the db service, the postgres_data volume
with the services stopped for it, and the application's configuration, through Ansible.

The hosts are built by tests/compose/hosts.py (podman behind the docker CLI, one network namespace each).
Modules run inside the host's namespace, as Ansible runs them there, with the host's docker environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import time

import pytest

from conftest import module_command
from conftest_compose import ansible, load_legacy_state

pytest_plugins = ["conftest_compose"]

TABLES = ("ai_memories", "documents", "chunks")


def run_on(host, name: str, args: dict, check_mode: bool = False) -> dict:
    """Run a module of the collection inside ``host``'s namespace with its docker environment."""
    argv, stdin, env = module_command(name, args, check_mode)
    proc = subprocess.run(["nsenter", "--net=/run/netns/" + host.netns, "--", *argv], input=stdin,
                          capture_output=True, text=True, env=host.env({"PYTHONPATH": env["PYTHONPATH"]}),
                          check=False, timeout=900)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = {"failed": True, "msg": "module printed no JSON: %s" % proc.stderr[-2000:]}
    result.update(_stdout=proc.stdout, _stderr=proc.stderr)
    return result


def ok(result: dict) -> dict:
    assert not result.get("failed"), result.get("msg")
    return result


def connection(host, **extra) -> dict:
    env = host.env_file()
    params = dict(login_host="127.0.0.1", login_port=5433, login_user=env["POSTGRES_USER"],
                  login_password=env["POSTGRES_PASSWORD"], login_db="knowledgehub", project_dir=str(host.project_dir))
    params.update(extra)
    return params


def content(host, db: str = "knowledgehub") -> dict[str, str]:
    """Row count and an md5 of every row, per critical table."""
    return {t: host.psql("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                         "FROM %s t" % t, db=db) for t in TABLES}


def ready(host, service: str) -> bool:
    rows = host.compose("ps", "--all", "--format", "json").stdout
    for line in rows.splitlines():
        row = json.loads(line)
        if row.get("Service") == service:
            return row.get("State") == "running" and row.get("Health") in ("", "healthy")
    return False


@pytest.fixture(scope="module")
def staging(compose_hosts):
    host = compose_hosts["staging"]
    load_legacy_state(host, chunks=1500)
    return host


@pytest.fixture(scope="module")
def production(compose_hosts):
    host = compose_hosts["production"]
    load_legacy_state(host, chunks=1500)
    return host


def test_pg_dump_and_pg_restore_inside_the_db_service_round_trip(staging, tmp_path):
    before = content(staging)
    password = staging.env_file()["POSTGRES_PASSWORD"]
    made = ok(run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path), runner="compose")))
    assert made["client"]["runner"] == "compose" and made["client"]["pg_dump"].startswith("15.")
    assert made["cmd"][:2] == ["docker", "compose"] and "exec" in made["cmd"] and "PGPASSWORD" in made["cmd"]
    manifest = json.loads(open(made["manifest"], encoding="utf-8").read())
    assert manifest["tools"]["runner"] == "compose" and manifest["verified"] is True
    assert {k.split(".")[1]: v for k, v in manifest["row_counts"].items()}["chunks"] == 1500
    for text in (made["_stdout"], json.dumps(manifest), " ".join(made["cmd"])):
        assert password not in text

    staging.psql("DROP DATABASE IF EXISTS kh_copy WITH (FORCE)", db="postgres")
    restored = ok(run_on(staging, "pg_restore", connection(staging, manifest=made["manifest"], mode="new_database",
                                                           target_db="kh_copy", runner="compose", jobs=2)))
    assert restored["client"]["runner"] == "compose" and restored["row_counts_checked"] is True
    assert restored["jobs"] == 1 and "one job only" in json.dumps(restored.get("warnings"))
    assert content(staging, "kh_copy") == before
    staging.psql("DROP DATABASE kh_copy WITH (FORCE)", db="postgres")


def test_auto_falls_back_to_the_service_client_when_the_host_has_none(staging, tmp_path):
    empty = tmp_path / "no-client"
    empty.mkdir()
    made = ok(run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path / "b"), runner="auto",
                                                      pg_bin_dir=str(empty))))
    assert made["client"]["runner"] == "compose"
    refused = run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path / "c"), runner="auto",
                                                      pg_bin_dir=str(empty), db_service="api-missing"))
    assert refused.get("failed") and "No usable client on the host or in the api-missing service" in refused["msg"]
    assert not os.path.exists(tmp_path / "c") or not os.listdir(tmp_path / "c")


def test_a_wrong_password_fails_clearly_inside_the_service(staging, tmp_path):
    result = run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path), runner="compose",
                                                     login_password="not-the-password"))
    assert result.get("failed") and "password authentication failed" in result["msg"]
    assert "not-the-password" not in result["_stdout"]


def test_volume_backup_is_consistent_restorable_and_measures_downtime(production, tmp_path):
    before = content(production)
    made = ok(run_on(production, "compose_backup", dict(
        backup_dir=str(tmp_path), project_dir=str(production.project_dir), volume="postgres_data",
        stop_services=["api"], purpose="pre-migration")))
    assert made["stopped_services"] == ["api", "db"] and made["pg_version"] == "15"
    assert 0 < made["durations_ms"]["archive"] < made["downtime_ms"] <= made["durations_ms"]["application_downtime"]
    assert made["volume"]["target"] == "/var/lib/postgresql/data" and made["entries"] > 500
    assert ready(production, "db") and ready(production, "api")
    assert oct(os.stat(made["path"]).st_mode & 0o777) == "0o600"

    # Writes after the backup, then the volume put back from the archive: they are gone, the rest is intact.
    production.psql("DELETE FROM chunks WHERE id IN (SELECT id FROM chunks LIMIT 100)")
    assert content(production) != before
    production.compose("stop", "api", "db")
    with open(made["path"], "rb") as archive:
        proc = subprocess.run(["nsenter", "--net=/run/netns/" + production.netns, "--", production.workdir.docker(),
                               "compose", "run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "db", "-c",
                               "find /var/lib/postgresql/data -mindepth 1 -delete && "
                               "tar --numeric-owner -xzf - -C /var/lib/postgresql/data"],
                              stdin=archive, capture_output=True, env=production.env(),
                              cwd=production.project_dir, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    production.compose("start", "db", "api")
    deadline = time.monotonic() + 120
    while not (ready(production, "db") and ready(production, "api")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert content(production) == before


def test_a_failed_volume_backup_restarts_the_services_and_records_nothing(production, small_fs):
    production.compose("start", "db", "api")
    target = small_fs / "backups"
    result = run_on(production, "compose_backup", dict(
        backup_dir=str(target), project_dir=str(production.project_dir), volume="postgres_data",
        stop_services=["api"], check_free_space=False, compression="none"))
    assert result.get("failed") and "no space left on device" in result["msg"].lower(), result.get("msg")
    assert ready(production, "db") and ready(production, "api")
    assert not [n for n in os.listdir(target) if n.endswith(".json")]
    assert production.psql("SELECT 1") == "1"


def test_volume_backup_in_check_mode_stops_nothing(production, tmp_path):
    result = ok(run_on(production, "compose_backup", dict(
        backup_dir=str(tmp_path / "b"), project_dir=str(production.project_dir), volume="postgres_data",
        stop_services=["api"]), check_mode=True))
    assert result["changed"] is False and result["would_stop"] == ["api", "db"] and result["volume_bytes"] > 0
    assert not os.path.exists(tmp_path / "b") and ready(production, "db") and ready(production, "api")


def test_an_unknown_volume_names_the_ones_that_exist(production, tmp_path):
    result = run_on(production, "compose_backup", dict(backup_dir=str(tmp_path), project_dir=str(production.project_dir),
                                                       volume="pgdata"))
    assert result.get("failed") and "its named volumes are: postgres_data" in result["msg"]
    assert ready(production, "db")


def test_configuration_backup_through_ansible(compose_hosts, tmp_path):
    playbook = tmp_path / "config.yml"
    backup_dir = tmp_path / "backups"
    playbook.write_text("""
- name: Back up the application configuration
  hosts: staging
  gather_facts: false
  tasks:
    - name: Archive compose file, .env and config/
      knowledgehub.migration.compose_backup:
        backup_dir: %s
        project_dir: "{{ compose_project_dir }}"
        paths: [compose.yml, .env, config]
      register: config_backup
    - name: Show it
      ansible.builtin.debug:
        var: config_backup.files
""" % backup_dir)
    proc = ansible("ansible-playbook", compose_hosts.inventory, str(playbook))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "kh-test-only-password" not in proc.stdout
    archives = [n for n in os.listdir(backup_dir) if n.endswith(".tar.gz")]
    assert len(archives) == 1
    with tarfile.open(backup_dir / archives[0]) as tar:
        names = set(tar.getnames())
    assert {"compose.yml", ".env", "config/api.yml"} <= names


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs (needs root), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_migrate_playbook_on_a_compose_host_takes_every_backup_and_migrates(compose_hosts, staging, tmp_path):
    """ansible-playbook playbooks/migrate.yml -l staging, as an operator runs it, on a real compose host."""
    backup_dir = tmp_path / "backups"
    proc = ansible("ansible-playbook", compose_hosts.inventory, os.path.join("playbooks", "migrate.yml"),
                   "-l", "staging", "-e", "backup_dir=%s" % backup_dir,
                   "-e", '{"migrate_config_paths": ["compose.yml", ".env", "config"], "migrate_volume": "postgres_data"}')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "kh-test-only-password" not in proc.stdout
    assert staging.psql("SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM migration_log") == \
        "001:baseline,002:baseline,003:baseline,004:applied,005:applied"
    points = staging.psql("SELECT string_agg(purpose || ':' || ledger_version, ',' ORDER BY id) "
                          "FROM migration_log_recovery_point")
    assert points == "before:003,after_schema:004,after_data:005"
    names = os.listdir(backup_dir)
    assert len([n for n in names if n.startswith("knowledgehub-config_") and n.endswith(".tar.gz")]) == 1
    assert len([n for n in names if n.startswith("knowledgehub-volume_") and n.endswith(".tar.gz")]) == 1
    assert re.search(r"volume: knowledgehub-volume_\S+ \(database down\s+\d+\.\d\s+s\)", proc.stdout), \
        proc.stdout[-3000:]
    assert ready(staging, "db") and ready(staging, "api")
