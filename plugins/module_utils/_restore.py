# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore a verified backup: a whole database (swapped in, in a new database, or in place),
or a clone recovery point swapped back. Chosen tables are restored by ``_restore_tables``.

Order of a restore: find the backup (its manifest) -> the archive must match its
manifest (sha256 and size) -> the backup must suit the mode -> connect, choose the
client programs -> the archive's table of contents must hold every table entry the
manifest lists -> what would be restored where, and the command line (this is the
plan; check mode ends here) -> restore -> the exact row counts must match the
manifest's -> ANALYZE -> in ``swap`` mode, only now, the live database is replaced
by renames. A clone recovery point skips the archive: its rows are checked in the
copy, which is then swapped in and its manifest marked as consumed.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import (
    archive_entries,
    check_archive,
    verify_entries,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    BackupError,
    archive_path,
    find_backup,
    utcnow,
    write_json_atomic,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import count_rows
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import (
    Client,
    client_target,
    major_key,
    major_of,
    parse_version,
    run_checked,
    select_client,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._databases import (
    DatabaseError,
    create_sql,
    database,
    drop_database,
    free_name,
    require_rights,
    sessions,
    set_allow_connections,
    swap_in,
    timestamp_name,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_duration
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgargs import psql_argv, restore_argv
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

MODES = ("swap", "new_database", "in_place", "tables")
DEFAULT_SETTINGS = {"maintenance_work_mem": "512MB", "synchronous_commit": "off"}
APPLICATION = "knowledgehub.migration pg_restore"


def data_tables(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(schema, name) of the tables whose rows the backup holds, from its verified entries."""
    entries = manifest.get("verification", {}).get("entries") or []
    tables = [(e[1], e[2]) for e in entries if e[0] == "TABLE DATA"]
    if not tables:  # clone manifests and older ones: from the row counts
        tables = [tuple(k.split(".", 1)) for k in manifest.get("row_counts", {})]  # type: ignore[misc]
    return tables


def compare_counts(expected: dict[str, int], actual: dict[str, Any]) -> list[str]:
    """The tables whose row count differs from the backup's, as sentences."""
    return ["%s: %s rows, the backup has %s" % (k, "missing" if actual.get(k) is None else actual.get(k), v)
            for k, v in sorted(expected.items()) if actual.get(k) != v]


class Restore(Job):
    """What every restore does before its mode's work: find the backup and check it, connect, choose the client,
    check the archive's entries. ``plan_mode`` and ``apply_mode`` are the mode's."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = params
        self.target = Target.from_params(params)
        self.mode: str = params["mode"]
        self.live: str = self.target.dbname
        self.result: dict[str, Any] = {"changed": False, "mode": self.mode, "database": self.live, "warnings": []}
        self.manifest_file = ""
        self.manifest: dict[str, Any] = {}
        self.stack = ExitStack()
        self.cur: Any = None  # on the maintenance database (or the live one, for in_place and tables)
        self.client: Client | None = None
        self.env: dict[str, str] = {}
        self.client_side = self.target  # the target as the client programs reach it
        self.path = ""

    def close(self) -> None:
        self.stack.close()

    def connect(self, dbname: str, purpose: str) -> Any:
        """An autocommit connection to ``dbname``, closed with the job."""
        conn = self.target.on(dbname).connect(purpose, autocommit=True)
        self.stack.callback(conn.close)
        return conn

    def dsn(self, dbname: str) -> str:
        return self.client_side.on(dbname).conninfo(application=APPLICATION)

    def restore_with(self, argv: list[str], what: str) -> None:
        """Run the restoring client program; its warnings and duration go to the result."""
        result, warnings = run_checked(self.client, argv, self.env, what, self.target.password)
        self.result["warnings"].extend(warnings)
        self.result["restore_ms"] = int(result.seconds * 1000)

    # -- the plan -----------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        if self.mode not in MODES:
            raise BackupError("mode=%r is not one of %s." % (self.mode, ", ".join(MODES)))
        kind = self.p.get("kind")
        self.manifest_file, self.manifest = find_backup(self.p.get("manifest"), self.p.get("backup_dir"),
                                                        self.p.get("label") or self.live,
                                                        kind if kind in ("dump", "clone") else None)
        self.result.update(backup_id=self.manifest["backup_id"], manifest=self.manifest_file,
                           kind=self.manifest["kind"], format=self.manifest["format"])
        if self.manifest["kind"] == "clone":
            if self.mode != "swap":
                raise BackupError("Backup %s is a clone recovery point: it restores by mode=swap only."
                                  % self.manifest["backup_id"])
            return self.plan_clone_swap()
        started = time.monotonic()
        self.path = archive_path(self.manifest_file, self.manifest)
        digest, scan = check_archive(self.path, self.manifest)
        self.result["integrity"] = {"sha256": digest["sha256"], "size_bytes": digest["size_bytes"],
                                    "ms": int((time.monotonic() - started) * 1000)}
        self._check_backup_suits_mode()
        settings = dict(self.p["session_settings"] if self.p.get("session_settings") is not None
                        else DEFAULT_SETTINGS)
        if self.mode in ("in_place", "tables") and self.p.get("lock_timeout"):
            settings.setdefault("lock_timeout", check_duration("lock_timeout", self.p["lock_timeout"]))
        where = (self.p.get("maintenance_db") or "postgres") if self.mode in ("swap", "new_database") else self.live
        conn = self.connect(where, "pg_restore")
        self.env = self.stack.enter_context(self.target.client_env(settings))
        self.cur = conn.cursor()
        self.result["session_settings"] = settings
        entries = self._client_and_entries(conn, scan)
        return self.plan_mode(entries)

    def _check_backup_suits_mode(self) -> None:
        """The backup must hold what the mode restores."""
        scope = self.manifest["scope"]
        fmt = self.manifest["format"]
        backup_id = self.manifest["backup_id"]
        if self.mode == "tables":
            if scope == "schema-only":
                raise BackupError("mode=tables restores rows, and backup %s holds only the schema." % backup_id)
            if fmt == "plain":
                raise BackupError("mode=tables needs a custom or directory backup (pg_restore selects its "
                                  "entries); %s is plain SQL. Restore it whole with mode=new_database." % backup_id)
        elif scope == "data-only":
            raise BackupError("Backup %s holds data only: restore it with mode=tables." % backup_id)
        elif self.manifest.get("tables") and self.mode in ("swap", "in_place"):
            raise BackupError("Backup %s holds only the tables %s: mode=%s would leave a database without the "
                              "others. Use mode=tables or mode=new_database."
                              % (backup_id, ", ".join(self.manifest["tables"]), self.mode))
        if self.mode == "in_place" and fmt == "plain":
            raise BackupError("mode=in_place needs a custom or directory backup (pg_restore --clean); restore the "
                              "plain backup %s with mode=swap or new_database." % backup_id)

    def _client_and_entries(self, conn: Any, scan: dict[str, Any] | None) -> list[Any]:
        server_num = int(conn.server_version)
        client = self.client = select_client(self.p, self.target, server_num, self.env)
        self.client_side = client_target(client, self.target, conn)
        if client.executor.name == "compose" and self.mode == "tables":
            raise BackupError("mode=tables restores chosen entries with pg_restore --use-list and psql on several "
                              "files, which need the host's client programs; set runner=host with a PostgreSQL %s "
                              "client or newer on the host." % major_of(server_num))
        made_by = (self.manifest.get("tools") or {}).get("pg_dump")
        if made_by:
            num, text = parse_version(made_by if "(PostgreSQL)" in made_by else "(PostgreSQL) %s" % made_by)
            if major_key(client.version_num) < major_key(num):
                raise BackupError("The backup was written by pg_dump %s; the client chosen here is %s (%s), too old "
                                  "to read it. Set pg_bin_dir to a PostgreSQL %s client or newer."
                                  % (text, client.version, client.bin_dir, major_of(num)))
        client.check_program("psql" if self.manifest["format"] == "plain" else "pg_restore", self.env)
        self.result["client"] = {"runner": client.executor.name, "bin_dir": client.bin_dir, **client.versions}
        toc_started = time.monotonic()
        entries, has = archive_entries(client, self.env, self.manifest["format"], self.path, scan,
                                       self.target.password)
        expected = [tuple(e) for e in (self.manifest.get("verification") or {}).get("entries") or []]
        verify_entries(has, expected, self.path)  # type: ignore[arg-type]
        self.result["integrity"]["toc_ms"] = int((time.monotonic() - toc_started) * 1000)
        self.result["integrity"]["entries_checked"] = len(expected)
        return entries

    def plan_mode(self, entries: list[Any]) -> dict[str, Any]:
        raise NotImplementedError

    def plan_clone_swap(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- shared steps ---------------------------------------------------------------------------

    def verify_counts(self, cur: Any, dbname: str, tables: list[tuple[str, str]] | None = None) -> None:
        """The exact row counts of ``tables`` (all the backup's) against the manifest's (unless verify_rows=false)."""
        expected_all = self.manifest.get("row_counts") or {}
        tables = tables if tables is not None else data_tables(self.manifest)
        expected = {"%s.%s" % t: expected_all[k] for t in tables for k in ["%s.%s" % t] if k in expected_all}
        started = time.monotonic()
        if not self.p.get("verify_rows", True):
            self.result["row_counts_checked"] = False
            return
        actual = count_rows(cur, tables)
        self.result.update(row_counts=actual, row_counts_checked=True,
                           verify_ms=int((time.monotonic() - started) * 1000))
        wrong = compare_counts(expected, actual)
        if wrong:
            raise BackupError("The restored database %s does not hold the backup's rows: %s."
                              % (dbname, "; ".join(wrong[:20])), {"row_count_mismatches": wrong})

    def jobs(self, single: bool) -> int:
        jobs = self.p.get("jobs") or 1
        if self.manifest["format"] == "plain" or single:
            return 1
        if jobs > 1 and self.client is not None and self.client.executor.name == "compose":
            self.result["warnings"].append("jobs=%d: inside the compose service pg_restore reads the archive from "
                                           "its stdin, which allows one job only." % jobs)
            return 1
        return jobs

    # -- the restore ------------------------------------------------------------------------------

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        self.apply_mode()
        self.result.update(changed=True, duration_ms=int((time.monotonic() - started) * 1000))
        return self.result

    def apply_mode(self) -> None:
        raise NotImplementedError


class DatabaseRestore(Restore):
    """mode swap, new_database or in_place: the whole database; or a clone recovery point swapped back."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.into = ""  # the database restored into (or the recovery point swapped in)
        self.keep_as = ""  # the name the replaced database keeps (swap)
        self.single = False
        self.argv: list[str] = []

    def plan_mode(self, entries: list[Any]) -> dict[str, Any]:
        cur, now, single = self.cur, utcnow(), self.p.get("single_transaction")
        self.single = single = (single is None or bool(single)) if self.mode == "in_place" else bool(single)
        if self.mode == "in_place":
            self.into = self.live
        elif self.mode == "swap":
            self.into = free_name(cur, timestamp_name(self.live, "restore", now))
            self.keep_as = free_name(cur, timestamp_name(self.live, "pre_restore", now))
            require_rights(cur, "restore %s by swapping in a new database" % self.live, [self.live])
        else:
            self.into = self.p.get("target_db") or timestamp_name(self.live, "restore", now)
            if database(cur, self.into) is not None:
                raise BackupError("target_db %s already exists; mode=new_database restores into a new database only."
                                  % self.into)
            require_rights(cur, "create database %s" % self.into, [])
        jobs = self.jobs(single)
        if self.manifest["format"] == "plain":
            self.argv = psql_argv(self.client, self.dsn(self.into), [self.path])
        else:
            self.argv = restore_argv(self.client, self.dsn(self.into), self.path, jobs=jobs,
                                     clean=self.mode == "in_place", single_transaction=single,
                                     no_owner=self.p.get("no_owner", False))
        self.result.update(restored_database=self.into, cmd=self.client.executor.describe(self.argv), jobs=jobs)
        if self.mode == "in_place":
            self.result["single_transaction"] = single
            return dict(self.result, changed=True, would_restore=dict(
                into=self.live, clean=True, cmd=self.result["cmd"], jobs=jobs, single_transaction=single))
        if self.mode == "swap":
            self.result["previous_database"] = None if self.p.get("drop_previous") else self.keep_as
        return dict(self.result, changed=True, would_restore=dict(
            into=self.into, then_swap_into=self.live if self.mode == "swap" else None,
            keep_previous_as=self.keep_as or None, drop_previous=bool(self.p.get("drop_previous")),
            cmd=self.result["cmd"], jobs=jobs, rows_expected=self.manifest.get("row_counts")))

    def apply_mode(self) -> None:
        if self.manifest["kind"] == "clone":
            self._swap_clone_in()
        elif self.mode == "in_place":
            self._in_place()
        else:
            self._new_database()

    def _in_place(self) -> None:
        started = time.monotonic()
        try:
            self.restore_with(self.argv, "Restoring %s in place into %s" % (self.manifest["backup_id"], self.live))
        except Failure as exc:
            state = ("It ran in one transaction, so %s is unchanged." % self.live if self.single else
                     "It did not run in one transaction: %s may be partly restored; restore again or from "
                     "another backup." % self.live)
            raise BackupError("%s %s" % (exc.message, state), exc.details) from None
        self._verify_and_analyze(self.live, started)

    def _new_database(self) -> None:
        cur, target = self.cur, self.into
        cur.execute(create_sql(target, self.manifest.get("database") or {}))
        try:
            restore_started = time.monotonic()
            self.restore_with(self.argv, "Restoring %s into %s" % (self.manifest["backup_id"], target))
            self._verify_and_analyze(target, restore_started)
        except Failure as exc:
            if self.p.get("keep_failed"):
                self.result["failed_database"] = target
                note = "The failed restore is kept as database %s for inspection; %s is untouched." % (target, self.live)
            else:
                drop_database(cur, target)
                note = "The new database %s was dropped; %s is untouched." % (target, self.live)
            raise BackupError("%s %s" % (exc.message, note), exc.details) from None
        except BaseException:
            drop_database(cur, target)
            raise
        if self.mode == "swap":
            try:
                outcome = swap_in(cur, self.live, target, self.keep_as, float(self.p["drain_timeout"]),
                                  self.p["terminate_connections"], bool(self.p.get("drop_previous")))
            except DatabaseError as exc:
                raise BackupError("%s The restored database is ready as %s; %s is unchanged."
                                  % (exc.message, target, self.live), exc.details) from None
            self.result.update(downtime_ms=outcome["downtime_ms"], previous_database=outcome["previous"],
                               terminated_sessions=outcome["terminated"])
            self.result["warnings"].extend(outcome["warnings"])

    def _verify_and_analyze(self, dbname: str, restore_started: float) -> None:
        conn = self.target.on(dbname).connect("pg_restore check", autocommit=True)
        try:
            with conn.cursor() as cur:
                self.verify_counts(cur, dbname)
                if self.p.get("analyze", True):
                    analyze_started = time.monotonic()
                    cur.execute("ANALYZE")
                    self.result["analyze_ms"] = int((time.monotonic() - analyze_started) * 1000)
        finally:
            conn.close()
        self.result["restore_total_ms"] = int((time.monotonic() - restore_started) * 1000)

    # -- clone recovery point -----------------------------------------------------------------

    def plan_clone_swap(self) -> dict[str, Any]:
        clone = self.manifest["clone"]
        rp = self.into = clone["database"]
        if clone.get("source") != self.live:
            raise BackupError("Recovery point %s is a copy of %s, not of %s."
                              % (self.manifest["backup_id"], clone.get("source"), self.live))
        cur = self.cur = self.connect(self.p.get("maintenance_db") or "postgres", "pg_restore clone swap").cursor()
        row = database(cur, rp)
        if row is None or self.manifest["backup_id"] not in (row["comment"] or ""):
            raise BackupError("The recovery point database %s of backup %s no longer exists (or is not that "
                              "recovery point)." % (rp, self.manifest["backup_id"]))
        require_rights(cur, "swap recovery point %s in" % rp, [self.live, rp])
        self.keep_as = free_name(cur, timestamp_name(self.live, "pre_restore", utcnow()))
        self.result.update(restored_database=rp, previous_database=None if self.p.get("drop_previous")
                           else self.keep_as)
        return dict(self.result, changed=True, would_restore=dict(
            swap_in=rp, into=self.live, keep_previous_as=self.keep_as, sessions=sessions(cur, self.live),
            rows_expected=self.manifest.get("row_counts")))

    def _swap_clone_in(self) -> None:
        cur, rp = self.cur, self.into
        if self.p.get("verify_rows", True):
            set_allow_connections(cur, rp, True)
            try:
                conn = self.target.on(rp).connect("pg_restore clone check", autocommit=True)
                try:
                    with conn.cursor() as ccur:
                        self.verify_counts(ccur, rp)
                finally:
                    conn.close()
            except BaseException:
                set_allow_connections(cur, rp, False)
                raise
        outcome = swap_in(cur, self.live, rp, self.keep_as, float(self.p["drain_timeout"]),
                          self.p["terminate_connections"], bool(self.p.get("drop_previous")))
        self.manifest.update(consumed_at=utcnow().isoformat(), consumed_into=self.live,
                             previous_database=outcome["previous"])
        write_json_atomic(self.manifest_file, self.manifest)
        self.result.update(downtime_ms=outcome["downtime_ms"], previous_database=outcome["previous"],
                           terminated_sessions=outcome["terminated"])
        self.result["warnings"].extend(outcome["warnings"])
