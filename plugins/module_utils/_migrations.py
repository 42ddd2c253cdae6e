# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration files and the plan: what is applied, what is pending, what is wrong.

Everything here is pure (files in, decisions out) so it is tested without a
database. The runner (``_runner``) executes the plan.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import (
    SqlSplitError,
    Statement,
    split_sql,
)

FILE_PATTERN = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.sql$")

# Header directives: comment lines at the very top of a file, e.g. "-- migrate:transaction off".
_DIRECTIVE = re.compile(r"^--\s*migrate:(?P<key>[a-z_]+)\s*(?P<value>.*?)\s*$")
DIRECTIVES = {
    "transaction": "on (default): the file runs in one transaction; off: statement by statement, "
                   "each committed and journaled, for CREATE INDEX CONCURRENTLY and batched data migrations",
    "lock_timeout": "PostgreSQL lock_timeout for this file, overriding the module's",
    "statement_timeout": "PostgreSQL statement_timeout for this file, overriding the module's",
}
_DURATION = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")


def is_duration(value: str) -> bool:
    """True for a PostgreSQL duration such as 10s, 500ms, 2min or 0."""
    return bool(_DURATION.match(value or ""))


def parse_directives(filename: str, text: str) -> dict[str, str]:
    """Read the header directives; unknown keys and bad values are errors."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = _DIRECTIVE.match(stripped)
        if not match:
            continue
        key, value = match.group("key"), match.group("value")
        if key not in DIRECTIVES:
            raise MigrationError(
                "%s, line %d: unknown directive migrate:%s. Known: %s."
                % (filename, number, key, ", ".join("migrate:%s" % k for k in DIRECTIVES)))
        if key == "transaction" and value not in ("on", "off"):
            raise MigrationError("%s, line %d: migrate:transaction takes on or off, not %r." % (filename, number, value))
        if key in ("lock_timeout", "statement_timeout") and not is_duration(value):
            raise MigrationError(
                "%s, line %d: migrate:%s %r is not a PostgreSQL duration (examples: 5s, 500ms, 2min, 0)."
                % (filename, number, key, value))
        found[key] = value
    return found


# Ledger statuses that mean "the objects of this version are in the database".
PRESENT = ("applied", "baseline")


class MigrationError(Exception):
    """A problem found before anything ran: the database has not been touched."""


@dataclass(frozen=True)
class MigrationFile:
    """One ``NNN_name.sql`` file: its version, name, sha256 and text."""

    version: str
    name: str
    path: str
    checksum: str
    sql: str

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)

    @property
    def order(self) -> int:
        return int(self.version)

    @property
    def directives(self) -> dict[str, str]:
        return parse_directives(self.filename, self.sql)

    @property
    def transactional(self) -> bool:
        return self.directives.get("transaction", "on") == "on"

    def statements(self) -> list[Statement]:
        """The file's statements; refuses what cannot run the way the file says it runs."""
        transactional = self.transactional
        try:
            statements = split_sql(self.sql)
        except SqlSplitError as exc:
            raise MigrationError("%s, line %d: %s. Close it and rerun." % (self.filename, exc.line, exc)) from None
        for stmt in statements:
            if stmt.text.startswith("\\"):
                raise MigrationError(
                    "%s, statement %d (line %d) is a psql meta-command (%s): migration files must be plain SQL."
                    % (self.filename, stmt.number, stmt.line, stmt.text.split()[0]))
            if stmt.is_transaction_control:
                raise MigrationError(
                    "%s, statement %d (line %d) is transaction control (%s): the runner owns transactions "
                    "(one per file, or one per statement under migrate:transaction off), so the file must not "
                    "begin, commit or roll back one. Remove it (a DO block may COMMIT between batches "
                    "in a migrate:transaction off file)."
                    % (self.filename, stmt.number, stmt.line, " ".join(stmt.words[:2])))
            if transactional and stmt.needs_no_transaction:
                raise MigrationError(
                    "%s, statement %d (line %d) (%s) cannot run inside a transaction, and this file runs in "
                    "one. Move it to a migration of its own that starts with the line "
                    "'-- migrate:transaction off'."
                    % (self.filename, stmt.number, stmt.line, " ".join(stmt.words[:4])))
        if not statements:
            raise MigrationError("%s holds no SQL statement. Remove it or give it content." % self.filename)
        return statements


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def discover(migrations_dir: str) -> tuple[list[MigrationFile], list[str]]:
    """Read every ``NNN_name.sql`` in ``migrations_dir``, sorted by version.

    Returns the files and the names of ``.sql`` files that were not taken as
    migrations (rollback scripts are expected there and are not reported).
    """
    if not migrations_dir:
        raise MigrationError("migrations_dir is empty: give the directory that holds the NNN_name.sql files.")
    if not os.path.exists(migrations_dir):
        raise MigrationError(
            "migrations_dir %s does not exist on this host. Copy the migration files there first "
            "(the migrate role does) or correct the path." % migrations_dir)
    if not os.path.isdir(migrations_dir):
        raise MigrationError("migrations_dir %s is not a directory." % migrations_dir)
    files: list[MigrationFile] = []
    ignored: list[str] = []
    seen: dict[int, str] = {}
    for entry in sorted(os.listdir(migrations_dir)):
        path = os.path.join(migrations_dir, entry)
        if not entry.endswith(".sql") or not os.path.isfile(path):
            continue
        match = FILE_PATTERN.match(entry)
        if not match:
            if not entry.startswith("rollback"):
                ignored.append(entry)
            continue
        version = match.group("version")
        if int(version) in seen:
            raise MigrationError(
                "Two migration files share version %s: %s and %s. Renumber one of them."
                % (version, seen[int(version)], entry))
        seen[int(version)] = entry
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise MigrationError("Cannot read %s: %s." % (path, exc.strerror)) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError("%s is not valid UTF-8 (byte %d). Save it as UTF-8." % (entry, exc.start)) from None
        files.append(MigrationFile(version, match.group("name"), path, sha256_hex(raw), text))
    if not files:
        raise MigrationError(
            "migrations_dir %s holds no migration file (expected names like 004_hybrid_rag_schema.sql)."
            % migrations_dir)
    files.sort(key=lambda f: f.order)
    return files, ignored


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
