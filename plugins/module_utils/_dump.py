# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logical backups that count only once proven: dump, verify, manifest, retention.

Order of a backup: settle what an interrupted run left on the server (``_db_states``)
-> connect -> choose a pg_dump at least as new as the server ->
resolve the tables asked for (a missing one fails here) -> open a REPEATABLE READ
transaction and export its snapshot -> estimate the size and check free space
(fail early, with the numbers) -> the command line (this is the plan; check mode
ends here) -> lock the tables ACCESS SHARE -> run pg_dump on that same snapshot ->
check pg_dump's exit code and stderr (with ``snapshot_tables``, the pre-migration snapshot of
``_snapshot`` is read meanwhile on a connection of its own in the same exported snapshot) -> take the exact row
counts in the snapshot while verifying the archive (its table of contents against the catalog, sha256,
size) -> move it to its final name -> write the manifest (0600, atomically) ->
retention -> the recovery-point record -> the snapshot file.

A backup without a manifest saying ``verified: true`` is not a backup: nothing
that fails on the way leaves one, and retention only counts those.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils import _snapshot
from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import (
    archive_digest,
    archive_entries,
    expected_entries,
    scan_plain,
    verify_directory_files,
    verify_entries,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    FAILED_SUFFIX,
    PARTIAL_SUFFIX,
    BackupError,
    check_backup_dir,
    check_recovery_point_options,
    estimate_size,
    make_private,
    new_backup_id,
    private_dir,
    record_recovery_point,
    remove_path,
    space_verdict,
    sweep,
    utcnow,
    writing,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import (
    TableInfo,
    all_tables,
    count_rows,
    database_info,
    ledger_state,
    resolve_tables,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import (
    ClientError,
    client_target,
    run_checked,
    select_client,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._db_states import settle_on
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, OptionError, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import new_manifest, store
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_label, is_duration, seconds
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgargs import (
    compression_args,
    dump_argv,
    read_all_argv,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError, check
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import bytes_ticker, reporter
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    Target,
    pgsql,
    psycopg2,
    server_version_text,
)

EXTENSIONS = {"custom": ".dump", "directory": ".dir", "plain": ".sql"}


def lock_wait(value: Any) -> str:
    """lock_wait_timeout (60, or a duration such as 60s or 2min) as PostgreSQL's lock_timeout and pg_dump's
    --lock-wait-timeout read it: a duration as given; a number of seconds with its unit (a bare number would be
    milliseconds there)."""
    wait = seconds("lock_wait_timeout", value)
    text = str(value).strip()
    if isinstance(value, str) and is_duration(text) and not text.isdigit():
        return text
    millis = int(round(wait * 1000))
    return "%ds" % (millis // 1000) if millis % 1000 == 0 else "%dms" % millis


class BackupRun(Job):
    """One logical backup (pg_dump) of the database the connection options name."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.fmt: str = params["format"]
        self.scope: str = params["scope"]
        self.label: str = params.get("label") or self.target.dbname
        self.backup_dir: str = os.path.abspath(params["backup_dir"])  # checked by the plan (check_backup_dir)
        self.result: dict[str, Any] = {"changed": False, "kind": "dump", "format": self.fmt, "scope": self.scope,
                                       "label": self.label, "warnings": []}
        self.stack = ExitStack()
        self.started = time.monotonic()
        self.s: dict[str, Any] = {}  # what the plan found: client, env, cursor, snapshot, tables ...

    def close(self) -> None:
        self.stack.close()

    def _validate(self) -> int:
        check_recovery_point_options(self.p)
        check_label(self.label)
        check_backup_dir(self.backup_dir)
        self.s["lock_wait"] = lock_wait(self.p["lock_wait_timeout"])
        jobs = self.p.get("jobs")
        if jobs is not None and jobs < 1:
            raise OptionError("jobs=%d must be 1 or more." % jobs)
        if jobs and jobs > 1 and self.fmt != "directory":
            raise OptionError("jobs=%d: only format=directory dumps in parallel; %s is written by one process."
                              % (jobs, self.fmt))
        if self.p.get("snapshot_tables"):
            if self.scope != "full":
                raise OptionError("snapshot_tables: the snapshot is read beside a dump of the whole data (scope=full), "
                                  "not scope=%s. Nothing was written." % self.scope)
            _snapshot.check_keep_last(self.p["snapshot_keep_last"])
            directory = check_backup_dir(os.path.abspath(self.p.get("snapshot_dir") or self.backup_dir))
            self.s["snapshot_file"] = _snapshot.snapshot_path(directory, self.p.get("run_id") or "")
        if self.scope == "data-only" and not self.p.get("tables"):
            self.result["warnings"].append("scope=data-only without tables dumps the data of every table.")
        return jobs or (2 if self.fmt == "directory" else 1)

    # -- the plan: everything up to the first write ---------------------------------------

    def plan(self) -> dict[str, Any]:
        jobs = self._validate()
        self.started = time.monotonic()
        # The one write before the plan: undo what an interrupted run left (the database may refuse connections).
        settle_on(self.target, self.p.get("maintenance_db"), self.check_mode, self.result)
        conn = self.target.connect("pg_backup", autocommit=True)
        self.stack.callback(conn.close)
        env = self.stack.enter_context(self.target.client_env())
        server_num = int(conn.server_version)
        client = select_client(self.p, self.target, server_num, env)
        if client.executor.name == "compose" and self.fmt == "directory":
            raise ClientError("format=directory is written by pg_dump as a directory of files, which cannot leave "
                              "the %s service through a stream; use format=custom with runner=compose."
                              % (self.p.get("db_service") or "db"))
        if self.fmt != "plain":
            client.check_program("pg_restore", env)
        comp_args, compression = compression_args(client, self.fmt, self.p["compression"])
        self.result.update(client={"runner": client.executor.name, "bin_dir": client.bin_dir, **client.versions},
                           server_version=server_version_text(server_num), compression=compression, jobs=jobs)
        cur = conn.cursor()
        named = resolve_tables(cur, self.p["tables"], "back up", "Nothing was written.") if self.p.get("tables") else []
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.stack.callback(self._rollback, cur)
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        cur.execute("SELECT set_config('lock_timeout', %s, true)", (self.s["lock_wait"],))
        tables = named or all_tables(cur)
        database = database_info(cur, server_num)
        ledger = ledger_state(cur, self.p["ledger_schema"], self.p["ledger_table"])
        space = self._space(tables, database, compression)
        if self.s.get("snapshot_file"):
            self.s["snapshot_tables"], self.result["snapshot"] = _snapshot.plan_take(
                cur, self.p["snapshot_tables"], self.s["snapshot_file"], self.p["snapshot_overwrite"])
        dsn = client_target(client, self.target, conn).conninfo(application="knowledgehub.migration pg_backup")
        self.s.update(cur=cur, client=client, env=env, named=named, tables=tables, comp_args=comp_args,
                      compression=compression, jobs=jobs, snapshot=snapshot, database=database, ledger=ledger,
                      dsn=dsn, server_num=server_num)
        placeholder = os.path.join(self.backup_dir, "%s_<timestamp>%s" % (self.label, EXTENSIONS[self.fmt]))
        argv = self._argv(placeholder, "<snapshot>")
        return dict(self.result, changed=True, would_dump=dict(
            database=database["name"], path=placeholder, format=self.fmt, scope=self.scope,
            tables=[t.qualified for t in tables], compression=compression, jobs=jobs,
            cmd=client.executor.describe(argv), estimated_bytes=space["estimated_bytes"], free_space_ok=space["ok"]))

    @staticmethod
    def _rollback(cur: Any) -> None:
        if not cur.connection.closed:
            try:
                cur.execute("ROLLBACK")
            except psycopg2.Error:
                pass

    def _space(self, tables: list[TableInfo], database: dict[str, Any], compression: str) -> dict[str, Any]:
        data_bytes = sum(t.size for t in tables) if self.scope != "schema-only" else 0
        estimated = estimate_size(data_bytes, len(tables), self.scope, compression)
        space = space_verdict(self.backup_dir, estimated)
        space["data_bytes"] = data_bytes
        space["database_size_bytes"] = database["size_bytes"]
        self.result.update(estimate=space, tables=[t.qualified for t in tables],
                           database_size_bytes=database["size_bytes"])
        if not space["ok"] and not self.p["check_free_space"]:
            self.result["warnings"].append("check_free_space=false: the backup may not fit (%s)." % space["summary"])
        if not space["ok"] and self.p["check_free_space"]:
            raise BackupError("Not enough free space for the backup of %s: %s. Free some space, choose another "
                              "backup_dir, or a more compressed format. Nothing was written."
                              % (database["name"], space["summary"]), {"estimate": space})
        return space

    def _argv(self, path: str, snapshot: str) -> list[str]:
        s = self.s
        return dump_argv(s["client"], s["dsn"], path, self.fmt, self.scope, [t.key for t in s["named"]],
                         s["comp_args"], s["jobs"], snapshot, s["lock_wait"])

    # -- the backup ---------------------------------------------------------------------------

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        private_dir(self.backup_dir, self.result)
        sweep(self.backup_dir, self.result)
        backup_id = new_backup_id(self.backup_dir, self.label, now)
        final = os.path.join(self.backup_dir, backup_id + EXTENSIONS[self.fmt])
        partial = final + PARTIAL_SUFFIX
        argv = self._argv(partial, self.s["snapshot"])
        self.result.update(backup_id=backup_id, cmd=self.s["client"].executor.describe(argv))
        with writing(partial):
            try:
                self._dump_and_verify(argv, partial, final, backup_id, now)
            except BaseException as exc:
                self._discard(partial, final)
                if self.result.get("failed_path") and isinstance(exc, Failure):
                    exc.details["failed_path"] = self.result["failed_path"]
                raise
        self.result.update(record_recovery_point(self.p, self.result))
        self._store_snapshot()
        return self.result

    def _discard(self, partial: str, final: str) -> None:
        """A backup that failed never stays as one: removed, or kept as ``.failed`` on request."""
        for path in (partial, final):
            if not os.path.lexists(path):
                continue
            if self.p.get("keep_failed"):
                target = final + FAILED_SUFFIX
                remove_path(target)
                os.replace(path, target)
                self.result["failed_path"] = target
            else:
                remove_path(path)

    def _verify_archive(self, partial: str) -> tuple[list[Any], list[tuple[str, str, str]], dict[str, Any]]:
        """The archive's entries against the catalog, its checksum; made private. Raises BackupError."""
        client, env, secret = self.s["client"], self.s["env"], self.target.password
        operation = "verify the backup of %s" % self.s["database"]["name"]
        plain_scan = scan_plain(partial) if self.fmt == "plain" else None
        if plain_scan is not None and not plain_scan["complete"]:
            raise BackupError("Cannot %s: the plain dump %s does not end with pg_dump's completion line: it is "
                              "truncated." % (operation, partial))
        entries, has = archive_entries(client, env, self.fmt, partial, plain_scan, secret, operation)
        expected = expected_entries(self.scope, self.s["tables"])
        verify_entries(has, expected, partial, operation)
        if self.fmt == "directory":
            verify_directory_files(entries, partial, operation)
        if self.p["verify"] == "full" and self.fmt != "plain":
            run_checked(client, read_all_argv(client, partial), env,
                        "Cannot %s: pg_restore reading every entry of %s" % (operation, partial), secret)
        make_private(partial)
        if plain_scan is not None:
            return entries, expected, {"sha256": plain_scan["sha256"], "size_bytes": plain_scan["size_bytes"]}
        return entries, expected, archive_digest(partial)

    def _dump_and_verify(self, argv: list[str], partial: str, final: str, backup_id: str, now: Any) -> None:
        cur, client, tables, database = self.s["cur"], self.s["client"], self.s["tables"], self.s["database"]
        # pg_dump runs on our exported snapshot. This transaction holds ACCESS SHARE on the tables, as pg_dump
        # does, until the rows are counted in the same snapshot: nothing can TRUNCATE (not MVCC-safe) or drop
        # them in between. The counts run after the dump, on the server, while this process verifies the
        # archive: on a small machine a count beside pg_dump only slows pg_dump down.
        if tables:
            cur.execute(pgsql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
                pgsql.SQL(", ").join(pgsql.SQL("ONLY {}").format(t.ident()) for t in tables)))
        try:
            running = client.executor.start(argv, self.s["env"])
        except ProcessError as exc:
            raise BackupError(exc.message) from None
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the snapshot's read is the server's work on one core, pg_dump's the text output of the rows on another
            taking = pool.submit(self._take, backup_id) if self.result.get("snapshot", {}).get("action") == "write" \
                else None
            result = running.wait(tick=bytes_ticker("pg_dump of %s" % database["name"], partial,
                                                    self.result["estimate"]["estimated_bytes"]))
            if taking is not None:
                self.s["snapshot_taken"] = taking.exception() or taking.result()
        reporter().report("verify the backup of %s" % database["name"], note="archive entries, row counts")
        try:
            warnings = check(result, "pg_dump of %s" % database["name"], self.target.password)
        except ProcessError as exc:
            raise BackupError("%s The partial archive was removed; no backup was recorded." % exc.message,
                              exc.details) from None

        verify_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            verifying = pool.submit(self._verify_archive, partial)
            count_started = time.monotonic()
            try:
                counts = count_rows(cur, [t.key for t in tables if t.has_data]) if self.scope != "schema-only" else {}
            except psycopg2.Error as exc:
                verifying.exception()  # let the verification end before the archive is removed
                raise BackupError("Counting the rows of %s in the backup's snapshot failed: %s. No backup was "
                                  "recorded." % (database["name"], first_line(exc))) from None
            count_seconds = time.monotonic() - count_started
            entries, expected, digest = verifying.result()
        cur.execute("ROLLBACK")  # the snapshot and the locks are no longer needed
        os.replace(partial, final)
        verify_seconds = time.monotonic() - verify_started
        self._record(argv, partial, final, backup_id, now, result, warnings, entries, expected, digest, counts,
                     {"dump": int(result.seconds * 1000), "verify": int(verify_seconds * 1000),
                      "row_counts": int(count_seconds * 1000)})

    def _take(self, backup_id: str) -> dict[str, Any]:
        """The snapshot file's content, read on a connection of its own in the dump's exported snapshot: the rows
        the snapshot holds are the rows the backup holds."""
        started = time.monotonic()
        conn = self.target.connect("pg_backup snapshot", autocommit=False)
        try:
            taken_at = _snapshot.begin(conn, "0", self.s["lock_wait"], self.s["snapshot"])
            try:
                content = _snapshot.take_document(conn, self.s["snapshot_tables"], self.p["snapshot_exclude_columns"],
                                                  self.p["run_id"], self.s["database"]["name"], taken_at,
                                                  backup_id=backup_id)
                self.s["snapshot_read_s"] = time.monotonic() - started
                return content
            finally:
                conn.rollback()
        finally:
            conn.close()

    def _store_snapshot(self) -> None:
        """Write the snapshot read beside the dump, once the backup is recorded. A snapshot that could not be read
        fails the module, which says that the backup is kept."""
        taken = self.s.pop("snapshot_taken", None)
        if taken is None:
            return
        try:
            if isinstance(taken, BaseException):
                raise taken
            private_dir(os.path.dirname(self.s["snapshot_file"]), self.result)
            self.result["snapshot"] = _snapshot.store(self.s["snapshot_file"], taken, self.p["snapshot_keep_last"],
                                                      self.s["snapshot_read_s"])
        except (Failure, psycopg2.Error, OSError) as exc:
            reason = exc.message.replace(" Nothing was written.", "") if isinstance(exc, Failure) else first_line(exc)
            raise BackupError("The backup %s of %s is verified and recorded, but the snapshot of %s could not be taken "
                              "beside it: %s The backup is kept; no snapshot file was written. Take one with "
                              "pg_validate snapshot=take before migrating." % (
                                  self.result["backup_id"], self.s["database"]["name"],
                                  ", ".join(self.result["snapshot"]["tables"]), reason.rstrip(".") + "."),
                              {"backup_id": self.result["backup_id"], "path": self.result.get("path")}) from None

    def _record(self, argv: list[str], partial: str, final: str, backup_id: str, now: Any, result: Any,
                warnings: list[str], entries: list[Any], expected: list[tuple[str, str, str]], digest: dict[str, Any],
                counts: dict[str, Any], durations: dict[str, int]) -> None:
        s = self.s
        client = s["client"]
        cmd = [a.replace(partial, final) for a in client.executor.describe(argv)]
        manifest = new_manifest(
            backup_id, self.label, "dump", self.fmt, now.isoformat(), self.p, scope=self.scope,
            tables=[t.qualified for t in s["tables"]] if self.p.get("tables") else None,
            verification={"pg_dump_exit_code": result.rc, "pg_dump_stderr": warnings[-20:],
                          "checked_entries": len(expected), "archive_entries": len(entries),
                          "entries": [list(e) for e in expected],
                          "depth": "full" if self.p["verify"] == "full" and self.fmt != "plain" else "toc"},
            archive=dict(name=os.path.basename(final), type="directory" if self.fmt == "directory" else "file",
                         **digest),
            server={"version": server_version_text(s["server_num"]), "version_num": s["server_num"]},
            database=s["database"], row_counts=counts, snapshot=s["snapshot"], ledger=s["ledger"],
            tools=dict(runner=client.executor.name, bin_dir=client.bin_dir, **client.versions),
            options={"compression": s["compression"], "jobs": s["jobs"],
                     "lock_wait_timeout": self.p["lock_wait_timeout"], "cmd": cmd},
            durations_ms=durations)
        path, removed = store(self.backup_dir, manifest, self.p.get("keep_last") or 0,
                              warnings=self.result["warnings"], result=self.result)
        self.result.update(
            changed=True, backup_id=backup_id, path=final, manifest=path, manifest_data=manifest,
            size_bytes=digest["size_bytes"], sha256=digest["sha256"], row_counts=counts, removed=removed, cmd=cmd,
            duration_ms=int((time.monotonic() - self.started) * 1000), dump_ms=durations["dump"],
            verify_ms=durations["verify"], ledger_version=s["ledger"].get("last_applied_version"))
        self.result["warnings"].extend(warnings)
