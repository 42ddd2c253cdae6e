# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_pgdump: versions, the client choice, argument lists, the password's path, error detection."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _pgdump
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgdump import ClientError

PARAMS = dict(login_user="knowledgehub", login_password="s3cr:et\\pw'", login_host="127.0.0.1", login_port=5433,
              login_db="knowledgehub", login_unix_socket="", ssl_mode="prefer", connect_timeout=10, connect_params={},
              ca_cert=None, ssl_cert=None, ssl_key=None)


def fake_client(major: int, bin_dir: str = "/opt/pg/bin") -> _pgdump.Client:
    num = _pgdump.version_num(major, 2)
    return _pgdump.Client(bin_dir, num, "%d.2" % major, _AllExecutable())


class _AllExecutable(_pgdump.HostExecutor):
    def is_executable(self, path: str) -> bool:
        return True


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
    assert _pgdump.parse_version(text) == (num, shown)


def test_parse_version_refuses_garbage():
    with pytest.raises(ClientError, match="Cannot read a PostgreSQL version"):
        _pgdump.parse_version("bash: pg_dump: command not found")


def test_major_versions_compare_by_major_only():
    assert _pgdump.major_key(150018) == _pgdump.major_key(150000) < _pgdump.major_key(160000)
    assert _pgdump.major_key(90624) == 90600 and _pgdump.major_of(90624) == "9.6" and _pgdump.major_of(150018) == "15"


def test_the_oldest_client_at_least_as_new_as_the_server_is_chosen(tmp_path, monkeypatch):
    dirs = [fake_bin(tmp_path, "14", "14.9"), fake_bin(tmp_path, "16", "16.1"), fake_bin(tmp_path, "15", "15.3")]
    monkeypatch.setattr(_pgdump, "candidate_dirs", lambda: dirs)
    monkeypatch.setattr(_pgdump, "path_dir", lambda: None)
    env = dict(os.environ)
    client = _pgdump.choose_client(_pgdump.HostExecutor(), 150008, env)
    assert client.bin_dir == dirs[2] and client.version == "15.3"
    assert _pgdump.choose_client(_pgdump.HostExecutor(), 160000, env).bin_dir == dirs[1]
    with pytest.raises(ClientError) as err:
        _pgdump.choose_client(_pgdump.HostExecutor(), 170002, env)
    message = str(err.value)
    assert "the server is PostgreSQL 17.2" in message and "major version 17 or newer" in message
    assert "14.9 (%s)" % dirs[0] in message and "16.1 (%s)" % dirs[1] in message
    assert err.value.details["clients_found"][0] == {"version": "14.9", "bin_dir": dirs[0]}


def test_the_path_pg_dump_is_only_the_fallback(tmp_path, monkeypatch):
    versioned, on_path = fake_bin(tmp_path, "15", "15.3"), fake_bin(tmp_path, "wrapper", "15.1")
    monkeypatch.setattr(_pgdump, "candidate_dirs", lambda: [versioned])
    monkeypatch.setattr(_pgdump, "path_dir", lambda: on_path)
    assert _pgdump.choose_client(_pgdump.HostExecutor(), 150000, dict(os.environ)).bin_dir == versioned
    monkeypatch.setattr(_pgdump, "candidate_dirs", lambda: [fake_bin(tmp_path, "14", "14.9")])
    assert _pgdump.choose_client(_pgdump.HostExecutor(), 150000, dict(os.environ)).bin_dir == on_path


def test_an_explicit_bin_dir_that_is_too_old_is_refused(tmp_path):
    old = fake_bin(tmp_path, "14", "14.0")
    with pytest.raises(ClientError, match=r"server is PostgreSQL 15\.8 .* found 14\.0"):
        _pgdump.choose_client(_pgdump.HostExecutor(), 150008, dict(os.environ), pg_bin_dir=old)
    with pytest.raises(ClientError, match="holds no usable pg_dump"):
        _pgdump.choose_client(_pgdump.HostExecutor(), 150008, dict(os.environ), pg_bin_dir=str(tmp_path))


def test_other_programs_of_the_bin_dir_must_not_be_older(tmp_path):
    directory = fake_bin(tmp_path, "15", "15.3")
    (tmp_path / "15" / "bin" / "pg_restore").write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 14.1'\n",
                                                        encoding="utf-8")
    client = _pgdump.choose_client(_pgdump.HostExecutor(), 150000, dict(os.environ), pg_bin_dir=directory)
    with pytest.raises(ClientError, match="pg_restore in .* is 14.1, older than its pg_dump 15.3"):
        client.check_program("pg_restore", dict(os.environ))


@pytest.mark.parametrize("fmt, major, given, args, name", [
    ("custom", 15, "auto", ["--compress=1"], "gzip:1"),
    ("directory", 15, "auto", ["--compress=1"], "gzip:1"),
    ("custom", 16, "auto", ["--compress=lz4"], "lz4"),
    ("custom", 15, "none", ["--compress=0"], "none"),
    ("custom", 15, "0", ["--compress=0"], "none"),
    ("custom", 15, "6", ["--compress=6"], "gzip:6"),
    ("custom", 15, "gzip", ["--compress=1"], "gzip:1"),
    ("custom", 17, "zstd:3", ["--compress=zstd:3"], "zstd:3"),
    ("custom", 17, "gzip:0", ["--compress=none"], "none"),
    ("plain", 15, "auto", [], "none"),
])
def test_compression(fmt, major, given, args, name):
    assert _pgdump.compression_args(fake_client(major), fmt, given) == (args, name)


def test_compression_refusals():
    with pytest.raises(ClientError, match="needs pg_dump 16 or newer; the chosen pg_dump is 15.2"):
        _pgdump.compression_args(fake_client(15), "custom", "lz4")
    with pytest.raises(ClientError, match="uncompressed"):
        _pgdump.compression_args(fake_client(15), "plain", "gzip:1")
    with pytest.raises(ClientError, match="is not one of"):
        _pgdump.compression_args(fake_client(15), "custom", "brotli")


def test_conninfo_quotes_values_and_never_holds_the_password():
    params = dict(PARAMS, login_db="it's", connect_params={"password": "other", "target_session_attrs": "any"})
    dsn = _pgdump.conninfo(params, application="x y")
    assert "dbname='it\\'s'" in dsn and "application_name='x y'" in dsn and "target_session_attrs='any'" in dsn
    assert "s3cr" not in dsn and "other" not in dsn and "password" not in dsn
    assert "host='/run/pg'" in _pgdump.conninfo(dict(PARAMS, login_unix_socket="/run/pg"))


def test_dump_argv_exact_tables_and_no_password():
    client = fake_client(15)
    argv = _pgdump.dump_argv(client, _pgdump.conninfo(PARAMS), "/b/x.dump", "directory", "data-only",
                             [("public", "chunks"), ('we"ird', "a.b*")], ["--compress=1"], jobs=3,
                             snapshot="00000003-1", lock_wait_timeout="60s")
    assert argv[0] == "/opt/pg/bin/pg_dump" and "--format=directory" in argv and "--jobs=3" in argv
    assert "--data-only" in argv and "--strict-names" in argv and "--no-password" in argv
    assert '--table="public"."chunks"' in argv and '--table="we""ird"."a.b*"' in argv
    assert "--snapshot=00000003-1" in argv and "--lock-wait-timeout=60s" in argv
    assert not any("s3cr" in a for a in argv)
    restore = _pgdump.restore_argv(client, "dbname=x", "/b/x.dump", jobs=4, single_transaction=True)
    assert "--single-transaction" in restore and not any(a.startswith("--jobs") for a in restore)
    assert "--exit-on-error" in restore
    psql = _pgdump.psql_argv(client, "dbname=x", ["/a.sql", "/b.sql"])
    assert "--set=ON_ERROR_STOP=1" in psql and "--single-transaction" in psql and "--no-psqlrc" in psql
    assert psql[-2:] == ["--file=/a.sql", "--file=/b.sql"]


def test_password_goes_to_a_private_passfile_that_is_removed(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=1GB")
    with _pgdump.Credentials(PARAMS, {"maintenance_work_mem": "512MB"}) as creds:
        path = creds.env["PGPASSFILE"]
        assert "PGPASSWORD" not in creds.env and creds.env["LC_ALL"] == "C"
        assert creds.env["PGOPTIONS"] == "-c maintenance_work_mem=512MB"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        with open(path, encoding="utf-8") as handle:
            assert handle.read() == "*:*:*:*:s3cr\\:et\\\\pw'\n"
        assert creds.scrub("oops s3cr:et\\pw' leaked") == "oops ******** leaked"
    assert not os.path.exists(os.path.dirname(path))


def test_without_a_password_libpq_looks_it_up_itself(monkeypatch):
    monkeypatch.setenv("PGPASSFILE", "/home/op/.pgpass")
    with _pgdump.Credentials(dict(PARAMS, login_password="")) as creds:
        assert creds.env["PGPASSFILE"] == "/home/op/.pgpass" and creds.tmpdir is None


def test_session_settings_are_validated():
    assert _pgdump.pgoptions({"synchronous_commit": "off", "lock_timeout": "30s"}) == \
        "-c synchronous_commit=off -c lock_timeout=30s"
    with pytest.raises(ClientError, match="not a plain PostgreSQL setting"):
        _pgdump.pgoptions({"work_mem": "1GB -c log_statement=all"})
    with pytest.raises(ClientError):
        _pgdump.pgoptions({"bad name": "1"})


def result(rc: int, stderr: str) -> _pgdump.CommandResult:
    return _pgdump.CommandResult(["/bin/pg_dump", "x"], rc, "", stderr, 0.1)


def test_check_needs_exit_code_zero_and_no_error_on_stderr():
    assert _pgdump.check(result(0, "pg_dump: warning: there are circular foreign-key constraints\n"), "dump") == [
        "pg_dump: warning: there are circular foreign-key constraints"]
    with pytest.raises(ClientError, match=r"dump failed \(exit code 1\): pg_dump: error: could not write"):
        _pgdump.check(result(1, "pg_dump: error: could not write to output file: No space left on device\n"), "dump")
    with pytest.raises(ClientError, match="exit code 0"):
        _pgdump.check(result(0, "pg_dump: error: query failed\n"), "dump")
    with pytest.raises(ClientError, match="ERROR:  relation"):
        _pgdump.check(result(3, "psql:/x.sql:12: ERROR:  relation \"t\" does not exist\n"), "psql")
    with pytest.raises(ClientError, match=r"\*\*\*\*\*\*\*\*") as err:
        with _pgdump.Credentials(PARAMS) as creds:
            _pgdump.check(result(1, "FATAL: s3cr:et\\pw' is wrong"), "dump", creds)
    assert "s3cr" not in str(err.value) and "s3cr" not in str(err.value.details)


def test_toc_parsing():
    listing = (";\n; Archive created at 2026-11-24\n;\n5; 2615 2200 SCHEMA - public knowledgehub\n"
               "220; 1259 16431 TABLE public chunks knowledgehub\n"
               "3470; 0 16431 TABLE DATA public chunks knowledgehub\n"
               "3471; 0 16500 TABLE DATA my schema odd name knowledgehub\n"
               "3500; 0 0 SEQUENCE SET public chunks_id_seq knowledgehub\n")
    entries = _pgdump.parse_toc(listing)
    assert [e.dump_id for e in entries] == [5, 220, 3470, 3471, 3500]
    assert _pgdump.toc_has(entries, "TABLE DATA", "public", "chunks").dump_id == 3470
    assert _pgdump.toc_has(entries, "TABLE", "public", "chunks").dump_id == 220
    assert _pgdump.toc_has(entries, "TABLE DATA", "my schema", "odd name").dump_id == 3471
    assert _pgdump.toc_has(entries, "TABLE DATA", "public", "chunk") is None
    assert _pgdump.toc_has(entries, "TABLE", "public", "chunks_id_seq") is None


def test_host_executor_runs_without_shell_and_umask_077(tmp_path):
    executor = _pgdump.HostExecutor()
    target = tmp_path / "made"
    done = executor.run(["touch", str(target)], dict(os.environ))
    assert done.rc == 0 and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    running = executor.start(["sleep", "30"], dict(os.environ))
    assert running.poll() is None
    running.stop()
    assert running.poll() is not None
    with pytest.raises(ClientError, match="Cannot run /nonexistent/pg_dump"):
        executor.start(["/nonexistent/pg_dump"], dict(os.environ))
    echoed = executor.run(["echo", "a;b $(x)"], dict(os.environ))
    assert echoed.stdout == "a;b $(x)\n"
    with pytest.raises(ClientError, match="runner='docker' is not one of auto, host, compose"):
        _pgdump.select_client({"runner": "docker"}, 150000, None)
