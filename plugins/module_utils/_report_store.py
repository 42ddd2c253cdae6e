# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log stored with the run: the table ``<ledger_table>_report`` beside the ledger, one row per run.

Named after the ledger as the recovery-point table is (``<ledger_table>_recovery_point``): a second ledger
(another ``ledger_table``) has its own reports, and the three tables of the tool sort together. One row per
``run_id`` (its primary key), replaced by the next report of the same run (upsert), so a report written after a
failure and again after the rerun under the same run id leaves one row, the latest.

The table is created only beside a ledger that has history: pg_migrate takes a database with tables and no ledger
history for a legacy one (it baselines it), so a report table alone must never make an empty database look used.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import LOCK_NAMESPACE, Table
from ansible_collections.knowledgehub.migration.plugins.module_utils._recovery_points import MAX_IDENTIFIER
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql

REPORT_SUFFIX = "_report"
REPORT_COLUMNS = ("run_id", "host", "environment", "verdict", "report", "markdown", "created_at", "updated_at",
                  "written_by")

_CREATE_REPORT = """
CREATE TABLE IF NOT EXISTS {table} (
    run_id      uuid PRIMARY KEY,
    host        text NOT NULL,
    environment text,
    verdict     text NOT NULL,
    report      jsonb NOT NULL,
    markdown    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    written_by  text NOT NULL
)
"""


class ReportError(Failure):
    """The report cannot be stored or written where it was asked."""


def report_table(ledger_table: str) -> str:
    """Name of the report table beside ``ledger_table``; it must fit PostgreSQL's 63 bytes."""
    name = ledger_table + REPORT_SUFFIX
    if len(name.encode("utf-8")) > MAX_IDENTIFIER:
        raise ReportError("The report table %s would be longer than PostgreSQL's %d bytes (it would be truncated); "
                          "choose a shorter ledger_table, or store: false." % (name, MAX_IDENTIFIER))
    return name


class Reports(Table):
    """The report table beside the ledger, through an autocommit connection."""

    def __init__(self, conn: Any, schema: str, ledger_table: str) -> None:
        super().__init__(conn, schema, report_table(ledger_table))

    def exists(self) -> bool:
        return bool(self._query("SELECT to_regclass(%s) IS NOT NULL", (self.ident.as_string(self.conn),))[0][0])

    def check_shape(self) -> None:
        """An existing table of that name must be this tool's (it is written to, never dropped or altered)."""
        rows = self._query("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                           "AND NOT attisdropped", (self.ident.as_string(self.conn),))
        missing = sorted(set(REPORT_COLUMNS) - {r[0] for r in rows})
        if rows and missing:
            raise ReportError("Table %s exists but is not this tool's report table (it lacks columns: %s). Rename "
                              "that table, or set store: false. Nothing was written."
                              % (self.qualified_name, ", ".join(missing)))

    def ensure(self) -> None:
        """Create the table unless it exists; two first writers are serialised by a transaction-level lock."""
        if self.exists():
            return
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, self.lock_key))
                cur.execute(pgsql.SQL(_CREATE_REPORT).format(table=self.ident))
                cur.execute(pgsql.SQL("COMMENT ON TABLE {table} IS %s").format(table=self.ident),
                            ("Migration Log of knowledgehub.migration: one report per migration run "
                             "(migration_report).",))
            except Exception:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def upsert(self, run_id: str, host: str, environment: str | None, verdict: str, report: dict[str, Any],
               markdown: str, written_by: str) -> dict[str, Any]:
        """Store the report of ``run_id`` (replacing an earlier one of the same run); returns the row's times."""
        self.ensure()
        query = pgsql.SQL(
            "INSERT INTO {table} (run_id, host, environment, verdict, report, markdown, written_by) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET host = EXCLUDED.host, environment = EXCLUDED.environment, "
            "verdict = EXCLUDED.verdict, report = EXCLUDED.report, markdown = EXCLUDED.markdown, "
            "written_by = EXCLUDED.written_by, updated_at = clock_timestamp() "
            "RETURNING created_at, updated_at, (xmax <> 0)").format(table=self.ident)
        created, updated, replaced = self._query(query, (run_id, host, environment, verdict,
                                                         json.dumps(report, default=str), markdown, written_by))[0]
        return {"table": self.qualified_name, "run_id": run_id, "created_at": created.isoformat(),
                "updated_at": updated.isoformat(), "replaced": bool(replaced)}
