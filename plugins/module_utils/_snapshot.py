# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-migration snapshot: per chosen table its columns, primary key, row count and a digest of every row keyed by
its primary key, in ``<backup_dir>/<run_id>.snapshot.json`` (0600, written atomically, no connection facts).

The digests are computed on the server: ``hash_record_extended(ROW(<columns>), 0)``, PostgreSQL's own 64-bit hash of
the row from each column type's hash function on its binary value (no text conversion: the 384 floats of an
embedding are hashed as they are stored, about four times faster than the md5 of the row's text). Values are compared
as their type's equality says (1.50 and 1.5 are the same numeric, -0 and 0 the same float). A column of a type
without a binary hash (json, tsvector, geometric types, domains) is hashed from its text (``hashtextextended``),
with the settings that shape the text of a value pinned (``SETTINGS``: dates, intervals, time zone, float digits,
bytea, money), so a compare in another session hashes the same values alike. Stored generated columns are left out
(computed from the others: content_tsv from content). The chance that a changed row keeps its digest is 2^-64.
Only keys and digests travel, through a server-side cursor. All the tables are read in one REPEATABLE READ
READ ONLY transaction (one consistent moment, ``taken_at``, the server's clock). The snapshot also records where it
stands in the server's history (``horizon``: the transaction snapshot's xmin, the database's and each table's OID,
the server's start time), so that a compare can tell the rows written since from those it read
(``_snapshot_compare``). The transaction holds ACCESS SHARE locks on the tables while it reads: take the snapshot
before the migration, not during it.

A table without a primary key is counted, not hashed (its rows have no identity to compare by). Columns named in
``exclude`` (``table.column``) are left out of the digests, for counters the application bumps all the time.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import fsync_dir, write_json_atomic
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import resolve_tables
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import is_uuid
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import reporter
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql

FORMAT = "knowledgehub.migration snapshot 2"
SUFFIX = ".snapshot.json"
# Types hashed from their binary value (hash_record_extended uses their default hash operator class); arrays of
# them too. Anything else (json, tsvector, geometric types, domains, composites) is hashed from its text.
BINARY_HASHED = frozenset(("int2", "int4", "int8", "numeric", "float4", "float8", "text", "varchar", "bpchar", "name",
                           "char", "uuid", "bool", "date", "timestamp", "timestamptz", "time", "timetz", "interval",
                           "jsonb", "bytea", "oid", "inet", "cidr", "macaddr", "macaddr8", "money"))
ITERSIZE = 20000
# A table of this many pages (80 MB) or more is read by two connections at once when a second one is given.
SPLIT_PAGES = 10240
SETTINGS = (("DateStyle", "ISO, YMD"), ("IntervalStyle", "postgres"), ("TimeZone", "UTC"),
            ("extra_float_digits", "1"), ("bytea_output", "hex"), ("lc_monetary", "C"))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class SnapshotError(Failure):
    """A snapshot cannot be taken, written or read as asked."""


def snapshot_path(backup_dir: str, run_id: str) -> str:
    """``<backup_dir>/<run_id>.snapshot.json``; the run id must be a UUID or a plain name (it names the file)."""
    if not run_id:
        raise SnapshotError("snapshot needs run_id: the snapshot file is <backup_dir>/<run_id>.snapshot.json "
                            "(the migrate role's run id, or a name of yours). Nothing was done.")
    if not (is_uuid(run_id) or _NAME.match(run_id)) or ".." in run_id:
        raise SnapshotError("run_id=%r cannot name a file: give a UUID or letters, digits, '_', '.' and '-'. "
                            "Nothing was done." % run_id)
    return os.path.join(os.path.abspath(backup_dir), run_id + SUFFIX)


def check_keep_last(keep_last: int) -> None:
    """``snapshot_keep_last`` of pg_validate and pg_backup: refused when negative."""
    if keep_last < 0:
        raise OptionError("snapshot_keep_last=%s must not be negative (0 keeps every snapshot file)." % keep_last)


def begin(conn: Any, statement_timeout: str, lock_timeout: str, exported: str | None = None) -> str:
    """Start the snapshot's transaction on ``conn`` (not autocommit): REPEATABLE READ, READ ONLY, the text settings
    pinned, in the snapshot another transaction ``exported`` if given; returns its moment (the server's now(),
    ISO 8601 UTC)."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    with conn.cursor() as cur:
        if exported:
            cur.execute("SET TRANSACTION SNAPSHOT %s", (exported,))
        for name, value in SETTINGS + (("statement_timeout", statement_timeout), ("lock_timeout", lock_timeout)):
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
        cur.execute("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')")
        return cur.fetchone()[0]


def horizon(conn: Any) -> dict[str, Any]:
    """Where the transaction ``begin`` opened stands: its snapshot's xmin (64-bit, and the 32-bit xid a row's xmin is
    compared with), the database's OID and the server's start time. Every row version visible now whose xmin is
    older than that xmin was written by a transaction that ended before the snapshot."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_snapshot_xmin(s)::text, (pg_snapshot_xmin(s)::text::numeric % 4294967296)::bigint, "
                    "pg_snapshot_xmax(s)::text, (SELECT oid FROM pg_database WHERE datname = current_database()), "
                    "pg_postmaster_start_time()::text FROM pg_current_snapshot() s")
        xmin, xid, xmax, database_oid, started = cur.fetchone()
    return {"xmin": int(xmin), "xid": int(xid), "xmax": int(xmax), "database_oid": int(database_oid),
            "server_started": started}


def layout(cur: Any, schema: str, table: str) -> dict[str, Any]:
    """A table's columns in order ({name, type, hash: binary or text}; stored generated columns left out) and its
    primary key's columns."""
    ident = pgsql.Identifier(schema, table).as_string(cur)
    cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, t.typcategory, t.typname, "
                "e.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
                "ORDER BY a.attnum", (ident,))
    columns = []
    for name, shown, typtype, category, typname, element in cur.fetchall():
        hashed = (element if category == "A" else typname) in BINARY_HASHED or (typtype == "e" and category != "A")
        columns.append({"name": name, "type": shown, "hash": "binary" if hashed else "text"})
    cur.execute("SELECT a.attname FROM pg_index x JOIN unnest(x.indkey) WITH ORDINALITY u(n, i) ON true "
                "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n "
                "WHERE x.indrelid = to_regclass(%s) AND x.indisprimary ORDER BY u.i", (ident,))
    primary_key = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT to_regclass(%s)::oid::bigint", (ident,))
    return {"columns": columns, "primary_key": primary_key, "oid": int(cur.fetchone()[0])}


def excluded(table: str, exclude: list[str]) -> set[str]:
    """The columns of ``table`` that ``exclude`` (``table.column`` or ``schema.table.column``) names."""
    out = set()
    for item in exclude:
        parts = item.split(".")
        if len(parts) >= 2 and parts[-2] == table:
            out.add(parts[-1])
    return out


def value_sql(column: dict[str, Any]) -> Any:
    """A column as the row digest reads it: its binary value, or the hash of its text (``hash: text``)."""
    ident = pgsql.Identifier(column["name"])
    if column.get("hash") == "binary":
        return ident
    return pgsql.SQL("hashtextextended({c}::text, 0)").format(c=ident)


def rows_query(schema: str, table: str, key: list[str], columns: list[dict[str, Any]], newer_than: bool = False,
               written_since: bool = False, pages: tuple[int, int | None] | None = None) -> Any:
    """key text, digest (and with ``newer_than``, whether updated_at is later than the parameter) of every row;
    ``columns`` are the snapshot's ({name, type, hash}). With ``written_since`` (a first parameter: a 32-bit xid)
    the digest is NULL for a row version written before that xid, which is then not hashed. ``pages`` (first, end
    or None for the rest) reads only the rows stored in those pages (a TID range scan)."""
    idents = [value_sql(c) for c in columns]
    if len(key) == 1:
        key_sql = pgsql.SQL("{k}::text").format(k=pgsql.Identifier(key[0]))
    else:
        key_sql = pgsql.SQL("ROW({k})::text").format(k=pgsql.SQL(", ").join(pgsql.Identifier(k) for k in key))
    digest = pgsql.SQL("hash_record_extended(ROW({c}), 0)").format(c=pgsql.SQL(", ").join(idents))
    if written_since:
        # age() counts back from the next xid: an older row version has a greater age (a frozen one the greatest)
        digest = pgsql.SQL("CASE WHEN age(xmin) > age(%s::text::xid) THEN NULL ELSE {d} END").format(d=digest)
    extra = pgsql.SQL(", coalesce(updated_at > %s::timestamptz, false)") if newer_than else pgsql.SQL("")
    where = pgsql.SQL("")
    if pages is not None:
        first, end = pages
        where = pgsql.SQL(" WHERE ctid >= {a}::tid").format(a=pgsql.Literal("(%d,0)" % first))
        if end is not None:
            where += pgsql.SQL(" AND ctid < {b}::tid").format(b=pgsql.Literal("(%d,0)" % end))
    return pgsql.SQL("SELECT {key}, {digest}{extra} FROM ONLY {t}{where}").format(
        key=key_sql, digest=digest, extra=extra, t=pgsql.Identifier(schema, table), where=where)


def stream(conn: Any, query: Any, args: Any = None, name: str = "kh_snapshot") -> Iterator[tuple]:
    """The rows of ``query`` through a server-side cursor, ITERSIZE at a time."""
    with conn.cursor(name=name) as cur:
        cur.itersize = ITERSIZE
        cur.execute(query, args)
        yield from cur


def digests(conn: Any, schema: str, table: str, key: list[str], columns: list[dict[str, Any]], number: int,
            second: Any = None) -> dict[str, Any]:
    """key -> digest of every row of a table. With ``second`` (a connection in the same exported snapshot, see
    ``begin``), a table of SPLIT_PAGES pages or more is read in two halves of its pages at once, one on each
    connection: the hashing is the server's work, and two backends do it on two cores. Each row version visible in
    the snapshot lies in one page, so the halves neither overlap nor miss a row, also when the table grows."""
    if second is not None and int(conn.server_version) >= 140000:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_relation_size(to_regclass(%s)) / current_setting('block_size')::bigint",
                        (pgsql.Identifier(schema, table).as_string(cur),))
            pages = int(cur.fetchone()[0])
        if pages >= SPLIT_PAGES:
            half = pages // 2
            with ThreadPoolExecutor(max_workers=1) as pool:
                upper = pool.submit(lambda: dict(stream(second, rows_query(schema, table, key, columns,
                                                                           pages=(half, None)),
                                                        name="kh_snapshot_%d_b" % number)))
                found = dict(stream(conn, rows_query(schema, table, key, columns, pages=(0, half)),
                                    name="kh_snapshot_%d" % number))
                found.update(upper.result())
            return found
    return dict(stream(conn, rows_query(schema, table, key, columns), name="kh_snapshot_%d" % number))


def take(conn: Any, tables: list[tuple[str, str]], exclude: list[str], taken_at: str,
         second: Any = None) -> dict[str, Any]:
    """Read every table in the transaction ``begin`` opened (and with ``second``, the large ones half on that
    connection, see ``digests``); returns the snapshot's ``tables``."""
    out: dict[str, Any] = {}
    for number, (schema, table) in enumerate(tables):
        reporter().report("snapshot", number, len(tables), "tables", "%s.%s" % (schema, table))
        with conn.cursor() as cur:
            shape = layout(cur, schema, table)
        left_out = excluded(table, exclude)
        columns = [c for c in shape["columns"] if c["name"] not in left_out]
        entry: dict[str, Any] = {"schema": schema, "name": table, "columns": columns,
                                 "excluded_columns": sorted(left_out), "primary_key": shape["primary_key"],
                                 "taken_at": taken_at, "oid": shape["oid"]}
        if shape["primary_key"] and columns:
            hashes = digests(conn, schema, table, shape["primary_key"], columns, number, second)
            entry.update(rows=len(hashes), hashes=hashes)
        else:
            with conn.cursor() as cur:
                cur.execute(pgsql.SQL("SELECT count(*) FROM ONLY {t}").format(t=pgsql.Identifier(schema, table)))
                entry.update(rows=int(cur.fetchone()[0]), hashes=None)
        out["%s.%s" % (schema, table)] = entry
    return out


def plan_take(cur: Any, specs: list[str], path: str, overwrite: bool) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """What a take would do: the tables of ``specs`` resolved (a missing one fails here, before anything is written)
    and whether the file at ``path`` is written or kept. One already there is kept unless ``overwrite``: a rerun after
    a failed migration must not replace the pre-migration snapshot with a later one. Returns the tables and the
    result's ``snapshot`` (path, action, exists, tables, rows_estimated; a kept file's summary)."""
    tables = resolve_tables(cur, specs, "snapshot", "Nothing was written.")
    cur.execute("SELECT c.oid::regclass::text, greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = ANY (%s)",
                ([t.oid for t in tables],))
    estimates = dict(cur.fetchall())
    exists = os.path.lexists(path)
    action = "keep" if exists and not overwrite else "write"
    plan = {"path": path, "action": action, "exists": exists, "tables": [t.qualified for t in tables],
            "rows_estimated": sum(estimates.values())}
    if action == "keep":
        try:
            plan.update(summary(path, read(path)), action="keep", exists=True)
        except SnapshotError as exc:
            raise SnapshotError("%s It is kept as it is; set snapshot_overwrite=true to replace it."
                                % exc.message) from None
    return [(t.schema, t.name) for t in tables], plan


def take_document(conn: Any, tables: list[tuple[str, str]], exclude: list[str], run_id: str, database: str,
                  taken_at: str, second: Any = None, **about: Any) -> dict[str, Any]:
    """The snapshot file's content: every table read (``take``) in the transaction ``begin`` opened on ``conn``, and
    that transaction's ``horizon``. ``about``: more top-level fields (a backup taken in the same snapshot)."""
    read_tables = take(conn, tables, exclude, taken_at, second)
    return dict(about, format=FORMAT, run_id=run_id, database=database, taken_at=taken_at, horizon=horizon(conn),
                tables=read_tables, digest="hash_record_extended(ROW(<columns>), 0), keyed by the primary key's text")


def store(path: str, content: dict[str, Any], keep_last: int, read_seconds: float) -> dict[str, Any]:
    """Write the snapshot file, then prune the older ones (``keep_last``); returns the result's ``snapshot``, whose
    ``duration_ms`` is the read's ``read_seconds`` and the write's time."""
    started = time.monotonic()
    size = write(path, content)
    return dict(summary(path, content, size), action="write", exists=True,
                duration_ms=int((read_seconds + time.monotonic() - started) * 1000), removed=prune(path, keep_last))


def write(path: str, document: dict[str, Any]) -> int:
    """``document`` as compact JSON at ``path``: a private temporary file, fsynced, renamed into place; returns
    its size in bytes. A link or directory at ``path`` is refused."""
    if os.path.islink(path) or os.path.isdir(path):
        raise SnapshotError("%s is a %s: the snapshot is never written through it. Move it aside. Nothing was "
                            "written." % (path, "symbolic link" if os.path.islink(path) else "directory"))
    return write_json_atomic(path, document, compact=True)


def prune(path: str, keep_last: int) -> list[dict[str, Any]]:
    """Remove the snapshot files beside ``path`` beyond the ``keep_last`` newest (by modification time), never
    ``path`` itself (the run's own); 0 keeps every one. Returns what was removed ({path, bytes})."""
    if keep_last <= 0:
        return []
    directory = os.path.dirname(path)
    found = []
    for entry in os.scandir(directory):
        if entry.name.endswith(SUFFIX) and entry.is_file(follow_symlinks=False) and entry.path != path:
            stat = entry.stat(follow_symlinks=False)
            found.append((stat.st_mtime, entry.path, stat.st_size))
    removed = []
    for _mtime, other, size in sorted(found, reverse=True)[max(0, keep_last - 1):]:
        os.unlink(other)
        removed.append({"path": other, "bytes": size})
    if removed:
        fsync_dir(directory)
    return removed


def read(path: str) -> dict[str, Any]:
    """A snapshot file, its shape checked; SnapshotError says what is wrong and what to do."""
    if os.path.islink(path):
        raise SnapshotError("snapshot %s is a symbolic link: it is never read through one." % path)
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise SnapshotError("No snapshot %s: take one before the migration (snapshot=take with the same backup_dir "
                            "and run_id)." % path) from None
    except (OSError, ValueError) as exc:
        raise SnapshotError("Snapshot %s cannot be read (%s): it is damaged; take a new one before the next "
                            "migration." % (path, exc)) from None
    tables = document.get("tables") if isinstance(document, dict) else None
    if isinstance(document, dict) and str(document.get("format", "")).startswith("knowledgehub.migration snapshot") \
            and document.get("format") != FORMAT:
        raise SnapshotError("Snapshot %s was taken by another version of this collection (%s; this one reads %s): "
                            "its digests cannot be compared. Take a new one before the next migration."
                            % (path, document.get("format"), FORMAT))
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(tables, dict):
        raise SnapshotError("%s is not a snapshot of this collection (format %r expected)." % (path, FORMAT))
    for name, entry in tables.items():
        good = isinstance(entry, dict) and isinstance(entry.get("columns"), list) and \
            isinstance(entry.get("primary_key"), list) and isinstance(entry.get("rows"), int) and \
            (entry.get("hashes") is None or isinstance(entry.get("hashes"), dict))
        if not good:
            raise SnapshotError("Snapshot %s: the entry of table %s is damaged." % (path, name))
    return document


def summary(path: str, document: dict[str, Any], size: int | None = None) -> dict[str, Any]:
    """The result's ``snapshot``: path, moment, and per table its row count."""
    out = {"path": path, "run_id": document.get("run_id"), "taken_at": document.get("taken_at"),
           "tables": {name: entry["rows"] for name, entry in document["tables"].items()},
           "rows": sum(entry["rows"] for entry in document["tables"].values())}
    if size is not None:
        out["bytes"] = size
    return out
