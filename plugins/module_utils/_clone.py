# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery points by file-level clone (pg_backup format=clone).

A recovery point is ``CREATE DATABASE <db>_rp_<ts> TEMPLATE <db>``: PostgreSQL
copies the database's files, which takes seconds where a logical restore takes
minutes, but needs the source without any other session for those seconds.

Order of a recovery point: check the options -> connect to the maintenance
database -> settle what an interrupted run left on the server (``_db_states``)
-> the source exists, the role has CREATEDB and owns it -> pick a free name (this
is the plan) -> refuse new connections to the source while its sessions drain
(``drain_timeout``; ``terminate_connections`` ends them), journaled with the copy
to make -> copy it -> in one transaction, the copy is journaled as an unrecorded
recovery point and the source accepts connections again (also on failure) ->
count its rows and read its ledger in the copy -> close it to connections ->
manifest -> its final comment -> retention (which drops only recovery points of
this database that its manifests name) -> the recovery-point record. A copy whose
manifest cannot be written is dropped, by this run or, after a crash, by the next.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    BackupError,
    check_backup_dir,
    check_recovery_point_options,
    human,
    new_backup_id,
    private_dir,
    record_recovery_point,
    utcnow,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import (
    all_tables,
    count_rows,
    database_info,
    ledger_state,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._databases import (
    Refusing,
    database,
    drop_database,
    free_name,
    ident,
    maintenance,
    require_rights,
    sessions,
    set_allow_connections,
    timestamp_name,
    when_drained,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._db_states import (
    Journal,
    comment_sql,
    settle_into,
    transaction,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import manifest_path, new_manifest, store
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_label
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import reporter
from ansible_collections.knowledgehub.migration.plugins.module_utils._server_space import clone_space
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    Target,
    pgsql,
    psycopg2,
    server_version_text,
)

COMMENT_PREFIX = "knowledgehub.migration recovery point"
# "knowledgehub.migration recovery point of <source>, <when> (backup_id <id>)": a finished recovery point.
_COMMENT = re.compile(r"^knowledgehub\.migration recovery point of (?P<source>.+), (?P<at>\S+) "
                      r"\(backup_id (?P<backup_id>[^()]+)\)$", re.DOTALL)


def final_comment(source: str, at: str, backup_id: str) -> str:
    return "%s of %s, %s (backup_id %s)" % (COMMENT_PREFIX, source, at, backup_id)


class RecoveryPoint(Job):
    """pg_backup format=clone: a recovery point of the database as a copy of it, with a manifest."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.source = self.target.dbname
        self.label: str = params.get("label") or self.source
        self.backup_dir = os.path.abspath(params["backup_dir"])
        self.result: dict[str, Any] = {"changed": False, "kind": "clone", "format": "clone", "scope": "full",
                                       "label": self.label, "warnings": []}
        self.conn: Any = None
        self.cur: Any = None
        self.journal: Journal | None = None
        self.name = ""
        self.now = utcnow()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def plan(self) -> dict[str, Any]:
        check_recovery_point_options(self.p)
        check_label(self.label)
        if self.p.get("tables") or self.p["scope"] != "full":
            raise BackupError("format=clone copies the whole database: scope must be full and tables unset.")
        if self.p.get("snapshot_tables"):
            raise BackupError("snapshot_tables is read beside a dump, in its snapshot; a clone has none. Take the "
                              "snapshot with pg_validate snapshot=take before the clone. Nothing was written.")
        check_backup_dir(self.backup_dir)
        if self.source == (self.p.get("maintenance_db") or "postgres"):
            raise BackupError("maintenance_db must differ from the database to copy (%s)." % self.source)
        self.conn = maintenance(self.target, self.p.get("maintenance_db"), "pg_backup clone")
        self.cur = cur = self.conn.cursor()
        settle_into(self.result, cur, self.check_mode)  # the one write before the plan: what a crash left
        self.journal = Journal(cur, "pg_backup format=clone of %s" % self.source)
        src = database(cur, self.source)
        if src is None:
            raise BackupError("Database %s does not exist." % self.source)
        me = require_rights(cur, "create a recovery point of %s" % self.source, [self.source])
        self.now = utcnow()
        self.name = free_name(cur, timestamp_name(self.source, "rp", self.now))
        present = sessions(cur, self.source)
        space = self._space(src["size_bytes"])
        self.result.update(database=self.name, source=self.source, database_size_bytes=src["size_bytes"],
                           sessions=present, role=me, server_space=space)
        return dict(self.result, changed=True, would_clone=dict(
            source=self.source, database=self.name, strategy=self.p["clone_strategy"],
            estimated_disk_bytes=src["size_bytes"], free_space_ok=space["ok"], sessions_connected=len(present),
            would_terminate=bool(present) and self.p["terminate_connections"]))

    def _space(self, size: int) -> dict[str, Any]:
        """The server's volume must hold the copy and what keep_free_mb keeps free (``_server_space``)."""
        space = clone_space(self.cur, self.p, self.target.port, self.target.host or "", size)
        if space["ok"] is None:
            self.result["warnings"].append("%s; the clone needs about %s there." % (space["summary"], human(size)))
        elif not space["ok"] and self.p["check_free_space"]:
            raise BackupError("Not enough free space on the database server's volume for a clone of %s: %s. A full "
                              "volume stops the server at its next WAL write. Free space there, lower keep_free_mb, "
                              "or take a dump instead (format=custom). Nothing was changed."
                              % (self.source, space["summary"]), {"server_space": space})
        elif not space["ok"]:
            self.result["warnings"].append("check_free_space=false: the clone may not fit (%s)." % space["summary"])
        return space

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        cur, name, journal = self.cur, self.name, self.journal
        private_dir(self.backup_dir, self.result)
        backup_id = new_backup_id(self.backup_dir, self.label, self.now)
        strategy = ""
        if int(self.conn.server_version) >= 150000:
            strategy = " STRATEGY = %s" % ("FILE_COPY" if self.p["clone_strategy"] == "file_copy" else "WAL_LOG")
        create = pgsql.SQL("CREATE DATABASE {new} TEMPLATE {src}" + strategy).format(
            new=ident(name), src=ident(self.source))
        unrecorded = {"backup_id": backup_id, "manifest": manifest_path(self.backup_dir, backup_id),
                      "final_comment": final_comment(self.source, self.now.isoformat(), backup_id)}
        started = time.monotonic()
        # CREATE DATABASE says nothing until it ends: the controller shows the step and its elapsed time
        reporter().report("clone %s as %s" % (self.source, name), note="drain the sessions, CREATE DATABASE ... "
                          "TEMPLATE (no figure until it ends)")
        with Refusing(cur, journal, self.source, copy=name) as refusing:
            try:
                done = when_drained(cur, self.source, [create], float(self.p["drain_timeout"]),
                                    self.p["terminate_connections"], "make the recovery point of %s" % self.source)
            except psycopg2.Error as exc:
                raise BackupError("Cannot make the recovery point of %s: CREATE DATABASE %s TEMPLATE %s failed: %s"
                                  % (self.source, name, self.source, first_line(exc))) from None
            # One transaction: the copy is journaled as not yet recorded, the source accepts connections again.
            transaction(cur, [journal.mark(name, None, unrecorded=unrecorded)] + refusing.undo_sql())
            refusing.hand_over()
        clone_ms = int((time.monotonic() - done["drained_at"]) * 1000)
        downtime_ms = int((time.monotonic() - started) * 1000)
        try:
            self._record(backup_id, clone_ms, downtime_ms, done["terminated"], unrecorded["final_comment"])
        except BaseException:
            drop_database(cur, name)
            raise
        self.result.update(record_recovery_point(self.p, self.result))
        return self.result

    def _record(self, backup_id: str, clone_ms: int, downtime_ms: int, terminated: list[dict[str, Any]],
                comment: str) -> None:
        cur, name = self.cur, self.name
        count_started = time.monotonic()
        conn = self.target.on(name).connect("pg_backup clone check", autocommit=True)
        try:
            with conn.cursor() as ccur:
                ccur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                tables = all_tables(ccur)
                counts = count_rows(ccur, [t.key for t in tables if t.has_data])
                info = database_info(ccur, int(conn.server_version))
                ledger = ledger_state(ccur, self.p["ledger_schema"], self.p["ledger_table"])
                ccur.execute("ROLLBACK")
        finally:
            conn.close()
        count_ms = int((time.monotonic() - count_started) * 1000)
        set_allow_connections(cur, name, False)  # nobody changes a recovery point by accident
        size = database(cur, name)["size_bytes"]
        clone_info = {"database": name, "source": self.source, "strategy": self.p["clone_strategy"],
                      "size_bytes": size, "downtime_ms": downtime_ms, "clone_ms": clone_ms, "count_ms": count_ms,
                      "terminated_sessions": terminated}
        info["clone_of"] = info.pop("name")
        info["name"] = self.source
        server_num = int(self.conn.server_version)
        manifest = new_manifest(
            backup_id, self.label, "clone", "clone", self.now.isoformat(), self.p, scope="full", tables=None,
            verification={"depth": "clone", "tables": len(tables)}, archive=None, clone=clone_info,
            server={"version": server_version_text(server_num), "version_num": server_num},
            database=info, row_counts=counts, ledger=ledger)
        path, removed = store(self.backup_dir, manifest, self.p.get("keep_last") or 0,
                              lambda m: drop_recovery_point(cur, m, self.source), self.result["warnings"], self.source,
                              result=self.result)
        cur.execute(comment_sql(name, comment))  # the final comment: recorded, the journal entry is gone
        self.result.update(changed=True, backup_id=backup_id, path=None, manifest=path, manifest_data=manifest,
                           database=name, size_bytes=size, downtime_ms=downtime_ms, clone_ms=clone_ms,
                           row_counts=counts, removed=removed, terminated_sessions=terminated,
                           ledger_version=ledger.get("last_applied_version"),
                           duration_ms=downtime_ms + count_ms)


def recovery_point_of(cur: Any, manifest: dict[str, Any], source: str) -> dict[str, Any]:
    """The database a clone manifest names, checked before anything drops or renames it: a database other than
    ``source``, that exists and is the recovery point of ``source`` the manifest says (its comment names that
    source and exactly that backup id). BackupError saying what is wrong otherwise."""
    name = manifest["clone"]["database"]
    backup_id = manifest["backup_id"]
    if manifest["clone"]["source"] != source:
        raise BackupError("backup %s is a recovery point of %s, not of %s"
                          % (backup_id, manifest["clone"]["source"], source))
    if name == source:
        raise BackupError("the manifest of backup %s names %s itself as its recovery point database: a database is "
                          "never dropped or renamed on a manifest's word alone" % (backup_id, name))
    row = database(cur, name)
    if row is None:
        raise BackupError("the recovery point database %s of backup %s no longer exists" % (name, backup_id))
    match = _COMMENT.match(row["comment"] or "")
    if row["is_template"] or match is None or match.group("source") != source or \
            match.group("backup_id") != backup_id:
        raise BackupError("database %s is not the recovery point %s of %s (its comment is %r): left alone"
                          % (name, backup_id, source, row["comment"]))
    return row


def drop_recovery_point(cur: Any, manifest: dict[str, Any], source: str) -> None:
    """Retention: drop a recovery point's database, only if it is the one its manifest names (a database that
    is gone already is fine)."""
    if database(cur, manifest["clone"]["database"]) is None:
        return
    recovery_point_of(cur, manifest, source)
    drop_database(cur, manifest["clone"]["database"])
