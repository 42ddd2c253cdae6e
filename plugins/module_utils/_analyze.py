# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After a pg_migrate run: ANALYZE of the tables its files created or changed (the runbook's post-migration step).

The planner plans from statistics. A table a migration creates has none until
autovacuum gets to it, a table it filled or whose columns it changed has stale
ones: the first queries of the new release would be planned blind.

Which tables: read from each applied file by the lock analysis (``_locks``):
those the file creates (``CREATE TABLE``, with or without ``IF NOT EXISTS``), and
those a statement takes ROW EXCLUSIVE or a stronger lock on (writes, DDL),
except statements that change no data and no column (LOCK TABLE, COMMENT,
ANALYZE, VACUUM, CREATE/DROP TRIGGER). A table whose only lock is for a new
foreign key (the table it is added to, the table it references) is not: its
rows and columns are as they were. Procedural code (DO blocks) writes where the analysis cannot
see: such statements are counted (``procedural_statements``), their tables
are not guessed. Of those names, what exists after the run and is a table,
partitioned table or materialized view is analyzed.

Float array columns (embedding vectors: real[] of 384 values) are left out of the column list. Their statistics are
per-element frequencies that only the array operators (@>, &&) use, and computing them from 30,000 sampled rows of
384 floats takes about ten times as long as every other column together (12 s against 1 s for 330,000 chunks);
autovacuum gathers them later. A table with nothing but such columns is analyzed whole.

ANALYZE takes SHARE UPDATE EXCLUSIVE: the application reads and writes on. It
runs on a session of its own with the run's lock_timeout, so a session holding
a conflicting lock (another ANALYZE or VACUUM, DDL) makes it fail after
lock_timeout instead of queueing. A failure is a warning, never a failed run:
the files are applied and the ledger says so.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import (
    LOCK_MODES,
    NEW_NOTE,
    UNKNOWN,
    file_locks,
    relations_created,
    tokenize,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_ddl import FOREIGN_KEY_ONLY
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_names import read_name, skip_words
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target, pgsql, psycopg2

LIMIT = 50
_CHANGES = LOCK_MODES.index("ROW EXCLUSIVE")
_NO_DATA = (("LOCK",), ("COMMENT",), ("ANALYZE",), ("ANALYSE",), ("VACUUM",), ("CREATE", "TRIGGER"),
            ("CREATE", "OR", "REPLACE", "TRIGGER"), ("CREATE", "CONSTRAINT", "TRIGGER"), ("DROP", "TRIGGER"))
_TABLE_KINDS = ("r", "p", "m")


def _created_if_not_exists(text: str) -> set[str]:
    """The table a ``CREATE [UNLOGGED] TABLE IF NOT EXISTS name`` statement names (relations_created leaves
    those out: the table may have existed before)."""
    toks = tokenize(text)
    i = skip_words(toks, 1, "UNLOGGED")
    if [t.up for t in toks[:1]] != ["CREATE"] or [t.up for t in toks[i:i + 4]] != ["TABLE", "IF", "NOT", "EXISTS"]:
        return set()
    name, _end = read_name(toks, i + 4)
    return {name} if name else set()


def _changes(lock: dict[str, Any]) -> bool:
    """Whether a statement's lock is one that writes rows or changes columns: ROW EXCLUSIVE or stronger, and not
    only for a new foreign key."""
    if lock["mode"] == UNKNOWN or LOCK_MODES.index(lock["mode"]) < _CHANGES:
        return False
    reasons = [note for note in lock["note"].split("; ") if note != NEW_NOTE]
    return not reasons or not all(note in FOREIGN_KEY_ONLY for note in reasons)


def touched_tables(files: Iterable[Any]) -> tuple[list[str], int]:
    """The relations the files (MigrationFile) create or change, in the order met; and how many statements are
    procedural code whose tables the analysis cannot name."""
    names: list[str] = []
    procedural = 0
    for migration in files:
        statements = migration.statements()
        for stmt, entry in zip(statements, file_locks(statements)):
            found = set(relations_created(stmt.text)) | _created_if_not_exists(stmt.text)
            if any(lock["mode"] == UNKNOWN for lock in entry["locks"]):
                procedural += 1
            if not stmt.starts_with(*_NO_DATA):
                found |= {lock["relation"] for lock in entry["locks"] if _changes(lock)}
            names.extend(sorted(name for name in found if name not in names))
    return names, procedural


def analyze_tables(target: Target, names: list[str], options: dict[str, Any], procedural: int = 0) -> dict[str, Any]:
    """ANALYZE each of ``names`` that is a table now; what failed is listed with PostgreSQL's message."""
    started = time.monotonic()
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    missing: list[str] = []
    seen: set[str] = set()
    conn = None
    try:
        conn = target.connect("pg_migrate analyze", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                        (options["lock_timeout"], options["statement_timeout"]))
            for name in names:
                _analyze_one(cur, name, seen, done, failed, missing)
    except (Failure, psycopg2.Error) as exc:
        failed.append({"table": None, "error": target.scrub(first_line(exc))})
    finally:
        if conn is not None:
            conn.close()
    return {"tables": done[:LIMIT], "tables_total": len(done), "failed": failed[:LIMIT], "not_found": missing[:LIMIT],
            "procedural_statements": procedural, "duration_ms": int((time.monotonic() - started) * 1000)}


def _analyze_one(cur: Any, name: str, seen: set[str], done: list[dict[str, Any]], failed: list[dict[str, Any]],
                 missing: list[str]) -> None:
    try:
        cur.execute("SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE c.oid = to_regclass(%s)", (name,))
        row = cur.fetchone()
        if row is None:
            missing.append(name)  # dropped or renamed by a later statement
            return
        qualified = "%s.%s" % (row[0], row[1])
        if row[2] not in _TABLE_KINDS or qualified in seen:
            return
        seen.add(qualified)
        began = time.monotonic()
        cur.execute("SELECT a.attname, t.typcategory = 'A' AND e.typname IN ('float4', 'float8') FROM pg_attribute a "
                    "JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem "
                    "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    (pgsql.Identifier(row[0], row[1]).as_string(cur),))
        columns = cur.fetchall()
        vectors = [name for name, vector in columns if vector]
        statement = pgsql.SQL("ANALYZE {}").format(pgsql.Identifier(row[0], row[1]))
        if vectors and len(vectors) < len(columns):
            statement = pgsql.SQL("ANALYZE {} ({})").format(pgsql.Identifier(row[0], row[1]), pgsql.SQL(", ").join(
                pgsql.Identifier(name) for name, vector in columns if not vector))
        cur.execute(statement)
        entry = {"table": qualified, "duration_ms": int((time.monotonic() - began) * 1000)}
        if vectors and len(vectors) < len(columns):
            entry["vector_columns_left_out"] = vectors
        done.append(entry)
    except psycopg2.Error as exc:
        failed.append({"table": name, "error": first_line(exc)})


def analyze_warnings(result: dict[str, Any]) -> list[str]:
    """One warning per failed ANALYZE: the files are applied, the statistics are not refreshed."""
    return ["ANALYZE of %s failed: %s. The migrations are applied and the ledger says so; only the planner's "
            "statistics are not refreshed: run ANALYZE %s when the lock is free (autovacuum also will)."
            % (item["table"] or "the tables", item["error"], item["table"] or "on them") for item in result["failed"]]


__all__ = ["analyze_tables", "analyze_warnings", "touched_tables"]
