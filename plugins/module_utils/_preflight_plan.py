# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the migration would do, read the way pg_migrate reads it: the plan, the relations it touches, the lint.

The plan is pg_migrate's (``_plan.make_plan`` on the files and the ledger's rows, the
"database is empty" test of ``_own_tables``), the locks are the lock analysis pg_migrate's
check mode reports (``_locks.plan_locks``), and the lint is the
gate's public ``lint_live`` (pg_migrate's own call). Nothing is reimplemented, so the pre-flight and the run
cannot disagree about what is pending.

From the locks each statement takes, ``requirements`` derives what the migration user must
be allowed to do on each relation that exists before the run: own it (ALTER, DROP, CREATE
INDEX ... need ownership or membership in the owning role) or hold a table privilege
(SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER). Pure, so it is unit tested.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import Ledger
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import find_squawk
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_handoff import handed_of
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_live import lint_live
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import (
    relations_created,
    statement_locks,
    summary,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_ddl import REFERENCED
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import (
    ACCESS_SHARE,
    ANY_RELATION,
    ROW_EXCLUSIVE,
    ROW_SHARE,
    UNKNOWN,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover
from ansible_collections.knowledgehub.migration.plugins.module_utils._own_tables import other_table_count
from ansible_collections.knowledgehub.migration.plugins.module_utils._plan import Plan, make_plan
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import FAIL, PASS, make_check

OWNER = "OWNER"  # the need to own the relation (or be a member of the role that owns it)

_QUERIES = ("SELECT", "WITH", "VALUES", "INSERT", "UPDATE", "DELETE", "MERGE", "TABLE", "COPY", "EXPLAIN")
_CREATE_SKIP = ("OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "MATERIALIZED",
                "RECURSIVE", "CONSTRAINT")
_WRITE_PRIVILEGE = {"INSERT": "INSERT", "COPY": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}


# -- the plan ---------------------------------------------------------------------------


def read_plan(conn: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The files, the ledger's state and pg_migrate's plan, read only (no lock, nothing created).

    Raises MigrationError / LedgerError (wrong files, drift, a legacy database without baseline_version...)
    exactly as pg_migrate's check mode would.
    """
    files, ignored = discover(params["migrations_dir"])
    ledger = Ledger(conn, params.get("ledger_schema") or "public", params.get("ledger_table") or "migration_log")
    exists = ledger.exists()
    if exists:
        ledger.check_shape()
    plan = make_plan(files, ledger.rows() if exists else [],
                     baseline_version=params.get("baseline_version"), target_version=params.get("target_version"),
                     database_is_empty=other_table_count(conn, ledger.schema, ledger.table) == 0)
    for migration in plan.pending:
        migration.statements()  # the gate's first test: every pending file splits cleanly
    return {"files": files, "ignored": ignored, "plan": plan, "ledger_exists": exists}


def lint_report(params: dict[str, Any], plan: Plan, conn: Any) -> Any:
    """The lint gate's report on the pending files, judged against the database ``conn`` reaches exactly as
    pg_migrate judges them (None: lint off or nothing pending). Raises LintError when squawk cannot answer."""
    if not plan.pending or not params.get("lint", True):
        return None
    handed = handed_of(params)  # squawk ran on the controller (the action plugin, lint_source)
    return lint_live(None if handed else find_squawk(params.get("squawk_path")), plan.pending, conn,
                     params.get("lint_small_table_rows", 1000),
                     levels=params.get("lint_levels"), accept=params.get("lint_accept"), handed=handed)


# -- what the statements need -------------------------------------------------------------


def created_by_pending(plan: Plan) -> set[str]:
    """Relations some pending statement creates: the migration user will own them."""
    found: set[str] = set()
    for migration in plan.pending:
        for stmt in migration.statements():
            found |= relations_created(stmt.text)
    return found


def _create_kind(words: tuple[str, ...]) -> str:
    for word in words[1:]:
        if word not in _CREATE_SKIP:
            return word
    return ""


def need_of(words: tuple[str, ...], lock: dict[str, Any]) -> tuple[str, ...] | None:
    """What taking ``lock`` in a statement starting with ``words`` needs: ``(OWNER,)``, a tuple of table
    privileges of which any one suffices, or None (nothing: a relation of the file, a lock the system takes on
    its own, as for foreign-key checks, or one the analysis cannot name)."""
    if lock["relation"] == ANY_RELATION or lock["mode"] == UNKNOWN or lock.get("created_in_file"):
        return None
    note, mode = lock.get("note") or "", lock["mode"]
    head = words[0] if words else ""
    if REFERENCED in note:
        return ("REFERENCES",)
    if "foreign key" in note.replace("-", " "):
        return None  # checks and ON DELETE actions run with the rights of the constraint's owner
    if head in _QUERIES:
        if mode in (ACCESS_SHARE, ROW_SHARE):
            return ("SELECT",)
        if mode == ROW_EXCLUSIVE:
            return (_WRITE_PRIVILEGE[head],) if head in _WRITE_PRIVILEGE else ("INSERT", "UPDATE", "DELETE")
        return (OWNER,)
    if head == "TRUNCATE":
        return ("TRUNCATE",)
    if head == "LOCK":
        if mode == ACCESS_SHARE:
            return ("SELECT",)
        if mode == ROW_EXCLUSIVE:
            return ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
        return ("UPDATE", "DELETE", "TRUNCATE")
    if mode == ACCESS_SHARE:
        return ("SELECT",)  # a view's or a CREATE TABLE AS's query, the parent named by NO INHERIT
    if head == "CREATE" and _create_kind(words) == "TRIGGER":
        return ("TRIGGER",)
    return (OWNER,)


def requirements(plan: Plan) -> list[dict[str, Any]]:
    """Each (relation, need) the pending files have on relations not created by them, with the first statement
    that has it: ``{relation, need, file, statement, line, summary}``, in file order.

    Each statement's own locks (``statement_locks`` without the foreign keys declared before it): the locks
    PostgreSQL takes for foreign-key checks and ON DELETE actions need no right of the migration user, and
    merged with a statement's own lock they would hide the read or write it needs a privilege for."""
    created = created_by_pending(plan)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for migration in plan.pending:
        for stmt in migration.statements():
            for lock in statement_locks(stmt.text):
                need = need_of(stmt.words, lock)
                if need is None or lock["relation"] in created or (lock["relation"], need) in seen:
                    continue
                seen.add((lock["relation"], need))
                out.append({"relation": lock["relation"], "need": need, "file": migration.filename,
                            "statement": stmt.number, "line": stmt.line, "summary": summary(stmt.text)})
    return out


def touched(plan: Plan, locks: dict[str, Any]) -> list[dict[str, Any]]:
    """Per pending file, in order: the strongest lock on each relation that existed before it, and whether some
    statement's locks could not be read from its text (``unknown``)."""
    created = created_by_pending(plan)
    out = []
    for migration in plan.pending:
        analysis = locks.get(migration.filename, {"strongest": {}, "statements": []})
        unknown = [s["number"] for s in analysis["statements"] if any(i["mode"] == UNKNOWN for i in s["locks"])]
        out.append({"file": migration.filename,
                    "strongest": {r: m for r, m in analysis["strongest"].items() if r not in created},
                    "unknown_statements": unknown})
    return out


# -- the check: pending migrations and their lint --------------------------------------------


def pending_check(job: Any) -> dict[str, Any]:
    """The versions pending and the lint gate's counts; fail when the plan is refused or the gate would block."""
    if job.plan_error:
        return make_check("pending_migrations", FAIL, None, None,
                          "pg_migrate would refuse to plan: %s" % job.plan_error)
    plan = job.migration_plan
    versions = [m.version for m in plan.pending]
    if not versions:
        return make_check("pending_migrations", PASS, [], None,
                          "Nothing pending: the ledger holds every migration file%s." % (
                              " up to target_version" if plan.beyond_target else ""))
    observed: dict[str, Any] = {"pending": versions, "baseline": [m.version for m in plan.baseline]}
    report, problem = job.lint_report()
    if problem:
        observed["lint"] = None
        return make_check("pending_migrations", FAIL, observed, {"lint_blocking": 0},
                          "%d file(s) pending (%s); the lint gate cannot run: %s" % (
                              len(versions), ", ".join(versions), problem))
    if report is None:
        observed["lint"] = "off"
        return make_check("pending_migrations", PASS, observed, None,
                          "%d file(s) pending (%s); lint is off." % (len(versions), ", ".join(versions)))
    counts = report.counts
    observed["lint"] = {"error": counts["error"], "warning": counts["warning"], "accepted": counts["accepted"],
                        "relaxed": counts.get("relaxed", 0)}
    status = FAIL if counts["error"] else PASS
    text = "%d file(s) pending (%s); %s." % (len(versions), ", ".join(versions), report.summary())
    details = ["%s line %d: %s: %s" % (f["file"], f["line"], f["rule"], f["message"]) for f in report.blocking]
    details += ["%s line %d: %s relaxed: %s" % (f["file"], f["line"], f["rule"], f.get("reason", ""))
                for f in report.findings if f.get("relaxed")]
    if status == FAIL:
        text += (" pg_migrate would refuse to run them (%s%s): change each blocking statement, or accept it with a "
                 "-- squawk-ignore <rule> -- <why> comment on the line above it (docs/lint.md)."
                 % ("; ".join(details[:2]), "; ..." if len(details) > 2 else ""))
    elif counts["warning"]:
        text += " Lint warnings are advice and never block the run; pg_migrate's check mode lists them."
    return make_check("pending_migrations", status, observed, {"lint_blocking": 0}, text, details)


__all__ = ["OWNER", "read_plan", "lint_report", "created_by_pending", "need_of", "requirements",
           "touched", "pending_check"]
