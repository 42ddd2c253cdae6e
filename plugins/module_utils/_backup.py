# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logical backups that count only once proven: dump, verify, manifest, retention.

Order of a backup: connect -> choose a pg_dump at least as new as the server ->
resolve the tables asked for (a missing one fails here) -> open a REPEATABLE READ
transaction and export its snapshot -> estimate the size and check free space
(fail early, with the numbers) -> lock the tables ACCESS SHARE -> run pg_dump on
that same snapshot -> check pg_dump's exit code and stderr -> take the exact row
counts in the snapshot while verifying the archive (its table of contents against
the catalog, sha256, size) -> move it to its final name -> write the manifest
(0600, atomically) -> retention.

A backup without a manifest saying ``verified: true`` is not a backup: nothing
that fails on the way leaves one, and retention only counts those.
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import json
import os
import re
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils import _pgdump
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import (
    LedgerError,
    RecoveryPoints,
    is_uuid,
    recovery_point_row,
    recovery_point_table,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._postgres import (
    ConnectionFailure,
    connect,
    pgsql,
    psycopg2,
)

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
FAILED_SUFFIX = ".failed"
EXTENSIONS = {"custom": ".dump", "directory": ".dir", "plain": ".sql"}

# Dump size per byte of table data (heap + TOAST), measured on KnowledgeHub data
# (bench/README.md): real[] embeddings grow ~2.5x as text, prose shrinks a little.
# Rounded up: the estimate errs on the side of asking for more room.
SIZE_FACTORS = {"none": 1.8, "gzip": 0.8, "lz4": 1.0, "zstd": 0.7}
SCHEMA_BYTES = 1024 * 1024
RESERVE_FRACTION = 0.10
RESERVE_MIN = 16 * 1024 * 1024

_DURATION = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_PLAIN_HEADER = re.compile(
    rb"-- (?:Data for )?Name: ([^;\n]*); Type: (TABLE DATA|TABLE|SEQUENCE SET); Schema: ([^;\n]*); Owner: ")
_PLAIN_COMPLETE = b"-- PostgreSQL database dump complete"
_HEADER_MAX = 1024  # longer than any header line (four names of at most 63 bytes each)


class BackupError(Exception):
    """A backup (or a restore's check of one) failed; ``details`` holds the facts for the result."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


# -- small helpers -----------------------------------------------------------------


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def human(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(num) < 1024 or unit == "TiB":
            return "%.1f %s" % (num, unit) if unit != "B" else "%d B" % num
        num /= 1024.0
    return "%d B" % num  # pragma: no cover


def check_duration(option: str, value: str) -> None:
    if not _DURATION.match(str(value)):
        raise BackupError("%s=%r is not a PostgreSQL duration (examples: 60s, 500ms, 2min, 0)." % (option, value))


def check_label(label: str) -> None:
    if not _LABEL.match(label or ""):
        raise BackupError("label=%r must start with a letter or digit and hold only letters, digits, '_', '.' "
                          "and '-' (it names the backup files)." % label)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def who() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname()}


# -- catalog ------------------------------------------------------------------------


@dataclass
class TableInfo:
    oid: int
    schema: str
    name: str
    relkind: str
    size: int

    @property
    def qualified(self) -> str:
        return "%s.%s" % (self.schema, self.name)

    @property
    def has_data(self) -> bool:
        return self.relkind == "r"

    def ident(self) -> Any:
        return pgsql.Identifier(self.schema, self.name)


_TABLES = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, pg_table_size(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                              AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname
"""


def all_tables(cur: Any) -> list[TableInfo]:
    """Every table pg_dump dumps in a full dump (user schemas, not extension members)."""
    cur.execute(_TABLES)
    return [TableInfo(int(r[0]), r[1], r[2], r[3], int(r[4] or 0)) for r in cur.fetchall()]


def resolve_tables(cur: Any, names: list[str]) -> list[TableInfo]:
    """The tables named (``table`` or ``schema.table``, SQL identifier syntax); fail naming every missing one.

    Runs in autocommit: a malformed name makes to_regclass raise, which must not abort a transaction.
    """
    tables = {t.oid: t for t in all_tables(cur)}
    found: list[TableInfo] = []
    missing: list[str] = []
    not_tables: list[str] = []
    for name in names:
        try:
            cur.execute("SELECT to_regclass(%s)::oid::bigint, (SELECT relkind::text FROM pg_class "
                        "WHERE oid = to_regclass(%s))", (name, name))
            oid, relkind = cur.fetchone()
        except psycopg2.Error as exc:
            missing.append("%s (%s)" % (name, first_line(exc)))
            continue
        if oid is None:
            missing.append(name)
        elif int(oid) not in tables:
            not_tables.append("%s (%s)" % (name, {"v": "a view", "m": "a materialized view", "S": "a sequence",
                                                  "f": "a foreign table", "i": "an index"}.get(relkind, "not a table")))
        elif all(t.oid != int(oid) for t in found):
            found.append(tables[int(oid)])
    if missing or not_tables:
        known = ", ".join(t.qualified for t in tables.values())
        problems = []
        if missing:
            problems.append("no such table: %s" % ", ".join(missing))
        if not_tables:
            problems.append("not a table: %s" % ", ".join(not_tables))
        raise BackupError("Cannot back up the tables asked for (%s). Tables in the database: %s. Nothing was "
                          "written." % ("; ".join(problems), known or "none"),
                          {"missing_tables": missing, "not_tables": not_tables})
    return found


def database_info(cur: Any, server_num: int) -> dict[str, Any]:
    extra = ", d.datlocprovider::text, d.daticulocale" if server_num >= 150000 else ", 'c', NULL"
    cur.execute("SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, "
                "d.datctype, pg_database_size(d.oid), d.datconnlimit" + extra +
                " FROM pg_database d WHERE d.datname = current_database()")
    row = cur.fetchone()
    return {"name": row[0], "owner": row[1], "encoding": row[2], "collate": row[3], "ctype": row[4],
            "size_bytes": int(row[5]), "connection_limit": int(row[6]), "locale_provider": row[7],
            "icu_locale": row[8]}


def ledger_state(cur: Any, schema: str, table: str) -> dict[str, Any]:
    """The migration ledger's last applied version, read in the backup's snapshot; never fails the backup."""
    state: dict[str, Any] = {"table": "%s.%s" % (schema, table), "exists": False, "last_applied_version": None,
                             "last_applied_at": None}
    ident = pgsql.Identifier(schema, table)
    cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                "AND NOT attisdropped", (ident.as_string(cur),))
    columns = {r[0] for r in cur.fetchall()}
    if not columns:
        return state
    state["exists"] = True
    if not {"version", "status", "completed_at"} <= columns:
        state["note"] = "table exists but is not this tool's ledger"
        return state
    cur.execute(pgsql.SQL("SELECT version, completed_at FROM {t} WHERE status IN ('applied', 'baseline') "
                          "ORDER BY length(version) DESC, version DESC LIMIT 1").format(t=ident))
    row = cur.fetchone()
    if row:
        state["last_applied_version"] = row[0]
        state["last_applied_at"] = row[1].isoformat() if row[1] is not None else None
    return state


def count_rows(cur: Any, tables: list[TableInfo]) -> dict[str, int]:
    """Exact row counts (count(*) of each table itself, partitions counted on their own)."""
    counts = {}
    for table in tables:
        if table.has_data:
            cur.execute(pgsql.SQL("SELECT count(*) FROM ONLY {t}").format(t=table.ident()))
            counts[table.qualified] = int(cur.fetchone()[0])
    return counts


# -- size and space -----------------------------------------------------------------


def estimate_size(data_bytes: int, n_tables: int, scope: str, compression: str) -> int:
    """Expected archive size from the size of the table data in scope and the compression method."""
    schema = SCHEMA_BYTES + 4096 * n_tables
    if scope == "schema-only":
        return schema
    method = compression.split(":")[0] if compression else "none"
    return int(data_bytes * SIZE_FACTORS.get(method, SIZE_FACTORS["none"])) + schema


def existing_parent(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def space_verdict(path: str, estimated: int) -> dict[str, Any]:
    """Free space where ``path`` is (or would be created) against what the backup needs."""
    where = existing_parent(path)
    stat = os.statvfs(where)
    free = stat.f_bavail * stat.f_frsize
    required = estimated + max(int(estimated * RESERVE_FRACTION), RESERVE_MIN)
    return {"filesystem_path": where, "free_bytes": free, "estimated_bytes": estimated,
            "required_free_bytes": required, "ok": free >= required,
            "summary": "needs %s (estimate %s + reserve), %s free on %s"
                       % (human(required), human(estimated), human(free), where)}


# -- checksums and tables of contents ---------------------------------------------------

_BLOCK = 8 * 1024 * 1024


def hashed_blocks(path: str, digest: Any) -> Iterator[bytes]:
    """The blocks of a file, in order, each fed to ``digest`` in a second thread (hashlib releases the GIL)
    while the next one is read and the caller looks at this one; ``digest`` is complete once they are all out."""
    hashing: Any = None
    with open(path, "rb") as handle, ThreadPoolExecutor(max_workers=1) as pool:
        while True:
            block = handle.read(_BLOCK)
            if not block:
                break
            if hashing is not None:
                hashing.result()  # blocks are hashed in order
            hashing = pool.submit(digest.update, block)
            yield block
        if hashing is not None:
            hashing.result()


def sha256_file(path: str) -> tuple[str, int]:
    """sha256 and size of a file; reading overlaps hashing, which halves the time on a large archive."""
    digest = hashlib.sha256()
    size = sum(len(block) for block in hashed_blocks(path, digest))
    return digest.hexdigest(), size


def archive_digest(path: str) -> dict[str, Any]:
    """sha256 and size of an archive; a directory archive gets one per file and one over their list."""
    if not os.path.isdir(path):
        sha, size = sha256_file(path)
        return {"sha256": sha, "size_bytes": size}
    files = {}
    for file_path in _pgdump.iter_files(path):
        sha, size = sha256_file(file_path)
        files[os.path.basename(file_path)] = {"sha256": sha, "size_bytes": size}
    listing = "".join("%s  %s\n" % (v["sha256"], k) for k, v in sorted(files.items()))
    return {"sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
            "size_bytes": sum(v["size_bytes"] for v in files.values()), "files": files}


def _headers(buf: bytes, start: int, end: int, min_end: int, entries: list[tuple[str, str, str]]) -> None:
    """Append the pg_dump headers in ``buf`` whose newline is in [start, end) and that end after ``min_end``."""
    pos = buf.find(b"\n-- ", start, end)
    while pos != -1:
        match = _PLAIN_HEADER.match(buf, pos + 1)
        if match and match.end() > min_end:
            entries.append((match.group(2).decode(), match.group(3).decode("utf-8", "replace"),
                            match.group(1).decode("utf-8", "replace")))
        pos = buf.find(b"\n-- ", pos + 1, end)


def scan_plain(path: str) -> dict[str, Any]:
    """One pass over a plain dump: sha256, size, its entries (from pg_dump's headers), complete or not.

    The sha256 of each block runs in a second thread (hashlib releases the GIL) while this one looks
    for pg_dump's entry headers. Blocks are not joined (copying them costs as much as the search):
    a header cut by a block boundary is found in a small window across it.
    """
    digest = hashlib.sha256()
    size = 0
    entries: list[tuple[str, str, str]] = []
    previous = b"\n"  # the file starts as if after a newline
    tail = b""
    for block in hashed_blocks(path, digest):
        size += len(block)
        edge = previous[-_HEADER_MAX:]
        window = edge + block[:_HEADER_MAX]
        _headers(window, 0, len(edge) + 3, len(edge), entries)  # headers across the boundary
        _headers(block, 0, len(block), 0, entries)  # headers inside the block
        previous = _last(previous, block, _HEADER_MAX)
        tail = _last(tail, block, 4096)
    return {"sha256": digest.hexdigest(), "size_bytes": size, "entries": entries,
            "complete": _PLAIN_COMPLETE in tail}


def _last(before: bytes, block: bytes, count: int) -> bytes:
    """The last ``count`` bytes of ``before + block``, without copying a large block."""
    return block[-count:] if len(block) >= count else (before + block)[-count:]


def expected_entries(scope: str, tables: list[TableInfo]) -> list[tuple[str, str, str]]:
    """The table entries an archive of ``scope`` over ``tables`` must hold."""
    expected = []
    for table in tables:
        if scope in ("full", "schema-only"):
            expected.append(("TABLE", table.schema, table.name))
        if scope in ("full", "data-only") and table.has_data:
            expected.append(("TABLE DATA", table.schema, table.name))
    return expected


def archive_entries(client: _pgdump.Client, creds: _pgdump.Credentials, fmt: str, path: str,
                    plain_scan: dict[str, Any] | None = None) -> tuple[list[Any], Callable[[str, str, str], bool]]:
    """The archive's entries and a membership test; ``pg_restore --list`` for custom/directory."""
    if fmt == "plain":
        scan = plain_scan or scan_plain(path)
        present = set(scan["entries"])
        return scan["entries"], lambda desc, schema, name: (desc, schema, name) in present
    result, _warnings = _pgdump.run_checked(client, _pgdump.list_argv(client, path), creds,
                                            "pg_restore --list %s" % path, timeout=600)
    entries = _pgdump.parse_toc(result.stdout)
    if not entries:
        raise BackupError("pg_restore --list found no entries in %s: the archive is empty or unreadable." % path)
    return entries, lambda desc, schema, name: _pgdump.toc_has(entries, desc, schema, name) is not None


def verify_entries(has: Callable[[str, str, str], bool], expected: list[tuple[str, str, str]], path: str) -> None:
    missing = ["%s %s.%s" % e for e in expected if not has(*e)]
    if missing:
        raise BackupError("The archive %s lacks %d of the %d table entries it must hold: %s."
                          % (path, len(missing), len(expected), ", ".join(missing[:20])),
                          {"missing_entries": missing})


def verify_directory_files(entries: list[Any], path: str) -> None:
    """Each TABLE DATA entry of a directory archive has its data file."""
    names = set(os.listdir(path))
    if "toc.dat" not in names:
        raise BackupError("The directory archive %s has no toc.dat." % path)
    missing = []
    for entry in entries:
        if entry.rest.startswith("TABLE DATA "):
            prefix = "%d.dat" % entry.dump_id
            if not any(n == prefix or n.startswith(prefix + ".") for n in names):
                missing.append("%s (%s)" % (prefix, entry.rest))
    if missing:
        raise BackupError("The directory archive %s lacks data files: %s." % (path, ", ".join(missing[:20])))


# -- manifests ---------------------------------------------------------------------------


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path``: mode 0600, fsynced, renamed into place."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, ".%s.tmp" % os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_manifest(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError("Cannot read the backup manifest %s: %s." % (path, exc)) from None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise BackupError("%s is not a manifest of this collection (manifest_version %r)."
                          % (path, data.get("manifest_version") if isinstance(data, dict) else None))
    return data


def manifest_path(backup_dir: str, backup_id: str) -> str:
    return os.path.join(backup_dir, backup_id + MANIFEST_SUFFIX)


def list_manifests(backup_dir: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    if not os.path.isdir(backup_dir):
        return found
    for name in sorted(os.listdir(backup_dir)):
        if name.endswith(MANIFEST_SUFFIX) and not name.startswith("."):
            path = os.path.join(backup_dir, name)
            try:
                found.append((path, load_manifest(path)))
            except BackupError:
                continue
    return found


def is_good(manifest: dict[str, Any]) -> bool:
    return manifest.get("verified") is True and not manifest.get("consumed_at")


def good_backups(backup_dir: str, label: str, kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Verified, unconsumed backups of ``label`` (and ``kind``), newest first."""
    rows = [(p, m) for p, m in list_manifests(backup_dir)
            if m.get("label") == label and is_good(m) and (kind is None or m.get("kind") == kind)]
    rows.sort(key=lambda pm: (pm[1].get("created_at", ""), pm[1].get("backup_id", "")), reverse=True)
    return rows


def archive_path(manifest_file: str, manifest: dict[str, Any]) -> str:
    return os.path.join(os.path.dirname(manifest_file), manifest["archive"]["name"])


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def apply_retention(backup_dir: str, label: str, kind: str, keep: int,
                    drop_clone: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
    """Keep the newest ``keep`` good backups of ``label``/``kind``; remove the rest. 0 keeps all.

    The manifest goes first, so an interrupted removal never leaves a manifest
    pointing at half an archive.
    """
    if not keep or keep < 1:
        return []
    removed = []
    for path, manifest in good_backups(backup_dir, label, kind)[keep:]:
        if manifest.get("kind") == "clone":
            if drop_clone is None:
                continue
            drop_clone(manifest)
            os.unlink(path)
        else:
            archive = archive_path(path, manifest)
            os.unlink(path)
            remove_path(archive)
        removed.append(manifest["backup_id"])
    return removed


def new_backup_id(backup_dir: str, label: str, now: datetime.datetime) -> str:
    base = "%s_%s" % (label, now.strftime("%Y%m%dT%H%M%SZ"))
    candidate = base
    number = 1
    while _taken(backup_dir, candidate):
        number += 1
        candidate = "%s_%d" % (base, number)
    return candidate


def _taken(backup_dir: str, backup_id: str) -> bool:
    if not os.path.isdir(backup_dir):
        return False
    return any(name.startswith(backup_id + ".") for name in os.listdir(backup_dir))


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (and parents) mode 0700; an existing backup directory is set to 0700."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def make_private(path: str) -> None:
    """Files 0600, directories 0700, throughout an archive."""
    if os.path.isdir(path):
        os.chmod(path, 0o700)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
            for name in files:
                os.chmod(os.path.join(root, name), 0o600)
    else:
        os.chmod(path, 0o600)


# -- the backup ------------------------------------------------------------------------------


class BackupRun:
    """One logical backup (pg_dump) of ``params['login_db']``."""

    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.p = params
        self.check_mode = check_mode
        self.fmt: str = params["format"]
        self.scope: str = params["scope"]
        self.label: str = params.get("label") or params["login_db"]
        self.backup_dir: str = os.path.abspath(params["backup_dir"])
        self.result: dict[str, Any] = {"changed": False, "kind": "dump", "format": self.fmt, "scope": self.scope,
                                       "label": self.label, "warnings": []}

    def _validate(self) -> int:
        check_label(self.label)
        check_duration("lock_wait_timeout", self.p["lock_wait_timeout"])
        jobs = self.p.get("jobs")
        if jobs is not None and jobs < 1:
            raise BackupError("jobs=%d must be 1 or more." % jobs)
        if jobs and jobs > 1 and self.fmt != "directory":
            raise BackupError("jobs=%d: only format=directory dumps in parallel; %s is written by one process."
                              % (jobs, self.fmt))
        if self.scope == "data-only" and not self.p.get("tables"):
            self.result["warnings"].append("scope=data-only without tables dumps the data of every table.")
        return jobs or (2 if self.fmt == "directory" else 1)

    def run(self) -> dict[str, Any]:
        jobs = self._validate()
        started = time.monotonic()
        try:
            conn = connect(self.p, autocommit=True, purpose="pg_backup")
        except ConnectionFailure as exc:
            raise BackupError(str(exc)) from None
        try:
            with _pgdump.Credentials(self.p) as creds:
                return self._run(conn, creds, jobs, started)
        finally:
            conn.close()

    def _run(self, conn: Any, creds: _pgdump.Credentials, jobs: int, started: float) -> dict[str, Any]:
        server_num = int(conn.server_version)
        try:
            client = _pgdump.select_client(self.p, server_num, creds)
            if client.executor.name == "compose" and self.fmt == "directory":
                raise _pgdump.ClientError("format=directory is written by pg_dump as a directory of files, which "
                                          "cannot leave the %s service through a stream; use format=custom with "
                                          "runner=compose." % (self.p.get("db_service") or "db"))
            if self.fmt != "plain":
                client.check_program("pg_restore", creds.env)
            comp_args, compression = _pgdump.compression_args(client, self.fmt, self.p["compression"])
        except _pgdump.ClientError as exc:
            raise BackupError(str(exc), exc.details) from None
        self.result.update(client={"runner": client.executor.name, "bin_dir": client.bin_dir, **client.versions},
                           server_version=_pgdump.server_version_text(server_num), compression=compression,
                           jobs=jobs)
        with conn.cursor() as cur:
            named = resolve_tables(cur, self.p["tables"]) if self.p.get("tables") else []
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return self._in_snapshot(cur, client, creds, named, comp_args, compression, jobs, started,
                                         server_num)
            finally:
                if not conn.closed:
                    try:
                        cur.execute("ROLLBACK")
                    except psycopg2.Error:
                        pass

    def _in_snapshot(self, cur: Any, client: _pgdump.Client, creds: _pgdump.Credentials, named: list[TableInfo],
                     comp_args: list[str], compression: str, jobs: int, started: float,
                     server_num: int) -> dict[str, Any]:
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (self.p["lock_wait_timeout"],))
        tables = named or all_tables(cur)
        database = database_info(cur, server_num)
        ledger = ledger_state(cur, self.p["ledger_schema"], self.p["ledger_table"])
        data_bytes = sum(t.size for t in tables) if self.scope != "schema-only" else 0
        estimated = estimate_size(data_bytes, len(tables), self.scope, compression)
        space = space_verdict(self.backup_dir, estimated)
        space["data_bytes"] = data_bytes
        space["database_size_bytes"] = database["size_bytes"]
        self.result.update(estimate=space, tables=[t.qualified for t in tables], database_size_bytes=database["size_bytes"])
        if not space["ok"] and not self.p["check_free_space"]:
            self.result["warnings"].append("check_free_space=false: the backup may not fit (%s)." % space["summary"])
        if not space["ok"] and self.p["check_free_space"]:
            raise BackupError("Not enough free space for the backup of %s: %s. Free some space, choose another "
                              "backup_dir, or a more compressed format. Nothing was written."
                              % (database["name"], space["summary"]), {"estimate": space})
        placeholder = os.path.join(self.backup_dir, "%s_<timestamp>%s" % (self.label, EXTENSIONS[self.fmt]))
        dsn = _pgdump.conninfo(_pgdump.client_params(self.p, client, cur.connection),
                               application="knowledgehub.migration pg_backup")
        if self.check_mode:
            argv = _pgdump.dump_argv(client, dsn, placeholder, self.fmt, self.scope,
                                     [(t.schema, t.name) for t in named], comp_args, jobs, "<snapshot>",
                                     self.p["lock_wait_timeout"])
            self.result.update(changed=True, would_dump=dict(
                database=database["name"], path=placeholder, format=self.fmt, scope=self.scope,
                tables=[t.qualified for t in tables], compression=compression, jobs=jobs,
                cmd=client.executor.describe(argv),
                estimated_bytes=estimated, free_space_ok=space["ok"]))
            return self.result

        now = utcnow()
        ensure_private_dir(self.backup_dir)
        backup_id = new_backup_id(self.backup_dir, self.label, now)
        final = os.path.join(self.backup_dir, backup_id + EXTENSIONS[self.fmt])
        partial = final + PARTIAL_SUFFIX
        argv = _pgdump.dump_argv(client, dsn, partial, self.fmt, self.scope, [(t.schema, t.name) for t in named],
                                 comp_args, jobs, snapshot, self.p["lock_wait_timeout"])
        self.result.update(backup_id=backup_id, cmd=client.executor.describe(argv))
        try:
            return self._dump_and_verify(cur, client, creds, argv, tables, partial, final, backup_id, now, database,
                                         ledger, compression, jobs, snapshot, started)
        except BaseException as exc:
            self._discard(partial, final)
            if self.result.get("failed_path") and isinstance(exc, (BackupError, _pgdump.ClientError)):
                exc.details["failed_path"] = self.result["failed_path"]
            raise

    def _discard(self, partial: str, final: str) -> None:
        """A backup that failed never stays as one: removed, or kept as ``.failed`` on request."""
        for path in (partial, final):
            if not os.path.lexists(path):
                continue
            if self.p.get("keep_failed"):
                target = final + FAILED_SUFFIX
                remove_path(target)
                os.replace(path, target)
                self.result["failed_path"] = target
            else:
                remove_path(path)

    def _verify_archive(self, client: _pgdump.Client, creds: _pgdump.Credentials, tables: list[TableInfo],
                        partial: str) -> tuple[list[Any], list[tuple[str, str, str]], dict[str, Any]]:
        """The archive's entries against the catalog, its checksum; made private. Raises BackupError."""
        plain_scan = scan_plain(partial) if self.fmt == "plain" else None
        if plain_scan is not None and not plain_scan["complete"]:
            raise BackupError("The plain dump %s does not end with pg_dump's completion line: it is truncated."
                              % partial)
        entries, has = archive_entries(client, creds, self.fmt, partial, plain_scan)
        expected = expected_entries(self.scope, tables)
        verify_entries(has, expected, partial)
        if self.fmt == "directory":
            verify_directory_files(entries, partial)
        if self.p["verify"] == "full" and self.fmt != "plain":
            _pgdump.run_checked(client, _pgdump.read_all_argv(client, partial), creds,
                                "pg_restore reading every entry of %s" % partial)
        make_private(partial)
        if plain_scan is not None:
            return entries, expected, {"sha256": plain_scan["sha256"], "size_bytes": plain_scan["size_bytes"]}
        return entries, expected, archive_digest(partial)

    def _dump_and_verify(self, cur: Any, client: _pgdump.Client, creds: _pgdump.Credentials, argv: list[str],
                         tables: list[TableInfo], partial: str, final: str, backup_id: str,
                         now: datetime.datetime, database: dict[str, Any], ledger: dict[str, Any], compression: str,
                         jobs: int, snapshot: str, started: float) -> dict[str, Any]:
        # pg_dump runs on our exported snapshot. This transaction holds ACCESS SHARE on the tables, as pg_dump
        # does, until the rows are counted in the same snapshot: nothing can TRUNCATE (not MVCC-safe) or drop
        # them in between. The counts run after the dump, on the server, while this process verifies the
        # archive: on a small machine a count beside pg_dump only slows pg_dump down.
        if tables:
            cur.execute(pgsql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
                pgsql.SQL(", ").join(pgsql.SQL("ONLY {}").format(t.ident()) for t in tables)))
        try:
            running = client.executor.start(argv, creds.env)
        except _pgdump.ClientError as exc:
            raise BackupError(str(exc)) from None
        result = running.wait()
        dump_seconds = result.seconds
        try:
            warnings = _pgdump.check(result, "pg_dump of %s" % database["name"], creds)
        except _pgdump.ClientError as exc:
            raise BackupError("%s The partial archive was removed; no backup was recorded." % exc,
                              exc.details) from None

        verify_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            verifying = pool.submit(self._verify_archive, client, creds, tables, partial)
            count_started = time.monotonic()
            try:
                counts = count_rows(cur, tables) if self.scope != "schema-only" else {}
            except psycopg2.Error as exc:
                verifying.exception()  # let the verification end before the archive is removed
                raise BackupError("Counting the rows of %s in the backup's snapshot failed: %s. No backup was "
                                  "recorded." % (database["name"], first_line(exc))) from None
            count_seconds = time.monotonic() - count_started
            entries, expected, digest = verifying.result()
        cur.execute("ROLLBACK")  # the snapshot and the locks are no longer needed
        os.replace(partial, final)
        verify_seconds = time.monotonic() - verify_started

        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "backup_id": backup_id,
            "label": self.label,
            "kind": "dump",
            "format": self.fmt,
            "scope": self.scope,
            "tables": [t.qualified for t in tables] if self.p.get("tables") else None,
            "created_at": now.isoformat(),
            "completed_at": utcnow().isoformat(),
            "verified": True,
            "verification": {"pg_dump_exit_code": result.rc, "pg_dump_stderr": warnings[-20:],
                             "checked_entries": len(expected), "archive_entries": len(entries),
                             "entries": [list(e) for e in expected],
                             "depth": "full" if self.p["verify"] == "full" and self.fmt != "plain" else "toc"},
            "archive": dict(name=os.path.basename(final), type="directory" if self.fmt == "directory" else "file",
                            **digest),
            "server": {"version": _pgdump.server_version_text(int(cur.connection.server_version)),
                       "version_num": int(cur.connection.server_version)},
            "database": database,
            "row_counts": counts,
            "snapshot": snapshot,
            "ledger": ledger,
            "tools": dict(runner=client.executor.name, bin_dir=client.bin_dir, **client.versions),
            "options": {"compression": compression, "jobs": jobs, "lock_wait_timeout": self.p["lock_wait_timeout"],
                        "cmd": argv},
            "run_id": self.p.get("run_id"),
            "purpose": self.p.get("purpose"),
            "executed": who(),
            "durations_ms": {"dump": int(dump_seconds * 1000), "verify": int(verify_seconds * 1000),
                             "row_counts": int(count_seconds * 1000)},
        }
        manifest["options"]["cmd"] = [a.replace(partial, final) for a in client.executor.describe(argv)]
        path = manifest_path(self.backup_dir, backup_id)
        write_json_atomic(path, manifest)
        removed = apply_retention(self.backup_dir, self.label, "dump", self.p.get("keep_last") or 0)
        self.result.update(
            changed=True, backup_id=backup_id, path=final, manifest=path, manifest_data=manifest,
            size_bytes=digest["size_bytes"], sha256=digest["sha256"], row_counts=counts, removed=removed,
            cmd=manifest["options"]["cmd"], duration_ms=int((time.monotonic() - started) * 1000),
            dump_ms=int(dump_seconds * 1000), verify_ms=int(verify_seconds * 1000),
            ledger_version=ledger.get("last_applied_version"))
        self.result["warnings"].extend(warnings)
        return self.result


def run_backup(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """A verified logical backup (or, in check mode, what it would be); raises BackupError."""
    return BackupRun(params, check_mode).run()


# -- recovery points -------------------------------------------------------------------------


def wants_recovery_point(params: dict[str, Any]) -> bool:
    """record_recovery_point, which defaults to "when run_id is set"."""
    flag = params.get("record_recovery_point")
    return bool(params.get("run_id")) if flag is None else bool(flag)


def check_recovery_point_options(params: dict[str, Any]) -> None:
    """Before anything is written: a recovery point needs a run id that the ledger can hold (a UUID)."""
    if not wants_recovery_point(params):
        return
    run_id = params.get("run_id")
    if not run_id:
        raise BackupError("record_recovery_point=true needs run_id: a recovery point is recorded against a "
                          "migration run. Nothing was written.")
    if not is_uuid(run_id):
        raise BackupError("run_id=%r is not a UUID, so the backup cannot be recorded as a recovery point of that "
                          "run (the ledger's run ids are UUIDs). Give pg_migrate's run_id, or set "
                          "record_recovery_point=false to note it in the manifest only. Nothing was written."
                          % run_id)
    try:
        recovery_point_table(params["ledger_table"])
    except LedgerError as exc:
        raise BackupError("%s Nothing was written." % exc) from None


def record_recovery_point(params: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """After a verified backup (never before, never for a failed one): record it as a recovery point of
    ``run_id`` beside the ledger, and stamp removed_at on the rows of the backups retention just removed.

    ``record_recovery_point=false`` writes nothing to the database at all.
    """
    out: dict[str, Any] = {"recovery_point": None, "recovery_point_id": None, "removed_recovery_points": []}
    if params.get("record_recovery_point") is False:
        return out
    wanted = wants_recovery_point(params)
    removed = result.get("removed") or []
    if not wanted and not removed:
        return out
    try:
        conn = connect(params, autocommit=True, purpose="pg_backup recovery point")
    except ConnectionFailure as exc:
        raise _not_recorded(params, result, str(exc)) from None
    try:
        points = RecoveryPoints(conn, params["ledger_schema"], params["ledger_table"])
        if wanted:
            row = points.record(recovery_point_row(result, params["run_id"], params.get("purpose")))
            out.update(recovery_point=row, recovery_point_id=row["id"])
        out["removed_recovery_points"] = points.mark_removed(removed, result["kind"], result["label"])
    except (psycopg2.Error, LedgerError) as exc:
        raise _not_recorded(params, result, first_line(exc)) from None
    finally:
        conn.close()
    return out


def _not_recorded(params: dict[str, Any], result: dict[str, Any], why: str) -> BackupError:
    where = result.get("path") or result.get("database")
    return BackupError(
        "Backup %s is verified and kept (%s, manifest %s), but recording it in %s.%s failed: %s. The migration "
        "must not go on without its recovery point on record: fix the cause and take the backup again."
        % (result.get("backup_id"), where, result.get("manifest"), params["ledger_schema"],
           params["ledger_table"] + "_recovery_point", why),
        {"backup_id": result.get("backup_id"), "path": result.get("path"), "manifest": result.get("manifest")})
