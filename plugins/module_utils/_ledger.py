# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration ledger (``migration_log``) and the run lock.

One row per attempt. A transactional migration flips its own row from
``running`` to ``applied`` inside the migration's transaction, so the ledger
and the schema commit together or not at all. A row left ``running`` by a dead
runner is marked ``failed`` (interrupted) by the next run, which holds the lock.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from typing import Any, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql, psycopg2

STATUSES = ("running", "applied", "baseline", "failed", "rolled_back")

# Columns the runner needs; an existing table missing any of them is not our ledger.
COLUMNS = (
    "id", "run_id", "version", "name", "checksum", "status", "started_at", "completed_at",
    "duration_ms", "executed_by", "executed_from", "job_id", "backup_ref", "backend_pid",
    "last_statement", "error", "rolled_back_at",
)

_CREATE = """
CREATE TABLE {table} (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         uuid NOT NULL,
    version        text NOT NULL,
    name           text NOT NULL,
    checksum       text NOT NULL CHECK (checksum ~ '^[0-9a-f]{{64}}$'),
    status         text NOT NULL CHECK (status IN ('running', 'applied', 'baseline', 'failed', 'rolled_back')),
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at   timestamptz,
    duration_ms    bigint,
    executed_by    text NOT NULL,
    executed_from  text NOT NULL,
    job_id         text,
    backup_ref     text,
    backend_pid    integer,
    last_statement integer,
    error          text,
    rolled_back_at timestamptz
)
"""

# Namespace of this tool's advisory locks ("KHMG"); the second key is derived from the ledger name.
LOCK_NAMESPACE = 0x4B484D47


class LedgerError(Failure):
    """The ledger cannot be used as it is."""


class LockTimeout(Failure):
    """Another run holds the migration lock."""


class Table:
    """One of this tool's tables, through an autocommit connection; its advisory lock key derives from its name."""

    def __init__(self, conn: Any, schema: str, table: str) -> None:
        self.conn = conn
        self.schema = schema
        self.table = table
        self.ident = pgsql.Identifier(schema, table)
        self.lock_key = zlib.crc32(("%s.%s" % (schema, table)).encode("utf-8")) & 0x7FFFFFFF

    @property
    def qualified_name(self) -> str:
        return "%s.%s" % (self.schema, self.table)

    def _query(self, query: Any, args: Any = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []


class Ledger(Table):
    """Ledger rows and the run lock, through one autocommit (control) connection."""

    # -- lock ---------------------------------------------------------------

    def acquire_lock(self, wait_seconds: float, poll: float = 0.5) -> None:
        """Take the session-level run lock, waiting up to ``wait_seconds``.

        A waiting run polls with pg_try_advisory_lock instead of blocking in
        pg_advisory_lock: a blocked call is an open transaction, and the
        running migration's CREATE INDEX CONCURRENTLY would wait for it.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            if self._query("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.lock_key))[0][0]:
                return
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    "Another migration run holds the lock on %s (waited %ss): %s. Wait for it to finish; "
                    "if that process is dead, its session ends by itself once PostgreSQL notices."
                    % (self.qualified_name, int(wait_seconds) if float(wait_seconds).is_integer() else wait_seconds,
                       "; ".join(self.lock_holders()) or "holder already gone"))
            time.sleep(poll)

    def lock_holders(self) -> list[str]:
        rows = self._query(
            """SELECT a.pid, a.application_name, a.usename, coalesce(host(a.client_addr), 'local socket'),
                      to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid AND l.objid = %s::oid
                  AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            (LOCK_NAMESPACE, self.lock_key))
        return ["pid %s (application %r, user %s, from %s, connected since %s)" % row for row in rows]

    def release_lock(self) -> None:
        self._query("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self.lock_key))

    @contextlib.contextmanager
    def run_lock(self, wait_seconds: float) -> Iterator[None]:
        """The run lock held for the ``with`` block (``acquire_lock``), released after it, even after a failure;
        a connection that is gone or broken has released it already (the lock is session-level)."""
        self.acquire_lock(wait_seconds)
        try:
            yield
        finally:
            if not self.conn.closed:
                try:
                    self.release_lock()
                except psycopg2.Error:
                    pass

    # -- table --------------------------------------------------------------

    def exists(self) -> bool:
        rows = self._query("SELECT to_regclass(%s) IS NOT NULL", (self.ident.as_string(self.conn),))
        return bool(rows[0][0])

    def check_shape(self) -> None:
        rows = self._query(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (self.ident.as_string(self.conn),))
        missing = sorted(set(COLUMNS) - {r[0] for r in rows})
        if missing:
            raise LedgerError(
                "Table %s exists but is not this tool's migration ledger (it lacks columns: %s). Rename "
                "that table, or set ledger_table to another name. Nothing was changed."
                % (self.qualified_name, ", ".join(missing)))

    def create_sql(self) -> list[Any]:
        index = pgsql.Identifier(self.table + "_one_present_per_version")
        return [
            pgsql.SQL(_CREATE).format(table=self.ident),
            pgsql.SQL("CREATE UNIQUE INDEX {index} ON {table} (version) WHERE status IN ('applied', 'baseline')")
            .format(index=index, table=self.ident),
            pgsql.SQL("COMMENT ON TABLE {table} IS %s").format(table=self.ident),
        ]

    def create(self) -> None:
        """Create the ledger table in one transaction."""
        statements = self.create_sql()
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.execute(statements[0])
                cur.execute(statements[1])
                cur.execute(statements[2], ("Migration ledger of knowledgehub.migration: one row per attempt.",))
            except Exception:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def rows(self) -> list[dict[str, Any]]:
        query = pgsql.SQL(
            "SELECT id, run_id::text, version, name, checksum, status, started_at, completed_at, duration_ms, "
            "executed_by, executed_from, job_id, backup_ref, backend_pid, last_statement, error, rolled_back_at "
            "FROM {table} ORDER BY id").format(table=self.ident)
        keys = ("id", "run_id", "version", "name", "checksum", "status", "started_at", "completed_at",
                "duration_ms", "executed_by", "executed_from", "job_id", "backup_ref", "backend_pid",
                "last_statement", "error", "rolled_back_at")
        return [dict(zip(keys, row)) for row in self._query(query)]

    # -- rows ---------------------------------------------------------------

    def insert(self, run: dict[str, Any], migration: Any, status: str, backend_pid: int | None = None,
               last_statement: int | None = None) -> int:
        completed = pgsql.SQL("clock_timestamp()") if status == "baseline" else pgsql.SQL("NULL")
        query = pgsql.SQL(
            "INSERT INTO {table} (run_id, version, name, checksum, status, completed_at, executed_by, "
            "executed_from, job_id, backup_ref, backend_pid, last_statement) "
            "VALUES (%s, %s, %s, %s, %s, {completed}, %s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(table=self.ident, completed=completed)
        rows = self._query(query, (run["run_id"], migration.version, migration.name, migration.checksum, status,
                                   run["executed_by"], run["executed_from"], run.get("job_id"),
                                   run.get("backup_ref"), backend_pid, last_statement))
        return int(rows[0][0])

    def record_baseline(self, run: dict[str, Any], migrations: list[Any]) -> None:
        """The baseline rows, all or none (one transaction): a baseline cut short would give the ledger a history
        that misses versions the database holds, and the next run would try to apply them."""
        versions = ", ".join(m.version for m in migrations)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                for migration in migrations:
                    self.insert(run, migration, "baseline")
            except psycopg2.Error as exc:
                if not self.conn.closed:
                    cur.execute("ROLLBACK")
                raise LedgerError("Recording the baseline (%s) in %s failed: %s. Nothing was recorded (the baseline "
                                  "is one transaction) and no migration ran. Fix the cause and rerun."
                                  % (versions, self.qualified_name, first_line(exc))) from None
            except BaseException:
                if not self.conn.closed:
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def journal(self, row_id: int, statement: int) -> None:
        """Record that statement ``statement`` of a statement-by-statement file has committed."""
        self._query(pgsql.SQL("UPDATE {table} SET last_statement = %s WHERE id = %s").format(table=self.ident),
                    (statement, row_id))

    def mark_applied(self, row_id: int, statements: int) -> None:
        """Mark a statement-by-statement file applied (transactional files do it in their own transaction)."""
        self._query(self.mark_applied_sql(), (statements, row_id))

    def mark_applied_sql(self) -> Any:
        """The UPDATE a migration's own transaction runs as its last statement."""
        return pgsql.SQL(
            "UPDATE {table} SET status = 'applied', completed_at = clock_timestamp(), "
            "duration_ms = (extract(epoch FROM clock_timestamp() - started_at) * 1000)::bigint, "
            "last_statement = %s WHERE id = %s AND status = 'running'").format(table=self.ident)

    def mark_failed(self, row_id: int, error: str) -> None:
        """Mark an attempt failed; its journal (last_statement) is kept, so a rerun can resume after it."""
        self._query(pgsql.SQL(
            "UPDATE {table} SET status = 'failed', completed_at = clock_timestamp(), "
            "duration_ms = (extract(epoch FROM clock_timestamp() - started_at) * 1000)::bigint, "
            "error = %s WHERE id = %s").format(table=self.ident),
            (error, row_id))

    def status_of(self, row_id: int) -> str | None:
        rows = self._query(pgsql.SQL("SELECT status FROM {table} WHERE id = %s").format(table=self.ident), (row_id,))
        return rows[0][0] if rows else None

    def reconcile_interrupted(self, wait_seconds: float) -> list[dict[str, Any]]:
        """Mark rows a dead runner left ``running`` as failed; return them.

        Called with the run lock held, so no live run owns such a row. If the
        dead runner's session is still finishing its statement, wait for
        PostgreSQL to end it (its transaction can only roll back).
        """
        stale = [r for r in self.rows() if r["status"] == "running"]
        for row in stale:
            deadline = time.monotonic() + wait_seconds
            while row["backend_pid"] and self._backend_alive(row["backend_pid"]):
                if time.monotonic() > deadline:
                    raise LedgerError(
                        "Ledger row %s (%s_%s) is from an earlier run whose session (pid %s) is still open. "
                        "Its transaction cannot commit without its runner; wait for it to end or stop it with "
                        "SELECT pg_terminate_backend(%s), then rerun."
                        % (row["id"], row["version"], row["name"], row["backend_pid"], row["backend_pid"]))
                time.sleep(0.5)
            if row["last_statement"]:
                note = ("interrupted: the runner stopped after statement %s committed; a rerun continues "
                        "with the next one" % row["last_statement"])
            else:
                note = ("interrupted: the runner stopped before this migration committed; PostgreSQL rolled "
                        "its transaction back, nothing of it was applied")
            self.mark_failed(row["id"], note)
        return stale

    def _backend_alive(self, pid: int) -> bool:
        rows = self._query(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND application_name LIKE 'knowledgehub.migration%%'",
            (pid,))
        return bool(rows[0][0])
