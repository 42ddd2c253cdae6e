# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One migration file applied: its session, its transaction(s), retries, the ledger row, the failure report.

Order for one file: wait for sessions that would make its DDL queue -> open its
session (lock_timeout, statement_timeout, idle-in-transaction timeout) -> insert
its ledger row 'running' (committed first, with the session's pid) -> run it:

* transactional (the default): every statement and the ledger row's flip to
  'applied' in one transaction; a lock timeout, deadlock or serialization
  failure rolls it back and retries the whole file, with backoff;
* ``-- migrate:transaction off``: statement by statement, each committed and
  journaled (``last_statement``), resuming after the last journaled statement of
  an interrupted attempt; a retry retries the statement.

A failure is reported with the statement, its line, PostgreSQL's message and
what the ledger now holds (``MigrationFailed``).
"""

from __future__ import annotations

import getpass
import random
import socket
import time
import uuid
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._activity import (
    BlockerWatch,
    describe_session,
    lingering_sessions,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import Ledger
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import MigrationError, MigrationFile
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import (
    check_duration,
    check_non_negative,
    check_run_id,
    seconds,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import statements_handler, watch_notices
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    ConnectionFailure,
    Target,
    pgsql,
    psycopg2,
)

DURATIONS = ("lock_timeout", "statement_timeout", "idle_in_transaction_timeout")
COUNTS = ("lock_retries", "lock_retry_delay", "blocking_sessions_timeout", "long_transaction_seconds")


def run_options(params: dict[str, Any]) -> dict[str, Any]:
    """The options a FileRun reads, checked before anything is done (OptionError names the first wrong one):
    pg_migrate's and pg_rollback's alike."""
    options = dict(params)
    for option in DURATIONS:
        options[option] = check_duration(option, params[option])
    check_non_negative(params, *COUNTS)
    options["lock_wait_timeout"] = seconds("lock_wait_timeout", params["lock_wait_timeout"])
    options["run_id"] = check_run_id(params.get("run_id"))
    return options


def run_record(params: dict[str, Any], run_id: str | None, **extra: Any) -> dict[str, Any]:
    """Who runs, from where, in which job and run (a new run id unless given): what the ledger rows record."""
    return dict(executed_by=params.get("executed_by") or getpass.getuser(), executed_from=socket.gethostname(),
                job_id=params.get("job_id"), run_id=run_id or str(uuid.uuid4()), **extra)


# Errors after which PostgreSQL has already rolled our work back and a retry may succeed:
# lock timeout, deadlock (we are the victim), serialization failure.
RETRYABLE = (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected,
             psycopg2.errors.SerializationFailure) if psycopg2 is not None else ()


class MigrationFailed(Failure):
    """A migration ran and failed, or the server went away during the run; ``details`` says where and what
    the ledger holds."""


class MonitorAborted(Failure):
    """The run's monitor stopped the migration (monitor_policy=abort) between two of its statements."""


class FileRun:
    """Applies migration files one by one, each on a session of its own, under the run lock held by the caller.

    ``options`` are pg_migrate's (checked); ``applied`` is the list of files this run applied so far (a failure
    reports it). pg_rollback runs its revert files through a subclass (``_revert.RevertRun``) that replaces the
    ledger bookkeeping: ``_session_name``, ``_open_row``, ``_finish`` and ``_record_failure``.
    """

    kind = "Migration"  # what a failure message calls the file
    monitor: Any = None  # the run's _monitor.Monitor, when pg_migrate watches the load

    def __init__(self, target: Target, ledger: Ledger, run: dict[str, Any], options: dict[str, Any],
                 applied: list[dict[str, Any]]) -> None:
        self.target = target
        self.ledger = ledger
        self.run = run
        self.options = options
        self.applied = applied

    def apply(self, migration: MigrationFile) -> dict[str, Any]:
        """Apply ``migration``; return what the result lists for it. MigrationFailed when it fails."""
        statements = migration.statements()
        if self.monitor is not None and self.monitor.abort_reason:
            raise MigrationFailed("%s: %s. Nothing of %s ran; the ledger has no row for it." % (
                migration.filename, self.monitor.abort_message(), migration.filename),
                {"file": migration.filename, "version": migration.version, "applied_before_failure": self.applied})
        self._wait_for_lingering_sessions(migration)
        first = 1 if migration.transactional else self._resume_point(migration)
        work = self.target.connect(self._session_name(migration), autocommit=not migration.transactional)
        started = time.monotonic()
        progress = Progress()
        watch = None
        try:
            with work.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                backend_pid = cur.fetchone()[0]
                for name, value in self._session_settings(migration, work).items():
                    cur.execute("SELECT set_config(%s, %s, false)", (name, value))
            # committed before the migration's transaction: a rollback between retries must not undo them
            work.commit()
            progress.row_id = self._open_row(migration, backend_pid, first)
            if self.monitor is not None:
                self.monitor.watch(backend_pid, migration.filename)
            live = statements_handler(migration.filename, len(statements), lambda: progress.number)
            with BlockerWatch(self.target, backend_pid) as watch, watch_notices(work, live):
                if migration.transactional:
                    self._run_in_transaction(work, statements, progress, watch)
                else:
                    self._run_statement_by_statement(work, statements, first, progress, watch)
        except (psycopg2.Error, MonitorAborted) as exc:
            blocked = watch.describe() if watch is not None and isinstance(exc, RETRYABLE) else None
            raise self._failure(migration, statements, progress, exc, work, blocked) from None
        finally:
            if self.monitor is not None:
                self.monitor.watch(None, None)
            progress.collect(work)
            work.close()
        return dict(migration.describe(), statements=len(statements), transactional=migration.transactional,
                    resumed_at=first if first > 1 else None, attempts=progress.attempts,
                    duration_ms=int((time.monotonic() - started) * 1000), notices=progress.notices)

    @staticmethod
    def _session_name(migration: MigrationFile) -> str:
        """The purpose in the session's application_name."""
        return "pg_migrate %s" % migration.version

    def _open_row(self, migration: MigrationFile, backend_pid: int, first: int) -> int | None:
        """The file's ledger row, inserted 'running' and committed before its work starts."""
        return self.ledger.insert(self.run, migration, "running", backend_pid=backend_pid,
                                  last_statement=first - 1 if first > 1 else None)

    def _finish(self, cur: Any, statements: list[Any], progress: "Progress") -> None:
        """The last statement of a transactional file's transaction: its ledger row turns 'applied'."""
        cur.execute(self.ledger.mark_applied_sql(), (len(statements), progress.row_id))

    def _session_settings(self, migration: MigrationFile, work: Any) -> dict[str, str]:
        directives = migration.directives
        settings = {
            "lock_timeout": directives.get("lock_timeout", self.options["lock_timeout"]),
            "statement_timeout": directives.get("statement_timeout", self.options["statement_timeout"]),
            # a runner that hangs mid-transaction must not hold its locks for long
            "idle_in_transaction_session_timeout": self.options["idle_in_transaction_timeout"],
        }
        if work.server_version >= 140000:
            # a backend whose runner died stops at the next check instead of finishing its statement
            settings["client_connection_check_interval"] = "1s"
        if self.monitor is not None:  # the throttle protocol of batched files (_monitor)
            settings.update(self.monitor.session_settings(migration.transactional))
        return settings

    def _run_in_transaction(self, work: Any, statements: list[Any], progress: "Progress", watch: Any) -> None:
        """The whole file and its ledger row in one transaction; on a lock timeout, roll back and retry."""
        while True:
            progress.attempts += 1
            watch.last = []
            try:
                with work.cursor() as cur:
                    for stmt in statements:
                        progress.number = stmt.number
                        self._check_monitor()
                        try:
                            cur.execute(stmt.text)
                        finally:
                            progress.collect(work)
                    progress.number = 0
                    self._finish(cur, statements, progress)
                work.commit()
                return
            except RETRYABLE:
                work.rollback()
                if progress.attempts > self.options["lock_retries"]:
                    raise
                self._backoff(progress.attempts)

    def _run_statement_by_statement(self, work: Any, statements: list[Any], first: int, progress: "Progress",
                                    watch: Any) -> None:
        """Each statement commits on its own and is journaled; a lock timeout retries the statement."""
        for stmt in statements[first - 1:]:
            progress.number = stmt.number
            tries = 0
            while True:
                tries += 1
                progress.attempts = max(progress.attempts, tries)
                watch.last = []
                self._check_monitor()
                try:
                    self._drop_invalid_index(work, stmt)
                    with work.cursor() as cur:
                        cur.execute(stmt.text)
                    break
                except RETRYABLE:
                    if tries > self.options["lock_retries"]:
                        raise
                    self._backoff(tries)
                finally:
                    progress.collect(work)
            self.ledger.journal(progress.row_id, stmt.number)
        progress.number = 0
        self.ledger.mark_applied(progress.row_id, len(statements))

    def _check_monitor(self) -> None:
        """Before each statement: a monitor that aborted the run stops it here (its cancel may have landed
        between two statements, where it cancels nothing)."""
        if self.monitor is not None and self.monitor.abort_reason:
            raise MonitorAborted(self.monitor.abort_reason)

    def _backoff(self, attempt: int) -> None:
        """Exponential backoff with jitter, so retries of several runners do not line up."""
        base = float(self.options["lock_retry_delay"])
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
        policy = self.options["blocking_sessions"]
        if policy == "ignore":
            return
        deadline = time.monotonic() + self.options["blocking_sessions_timeout"]
        while True:
            found = lingering_sessions(self.ledger.conn, self.options["long_transaction_seconds"])
            if not found:
                return
            if policy == "fail" or time.monotonic() >= deadline:
                waited = "" if policy == "fail" else " (waited %ss for them to finish)" % \
                    self.options["blocking_sessions_timeout"]
                message = (
                    "Before %s: %d session(s) have held a transaction open for more than %ss%s; its DDL would "
                    "queue behind them and stall the application behind it: %s. Let them finish, end them with "
                    "SELECT pg_terminate_backend(<pid>), or set blocking_sessions=ignore. Nothing of %s was run."
                    % (migration.filename, len(found), self.options["long_transaction_seconds"], waited,
                       "; ".join(describe_session(s) for s in found), migration.filename))
                raise MigrationFailed(message, {"file": migration.filename, "version": migration.version,
                                                "blocking_sessions": found,
                                                "applied_before_failure": self.applied})
            time.sleep(1)

    def _failure(self, migration: MigrationFile, statements: list[Any], progress: "Progress", exc: Exception,
                 work: Any, blocked: str | None) -> MigrationFailed:
        diag = getattr(exc, "diag", None)
        sqlstate = getattr(exc, "pgcode", None)
        primary = getattr(diag, "message_primary", None) or first_line(exc)
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
        elif progress.row_id is not None or progress.attempts:
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
        aborted = self.monitor is not None and self.monitor.abort_reason
        if aborted:  # the cancel came from the monitor: say so, not "canceling statement due to user request"
            primary, sqlstate, detail, hint, context, lost = self.monitor.abort_message(), None, None, None, None, False
        ledger_note = self._record_failure(migration, progress.row_id, lost, "%s: %s" % (
            "monitor" if aborted else sqlstate or "connection", primary))
        message = "%s %s failed at %s: %s%s." % (
            self.kind, migration.filename, where, "SQLSTATE %s " % sqlstate if sqlstate else "", primary)
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
                   "applied_before_failure": self.applied}
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
            control = self.target.connect("pg_migrate recovery", autocommit=True)
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


class Progress:
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
