# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks every database gets, whatever its expectation files say: what an interrupted or careless migration
leaves behind.

* invalid indexes: ``indisvalid`` or ``indisready`` false, what a failed CREATE INDEX CONCURRENTLY leaves;
* NOT VALID constraints (check and foreign key). Between a schema phase that adds them NOT VALID and the data phase
  that validates them (as 004 and 005 do) that is the plan, so after the schema phase it is a warning;
* disabled triggers (``ALTER TABLE ... DISABLE TRIGGER``): a disabled foreign-key trigger lets orphans in;
* sequences behind their column: an owned sequence (serial or identity) whose next value is at most the column's
  maximum, so the next insert collides (rows copied with explicit ids, a restore of the table alone);
* orphaned rows: rows whose foreign key points to no row. Only NOT VALID constraints or disabled triggers let them
  in, and a trigger enabled again leaves no trace, so every foreign key is checked (an anti-join each), except those
  whose referencing table is estimated above ``max_rows`` (a warning says which), each under the statement_timeout.

Each function returns one check (``_validate_expect.check``) and only reads.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql, psycopg2
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_expect import check

_USER = "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
EXAMPLES = 3


def _listed(items: list[str], limit: int = 10) -> str:
    more = len(items) - limit
    return ", ".join(items[:limit]) + (" and %d more" % more if more > 0 else "")


def invalid_indexes(cur: Any) -> dict[str, Any]:
    cur.execute("SELECT c.relname, t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT (i.indisvalid AND i.indisready) AND " + _USER + " ORDER BY 1")
    found = ["index %s on %s is invalid" % row for row in cur.fetchall()]
    return check("invalid_indexes", "generic", "fail" if found else "pass", len(found), 0,
                 ("%s (a failed CREATE INDEX CONCURRENTLY leaves one: DROP INDEX CONCURRENTLY it and build it again)"
                  % _listed(found)) if found else "no invalid index")


def not_valid_constraints(cur: Any, phase: str) -> dict[str, Any]:
    cur.execute("SELECT k.conname, t.relname, k.contype::text FROM pg_constraint k JOIN pg_class t ON t.oid = "
                "k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE NOT k.convalidated AND " + _USER +
                " ORDER BY 2, 1")
    found = ["%s %s on %s is NOT VALID" % ("foreign key" if kind == "f" else "constraint", name, table)
             for name, table, kind in cur.fetchall()]
    if not found:
        return check("not_valid_constraints", "generic", "pass", 0, 0, "every constraint is validated")
    if phase == "schema":
        return check("not_valid_constraints", "generic", "warn", len(found), 0, "%s: expected between a schema "
                     "phase that adds constraints NOT VALID and the data phase that validates them; a failure after "
                     "the data phase" % _listed(found))
    return check("not_valid_constraints", "generic", "fail", len(found), 0, "%s: rows written before it was added "
                 "are not checked (ALTER TABLE ... VALIDATE CONSTRAINT checks them without blocking writes)"
                 % _listed(found))


def disabled_triggers(cur: Any) -> dict[str, Any]:
    cur.execute("SELECT g.tgname, t.relname, g.tgisinternal FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE g.tgenabled = 'D' AND " + _USER +
                " ORDER BY 2, 1")
    rows = cur.fetchall()
    found = ["%s trigger %s on %s is disabled" % ("foreign-key" if internal else "", name, table)
             for name, table, internal in rows]
    found = [f.lstrip() for f in found]
    return check("disabled_triggers", "generic", "fail" if found else "pass", len(found), 0,
                 ("%s (ALTER TABLE ... ENABLE TRIGGER ALL; rows written meanwhile were not checked)" % _listed(found))
                 if found else "no disabled trigger")


_SEQUENCES = """
SELECT s.relname, sn.nspname, t.relname, tn.nspname, a.attname, q.seqincrement, q.seqstart,
       has_sequence_privilege(s.oid, 'SELECT'), has_table_privilege(t.oid, 'SELECT')
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_namespace sn ON sn.oid = s.relnamespace
  JOIN pg_sequence q ON q.seqrelid = s.oid
  JOIN pg_class t ON t.oid = d.refobjid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
   AND t.relkind IN ('r', 'p') AND sn.nspname <> 'information_schema' AND sn.nspname !~ '^pg_'
 ORDER BY 3, 5
"""


def sequences_behind(cur: Any) -> dict[str, Any]:
    """Owned sequences whose next value is at most their column's maximum (increasing sequences only)."""
    cur.execute(_SEQUENCES)
    behind, unreadable = [], []
    rows = cur.fetchall()
    for seq, seq_schema, table, table_schema, column, increment, start, seq_ok, table_ok in rows:
        if increment <= 0:
            continue
        if not (seq_ok and table_ok):
            unreadable.append("%s (of %s.%s)" % (seq, table, column))
            continue
        cur.execute(pgsql.SQL("SELECT last_value, is_called FROM {s}").format(s=pgsql.Identifier(seq_schema, seq)))
        last, called = cur.fetchone()
        cur.execute(pgsql.SQL("SELECT max({c}) FROM ONLY {t}").format(
            c=pgsql.Identifier(column), t=pgsql.Identifier(table_schema, table)))
        top = cur.fetchone()[0]
        upcoming = last + increment if called else last
        if top is not None and upcoming <= top:
            behind.append("sequence %s would give %s next, but %s.%s already holds %s (SELECT setval('%s', "
                          "(SELECT max(%s) FROM %s)))" % (seq, upcoming, table, column, top, seq, column, table))
    status = "fail" if behind else "warn" if unreadable else "pass"
    message = "; ".join(behind) if behind else "%d owned sequences ahead of their columns" % (len(rows) - len(
        unreadable))
    if unreadable:
        message += "; not readable with this login: %s" % _listed(unreadable)
    return check("sequences_behind", "generic", status, len(behind), 0, message)


_FOREIGN_KEYS = """
SELECT k.conname, t.relname, tn.nspname, r.relname, rn.nspname, greatest(t.reltuples, 0)::bigint,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
               JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
               JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i),
       ARRAY(SELECT a.attname FROM pg_index x JOIN unnest(x.indkey) WITH ORDINALITY u(n, i) ON true
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
              WHERE x.indrelid = k.conrelid AND x.indisprimary ORDER BY u.i)
  FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
 WHERE k.contype = 'f' AND tn.nspname <> 'information_schema' AND tn.nspname !~ '^pg_'
 ORDER BY 2, 1
"""


def orphan_sql(child: tuple[str, str], parent: tuple[str, str], columns: list[str], referenced: list[str],
               key: list[str]) -> tuple[Any, Any]:
    """The count of rows of ``child`` whose (non-null) foreign key finds no ``parent`` row, and up to EXAMPLES of
    their keys (primary key, else ctid)."""
    pairs = pgsql.SQL(" AND ").join(
        pgsql.SQL("p.{r} = c.{c}").format(r=pgsql.Identifier(r), c=pgsql.Identifier(c))
        for c, r in zip(columns, referenced))
    not_null = pgsql.SQL(" AND ").join(pgsql.SQL("c.{c} IS NOT NULL").format(c=pgsql.Identifier(c)) for c in columns)
    where = pgsql.SQL("FROM ONLY {child} c WHERE {nn} AND NOT EXISTS (SELECT 1 FROM ONLY {parent} p WHERE {pairs})"
                      ).format(child=pgsql.Identifier(*child), parent=pgsql.Identifier(*parent), nn=not_null,
                               pairs=pairs)
    if key:
        ident = pgsql.SQL(" || ',' || ").join(pgsql.SQL("c.{k}::text").format(k=pgsql.Identifier(k)) for k in key)
    else:
        ident = pgsql.SQL("c.ctid::text")
    count = pgsql.SQL("SELECT count(*) ") + where
    examples = pgsql.SQL("SELECT {ident} ").format(ident=ident) + where + pgsql.SQL(" LIMIT %d" % EXAMPLES)
    return count, examples


def orphaned_rows(conn: Any, statement_timeout: str, lock_timeout: str, max_rows: int) -> dict[str, Any]:
    """Every foreign key's anti-join (see the module's docstring), each in a READ ONLY transaction."""
    found, skipped = [], []
    with conn.cursor() as cur:
        cur.execute(_FOREIGN_KEYS)
        keys = cur.fetchall()
    for name, table, schema, parent, parent_schema, estimate, columns, referenced, pkey in keys:
        if estimate > max_rows:
            skipped.append("%s on %s (about %d rows, above orphan_check_max_rows=%d)"
                           % (name, table, estimate, max_rows))
            continue
        count_sql, examples_sql = orphan_sql((schema, table), (parent_schema, parent), list(columns),
                                             list(referenced), list(pkey))
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN READ ONLY")
                try:
                    cur.execute("SET LOCAL statement_timeout = %s", (statement_timeout,))
                    cur.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
                    cur.execute(count_sql)
                    orphans = int(cur.fetchone()[0])
                    examples = []
                    if orphans:
                        cur.execute(examples_sql)
                        examples = [r[0] for r in cur.fetchall()]
                finally:
                    cur.execute("ROLLBACK")
        except psycopg2.Error as exc:
            if conn.closed:
                raise
            skipped.append("%s on %s (%s)" % (name, table, first_line(exc)))
            continue
        if orphans:
            found.append("%d row(s) of %s point to no %s row through %s (%s) (%s %s)" % (
                orphans, table, parent, name, ", ".join(columns), "key" if pkey else "ctid",
                ", ".join(examples) + (" ..." if orphans > len(examples) else "")))
    status = "fail" if found else "warn" if skipped else "pass"
    message = "; ".join(found) if found else "no orphaned row behind %d foreign keys" % (len(keys) - len(skipped))
    if skipped:
        message += "; not checked: %s" % _listed(skipped)
    return check("orphaned_rows", "generic", status, len(found), 0, message)


def generic_checks(conn: Any, phase: str, statement_timeout: str, lock_timeout: str,
                   max_rows: int) -> list[dict[str, Any]]:
    """The checks of this file, in this order."""
    with conn.cursor() as cur:
        out = [invalid_indexes(cur), not_valid_constraints(cur, phase), disabled_triggers(cur)]
        try:
            cur.execute("BEGIN READ ONLY")
            try:
                cur.execute("SET LOCAL statement_timeout = %s", (statement_timeout,))
                cur.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
                out.append(sequences_behind(cur))
            finally:
                cur.execute("ROLLBACK")
        except psycopg2.Error as exc:
            if conn.closed:
                raise
            out.append(check("sequences_behind", "generic", "warn", None, 0, "not checked: %s" % first_line(exc)))
    out.append(orphaned_rows(conn, statement_timeout, lock_timeout, max_rows))
    return out
