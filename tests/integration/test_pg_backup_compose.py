# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup and pg_restore on a real docker-compose host: pg_dump / pg_restore inside the db service
(runner compose, and auto when the host has no client).

The hosts are built by tests/compose/hosts (podman behind the docker CLI, one network namespace each).
Modules run inside the host's namespace, as Ansible runs them there, with the host's docker environment.
"""

from __future__ import annotations

import json
import os

from support.compose import connection, content, run_on
from support.modules import failed, ok


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
    assert "No usable client on the host or in the api-missing service" in failed(refused)
    assert not os.path.exists(tmp_path / "c") or not os.listdir(tmp_path / "c")


def test_a_wrong_password_fails_clearly_inside_the_service(staging, tmp_path):
    result = run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path), runner="compose",
                                                     login_password="not-the-password"))
    assert "password authentication failed" in failed(result)
    assert "not-the-password" not in result["_stdout"]


def test_a_clone_reads_the_free_space_of_the_db_services_volume(staging, tmp_path):
    """The server's data directory is in the db container: its volume's free space is read with df there."""
    point = ok(run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path), format="clone",
                                                       label="rp_space", record_recovery_point=False)))
    try:
        space = point["server_space"]
        assert space["measured"] == "compose" and space["ok"] is True, space
        assert space["filesystem_path"] == "/var/lib/postgresql/data" and space["free_bytes"] > 0
        refused = run_on(staging, "pg_backup", connection(staging, backup_dir=str(tmp_path), format="clone",
                                                          label="rp_space", record_recovery_point=False,
                                                          keep_free_mb=space["free_bytes"] // 2 ** 20 + 1))
        assert "Not enough free space on the database server's volume" in failed(refused)
    finally:
        staging.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % point["database"], db="postgres")
