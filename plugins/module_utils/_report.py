# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""migration_report: the runbook's Migration Log filled in from the run, and the figures taken before it.

Two modes. ``snapshot: before`` measures the database (size, exact record counts of ``count_tables``, the list of
tables) and writes the figures to ``<dest>/<run_id>.before.json``. The report (the default) measures the same again,
reads the run's ledger rows and recovery points, takes the before figures from that file (or ``facts.before``) and
the rest from ``facts``, and writes ``<dest>/<run_id>.md``, ``<dest>/<run_id>.json`` and, with ``html``, the page
``<dest>/<run_id>.html`` (``_report_html``; 0600, each replaced atomically), then stores the report in the table
beside the ledger (``_report_store``). Everything is measured in one REPEATABLE READ READ ONLY transaction, so the
counts and the size are of one moment.

Check mode measures and renders, and writes nothing (no file, no row).
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import json
import os
import re
import socket
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import all_tables, count_rows
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import Ledger
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_run_id
from ansible_collections.knowledgehub.migration.plugins.module_utils._own_tables import own_tables
from ansible_collections.knowledgehub.migration.plugins.module_utils._recovery_points import RecoveryPoints
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_build import build
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_html import page
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_render import markdown, stats
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_store import (
    ReportError,
    Reports,
    report_table,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target, psycopg2

# The result key of the files' texts for the action plugin's copy on the controller (``copy_to_controller``).
FILES_RESULT = "_report_files"
_NAME = re.compile(r"^(?:[a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$")


def _plain(value: Any) -> Any:
    """Rows as JSON-able values (timestamps as ISO 8601 text)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def check_tables(names: list[str]) -> list[tuple[str, str, str]]:
    """(name as given, schema, table) for each of ``count_tables``; ReportError for a name that is not plain."""
    out = []
    for name in names:
        if not _NAME.match(name or ""):
            raise ReportError("count_tables: %r is not a plain table name (table or schema.table, lower case, "
                              "letters, digits and _). Nothing was measured." % name)
        schema, _dot, table = name.rpartition(".")
        out.append((name, schema or "public", table))
    return out


def write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path``: mode 0600, through a new file of its own (never a link followed), fsynced,
    renamed into place."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def copy_to_controller(directory: str, files: dict[str, Any]) -> dict[str, str]:
    """On the controller (the action plugin): write the report files the module returned (``FILES_RESULT``: kind ->
    path on the host, text, sha256) into ``directory`` (made 0700), each as ``write_private`` writes, and check each
    copy against the sha256 of the file on the host. Returns kind -> copy; ReportError says what failed."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        copies = {}
        for kind, entry in sorted(files.items()):
            copy = os.path.join(directory, os.path.basename(entry["path"]))
            write_private(copy, entry["text"])
            with open(copy, "rb") as handle:
                if hashlib.sha256(handle.read()).hexdigest() != entry["sha256"]:
                    raise ReportError("The copy %s differs from %s on the host (sha256)." % (copy, entry["path"]))
            copies[kind] = copy
    except OSError as exc:
        raise ReportError("%s: %s" % (exc.filename or directory, exc.strerror or exc)) from None
    return copies


def check_dest(path: str) -> str:
    path = os.path.abspath(path)
    if os.path.islink(path):
        raise ReportError("dest %s is a symbolic link (to %s): reports are never written through a link; give the "
                          "real path. Nothing was written." % (path, os.readlink(path)))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ReportError("dest %s is not a directory: give a directory (it is created, mode 0700, when missing). "
                          "Nothing was written." % path)
    return path


class ReportJob(Job):
    """One migration_report invocation: measure (plan), then write the files and the row (apply)."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.conn: Any = None
        self.host = params.get("host") or socket.gethostname()
        self.html: str | None = None  # the page, written by apply (not in the result: the file is)

    def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.close()

    # -- measuring --------------------------------------------------------------------------------------------------

    def own_tables(self) -> list[str]:
        return ["%s.%s" % name for name in own_tables(self.p["ledger_schema"], self.p["ledger_table"],
                                                      reports=self.p["store"])]

    def measure(self, run_id: str, tables: list[tuple[str, str, str]]) -> dict[str, Any]:
        """Size, exact counts and tables of the database, and the run's ledger rows and recovery points, in one
        REPEATABLE READ READ ONLY transaction."""
        self.conn = self.target.connect("migration_report")
        self.conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        own = set(self.own_tables())
        with self.conn.cursor() as cur:
            cur.execute("SELECT current_database(), pg_database_size(current_database()), clock_timestamp()")
            database, size, now = cur.fetchone()
            counted = count_rows(cur, [(schema, table) for _name, schema, table in tables])
            names = [t.qualified for t in all_tables(cur) if t.qualified not in own]
        ledger = Ledger(self.conn, self.p["ledger_schema"], self.p["ledger_table"])
        rows, has_rows = [], False
        if ledger.exists():
            ledger.check_shape()
            every = ledger.rows()
            has_rows = bool(every)
            rows = [r for r in every if r["run_id"] == run_id]
        points = RecoveryPoints(self.conn, self.p["ledger_schema"], self.p["ledger_table"]).rows(run_id)
        self.conn.rollback()
        return _plain({"measured_at": now, "database": database, "database_size_bytes": int(size),
                       "record_counts": {name: counted["%s.%s" % (schema, table)] for name, schema, table in tables},
                       "tables": sorted(names), "ledger": rows, "recovery_points": points,
                       "ledger_has_rows": has_rows})

    # -- the two modes ----------------------------------------------------------------------------------------------

    def plan(self) -> dict[str, Any]:
        run_id = check_run_id(self.p["run_id"])
        if run_id is None:
            raise ReportError("run_id is empty: give the run's id (pg_migrate's run_id, a UUID). Nothing was written.")
        tables = check_tables(self.p["count_tables"])
        dest = check_dest(self.p["dest"])
        if self.p["store"]:
            report_table(self.p["ledger_table"])
        measured = self.measure(run_id, tables)
        if self.p.get("snapshot") == "before":
            snapshot = {k: measured[k] for k in ("measured_at", "database", "database_size_bytes", "record_counts",
                                                 "tables")}
            snapshot.update(run_id=run_id, host=self.host)
            return {"changed": True, "run_id": run_id, "snapshot": snapshot,
                    "paths": {"snapshot": os.path.join(dest, "%s.before.json" % run_id)}}
        return self._report(run_id, dest, measured)

    def _before(self, run_id: str, dest: str, warnings: list[str]) -> tuple[dict[str, Any] | None, str | None]:
        given = (self.p.get("facts") or {}).get("before")
        if isinstance(given, dict) and given:
            return given, "facts.before"
        path = os.path.join(dest, "%s.before.json" % run_id)
        if not os.path.isfile(path) or os.path.islink(path):
            return None, None
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            warnings.append("The snapshot before the run, %s, cannot be read (%s): the report says the figures "
                            "before the run are not measured." % (path, exc))
            return None, None
        if not isinstance(data, dict) or data.get("run_id") != run_id:
            warnings.append("%s is not the snapshot of run %s; it is not used." % (path, run_id))
            return None, None
        return data, path

    def _report(self, run_id: str, dest: str, measured: dict[str, Any]) -> dict[str, Any]:
        warnings: list[str] = []
        before, source = self._before(run_id, dest, warnings)
        context = {"host": self.host, "generated_at": measured["measured_at"], "check_mode": self.check_mode,
                   "before_source": source, "own_tables": self.own_tables()}
        report = build(run_id, self.p.get("facts") or {}, measured, before, context)
        paths = {"markdown": os.path.join(dest, "%s.md" % run_id), "json": os.path.join(dest, "%s.json" % run_id)}
        if self.p.get("html", True):
            paths["html"] = os.path.join(dest, "%s.html" % run_id)
            self.html = page(report)
        store = None
        if not self.p["store"]:
            store = "not stored: store is false"
        elif not measured["ledger_has_rows"]:
            store = ("not stored in the database: the ledger %s.%s has no history (a table of the tool there would "
                     "make an empty database look used to pg_migrate)" % (self.p["ledger_schema"],
                                                                          self.p["ledger_table"]))
        else:
            conn = self.target.connect("migration_report", autocommit=True)
            try:
                Reports(conn, self.p["ledger_schema"], self.p["ledger_table"]).check_shape()
            finally:
                conn.close()
        return {"changed": True, "run_id": run_id, "verdict": report["verdict"], "json": report,
                "markdown": markdown(report), "paths": paths, "stats": stats(report, paths),
                "stored": None, "stored_note": store, "warnings": warnings}

    # -- writing ----------------------------------------------------------------------------------------------------

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        dest = os.path.dirname(next(iter(plan["paths"].values())))
        try:
            os.makedirs(dest, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ReportError("Cannot create dest %s: %s. Nothing was written." % (dest, exc.strerror or exc)) from None
        if "snapshot" in plan:
            write_private(plan["paths"]["snapshot"], json.dumps(plan["snapshot"], indent=2, sort_keys=True) + "\n")
            return plan
        texts = {"json": json.dumps(plan["json"], indent=2, sort_keys=True, default=str) + "\n",
                 "markdown": plan["markdown"]}
        if "html" in plan["paths"] and self.html is not None:
            texts["html"] = self.html
        for kind, text in texts.items():
            write_private(plan["paths"][kind], text)
        if self.p.get("_return_files"):  # for the action plugin's copy on the controller (controller_dir)
            plan[FILES_RESULT] = {kind: {"path": plan["paths"][kind], "text": text,
                                         "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
                                  for kind, text in texts.items()}
        if plan["stored_note"] is None:
            conn = self.target.connect("migration_report", autocommit=True)
            try:
                report = plan["json"]
                plan["stored"] = Reports(conn, self.p["ledger_schema"], self.p["ledger_table"]).upsert(
                    plan["run_id"], self.host, report["migration"]["environment"], report["verdict"], report,
                    plan["markdown"], _user())
            except (Failure, psycopg2.Error) as exc:
                why = exc.message if isinstance(exc, Failure) else first_line(exc)
                raise ReportError("The report files are written (%s, %s), but storing the report in %s failed: %s. "
                                  "Rerun the report to store it." % (plan["paths"]["markdown"], plan["paths"]["json"],
                                                                     report_table(self.p["ledger_table"]), why),
                                  {"paths": plan["paths"]}) from None
            finally:
                conn.close()
        return plan


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
