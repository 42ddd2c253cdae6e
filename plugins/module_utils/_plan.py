# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of a run: what is present, what is baselined, what is pending, what is wrong.

Pure (migration files and ledger rows in, decisions out), so it is tested without
a database: drift of an applied file, a missing file, a legacy database without
ledger history, migrations out of version order, and the target version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import (
    MigrationError,
    MigrationFile,
)

# Ledger statuses that mean "the objects of this version are in the database".
PRESENT = ("applied", "baseline")


@dataclass
class Plan:
    """What a run will do, decided before anything is written."""

    present: list[MigrationFile] = field(default_factory=list)
    baseline: list[MigrationFile] = field(default_factory=list)
    pending: list[MigrationFile] = field(default_factory=list)
    beyond_target: list[MigrationFile] = field(default_factory=list)

    @property
    def has_work(self) -> bool:
        return bool(self.baseline or self.pending)


def make_plan(
    files: list[MigrationFile],
    ledger: Iterable[dict[str, Any]],
    baseline_version: str | None = None,
    target_version: str | None = None,
    database_is_empty: bool = True,
) -> Plan:
    """Decide what to do, or raise MigrationError naming what is wrong.

    ``ledger`` holds the ledger's rows (dicts with version, name, checksum,
    status, completed_at); only rows whose status is in PRESENT count as
    present. ``database_is_empty`` tells whether the database holds tables
    other than the ledger: a non-empty database whose ledger has no rows at all
    must be baselined explicitly, as Flyway requires. Any row (even a failed
    attempt) means this tool already manages the database.
    """
    by_version = {f.order: f for f in files}
    _check_version_arg(baseline_version, by_version, "baseline_version")
    _check_version_arg(target_version, by_version, "target_version")

    ledger = list(ledger)
    present_rows = {int(r["version"]): r for r in ledger if r["status"] in PRESENT}
    plan = Plan()

    for order, row in sorted(present_rows.items()):
        migration = by_version.get(order)
        if migration is None:
            raise MigrationError(
                "The ledger says version %s (%s) is %s, but migrations_dir has no file for it. Point "
                "migrations_dir at the complete set of migrations; never delete an applied migration."
                % (row["version"], row["name"], row["status"]))
        if migration.checksum != row["checksum"]:
            raise MigrationError(
                "Drift: %s was %s on %s with sha256 %s, but the file now has sha256 %s. An applied "
                "migration must never change: restore the original file (see its version control "
                "history) and put the new change in a new migration file. Nothing was run."
                % (migration.filename, row["status"], row.get("completed_at") or "an earlier run",
                   row["checksum"], migration.checksum))
        plan.present.append(migration)

    if not ledger and not database_is_empty:
        if baseline_version is None:
            raise MigrationError(
                "The database already holds tables but has no migration ledger history. Set "
                "baseline_version to the last migration its schema already contains (for a "
                "KnowledgeHub database from before this tool: 003) so those files are recorded "
                "as present without being run. Nothing was changed.")
        plan.baseline = [f for f in files if f.order <= int(baseline_version)]

    done = {f.order for f in plan.present + plan.baseline}
    highest_done = max(done) if done else -1
    target = int(target_version) if target_version is not None else None
    for migration in files:
        if migration.order in done:
            continue
        if migration.order < highest_done:
            raise MigrationError(
                "%s is not applied, but a later version (%03d) already is: applying it now would run "
                "migrations out of order. Renumber it after the latest applied version."
                % (migration.filename, highest_done))
        if target is not None and migration.order > target:
            plan.beyond_target.append(migration)
        else:
            plan.pending.append(migration)
    return plan


def _check_version_arg(value: str | None, by_version: dict[int, MigrationFile], option: str) -> None:
    if value is None:
        return
    if not str(value).isdigit():
        raise MigrationError("%s=%r is not a version number (expected digits, e.g. 003)." % (option, value))
    if int(value) not in by_version:
        raise MigrationError(
            "%s=%s matches no migration file; versions present: %s."
            % (option, value, ", ".join(f.version for f in by_version.values())))
