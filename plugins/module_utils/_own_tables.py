# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tables this collection keeps beside the application's: the ledger, its recovery points and its reports.

A database holding only these is still an empty database to pg_migrate (a recovery point taken before the first
migration must not make it look used), and the report leaves them out of the application's tables.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._recovery_points import recovery_point_table
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_store import report_table
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql


def own_tables(schema: str, ledger_table: str, reports: bool = True) -> list[tuple[str, str]]:
    """(schema, table) of the ledger, its recovery-point table and (``reports``) its report table. A name too long
    for PostgreSQL is left out: no such table can exist."""
    names = [(schema, ledger_table)]
    for beside in (recovery_point_table, report_table) if reports else (recovery_point_table,):
        try:
            names.append((schema, beside(ledger_table)))
        except Failure:
            pass
    return names


def other_table_count(conn: Any, schema: str, ledger_table: str) -> int:
    """Tables in the database other than this collection's own (system schemas excluded)."""
    own = [pgsql.Identifier(*name).as_string(conn) for name in own_tables(schema, ledger_table)]
    with conn.cursor() as cur:
        cur.execute(
            """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
                  AND c.oid <> ALL (SELECT to_regclass(t) FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL)""",
            (own,))
        return int(cur.fetchone()[0])


__all__ = ["other_table_count", "own_tables"]
