# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lint gate judged against the live database: a long lock on a new or small table is no long lock.

squawk reads text: it cannot know that ``CREATE INDEX ... ON t`` works on a table
an earlier file of the same run creates, or on a table of twelve rows. A long
migration history applied to an empty database would be blocked by findings about
tables that do not exist yet. ``lint_live`` runs the gate (``_lint.lint_files``),
then looks at the table each blocking finding's statement works on (the lock
analysis, ``_locks``) and relaxes the finding, reported but not blocking, when:

* the rule is about the time a table is locked, scanned or rewritten, and the
  table is created earlier in the run (an earlier pending file, an earlier
  statement of the same file, or the statement itself) or holds fewer rows than
  ``small_table_rows``;
* the rule is about data lost or refused (DROP COLUMN, DROP TABLE, a NOT NULL
  column without default), and the table is created in the run or holds no row:
  twelve rows lost are still lost;
* the rule is about breaking the running application (renames), and the table is
  created in the run: the application does not use it yet.

Other rules, and findings whose table cannot be told, keep their level. Each
finding says why (``relaxed``, ``reason``). Row counts: ``pg_class.reltuples`` is
the estimate; only below the threshold is the table counted, and never further
than ``small_table_rows + 1`` rows, in a READ ONLY transaction bounded by
``COUNT_TIMEOUT``. ``small_table_rows=0`` turns the relaxation off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import (
    ERROR,
    WARNING,
    LintError,
    LintReport,
    lint_files,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import relations_created, statement_locks
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import ANY_RELATION, UNKNOWN
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_names import (
    read_name,
    skip_words,
    words_of,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import tokenize
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql, psycopg2

DEFAULT_SMALL_TABLE_ROWS = 1000
COUNT_TIMEOUT = "5s"

# A lock, scan, rewrite or index build: harmless on a new table or one of a few rows.
WHEN_SMALL = ("adding-field-with-default", "adding-foreign-key-constraint", "adding-not-nullable-field",
              "adding-serial-primary-key-field", "changing-column-type", "constraint-missing-not-valid",
              "disallowed-unique-constraint", "prefer-repack", "require-concurrent-index-creation",
              "require-concurrent-reindex")
# Data lost or refused: harmless only on a new or an empty table.
WHEN_EMPTY = ("ban-drop-column", "ban-drop-table", "adding-required-field")
# Breaks the application that runs during the migration: harmless only on a table it does not know yet.
WHEN_NEW = ("renaming-column", "renaming-table", "renaming-object", "ban-set-schema", "ban-alter-identity")

_CREATES_RELATION = ("TABLE", "VIEW", "MATERIALIZED", "SEQUENCE")


class LiveLintReport(LintReport):
    """The gate's report with the live judgement: ``small_table_rows`` and the relaxed findings counted."""

    small_table_rows: int = DEFAULT_SMALL_TABLE_ROWS

    @property
    def relaxed(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f.get("relaxed")]

    @property
    def counts(self) -> dict[str, int]:
        return dict(super().counts, relaxed=len(self.relaxed))

    def summary(self) -> str:
        text = super().summary()
        if self.relaxed:
            text += ", %d relaxed (new or small tables, lint_small_table_rows=%d)" % (
                len(self.relaxed), self.small_table_rows)
        return text

    def blocking_message(self, limit: int = 20) -> str:
        lines = super().blocking_message(limit).split("\n")
        reasons = ["  %s line %d (%s): %s" % (f["file"], f["line"], f["rule"], f["reason"])
                   for f in self.blocking[:min(limit, 5)] if f.get("reason")]
        if reasons:
            lines[-1:-1] = ["Why these block against this database:"] + reasons
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return dict(super().as_dict(), small_table_rows=self.small_table_rows, relaxed=len(self.relaxed))


# -- which table a statement works on ----------------------------------------------

def _created(toks: list[Any], text: str) -> tuple[str | None, bool]:
    """The relation a CREATE TABLE/VIEW/SEQUENCE statement creates, and whether for certain (the lock analysis's
    ``relations_created``: not IF NOT EXISTS, not OR REPLACE). Indexes are left out: a finding on CREATE INDEX is
    about the table it indexes."""
    if words_of(toks[:1]) != ["CREATE"]:
        return None, False
    i = skip_words(toks, 1, "OR REPLACE", "GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED", "RECURSIVE")
    if (toks[i].up if i < len(toks) else "") not in _CREATES_RELATION:
        return None, False
    name, _end = read_name(toks, skip_words(toks, i, "MATERIALIZED", "TABLE", "VIEW", "SEQUENCE", "IF NOT EXISTS"))
    if not name:
        return None, False
    return name, name in relations_created(text)


def statement_tables(text: str) -> tuple[list[str], bool]:
    """The tables a statement works on, read by the lock analysis, and whether the statement creates them itself.
    ``[]`` when they cannot be told (procedural code, a statement the analysis does not know, every table)."""
    toks = tokenize(text)
    if not toks:
        return [], False
    name, _certain = _created(toks, text)
    if name:
        return [name], True
    locks = statement_locks(text)
    if not locks or any(item["mode"] == UNKNOWN or ANY_RELATION in item["relation"] or item["relation"] == "?"
                        for item in locks):
        return [], False
    if toks[0].up in ("DROP", "TRUNCATE"):  # every relation named is dropped or emptied
        return [item["relation"] for item in locks], False
    return [locks[0]["relation"]], False  # the altered, indexed or rewritten table comes first; others are read


@dataclass
class RunCreations:
    """Where each relation is created in the run: the pending files walked in order."""

    origins: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, files: list[Any]) -> "RunCreations":
        run = cls()
        for position, migration in enumerate(files):
            for stmt in _statements(migration):
                if stmt.words[:1] != ("CREATE",):
                    continue
                name, certain = _created(tokenize(stmt.text), stmt.text)
                if name and name not in run.origins:
                    run.origins[name] = {"at": (position, stmt.number), "file": migration.filename,
                                         "line": stmt.line, "certain": certain}
        return run

    def before(self, name: str, position: int, number: int) -> dict[str, Any] | None:
        """The creation of ``name`` at or before statement ``number`` of the ``position``-th pending file."""
        origin = self.origins.get(name)
        return origin if origin and origin["at"] <= (position, number) else None


def _statements(migration: Any) -> list[Any]:
    try:
        return migration.statements() if hasattr(migration, "statements") else split_sql(migration.sql)
    except Failure:
        return []


# -- what the database says about a table --------------------------------------------

def _about(value: float) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return "~%.1f%s" % (value / size, unit)
    return "~%d" % value


class TableFacts:
    """Existence and row counts of tables, read once each in one READ ONLY transaction."""

    def __init__(self, conn: Any, threshold: int) -> None:
        self.conn = conn
        self.threshold = threshold
        self.facts: dict[str, dict[str, Any]] = {}
        self.cur: Any = None

    def __enter__(self) -> "TableFacts":
        self.cur = self.conn.cursor()
        if self.conn.autocommit:
            self.cur.execute("BEGIN READ ONLY")
        else:
            self.cur.execute("SET TRANSACTION READ ONLY")
        self.cur.execute("SET LOCAL statement_timeout = %s", (COUNT_TIMEOUT,))
        self.cur.execute("SET LOCAL lock_timeout = %s", (COUNT_TIMEOUT,))
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.conn.autocommit:
                self.cur.execute("ROLLBACK")
            else:
                self.conn.rollback()
        finally:
            self.cur.close()

    def _guarded(self, query: Any, args: tuple = ()) -> tuple[Any, str]:
        self.cur.execute("SAVEPOINT kh_lint_live")
        try:
            self.cur.execute(query, args)
            row = self.cur.fetchone()
        except psycopg2.Error as exc:
            self.cur.execute("ROLLBACK TO SAVEPOINT kh_lint_live")
            return None, first_line(exc)
        self.cur.execute("RELEASE SAVEPOINT kh_lint_live")
        return row, ""

    def get(self, name: str) -> dict[str, Any]:
        if name not in self.facts:
            self.facts[name] = self._read(name)
        return self.facts[name]

    def _read(self, name: str) -> dict[str, Any]:
        row, error = self._guarded(
            "SELECT c.relkind::text, coalesce(t.oid, c.oid)::regclass::text, coalesce(t.reltuples, c.reltuples)::float8, "
            "n.nspname, coalesce(t.relname, c.relname) FROM pg_class c "
            "LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = coalesce(t.relnamespace, c.relnamespace) "
            "WHERE c.oid = to_regclass(%s)", (name,))
        if error or row is None:
            return {"exists": False, "error": error}
        relkind, table, estimate, schema, relname = row
        if relkind not in ("r", "p", "m", "i", "I"):
            return {"exists": True, "countable": False, "relkind": relkind}
        facts = {"exists": True, "countable": True, "table": table, "estimate": estimate}
        if estimate >= self.threshold:
            return facts  # never counted: the estimate says big (reltuples is -1 for a table never analyzed)
        limit = self.threshold + 1
        row, error = self._guarded(pgsql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) s").format(
            pgsql.Identifier(schema, relname)), (limit,))
        facts.update(counted=int(row[0]) if row else None, limit=limit, error=error)
        return facts


# -- the judgement -----------------------------------------------------------------------

def _verdict(rule: str, table: str, facts: dict[str, Any], threshold: int) -> tuple[bool, str]:
    """Whether a finding of ``rule`` on the existing table ``table`` may be relaxed, and why."""
    if not facts["exists"]:
        return False, ("table %s does not exist in the database, and no earlier statement of the run creates it "
                       "for certain: it cannot be judged" % table)
    if not facts.get("countable"):
        return False, "%s is not a table whose rows can be counted: it cannot be judged" % table
    if rule in WHEN_NEW:
        return False, ("table %s exists before the run and the application may use it: %s is relaxed only for a "
                       "table created in the run" % (table, rule))
    label = facts["table"] if facts["table"] == table else "%s (the table of %s)" % (facts["table"], table)
    if "counted" not in facts:
        return False, "table %s holds %s rows (estimate, pg_class.reltuples; threshold %d)" % (
            label, _about(facts["estimate"]), threshold)
    if facts["counted"] is None:
        return False, "table %s could not be counted within %s (%s): kept blocking" % (
            label, COUNT_TIMEOUT, facts["error"])
    counted = facts["counted"]
    shown = "more than %d" % threshold if counted >= facts["limit"] else "%d" % counted
    if rule in WHEN_EMPTY:
        if counted == 0:
            return True, "table %s holds no rows: nothing is lost or refused" % label
        return False, ("table %s holds %s rows: %s loses or refuses data whatever the size, relaxed only for an "
                       "empty or new table" % (label, shown, rule))
    if counted < threshold:
        return True, "table %s holds %s rows (threshold %d)" % (label, shown, threshold)
    return False, "table %s holds %s rows (threshold %d; the estimate said %s)" % (
        label, shown, threshold, _about(max(facts["estimate"], 0)))


def judge(finding: dict[str, Any], tables: list[str], created_here: bool, run: RunCreations, position: int,
          facts: TableFacts, threshold: int) -> tuple[bool, str]:
    """Relaxed or not, and why, for one blocking finding whose statement works on ``tables``."""
    rule = finding["rule"]
    if rule not in WHEN_SMALL + WHEN_EMPTY + WHEN_NEW:
        return False, "%s is not about a table's size or age: the live database does not change it" % rule
    if not tables:
        return False, "the table of statement %s cannot be told from its text: kept as squawk's rule says" % (
            finding.get("statement") or "?")
    reasons = []
    for table in tables:
        origin = run.before(table, position, finding["statement"])
        if origin and (origin["certain"] or not facts.get(table)["exists"]):
            here = created_here and origin["at"] == (position, finding["statement"])
            reasons.append("table %s is created by %s line %d in this run%s" % (
                table, origin["file"], origin["line"], " (this statement)" if here else "")
                + ": no session can be waiting on it, it holds only what the run puts in it")
            continue
        ok, reason = _verdict(rule, table, facts.get(table), threshold)
        if not ok:
            return False, reason
        reasons.append(reason)
    return True, "; ".join(reasons)


def relax(report: LintReport, files: list[Any], conn: Any, threshold: int) -> LiveLintReport:
    """``report`` judged against the database ``conn`` reaches (before anything of ``files`` ran)."""
    live = LiveLintReport(**report.__dict__)
    live.small_table_rows = threshold
    for finding in live.findings:
        finding.update(relaxed=False, reason="a %s under the policy: reported, never blocks" % finding["level"])
    blocking = [f for f in live.findings if f["level"] == ERROR]
    if not threshold:
        for finding in blocking:
            finding["reason"] = "lint_small_table_rows=0: the live judgement is off, the policy's level stands"
        return live
    if not blocking:
        return live
    positions = {m.filename: n for n, m in enumerate(files)}
    statements = {m.filename: {s.number: s for s in _statements(m)} for m in files}
    run = RunCreations.of(files)
    subjects: dict[tuple[str, int], tuple[list[str], bool]] = {}
    with TableFacts(conn, threshold) as facts:
        for finding in blocking:
            stmt = statements.get(finding["file"], {}).get(finding.get("statement"))
            key = (finding["file"], finding.get("statement") or 0)
            if key not in subjects:
                subjects[key] = statement_tables(stmt.text) if stmt else ([], False)
            tables, created_here = subjects[key]
            ok, reason = judge(finding, tables, created_here, run, positions.get(finding["file"], 0), facts,
                               threshold)
            finding.update(relaxed=ok, reason=reason)
            if ok:
                finding.update(level=WARNING, policy_level=ERROR)
    return live


def check_threshold(value: Any) -> int:
    try:
        number = int(DEFAULT_SMALL_TABLE_ROWS if value is None else value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or str(value).strip() not in (str(number), "None"):
        raise LintError("lint_small_table_rows=%r is not a row count: give a whole number >= 0 (0 turns the live "
                        "judgement off, default %d)." % (value, DEFAULT_SMALL_TABLE_ROWS))
    return number


def lint_live(squawk: str | None, files: Iterable[Any], conn: Any, small_table_rows: Any = DEFAULT_SMALL_TABLE_ROWS,
              levels: dict[str, str] | None = None, accept: Iterable[str] | None = None,
              pg_version: Any = None, handed: Any = None) -> LiveLintReport:
    """``_lint.lint_files`` on ``files`` (in run order), then each blocking finding judged against the database
    ``conn`` reaches (see the module's docstring). Raises LintError like ``lint_files``. ``handed``: the
    controller's squawk findings (``_lint_handoff.Handed``), used instead of running squawk on this host."""
    threshold = check_threshold(small_table_rows)
    files = list(files)
    report = lint_files(squawk, files, conn.server_version if pg_version is None else pg_version,
                        levels=levels, accept=accept, handed=handed)
    try:
        return relax(report, files, conn, threshold)
    except psycopg2.Error as exc:
        raise LintError("The live lint judgement could not read the database: %s. Rerun, or set "
                        "lint_small_table_rows=0 to judge the files by squawk's rules alone." % first_line(exc)) \
            from None


__all__ = ["DEFAULT_SMALL_TABLE_ROWS", "COUNT_TIMEOUT", "WHEN_SMALL", "WHEN_EMPTY", "WHEN_NEW", "LiveLintReport",
           "RunCreations", "TableFacts", "statement_tables", "judge", "relax", "check_threshold", "lint_live"]
