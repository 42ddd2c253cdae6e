# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every restore does before its mode's work: the backup found and checked, proven to be the target's.
The modes: ``_restore_database`` (swap, new_database, in_place, a clone recovery point swapped back) and
``_restore_tables`` (chosen tables).

Order of a restore: find the backup (its manifest, checked for the fields its kind
needs; dumps and clones only) -> settle what an interrupted run left on the server
(``_db_states``) -> the backup must be of the target: the database's name, and the
identity of its migration history (the ledger's first run) when both sides have a
ledger, unless ``allow_other_database`` (recorded, warned) -> the archive, a plain
name inside the backup directory, must match its manifest (sha256 and size) -> the
backup must suit the mode -> connect, choose the client programs -> the archive's
table of contents must hold every table entry the manifest lists -> what would be
restored where, and the command line (this is the plan; check mode ends here) ->
the mode's restore, checked against the manifest's row counts.
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
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import BackupError
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import count_rows, ledger_state
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import (
    Client,
    client_target,
    major_key,
    major_of,
    parse_version,
    run_checked,
    select_client,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._db_states import (
    Journal,
    settle_into,
    settle_on,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import RESTORABLE, archive_path, find_backup
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_duration
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import path_size, reader_ticker
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import ConnectionFailure, Target

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


def _backup_identity(manifest: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The identity of the backup's migration history, or why there is none to compare."""
    ledger = manifest.get("ledger") or {}
    if "identity" not in ledger:
        return None, "the backup's manifest does not record its ledger's identity (written before pg_backup did)"
    if not ledger.get("exists"):
        return None, "the backup predates the ledger (it holds no %s)" % ledger.get("table")
    if not ledger["identity"]:
        return None, "the backup's ledger %s is empty or not this tool's" % ledger.get("table")
    return ledger["identity"], None


def _history(identity: dict[str, Any]) -> str:
    return "%s (started %s)" % (identity.get("run_id"), identity.get("started_at"))


class Restore(Job):
    """What every restore does before its mode's work: find the backup and check it, connect, choose the client,
    check the archive's entries. ``plan_mode`` and ``apply_mode`` are the mode's."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.mode: str = params["mode"]
        self.live: str = self.target.dbname
        self.result: dict[str, Any] = {"changed": False, "mode": self.mode, "database": self.live, "warnings": []}
        self.manifest_file = ""
        self.manifest: dict[str, Any] = {}
        self.stack = ExitStack()
        self.cur: Any = None  # on the maintenance database (or the live one, for in_place and tables)
        self.journal: Journal | None = None  # swap, new_database, clone: the states this run puts databases in
        self.client: Client | None = None
        self.env: dict[str, str] = {}
        self.client_side = self.target  # the target as the client programs reach it
        self.path = ""
        self.checked: tuple[dict[str, Any], dict[str, Any] | None] | None = None  # the archive, checked by the caller

    def close(self) -> None:
        self.stack.close()

    def connect(self, dbname: str, purpose: str) -> Any:
        """An autocommit connection to ``dbname``, closed with the job."""
        conn = self.target.on(dbname).connect(purpose, autocommit=True)
        self.stack.callback(conn.close)
        return conn

    @property
    def operation(self) -> str:
        """What failures say this run was doing."""
        return "restore backup %s" % self.manifest.get("backup_id")

    def dsn(self, dbname: str) -> str:
        return self.client_side.on(dbname).conninfo(application=APPLICATION)

    def restore_with(self, argv: list[str], what: str) -> None:
        """Run the restoring client program; its warnings and duration go to the result."""
        tick = reader_ticker("pg_restore of %s" % self.manifest.get("backup_id"), path_size(self.path), what)
        result, warnings = run_checked(self.client, argv, self.env, what, self.target.password, tick=tick)
        self.result["warnings"].extend(warnings)
        self.result["restore_ms"] = int(result.seconds * 1000)

    # -- the plan -----------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        if self.mode not in MODES:
            raise BackupError("mode=%r is not one of %s." % (self.mode, ", ".join(MODES)))
        kind = self.p.get("kind")
        try:
            self.manifest_file, self.manifest = find_backup(
                self.p.get("manifest"), self.p.get("backup_dir"), self.p.get("label") or self.live,
                kind if kind in RESTORABLE else None, self.result["warnings"])
        except BackupError as exc:
            raise BackupError("Cannot restore: %s Nothing was changed." % exc.message, exc.details) from None
        self.result.update(backup_id=self.manifest["backup_id"], manifest=self.manifest_file,
                           kind=self.manifest["kind"], format=self.manifest["format"])
        clone = self.manifest["kind"] == "clone"
        if clone and self.mode != "swap":
            raise BackupError("Backup %s is a clone recovery point: it restores by mode=swap only."
                              % self.manifest["backup_id"])
        maintenance_db = self.p.get("maintenance_db") or "postgres"
        if clone or self.mode in ("swap", "new_database"):
            self.cur = self.connect(maintenance_db, "pg_restore").cursor()
            settle_into(self.result, self.cur, self.check_mode)  # the one write before the plan: a crash's leftovers
            self.journal = Journal(self.cur, "pg_restore mode=%s into %s" % (self.mode, self.live))
        else:
            settle_on(self.target, maintenance_db, self.check_mode, self.result)
        self._check_identity()
        if clone:
            return self.plan_clone_swap()
        started = time.monotonic()
        try:
            self.path = archive_path(self.manifest_file, self.manifest)
        except BackupError as exc:
            raise BackupError("Cannot restore: %s Nothing was changed." % exc.message) from None
        digest, scan = self.checked or check_archive(self.path, self.manifest)
        self.result["integrity"] = {"sha256": digest["sha256"], "size_bytes": digest["size_bytes"],
                                    "ms": int((time.monotonic() - started) * 1000)}
        self._check_backup_suits_mode()
        settings = dict(self.p["session_settings"] if self.p.get("session_settings") is not None
                        else DEFAULT_SETTINGS)
        if self.mode in ("in_place", "tables") and self.p.get("lock_timeout"):
            settings.setdefault("lock_timeout", check_duration("lock_timeout", self.p["lock_timeout"]))
        if self.cur is None:
            self.cur = self.connect(self.live, "pg_restore").cursor()
        self.env = self.stack.enter_context(self.target.client_env(settings))
        self.result["session_settings"] = settings
        entries = self._client_and_entries(self.cur.connection, scan)
        return self.plan_mode(entries)

    def _check_identity(self) -> None:
        """The backup must be of the target: its database's name, and its migration history's identity when both
        sides have a ledger. A mismatch is refused before anything is written, unless allow_other_database."""
        backup_id, backup_db = self.manifest["backup_id"], self.manifest["database"]["name"]
        theirs, why_not = _backup_identity(self.manifest)
        ours, live_why_not = self._live_identity()
        identity = {"backup_database": backup_db, "database": self.live, "names_match": backup_db == self.live,
                    "backup_ledger": theirs, "database_ledger": ours, "ledger_checked": False,
                    "ledger_matches": None, "not_checked": None, "override": False}
        problems = []
        if not identity["names_match"]:
            problems.append("backup %s is of database %s, not of %s" % (backup_id, backup_db, self.live))
        if why_not or live_why_not:
            identity["not_checked"] = "%s: the database's name decides" % (why_not or live_why_not)
        else:
            identity.update(ledger_checked=True, ledger_matches=theirs == ours)
            if theirs != ours:
                problems.append("backup %s of database %s has another migration history than %s: its ledger's first "
                                "run is %s, the database's is %s" % (backup_id, backup_db, self.live,
                                                                     _history(theirs), _history(ours)))
        self.result["identity"] = identity
        if not problems:
            return
        if not self.p.get("allow_other_database"):
            raise BackupError("Cannot restore: %s. Restoring it would put another database's data in place of %s. "
                              "Nothing was written. If that is what you mean (a copy of production for staging, "
                              "say), set allow_other_database=true." % ("; ".join(problems), self.live),
                              {"identity": identity})
        identity["override"] = True
        self.result["warnings"].append("allow_other_database=true: %s; restored into %s as asked."
                                       % ("; ".join(problems), self.live))

    def _live_identity(self) -> tuple[dict[str, Any] | None, str | None]:
        """The identity of the target's migration history (ledger_schema.ledger_table), or why there is none."""
        schema, name = self.p.get("ledger_schema") or "public", self.p.get("ledger_table") or "migration_log"
        table = "%s.%s" % (schema, name)
        try:
            conn = self.target.on(self.live).connect("pg_restore identity", autocommit=True)
        except ConnectionFailure as exc:
            return None, "the ledger of %s cannot be read (%s)" % (self.live, exc.message)
        try:
            with conn.cursor() as cur:
                state = ledger_state(cur, schema, name)
        finally:
            conn.close()
        if not state["exists"]:
            return None, "database %s has no ledger (%s)" % (self.live, table)
        if not state["identity"]:
            return None, "the ledger %s of %s is empty or not this tool's" % (table, self.live)
        return state["identity"], None

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
                                       self.target.password, self.operation)
        expected = [tuple(e) for e in (self.manifest.get("verification") or {}).get("entries") or []]
        verify_entries(has, expected, self.path, self.operation)  # type: ignore[arg-type]
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
