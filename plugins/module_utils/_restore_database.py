# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore a whole database: into a new one swapped in (swap), into a new one (new_database), in place;
or a clone recovery point swapped back.

Order, after the checks every restore makes (``_restore.Restore``): swap and new_database
name the new database (``<db>_restore_<ts>``) -> the role's rights (this is the plan; check
mode ends here) -> the new database is journaled on the live one, created, and journaled
as an incomplete copy of this run (so that a crash leaves nothing the next run does not drop)
-> restore -> the exact row counts must match the manifest's -> ANALYZE -> in ``swap`` mode,
only now, the live database is replaced: drained, then both renames in one transaction. A
failed restore drops its new database, or keeps it (``keep_failed``) marked as kept: later
runs list it, never drop it. A clone recovery point skips the archive: its rows are checked in
the copy (opened for that, journaled), which is then swapped in and its manifest marked as
consumed.
"""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    BackupError,
    utcnow,
    write_json_atomic,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._clone import recovery_point_of
from ansible_collections.knowledgehub.migration.plugins.module_utils._databases import (
    DatabaseError,
    create_sql,
    database,
    drop_database,
    free_name,
    require_rights,
    rights,
    sessions,
    swap_in,
    timestamp_name,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._db_states import (
    allow_sql,
    comment_sql,
    transaction,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgargs import psql_argv, restore_argv
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore import Restore


class DatabaseRestore(Restore):
    """mode swap, new_database or in_place: the whole database; or a clone recovery point swapped back."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        super().__init__(params, check_mode)
        self.into = ""  # the database restored into (or the recovery point swapped in)
        self.keep_as = ""  # the name the replaced database keeps (swap)
        self.single = False
        self.argv: list[str] = []
        self.rp_comment: str | None = None  # the recovery point's own comment, put back if it is not swapped in

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
                raise BackupError("Cannot restore into target_db %s: it already exists; mode=new_database restores "
                                  "into a new database only. Nothing was changed." % self.into)
            require_rights(cur, "restore %s into a new database %s" % (self.live, self.into), [])
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

    def _create(self) -> None:
        """CREATE DATABASE for the restore, journaled: first on the live database (when the role owns it), then, in
        one transaction with that entry's removal, on the new database itself as an incomplete copy."""
        cur, target, journal = self.cur, self.into, self.journal
        live = database(cur, self.live)
        me = rights(cur)
        on_live = live is not None and (me["superuser"] or live["owner"] == me["user"])
        if on_live:
            transaction(cur, [journal.mark(self.live, copy=target)])
        cur.execute(create_sql(target, self.manifest.get("database") or {}))
        transaction(cur, [journal.mark(target, None, drop="%s, the incomplete restore of %s for %s"
                                       % (target, self.manifest["backup_id"], self.live)),
                          comment_sql(self.live, journal.comment(self.live)) if on_live else None])

    def _new_database(self) -> None:
        cur, target = self.cur, self.into
        self._create()
        try:
            restore_started = time.monotonic()
            self.restore_with(self.argv, "Restoring %s into %s" % (self.manifest["backup_id"], target))
            self._verify_and_analyze(target, restore_started)
        except Failure as exc:
            note = self._failed(target, exc.message)
            raise BackupError("%s %s" % (exc.message, note),
                              dict(exc.details, failed_database=self.result.get("failed_database"))) from None
        except BaseException:
            drop_database(cur, target)
            raise
        if self.mode != "swap":
            cur.execute(comment_sql(target, None))  # restored and checked: no longer an incomplete copy
            return
        try:
            outcome = swap_in(cur, self.journal, self.live, target, self.keep_as, float(self.p["drain_timeout"]),
                              self.p["terminate_connections"], bool(self.p.get("drop_previous")),
                              "swap the restored database in for %s" % self.live)
        except DatabaseError as exc:
            self._keep(target, "restored and checked, not swapped in: %s" % exc.message)
            raise BackupError("%s The restored database is ready as %s; %s is unchanged."
                              % (exc.message, target, self.live), exc.details) from None
        self.result.update(downtime_ms=outcome["downtime_ms"], previous_database=outcome["previous"],
                           terminated_sessions=outcome["terminated"])
        self.result["warnings"].extend(outcome["warnings"])

    def _failed(self, target: str, why: str) -> str:
        """A failed restore's new database: kept for inspection (keep_failed, marked so that later runs list it and
        never drop it) or dropped. Returns the sentence that says which."""
        if self.p.get("keep_failed"):
            self._keep(target, "a failed restore of %s kept with keep_failed: %s" % (self.manifest["backup_id"], why))
            self.result["failed_database"] = target
            return "The failed restore is kept as database %s for inspection; %s is untouched." % (target, self.live)
        drop_database(self.cur, target)
        return "The new database %s was dropped; %s is untouched." % (target, self.live)

    def _keep(self, target: str, why: str) -> None:
        transaction(self.cur, [self.journal.mark(target, None, kept=why[:500])])

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
        cur, rp = self.cur, self.manifest["clone"]["database"]
        # allow_other_database (checked and recorded by then) lets a recovery point of another database in
        source = self.manifest["clone"]["source"] if self.result["identity"]["override"] else self.live
        try:
            if rp == self.live:
                raise BackupError("the manifest names %s itself as the recovery point" % rp)
            self.rp_comment = recovery_point_of(cur, self.manifest, source)["comment"]
        except BackupError as exc:
            raise BackupError("Cannot swap recovery point %s in for %s: %s. Nothing was changed."
                              % (self.manifest["backup_id"], self.live, exc.message)) from None
        self.into = rp
        require_rights(cur, "swap recovery point %s in for %s" % (rp, self.live), [self.live, rp])
        self.keep_as = free_name(cur, timestamp_name(self.live, "pre_restore", utcnow()))
        self.result.update(restored_database=rp, previous_database=None if self.p.get("drop_previous")
                           else self.keep_as)
        return dict(self.result, changed=True, would_restore=dict(
            swap_in=rp, into=self.live, keep_previous_as=self.keep_as, sessions=sessions(cur, self.live),
            rows_expected=self.manifest.get("row_counts")))

    def _swap_clone_in(self) -> None:
        cur, rp, journal, marker = self.cur, self.into, self.journal, self.rp_comment
        # The recovery point accepts connections (for its row counts, then as the new live database): journaled,
        # so that a crash puts it back closed, with its comment, still usable.
        transaction(cur, [journal.mark(rp, marker, allow_connections=False), allow_sql(rp, True)])
        try:
            if self.p.get("verify_rows", True):
                conn = self.target.on(rp).connect("pg_restore clone check", autocommit=True)
                try:
                    with conn.cursor() as ccur:
                        self.verify_counts(ccur, rp)
                finally:
                    conn.close()
            outcome = swap_in(cur, journal, self.live, rp, self.keep_as, float(self.p["drain_timeout"]),
                              self.p["terminate_connections"], bool(self.p.get("drop_previous")),
                              "swap recovery point %s in for %s" % (rp, self.live))
        except BaseException:
            if database(cur, rp) is not None:
                transaction(cur, [allow_sql(rp, False), comment_sql(rp, marker)])
            raise
        self.manifest.update(consumed_at=utcnow().isoformat(), consumed_into=self.live,
                             previous_database=outcome["previous"])
        write_json_atomic(self.manifest_file, self.manifest)
        self.result.update(downtime_ms=outcome["downtime_ms"], previous_database=outcome["previous"],
                           terminated_sessions=outcome["terminated"])
        self.result["warnings"].extend(outcome["warnings"])
