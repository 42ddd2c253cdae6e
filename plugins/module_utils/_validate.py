# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_validate: the runbook's ``validate --phase schema|data`` as data, read-only on the database.

Order (``ValidateJob.plan``): options -> one autocommit connection whose transactions are READ ONLY by default
(``default_transaction_read_only``), with a lock_timeout so a check never queues the application behind it -> the
versions to validate (the ledger's applied and baselined ones, or ``versions``) and their expectation files
(``_validate_expect``) -> the schema phase's checks and the data phase's invariants; beside them (``workers=2``) or
after them, on connections of their own, the generic checks (``_validate_generic``) and the snapshot compare
(``_snapshot_compare``) -> the plan of a snapshot take (the tables
resolved, the file it would write). ``apply`` takes the snapshot (``_snapshot``): the only write, a file in the
backup directory. A snapshot file already there is kept (a rerun after a failed migration must not replace the
pre-migration snapshot with a later one) unless ``snapshot_overwrite``.

Any failing check fails the module (``fail_on=fail``), with the failing checks named and the whole result beside
the message; in check mode too, since the checks only read.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    check_backup_dir,
    private_dir,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._details import LIMIT, write_details
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import Ledger
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_duration
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import reporter
from ansible_collections.knowledgehub.migration.plugins.module_utils._snapshot import (
    SnapshotError,
    begin,
    check_keep_last,
    plan_take,
    read,
    snapshot_path,
    store,
    take_document,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._snapshot_compare import compare
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_expect import (
    HANDOFF_OPTION,
    catalog_facts,
    check,
    expectation_files,
    invariant_checks,
    handed_files,
    load_expectations,
    new_tables,
    not_checked_keys,
    schema_checks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_generic import generic_checks

PHASES = ("schema", "data", "all")
ORDER = {"fail": 0, "warn": 1, "pass": 2}


class ValidationFailed(Failure):
    """At least one check failed."""


def check_options(params: dict[str, Any]) -> dict[str, Any]:
    """The options, checked before anything is read."""
    opts = dict(params)
    opts["statement_timeout"] = check_duration("statement_timeout", params["statement_timeout"])
    opts["lock_timeout"] = check_duration("lock_timeout", params["lock_timeout"])
    check_keep_last(params["snapshot_keep_last"])
    if params["orphan_check_max_rows"] < 0:
        raise OptionError("orphan_check_max_rows=%s must not be negative." % params["orphan_check_max_rows"])
    for version in params.get("versions") or []:
        if not str(version).isdigit():
            raise OptionError("versions: %r is not a version (digits, e.g. 004)." % version)
    if params["snapshot"] == "compare" and params["phase"] == "schema":
        raise OptionError("snapshot=compare belongs to the data phase: use phase=data or phase=all.")
    if params["snapshot"] != "none":
        if not params.get("backup_dir"):
            raise OptionError("snapshot=%s needs backup_dir (where <run_id>.snapshot.json is)." % params["snapshot"])
        opts["snapshot_file"] = snapshot_path(check_backup_dir(params["backup_dir"]), params.get("run_id") or "")
        if params["snapshot"] == "take" and not params.get("snapshot_tables"):
            raise OptionError("snapshot=take needs at least one table in snapshot_tables.")
    directory = params.get("expectations_dir")
    if not directory and params.get("migrations_dir"):
        directory = os.path.join(params["migrations_dir"], "expectations")
    opts["expectations_dir"] = directory
    return opts


def ledger_versions(conn: Any, schema: str, table: str) -> list[tuple[str, str]] | None:
    """(version, name) applied or baselined in the ledger, in version order; None without a ledger."""
    ledger = Ledger(conn, schema, table)
    if not ledger.exists():
        return None
    ledger.check_shape()
    present: dict[int, tuple[str, str]] = {}
    for row in ledger.rows():
        if row["status"] in ("applied", "baseline") and str(row["version"]).isdigit():
            present[int(row["version"])] = (row["version"], row["name"])
    return [present[v] for v in sorted(present)]


class ValidateJob(Job):
    """The checks of a phase, a snapshot compare, and the plan of a snapshot take (see the module's docstring)."""

    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.params = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.conn: Any = None
        self.snap_conn: Any = None
        self.second_conn: Any = None
        self.generic_conn: Any = None
        self.opts: dict[str, Any] = {}
        self.full: dict[str, Any] = {}
        self._tables: list[tuple[str, str]] = []

    def close(self) -> None:
        for conn in (self.conn, self.generic_conn, self.snap_conn, self.second_conn):
            if conn is not None and not conn.closed:
                conn.close()

    def _connect(self, purpose: str, autocommit: bool) -> Any:
        conn = self.target.connect("pg_validate %s" % purpose, autocommit=autocommit)
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = on")
            cur.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                        (self.opts["lock_timeout"], self.opts["statement_timeout"]))
        if not autocommit:
            conn.commit()
        return conn

    # -- plan -------------------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        self.opts = opts = check_options(self.params)
        phase = opts["phase"]
        self.conn = self._connect("checks", autocommit=True)
        checks: list[dict[str, Any]] = []
        versions = self._versions(checks)
        expectations = self._expectations(versions, checks)
        # The generic checks and the snapshot compare read on connections of their own: beside the expectation
        # checks with workers=2 (one lane each), after them with 1. The checks keep the same order either way.
        with ThreadPoolExecutor(max_workers=1) as pool:
            beside = pool.submit(self._second_lane, phase) if opts["workers"] > 1 else None
            result = self._checks(phase, versions, expectations, checks)
            lane_checks, found = beside.result() if beside else self._second_lane(phase)
            checks += lane_checks
            result.update(found)
        if opts["snapshot"] == "take":
            self._plan_take(result)
        self.full["checks"] = checks
        result.update(self._summarise(checks))
        if self.check_mode:
            return self._finish(result)
        return result

    def _checks(self, phase: str, versions: list[tuple[str, str]], expectations: list[tuple[str, dict[str, Any]]],
                checks: list[dict[str, Any]]) -> dict[str, Any]:
        """The expectation files' checks of ``phase`` and the generic checks (added to ``checks``) on the checks'
        connection; returns the result's head."""
        opts = self.opts
        with self.conn.cursor() as cur:
            facts = catalog_facts(cur)
        for number, (label, data) in enumerate(expectations):
            reporter().report("validate %s" % self.target.dbname, number, len(expectations), "expectation files", label)
            if phase in ("schema", "all"):
                checks += schema_checks(data, label, facts)
            if phase in ("data", "all"):
                checks += invariant_checks(self.conn, data, label, opts["statement_timeout"], opts["lock_timeout"])
        return {
            "changed": False, "phase": phase, "database": self.target.dbname,
            "versions": [v for v, _name in versions],
            "expectations": [{"file": label, "not_checked": not_checked_keys(data)} for label, data in expectations],
            "new_table_count": len(new_tables(expectations, facts)),
        }

    def _second_lane(self, phase: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The generic checks (``_validate_generic``) on a connection of their own, then the snapshot compare when
        asked: their checks, and what the compare adds to the result."""
        opts = self.opts
        reporter().report("validate %s" % self.target.dbname, note="the generic checks")
        self.generic_conn = self._connect("generic checks", autocommit=True)
        checks = generic_checks(self.generic_conn, phase, opts["statement_timeout"], opts["lock_timeout"],
                                opts["orphan_check_max_rows"])
        if opts["snapshot"] != "compare":
            return checks, {}
        found_checks, found = self._compare()
        return checks + found_checks, found

    def _versions(self, checks: list[dict[str, Any]]) -> list[tuple[str, str]]:
        if self.opts.get("versions"):
            return [(str(v), "") for v in sorted(self.opts["versions"], key=int)]
        found = ledger_versions(self.conn, self.opts["ledger_schema"], self.opts["ledger_table"])
        if found is None:
            checks.append(check("ledger", "schema", "warn", None, "%s.%s" % (
                self.opts["ledger_schema"], self.opts["ledger_table"]), "no ledger %s.%s: no version to validate "
                "against its expectations (give versions, or run pg_migrate first)" % (
                    self.opts["ledger_schema"], self.opts["ledger_table"])))
            return []
        return found

    def _expectations(self, versions: list[tuple[str, str]],
                      checks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        if not versions:
            return []
        handed = self.params.get(HANDOFF_OPTION)
        source, directory = self.params.get("expectations_source"), self.opts["expectations_dir"]
        missing = None  # where no expectations directory was found, when none was
        if handed is not None:  # read on the controller from expectations_source (the action plugin)
            files, where = handed_files(handed), source or "expectations_source"
        elif source:  # given, but no directory there on the controller
            missing = " %s on the controller" % source
        elif not directory or (not self.params.get("expectations_dir") and not os.path.isdir(directory)):
            missing = " (%s)" % directory if directory else " given (expectations_source, migrations_dir or " \
                "expectations_dir)"
        else:
            files = {v: (os.path.basename(p), p) for v, p in expectation_files(directory).items()}
            where = directory
        if missing is not None:
            checks.append(check("expectations", "schema", "warn", None, source or directory, "no expectations "
                                "directory%s: versions %s are validated by the generic checks only"
                                % (missing, ", ".join(v for v, _n in versions))))
            return []
        out = []
        for version, name in versions:
            found = files.get(int(version))
            if found is None:
                what = "%s_%s" % (version, name) if name else version
                checks.append(check("expectations %s" % what, "schema", "warn", None, "%s_*.yml" % version,
                                    "no expectation file for %s in %s: only the generic checks cover it" % (
                                        what, where)))
                continue
            label, content = found
            out.append((label, content if handed is not None else load_expectations(content)))
        return out

    def _compare(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The snapshot compare on its own connection: its checks, and what it adds to the result."""
        path = self.opts["snapshot_file"]
        try:
            document = read(path)
        except SnapshotError as exc:
            return [check("snapshot", "data", "fail", None, path, exc.message)], {}
        started = time.monotonic()
        reporter().report("validate %s" % self.target.dbname, note="compare with the snapshot of %d table(s)"
                          % len(document.get("tables") or {}))
        self.snap_conn = self._connect("snapshot compare", autocommit=False)
        begin(self.snap_conn, self.opts["statement_timeout"], self.opts["lock_timeout"])
        try:
            found = compare(self.snap_conn, document, self.opts["snapshot_rehash"])
        finally:
            self.snap_conn.rollback()
        found_checks = found.pop("checks")
        differences = found.pop("differences")
        self.full["snapshot_differences"] = differences
        found.update(path=path, taken_at=document.get("taken_at"), duration_ms=int((time.monotonic() - started) * 1000))
        return found_checks, dict(data_preserved_percent=found["data_preserved_percent"], snapshot_comparison=found,
                                  snapshot_differences=differences[:LIMIT],
                                  snapshot_differences_total=found["differences_total"])

    def _plan_take(self, result: dict[str, Any]) -> None:
        with self.conn.cursor() as cur:
            self._tables, result["snapshot"] = plan_take(cur, self.opts["snapshot_tables"], self.opts["snapshot_file"],
                                                         self.opts["snapshot_overwrite"])
        result["changed"] = result["snapshot"]["action"] == "write"

    # -- apply ------------------------------------------------------------------------------------

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        result = dict(plan)
        snap = plan.get("snapshot")
        if snap and snap["action"] == "write":
            private_dir(self.params["backup_dir"], result)
            started = time.monotonic()
            reporter().report("snapshot of %s" % self.target.dbname, note="%d table(s)" % len(self._tables))
            self.snap_conn = self._connect("snapshot take", autocommit=False)
            taken_at = begin(self.snap_conn, self.opts["statement_timeout"], self.opts["lock_timeout"])
            try:
                if self.opts["snapshot_readers"] > 1:  # a second reader in the same snapshot, for the large tables
                    with self.snap_conn.cursor() as cur:
                        cur.execute("SELECT pg_export_snapshot()")
                        exported = cur.fetchone()[0]
                    self.second_conn = self._connect("snapshot take (second reader)", autocommit=False)
                    begin(self.second_conn, self.opts["statement_timeout"], self.opts["lock_timeout"], exported)
                content = take_document(self.snap_conn, self._tables, self.opts["snapshot_exclude_columns"],
                                        self.params["run_id"], self.target.dbname, taken_at, self.second_conn)
            finally:
                self.snap_conn.rollback()
            result["snapshot"] = store(snap["path"], content, self.params["snapshot_keep_last"],
                                       time.monotonic() - started)
        return self._finish(result)

    # -- the end ----------------------------------------------------------------------------------

    def _summarise(self, checks: list[dict[str, Any]]) -> dict[str, Any]:
        counts = {s: sum(c["status"] == s for c in checks) for s in ("pass", "warn", "fail")}
        chosen = checks
        if len(checks) > LIMIT:
            chosen = sorted(checks, key=lambda c: ORDER[c["status"]])[:LIMIT]
        return {"checks": chosen, "checks_total": len(checks), "checks_left_out": len(checks) - len(chosen),
                "counts": dict(counts, total=len(checks)), "ok": counts["fail"] == 0,
                "failed_checks": [c["name"] for c in checks if c["status"] == "fail"]}

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.params.get("details_file"):
            result["details_file"] = write_details(self.params["details_file"], dict(
                self.full, database=self.target.dbname, phase=result["phase"]))
        if result["ok"] or self.opts["fail_on"] == "never":
            return result
        failing = [c for c in self.full["checks"] if c["status"] == "fail"]
        text = "; ".join(c["message"] for c in failing[:10])
        if len(failing) > 10:
            text += "; and %d more (see checks)" % (len(failing) - 10)
        raise ValidationFailed("Validation of database %s (phase %s) failed: %d check(s) failed: %s."
                               % (self.target.dbname, result["phase"], len(failing), text), result)
