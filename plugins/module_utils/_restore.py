# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore a verified backup: a whole database (swapped in, in a new database, or in place),
chosen tables only, or a clone recovery point swapped back.

Before anything is written, the archive must match its manifest (sha256 and
size) and its table of contents must hold every table entry the manifest says
it has. After the restore, the exact row counts must match the manifest's;
in ``swap`` mode the live database is replaced only after that.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup, _clone, _pgdump
from ansible_collections.knowledgehub.migration.plugins.module_utils._postgres import pgsql, psycopg2

BackupError = _backup.BackupError
MODES = ("swap", "new_database", "in_place", "tables")
DEFAULT_SETTINGS = {"maintenance_work_mem": "512MB", "synchronous_commit": "off"}


def table_ident(qualified: list[str] | tuple[str, str]) -> Any:
    return pgsql.Identifier(qualified[0], qualified[1])


def count_tables(cur: Any, tables: list[tuple[str, str]]) -> dict[str, Any]:
    """Exact row counts of ``tables``; a missing table counts as None."""
    counts: dict[str, Any] = {}
    for schema, name in tables:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table_ident((schema, name)).as_string(cur),))
        if not cur.fetchone()[0]:
            counts["%s.%s" % (schema, name)] = None
            continue
        cur.execute(pgsql.SQL("SELECT count(*) FROM ONLY {t}").format(t=table_ident((schema, name))))
        counts["%s.%s" % (schema, name)] = int(cur.fetchone()[0])
    return counts


def compare_counts(expected: dict[str, int], actual: dict[str, Any]) -> list[str]:
    return ["%s: %s rows, the backup has %s" % (k, "missing" if actual.get(k) is None else actual.get(k), v)
            for k, v in sorted(expected.items()) if actual.get(k) != v]


def data_tables(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(schema, name) of the tables whose rows the backup holds, from its verified entries."""
    entries = manifest.get("verification", {}).get("entries") or []
    tables = [(e[1], e[2]) for e in entries if e[0] == "TABLE DATA"]
    if not tables:  # clone manifests and older ones: from the row counts
        tables = [tuple(k.split(".", 1)) for k in manifest.get("row_counts", {})]  # type: ignore[misc]
    return tables


class RestoreRun:
    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.p = params
        self.check_mode = check_mode
        self.mode: str = params["mode"]
        self.live: str = params["login_db"]
        self.result: dict[str, Any] = {"changed": False, "mode": self.mode, "database": self.live, "warnings": []}
        self.manifest_file = ""
        self.manifest: dict[str, Any] = {}
        self.client: Any = None  # the chosen _pgdump.Client, once connected
        self.client_params: dict[str, Any] = params  # connection options as the client programs see them

    # -- locating and checking the backup -------------------------------------------

    def _locate(self) -> None:
        if self.p.get("manifest"):
            self.manifest_file = os.path.abspath(self.p["manifest"])
            self.manifest = _backup.load_manifest(self.manifest_file)
            if not _backup.is_good(self.manifest):
                state = "was consumed at %s" % self.manifest.get("consumed_at") if self.manifest.get("consumed_at") \
                    else "is not verified"
                raise BackupError("Backup %s %s: it cannot be restored." % (self.manifest.get("backup_id"), state))
        else:
            label = self.p.get("label") or self.live
            found = _backup.good_backups(os.path.abspath(self.p["backup_dir"]), label,
                                         "clone" if self.p.get("kind") == "clone" else
                                         ("dump" if self.p.get("kind") == "dump" else None))
            if not found:
                raise BackupError("No verified backup labelled %s in %s." % (label, self.p["backup_dir"]))
            self.manifest_file, self.manifest = found[0]
        self.result.update(backup_id=self.manifest["backup_id"], manifest=self.manifest_file,
                           kind=self.manifest["kind"], format=self.manifest["format"])

    def _check_integrity(self) -> dict[str, Any] | None:
        """sha256 and size against the manifest; a plain dump's scan is returned for its entries."""
        started = time.monotonic()
        path = _backup.archive_path(self.manifest_file, self.manifest)
        archive = self.manifest["archive"]
        if not os.path.exists(path):
            raise BackupError("The archive %s of backup %s is missing." % (path, self.manifest["backup_id"]))
        scan = None
        if self.manifest["format"] == "plain":
            scan = _backup.scan_plain(path)
            digest = {"sha256": scan["sha256"], "size_bytes": scan["size_bytes"]}
        else:
            digest = _backup.archive_digest(path)
        problems = []
        if digest["size_bytes"] != archive["size_bytes"]:
            problems.append("its size is %d bytes, the manifest says %d (%s)" % (
                digest["size_bytes"], archive["size_bytes"],
                "truncated" if digest["size_bytes"] < archive["size_bytes"] else "grown"))
        if digest["sha256"] != archive["sha256"]:
            problems.append("its sha256 is %s, the manifest says %s" % (digest["sha256"], archive["sha256"]))
            for name, info in sorted((archive.get("files") or {}).items()):
                got = (digest.get("files") or {}).get(name)
                if got != info:
                    problems.append("file %s differs or is missing" % name)
        if problems:
            raise BackupError("The archive %s does not match its manifest: %s. It was altered or damaged after it "
                              "was verified; restore another backup. Nothing was changed."
                              % (path, "; ".join(problems)), {"archive": path})
        self.result["integrity"] = {"sha256": digest["sha256"], "size_bytes": digest["size_bytes"],
                                    "ms": int((time.monotonic() - started) * 1000)}
        return scan

    def _check_modes(self) -> None:
        scope = self.manifest["scope"]
        partial = bool(self.manifest.get("tables"))
        fmt = self.manifest["format"]
        if self.mode == "tables":
            if scope == "schema-only":
                raise BackupError("mode=tables restores rows, and backup %s holds only the schema."
                                  % self.manifest["backup_id"])
            if fmt == "plain":
                raise BackupError("mode=tables needs a custom or directory backup (pg_restore selects its "
                                  "entries); %s is plain SQL. Restore it whole with mode=new_database."
                                  % self.manifest["backup_id"])
        elif scope == "data-only":
            raise BackupError("Backup %s holds data only: restore it with mode=tables." % self.manifest["backup_id"])
        elif partial and self.mode in ("swap", "in_place"):
            raise BackupError("Backup %s holds only the tables %s: mode=%s would leave a database without the "
                              "others. Use mode=tables or mode=new_database."
                              % (self.manifest["backup_id"], ", ".join(self.manifest["tables"]), self.mode))
        if self.mode == "in_place" and fmt == "plain":
            raise BackupError("mode=in_place needs a custom or directory backup (pg_restore --clean); restore the "
                              "plain backup %s with mode=swap or new_database." % self.manifest["backup_id"])

    def _archive_major_ok(self, client: _pgdump.Client) -> None:
        made_by = (self.manifest.get("tools") or {}).get("pg_dump")
        if made_by:
            num, text = _pgdump.parse_version(made_by if "(PostgreSQL)" in made_by else
                                              "(PostgreSQL) %s" % made_by)
            if _pgdump.major_key(client.version_num) < _pgdump.major_key(num):
                raise BackupError("The backup was written by pg_dump %s; the client chosen here is %s (%s), too old "
                                  "to read it. Set pg_bin_dir to a PostgreSQL %s client or newer."
                                  % (text, client.version, client.bin_dir, _pgdump.major_of(num)))

    # -- entry point -----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if self.mode not in MODES:
            raise BackupError("mode=%r is not one of %s." % (self.mode, ", ".join(MODES)))
        self._locate()
        if self.manifest["kind"] == "clone":
            return self._clone_swap()
        scan = self._check_integrity()
        self._check_modes()
        settings = dict(self.p["session_settings"] if self.p.get("session_settings") is not None
                        else DEFAULT_SETTINGS)
        if self.mode in ("in_place", "tables") and self.p.get("lock_timeout"):
            _backup.check_duration("lock_timeout", self.p["lock_timeout"])
            settings.setdefault("lock_timeout", self.p["lock_timeout"])
        where = (self.p.get("maintenance_db") or "postgres") if self.mode in ("swap", "new_database") else self.live
        maint = _clone.connect_to(self.p, where, "pg_restore")
        try:
            with _pgdump.Credentials(self.p, settings) as creds, maint.cursor() as cur:
                self.result["session_settings"] = settings
                return self._run(cur, creds, scan)
        except _pgdump.ClientError as exc:
            raise BackupError(str(exc), exc.details) from None
        finally:
            maint.close()

    def _run(self, cur: Any, creds: _pgdump.Credentials, scan: dict[str, Any] | None) -> dict[str, Any]:
        server_num = int(cur.connection.server_version)
        client = _pgdump.select_client(self.p, server_num, creds)
        self.client = client
        self.client_params = _pgdump.client_params(self.p, client, cur.connection)
        if client.executor.name == "compose" and self.mode == "tables":
            raise BackupError("mode=tables restores chosen entries with pg_restore --use-list and psql on several "
                              "files, which need the host's client programs; set runner=host with a PostgreSQL %s "
                              "client or newer on the host." % _pgdump.major_of(server_num))
        self._archive_major_ok(client)
        program = "psql" if self.manifest["format"] == "plain" else "pg_restore"
        client.check_program(program, creds.env)
        self.result["client"] = {"runner": client.executor.name, "bin_dir": client.bin_dir, **client.versions}
        path = _backup.archive_path(self.manifest_file, self.manifest)
        toc_started = time.monotonic()
        entries, has = _backup.archive_entries(client, creds, self.manifest["format"], path, scan)
        expected = [tuple(e) for e in (self.manifest.get("verification") or {}).get("entries") or []]
        _backup.verify_entries(has, expected, path)  # type: ignore[arg-type]
        self.result["integrity"]["toc_ms"] = int((time.monotonic() - toc_started) * 1000)
        self.result["integrity"]["entries_checked"] = len(expected)
        if self.mode == "tables":
            return self._tables(client, creds, path, entries)
        if self.mode == "in_place":
            return self._in_place(client, creds, path)
        return self._new_database(cur, client, creds, path)

    # -- whole database ------------------------------------------------------------------

    def _jobs(self, single: bool) -> int:
        jobs = self.p.get("jobs") or 1
        if self.manifest["format"] == "plain" or single:
            return 1
        if jobs > 1 and self.client.executor.name == "compose":
            self.result["warnings"].append("jobs=%d: inside the compose service pg_restore reads the archive from "
                                           "its stdin, which allows one job only." % jobs)
            return 1
        return jobs

    def _new_database(self, cur: Any, client: _pgdump.Client, creds: _pgdump.Credentials, path: str) -> dict[str, Any]:
        now = _backup.utcnow()
        swap = self.mode == "swap"
        if swap:
            target = _clone.free_name(cur, _clone.timestamp_name(self.live, "restore", now))
            keep_as = _clone.free_name(cur, _clone.timestamp_name(self.live, "pre_restore", now))
            _clone.require_rights(cur, "restore %s by swapping in a new database" % self.live, [self.live])
        else:
            target = self.p.get("target_db") or _clone.timestamp_name(self.live, "restore", now)
            keep_as = ""
            if _clone.database(cur, target) is not None:
                raise BackupError("target_db %s already exists; mode=new_database restores into a new database only."
                                  % target)
            _clone.require_rights(cur, "create database %s" % target, [])
        single = bool(self.p.get("single_transaction"))
        jobs = self._jobs(single)
        dsn = _pgdump.conninfo(self.client_params, dbname=target,
                               application="knowledgehub.migration pg_restore")
        if self.manifest["format"] == "plain":
            argv = _pgdump.psql_argv(client, dsn, [path])
        else:
            argv = _pgdump.restore_argv(client, dsn, path, jobs=jobs, single_transaction=single,
                                        no_owner=self.p.get("no_owner", False))
        self.result.update(restored_database=target, cmd=client.executor.describe(argv), jobs=jobs)
        if swap:
            self.result["previous_database"] = None if self.p.get("drop_previous") else keep_as
        if self.check_mode:
            self.result.update(changed=True, would_restore=dict(
                into=target, then_swap_into=self.live if swap else None, keep_previous_as=keep_as or None,
                drop_previous=bool(self.p.get("drop_previous")), cmd=self.result["cmd"], jobs=jobs,
                rows_expected=self.manifest.get("row_counts")))
            return self.result

        started = time.monotonic()
        cur.execute(self._create_sql(target))
        try:
            restore_started = time.monotonic()
            result, warnings = _pgdump.run_checked(client, argv, creds, "Restoring %s into %s"
                                                   % (self.manifest["backup_id"], target))
            self.result["warnings"].extend(warnings)
            self.result["restore_ms"] = int(result.seconds * 1000)
            self._verify_and_analyze(target, restore_started)
        except (_pgdump.ClientError, BackupError) as exc:
            if self.p.get("keep_failed"):
                self.result["failed_database"] = target
                note = "The failed restore is kept as database %s for inspection; %s is untouched." % (target, self.live)
            else:
                _clone.drop_database(cur, target)
                note = "The new database %s was dropped; %s is untouched." % (target, self.live)
            raise BackupError("%s %s" % (exc, note), exc.details) from None
        except BaseException:
            _clone.drop_database(cur, target)
            raise
        if swap:
            try:
                outcome = _clone.swap_in(cur, self.live, target, keep_as, float(self.p["drain_timeout"]),
                                         self.p["terminate_connections"], bool(self.p.get("drop_previous")))
            except BackupError as exc:
                raise BackupError("%s The restored database is ready as %s; %s is unchanged." % (exc, target, self.live),
                                  exc.details) from None
            self.result.update(downtime_ms=outcome["downtime_ms"], previous_database=outcome["previous"],
                               terminated_sessions=outcome["terminated"])
            self.result["warnings"].extend(outcome["warnings"])
        self.result.update(changed=True, duration_ms=int((time.monotonic() - started) * 1000))
        return self.result

    def _create_sql(self, target: str) -> Any:
        info = self.manifest.get("database") or {}
        parts = [pgsql.SQL("CREATE DATABASE {db} TEMPLATE template0").format(db=pgsql.Identifier(target))]
        if info.get("encoding"):
            parts.append(pgsql.SQL("ENCODING {v}").format(v=pgsql.Literal(info["encoding"])))
        if info.get("locale_provider") == "i":
            parts.append(pgsql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {v}").format(v=pgsql.Literal(info["icu_locale"])))
        if info.get("collate"):
            parts.append(pgsql.SQL("LC_COLLATE {v}").format(v=pgsql.Literal(info["collate"])))
        if info.get("ctype"):
            parts.append(pgsql.SQL("LC_CTYPE {v}").format(v=pgsql.Literal(info["ctype"])))
        return pgsql.SQL(" ").join(parts)

    def _verify_and_analyze(self, dbname: str, restore_started: float) -> None:
        conn = _clone.connect_to(self.p, dbname, "pg_restore check")
        try:
            with conn.cursor() as cur:
                self._verify_counts(cur, dbname)
                if self.p.get("analyze", True):
                    analyze_started = time.monotonic()
                    cur.execute("ANALYZE")
                    self.result["analyze_ms"] = int((time.monotonic() - analyze_started) * 1000)
        finally:
            conn.close()
        self.result["restore_total_ms"] = int((time.monotonic() - restore_started) * 1000)

    def _verify_counts(self, cur: Any, dbname: str, tables: list[tuple[str, str]] | None = None) -> None:
        expected_all = self.manifest.get("row_counts") or {}
        tables = tables if tables is not None else data_tables(self.manifest)
        expected = {"%s.%s" % t: expected_all[k] for t in tables for k in ["%s.%s" % t] if k in expected_all}
        started = time.monotonic()
        if not self.p.get("verify_rows", True):
            self.result["row_counts_checked"] = False
            return
        actual = count_tables(cur, tables)
        self.result.update(row_counts=actual, row_counts_checked=True,
                           verify_ms=int((time.monotonic() - started) * 1000))
        wrong = compare_counts(expected, actual)
        if wrong:
            raise BackupError("The restored database %s does not hold the backup's rows: %s."
                              % (dbname, "; ".join(wrong[:20])), {"row_count_mismatches": wrong})

    # -- in place --------------------------------------------------------------------------

    def _in_place(self, client: _pgdump.Client, creds: _pgdump.Credentials, path: str) -> dict[str, Any]:
        single = self.p.get("single_transaction")
        single = True if single is None else bool(single)
        jobs = self._jobs(single)
        dsn = _pgdump.conninfo(self.client_params, dbname=self.live,
                               application="knowledgehub.migration pg_restore")
        argv = _pgdump.restore_argv(client, dsn, path, jobs=jobs, clean=True, single_transaction=single,
                                    no_owner=self.p.get("no_owner", False))
        self.result.update(restored_database=self.live, cmd=client.executor.describe(argv), jobs=jobs,
                           single_transaction=single)
        if self.check_mode:
            self.result.update(changed=True, would_restore=dict(into=self.live, clean=True, cmd=self.result["cmd"], jobs=jobs,
                                                                single_transaction=single))
            return self.result
        started = time.monotonic()
        try:
            result, warnings = _pgdump.run_checked(client, argv, creds, "Restoring %s in place into %s"
                                                   % (self.manifest["backup_id"], self.live))
        except _pgdump.ClientError as exc:
            state = ("It ran in one transaction, so %s is unchanged." % self.live if single else
                     "It did not run in one transaction: %s may be partly restored; restore again or from "
                     "another backup." % self.live)
            raise BackupError("%s %s" % (exc, state), exc.details) from None
        self.result["warnings"].extend(warnings)
        self.result["restore_ms"] = int(result.seconds * 1000)
        self._verify_and_analyze(self.live, started)
        self.result.update(changed=True, duration_ms=int((time.monotonic() - started) * 1000))
        return self.result

    # -- chosen tables ------------------------------------------------------------------------

    def _tables(self, client: _pgdump.Client, creds: _pgdump.Credentials, path: str,
                entries: list[Any]) -> dict[str, Any]:
        available = data_tables(self.manifest)
        wanted = self.p.get("tables") or ["%s.%s" % t for t in available]
        conn = _clone.connect_to(self.p, self.live, "pg_restore tables")
        try:
            with conn.cursor() as cur:
                try:
                    targets = _backup.resolve_tables(cur, wanted)
                except BackupError as exc:
                    raise BackupError("%s (in the database restored into, %s)" % (exc, self.live), exc.details) from None
                chosen = [(t.schema, t.name) for t in targets]
                absent = ["%s.%s" % t for t in chosen if t not in available]
                if absent:
                    raise BackupError("Backup %s holds no rows of %s (it has: %s)." % (
                        self.manifest["backup_id"], ", ".join(absent), ", ".join("%s.%s" % t for t in available)))
                truncate = bool(self.p.get("truncate", True))
                if truncate:
                    self._check_referencing(cur, targets)
                ordered = self._fk_order(cur, targets)
                sequences = self._owned_sequences(cur, targets)
                selected = []
                for schema, name in ordered:
                    selected.append(_pgdump.toc_has(entries, "TABLE DATA", schema, name))
                for schema, name in sequences:
                    entry = _pgdump.toc_has(entries, "SEQUENCE SET", schema, name)
                    if entry is not None:
                        selected.append(entry)
                self.result.update(tables=["%s.%s" % t for t in ordered], sequences=["%s.%s" % s for s in sequences],
                                   truncate=truncate, restored_database=self.live)
                if self.check_mode:
                    self.result.update(changed=True, would_restore=dict(
                        into=self.live, tables=self.result["tables"], truncate_first=truncate,
                        single_transaction=True, rows_expected={k: v for k, v in self.manifest["row_counts"].items()
                                                                if k in self.result["tables"]}))
                    return self.result
                started = time.monotonic()
                self._load_tables(cur, client, creds, path, ordered, selected, truncate)
                self._verify_counts(cur, self.live, ordered if truncate else [])
                if not truncate:
                    self.result["row_counts"] = count_tables(cur, ordered)
                if self.p.get("analyze", True):
                    cur.execute(pgsql.SQL("ANALYZE {}").format(pgsql.SQL(", ").join(table_ident(t) for t in ordered)))
                self.result.update(changed=True, duration_ms=int((time.monotonic() - started) * 1000))
                return self.result
        finally:
            conn.close()

    @staticmethod
    def _fk_order(cur: Any, tables: list[_backup.TableInfo]) -> list[tuple[str, str]]:
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
        return [(by_oid[o].schema, by_oid[o].name) for o in order]

    @staticmethod
    def _check_referencing(cur: Any, tables: list[_backup.TableInfo]) -> None:
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
    def _owned_sequences(cur: Any, tables: list[_backup.TableInfo]) -> list[tuple[str, str]]:
        cur.execute("SELECT n.nspname, s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
                    "JOIN pg_namespace n ON n.oid = s.relnamespace WHERE d.classid = 'pg_class'::regclass "
                    "AND d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY(%s::oid[]) AND s.relkind = 'S' "
                    "AND d.deptype IN ('a', 'i') ORDER BY 1, 2", ([t.oid for t in tables],))
        return [(r[0], r[1]) for r in cur.fetchall()]

    def _load_tables(self, cur: Any, client: _pgdump.Client, creds: _pgdump.Credentials, path: str,
                     ordered: list[tuple[str, str]], selected: list[Any], truncate: bool) -> None:
        """pg_restore writes the chosen entries' SQL to a private file; psql runs truncation, that SQL and the
        row count check in ONE transaction, so the tables end up restored and checked, or unchanged."""
        work = tempfile.mkdtemp(prefix=".restore-", dir=os.path.dirname(self.manifest_file))
        try:
            list_file = os.path.join(work, "entries.list")
            with open(list_file, "w", encoding="utf-8") as handle:
                handle.write("".join(entry.line + "\n" for entry in selected))
            data_file = os.path.join(work, "data.sql")
            _pgdump.run_checked(client, _pgdump.script_argv(client, path, list_file, data_file), creds,
                                "pg_restore extracting %s" % ", ".join("%s.%s" % t for t in ordered))
            before = os.path.join(work, "before.sql")
            after = os.path.join(work, "after.sql")
            with open(before, "w", encoding="utf-8") as handle:
                if truncate:
                    handle.write(pgsql.SQL("TRUNCATE TABLE ONLY {};\n").format(
                        pgsql.SQL(", ").join(table_ident(t) for t in ordered)).as_string(cur))
            with open(after, "w", encoding="utf-8") as handle:
                handle.write(self._count_check_sql(cur, ordered) if truncate else "")
            dsn = _pgdump.conninfo(self.client_params, dbname=self.live,
                                   application="knowledgehub.migration pg_restore")
            argv = _pgdump.psql_argv(client, dsn, [before, data_file, after])
            self.result["cmd"] = client.executor.describe(argv)
            try:
                result, warnings = _pgdump.run_checked(client, argv, creds, "Restoring the tables %s into %s"
                                                       % (", ".join("%s.%s" % t for t in ordered), self.live))
            except _pgdump.ClientError as exc:
                raise BackupError("%s It ran in one transaction: the tables are unchanged." % exc, exc.details) from None
            self.result["warnings"].extend(warnings)
            self.result["restore_ms"] = int(result.seconds * 1000)
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

    # -- clone recovery point ---------------------------------------------------------------

    def _clone_swap(self) -> dict[str, Any]:
        if self.mode != "swap":
            raise BackupError("Backup %s is a clone recovery point: it restores by mode=swap only."
                              % self.manifest["backup_id"])
        clone = self.manifest["clone"]
        rp = clone["database"]
        if clone.get("source") != self.live:
            raise BackupError("Recovery point %s is a copy of %s, not of %s."
                              % (self.manifest["backup_id"], clone.get("source"), self.live))
        maint = _clone.connect_to(self.p, self.p.get("maintenance_db") or "postgres", "pg_restore clone swap")
        try:
            with maint.cursor() as cur:
                row = _clone.database(cur, rp)
                if row is None or self.manifest["backup_id"] not in (row["comment"] or ""):
                    raise BackupError("The recovery point database %s of backup %s no longer exists (or is not that "
                                      "recovery point)." % (rp, self.manifest["backup_id"]))
                _clone.require_rights(cur, "swap recovery point %s in" % rp, [self.live, rp])
                now = _backup.utcnow()
                keep_as = _clone.free_name(cur, _clone.timestamp_name(self.live, "pre_restore", now))
                self.result.update(restored_database=rp, previous_database=None if self.p.get("drop_previous")
                                   else keep_as)
                if self.check_mode:
                    self.result.update(changed=True, would_restore=dict(
                        swap_in=rp, into=self.live, keep_previous_as=keep_as, sessions=_clone.sessions(cur, self.live),
                        rows_expected=self.manifest.get("row_counts")))
                    return self.result
                started = time.monotonic()
                if self.p.get("verify_rows", True):
                    _clone.set_allow_connections(cur, rp, True)
                    try:
                        conn = _clone.connect_to(self.p, rp, "pg_restore clone check")
                        try:
                            with conn.cursor() as ccur:
                                self._verify_counts(ccur, rp)
                        finally:
                            conn.close()
                    except BaseException:
                        _clone.set_allow_connections(cur, rp, False)
                        raise
                outcome = _clone.swap_in(cur, self.live, rp, keep_as, float(self.p["drain_timeout"]),
                                         self.p["terminate_connections"], bool(self.p.get("drop_previous")))
                self.manifest.update(consumed_at=_backup.utcnow().isoformat(), consumed_into=self.live,
                                     previous_database=outcome["previous"])
                _backup.write_json_atomic(self.manifest_file, self.manifest)
                self.result.update(changed=True, downtime_ms=outcome["downtime_ms"],
                                   previous_database=outcome["previous"], terminated_sessions=outcome["terminated"],
                                   duration_ms=int((time.monotonic() - started) * 1000))
                self.result["warnings"].extend(outcome["warnings"])
                return self.result
        finally:
            maint.close()


def run_restore(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Restore a verified backup (or, in check mode, verify it and say what would happen); raises BackupError."""
    return RestoreRun(params, check_mode).run()


__all__ = ["run_restore", "BackupError", "MODES", "DEFAULT_SETTINGS", "psycopg2"]
