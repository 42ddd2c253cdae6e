# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Results stay small whatever the input: summaries in the module result, the long lists in a file.

A migration of 200,000 statements has 200,000 entries of lock analysis and may have as
many lint findings. Ansible holds a module's whole result in memory, on the host and on
the controller, prints it with ``-v`` and stores it in AWX's database; a result that grows
with the input is a failure of its own. So every list a result carries is cut at
``LIMIT`` entries, the most important first, with its total beside it, and the whole lists
go to ``details_file`` when the caller names one (JSON, mode 0600, replaced atomically).
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import write_json_atomic
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import LOCK_MODES, UNKNOWN

# The statements of procedural code a lock-table row names at most.
UNKNOWN_LISTED = 10

LIMIT = 50


class DetailsError(Failure):
    """The details file cannot be written where the caller asked."""


def _weight(stmt: dict[str, Any]) -> int:
    """How much a statement matters to the application: its strongest lock on a relation that existed before
    (unknown counts as the strongest), -1 when it locks nothing the application uses."""
    weight = -1
    for item in stmt["locks"]:
        if item.get("created_in_file"):
            continue
        weight = max(weight, len(LOCK_MODES) if item["mode"] == UNKNOWN else LOCK_MODES.index(item["mode"]))
    return weight


def locks_summary(per_file: dict[str, dict[str, Any]], limit: int = LIMIT) -> dict[str, dict[str, Any]]:
    """Per file: the strongest lock per relation (complete), and at most ``limit`` statements: those with the
    strongest locks on relations that existed before the file, in file order."""
    out = {}
    for name, locks in per_file.items():
        statements = locks["statements"]
        chosen = statements
        if len(statements) > limit:
            ranked = sorted(statements, key=lambda s: (-_weight(s), s["number"]))[:limit]
            chosen = sorted(ranked, key=lambda s: s["number"])
        out[name] = {"strongest": locks["strongest"], "statements": chosen,
                     "statements_total": len(statements), "statements_left_out": len(statements) - len(chosen)}
    return out


def lock_table(per_file: dict[str, dict[str, Any]], limit: int = LIMIT) -> dict[str, Any]:
    """The plan's lock table, short whatever the files: per file and relation that existed before it, the strongest
    lock the file takes on it and the first statement that takes it (strongest first); then one row per file for
    its statements of procedural code, whose locks show only when they run. At most ``limit`` rows."""
    rows: list[dict[str, Any]] = []
    for name, locks in per_file.items():
        best: dict[str, dict[str, Any]] = {}
        unknown: list[dict[str, Any]] = []
        for stmt in locks["statements"]:
            for item in stmt["locks"]:
                if item.get("created_in_file"):
                    continue
                if item["mode"] == UNKNOWN:
                    if not unknown or unknown[-1]["number"] != stmt["number"]:
                        unknown.append(stmt)
                    continue
                held = best.get(item["relation"])
                if held is None or LOCK_MODES.index(item["mode"]) > LOCK_MODES.index(held["mode"]):
                    best[item["relation"]] = {"file": name, "relation": item["relation"], "mode": item["mode"],
                                              "statement": stmt["number"], "line": stmt["line"],
                                              "summary": stmt["summary"]}
        rows += sorted(best.values(), key=lambda r: (-LOCK_MODES.index(r["mode"]), r["relation"]))
        if unknown:
            rows.append({"file": name, "relation": "*", "mode": UNKNOWN, "statement": unknown[0]["number"],
                         "line": unknown[0]["line"],
                         "summary": "procedural code, locks known only when it runs: statement%s %s%s" % (
                             "s" if len(unknown) > 1 else "",
                             ", ".join(str(s["number"]) for s in unknown[:UNKNOWN_LISTED]),
                             " ..." if len(unknown) > UNKNOWN_LISTED else "")})
    return {"rows": rows[:limit], "rows_total": len(rows), "rows_left_out": max(0, len(rows) - limit)}


def lint_summary(full: dict[str, Any], limit: int = LIMIT) -> dict[str, Any]:
    """The lint report with its lists cut at ``limit`` (blocking findings first) and counts per rule."""
    if not full:
        return {}
    findings = full["findings"]
    by_rule: dict[str, int] = {}
    for item in findings:
        by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1
    ordered = full["blocking"] + [f for f in findings if f["level"] != "error"]
    return dict(full, findings=ordered[:limit], blocking=full["blocking"][:limit], ignores=full["ignores"][:limit],
                by_rule=dict(sorted(by_rule.items())), findings_total=len(findings),
                findings_left_out=max(0, len(findings) - limit), ignores_total=len(full["ignores"]))


def write_details(path: str | None, data: dict[str, Any]) -> str:
    """Write ``data`` to ``path`` (nothing when it is empty); returns the path written or ''."""
    if not path:
        return ""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise DetailsError("details_file %s: its directory %s does not exist. Create it, or name a file in an "
                           "existing directory." % (path, directory))
    if os.path.islink(path) or os.path.isdir(path):
        raise DetailsError("details_file %s is a %s; name a plain file (it is replaced on each run)."
                           % (path, "symbolic link" if os.path.islink(path) else "directory"))
    try:
        write_json_atomic(path, data)
    except OSError as exc:
        raise DetailsError("Cannot write details_file %s: %s. Name a file in a directory the module's user can "
                           "write." % (path, exc.strerror or exc)) from None
    return path


__all__ = ["LIMIT", "DetailsError", "locks_summary", "lock_table", "lint_summary", "write_details"]
