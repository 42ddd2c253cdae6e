# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration files: their names, versions, checksums, header directives and statements.

Everything here is pure (files in, facts out) so it is tested without a
database. ``_plan`` decides what to run; the runner (``_runner``) runs it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import is_duration
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import (
    SqlSplitError,
    Statement,
    split_sql,
)

# ASCII digits only (re.ASCII): a version is what int() of PostgreSQL's text reads the same everywhere.
FILE_PATTERN = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.sql$", re.ASCII)
# Revert files beside the migrations: NNN_name.down.sql, and combined rollback scripts (rollback_004_005.sql).
REVERT_PATTERN = re.compile(r"^(?:[0-9]+_[A-Za-z0-9][A-Za-z0-9_-]*\.down|rollback[A-Za-z0-9_.-]*)\.sql$", re.ASCII)
_LOOKS_NUMBERED = re.compile(r"^\w+?_")

# Header directives: comment lines at the very top of a file, e.g. "-- migrate:transaction off".
_DIRECTIVE = re.compile(r"^--\s*migrate:(?P<key>[a-z_]+)\s*(?P<value>.*?)\s*$")
DIRECTIVES = {
    "transaction": "on (default): the file runs in one transaction; off: statement by statement, "
                   "each committed and journaled, for CREATE INDEX CONCURRENTLY and batched data migrations",
    "lock_timeout": "PostgreSQL lock_timeout for this file, overriding the module's",
    "statement_timeout": "PostgreSQL statement_timeout for this file, overriding the module's",
    "reverts": "revert files only: the versions the file reverts (rollback_004_005.sql: 004 005 006); "
               "NNN_name.down.sql reverts NNN without it",
}
_VERSION = re.compile(r"^[0-9]+$", re.ASCII)


class MigrationError(Failure):
    """A problem found before anything ran: the database has not been touched."""


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
        if key == "reverts":
            if not REVERT_PATTERN.match(os.path.basename(filename)):
                raise MigrationError(
                    "%s, line %d: migrate:reverts belongs in a revert file (NNN_name.down.sql or rollback*.sql), "
                    "not in a migration. Remove the line." % (filename, number))
            try:
                reverted_versions(value)
            except ValueError as exc:
                raise MigrationError("%s, line %d: migrate:reverts %s" % (filename, number, exc)) from None
        found[key] = value
    return found


def reverted_versions(value: str) -> list[str]:
    """The versions a ``migrate:reverts`` value names ("004 005 006", commas allowed), in the order given;
    ValueError says what is wrong with it."""
    versions = [v for v in re.split(r"[\s,]+", value.strip()) if v]
    if not versions:
        raise ValueError("names no version: list the versions the file reverts, e.g. '-- migrate:reverts 004 005'.")
    seen: dict[int, str] = {}
    for version in versions:
        if not _VERSION.match(version):
            raise ValueError("%r is not a version (ASCII digits, e.g. 004)." % version)
        if int(version) in seen:
            raise ValueError("names version %s twice (%s and %s)." % (int(version), seen[int(version)], version))
        seen[int(version)] = version
    return versions


@dataclass(frozen=True)
class MigrationFile:
    """One ``NNN_name.sql`` file: its version, name, sha256 and text."""

    # What the gate tells to do with a statement that cannot run in a transaction, in a file that runs in one.
    no_transaction_advice = "Move it to a migration of its own that starts with the line '-- migrate:transaction off'."

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

    def describe(self) -> dict[str, Any]:
        """The file as a run's result lists it."""
        return {"version": self.version, "name": self.name, "file": self.filename, "checksum": self.checksum}

    def statements(self) -> list[Statement]:
        """The file's statements; refuses what cannot run the way the file says it runs. The file is split
        once: the gate, the lint and the lock analysis and the run all read the same list."""
        return list(self._statements)

    @cached_property
    def _statements(self) -> tuple[Statement, ...]:
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
                    "one. %s"
                    % (self.filename, stmt.number, stmt.line, " ".join(stmt.words[:4]), self.no_transaction_advice))
        if not statements:
            raise MigrationError("%s holds no SQL statement. Remove it or give it content." % self.filename)
        return tuple(statements)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def why_ignored(entry: str, path: str) -> str | None:
    """Why a directory entry is neither a migration nor a revert file (None when it is one of them)."""
    if FILE_PATTERN.match(entry) or REVERT_PATTERN.match(entry):
        if os.path.isfile(path):
            return None
        kind = "a directory" if os.path.isdir(path) else "a broken link" if os.path.islink(path) \
            else "not a regular file (a FIFO, socket or device)"
        return "named like a migration but %s" % kind
    if os.path.isdir(path):
        return "a directory"
    if entry.lower().endswith(".sql") and not entry.endswith(".sql"):
        return "the extension must be lowercase .sql to be a migration"
    if not entry.endswith(".sql"):
        return "not a .sql file"
    head = entry.split("_", 1)[0]
    if _LOOKS_NUMBERED.match(entry) and head.isdigit() and not head.isascii():
        return "the version must be ASCII digits 0-9"
    return "not named NNN_name.sql (digits, '_', then letters, digits, '_' or '-')"


def discover(migrations_dir: str) -> tuple[list[MigrationFile], dict[str, str]]:
    """Read every ``NNN_name.sql`` in ``migrations_dir``, sorted by version.

    Every entry of the directory is a migration, a revert file (``NNN_name.down.sql``,
    ``rollback*.sql``), or returned in the second value with the reason it was ignored.
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
    ignored: dict[str, str] = {}
    seen: dict[int, str] = {}
    for entry in sorted(os.listdir(migrations_dir)):
        path = os.path.join(migrations_dir, entry)
        reason = why_ignored(entry, path)
        if reason is not None:
            ignored[entry] = reason
            continue
        match = FILE_PATTERN.match(entry)
        if not match:
            continue  # a revert file
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
