# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_migrate's run as a job: the plan check mode reports, and the run under the advisory lock.

Order of a run (``apply``): discover files -> connect -> take the run lock ->
mark rows a dead runner left 'running' -> read the ledger and plan (drift,
baseline, order) -> gate (every pending file splits cleanly, the lint gate)
-> create the ledger / record the baseline -> apply each pending file in its
own transaction, whose last statement flips its ledger row to 'applied'
(``_runner_file``). Everything up to the first write happens under the lock,
so a concurrent run always plans from what the previous one left.

Check mode (``plan``) reads the same things without the lock and without
writing, and adds the locks each pending statement would take. A real run's
``plan`` only discovers the files and connects: planning outside the lock
could read a ledger another run is changing.

Anything found wrong before the first migration leaves the database untouched.
A failure leaves with the failed result in its details: the ``failure`` (for
a migration that ran), and what the run applied and learnt before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.knowledgehub.migration.plugins.module_utils._analyze import (
    analyze_tables,
    analyze_warnings,
    touched_tables,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import Ledger, LedgerError
from ansible_collections.knowledgehub.migration.plugins.module_utils._details import (
    locks_summary,
    lock_table,
    lint_summary,
    write_details,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import (
    LintError,
    LintReport,
    find_squawk,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_handoff import handed_of
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_live import lint_live
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import plan_locks
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import (
    MigrationError,
    MigrationFile,
    discover,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor import start_monitor
from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor_policy import monitor_settings
from ansible_collections.knowledgehub.migration.plugins.module_utils._plan import Plan, make_plan
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import reporter
from ansible_collections.knowledgehub.migration.plugins.module_utils._own_tables import other_table_count
from ansible_collections.knowledgehub.migration.plugins.module_utils._runner_file import (
    FileRun,
    MigrationFailed,
    run_options,
    run_record,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    ConnectionFailure,
    Target,
    psycopg2,
)


@dataclass
class RunResult:
    changed: bool = False
    ledger_created: bool = False
    baselined: list[dict[str, Any]] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    already_applied: list[dict[str, Any]] = field(default_factory=list)
    beyond_target: list[dict[str, Any]] = field(default_factory=list)
    interrupted: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    lint: dict[str, Any] = field(default_factory=dict)
    locks: dict[str, Any] = field(default_factory=dict)
    lock_table: dict[str, Any] = field(default_factory=dict)
    details_file: str = ""
    run_id: str = ""
    monitor: dict[str, Any] = field(default_factory=dict)
    analyze: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()})
    return out


class MigrationJob(Job):
    """One pg_migrate invocation against one database."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.options: dict[str, Any] = dict(params)
        self.files: list[MigrationFile] = []
        self.ignored: dict[str, str] = {}
        self.run: dict[str, Any] = {}
        self.result = RunResult()
        self.ledger: Ledger | None = None
        self.details: dict[str, Any] = {}

    # -- the job --------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        """Check mode: the plan, the gate and the locks, read without the lock. A real run: files and connection."""
        self.options = run_options(self.params)
        self.options.update(monitor_settings(self.params))
        try:
            self.files, self.ignored = discover(self.params["migrations_dir"])
        except MigrationError as exc:
            exc.details.update(changed=False, ignored_files=[], ignored_reasons={})
            raise
        # several invocations (the phases of one run) may share a run id; each ledger row it writes carries it
        self.run = run_record(self.params, self.options["run_id"], backup_ref=self.params.get("backup_ref"))
        self.result = RunResult(run_id=self.run["run_id"])
        return self._guarded(self._plan_only if self.check_mode else self._connect)

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Under the run lock: reconcile, plan again from the ledger as it is now, gate, baseline, apply."""
        return self._guarded(self._locked_run)

    def close(self) -> None:
        if self.ledger is not None and not self.ledger.conn.closed:
            self.ledger.conn.close()

    def _guarded(self, step: Callable[[], None]) -> dict[str, Any]:
        """Run ``step`` and return the result; a failure leaves with the failed result in its details."""
        try:
            try:
                step()
            except psycopg2.Error as exc:
                # the server went away between migrations (each one is committed with its ledger row)
                done = ", ".join(m["file"] for m in self.result.applied) or "none"
                raise MigrationFailed(
                    "Lost the connection to PostgreSQL between migrations: %s. Applied by this run, each committed "
                    "together with its ledger row: %s. The ledger tells the truth; rerun when the server is back."
                    % (first_line(exc), done), {"applied_before_failure": self.result.applied}) from None
        except Failure as exc:
            # what was learnt before the failure (plan, lint findings, locks) goes back with it
            failed = dict(self.result.as_dict(), changed=False, **self._ignored())
            if isinstance(exc, MigrationFailed):
                failed.update(failure=exc.details, changed=bool(exc.details.get("applied_before_failure")))
                exc.details = failed
            else:
                exc.details.update(failed)
            raise
        return dict(self.result.as_dict(), **self._ignored())

    def _ignored(self) -> dict[str, Any]:
        """The entries of migrations_dir that are neither migrations nor revert files, and why."""
        return {"ignored_files": list(self.ignored), "ignored_reasons": dict(self.ignored)}

    def _connect(self) -> None:
        self.ledger = Ledger(self.target.connect("pg_migrate control", autocommit=True),
                             self.params["ledger_schema"], self.params["ledger_table"])

    # -- planning -------------------------------------------------------------

    def _plan(self, exists: bool) -> Plan:
        rows = self.ledger.rows() if exists else []
        return make_plan(
            self.files, rows,
            baseline_version=self.params.get("baseline_version"),
            target_version=self.params.get("target_version"),
            database_is_empty=other_table_count(self.ledger.conn, self.ledger.schema, self.ledger.table) == 0,
        )

    def _report_plan(self, plan: Plan) -> None:
        self.result.already_applied = [m.describe() for m in plan.present]
        self.result.baselined = [m.describe() for m in plan.baseline]
        self.result.pending = [m.describe() for m in plan.pending]
        self.result.beyond_target = [m.describe() for m in plan.beyond_target]

    def _gate(self, plan: Plan) -> None:
        """Before anything runs: every pending file must split cleanly and pass the lint gate."""
        for migration in plan.pending:
            migration.statements()
        self._report_plan(plan)
        locks = plan_locks(plan) if self.check_mode else {}
        report = self._lint(plan)
        lint = report.as_dict() if report else {}
        # the whole analysis to the details file, summaries in the result (it stays small whatever the files)
        self.details = {"run_id": self.run["run_id"], "pending": self.result.pending, "lint": lint, "locks": locks}
        self.result.details_file = write_details(self.params.get("details_file"), self.details)
        self.result.locks = locks_summary(locks)
        self.result.lock_table = lock_table(locks) if self.check_mode else {}
        self.result.lint = lint_summary(lint)
        if report and report.blocking:
            raise MigrationError("Lint gate: %s Nothing was run." % report.blocking_message())

    def _lint(self, plan: Plan) -> LintReport | None:
        """The lint gate's report on the pending files (None when there are none or the gate is off)."""
        if not plan.pending or not self.params.get("lint", True):
            return None
        try:
            # judged against this database: a finding on a table the run creates, or on a small one, does not block
            # squawk's findings come from the controller when the action plugin linted there (lint_source)
            handed = handed_of(self.params)
            return lint_live(None if handed else find_squawk(self.params.get("squawk_path")), plan.pending,
                             self.ledger.conn, self.params.get("lint_small_table_rows", 1000),
                             levels=self.params.get("lint_levels"), accept=self.params.get("lint_accept"),
                             handed=handed)
        except LintError as exc:
            raise MigrationError("Lint gate: %s Nothing was run." % exc) from None

    def _plan_only(self) -> None:
        """Check mode: what a run would do, read without the lock; nothing is written."""
        self._connect()
        exists = self.ledger.exists()
        if exists:
            self.ledger.check_shape()
        plan = self._plan(exists)
        self._gate(plan)
        stale = [r for r in self.ledger.rows() if r["status"] == "running"] if exists else []
        self.result.interrupted = _jsonable(stale)
        self.result.ledger_created = not exists
        self.result.changed = plan.has_work or bool(stale)
        if exists:
            self.result.ledger = _jsonable(self.ledger.rows())

    # -- the real run -----------------------------------------------------------

    def _locked_run(self) -> None:
        with self.ledger.run_lock(self.options["lock_wait_timeout"]):
            self._run_locked()

    def _run_locked(self) -> None:
        exists = self.ledger.exists()
        if exists:
            self.ledger.check_shape()
            self.result.interrupted = _jsonable(
                self.ledger.reconcile_interrupted(self.options["lock_wait_timeout"]))
        plan = self._plan(exists)
        self._gate(plan)
        self.result.pending = []
        if plan.has_work and not exists:
            self.ledger.create()
            self.result.ledger_created = True
        if plan.baseline:
            self.ledger.record_baseline(self.run, plan.baseline)
        files = FileRun(self.target, self.ledger, self.run, self.options, self.result.applied)
        files.monitor = start_monitor(self.target, self.options, self.run["run_id"]) if plan.pending else None
        try:
            self._apply_files(files, plan)
        finally:
            self._monitor_done(files.monitor)
        if plan.pending and self.params.get("analyze", True):
            names, procedural = touched_tables(plan.pending)
            reporter().report("ANALYZE", note="the tables the run created or changed")
            self.result.analyze = analyze_tables(self.target, names, self.options, procedural)
            self.result.warnings.extend(analyze_warnings(self.result.analyze))
        self.result.changed = bool(plan.has_work or self.result.interrupted)
        self.result.ledger = _jsonable(self.ledger.rows())

    def _apply_files(self, files: FileRun, plan: Plan) -> None:
        """Each pending file in order, each committed with its ledger row (``FileRun``)."""
        for migration in plan.pending:
            try:
                self.result.applied.append(files.apply(migration))
            except ConnectionFailure as exc:
                done = ", ".join(m["file"] for m in self.result.applied) or "none"
                raise MigrationFailed(
                    "Lost the server before %s: %s Applied by this run, each committed with its ledger row: %s. "
                    "Nothing of %s ran. Rerun when the server is back; it continues from there."
                    % (migration.filename, exc, done, migration.filename),
                    {"file": migration.filename, "version": migration.version,
                     "applied_before_failure": self.result.applied}) from None

    def _monitor_done(self, monitor: Any) -> None:
        """The monitor stopped: its summary in the result, its whole timeline in the details file."""
        if monitor is None:
            return
        whole = monitor.stop()
        self.result.monitor = monitor.result()
        self.result.warnings.extend("monitor: %s" % w for w in whole["warnings"][:5])
        if monitor.error:
            self.result.warnings.append("monitor: %s; the migration went on without it." % monitor.error)
        if self.params.get("details_file"):
            try:
                write_details(self.params["details_file"], dict(self.details, monitor=whole))
            except Failure as exc:
                self.result.warnings.append("The monitor's timeline could not be added to details_file: %s" % exc)


__all__ = ["MigrationJob", "MigrationError", "MigrationFailed", "LedgerError", "ConnectionFailure", "RunResult"]
