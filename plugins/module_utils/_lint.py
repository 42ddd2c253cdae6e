# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lint gate: squawk reads every pending migration before anything runs.

squawk (https://squawkhq.com) marks nearly every finding "Warning", so its own
level cannot tell a style remark from a statement that locks a busy table for
minutes. The gate therefore classifies findings by rule (``DEFAULT_LEVELS``):

* ``error``: a long lock, a rewrite or scan under a blocking lock, data loss, a statement
  that breaks the running application or cannot run under this runner. Errors block.
* ``warning``: style and robustness advice. Reported, never blocking.
* ``satisfied``: what the runner already does for every file (it sets
  ``lock_timeout`` and ``statement_timeout``). Dropped, with a count.

A rule missing from the table is an ``error``: a new squawk rule must be looked at before
it is waved through. Callers override single rules with ``levels`` and accept rules for every
file with ``accept``; one finding is accepted by squawk's comment on the line above it::

    -- squawk-ignore require-concurrent-index-creation -- why it is safe here

docs/lint.md explains the policy, rule by rule. squawk runs through ``_process.run``.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError, run
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql

ERROR = "error"
WARNING = "warning"
SATISFIED = "satisfied"
LEVELS = (ERROR, WARNING, SATISFIED)

# A rule this table does not know blocks: look at it, then classify it here.
UNKNOWN_RULE_LEVEL = ERROR

# The gate's own finding for a rule-less ``-- squawk-ignore-file`` comment,
# which silences every squawk rule for the whole file.
IGNORE_FILE_ALL = "squawk-ignore-file-all"

RULE_DOCS = "https://squawkhq.com/docs/%s"

_LOCK_OR_REWRITE = (
    # each means a lock that blocks the application for as long as PostgreSQL
    # scans, rewrites or indexes a table that already holds data
    "adding-field-with-default",            # volatile default / stored generated column: rewrite under ACCESS EXCLUSIVE
    "adding-foreign-key-constraint",        # scan under SHARE ROW EXCLUSIVE on both tables: writes blocked
    "adding-not-nullable-field",            # SET NOT NULL scans under ACCESS EXCLUSIVE: reads blocked
    "adding-serial-primary-key-field",      # index build under ACCESS EXCLUSIVE
    "ban-alter-domain-with-add-constraint",  # scans every column of the domain under a lock
    "changing-column-type",                 # rewrite (and index rebuild) under ACCESS EXCLUSIVE
    "constraint-missing-not-valid",         # validation scan under the constraint's lock
    "disallowed-unique-constraint",         # index build under ACCESS EXCLUSIVE
    "prefer-repack",                        # VACUUM FULL / CLUSTER: rewrite under ACCESS EXCLUSIVE
    "require-concurrent-index-creation",    # CREATE INDEX holds SHARE (writes blocked) for the whole build
    "require-concurrent-reindex",           # REINDEX: SHARE on the table, ACCESS EXCLUSIVE on the index
)
_DATA_LOSS = (
    "ban-drop-column", "ban-drop-database", "ban-drop-schema", "ban-drop-sequence",
    "ban-drop-table", "ban-truncate-cascade", "adding-required-field",  # NOT NULL without default fails on rows
)
_BREAKS_RUNNING_APP = (
    # the application keeps running during the migration: its queries fail at once
    "ban-alter-identity", "ban-set-schema", "renaming-column", "renaming-object", "renaming-table",
)
_CANNOT_RUN_HERE = (
    # the runner refuses these too; squawk says it earlier and names the line
    "ban-concurrent-index-creation-in-transaction", "ban-uncommitted-transaction",
    "transaction-nesting", "ban-duplicate-column-assignments", "syntax-error",
    "unused-ignore",  # an ignore comment naming no rule squawk knows: it accepts nothing
    IGNORE_FILE_ALL,
)
_STYLE = (
    "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity", "prefer-text-field",
    "prefer-timestamp-tz", "prefer-timestamptz", "ban-char-field", "identifier-too-long",
    "require-enum-value-ordering", "require-table-schema", "ban-create-domain-with-constraint",
    # every migration runs in one transaction: a failed file leaves nothing to re-run around
    "prefer-robust-stmts",
)
_BRIEF_LOCK_OR_RELAXING = (
    # a catalog-only change (bounded by lock_timeout) or one that relaxes a guarantee
    "require-concurrent-index-deletion", "require-concurrent-partition-detach",
    "ban-drop-constraint", "ban-drop-not-null", "ban-drop-default", "ban-drop-generated-expression",
    "ban-drop-index", "ban-drop-view", "ban-drop-function", "ban-drop-trigger", "ban-drop-type",
    "ban-drop-domain", "ban-drop-extension", "ban-drop-policy",
)
_RUNNER_SETS = ("require-lock-timeout", "require-statement-timeout", "require-timeout-settings")


def _policy() -> dict[str, str]:
    levels: dict[str, str] = {}
    for rules, level in ((_LOCK_OR_REWRITE, ERROR), (_DATA_LOSS, ERROR), (_BREAKS_RUNNING_APP, ERROR),
                         (_CANNOT_RUN_HERE, ERROR), (_STYLE, WARNING), (_BRIEF_LOCK_OR_RELAXING, WARNING),
                         (_RUNNER_SETS, SATISFIED)):
        levels.update(dict.fromkeys(rules, level))
    return levels


DEFAULT_LEVELS: dict[str, str] = _policy()


class LintError(Failure):
    """squawk could not give an answer (missing, crashed, unreadable output): nothing ran."""


@dataclass
class LintReport:
    """What the gate found in the pending files.

    ``findings`` holds the error and warning findings; ``satisfied`` and
    ``accepted`` count, per rule, what was dropped because the runner does it
    or the caller accepted it; ``ignores`` lists the squawk-ignore comments of
    the files, so a reviewer sees every acceptance and its reason.
    """

    squawk: str = ""
    squawk_version: str = ""
    ran_on: str = "host"  # or "controller": squawk ran there, the action plugin handed its findings over
    pg_version: str = ""
    files: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    satisfied: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    ignores: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["level"] == ERROR]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["level"] == WARNING]

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def counts(self) -> dict[str, int]:
        return {"error": len(self.blocking), "warning": len(self.warnings),
                "satisfied": sum(self.satisfied.values()), "accepted": sum(self.accepted.values()),
                "files": len(self.files)}

    def summary(self) -> str:
        """One line for the play's output."""
        counts = self.counts
        text = "squawk %s on %d file(s): %d blocking, %d warning(s)" % (
            self.squawk_version or "?", counts["files"], counts["error"], counts["warning"])
        if counts["satisfied"]:
            text += ", %d satisfied by the runner (%s)" % (counts["satisfied"], ", ".join(sorted(self.satisfied)))
        if counts["accepted"]:
            text += ", %d accepted (%s)" % (counts["accepted"], ", ".join(sorted(self.accepted)))
        return text

    def blocking_message(self, limit: int = 20) -> str:
        """The failure message when the gate blocks: every blocking finding and what to do."""
        lines = ["The lint gate blocks the run (nothing was executed): %s." % self.summary()]
        for item in self.blocking[:limit]:
            lines.append("  %s line %d%s: %s: %s" % (
                item["file"], item["line"],
                " (statement %d)" % item["statement"] if item.get("statement") else "",
                item["rule"], item["message"]))
        if len(self.blocking) > limit:
            lines.append("  ... and %d more" % (len(self.blocking) - limit))
        lines.append("Change the statement, or accept it for that statement with a comment on the line just "
                     "above the flagged line: -- squawk-ignore <rule> -- <why it is safe> (docs/lint.md).")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the module result."""
        return {"squawk": self.squawk, "squawk_version": self.squawk_version, "pg_version": self.pg_version,
                "ran_on": self.ran_on, "files": list(self.files), "ok": self.ok, "counts": self.counts, "summary": self.summary(),
                "findings": list(self.findings), "blocking": self.blocking, "satisfied": dict(self.satisfied),
                "accepted": dict(self.accepted), "ignores": list(self.ignores)}


def find_squawk(explicit_path: str | None = None) -> str | None:
    """The squawk to run: ``explicit_path`` when given (no fallback: an explicit
    choice must not be swapped for another binary), else the one installed next
    to this Python (the venv's bin), else the first on PATH, else None."""
    if explicit_path:
        return explicit_path
    beside = os.path.join(os.path.dirname(sys.executable), "squawk")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which("squawk")


def require_executable(squawk: str | None) -> str:
    if not squawk:
        raise LintError(
            "squawk is not installed: it was not found next to %s nor on PATH. Install squawk-cli "
            "(pip install squawk-cli, pinned in requirements.txt) or give its path." % sys.executable)
    if not os.path.isfile(squawk) or not os.access(squawk, os.X_OK):
        raise LintError("squawk %s is not an executable file. Install squawk-cli or correct the path." % squawk)
    return squawk


def normalize_pg_version(pg_version: Any) -> str:
    """``15``, ``"15.4"``, ``"15.4 (Debian ...)"`` or server_version_num ``150004`` -> ``"15.4"``."""
    text = str(pg_version).strip()
    if text.isdigit() and int(text) >= 100000:
        return "%d.%d" % (int(text) // 10000, int(text) % 10000)
    match = re.match(r"^(\d{1,2})(?:\.(\d+))?", text)
    if not match:
        raise LintError("pg_version %r is not a PostgreSQL version (expected e.g. 15 or 15.4)." % (pg_version,))
    return "%s.%s" % (match.group(1), match.group(2) or "0")


def _glob_escape(path: str) -> str:
    """squawk expands its path arguments as glob patterns; make ``path`` literal."""
    return re.sub(r"([*?\[\]])", r"[\1]", path)


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        result = run(argv, hint=" Install squawk-cli or correct its path.")
    except ProcessError as exc:
        raise LintError(exc.message, exc.details) from None
    return result.rc, result.stdout, result.stderr


def squawk_version(squawk: str) -> str:
    """``squawk --version`` -> ``"2.70.0"``; refuses a squawk whose JSON this gate cannot read."""
    rc, out, err = _run([squawk, "--version"])
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    if rc != 0 or not match:
        raise LintError("%s --version failed (exit %d): %s" % (squawk, rc, (err or out).strip()[:300]))
    if int(match.group(1)) != 2:
        raise LintError("squawk %s is not supported: this gate reads the JSON of squawk 2.x "
                        "(requirements.txt pins squawk-cli 2.70.0)." % match.group(0))
    return match.group(0)


def _squawk_argv(squawk: str, path: str, pg_version: str, transactional: bool) -> list[str]:
    # --config os.devnull: a .squawk.toml in the working directory or above it
    # would otherwise exclude rules and change the verdict without a trace.
    return [squawk, "--reporter", "json", "--config", os.devnull, "--pg-version", pg_version,
            "--assume-in-transaction" if transactional else "--no-assume-in-transaction",
            _glob_escape(os.path.abspath(path))]


def squawk_findings(squawk: str, migration: Any, pg_version: str) -> list[dict]:
    """squawk's raw findings for one file (rc 0: none, rc 1: some)."""
    transactional = bool(getattr(migration, "transactional", True))
    argv = _squawk_argv(squawk, migration.path, pg_version, transactional)
    rc, out, err = _run(argv)
    try:
        data = json.loads(out) if out.strip() else None
    except ValueError:
        data = None
    if rc not in (0, 1) or not isinstance(data, list):
        raise LintError(
            "squawk could not lint %s (exit %d): %s. Run `%s` by hand to see why; the gate never "
            "lets a file through unread." % (migration.filename, rc, (err or out).strip()[:500] or "no output",
                                             " ".join(argv)))
    for item in data:
        if not isinstance(item, dict) or "rule_name" not in item or "line" not in item:
            raise LintError("squawk printed JSON this gate does not understand for %s: %r"
                            % (migration.filename, item))
    return data


def check_levels(levels: dict[str, str] | None) -> dict[str, str]:
    """The default policy with the caller's overrides; refuses an unknown level."""
    merged = dict(DEFAULT_LEVELS)
    for rule, level in (levels or {}).items():
        if level not in LEVELS:
            raise LintError("lint level %r for rule %s is not one of %s." % (level, rule, ", ".join(LEVELS)))
        merged[rule] = level
    return merged


def classify(rule: str, levels: dict[str, str] | None = None) -> str:
    """The level of ``rule`` under the default policy plus ``levels``."""
    return check_levels(levels).get(rule, UNKNOWN_RULE_LEVEL)


def _statement_index(statements: list[Any]) -> tuple[list[int], list[Any]]:
    """Statements sorted by first line, with those lines, to find a line's statement by bisection."""
    ordered = sorted(statements, key=lambda stmt: stmt.line)
    return [stmt.line for stmt in ordered], ordered


def _statement_at(index: tuple[list[int], list[Any]], line: int) -> int | None:
    """The number of the statement holding ``line``: a binary search, so that a file of 200,000 statements
    with a finding on each is read in n log n, not n squared."""
    starts, ordered = index
    at = bisect.bisect_right(starts, line) - 1
    if at >= 0 and line <= ordered[at].line + ordered[at].text.count("\n"):
        return ordered[at].number
    return None


def _finding(migration: Any, raw: dict, level: str, statements: tuple[list[int], list[Any]]) -> dict[str, Any]:
    line = int(raw["line"]) + 1  # squawk 2.x JSON counts lines and columns from 0
    rule = str(raw["rule_name"])
    return {"file": migration.filename, "line": line, "column": int(raw.get("column") or 0) + 1,
            "statement": _statement_at(statements, line), "rule": rule, "level": level,
            "message": str(raw.get("message") or ""), "help": raw.get("help") or "", "url": RULE_DOCS % rule}


_IGNORE_COMMENT = re.compile(r"(?:--|/\*)[ \t]*(squawk-ignore(?:-file)?)(?![\w-])([^\n]*)")


def ignore_comments(filename: str, sql: str) -> list[dict[str, Any]]:
    """The squawk-ignore comments of a file: line, scope, rules and the reason after ``--``."""
    found = []
    for lineno, text in enumerate(sql.splitlines(), 1):
        match = _IGNORE_COMMENT.search(text)
        if not match:
            continue
        body = match.group(2).split("*/")[0]
        rules_text, _sep, reason = body.partition("--")
        rules = [r.strip() for r in rules_text.split(",") if r.strip()]
        scope = "file" if match.group(1).endswith("-file") else "statement"
        found.append({"file": filename, "line": lineno, "scope": scope, "rules": rules, "reason": reason.strip()})
    return found


def _statements(migration: Any) -> tuple[list[int], list[Any]]:
    """The file's statements, indexed by line: the migration's own list when it has one (split once per run)."""
    try:
        return _statement_index(migration.statements() if hasattr(migration, "statements")
                                else split_sql(migration.sql))
    except Failure:
        return _statement_index([])  # squawk reports the syntax error itself


def _lint_one(report: LintReport, found: list[dict], migration: Any, levels: dict[str, str],
              accept: set[str]) -> None:
    statements = _statements(migration)
    seen = set()
    for raw in found:
        key = (raw.get("line"), raw.get("column"), raw.get("rule_name"), raw.get("message"))
        if key in seen:
            continue
        seen.add(key)
        rule = str(raw["rule_name"])
        level = levels.get(rule, UNKNOWN_RULE_LEVEL)
        if rule in accept:
            report.accepted[rule] = report.accepted.get(rule, 0) + 1
        elif level == SATISFIED:
            report.satisfied[rule] = report.satisfied.get(rule, 0) + 1
        else:
            report.findings.append(_finding(migration, raw, level, statements))
    for comment in ignore_comments(migration.filename, migration.sql):
        report.ignores.append(comment)
        if comment["scope"] == "file" and not comment["rules"] and IGNORE_FILE_ALL not in accept:
            raw = {"line": comment["line"] - 1, "column": 0, "rule_name": IGNORE_FILE_ALL,
                   "message": "A rule-less `-- squawk-ignore-file` silences every squawk rule for this file.",
                   "help": "Name the rules it accepts: -- squawk-ignore-file <rule>[, <rule>] -- why"}
            report.findings.append(_finding(migration, raw, levels.get(IGNORE_FILE_ALL, ERROR), statements))


def lint_files(squawk: str | None, files: Iterable[Any], pg_version: Any, levels: dict[str, str] | None = None,
               accept: Iterable[str] | None = None, handed: Any = None) -> LintReport:
    """Run squawk once per file and classify what it says.

    ``files`` are MigrationFile-like objects (``path``, ``filename``, ``sql``,
    and ``transactional``, taken as True when absent: the file runs inside one
    transaction, so an index on a table created earlier in the same file is
    not flagged). squawk runs as an argument list through ``_process.run``.
    Raises LintError when squawk cannot give an answer; the caller must then
    stop, as for a blocking finding. ``handed``: squawk's raw findings from the
    controller (``_lint_handoff.Handed``), used instead of running squawk here.
    """
    merged = check_levels(levels)
    accepted = {str(rule).strip() for rule in (accept or []) if str(rule).strip()}
    if handed is not None:
        report = LintReport(squawk=handed.squawk, squawk_version=handed.squawk_version, ran_on=handed.ran_on,
                            pg_version=handed.check_version(normalize_pg_version(pg_version)))
        found_in = handed.findings_for
    else:
        binary = require_executable(squawk)
        report = LintReport(squawk=binary, pg_version=normalize_pg_version(pg_version))
        report.squawk_version = squawk_version(binary)
        found_in = functools.partial(squawk_findings, binary, pg_version=report.pg_version)
    for migration in files:
        report.files.append(migration.filename)
        _lint_one(report, found_in(migration), migration, merged, accepted)
    report.findings.sort(key=lambda f: (report.files.index(f["file"]), f["line"], f["column"], f["rule"]))
    return report


__all__ = ["DEFAULT_LEVELS", "ERROR", "WARNING", "SATISFIED", "LEVELS", "UNKNOWN_RULE_LEVEL", "IGNORE_FILE_ALL",
           "LintError", "LintReport", "find_squawk", "lint_files", "classify", "check_levels",
           "normalize_pg_version", "squawk_version", "squawk_findings", "require_executable", "ignore_comments"]
