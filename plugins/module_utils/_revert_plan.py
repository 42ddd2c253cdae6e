# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pg_rollback reverts, decided before anything runs: the revert files, the versions each one reverts,
their order, and what is wrong (missing, drifted, ambiguous).

Pure (files and ledger rows in, a plan out), so it is tested without a database. ``_revert`` runs the plan.

Which versions: every version above the target that the ledger records as present (``applied`` or
``baseline``), and every version above it whose last attempt is a ``migrate:transaction off`` file cut short
after some of its statements committed (its row ``failed`` or ``running`` with ``last_statement``): those
statements are in the database, and pg_migrate would resume after them on a schema that no longer holds them.
Highest version first.

Which file: ``NNN_name.down.sql`` beside ``NNN_name.sql`` reverts version NNN. A ``revert_script`` (a
``rollback*.sql`` file, or any revert file) reverts the versions its header line ``-- migrate:reverts ...``
declares, instead of their .down files, in one transaction.

Drift, refused before anything runs:

* the forward file of a version to revert differs from the sha256 the ledger recorded when it was applied
  (or is gone): the revert files beside it were written for another file than the one that ran;
* a .down file named for a version to revert whose forward file has another name: it was written for another
  migration;
* a .down file whose ``migrate:reverts`` names another version than its own.

Missing: a version to revert that no revert file covers. Ambiguous: a version covered twice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import (
    REVERT_PATTERN,
    MigrationError,
    MigrationFile,
    reverted_versions,
    sha256_hex,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._plan import PRESENT

DOWN_PATTERN = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.down\.sql$", re.ASCII)
_DIGITS = re.compile(r"^[0-9]+$", re.ASCII)
# Rows a runner left part-way (``running`` only until the next run marks it ``failed``).
CUT_SHORT = ("failed", "running")


class RevertError(Failure):
    """A revert cannot be planned as asked: nothing was run and nothing was changed."""


@dataclass(frozen=True)
class RevertFile(MigrationFile):
    """A revert file: ``version`` is the highest version it reverts, ``reverts`` every one it declares."""

    reverts: tuple[str, ...] = ()
    no_transaction_advice = ("Revert files always run in one transaction, so that each is reverted whole or not at "
                             "all: use the form that runs in a transaction (DROP INDEX without CONCURRENTLY).")

    def describe(self) -> dict[str, Any]:
        return {"file": self.filename, "checksum": self.checksum, "reverts": list(self.reverts)}

    def check(self) -> None:
        """Refuse what cannot run as one whole transaction (MigrationError names the file and line)."""
        if not self.transactional:
            raise RevertError(
                "%s says '-- migrate:transaction off', but a revert file runs in one transaction so that a "
                "kill or a failure leaves it whole or not at all. Remove that line (and use DROP INDEX without "
                "CONCURRENTLY). Nothing was run." % self.filename)
        self.statements()


def read_revert_file(path: str) -> RevertFile:
    """A revert file with the versions it reverts; RevertError when it cannot be one."""
    entry = os.path.basename(path)
    down = DOWN_PATTERN.match(entry)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise RevertError("Cannot read %s: %s. Nothing was run." % (path, exc.strerror)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RevertError("%s is not valid UTF-8 (byte %d). Save it as UTF-8. Nothing was run."
                          % (entry, exc.start)) from None
    probe = MigrationFile("0", entry, path, sha256_hex(raw), text)
    declared = probe.directives.get("reverts")
    versions = reverted_versions(declared) if declared else []
    if down:
        if versions and [int(v) for v in versions] != [int(down.group("version"))]:
            raise RevertError(
                "Drift: %s is named for version %s but its header says '-- migrate:reverts %s'. A .down file "
                "reverts its own version only; fix the header or name the file after what it reverts. Nothing "
                "was run." % (entry, down.group("version"), declared))
        versions = [down.group("version")]
    elif not versions:
        raise RevertError(
            "%s declares no version it reverts: add the header line '-- migrate:reverts <versions>' (for example "
            "'-- migrate:reverts 004 005 006'), or use the NNN_name.down.sql files. Nothing was run." % entry)
    versions.sort(key=int, reverse=True)
    return RevertFile(versions[0], entry[:-len(".sql")], path, probe.checksum, text, reverts=tuple(versions))


def check_target(value: Any, files: list[MigrationFile]) -> int:
    """target_version as a number: 0, or the version of a migration file in migrations_dir."""
    text = "" if value is None else str(value).strip()
    if not _DIGITS.match(text):
        raise RevertError("target_version=%r is not a version: give the digits of the last version to keep "
                          "(for example 003), or 0 to revert every version. Nothing was run." % value)
    target = int(text)
    if target and target not in {f.order for f in files}:
        raise RevertError("target_version=%s matches no migration file; versions present: %s. Nothing was run."
                          % (text, ", ".join(f.version for f in files)))
    return target


def resolve_script(migrations_dir: str, value: str | None) -> str | None:
    """The path of revert_script: a revert file directly inside migrations_dir (its name, or its absolute path).
    Anything else (another directory, '..', a link leading out, a migration file) is refused."""
    if not value:
        return None
    parts = re.split(r"[/\\]", value)
    if ".." in parts:
        raise RevertError("revert_script=%s: '..' is refused. Give the name of a revert file in migrations_dir "
                          "(for example rollback_004_005.sql). Nothing was run." % value)
    if os.path.isabs(value):
        if os.path.dirname(os.path.normpath(value)) != os.path.normpath(os.path.abspath(migrations_dir)):
            raise RevertError("revert_script=%s is not in migrations_dir %s: a revert file must sit beside the "
                              "migrations it reverts. Nothing was run." % (value, migrations_dir))
        path = os.path.normpath(value)
    elif len(parts) > 1:
        raise RevertError("revert_script=%s: give the file's name in migrations_dir (for example "
                          "rollback_004_005.sql) or its absolute path. Nothing was run." % value)
    else:
        path = os.path.join(migrations_dir, value)
    name = os.path.basename(path)
    if not REVERT_PATTERN.match(name):
        raise RevertError("revert_script=%s is not named like a revert file (NNN_name.down.sql or rollback*.sql). "
                          "Nothing was run." % value)
    if not os.path.isfile(path):
        raise RevertError("revert_script=%s: %s is not a file in migrations_dir. Nothing was run." % (value, name))
    if os.path.dirname(os.path.realpath(path)) != os.path.realpath(migrations_dir):
        raise RevertError("revert_script=%s is a link leading out of migrations_dir (to %s): refused. Nothing "
                          "was run." % (value, os.path.realpath(path)))
    return path


@dataclass
class Step:
    """One revert file and the ledger rows its transaction turns ``rolled_back`` (highest version first)."""

    file: RevertFile
    rows: list[dict[str, Any]]
    not_applied: list[str] = field(default_factory=list)

    def describe(self, order: int) -> dict[str, Any]:
        return dict(self.file.describe(), order=order, not_applied=self.not_applied,
                    versions=[{"version": r["version"], "name": r["name"], "ledger_id": r.get("id"),
                               "status": r["status"], "partly_applied": r["status"] in CUT_SHORT} for r in self.rows])


def to_revert(rows: list[dict[str, Any]], target: int) -> list[dict[str, Any]]:
    """The ledger rows of the versions above ``target`` whose work is in the database, highest version first."""
    by_version: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if _DIGITS.match(str(row["version"])):
            by_version.setdefault(int(row["version"]), []).append(row)
    chosen = []
    for version in sorted(by_version, reverse=True):
        if version <= target:
            break
        history = by_version[version]
        present = [r for r in history if r["status"] in PRESENT]
        if present:
            chosen.append(present[-1])
        elif history[-1]["status"] in CUT_SHORT and history[-1].get("last_statement"):
            chosen.append(history[-1])
    return chosen


def plan_revert(files: list[MigrationFile], rows: list[dict[str, Any]], target: int, down_names: list[str],
                script: RevertFile | None, load: Callable[[str], RevertFile]) -> list[Step]:
    """The steps, in the order they run. ``down_names`` are the .down files of migrations_dir; ``load`` reads one
    by name. RevertError (or MigrationError for a file that cannot run) names what is wrong."""
    by_version = {f.order: f for f in files}
    entries = to_revert(rows, target)
    for row in entries:
        forward = by_version.get(int(row["version"]))
        if forward is None:
            raise RevertError(
                "The ledger says version %s (%s) is %s, but migrations_dir has no file for it: the revert files "
                "cannot be checked against what was applied. Point migrations_dir at the complete set of "
                "migrations. Nothing was run." % (row["version"], row["name"], row["status"]))
        if forward.checksum != row["checksum"]:
            raise RevertError(
                "Drift: %s was %s with sha256 %s, but the file now has sha256 %s, so the revert files beside it "
                "were written for another file than the one that ran. Restore the file that was applied (see its "
                "version control history) with the revert file of that release. Nothing was run."
                % (forward.filename, row["status"], row["checksum"], forward.checksum))
    covered = _script_versions(script, entries, by_version, target)
    steps: list[Step] = []
    for row in entries:
        version = int(row["version"])
        if version in covered:
            if steps and steps[-1].file is script:
                steps[-1].rows.append(row)
                continue
            if any(step.file is script for step in steps):
                raise RevertError(
                    "%s reverts %s in one transaction, but %s lies between them and it does not revert it. A revert "
                    "script must cover a run of consecutive applied versions. Nothing was run."
                    % (script.filename, ", ".join(script.reverts), steps[-1].file.filename))
            steps.append(Step(script, [row], [v for v in script.reverts if int(v) not in
                                              {int(r["version"]) for r in entries}]))
            continue
        steps.append(Step(_down_file(by_version[version], down_names, load), [row]))
    for step in steps:
        step.file.check()
    return steps


def _script_versions(script: RevertFile | None, entries: list[dict[str, Any]], by_version: dict[int, Any],
                     target: int) -> set[int]:
    """The versions revert_script reverts, checked: each has a migration file, lies above the target, and at least
    one is to be reverted."""
    if script is None:
        return set()
    declared = [int(v) for v in script.reverts]
    for version in declared:
        if version not in by_version:
            raise RevertError("%s declares that it reverts %s, but no migration file has that version. Fix its "
                              "'-- migrate:reverts' line. Nothing was run." % (script.filename, version))
        if version <= target:
            raise RevertError(
                "%s reverts %s, which is not above target_version %s: it would revert more than asked. Set "
                "target_version below %s, or use the .down files. Nothing was run."
                % (script.filename, by_version[version].version, target, by_version[version].version))
    planned = {int(r["version"]) for r in entries}
    if not planned & set(declared):
        raise RevertError(
            "%s reverts %s, but none of them is applied (the ledger has no applied row for %s): there is nothing "
            "for it to revert, and running it could undo what is not there. Nothing was run."
            % (script.filename, ", ".join(script.reverts), ", ".join(script.reverts)))
    return set(declared)


def _down_file(forward: MigrationFile, down_names: list[str], load: Callable[[str], RevertFile]) -> RevertFile:
    """The one .down file of ``forward``: ``<its name without .sql>.down.sql``."""
    expected = forward.filename[:-len(".sql")] + ".down.sql"
    same_version = [n for n in down_names if int(DOWN_PATTERN.match(n).group("version")) == forward.order]
    strangers = [n for n in same_version if n != expected]
    if strangers:
        raise RevertError(
            "Drift: %s %s named for version %s, but migrations_dir's %s is %s: written for another migration. "
            "Rename or remove %s. Nothing was run."
            % (", ".join(strangers), "is" if len(strangers) == 1 else "are", forward.version, forward.version,
               forward.filename, "it" if len(strangers) == 1 else "them"))
    if expected not in same_version:
        raise RevertError(
            "No revert file for %s: expected %s beside it, or a revert_script that declares '-- migrate:reverts "
            "%s'. Nothing was run." % (forward.filename, expected, forward.version))
    return load(expected)


def down_files(names: list[str]) -> list[str]:
    """The NNN_name.down.sql names among a directory's entries."""
    return sorted(n for n in names if DOWN_PATTERN.match(n))


__all__ = ["RevertError", "RevertFile", "Step", "MigrationError", "check_target", "down_files", "plan_revert",
           "read_revert_file", "resolve_script", "to_revert"]
