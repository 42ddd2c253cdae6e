# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery points: the table beside the migration ledger that records the verified backups of a run.

One row per verified backup taken for a migration run: which run, why (before /
after_schema / after_data / rollback ...), which backup and where it is, its
checksum, and the ledger's last applied version inside it. pg_backup writes a
row only after the backup is verified; retention that deletes a backup stamps
removed_at instead of deleting the row.
"""

from __future__ import annotations

import uuid
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import (
    LOCK_NAMESPACE,
    LedgerError,
    Table,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import is_uuid
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql

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
