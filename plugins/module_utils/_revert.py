# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_rollback's run as a job: revert the versions above a target through their revert files.

Order of a run (``apply``): discover the files -> connect -> take the run lock (pg_migrate's: a migration
and a rollback never overlap) -> mark rows a dead runner left 'running' -> read the ledger and plan
(``_revert_plan``: versions, files, order, drift; every revert file split and checked) -> each revert file
in its own transaction, whose last statement turns the ledger rows of the versions it reverts
'rolled_back' (``RevertRun``, pg_migrate's ``FileRun`` with the revert's ledger bookkeeping). A failure
stops the run there: that file's transaction is rolled back, the files before it stay reverted.

The ledger rows keep the run id of the run that applied them: the first row's run id and start are the
identity of the ledger's history (pg_restore compares them), and the row says who applied it. The revert is
recorded beside it, in the row's note column (``error``): the run id of this run, the revert file and its
sha256, who ran it, from where, the job id; ``rolled_back_at`` says when.

Check mode (``plan``) reads the same things without the lock and without writing, and returns the plan.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ansible_collections.knowledgehub.migration.plugins.module_utils._details import LIMIT
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import Ledger
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import MigrationFile, discover
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._revert_plan import (
    RevertError,
    RevertFile,
    Step,
    check_target,
    down_files,
    plan_revert,
    read_revert_file,
    resolve_script,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._runner_file import (
    FileRun,
    MigrationFailed,
    Progress,
    run_options,
    run_record,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    ConnectionFailure,
    Target,
    pgsql,
    psycopg2,
)


# In the revert's transaction: the rows of the versions it reverts. 'rolled_back' is allowed because a revert
# script may turn them itself (rollback_004_005.sql does, for its use by hand), in the same transaction.
_FLIP = ("UPDATE {table} SET status = 'rolled_back', rolled_back_at = coalesce(rolled_back_at, clock_timestamp()), "
         "error = concat_ws('; ', error, %s) "
         "WHERE id = ANY(%s) AND status IN ('applied', 'baseline', 'failed', 'rolled_back')")


class RevertRun(FileRun):
    """Runs one revert file in one transaction (with pg_migrate's sessions, timeouts, lock retries and failure
    report); the ledger rows of the versions it reverts turn 'rolled_back' as its transaction's last statement."""

    kind = "Revert file"

    def __init__(self, target: Target, ledger: Ledger, run: dict[str, Any], options: dict[str, Any],
                 reverted: list[dict[str, Any]]) -> None:
        super().__init__(target, ledger, run, options, reverted)
        self.step: Step | None = None

    def revert(self, step: Step) -> dict[str, Any]:
        self.step = step
        done = self.apply(step.file)
        for key in ("transactional", "resumed_at", "version", "name"):
            done.pop(key, None)
        done["reverted"] = [row["version"] for row in step.rows]
        return done

    @staticmethod
    def _session_name(migration: MigrationFile) -> str:
        return "pg_rollback %s" % migration.filename

    def _open_row(self, migration: MigrationFile, backend_pid: int, first: int) -> int | None:
        return None  # a revert has no row of its own: the rows it reverts turn in its transaction

    def _finish(self, cur: Any, statements: list[Any], progress: Progress) -> None:
        rows = self.step.rows
        run = self.run
        note = "rolled back by pg_rollback run %s with %s (sha256 %s), by %s from %s%s" % (
            run["run_id"], self.step.file.filename, self.step.file.checksum, run["executed_by"],
            run["executed_from"], ", job %s" % run["job_id"] if run.get("job_id") else "")
        cur.execute(pgsql.SQL(_FLIP).format(table=self.ledger.ident), (note, [r["id"] for r in rows]))
        if cur.rowcount != len(rows):
            # a Failure, not a database error: apply() closes the session, which rolls the transaction back
            raise RevertError(
                "The ledger rows of %s (%s) changed under the transaction of %s: only %d of %d could be turned "
                "rolled_back. The transaction was rolled back, nothing of %s is reverted. Does the revert file "
                "change %s itself? Nothing else may while the run lock is held."
                % (", ".join(r["version"] for r in rows), ", ".join("row %s" % r["id"] for r in rows),
                   self.step.file.filename, cur.rowcount, len(rows), self.step.file.filename,
                   self.ledger.qualified_name))

    def _record_failure(self, migration: MigrationFile, row_id: int | None, lost: bool, error: str) -> str:
        rows = self.step.rows
        kept = ", ".join("%s %s (row %s)" % (r["version"], r["status"], r["id"]) for r in rows)
        undone = ("Its transaction was rolled back: nothing of %s is reverted, and the ledger still says %s. Revert "
                  "files run before it stay reverted, each committed with its ledger rows."
                  % (migration.filename, kept))
        if not lost:
            return undone + " Fix the cause and rerun: the run continues with this file."
        try:
            flipped = _flipped(self.ledger, rows)
        except psycopg2.Error:
            try:
                control = self.target.connect("pg_rollback recovery", autocommit=True)
            except ConnectionFailure:
                return ("The server is unreachable (%s). The ledger rows are committed together with the revert, "
                        "so the ledger tells whether %s was reverted once the server is back: rerun then, it "
                        "continues from there." % (self.target.describe(), migration.filename))
            try:
                flipped = _flipped(Ledger(control, self.ledger.schema, self.ledger.table), rows)
            finally:
                control.close()
        if flipped:
            return ("The connection dropped after the commit reached the server: %s IS reverted and the ledger "
                    "says so. Rerun to continue with the next revert file." % migration.filename)
        return "The connection was lost. %s Rerun when the server is healthy." % undone


def _flipped(ledger: Ledger, rows: list[dict[str, Any]]) -> bool:
    return all(ledger.status_of(r["id"]) == "rolled_back" for r in rows)


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]


class RollbackJob(Job):
    """One pg_rollback invocation against one database."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.options: dict[str, Any] = dict(params)
        self.files: list[MigrationFile] = []
        self.ignored: dict[str, str] = {}
        self.script: RevertFile | None = None
        self.target_version = 0
        self.run: dict[str, Any] = {}
        self.ledger: Ledger | None = None
        self.result: dict[str, Any] = dict(changed=False, run_id="", target_version=params.get("target_version"),
                                           plan=[], plan_total=0, reverted=[], interrupted=[], ledger=[])

    # -- the job --------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        """Check mode: the plan, read without the lock. A real run: the files, the options and the connection."""
        return self._guarded(self._plan_only if self.check_mode else self._prepare)

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Under the run lock: reconcile, plan again from the ledger as it is now, revert file by file."""
        return self._guarded(self._locked_run)

    def close(self) -> None:
        if self.ledger is not None and not self.ledger.conn.closed:
            self.ledger.conn.close()

    def _prepare(self) -> None:
        """Options, files and revert_script checked before connecting; then the control connection."""
        self.options = run_options(self.params)
        directory = self.params["migrations_dir"]
        self.files, self.ignored = discover(directory)
        self.target_version = check_target(self.params.get("target_version"), self.files)
        script = resolve_script(directory, self.params.get("revert_script"))
        self.script = read_revert_file(script) if script else None
        self.run = run_record(self.params, self.options["run_id"])
        self.result["run_id"] = self.run["run_id"]
        self.ledger = Ledger(self.target.connect("pg_rollback control", autocommit=True),
                             self.params["ledger_schema"], self.params["ledger_table"])

    def _guarded(self, step: Callable[[], None]) -> dict[str, Any]:
        """Run ``step`` and return the result; a failure leaves with the result so far in its details."""
        try:
            try:
                step()
            except psycopg2.Error as exc:
                raise MigrationFailed(
                    "Lost the connection to PostgreSQL between revert files: %s. Reverted by this run, each "
                    "committed together with its ledger rows: %s. The ledger tells the truth; rerun when the "
                    "server is back, the run continues from there." % (first_line(exc), self._done()),
                    {"reverted_before_failure": self.result["reverted"]}) from None
        except Failure as exc:
            failed = dict(self.result, changed=bool(self.result["reverted"] or self.result["interrupted"]))
            if isinstance(exc, MigrationFailed):
                details = dict(exc.details)
                if "applied_before_failure" in details:
                    details["reverted_before_failure"] = details.pop("applied_before_failure")
                failed["failure"] = details
                exc.details = failed
            else:
                exc.details.update(failed)
            raise
        return dict(self.result)

    def _done(self) -> str:
        return ", ".join(r["file"] for r in self.result["reverted"]) or "none"

    # -- planning -------------------------------------------------------------

    def _require_ledger(self) -> None:
        if not self.ledger.exists():
            raise RevertError(
                "%s has no ledger table %s: nothing is recorded as applied there, so there is nothing pg_rollback "
                "can revert. Check login_db, ledger_schema and ledger_table. Nothing was changed."
                % (self.target.dbname, self.ledger.qualified_name))
        self.ledger.check_shape()

    def _steps(self) -> list[Step]:
        """The plan from the ledger as it is now; every revert file in it read and checked."""
        directory = self.params["migrations_dir"]
        names = [n for n in os.listdir(directory) if n not in self.ignored]
        steps = plan_revert(self.files, self.ledger.rows(), self.target_version, down_files(names), self.script,
                            lambda name: read_revert_file(os.path.join(directory, name)))
        self.result["plan"] = [step.describe(order) for order, step in enumerate(steps[:LIMIT], start=1)]
        self.result["plan_total"] = len(steps)
        return steps

    def _report_ledger(self, steps: list[Step]) -> None:
        versions = {row["version"] for step in steps for row in step.rows}
        rows = [r for r in self.ledger.rows() if r["version"] in versions]
        self.result["ledger"] = _jsonable(rows[-LIMIT:])

    def _plan_only(self) -> None:
        """Check mode: what a run would revert, by which file, in which order; nothing is written."""
        self._prepare()
        self._require_ledger()
        self.result["interrupted"] = _jsonable([r for r in self.ledger.rows() if r["status"] == "running"])
        steps = self._steps()
        self.result["changed"] = bool(steps or self.result["interrupted"])
        self._report_ledger(steps)

    # -- the real run -----------------------------------------------------------

    def _locked_run(self) -> None:
        with self.ledger.run_lock(self.options["lock_wait_timeout"]):
            self._run_locked()

    def _run_locked(self) -> None:
        self._require_ledger()
        self.result["interrupted"] = _jsonable(self.ledger.reconcile_interrupted(self.options["lock_wait_timeout"]))
        steps = self._steps()
        runner = RevertRun(self.target, self.ledger, self.run, self.options, self.result["reverted"])
        for step in steps:
            try:
                self.result["reverted"].append(runner.revert(step))
            except ConnectionFailure as exc:
                raise MigrationFailed(
                    "Lost the server before %s: %s Reverted by this run, each committed with its ledger rows: %s. "
                    "Nothing of %s ran. Rerun when the server is back; it continues from there."
                    % (step.file.filename, exc, self._done(), step.file.filename),
                    {"file": step.file.filename, "reverted_before_failure": self.result["reverted"]}) from None
        self.result["reverted"][:] = self.result["reverted"][-LIMIT:]
        self.result["changed"] = bool(steps or self.result["interrupted"])
        self._report_ledger(steps)


__all__ = ["RollbackJob", "RevertRun", "RevertError", "MigrationFailed"]
