# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command lines of pg_dump, pg_restore and psql: compression, exact tables, never the password."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _clients, _pgargs
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import ClientError
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

from support.modules import PARAMS


def fake_client(major: int, bin_dir: str = "/opt/pg/bin") -> _clients.Client:
    num = _clients.version_num(major, 2)
    return _clients.Client(bin_dir, num, "%d.2" % major, _AllExecutable())


class _AllExecutable(_clients.HostExecutor):
    def is_executable(self, path: str) -> bool:
        return True


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
    assert _pgargs.compression_args(fake_client(major), fmt, given) == (args, name)


def test_compression_refusals():
    with pytest.raises(ClientError, match="needs pg_dump 16 or newer; the chosen pg_dump is 15.2"):
        _pgargs.compression_args(fake_client(15), "custom", "lz4")
    with pytest.raises(ClientError, match="uncompressed"):
        _pgargs.compression_args(fake_client(15), "plain", "gzip:1")
    with pytest.raises(ClientError, match="is not one of"):
        _pgargs.compression_args(fake_client(15), "custom", "brotli")


def test_dump_argv_exact_tables_and_no_password():
    client = fake_client(15)
    argv = _pgargs.dump_argv(client, Target.from_params(PARAMS).conninfo(), "/b/x.dump", "directory", "data-only",
                             [("public", "chunks"), ('we"ird', "a.b*")], ["--compress=1"], jobs=3,
                             snapshot="00000003-1", lock_wait_timeout="60s")
    assert argv[0] == "/opt/pg/bin/pg_dump" and "--format=directory" in argv and "--jobs=3" in argv
    assert "--data-only" in argv and "--strict-names" in argv and "--no-password" in argv
    assert '--table="public"."chunks"' in argv and '--table="we""ird"."a.b*"' in argv
    assert "--snapshot=00000003-1" in argv and "--lock-wait-timeout=60s" in argv
    assert not any("s3cr" in a for a in argv)
    restore = _pgargs.restore_argv(client, "dbname=x", "/b/x.dump", jobs=4, single_transaction=True)
    assert "--single-transaction" in restore and not any(a.startswith("--jobs") for a in restore)
    assert "--exit-on-error" in restore
    psql = _pgargs.psql_argv(client, "dbname=x", ["/a.sql", "/b.sql"])
    assert "--set=ON_ERROR_STOP=1" in psql and "--single-transaction" in psql and "--no-psqlrc" in psql
    assert psql[-2:] == ["--file=/a.sql", "--file=/b.sql"]
