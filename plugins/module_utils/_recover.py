# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recover: bring a database back to a recovery point of a migration run, safely in a panic.

Order (``Recover``): choose the run (the newest run with recovery points in the backup
directory, or ``run_id``) and its point (``before``, ``after_schema``, ``after_data``, a
backup id, or a recovery-point id of the ledger's table) -> verify it (a dump's archive
against its manifest; a clone's database is checked by the restore itself); a point that
fails is refused, naming the verified point it would use instead -> the recover journal
(``<backup_dir>/<label>.recover.json``) says whether this very point was already swapped
in and nothing has replaced the database since (then there is nothing to do) -> what the
database would lose: the ledger versions applied after the point, and per table the rows
it holds beyond the backup's (estimated from the statistics, no table is scanned) -> the
restore itself is pg_restore's swap (``_restore_database``): the restored database is
checked, then renamed in; the replaced one is kept as ``<db>_pre_restore_<time>``.

A kill at any moment: before the swap, the next run's restore settles the half-made
copy and restores again; after it, the journal and the database's oid show the point is
in place and the rerun only reports it. Nothing is dropped.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import check_archive
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    BackupError,
    utcnow,
    write_json_atomic,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import ledger_state
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import (
    RESTORABLE,
    archive_path,
    good_backups,
    plain_name,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_run_id, is_uuid
from ansible_collections.knowledgehub.migration.plugins.module_utils._recovery_points import recovery_point_table
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore_database import DatabaseRestore
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target, pgsql

PURPOSES = ("before", "after_schema", "after_data")
JOURNAL_SUFFIX = ".recover.json"


class RecoverError(Failure):
    """No recovery point can be used as asked: nothing was changed."""


def version_key(version: Any) -> tuple[int, str]:
    """Versions in the runner's order: by their leading number, then as text."""
    text = str(version or "")
    digits = text[:len(text) - len(text.lstrip("0123456789"))]
    return (int(digits) if digits else -1, text)


def run_points(backup_dir: str, label: str, run_id: str | None, warnings: list[str]) -> tuple[str, list[tuple]]:
    """The run (``run_id``, or the newest with recovery points) and its verified points, newest first."""
    found = [(p, m) for p, m in good_backups(backup_dir, label, RESTORABLE, warnings) if is_uuid(m.get("run_id"))]
    if run_id:
        points = [(p, m) for p, m in found if m["run_id"] == run_id]
        if not points:
            raise RecoverError("No verified recovery point of run %s labelled %s in %s. The runs there: %s."
                               % (run_id, label, backup_dir, ", ".join(_runs(found)) or "none"))
        return run_id, points
    if not found:
        raise RecoverError("No verified recovery point labelled %s in %s: there is nothing to recover to. (A "
                           "migration run records its points there; check backup_dir and label.)"
                           % (label, backup_dir))
    newest = found[0][1]["run_id"]
    return newest, [(p, m) for p, m in found if m["run_id"] == newest]


def _runs(found: list[tuple]) -> list[str]:
    runs: list[str] = []
    for _path, manifest in found:
        if manifest["run_id"] not in runs:
            runs.append(manifest["run_id"])
    return runs[:10]


def pick(points: list[tuple], point: str) -> list[tuple]:
    """The candidates for ``point`` among a run's points, best first (a clone before a dump of the same purpose:
    it swaps back in seconds)."""
    if point in PURPOSES:
        chosen = [(p, m) for p, m in points if m.get("purpose") == point]
    else:
        chosen = [(p, m) for p, m in points if m["backup_id"] == point]
    return sorted(chosen, key=lambda pm: (pm[1]["kind"] != "clone", pm[1].get("created_at", "")))


def verify(path: str, manifest: dict[str, Any]) -> tuple[dict[str, Any], tuple | None]:
    """A dump's archive against its manifest (sha256, size), and what the check found (the restore uses it rather
    than reading the archive again); a clone is checked by the restore. Raises BackupError."""
    if manifest["kind"] != "dump":
        return {"checked": "by the swap (the clone database and its marker)"}, None
    checked = check_archive(archive_path(path, manifest), manifest)
    return {"checked": "sha256 and size", "sha256": checked[0]["sha256"], "size_bytes": checked[0]["size_bytes"]}, \
        checked


def describe(path: str, manifest: dict[str, Any], now: datetime.datetime) -> dict[str, Any]:
    created = manifest.get("created_at") or ""
    try:
        age = int((now - datetime.datetime.fromisoformat(created)).total_seconds())
    except (TypeError, ValueError):
        age = None
    return {"backup_id": manifest["backup_id"], "manifest": path, "kind": manifest["kind"],
            "format": manifest["format"], "purpose": manifest.get("purpose"), "run_id": manifest.get("run_id"),
            "created_at": created, "age_seconds": age, "ledger_version": manifest.get("ledger", {}).get(
                "last_applied_version") if isinstance(manifest.get("ledger"), dict) else manifest.get("ledger_version")}


def journal_path(backup_dir: str, label: str) -> str:
    if not plain_name(label + JOURNAL_SUFFIX):
        raise RecoverError("label %r cannot name a file in the backup directory; give a plain label." % label)
    return os.path.join(backup_dir, label + JOURNAL_SUFFIX)


def read_journal(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RecoverError("The recover journal %s cannot be read (%s). Move it aside and rerun." % (path, exc)) \
            from None
    return data if isinstance(data, dict) else {}


def losses(cur: Any, manifest: dict[str, Any], schema: str, table: str) -> dict[str, Any]:
    """What the live database holds that the point does not: ledger versions applied after it, and per table the
    rows beyond the backup's count (estimated: pg_stat_user_tables.n_live_tup, no table is scanned)."""
    point_version = describe("", manifest, utcnow())["ledger_version"]
    versions: list[str] = []
    if ledger_state(cur, schema, table)["last_applied_version"] is not None:
        cur.execute(pgsql.SQL("SELECT version FROM {t} WHERE status = 'applied'").format(
            t=pgsql.Identifier(schema, table)))
        versions = sorted({r[0] for r in cur.fetchall() if version_key(r[0]) > version_key(point_version)},
                          key=version_key)
    cur.execute("SELECT schemaname, relname, n_live_tup FROM pg_stat_user_tables")
    live = {"%s.%s" % (r[0], r[1]): int(r[2]) for r in cur.fetchall()}
    own = {"%s.%s" % (schema, table), "%s.%s" % (schema, recovery_point_table(table))}
    counts = manifest.get("row_counts") or {}
    rows = {}
    for name in sorted(set(live) | set(counts)):
        if name in own:
            continue
        delta = live.get(name, 0) - counts.get(name, 0)
        if delta or name not in counts:
            rows[name] = {"backup": counts.get(name), "now_estimated": live.get(name)}
    return {"versions": versions, "rows": rows, "rows_method": "estimated from pg_stat_user_tables.n_live_tup"}


class Recover(Job):
    """One pg_recover invocation: the point chosen and verified, then pg_restore's swap."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.target = Target.from_params(params)
        self.backup_dir = os.path.abspath(params["backup_dir"])
        self.label = params.get("label") or self.target.dbname
        self.warnings: list[str] = []
        self.restore: DatabaseRestore | None = None
        self.journal = ""
        self.seen = 0  # the restore's warnings already passed on
        self.result: dict[str, Any] = {}

    def close(self) -> None:
        if self.restore is not None:
            self.restore.close()

    def _choose(self) -> tuple[str, dict[str, Any], tuple[dict[str, Any], tuple | None]]:
        run_id, points = run_points(self.backup_dir, self.label, check_run_id(self.p.get("run_id")), self.warnings)
        point = str(self.p.get("point") or "before")
        if point.isdigit():
            point = self._backup_id_of(int(point))
        candidates = pick(points, point)
        full = [(p, m) for p, m in points if (m.get("scope") or "full") == "full"]
        if candidates and not any((m.get("scope") or "full") == "full" for _p, m in candidates):
            raise RecoverError("Recovery point %r of run %s is %s: it holds the structure after its phase, not the "
                               "rows, so restoring it would leave the tables empty. Nothing was changed. Recover to "
                               "a full point of the run instead: %s." % (
                                   point, run_id, candidates[0][1].get("scope"),
                                   ", ".join("point=%s (%s)" % (m.get("purpose"), m["backup_id"]) for _p, m in full)
                                   or "none"))
        candidates = [(p, m) for p, m in candidates if (m.get("scope") or "full") == "full"]
        if not candidates:
            raise RecoverError("Run %s has no verified recovery point %r. Its points: %s." % (
                run_id, point, ", ".join("%s (%s)" % (m.get("purpose"), m["backup_id"]) for _p, m in points)))
        refused = []
        for path, manifest in candidates:
            try:
                return path, manifest, verify(path, manifest)
            except BackupError as exc:
                refused.append("%s: %s" % (manifest["backup_id"], exc.message))
        others = [m["backup_id"] for p, m in points if (p, m) not in candidates and self._verifies(p, m)]
        raise RecoverError("Recovery point %r of run %s fails its verification, so it is not used: %s. %s Nothing "
                           "was changed." % (point, run_id, " ".join(refused),
                                             "The verified point it would use instead: %s (rerun with "
                                             "point=%s)." % (others[0], others[0]) if others
                                             else "No other point of this run verifies."),
                           {"refused": refused, "instead": others[:1]})

    @staticmethod
    def _verifies(path: str, manifest: dict[str, Any]) -> bool:
        try:
            verify(path, manifest)
            return True
        except BackupError:
            return False

    def _backup_id_of(self, point_id: int) -> str:
        conn = self.target.connect("pg_recover", autocommit=True)
        try:
            with conn.cursor() as cur:
                table = pgsql.Identifier(self.p["ledger_schema"], recovery_point_table(self.p["ledger_table"]))
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table.as_string(cur),))
                row = None
                if cur.fetchone()[0]:
                    cur.execute(pgsql.SQL("SELECT backup_id FROM {t} WHERE id = %s").format(t=table), (point_id,))
                    row = cur.fetchone()
        finally:
            conn.close()
        if not row:
            raise RecoverError("There is no recovery point with id %d in %s's recovery-point table." % (
                point_id, self.target.dbname))
        return row[0]

    def _live(self) -> tuple[int | None, dict[str, Any]]:
        """The live database's oid and what it would lose to ``manifest`` (None, {} when it does not exist)."""
        conn = self.target.connect("pg_recover", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
                oid = int(cur.fetchone()[0])
                return oid, losses(cur, self.result["manifest_data"], self.p["ledger_schema"], self.p["ledger_table"])
        finally:
            conn.close()

    def plan(self) -> dict[str, Any]:
        self.journal = journal_path(self.backup_dir, self.label)
        path, manifest, (verification, checked) = self._choose()
        point = describe(path, manifest, utcnow())
        self.result = {"changed": False, "point": point, "verification": verification, "journal": self.journal,
                       "manifest_data": manifest, "warnings": self.warnings}
        oid, lost = self._live()
        done = read_journal(self.journal)
        if done.get("state") == "restored" and done.get("backup_id") == manifest["backup_id"] \
                and done.get("database_oid") == oid:
            self.result.update(already_recovered=True, recovered_at=done.get("finished_at"),
                               previous_database=done.get("previous_database"))
            return self._public()
        self.result["would_lose"] = lost
        params = dict(self.p, manifest=path, backup_dir=None, mode="swap", kind="any", target_db=None, tables=None,
                      truncate=True, single_transaction=None, lock_timeout="30s", drop_previous=False,
                      keep_failed=False, allow_other_database=False)
        self.restore = DatabaseRestore(params, self.check_mode)
        self.restore.checked = checked
        planned = dict(self.restore.plan())
        self.seen = len(planned.get("warnings") or [])
        self.warnings.extend(planned.pop("warnings", None) or [])
        self.result.update(changed=True, already_recovered=False, restore=planned)
        return self._public()

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        if self.restore is None:
            return plan  # already at the point
        manifest = self.result["manifest_data"]
        entry = {"backup_id": manifest["backup_id"], "run_id": manifest.get("run_id"), "state": "restoring",
                 "started_at": utcnow().isoformat(), "database": self.target.dbname}
        write_json_atomic(self.journal, entry)
        restored = dict(self.restore.apply(self.restore.result))
        self.warnings.extend((restored.pop("warnings", None) or [])[self.seen:])  # those of the restore itself
        oid, _lost = self._live()
        entry.update(state="restored", finished_at=utcnow().isoformat(), database_oid=oid,
                     previous_database=restored.get("previous_database"))
        write_json_atomic(self.journal, entry)
        self.result.update(changed=True, restore=restored, previous_database=restored.get("previous_database"))
        return self._public()

    def _public(self) -> dict[str, Any]:
        return {k: v for k, v in self.result.items() if k != "manifest_data"}


__all__ = ["PURPOSES", "Recover", "RecoverError", "losses", "pick", "run_points", "version_key"]
