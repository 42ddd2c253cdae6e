# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight gate's vocabulary: one check as data, the status decisions, the verdict.

A check is a small dict, the same for every check so that a play, a report or a
dashboard reads them all alike::

    {"name": "free_memory", "status": "pass" | "warn" | "fail",
     "observed": <what was measured, JSON>, "threshold": <what it was held against, JSON or None>,
     "message": "what was seen; for warn and fail, what to do", "details": [...]}   # details: optional, short

``warn`` never stops anything; any ``fail`` makes the gate fail (``PreflightFailed``,
whose message names each failed check and what to fix), unless the caller asked only
for the report. Everything here is pure: the checks that measure live in
``_preflight_host``, ``_preflight_db``, ``_preflight_rights``, ``_preflight_tools`` and
``_preflight_plan``; the job that runs them is ``_preflight_job``.
"""

from __future__ import annotations

from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure

PASS = "pass"
WARN = "warn"
FAIL = "fail"
STATUSES = (PASS, WARN, FAIL)

MIB = 1024 * 1024

# How long a catalog read or a check's scan waits for a lock before it gives up, rather than queue the application
# behind it.
LOCK_TIMEOUT = "3s"

# A check's details stay short: a play prints them, the whole picture is the operator's next query.
DETAILS_LIMIT = 10


class PreflightFailed(Failure):
    """At least one pre-flight check failed; nothing was written anywhere."""


def cut(items: Iterable[Any], limit: int = DETAILS_LIMIT) -> list[Any]:
    """At most ``limit`` entries, the last one saying how many were left out."""
    items = list(items)
    if len(items) <= limit:
        return items
    return items[:limit - 1] + ["... and %d more" % (len(items) - limit + 1)]


def make_check(name: str, status: str, observed: Any, threshold: Any, message: str,
               details: Iterable[Any] | None = None) -> dict[str, Any]:
    """One check's result in the shape every check has."""
    if status not in STATUSES:
        raise ValueError("status %r is not one of %s" % (status, ", ".join(STATUSES)))
    check: dict[str, Any] = {"name": name, "status": status, "observed": observed, "threshold": threshold,
                             "message": message}
    if details:
        check["details"] = cut(details)
    return check


def at_least(observed: float | None, minimum: float | None) -> str:
    """fail below ``minimum``; warn when nothing could be measured; pass otherwise (no minimum: pass)."""
    if minimum is None:
        return PASS
    if observed is None:
        return WARN
    return PASS if observed >= minimum else FAIL


def above(observed: float | None, warn_above: float | None, fail_above: float | None = None) -> str:
    """fail above ``fail_above``, warn above ``warn_above``, pass otherwise; an unmeasured value warns."""
    if observed is None:
        return WARN
    if fail_above is not None and observed > fail_above:
        return FAIL
    if warn_above is not None and observed > warn_above:
        return WARN
    return PASS


def worst(*statuses: str) -> str:
    """The worst of ``statuses`` (fail > warn > pass)."""
    return max(statuses, key=STATUSES.index) if statuses else PASS


def summarize(checks: list[dict[str, Any]], not_checked: Iterable[str] = ()) -> dict[str, Any]:
    """The gate's verdict: the checks, their counts, ok (no fail) and the names of the failed and warned ones."""
    counts = {status: sum(1 for c in checks if c["status"] == status) for status in STATUSES}
    return {"checks": checks, "counts": counts, "ok": counts[FAIL] == 0,
            "failed_checks": [c["name"] for c in checks if c["status"] == FAIL],
            "warned_checks": [c["name"] for c in checks if c["status"] == WARN],
            "not_checked": list(not_checked)}


def failure_message(verdict: dict[str, Any], where: str) -> str:
    """Every failed check and what to fix, for the module's failure (one line each)."""
    failed = [c for c in verdict["checks"] if c["status"] == FAIL]
    lines = ["Pre-flight of %s: %d check(s) failed (%s); nothing was written. Fix these before migrating:"
             % (where, len(failed), ", ".join(c["name"] for c in failed))]
    lines.extend("  %s: %s" % (c["name"], c["message"]) for c in failed)
    if verdict.get("not_checked"):
        lines.append("Not checked, for want of a connection: %s." % ", ".join(verdict["not_checked"]))
    return "\n".join(lines)


def mb(num_bytes: float | None) -> int | None:
    """Bytes as whole MiB (rounded down), the unit of the thresholds."""
    return None if num_bytes is None else int(num_bytes // MIB)


__all__ = ["PASS", "WARN", "FAIL", "STATUSES", "MIB", "DETAILS_LIMIT", "PreflightFailed", "cut", "make_check",
           "at_least", "above", "worst", "summarize", "failure_message", "mb"]
