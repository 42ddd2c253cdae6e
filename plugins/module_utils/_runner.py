# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a migration plan: the advisory lock, one transaction per file, the ledger.

Order of a run: discover files -> connect -> take the run lock -> mark rows a
dead runner left 'running' -> read the ledger and plan (drift, baseline, order)
-> create the ledger / record the baseline -> apply each pending file in its own
transaction, whose last statement flips its ledger row to 'applied'.
Anything found wrong before the first migration leaves the database untouched.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._activity import (
    BlockerWatch,
    describe_session,
    lingering_sessions,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import (
    Ledger,
    LedgerError,
    LockTimeout,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import LintError, find_squawk, lint_files
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import (
    file_foreign_keys,
    file_locks,
    strongest_locks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import (
    MigrationError,
    MigrationFile,
    Plan,
    make_plan,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    ConnectionFailure,
    Target,
    pgsql,
    psycopg2,
)


# Errors after which PostgreSQL has already rolled our work back and a retry may succeed:
# lock timeout, deadlock (we are the victim), serialization failure.
RETRYABLE = (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected,
             psycopg2.errors.SerializationFailure) if psycopg2 is not None else ()


class MigrationFailed(Exception):
    """A migration ran and failed; ``details`` says where and what the ledger holds."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@dataclass
class RunResult:
    changed: bool = False
    ledger_created: bool = False
    baselined: list[dict[str, Any]] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    already_applied: list[dict[str, Any]] = field(default_factory=list)
    beyond_target: list[dict[str, Any]] = field(default_factory=list)
    interrupted: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    lint: dict[str, Any] = field(default_factory=dict)
    locks: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def describe(migration: MigrationFile) -> dict[str, Any]:
    return {"version": migration.version, "name": migration.name, "file": migration.filename,
            "checksum": migration.checksum}


def _user_tables(conn: Any, ledger: Ledger) -> int:
    """Tables in the database other than this tool's own (the ledger and its recovery points; system schemas
    excluded). A recovery point taken before the first migration must not make an empty database look used."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
                  AND c.oid <> ALL (SELECT to_regclass(t) FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL)""",
            (ledger.own_tables(),))
        return int(cur.fetchone()[0])


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()})
    return out


class Runner:
    """One pg_migrate run against one database."""

    def __init__(self, params: dict[str, Any], files: list[MigrationFile], check_mode: bool,
                 run_info: dict[str, Any], run_command: Any = None) -> None:
        self.params = params
        self.target = Target.from_params(params)
        self.run_command = run_command
        self.files = files
        self.check_mode = check_mode
        # several invocations (the phases of one run) may share a run id; each ledger row it writes carries it
        self.run = dict(run_info, run_id=str(uuid.UUID(run_info["run_id"])) if run_info.get("run_id")
                        else str(uuid.uuid4()))
        self.result = RunResult(run_id=self.run["run_id"])
        self.control: Any = None
        self.ledger: Ledger | None = None

    # -- entry point --------------------------------------------------------

    def execute(self) -> RunResult:
        try:
            try:
                self._execute()
            except psycopg2.Error as exc:
                # the server went away between migrations (each one is committed with its ledger row)
                done = ", ".join(m["file"] for m in self.result.applied) or "none"
                raise MigrationFailed(
                    "Lost the connection to PostgreSQL between migrations: %s. Applied by this run, each committed "
                    "together with its ledger row: %s. The ledger tells the truth; rerun when the server is back."
                    % (_first_line(exc), done), {"applied_before_failure": self.result.applied}) from None
        except Exception as exc:
            # what was learnt before the failure (plan, lint findings, locks) goes back with it
            exc.partial = self.result.as_dict()  # type: ignore[attr-defined]
            raise
        return self.result

    def _execute(self) -> None:
        try:
            self.control = self.target.connect(autocommit=True, purpose="pg_migrate control")
            self.ledger = Ledger(self.control, self.params["ledger_schema"], self.params["ledger_table"])
            if self.check_mode:
                self._plan_only()
            else:
                self.ledger.acquire_lock(self.params["lock_wait_timeout"])
                try:
                    self._run_locked()
                finally:
                    self._release()
        finally:
            if self.control is not None and not self.control.closed:
                self.control.close()

    def _release(self) -> None:
        if self.control is not None and not self.control.closed:
            try:
                self.ledger.release_lock()
            except psycopg2.Error:
                pass  # the lock is session-level: closing the connection releases it anyway

    # -- planning -----------------------------------------------------------

    def _plan(self, exists: bool) -> Plan:
        rows = self.ledger.rows() if exists else []
        return make_plan(
            self.files, rows,
            baseline_version=self.params.get("baseline_version"),
            target_version=self.params.get("target_version"),
            database_is_empty=_user_tables(self.control, self.ledger) == 0,
        )

    def _report_plan(self, plan: Plan) -> None:
        self.result.already_applied = [describe(m) for m in plan.present]
        self.result.baselined = [describe(m) for m in plan.baseline]
        self.result.pending = [describe(m) for m in plan.pending]
        self.result.beyond_target = [describe(m) for m in plan.beyond_target]

    def _gate(self, plan: Plan) -> None:
        """Before anything runs: every pending file must split cleanly and pass the lint gate."""
        for migration in plan.pending:
            migration.statements()
        self._report_plan(plan)
        if self.check_mode:
            self.result.locks = self._locks(plan)
        if not plan.pending or not self.params.get("lint", True):
            return
        try:
            report = lint_files(find_squawk(self.params.get("squawk_path")), plan.pending,
                                self.control.server_version, self.run_command,
                                levels=self.params.get("lint_levels"), accept=self.params.get("lint_accept"))
        except LintError as exc:
            raise MigrationError("Lint gate: %s Nothing was run." % exc) from None
        self.result.lint = report.as_dict()
        if report.blocking:
            raise MigrationError("Lint gate: %s Nothing was run." % report.blocking_message())

    @staticmethod
    def _locks(plan: Plan) -> dict[str, Any]:
        """The locks each pending statement would take, read from its text (nothing is run)."""
        references: list[dict[str, Any]] = []
        for migration in plan.present + plan.baseline:
            references = file_foreign_keys(migration.statements(), references)
        locks = {}
        for migration in plan.pending:
            statements = migration.statements()
            per_statement = file_locks(statements, references=references)
            locks[migration.filename] = {"strongest": strongest_locks(per_statement), "statements": per_statement}
            references = file_foreign_keys(statements, references)
        return locks

    def _plan_only(self) -> None:
        exists = self.ledger.exists()
        if exists:
            self.ledger.check_shape()
        plan = self._plan(exists)
        self._gate(plan)
        stale = [r for r in self.ledger.rows() if r["status"] == "running"] if exists else []
        self.result.interrupted = _jsonable(stale)
        self.result.ledger_created = not exists
        self.result.changed = plan.has_work or bool(stale)
        if exists:
            self.result.ledger = _jsonable(self.ledger.rows())

    # -- the real run -------------------------------------------------------

    def _run_locked(self) -> None:
        exists = self.ledger.exists()
        if exists:
            self.ledger.check_shape()
            self.result.interrupted = _jsonable(
                self.ledger.reconcile_interrupted(self.params["lock_wait_timeout"]))
        plan = self._plan(exists)
        self._gate(plan)
        self.result.pending = []
        if plan.has_work and not exists:
            self.ledger.create()
            self.result.ledger_created = True
        for migration in plan.baseline:
            self.ledger.insert(self.run, migration, "baseline")
        for migration in plan.pending:
            try:
                self.result.applied.append(self._apply(migration))
            except ConnectionFailure as exc:
                done = ", ".join(m["file"] for m in self.result.applied) or "none"
                raise MigrationFailed(
                    "Lost the server before %s: %s Applied by this run, each committed with its ledger row: %s. "
                    "Nothing of %s ran. Rerun when the server is back; it continues from there."
                    % (migration.filename, exc, done, migration.filename),
                    {"file": migration.filename, "version": migration.version,
                     "applied_before_failure": self.result.applied}) from None
        self.result.changed = bool(plan.has_work or self.result.interrupted)
        self.result.ledger = _jsonable(self.ledger.rows())

    # -- applying one file ---------------------------------------------------

    def _apply(self, migration: MigrationFile) -> dict[str, Any]:
        statements = migration.statements()
        self._wait_for_lingering_sessions(migration)
        first = 1 if migration.transactional else self._resume_point(migration)
        work = self.target.connect(autocommit=not migration.transactional,
                       purpose="pg_migrate %s" % migration.version)
        started = time.monotonic()
        progress = _Progress()
        watch = None
        try:
            with work.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                backend_pid = cur.fetchone()[0]
                for name, value in self._session_settings(migration, work).items():
                    cur.execute("SELECT set_config(%s, %s, false)", (name, value))
            # committed before the migration's transaction: a rollback between retries must not undo them
            work.commit()
            progress.row_id = self.ledger.insert(self.run, migration, "running", backend_pid=backend_pid,
                                                 last_statement=first - 1 if first > 1 else None)
            with BlockerWatch(lambda: self.target.connect(autocommit=True, purpose="pg_migrate watch"),
                              backend_pid) as watch:
                if migration.transactional:
                    self._run_in_transaction(work, statements, progress, watch)
                else:
                    self._run_statement_by_statement(work, statements, first, progress, watch)
        except psycopg2.Error as exc:
            blocked = watch.describe() if watch is not None and isinstance(exc, RETRYABLE) else None
            raise self._failure(migration, statements, progress, exc, work, blocked) from None
        finally:
            progress.collect(work)
            work.close()
        return dict(describe(migration), statements=len(statements), transactional=migration.transactional,
                    resumed_at=first if first > 1 else None, attempts=progress.attempts,
                    duration_ms=int((time.monotonic() - started) * 1000), notices=progress.notices)

    def _session_settings(self, migration: MigrationFile, work: Any) -> dict[str, str]:
        directives = migration.directives
        settings = {
            "lock_timeout": directives.get("lock_timeout", self.params["lock_timeout"]),
            "statement_timeout": directives.get("statement_timeout", self.params["statement_timeout"]),
            # a runner that hangs mid-transaction must not hold its locks for long
            "idle_in_transaction_session_timeout": self.params["idle_in_transaction_timeout"],
        }
        if work.server_version >= 140000:
            # a backend whose runner died stops at the next check instead of finishing its statement
            settings["client_connection_check_interval"] = "1s"
        return settings

    def _run_in_transaction(self, work: Any, statements: list[Any], progress: "_Progress", watch: Any) -> None:
        """The whole file and its ledger row in one transaction; on a lock timeout, roll back and retry."""
        while True:
            progress.attempts += 1
            watch.last = []
            try:
                with work.cursor() as cur:
                    for stmt in statements:
                        progress.number = stmt.number
                        try:
                            cur.execute(stmt.text)
                        finally:
                            progress.collect(work)
                    progress.number = 0
                    cur.execute(self.ledger.mark_applied_sql(), (len(statements), progress.row_id))
                work.commit()
                return
            except RETRYABLE:
                work.rollback()
                if progress.attempts > self.params["lock_retries"]:
                    raise
                self._backoff(progress.attempts)

    def _run_statement_by_statement(self, work: Any, statements: list[Any], first: int, progress: "_Progress",
                                    watch: Any) -> None:
        """Each statement commits on its own and is journaled; a lock timeout retries the statement."""
        for stmt in statements[first - 1:]:
            progress.number = stmt.number
            tries = 0
            while True:
                tries += 1
                progress.attempts = max(progress.attempts, tries)
                watch.last = []
                try:
                    self._drop_invalid_index(work, stmt)
                    with work.cursor() as cur:
                        cur.execute(stmt.text)
                    break
                except RETRYABLE:
                    if tries > self.params["lock_retries"]:
                        raise
                    self._backoff(tries)
                finally:
                    progress.collect(work)
            self.ledger.journal(progress.row_id, stmt.number)
        progress.number = 0
        self.ledger.mark_applied(progress.row_id, len(statements))

    def _backoff(self, attempt: int) -> None:
        """Exponential backoff with jitter, so retries of several runners do not line up."""
        base = float(self.params["lock_retry_delay"])
        delay = min(30.0, base * (2 ** (attempt - 1)))
        time.sleep(delay * random.uniform(0.5, 1.5))

    @staticmethod
    def _drop_invalid_index(work: Any, stmt: Any) -> None:
        """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind; drop it before the retry."""
        name = stmt.concurrent_index_name
        if not name:
            return
        with work.cursor() as cur:
            cur.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,))
            row = cur.fetchone()
            if row and row[0]:
                cur.execute(pgsql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(pgsql.SQL(name)))

    def _resume_point(self, migration: MigrationFile) -> int:
        """Where a statement-by-statement file continues: after the last statement journaled."""
        rows = [r for r in self.ledger.rows() if r["version"] == migration.version]
        if not rows or rows[-1]["status"] != "failed" or not rows[-1]["last_statement"]:
            return 1
        last = rows[-1]
        if last["checksum"] != migration.checksum:
            raise MigrationError(
                "%s was partly applied (statements 1-%d committed, ledger row %s) from a file with sha256 %s, but "
                "the file now has sha256 %s. Restore the file that was partly applied so the run can finish it, "
                "or undo those statements by hand and mark row %s rolled_back."
                % (migration.filename, last["last_statement"], last["id"], last["checksum"], migration.checksum,
                   last["id"]))
        return int(last["last_statement"]) + 1

    def _wait_for_lingering_sessions(self, migration: MigrationFile) -> None:
        """Before DDL: sessions with a transaction open too long would make it queue, and the app behind it."""
        policy = self.params["blocking_sessions"]
        if policy == "ignore":
            return
        deadline = time.monotonic() + self.params["blocking_sessions_timeout"]
        while True:
            found = lingering_sessions(self.control, self.params["long_transaction_seconds"])
            if not found:
                return
            if policy == "fail" or time.monotonic() >= deadline:
                waited = "" if policy == "fail" else " (waited %ss for them to finish)" % \
                    self.params["blocking_sessions_timeout"]
                message = (
                    "Before %s: %d session(s) have held a transaction open for more than %ss%s; its DDL would "
                    "queue behind them and stall the application behind it: %s. Let them finish, end them with "
                    "SELECT pg_terminate_backend(<pid>), or set blocking_sessions=ignore. Nothing of %s was run."
                    % (migration.filename, len(found), self.params["long_transaction_seconds"], waited,
                       "; ".join(describe_session(s) for s in found), migration.filename))
                raise MigrationFailed(message, {"file": migration.filename, "version": migration.version,
                                                "blocking_sessions": found,
                                                "applied_before_failure": self.result.applied})
            time.sleep(1)

    def _failure(self, migration: MigrationFile, statements: list[Any], progress: "_Progress", exc: Exception,
                 work: Any, blocked: str | None) -> MigrationFailed:
        diag = getattr(exc, "diag", None)
        sqlstate = getattr(exc, "pgcode", None)
        primary = getattr(diag, "message_primary", None) or _first_line(exc)
        hint = getattr(diag, "message_hint", None)
        detail = getattr(diag, "message_detail", None)
        context = getattr(diag, "context", None)
        number = progress.number
        where = "its start"
        line = None
        if number:
            stmt = statements[number - 1]
            line = stmt.line
            position = getattr(diag, "statement_position", None)
            if position and str(position).isdigit():
                line = stmt.line + stmt.text.count("\n", 0, int(position) - 1)
            where = "statement %d of %d (line %d)" % (number, len(statements), line)
        elif progress.row_id is not None:
            where = "commit"
        lost = work.closed or isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)) \
            and not isinstance(exc, RETRYABLE)
        try:
            if not work.closed:
                work.rollback()
        except psycopg2.Error:
            lost = True
        if blocked:
            primary = "%s after %d attempt(s): %s" % (primary, progress.attempts, blocked)
        ledger_note = self._record_failure(migration, progress.row_id, lost, "%s: %s" % (sqlstate or "connection",
                                                                                         primary))
        message = "Migration %s failed at %s: %s%s." % (
            migration.filename, where, "SQLSTATE %s " % sqlstate if sqlstate else "", primary)
        if detail:
            message += " DETAIL: %s." % detail
        if hint:
            message += " HINT: %s." % hint
        if context and number:
            message += " CONTEXT: %s." % " / ".join(context.strip().splitlines())
        message += " %s" % ledger_note
        details = {"file": migration.filename, "version": migration.version, "statement": number or None,
                   "line": line, "sqlstate": sqlstate, "error": primary, "hint": hint, "detail": detail,
                   "attempts": progress.attempts, "blocked_by": blocked, "ledger": ledger_note,
                   "applied_before_failure": self.result.applied}
        return MigrationFailed(message, details)

    def _record_failure(self, migration: MigrationFile, row_id: int | None, lost: bool, error: str) -> str:
        """Tell the ledger the truth and return a sentence saying what it now holds."""
        if row_id is None:
            return "Nothing of this file ran and the ledger has no row for it."
        if migration.transactional:
            outcome = "Its transaction was rolled back: nothing of this file is applied."
        else:
            outcome = ("This file runs statement by statement (migrate:transaction off): the statements before "
                       "the failing one are committed and journaled in the ledger; a rerun continues at the "
                       "failing statement.")
        try:
            status = self.ledger.status_of(row_id)
            if status == "applied":
                return ("The connection dropped after the commit reached the server: the migration IS applied "
                        "and the ledger says so (row %d). Rerun to continue with the next file." % row_id)
            self.ledger.mark_failed(row_id, error)
            return ("%s The ledger records the attempt as failed (row %d); earlier migrations stay applied. "
                    "Fix the cause and rerun." % (outcome, row_id))
        except psycopg2.Error:
            pass
        try:
            control = self.target.connect(autocommit=True, purpose="pg_migrate recovery")
        except ConnectionFailure:
            return ("The server is unreachable (%s), so ledger row %d still says 'running'. %s The ledger is "
                    "committed together with the work, so it tells the truth once the server is back: rerun, and "
                    "the next run marks the attempt failed and continues."
                    % (self.target.describe(), row_id, outcome))
        try:
            Ledger(control, self.ledger.schema, self.ledger.table).mark_failed(row_id, error)
        finally:
            control.close()
        return ("The connection was lost. %s The ledger records the attempt as failed (row %d). Rerun when the "
                "server is healthy." % (outcome, row_id))


class _Progress:
    """Where a file's application has got to: its ledger row, the statement running, attempts, notices."""

    MAX_NOTICES = 200

    def __init__(self) -> None:
        self.row_id: int | None = None
        self.number = 0
        self.attempts = 0
        self.notices: list[str] = []

    def collect(self, work: Any) -> None:
        """Move the server's notices (progress of batched statements) off the connection, which keeps only 50."""
        self.notices.extend(n.strip() for n in work.notices)
        del work.notices[:]
        del self.notices[:-self.MAX_NOTICES]


def run_migrations(params: dict[str, Any], files: list[MigrationFile], check_mode: bool,
                   run_info: dict[str, Any], run_command: Any = None) -> RunResult:
    """Plan and (unless check_mode) apply; raises MigrationError, LedgerError,
    LockTimeout, ConnectionFailure or MigrationFailed. ``run_command(argv)``
    runs the linter (AnsibleModule.run_command)."""
    return Runner(params, files, check_mode, run_info, run_command).execute()


__all__ = ["run_migrations", "MigrationError", "LedgerError", "LockTimeout", "ConnectionFailure",
           "MigrationFailed", "RunResult"]
