# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a database holds, read from its catalog: its tables, its properties, its ledger state, its rows.

Every query here only reads, on a cursor the caller opened (in the caller's
transaction or snapshot, when it has one). ``count_rows`` is the one row count of
the collection: the backup's manifest, the clone's, and every check of a restore
against them count the same way.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql, psycopg2


class CatalogError(Failure):
    """A table asked for is not a table of the database."""


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
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def has_data(self) -> bool:
        return self.relkind == "r"

    def ident(self) -> Any:
        return pgsql.Identifier(self.schema, self.name)


# The relations c (in namespace n) a full pg_dump reads: those of the user's schemas, extension members aside
_DUMPED = """n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                              AND d.deptype = 'e')"""

_TABLES = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, pg_table_size(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND """ + _DUMPED + """
 ORDER BY n.nspname, c.relname
"""

# The tables and sequences of a full dump the current role may not read: pg_dump locks and copies every table and
# reads every sequence's value (a materialized view's rows it does not read: the dump refreshes it)
_UNREADABLE = """
SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, n.nspname, c.relname,
       NOT has_schema_privilege(n.oid, 'USAGE')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'S') AND """ + _DUMPED + """
   AND (NOT has_schema_privilege(n.oid, 'USAGE')
        OR NOT CASE c.relkind WHEN 'S' THEN has_sequence_privilege(c.oid, 'SELECT')
                              ELSE has_table_privilege(c.oid, 'SELECT') END)
 ORDER BY 2, 3
"""

_NOT_A_TABLE = {"v": "a view", "m": "a materialized view", "S": "a sequence", "f": "a foreign table", "i": "an index"}


def all_tables(cur: Any) -> list[TableInfo]:
    """Every table pg_dump dumps in a full dump (user schemas, not extension members)."""
    cur.execute(_TABLES)
    return [TableInfo(int(r[0]), r[1], r[2], r[3], int(r[4] or 0)) for r in cur.fetchall()]


def unreadable_relations(cur: Any) -> list[tuple[str, str, str, bool]]:
    """(kind: table or sequence, schema, name, whether the schema lacks USAGE) of what a full pg_dump reads and the
    current role may not."""
    cur.execute(_UNREADABLE)
    return [(kind, schema, name, bool(no_usage)) for kind, schema, name, no_usage in cur.fetchall()]


def resolve_tables(cur: Any, names: list[str], operation: str, nothing_done: str) -> list[TableInfo]:
    """The tables named (``table`` or ``schema.table``, SQL identifier syntax); fail naming every missing one, in the
    words of ``operation`` ("back up", "restore") and saying ``nothing_done`` ("Nothing was written.").

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
            not_tables.append("%s (%s)" % (name, _NOT_A_TABLE.get(relkind, "not a table")))
        elif all(t.oid != int(oid) for t in found):
            found.append(tables[int(oid)])
    if missing or not_tables:
        known = ", ".join(t.qualified for t in tables.values())
        problems = []
        if missing:
            problems.append("no such table: %s" % ", ".join(missing))
        if not_tables:
            problems.append("not a table: %s" % ", ".join(not_tables))
        cur.execute("SELECT current_database()")
        raise CatalogError("Cannot %s the tables asked for (%s) in database %s. Tables there: %s. %s"
                           % (operation, "; ".join(problems), cur.fetchone()[0], known or "none", nothing_done),
                           {"missing_tables": missing, "not_tables": not_tables})
    return found


def database_info(cur: Any, server_num: int) -> dict[str, Any]:
    """The current database's properties that a restore recreates it with (and its size)."""
    extra = ", d.datlocprovider::text, d.daticulocale" if server_num >= 150000 else ", 'c', NULL"
    cur.execute("SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, "
                "d.datctype, pg_database_size(d.oid), d.datconnlimit" + extra +
                " FROM pg_database d WHERE d.datname = current_database()")
    row = cur.fetchone()
    return {"name": row[0], "owner": row[1], "encoding": row[2], "collate": row[3], "ctype": row[4],
            "size_bytes": int(row[5]), "connection_limit": int(row[6]), "locale_provider": row[7],
            "icu_locale": row[8]}


# The ledger's version order, the runner's: the number the version's digits make (001 < 6 < 10).
_VERSION_ORDER = "(substring(version from '^[0-9]+'))::numeric DESC NULLS LAST, version DESC"


def ledger_state(cur: Any, schema: str, table: str) -> dict[str, Any]:
    """The migration ledger's last applied version (in version order) and its identity: the run id and start of
    its FIRST row, which says whose migration history this is (a copy keeps it, another database has its own).
    Read in the caller's snapshot; never fails the backup."""
    state: dict[str, Any] = {"table": "%s.%s" % (schema, table), "exists": False, "last_applied_version": None,
                             "last_applied_at": None, "identity": None}
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
                          "ORDER BY " + _VERSION_ORDER + " LIMIT 1").format(t=ident))
    row = cur.fetchone()
    if row:
        state["last_applied_version"] = row[0]
        state["last_applied_at"] = row[1].isoformat() if row[1] is not None else None
    if not {"id", "run_id", "started_at"} <= columns:
        return state
    cur.execute(pgsql.SQL("SELECT run_id::text, started_at FROM {t} ORDER BY id LIMIT 1").format(t=ident))
    row = cur.fetchone()
    if row:
        started = row[1].astimezone(datetime.timezone.utc).isoformat() if row[1] is not None else None
        state["identity"] = {"run_id": row[0], "started_at": started}
    # the run the database is in the state of (its newest row): a recover goes back from it (backup retention keeps
    # that run's point)
    cur.execute(pgsql.SQL("SELECT run_id::text FROM {t} WHERE run_id IS NOT NULL ORDER BY id DESC LIMIT 1").format(
        t=ident))
    row = cur.fetchone()
    state["latest_run_id"] = row[0] if row else None
    return state


def count_rows(cur: Any, tables: list[tuple[str, str]]) -> dict[str, int | None]:
    """Exact row counts of (schema, name) tables: count(*) of each table itself (partitions are counted on their
    own), by ``schema.name``; a table that does not exist counts as None."""
    counts: dict[str, int | None] = {}
    for schema, name in tables:
        ident = pgsql.Identifier(schema, name)
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (ident.as_string(cur),))
        if not cur.fetchone()[0]:
            counts["%s.%s" % (schema, name)] = None
            continue
        cur.execute(pgsql.SQL("SELECT count(*) FROM ONLY {t}").format(t=ident))
        counts["%s.%s" % (schema, name)] = int(cur.fetchone()[0])
    return counts
