# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How host command lines become commands inside the compose db service (pure logic; the real runs are in
tests/integration/test_compose_runner.py)."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _pgdump
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import Project
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgdump import ClientError, container_command

BIN = "/usr/lib/postgresql/15/bin/"


def test_pg_dump_output_file_becomes_stdout():
    argv, stdin, stdout = container_command([BIN + "pg_dump", "--dbname=x", "--file=/var/backups/a.dump.partial",
                                             "--format=custom", "--compress=1"])
    assert argv == [BIN + "pg_dump", "--dbname=x", "--format=custom", "--compress=1"]
    assert (stdin, stdout) == (None, "/var/backups/a.dump.partial")


def test_archive_argument_becomes_stdin_and_dev_null_stays(tmp_path):
    archive = tmp_path / "a.dump"
    archive.write_bytes(b"PGDMP")
    argv, stdin, stdout = container_command([BIN + "pg_restore", "--file=/dev/null", str(archive)])
    assert argv == ["sh", "-c", _pgdump.DRAIN_STDIN, BIN + "pg_restore", "--file=/dev/null"]
    assert stdin == str(archive) and stdout is None


def test_psql_file_is_an_input():
    argv, stdin, stdout = container_command([BIN + "psql", "--dbname=x", "--output=/dev/null", "--file=/b/a.sql"])
    assert argv[-1] == "--file=-" and argv[3] == BIN + "psql" and stdin == "/b/a.sql" and stdout is None


def test_what_cannot_be_streamed_is_refused(tmp_path):
    with pytest.raises(ClientError, match="directory archive"):
        container_command([BIN + "pg_restore", "--list", str(tmp_path)])
    with pytest.raises(ClientError, match="two host files"):
        container_command([BIN + "psql", "--file=/b/1.sql", "--file=/b/2.sql"])
    with pytest.raises(ClientError, match="no parallel jobs"):
        container_command([BIN + "pg_restore", "--dbname=x", "--jobs=2", "/b/a.dump"])
    with pytest.raises(ClientError, match="use-list"):
        container_command([BIN + "pg_restore", "--use-list=/b/l", "/b/a.dump"])


def test_the_password_travels_by_name_only(tmp_path):
    executor = _pgdump.ComposeExecutor(Project(str(tmp_path), env={}), "db", password="pw-never-in-argv")
    argv = executor.exec_argv([BIN + "pg_dump", "--version"], {"PGPASSFILE": "/tmp/x/pgpass"})
    assert argv[:5] == ["docker", "compose", "--project-directory", str(tmp_path), "exec"]
    assert "PGPASSWORD" in argv and not any("pw-never-in-argv" in a for a in argv)
    env = executor._env({"PGPASSFILE": "/tmp/x/pgpass", "PATH": "/usr/bin"})
    assert env["PGPASSWORD"] == "pw-never-in-argv" and "PGPASSFILE" not in env
    assert argv.index("db") == len(argv) - 3  # the service, then the program and its arguments


def test_auto_without_a_project_reports_the_host_problem(tmp_path, monkeypatch):
    monkeypatch.setattr(_pgdump, "candidate_dirs", lambda: [])
    monkeypatch.setattr(_pgdump, "path_dir", lambda: None)
    with _pgdump.Credentials({"login_password": ""}) as creds:
        with pytest.raises(ClientError, match="No pg_dump at least as new as the server"):
            _pgdump.select_client({"runner": "auto"}, 150008, creds)
        with pytest.raises(ClientError, match=r"In the db service: The compose project directory .*/nope does not "
                                              r"exist"):
            _pgdump.select_client({"runner": "compose", "project_dir": str(tmp_path / "nope")}, 150008, creds)
