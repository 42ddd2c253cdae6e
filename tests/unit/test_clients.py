# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL client programs: their versions, which one is chosen, where they run (on the host, or inside
the compose db service: how host command lines become commands there; the real runs are in
tests/integration/test_pg_backup_compose.py)."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _clients
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import Project
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import ClientError, container_command
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target


def fake_bin(tmp_path, name: str, version: str) -> str:
    directory = tmp_path / name / "bin"
    directory.mkdir(parents=True)
    for program in ("pg_dump", "pg_restore", "psql"):
        script = directory / program
        script.write_text("#!/bin/sh\necho '%s (PostgreSQL) %s'\n" % (program, version), encoding="utf-8")
        script.chmod(0o755)
    return str(directory)


@pytest.mark.parametrize("text, num, shown", [
    ("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", 150018, "15.18"),
    ("pg_dump (PostgreSQL) 14.0", 140000, "14.0"),
    ("pg_dump (PostgreSQL) 17", 170000, "17"),
    ("pg_dump (PostgreSQL) 9.6.24", 90624, "9.6.24"),
])
def test_parse_version(text, num, shown):
    assert _clients.parse_version(text) == (num, shown)


def test_parse_version_refuses_garbage():
    with pytest.raises(ClientError, match="Cannot read a PostgreSQL version"):
        _clients.parse_version("bash: pg_dump: command not found")


def test_major_versions_compare_by_major_only():
    assert _clients.major_key(150018) == _clients.major_key(150000) < _clients.major_key(160000)
    assert _clients.major_key(90624) == 90600 and _clients.major_of(90624) == "9.6" and _clients.major_of(150018) == "15"


def test_the_oldest_client_at_least_as_new_as_the_server_is_chosen(tmp_path, monkeypatch):
    dirs = [fake_bin(tmp_path, "14", "14.9"), fake_bin(tmp_path, "16", "16.1"), fake_bin(tmp_path, "15", "15.3")]
    monkeypatch.setattr(_clients, "candidate_dirs", lambda: dirs)
    monkeypatch.setattr(_clients, "path_dir", lambda: None)
    env = dict(os.environ)
    client = _clients.choose_client(_clients.HostExecutor(), 150008, env)
    assert client.bin_dir == dirs[2] and client.version == "15.3"
    assert _clients.choose_client(_clients.HostExecutor(), 160000, env).bin_dir == dirs[1]
    with pytest.raises(ClientError) as err:
        _clients.choose_client(_clients.HostExecutor(), 170002, env)
    message = str(err.value)
    assert "the server is PostgreSQL 17.2" in message and "major version 17 or newer" in message
    assert "14.9 (%s)" % dirs[0] in message and "16.1 (%s)" % dirs[1] in message
    assert err.value.details["clients_found"][0] == {"version": "14.9", "bin_dir": dirs[0]}


def test_the_path_pg_dump_is_only_the_fallback(tmp_path, monkeypatch):
    versioned, on_path = fake_bin(tmp_path, "15", "15.3"), fake_bin(tmp_path, "wrapper", "15.1")
    monkeypatch.setattr(_clients, "candidate_dirs", lambda: [versioned])
    monkeypatch.setattr(_clients, "path_dir", lambda: on_path)
    assert _clients.choose_client(_clients.HostExecutor(), 150000, dict(os.environ)).bin_dir == versioned
    monkeypatch.setattr(_clients, "candidate_dirs", lambda: [fake_bin(tmp_path, "14", "14.9")])
    assert _clients.choose_client(_clients.HostExecutor(), 150000, dict(os.environ)).bin_dir == on_path


def test_an_explicit_bin_dir_that_is_too_old_is_refused(tmp_path):
    old = fake_bin(tmp_path, "14", "14.0")
    with pytest.raises(ClientError, match=r"server is PostgreSQL 15\.8 .* found 14\.0"):
        _clients.choose_client(_clients.HostExecutor(), 150008, dict(os.environ), pg_bin_dir=old)
    with pytest.raises(ClientError, match="holds no usable pg_dump"):
        _clients.choose_client(_clients.HostExecutor(), 150008, dict(os.environ), pg_bin_dir=str(tmp_path))


def test_other_programs_of_the_bin_dir_must_not_be_older(tmp_path):
    directory = fake_bin(tmp_path, "15", "15.3")
    (tmp_path / "15" / "bin" / "pg_restore").write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 14.1'\n",
                                                        encoding="utf-8")
    client = _clients.choose_client(_clients.HostExecutor(), 150000, dict(os.environ), pg_bin_dir=directory)
    with pytest.raises(ClientError, match="pg_restore in .* is 14.1, older than its pg_dump 15.3"):
        client.check_program("pg_restore", dict(os.environ))


def test_host_executor_runs_without_shell_and_umask_077(tmp_path):
    executor = _clients.HostExecutor()
    target = tmp_path / "made"
    done = executor.run(["touch", str(target)], dict(os.environ))
    assert done.rc == 0 and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    running = executor.start(["sleep", "30"], dict(os.environ))
    assert running.poll() is None
    running.stop()
    assert running.poll() is not None
    with pytest.raises(ProcessError, match="Cannot run /nonexistent/pg_dump"):
        executor.start(["/nonexistent/pg_dump"], dict(os.environ))
    echoed = executor.run(["echo", "a;b $(x)"], dict(os.environ))
    assert echoed.stdout == "a;b $(x)\n"
    with pytest.raises(ClientError, match="runner='docker' is not one of auto, host, compose"):
        _clients.select_client({"runner": "docker"}, Target.from_params({}), 150000, {})


# -- inside the compose db service -------------------------------------------------------------------


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
    assert argv == ["sh", "-c", _clients.DRAIN_STDIN, BIN + "pg_restore", "--file=/dev/null"]
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
    executor = _clients.ComposeExecutor(Project(str(tmp_path), env={}), "db", password="pw-never-in-argv")
    argv = executor.exec_argv([BIN + "pg_dump", "--version"], {"PGPASSFILE": "/tmp/x/pgpass"})
    assert argv[:5] == ["docker", "compose", "--project-directory", str(tmp_path), "exec"]
    assert "PGPASSWORD" in argv and not any("pw-never-in-argv" in a for a in argv)
    env = executor._env({"PGPASSFILE": "/tmp/x/pgpass", "PATH": "/usr/bin"})
    assert env["PGPASSWORD"] == "pw-never-in-argv" and "PGPASSFILE" not in env
    assert argv.index("db") == len(argv) - 3  # the service, then the program and its arguments


def test_auto_without_a_project_reports_the_host_problem(tmp_path, monkeypatch):
    monkeypatch.setattr(_clients, "candidate_dirs", lambda: [])
    monkeypatch.setattr(_clients, "path_dir", lambda: None)
    target = Target.from_params({"login_password": ""})
    with target.client_env() as env:
        with pytest.raises(ClientError, match="No pg_dump at least as new as the server"):
            _clients.select_client({"runner": "auto"}, target, 150008, env)
        with pytest.raises(ClientError, match=r"In the db service: The compose project directory .*/nope does not "
                                              r"exist"):
            _clients.select_client({"runner": "compose", "project_dir": str(tmp_path / "nope")}, target, 150008, env)
