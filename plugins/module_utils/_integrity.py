# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight: the existing rows that would break the constraints the pending files add.

For each step ``_integrity_sql.constraint_steps`` finds (a foreign key, CHECK, UNIQUE,
PRIMARY KEY, SET NOT NULL, CREATE UNIQUE INDEX or VALIDATE CONSTRAINT on a table that
exists before the run), the offending rows are counted and a few of their keys sampled,
with one query per constraint: a single scan of the table (a foreign key adds one
lookup in the referenced table per row, UNIQUE a sort or hash of the key). The
queries run in one READ ONLY transaction under ``statement_timeout``: a check that
cannot finish in time is a ``warn`` saying so, never a long wait.

Nothing to check, and a ``pass`` saying why: a table or column the run creates
earlier (its rows are the run's own), a constraint added ``NOT VALID`` (existing rows
are checked by its ``VALIDATE CONSTRAINT``, which is itself checked here, with the
definition the run gave it or the one in the catalog).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._integrity_sql import constraint_steps
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import FAIL, PASS, WARN, make_check
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql, psycopg2

DEFAULT_TIMEOUT = "30s"
SAMPLE = 5
_MISSING = ("42703", "42P01", "42704", "3F000")  # undefined column, table, object, schema: the run creates them


class ReadOnly:
    """One READ ONLY transaction with a statement_timeout; each query in a savepoint, so one failure (a timeout,
    a name the run creates) leaves the others running. Rolled back at the end: nothing is ever written."""

    def __init__(self, conn: Any, timeout: str) -> None:
        self.conn = conn
        self.timeout = timeout
        self.cur: Any = None

    def __enter__(self) -> "ReadOnly":
        self.cur = self.conn.cursor()
        self.cur.execute("BEGIN READ ONLY" if self.conn.autocommit else "SET TRANSACTION READ ONLY")
        self.cur.execute("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                         (self.timeout, self.timeout))
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.conn.autocommit:
                self.cur.execute("ROLLBACK")
            else:
                self.conn.rollback()
        finally:
            self.cur.close()

    def rows(self, query: Any, args: tuple = ()) -> tuple[list[tuple] | None, Any]:
        """The rows, or None and the psycopg2 error."""
        self.cur.execute("SAVEPOINT kh_integrity")
        try:
            self.cur.execute(query, args)
            rows = self.cur.fetchall()
        except psycopg2.Error as exc:
            self.cur.execute("ROLLBACK TO SAVEPOINT kh_integrity")
            return None, exc
        self.cur.execute("RELEASE SAVEPOINT kh_integrity")
        return rows, None

    def table(self, name: str) -> dict[str, Any] | None:
        """oid, schema, name, estimated rows and primary-key columns of ``name``; None when it does not exist."""
        rows, _error = self.rows(
            "SELECT c.oid::bigint, n.nspname, c.relname, c.reltuples::float8, array(SELECT a.attname::text "
            "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s) "
            "AND c.relkind IN ('r', 'p')", (name,))
        if not rows:
            return None
        oid, schema, relname, estimate, key = rows[0]
        return {"oid": oid, "ident": pgsql.Identifier(schema, relname), "estimate": max(estimate, 0), "key": key}


def _label(step: dict[str, Any]) -> str:
    name = step.get("name") or ""
    if step["kind"] == "not null":
        return "NOT NULL on %s.%s" % (step["table"], step["columns"][0])
    if step["kind"] == "validate":
        return "VALIDATE CONSTRAINT %s on %s" % (name, step["table"])
    what = {"foreign key": "foreign key", "check": "CHECK", "unique": "UNIQUE", "primary key": "PRIMARY KEY",
            "unique index": "unique index"}[step["kind"]]
    cols = " (%s)" % ", ".join(step["columns"]) if step.get("columns") else ""
    ref = " -> %s" % step["references"] if step["kind"] == "foreign key" else ""
    return "%s %s%s on %s%s%s" % (what, name, "" if name else "", step["table"], cols, ref) if name \
        else "%s on %s%s%s" % (what, step["table"], cols, ref)


def _name(step: dict[str, Any]) -> str:
    """``data_integrity:<constraint>`` (``...:validate`` for its VALIDATE), or ``<table>.<kind>`` when unnamed."""
    name = step.get("name") or "%s.%s" % (step["table"], step["kind"].replace(" ", "_"))
    return "data_integrity:%s%s" % (name, ":validate" if step.get("validating") else "")


def _observed(step: dict[str, Any], violations: Any, **extra: Any) -> dict[str, Any]:
    return dict({"file": step["file"], "line": step["line"], "table": step["table"], "constraint": _label(step),
                 "violations": violations}, **extra)


def _nothing(step: dict[str, Any], why: str) -> dict[str, Any]:
    return make_check(_name(step), PASS, _observed(step, None, checked=False), 0,
                      "%s (%s line %d): nothing to check: %s." % (_label(step), step["file"], step["line"], why))


def _sample(table: dict[str, Any], columns: list[str]) -> Any:
    """A jsonb of the row's key (primary key, else ctid) and the constraint's columns, for the details."""
    names = list(table["key"]) or []
    parts = [pgsql.SQL("{}, {}").format(pgsql.Literal(k), pgsql.Identifier(k)) for k in names]
    if not names:
        parts.append(pgsql.SQL("'ctid', ctid::text"))
    parts += [pgsql.SQL("{}, {}").format(pgsql.Literal(c.strip('"')), pgsql.SQL(c)) for c in columns
              if c.strip('"') not in names]
    return pgsql.SQL("jsonb_build_object({})").format(pgsql.SQL(", ").join(parts))


def _all_set(columns: list[str], alias: str = "") -> Any:
    return pgsql.SQL(" AND ").join(pgsql.SQL("{}{} IS NOT NULL").format(pgsql.SQL(alias), pgsql.SQL(c))
                                   for c in columns)


def _query(db: ReadOnly, step: dict[str, Any], table: dict[str, Any]) -> tuple[Any, str] | dict[str, Any]:
    """The query that lists the offending rows (``sample, total``), and what it costs; or a check already."""
    kind, cols, ident = step["kind"], step.get("columns") or [], table["ident"]
    cost = "one scan of %s (~%d rows)" % (step["table"], table["estimate"])
    if kind == "check":
        where = pgsql.SQL("({}) IS FALSE").format(pgsql.SQL(step["expr"]))
    elif kind == "not null":
        where = pgsql.SQL("{} IS NULL").format(pgsql.SQL(cols[0]))
    elif kind == "foreign key":
        parent = db.table(step["references"])
        if parent is None:
            return _nothing(step, "the referenced table %s does not exist before the run; the rows of %s that set "
                                  "%s must find their match in what the run writes there" %
                            (step["references"], step["table"], ", ".join(cols)))
        refs = step.get("ref_columns") or parent["key"]
        match = pgsql.SQL(" AND ").join(pgsql.SQL("p.{} = c.{}").format(pgsql.Identifier(r.strip('"')), pgsql.SQL(c))
                                        for r, c in zip(refs, cols))
        where = pgsql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
            _all_set(cols, "c."), parent["ident"], match)
        cost += " with one lookup in %s per row" % step["references"]
    else:
        keys = pgsql.SQL(", ").join(pgsql.SQL(c) for c in cols)
        filters = [_all_set(cols)] if step.get("nulls_distinct", True) else []
        if step.get("where"):
            filters.append(pgsql.SQL("({})").format(pgsql.SQL(step["where"])))
        cost += " and a sort or hash of its key"
        return pgsql.SQL("SELECT jsonb_build_object('key', jsonb_build_array({k}), 'rows', count(*)), "
                         "sum(count(*)) OVER () FROM {t} c {w} GROUP BY {k} HAVING count(*) > 1 LIMIT %s").format(
            k=keys, t=ident, w=pgsql.SQL("WHERE ") + pgsql.SQL(" AND ").join(filters) if filters else pgsql.SQL(""),
        ), cost
    return pgsql.SQL("SELECT {s}, count(*) OVER () FROM {t} c WHERE {w} LIMIT %s").format(
        s=_sample(table, cols), t=ident, w=where), cost


def _catalog_definition(db: ReadOnly, step: dict[str, Any]) -> dict[str, Any] | None:
    """The definition of a NOT VALID constraint the database already has, for its VALIDATE."""
    rows, _error = db.rows(
        "SELECT contype::text, convalidated, pg_get_expr(conbin, conrelid), "
        "array(SELECT quote_ident(attname) FROM unnest(conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a "
        "ON a.attrelid = conrelid AND a.attnum = k.n ORDER BY o), confrelid::regclass::text, "
        "array(SELECT attname::text FROM unnest(confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a "
        "ON a.attrelid = confrelid AND a.attnum = k.n ORDER BY o) "
        "FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s", (step["table"], step["name"]))
    if not rows:
        return None
    contype, valid, expr, cols, references, ref_cols = rows[0]
    if valid:
        return {"valid": True}
    if contype == "c":
        return dict(step, kind="check", expr=expr, columns=[])
    if contype == "f":
        return dict(step, kind="foreign key", columns=list(cols), references=references, ref_columns=list(ref_cols))
    return None


def _resolve(db: ReadOnly, step: dict[str, Any], later: dict[tuple[str, str], dict[str, Any]]
             ) -> dict[str, Any]:
    """The step to evaluate, or a check when there is nothing to evaluate."""
    if step["kind"] == "validate":
        step = dict(step, validating=True)
        added = step.get("added")
        if added is None:
            found = _catalog_definition(db, step)
            if found is None:
                return make_check(_name(step), WARN, _observed(step, None, checked=False), 0,
                                  "%s (%s line %d): the constraint is neither added earlier in the run nor a NOT "
                                  "VALID constraint of the database: it cannot be checked here."
                                  % (_label(step), step["file"], step["line"]))
            if found.get("valid"):
                return _nothing(step, "the constraint is already valid in the database")
            return dict(found, validating=True)
        if added.get("new_table") or added.get("new_columns"):
            return _nothing(step, "it validates %s, added at %s line %d on %s the run creates (%s): the rows it "
                                  "checks are written by the run" % (added["name"], added["file"], added["line"],
                                                                     "a table" if added.get("new_table") else "columns",
                                                                     _origins(added)))
        return dict(added, file=step["file"], line=step["line"], validating=True)
    if step.get("new_table"):
        return _nothing(step, "table %s is created by %s in this run" % (step["table"], step["new_table"]))
    if step.get("new_columns"):
        return _nothing(step, "%s added by this run: existing rows hold no value of it yet" % _origins(step))
    if step.get("not_valid"):
        validate = later.get((step["table"], step["name"]))
        return _nothing(step, "it is added NOT VALID, which does not check existing rows; %s" % (
            "its VALIDATE CONSTRAINT at %s line %d does, and is checked on its own" % (validate["file"], validate["line"])
            if validate else "a later VALIDATE CONSTRAINT will check them"))
    return step


def _origins(step: dict[str, Any]) -> str:
    if step.get("new_table"):
        return "table %s at %s" % (step["table"], step["new_table"])
    return ", ".join("column %s at %s" % item for item in sorted(step["new_columns"].items()))


def _evaluate(db: ReadOnly, step: dict[str, Any], timeout: str, sample: int) -> dict[str, Any]:
    table = db.table(step["table"])
    if table is None:
        return _nothing(step, "table %s does not exist before the run, so no existing row is concerned" %
                        step["table"])
    built = _query(db, step, table)
    if isinstance(built, dict):
        return built
    query, cost = built
    rows, error = db.rows(query, (sample,))
    where = "%s (%s line %d)" % (_label(step), step["file"], step["line"])
    if error is not None:
        code = getattr(error, "pgcode", None)
        if code in ("57014", "55P03"):  # statement_timeout, lock_timeout
            return make_check(_name(step), WARN, _observed(step, None, checked=False, cost=cost), 0,
                              "%s: the check could not finish within statement_timeout %s (%s): not checked. Raise "
                              "the timeout, or count the offending rows by hand before the window."
                              % (where, timeout, cost))
        if code in _MISSING:
            return _nothing(step, "it refers to something the run creates first (%s)" % first_line(error))
        return make_check(_name(step), WARN, _observed(step, None, checked=False, cost=cost), 0,
                          "%s: the check could not be evaluated: %s." % (where, first_line(error)))
    total = int(rows[0][-1]) if rows else 0
    observed = _observed(step, total, checked=True, cost=cost, rows_estimate=int(table["estimate"]))
    if not total:
        return make_check(_name(step), PASS, observed, 0, "%s: no existing row violates it (%s)." % (where, cost))
    unit = "row(s) share a duplicated key" if step["kind"] in ("unique", "primary key", "unique index") \
        else "row(s) violate it"
    return make_check(_name(step), FAIL, observed, 0,
                      "%s: %d existing %s, so the migration would fail there (or leave the constraint unusable). "
                      "Fix or remove those rows first; a sample is in details (%s)." % (where, total, unit, cost),
                      details=[r[0] for r in rows])


def integrity_checks(conn: Any, pending: list[Any], statement_timeout: str = DEFAULT_TIMEOUT,
                     sample: int = SAMPLE) -> list[dict[str, Any]]:
    """One check per constraint the ``pending`` files (MigrationFile list, in run order) add to existing rows,
    evaluated on ``conn`` in a READ ONLY transaction (rolled back) under ``statement_timeout``."""
    steps = constraint_steps(pending)
    if not steps:
        return [make_check("data_integrity", PASS, {"constraints": 0}, 0,
                           "The pending files add no constraint that checks rows already in the database.")]
    later = {(s["table"], s["name"]): s for s in steps if s["kind"] == "validate"}
    checks = []
    with ReadOnly(conn, statement_timeout) as db:
        for step in steps:
            resolved = _resolve(db, step, later)
            checks.append(resolved if "status" in resolved else _evaluate(db, resolved, statement_timeout, sample))
    return checks


__all__ = ["DEFAULT_TIMEOUT", "SAMPLE", "ReadOnly", "integrity_checks"]
