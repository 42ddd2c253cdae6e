# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds the command lines of pg_dump, pg_restore and psql.

Each program writes to a file it names itself (``--file``): no pipe, no compressor
after pg_dump, so its exit code and stderr are always the ones checked. The
connection goes as a libpq conninfo (``Target.conninfo``), which never holds the
password, with ``--no-password`` so a program never waits for one.
"""

from __future__ import annotations

import os
import re

from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import Client, ClientError

FORMATS = ("custom", "directory", "plain")
SCOPES = ("full", "schema-only", "data-only")

_COMPRESSION = re.compile(r"^(?:(gzip|lz4|zstd|none)(?::(\d+))?|(\d))$")


def compression_args(client: Client, fmt: str, compression: str) -> tuple[list[str], str]:
    """pg_dump's compression arguments and their canonical name ('gzip:1', 'lz4', 'none').

    ``auto``: nothing for plain; gzip level 1 for custom/directory with pg_dump 15
    (CPU-cheap: -Z1 costs a fraction of the default level 6), lz4 with pg_dump 16 or newer.
    """
    compression = (compression or "auto").strip().lower()
    if fmt == "plain":
        if compression not in ("auto", "none", "0", "gzip:0"):
            raise ClientError("format=plain is written uncompressed so that psql can restore it directly (and no "
                              "compressor sits after pg_dump); use format custom or directory to compress.")
        return [], "none"
    if compression == "auto":
        compression = "lz4" if client.major >= 16 else "gzip:1"
    match = _COMPRESSION.match(compression)
    if not match:
        raise ClientError("compression=%r is not one of auto, none, 0-9 (gzip level), gzip[:1-9], lz4[:level], "
                          "zstd[:level]." % compression)
    method, level, bare = match.group(1), match.group(2), match.group(3)
    if bare is not None:
        method, level = ("none", None) if bare == "0" else ("gzip", bare)
    if method == "gzip" and level == "0":
        method, level = "none", None
    if method == "gzip" and level is None:
        level = "1"
    name = method if level is None or method == "none" else "%s:%s" % (method, level)
    if client.major >= 16:
        return ["--compress=%s" % name], name
    if method in ("lz4", "zstd"):
        raise ClientError("compression=%s needs pg_dump 16 or newer; the chosen pg_dump is %s (%s). Use gzip:1 "
                          "or none." % (method, client.version, client.bin_dir))
    return ["--compress=%s" % ("0" if method == "none" else level)], name


def table_pattern(schema: str, name: str) -> str:
    """An exact pg_dump --table pattern: inside double quotes nothing is a wildcard."""
    return '"%s"."%s"' % (schema.replace('"', '""'), name.replace('"', '""'))


def dump_argv(client: Client, dsn: str, path: str, fmt: str, scope: str, tables: list[tuple[str, str]],
              compression: list[str], jobs: int = 1, snapshot: str | None = None,
              lock_wait_timeout: str | None = None) -> list[str]:
    argv = [client.program("pg_dump"), "--dbname=%s" % dsn, "--no-password", "--format=%s" % fmt, "--file=%s" % path]
    argv += compression
    if fmt == "directory" and jobs > 1:
        argv.append("--jobs=%d" % jobs)
    if scope == "schema-only":
        argv.append("--schema-only")
    elif scope == "data-only":
        argv.append("--data-only")
    if tables:
        argv.append("--strict-names")
        argv += ["--table=%s" % table_pattern(s, n) for s, n in tables]
    if snapshot:
        argv.append("--snapshot=%s" % snapshot)
    if lock_wait_timeout:
        argv.append("--lock-wait-timeout=%s" % lock_wait_timeout)
    return argv


def list_argv(client: Client, archive: str) -> list[str]:
    return [client.program("pg_restore"), "--list", archive]


def read_all_argv(client: Client, archive: str) -> list[str]:
    """pg_restore reading every entry, data included, into nothing: proves each block decompresses."""
    return [client.program("pg_restore"), "--file=%s" % os.devnull, archive]


def restore_argv(client: Client, dsn: str, archive: str, jobs: int = 1, clean: bool = False,
                 single_transaction: bool = False, no_owner: bool = False) -> list[str]:
    argv = [client.program("pg_restore"), "--dbname=%s" % dsn, "--no-password", "--exit-on-error"]
    if clean:
        argv += ["--clean", "--if-exists"]
    if single_transaction:
        argv.append("--single-transaction")
    elif jobs > 1:
        argv.append("--jobs=%d" % jobs)
    if no_owner:
        argv.append("--no-owner")
    argv.append(archive)
    return argv


def script_argv(client: Client, archive: str, list_file: str, out: str) -> list[str]:
    """pg_restore writing the SQL of the entries in ``list_file`` (in that order) to ``out``."""
    return [client.program("pg_restore"), "--use-list=%s" % list_file, "--file=%s" % out, archive]


def psql_argv(client: Client, dsn: str, files: list[str]) -> list[str]:
    """psql running ``files`` in one transaction, stopping at the first error."""
    argv = [client.program("psql"), "--no-psqlrc", "--dbname=%s" % dsn, "--no-password", "--set=ON_ERROR_STOP=1",
            "--single-transaction", "--quiet", "--output=%s" % os.devnull]
    argv += ["--file=%s" % f for f in files]
    return argv
