# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compose_backup on real docker-compose hosts: the postgres_data volume with the services stopped for it
(consistent, restorable, downtime measured), and the application's configuration, through Ansible.

The hosts are built by tests/compose/hosts (podman behind the docker CLI, one network namespace each).
Modules run inside the host's namespace, as Ansible runs them there, with the host's docker environment.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import time

import pytest

from support.compose import content, ready, run_on
from support.modules import failed, ok
from support.playbooks import ansible


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
    assert "no space left on device" in failed(result).lower(), result.get("msg")
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
    assert "its named volumes are: postgres_data" in failed(result)
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
