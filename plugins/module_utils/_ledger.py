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

import time
import uuid
import zlib
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql

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


# -- recovery points ----------------------------------------------------------------------
#
# Beside the ledger, one row per verified backup taken for a migration run: which run, why
# (before / after_schema / after_data / rollback ...), which backup and where it is, its checksum, and
# the ledger's last applied version inside it. pg_backup writes a row only after the backup is
# verified; retention that deletes a backup stamps removed_at instead of deleting the row.

RECOVERY_POINT_SUFFIX = "_recovery_point"
RECOVERY_POINT_KINDS = ("dump", "clone")
MAX_IDENTIFIER = 63

RECOVERY_POINT_COLUMNS = (
    "id", "run_id", "purpose", "label", "backup_id", "kind", "format", "scope", "location", "manifest",
    "sha256", "size_bytes", "ledger_version", "created_at", "recorded_at", "created_by", "created_on",
    "removed_at",
)

_CREATE_RECOVERY_POINT = """
CREATE TABLE IF NOT EXISTS {table} (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         uuid NOT NULL,
    purpose        text,
    label          text NOT NULL,
    backup_id      text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('dump', 'clone')),
    format         text NOT NULL,
    scope          text NOT NULL,
    location       text NOT NULL,
    manifest       text,
    sha256         text CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
    size_bytes     bigint,
    ledger_version text,
    created_at     timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by     text NOT NULL,
    created_on     text NOT NULL,
    removed_at     timestamptz,
    UNIQUE (backup_id, kind, location)
)
"""


def recovery_point_table(ledger_table: str) -> str:
    """Name of the recovery-point table that sits beside ``ledger_table``; it must fit PostgreSQL's 63 bytes."""
    name = ledger_table + RECOVERY_POINT_SUFFIX
    if len(name.encode("utf-8")) > MAX_IDENTIFIER:
        raise LedgerError("The recovery-point table %s would be longer than PostgreSQL's %d bytes (it would be "
                          "truncated); choose a shorter ledger_table." % (name, MAX_IDENTIFIER))
    return name


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def recovery_point_row(backup: dict[str, Any], run_id: str, purpose: str | None) -> dict[str, Any]:
    """The recovery-point row for a verified backup, from pg_backup's result (a dump or a clone)."""
    manifest = backup.get("manifest_data") or {}
    if manifest.get("verified") is not True:
        raise LedgerError("Backup %s is not verified; only a verified backup becomes a recovery point."
                          % backup.get("backup_id"))
    if not is_uuid(run_id):
        raise LedgerError("run_id=%r is not a UUID; recovery points are recorded against the ledger's run_id, "
                          "which is one." % run_id)
    kind = manifest.get("kind")
    if kind not in RECOVERY_POINT_KINDS:
        raise LedgerError("Backup %s has an unknown kind %r." % (backup.get("backup_id"), kind))
    executed = manifest.get("executed") or {}
    location = (manifest.get("clone") or {}).get("database") if kind == "clone" else backup.get("path")
    return {
        "run_id": str(uuid.UUID(str(run_id))),
        "purpose": purpose,
        "label": manifest["label"],
        "backup_id": manifest["backup_id"],
        "kind": kind,
        "format": manifest["format"],
        "scope": manifest.get("scope") or "full",
        "location": location,
        "manifest": backup.get("manifest"),
        "sha256": (manifest.get("archive") or {}).get("sha256"),
        "size_bytes": backup.get("size_bytes"),
        "ledger_version": (manifest.get("ledger") or {}).get("last_applied_version"),
        "created_at": manifest["created_at"],
        "created_by": executed.get("user") or "unknown",
        "created_on": executed.get("host") or "unknown",
    }


class RecoveryPoints(Table):
    """The recovery-point table beside the ledger, through an autocommit connection."""

    def __init__(self, conn: Any, schema: str, ledger_table: str) -> None:
        super().__init__(conn, schema, recovery_point_table(ledger_table))

    def exists(self) -> bool:
        return bool(self._query("SELECT to_regclass(%s) IS NOT NULL", (self.ident.as_string(self.conn),))[0][0])

    def create_sql(self) -> list[Any]:
        return [
            pgsql.SQL(_CREATE_RECOVERY_POINT).format(table=self.ident),
            pgsql.SQL("CREATE INDEX IF NOT EXISTS {index} ON {table} (run_id)").format(
                index=pgsql.Identifier(self.table + "_run_id"), table=self.ident),
            pgsql.SQL("COMMENT ON TABLE {table} IS %s").format(table=self.ident),
        ]

    def ensure(self) -> None:
        """Create the table unless it exists. Two first writers are serialised by a transaction-level
        advisory lock (CREATE TABLE IF NOT EXISTS alone can still collide on the catalog)."""
        if self.exists():
            return
        statements = self.create_sql()
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, self.lock_key))
                cur.execute(statements[0])
                cur.execute(statements[1])
                cur.execute(statements[2], ("Recovery points of knowledgehub.migration: one row per verified "
                                            "backup taken for a migration run.",))
            except Exception:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        """Insert ``row`` (see recovery_point_row), creating the table first if needed; return it with its id."""
        self.ensure()
        keys = [k for k in RECOVERY_POINT_COLUMNS if k in row]
        query = pgsql.SQL("INSERT INTO {table} ({cols}) VALUES ({vals}) RETURNING id, recorded_at").format(
            table=self.ident, cols=pgsql.SQL(", ").join(pgsql.Identifier(k) for k in keys),
            vals=pgsql.SQL(", ").join([pgsql.Placeholder()] * len(keys)))
        rid, recorded_at = self._query(query, [row[k] for k in keys])[0]
        return dict(row, id=int(rid), recorded_at=recorded_at.isoformat(), removed_at=None)

    def mark_removed(self, backup_ids: list[str], kind: str, label: str) -> list[int]:
        """Stamp removed_at on the rows of backups that retention deleted; return their ids."""
        if not backup_ids or not self.exists():
            return []
        rows = self._query(pgsql.SQL(
            "UPDATE {table} SET removed_at = clock_timestamp() WHERE backup_id = ANY(%s) AND kind = %s "
            "AND label = %s AND removed_at IS NULL RETURNING id").format(table=self.ident),
            (list(backup_ids), kind, label))
        return sorted(int(r[0]) for r in rows)

    def rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        cols = pgsql.SQL(", ").join(
            pgsql.SQL("run_id::text") if k == "run_id" else pgsql.Identifier(k) for k in RECOVERY_POINT_COLUMNS)
        where = pgsql.SQL("WHERE run_id = %s") if run_id else pgsql.SQL("")
        query = pgsql.SQL("SELECT {cols} FROM {table} {where} ORDER BY id").format(
            cols=cols, table=self.ident, where=where)
        return [dict(zip(RECOVERY_POINT_COLUMNS, r)) for r in self._query(query, (run_id,) if run_id else None)]
