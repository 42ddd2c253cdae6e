# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore the rows of chosen tables into their existing tables (pg_restore mode=tables).

Order, after the checks every restore makes (``_restore.Restore``): the tables
asked for must exist in the live database and have rows in the backup -> with
``truncate``, no table left out may reference them -> load order: referenced
tables first, with their owned sequences (this is the plan; check mode ends here)
-> pg_restore writes the chosen entries' SQL to a private file -> psql runs the
truncation, that SQL and the row count check in ONE transaction, so the tables end
up restored and checked, or unchanged -> ANALYZE.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import toc_has
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import BackupError
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import (
    TableInfo,
    count_rows,
    resolve_tables,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import run_checked
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgargs import psql_argv, script_argv
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore import Restore, data_tables
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql


def table_ident(table: tuple[str, str]) -> Any:
    return pgsql.Identifier(table[0], table[1])


class TablesRestore(Restore):
    """mode=tables: the rows of chosen tables, in one transaction, checked before the commit."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        super().__init__(params, check_mode)
        self.tables_cur: Any = None  # on the live database
        self.ordered: list[tuple[str, str]] = []
        self.selected: list[Any] = []
        self.truncate = bool(params.get("truncate", True))

    def plan_mode(self, entries: list[Any]) -> dict[str, Any]:
        available = data_tables(self.manifest)
        wanted = self.p.get("tables") or ["%s.%s" % t for t in available]
        cur = self.tables_cur = self.connect(self.live, "pg_restore tables").cursor()
        targets = resolve_tables(cur, wanted, "restore", "Nothing was changed.")
        absent = ["%s.%s" % t.key for t in targets if t.key not in available]
        if absent:
            raise BackupError("Cannot restore %s: backup %s holds no rows of them (it has: %s). Nothing was changed."
                              % (", ".join(absent), self.manifest["backup_id"],
                                 ", ".join("%s.%s" % t for t in available)))
        if self.truncate:
            self._check_referencing(cur, targets)
        self.ordered = ordered = self._fk_order(cur, targets)
        sequences = self._owned_sequences(cur, targets)
        self.selected = [toc_has(entries, "TABLE DATA", schema, name) for schema, name in ordered]
        for schema, name in sequences:
            entry = toc_has(entries, "SEQUENCE SET", schema, name)
            if entry is not None:
                self.selected.append(entry)
        self.result.update(tables=["%s.%s" % t for t in ordered], sequences=["%s.%s" % s for s in sequences],
                           truncate=self.truncate, restored_database=self.live)
        return dict(self.result, changed=True, would_restore=dict(
            into=self.live, tables=self.result["tables"], truncate_first=self.truncate, single_transaction=True,
            rows_expected={k: v for k, v in self.manifest["row_counts"].items() if k in self.result["tables"]}))

    def apply_mode(self) -> None:
        cur, ordered = self.tables_cur, self.ordered
        self._load_tables(cur)
        if self.truncate:
            self.verify_counts(cur, self.live, ordered)
        else:  # the rows were added to those there: nothing to compare with the manifest
            self.result.update(row_counts=count_rows(cur, ordered), row_counts_checked=False)
        if self.p.get("analyze", True):
            cur.execute(pgsql.SQL("ANALYZE {}").format(pgsql.SQL(", ").join(table_ident(t) for t in ordered)))

    @staticmethod
    def _fk_order(cur: Any, tables: list[TableInfo]) -> list[tuple[str, str]]:
        """Referenced tables before the tables that reference them (among the chosen ones)."""
        oids = [t.oid for t in tables]
        cur.execute("SELECT conrelid::bigint, confrelid::bigint FROM pg_constraint WHERE contype = 'f' "
                    "AND conrelid = ANY(%s::oid[]) AND confrelid = ANY(%s::oid[]) AND conrelid <> confrelid",
                    (oids, oids))
        parents: dict[int, set[int]] = {oid: set() for oid in oids}
        for child, parent in cur.fetchall():
            parents[int(child)].add(int(parent))
        by_oid = {t.oid: t for t in tables}
        order: list[int] = []
        remaining = list(oids)
        while remaining:
            ready = [o for o in remaining if parents[o] <= set(order)] or remaining[:1]  # a cycle: keep the given order
            for oid in ready:
                order.append(oid)
                remaining.remove(oid)
        return [by_oid[o].key for o in order]

    @staticmethod
    def _check_referencing(cur: Any, tables: list[TableInfo]) -> None:
        """Truncation must not break foreign keys of tables left out: refuse, naming them, before anything runs."""
        oids = [t.oid for t in tables]
        cur.execute("SELECT DISTINCT rn.nspname || '.' || r.relname, fn.nspname || '.' || f.relname "
                    "FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
                    "JOIN pg_namespace rn ON rn.oid = r.relnamespace JOIN pg_class f ON f.oid = c.confrelid "
                    "JOIN pg_namespace fn ON fn.oid = f.relnamespace WHERE c.contype = 'f' "
                    "AND c.confrelid = ANY(%s::oid[]) AND NOT c.conrelid = ANY(%s::oid[]) ORDER BY 1, 2", (oids, oids))
        rows = cur.fetchall()
        if rows:
            raise BackupError(
                "Cannot truncate the tables to restore: %s. Add the referencing tables to tables (they are restored "
                "from the same backup), or set truncate=false to add the rows to those already there. Nothing was "
                "changed." % "; ".join("%s references %s" % (r[0], r[1]) for r in rows),
                {"referencing_tables": sorted({r[0] for r in rows})})

    @staticmethod
    def _owned_sequences(cur: Any, tables: list[TableInfo]) -> list[tuple[str, str]]:
        cur.execute("SELECT n.nspname, s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
                    "JOIN pg_namespace n ON n.oid = s.relnamespace WHERE d.classid = 'pg_class'::regclass "
                    "AND d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY(%s::oid[]) AND s.relkind = 'S' "
                    "AND d.deptype IN ('a', 'i') ORDER BY 1, 2", ([t.oid for t in tables],))
        return [(r[0], r[1]) for r in cur.fetchall()]

    def _load_tables(self, cur: Any) -> None:
        """pg_restore writes the chosen entries' SQL to a private file; psql runs truncation, that SQL and the
        row count check in ONE transaction, so the tables end up restored and checked, or unchanged."""
        ordered, names = self.ordered, ", ".join("%s.%s" % t for t in self.ordered)
        work = tempfile.mkdtemp(prefix=".restore-", dir=os.path.dirname(self.manifest_file))
        try:
            list_file = os.path.join(work, "entries.list")
            with open(list_file, "w", encoding="utf-8") as handle:
                handle.write("".join(entry.line + "\n" for entry in self.selected))
            data_file = os.path.join(work, "data.sql")
            run_checked(self.client, script_argv(self.client, self.path, list_file, data_file), self.env,
                        "pg_restore extracting %s" % names, self.target.password)
            before = os.path.join(work, "before.sql")
            after = os.path.join(work, "after.sql")
            with open(before, "w", encoding="utf-8") as handle:
                if self.truncate:
                    handle.write(pgsql.SQL("TRUNCATE TABLE ONLY {};\n").format(
                        pgsql.SQL(", ").join(table_ident(t) for t in ordered)).as_string(cur))
            with open(after, "w", encoding="utf-8") as handle:
                handle.write(self._count_check_sql(cur, ordered) if self.truncate else "")
            argv = psql_argv(self.client, self.dsn(self.live), [before, data_file, after])
            self.result["cmd"] = self.client.executor.describe(argv)
            try:
                self.restore_with(argv, "Restoring the tables %s into %s" % (names, self.live))
            except ProcessError as exc:
                raise BackupError("%s It ran in one transaction: the tables are unchanged." % exc.message,
                                  exc.details) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _count_check_sql(self, cur: Any, tables: list[tuple[str, str]]) -> str:
        lines = ["DO $kh_check$", "DECLARE n bigint;", "BEGIN"]
        for schema, name in tables:
            expected = self.manifest["row_counts"]["%s.%s" % (schema, name)]
            label = "%s.%s" % (schema, name)
            lines.append(pgsql.SQL("  SELECT count(*) INTO n FROM ONLY {t};").format(t=table_ident((schema, name)))
                         .as_string(cur))
            lines.append("  IF n <> %d THEN RAISE EXCEPTION 'row count of %%: %% rows, the backup has %%', %s, n, %d; "
                         "END IF;" % (expected, pgsql.Literal(label).as_string(cur), expected))
        lines += ["END", "$kh_check$;", ""]
        return "\n".join(lines)
