# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_preflight's job: the runbook's Pre-Migration Checklist run as data, read-only, the same in check mode.

``PreflightJob.plan`` connects (a read-only session: ``default_transaction_read_only``, a short
``lock_timeout`` so that a catalog read never queues behind the application), reads pg_migrate's plan
(``_preflight_plan.read_plan``) and runs every check of ``CHECKS`` in order, each a function of the job
returning one check dict (``_preflight.make_check``). ``apply`` returns the plan: there is nothing to write.

The job offers the checks what they share: ``params``, ``target``, ``conn`` (None when the connection
failed; ``connect_error`` says why), ``server_num`` / ``server_version``, the plan (``migration_plan``:
``pending`` and ``baseline`` files, or ``plan_error``), ``ledger_exists`` / ``ledger_name``, the lock
analysis of the pending files (``locks``), the relations they create (``created``) and the lint report
(``lint_report()``). A new check is a function ``check(job) -> dict`` added to ``CHECKS``; one that
needs the database says so, and is listed in ``not_checked`` when there is no connection.

A check that cannot be run (a PostgreSQL or file system error, a ``Failure``) fails with the reason,
so the gate never passes on what it did not see.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import human
from ansible_collections.knowledgehub.migration.plugins.module_utils._baseline_check import (
    baseline,
    data_integrity,
    database_health,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import all_tables, database_info
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, OptionError, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import LintError
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import plan_locks
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_non_negative
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import (
    FAIL,
    LOCK_TIMEOUT,
    PASS,
    WARN,
    PreflightFailed,
    failure_message,
    make_check,
    mb,
    summarize,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_db import (
    connection_check,
    primary_check,
    replication_check,
    sessions_check,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_host import (
    LOADAVG,
    MEMINFO,
    backup_estimate,
    cpu_check,
    cpu_count,
    disk_check,
    memory_check,
    read_text,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_plan import (
    created_by_pending,
    lint_report,
    pending_check,
    read_plan,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_rights import privileges_check
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_tools import (
    client_programs_check,
    psycopg2_check,
    squawk_check,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._server_space import clone_space
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    ConnectionFailure,
    Target,
    pgsql,
    psycopg2,
    server_version_text,
)

# The session's settings: nothing it runs can write, and no catalog read waits long behind another session.
SESSION_SETTINGS = ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "SET lock_timeout = '%s'" % LOCK_TIMEOUT,
                    "SET statement_timeout = '60s'")

THRESHOLDS = ("min_free_disk_mb", "min_free_memory_mb", "max_cpu_percent", "max_cpu_percent_fail",
              "max_transaction_age", "max_replication_lag", "backup_count", "orphan_check_max_rows")


def free_disk(job: "PreflightJob") -> dict[str, Any]:
    """Free space where the backups go, against max(min_free_disk_mb, the backups' estimate)."""
    data_bytes, n_tables, db_size, note = job.database_sizes()
    estimate = backup_estimate(data_bytes, n_tables, job.params["backup_format"], job.params["backup_compression"])
    return disk_check(job.params["backup_dir"], job.params["min_free_disk_mb"], estimate, job.params["backup_count"],
                      db_size, note)


def server_volume(job: "PreflightJob") -> list[dict[str, Any]]:
    """Room on the database server's own volume for the run's clone recovery points (``_server_space``); none
    when the run takes no clone. Short of room, or unread, is a warning: such a clone gives way to a verified dump,
    and the backup directory's check counts dumps."""
    clones = job.params.get("clone_points") or 0
    if not clones:
        return []
    _data, _tables, db_size, _note = job.database_sizes()
    size = (db_size or 0) * clones
    with job.conn.cursor() as cur:
        space = clone_space(cur, job.params, job.target.port, job.target.host or "", size)
    observed = {"free_mb": mb(space.get("free_bytes")), "measured": space["measured"],
                "path": space.get("filesystem_path")}
    threshold = {"required_mb": mb(space.get("required_free_bytes") or size), "clone_points": clones,
                 "keep_free_mb": job.params.get("keep_free_mb")}
    if space["ok"] is None:
        return [make_check("server_volume", WARN, observed, threshold, "%s; %d clone recovery point(s) need about "
                           "%s there." % (space["summary"], clones, human(size)))]
    if not space["ok"]:
        return [make_check("server_volume", WARN, observed, threshold, "The database server's volume is short for "
                           "%d clone recovery point(s): %s. Each will give way to a verified dump in the backup "
                           "directory (slower, and counted by free_disk), or free space there."
                           % (clones, space["summary"]))]
    return [make_check("server_volume", PASS, observed, threshold, "Room for %d clone recovery point(s) on the "
                       "database server's volume: %s." % (clones, space["summary"]))]


def free_memory(job: "PreflightJob") -> dict[str, Any]:
    return memory_check(read_text(MEMINFO), job.params["min_free_memory_mb"])


def cpu_load(job: "PreflightJob") -> dict[str, Any]:
    return cpu_check(read_text(LOADAVG), cpu_count(), job.params["max_cpu_percent"],
                     job.params.get("max_cpu_percent_fail"))


# name, check, needs the database connection. In the runbook's order.
CHECKS: list[tuple[str, Callable[[Any], dict[str, Any]], bool]] = [
    ("connection", connection_check, False),
    ("primary", primary_check, True),
    ("privileges", privileges_check, True),
    ("free_disk", free_disk, False),
    ("server_volume", server_volume, True),
    ("free_memory", free_memory, False),
    ("cpu_load", cpu_load, False),
    ("client_programs", client_programs_check, True),
    ("psycopg2", psycopg2_check, False),
    ("squawk", squawk_check, False),
    ("sessions", sessions_check, True),
    ("replication", replication_check, True),
    ("pending_migrations", pending_check, True),
    ("data_integrity", data_integrity, True),  # these three return a list: one check per constraint, per file
    ("database_health", database_health, True),  # and per generic check
    ("baseline", baseline, True),
]


def check_thresholds(params: dict[str, Any]) -> None:
    """The thresholds are counts and percents: none negative; the CPU fail level not below the warn level."""
    check_non_negative(params, *THRESHOLDS)
    fail_above = params.get("max_cpu_percent_fail")
    if fail_above is not None and fail_above < params["max_cpu_percent"]:
        raise OptionError("max_cpu_percent_fail=%s is below max_cpu_percent=%s: the load that fails must be at "
                          "least the load that warns." % (fail_above, params["max_cpu_percent"]))


class PreflightJob(Job):
    """One pg_preflight invocation: every check of ``CHECKS`` against one database and the host."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.conn: Any = None
        self.connect_error = ""
        self.server_num = 0
        self.server_version = ""
        self.migration_plan: Any = None
        self.plan_error = ""
        self.files: list[Any] = []
        self.ledger_exists = False
        self.locks: dict[str, Any] = {}
        self.created: set[str] = set()
        self._lint: tuple[Any, str] | None = None
        self._sizes: tuple[int | None, int, int | None, str] | None = None

    @property
    def ledger_name(self) -> str:
        ident = pgsql.Identifier(self.params.get("ledger_schema") or "public",
                                 self.params.get("ledger_table") or "migration_log")
        return ident.as_string(self.conn)

    # -- the job ------------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        check_thresholds(self.params)
        self._connect()
        if self.conn is not None:
            self._read_plan()
        checks, not_checked = self.run_checks()
        result = dict(summarize(checks, not_checked), changed=False, **self.plan_summary())
        if not result["ok"] and self.params.get("fail_on", "fail") != "never":
            raise PreflightFailed(failure_message(result, self.target.describe()), result)
        return result

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        return plan  # read-only: the report is the whole job

    def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.close()

    # -- what the checks share ------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            conn = self.target.connect("pg_preflight", autocommit=True)
        except ConnectionFailure as exc:
            self.connect_error = exc.message
            return
        with conn.cursor() as cur:
            for statement in SESSION_SETTINGS:
                cur.execute(statement)
        self.conn = conn
        self.server_num = int(conn.server_version)
        self.server_version = server_version_text(self.server_num)

    def _read_plan(self) -> None:
        try:
            found = read_plan(self.conn, self.params)
        except Failure as exc:
            self.plan_error = exc.message
            return
        except psycopg2.Error as exc:
            self.plan_error = "PostgreSQL error while reading the ledger: %s" % first_line(exc)
            return
        self.files = found["files"]
        self.ledger_exists = found["ledger_exists"]
        self.migration_plan = found["plan"]
        self.locks = plan_locks(self.migration_plan)
        self.created = created_by_pending(self.migration_plan)

    @property
    def pending(self) -> list[Any]:
        return list(self.migration_plan.pending) if self.migration_plan is not None else []

    @property
    def baselined(self) -> list[Any]:
        return list(self.migration_plan.baseline) if self.migration_plan is not None else []

    def lint_report(self) -> tuple[Any, str]:
        """(the lint gate's report or None, why it could not run or ''), computed once."""
        if self._lint is None:
            try:
                self._lint = (lint_report(self.params, self.migration_plan, self.conn), "")
            except LintError as exc:
                self._lint = (None, exc.message)
        return self._lint

    def database_sizes(self) -> tuple[int | None, int, int | None, str]:
        """(table data bytes, tables, database bytes, a note when something could not be read), once."""
        if self._sizes is None:
            self._sizes = self._read_sizes()
        return self._sizes

    def _read_sizes(self) -> tuple[int | None, int, int | None, str]:
        if self.conn is None:
            return None, 0, None, "; no connection"
        with self.conn.cursor() as cur:
            db_size = database_info(cur, self.server_num)["size_bytes"]
            try:
                tables = all_tables(cur)
            except psycopg2.Error as exc:
                # a table locked ACCESS EXCLUSIVE by another session: the database's size is an upper bound
                return db_size, 0, db_size, "; table sizes unreadable (%s), the database's size taken instead" % (
                    first_line(exc))
        return sum(t.size for t in tables), len(tables), db_size, ""

    def run_checks(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every check in order; those needing the database are listed apart when there is no connection."""
        checks, not_checked = [], []
        for name, check, needs_database in CHECKS:
            if needs_database and self.conn is None:
                not_checked.append(name)
                continue
            try:
                found = check(self)
                checks.extend(found if isinstance(found, list) else [found])
            except Failure as exc:
                checks.append(make_check(name, FAIL, None, None, "Could not be checked: %s" % exc.message))
            except psycopg2.Error as exc:
                checks.append(make_check(name, FAIL, None, None,
                                         "Could not be checked: PostgreSQL error: %s" % first_line(exc)))
            except OSError as exc:
                checks.append(make_check(name, FAIL, None, None, "Could not be checked: %s" % exc))
        return checks, not_checked

    def plan_summary(self) -> dict[str, Any]:
        """What the migration would do, for the result: versions pending and baselined, the server."""
        return {"server_version": self.server_version or None,
                "pending": [m.describe() for m in self.pending],
                "baselined": [m.describe() for m in self.baselined],
                "plan_error": self.plan_error or None}


__all__ = ["CHECKS", "SESSION_SETTINGS", "THRESHOLDS", "PreflightJob", "check_thresholds"]
