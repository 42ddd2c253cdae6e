# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log of a run as one dict (the JSON report), sections named after the runbook's template.

``build(run_id, facts, measured, before, context)``: see ``_report_facts`` for the pieces. A figure that cannot be
computed is None, and ``absent[<section>.<figure>]`` says why in words the Markdown prints as they are.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_facts import (
    LIST_LIMIT,
    ROLLBACK_WORDS,
    backups_of,
    change_percent,
    failure_of,
    monitor_of,
    phase_of,
    preserved_percent,
    probe_figures,
    recovery_points,
    summary_of,
    when,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_timeline import timeline_of

FORMAT = 1
NO_PROBE = "not measured: no probe configured (facts.probe.%s holds no pg_probe figures)"
NO_SNAPSHOT = "not measured: no snapshot was taken before the run (migration_report snapshot=before)"


def _versions(rows: list[dict[str, Any]], statuses: tuple[str, ...]) -> list[str]:
    return ["%s_%s" % (r["version"], r["name"]) for r in rows if r.get("status") in statuses]


def _duration_s(start: Any, end: Any) -> float | None:
    start, end = when(start), when(end)
    if start is None or end is None or end < start:
        return None
    return round((end - start).total_seconds(), 1)


class _Report:
    """The dict being filled, with the reasons for what is absent."""

    def __init__(self) -> None:
        self.absent: dict[str, str] = {}

    def figure(self, path: str, value: Any, reason: str) -> Any:
        if value is None:
            self.absent[path] = reason
        return value


def _header(rep: _Report, run_id: str, facts: dict[str, Any], measured: dict[str, Any],
            context: dict[str, Any]) -> dict[str, Any]:
    rows = measured.get("ledger") or []
    started = facts.get("started") or (min((r["started_at"] for r in rows if r.get("started_at")), default=None))
    finished = facts.get("finished") or (max((r["completed_at"] for r in rows if r.get("completed_at")),
                                             default=None))
    stamp = when(started)
    executed_by = facts.get("executed_by") or ", ".join(sorted({r["executed_by"] for r in rows
                                                                if r.get("executed_by")}))
    job_id = facts.get("job_id") or ", ".join(sorted({r["job_id"] for r in rows if r.get("job_id")}))
    return {
        "run_id": run_id,
        "host": context["host"],
        "database": measured.get("database"),
        "date": rep.figure("migration.date", facts.get("date") or (stamp.date().isoformat() if stamp else None),
                           "not recorded: no ledger row of this run and no facts.started"),
        "started": when(started).isoformat() if when(started) else None,
        "finished": when(finished).isoformat() if when(finished) else None,
        "duration_s": rep.figure("migration.duration_s", _duration_s(started, finished),
                                 "not measured: the run's start or end is unknown (no ledger row of this run "
                                 "completed, and facts.started/facts.finished are not both given)"),
        "environment": rep.figure("migration.environment", facts.get("environment") or None,
                                  "not given: facts.environment is empty"),
        "executed_by": rep.figure("migration.executed_by", executed_by or None,
                                  "not recorded: no ledger row of this run and no facts.executed_by"),
        "job_id": job_id or None,
        "applied": _versions(rows, ("applied", "rolled_back")),
        "baselined": _versions(rows, ("baseline",)),
        "failed": _versions(rows, ("failed",)),
        "ledger": rows[:LIST_LIMIT],
        "ledger_total": len(rows),
    }


def _side(rep: _Report, section: str, snapshot: dict[str, Any] | None, probe: Any, probe_key: str,
          reason: str, order: list[str]) -> dict[str, Any]:
    snapshot = snapshot or {}
    counts = snapshot.get("record_counts")
    if isinstance(counts, dict) and order:  # the order of count_tables, whatever order the file keeps
        counts = dict(sorted(counts.items(), key=lambda item: order.index(item[0]) if item[0] in order
                             else len(order)))
    probed = probe_figures(probe)
    return {
        "measured_at": snapshot.get("measured_at"),
        "database_size_bytes": rep.figure(section + ".database_size_bytes", snapshot.get("database_size_bytes"),
                                          reason),
        "record_counts": rep.figure(section + ".record_counts", counts or None, reason),
        "record_counts_missing": sorted(t for t, n in (counts or {}).items() if n is None),
        "table_count": len(snapshot["tables"]) if snapshot.get("tables") is not None else None,
        "response_time": rep.figure(section + ".response_time", probed, NO_PROBE % probe_key),
    }


def _phases(facts: dict[str, Any], failure: dict[str, Any] | None) -> list[dict[str, Any]]:
    phases = [phase_of(p) for p in facts.get("phases") or [] if isinstance(p, dict)]
    if failure:
        named = [p for p in phases if failure["phase"] and p["name"] == failure["phase"]]
        if named:
            named[0]["status"] = "FAILED"
        elif failure["phase"] or not phases:
            phases.append({"name": failure["phase"] or "migration", "status": "FAILED", "duration_ms": None,
                           "versions": []})
        # else: the phases ran and a later step failed (a validation, a recovery point): the phases stay as they
        # ran, and the failure has its own section
    return phases


def _rollback(facts: dict[str, Any], head: dict[str, Any], failure: dict[str, Any] | None) -> dict[str, Any]:
    given = facts.get("rollback")
    if isinstance(given, dict) and given.get("status"):
        status = str(given["status"])
        return {"status": ROLLBACK_WORDS.get(status.lower(), status), "method": given.get("method"),
                "detail": given.get("detail") or given.get("message")}
    reverted = [r["version"] for r in head["ledger"] if r.get("status") == "rolled_back"]
    if reverted:
        return {"status": "Applied Successfully", "method": "rollback_script",
                "detail": "the ledger marks %s rolled back" % ", ".join(reverted)}
    if failure:
        return {"status": "Not Applied", "method": None,
                "detail": "the database is as the ledger says: %s" % (
                    ", ".join("%s %s" % (r["version"], r["status"]) for r in head["ledger"]) or "no row of this run")}
    return {"status": "Not Required", "method": None, "detail": None}


def _issues(failure, gates, probes, monitor, head, points) -> list[str]:
    issues = []
    if failure:
        issues.append("FAILED: %s%s%s" % (failure["message"], " (task: %s)" % failure["task"] if failure["task"]
                                          else "", "; at %s" % failure["where"] if failure["where"] else ""))
    for gate in gates:
        if gate:
            issues += ["%s check failed: %s" % (gate["gate"], f) for f in gate["failing"]]
            issues += ["%s warning: %s" % (gate["gate"], w) for w in gate["warnings"]]
    for name, value in probes:
        for reason in (value or {}).get("reasons") or []:
            issues.append("probe %s: %s" % (name, reason))
    if monitor:
        issues += ["monitor: %s" % a for a in monitor["alerts"]]
    issues += ["ledger: %s is marked failed in this run" % v for v in head["failed"]]
    issues += ["recovery point %s (%s) is not verified" % (p["backup_id"], p["purpose"]) for p in points
               if not p["verified"]]
    return issues[:LIST_LIMIT]


def _next_steps(facts: dict[str, Any], verdict: str, run_id: str, rollback: dict[str, Any]) -> list[str]:
    given = [str(s) for s in facts.get("next_steps") or [] if str(s).strip()]
    if given:
        return given
    if verdict == "FAILED" and rollback["status"] == "Not Applied":
        return ["Fix the cause in Issues Encountered and run the migration again (the ledger resumes where it "
                "stopped).", "Or go back to the recovery point before the run: ansible-playbook playbooks/recover.yml "
                "-e recover_run_id=%s" % run_id]
    if verdict == "FAILED":
        return ["Find the cause in Issues Encountered before the next attempt; the database is back as Rollback "
                "Status says."]
    return ["Watch the application's error rate and response times.",
            "Remove this run's recovery points once they are no longer needed (backup retention: keep_last)."]


def build(run_id: str, facts: dict[str, Any], measured: dict[str, Any], before: dict[str, Any] | None,
          context: dict[str, Any]) -> dict[str, Any]:
    """The report of ``run_id``. ``context``: host, generated_at, check_mode, before_source, own_tables."""
    rep = _Report()
    facts = facts or {}
    failure = failure_of(facts)
    head = _header(rep, run_id, facts, measured, context)
    probe = facts.get("probe") if isinstance(facts.get("probe"), dict) else {}
    order = list(measured.get("record_counts") or {})
    pre = _side(rep, "pre_migration", before, probe.get("before"), "before",
                NO_SNAPSHOT if before is None else "not measured in the snapshot before the run", order)
    post = _side(rep, "post_migration", measured, probe.get("after"), "after",
                 "not measured: the database could not be read", order)
    preflight = summary_of(facts.get("preflight"), "preflight")
    validation = summary_of(facts.get("validation"), "validation")
    monitor = monitor_of(facts.get("monitor"))
    phases = _phases(facts, failure)
    points = recovery_points(measured.get("recovery_points") or [], facts.get("recovery_points") or [])

    own = set(context.get("own_tables") or ())
    new_tables = None
    if before is not None and before.get("tables") is not None and measured.get("tables") is not None:
        new_tables = sorted(set(measured["tables"]) - set(before["tables"]) - own)
    post["new_table_count"] = rep.figure("post_migration.new_table_count",
                                         len(new_tables) if new_tables is not None else None,
                                         NO_SNAPSHOT if before is None else "not measured: no table list before")
    post["new_tables"] = (new_tables or [])[:LIST_LIMIT]
    post["data_preserved_percent"] = rep.figure(
        "post_migration.data_preserved_percent",
        preserved_percent(pre["record_counts"] or {}, post["record_counts"] or {}),
        NO_SNAPSHOT if before is None else "not measured: a counted table is missing before or after the run")
    post["size_change_bytes"] = (post["database_size_bytes"] - pre["database_size_bytes"]
                                 if None not in (post["database_size_bytes"], pre["database_size_bytes"]) else None)
    impact = None
    if post["response_time"]:
        impact = post["response_time"]["impact_percent"]
        if not impact and pre["response_time"]:
            impact = {k: change_percent(post["response_time"]["figures"][k + "_ms"],
                                        pre["response_time"]["figures"][k + "_ms"]) for k in ("p50", "mean")}
    post["performance_impact_percent"] = rep.figure(
        "post_migration.performance_impact_percent", impact or None,
        "not measured: no probe configured before and after the run (facts.probe.before and facts.probe.after)")
    post["monitor"] = rep.figure("post_migration.monitor", monitor,
                                 "not measured: no monitoring figures in facts.monitor")

    if validation is None:
        rep.absent["results.validation"] = "not run: no validation result in facts.validation"
    validation_status = None if validation is None else (
        "SUCCESS" if validation["ok"] else "FAILED" if validation["ok"] is False else "NOT RECORDED")
    failed = bool(failure) or validation_status == "FAILED" or any(p["status"] == "FAILED" for p in phases) or \
        any(v.split("_")[0] not in [a.split("_")[0] for a in head["applied"]] for v in head["failed"])
    verdict = "FAILED" if failed else ("SUCCESS" if head["applied"] else "NO CHANGE")
    rollback = _rollback(facts, head, failure)
    probes = [("before", _dict_or_none(probe.get("before"))), ("after", _dict_or_none(probe.get("after")))]
    post["issues"] = _issues(failure, [preflight, validation], probes, monitor, head, points)
    return {
        "format": FORMAT,
        "generated_at": context["generated_at"],
        "check_mode": bool(context.get("check_mode")),
        "verdict": verdict,
        "migration": head,
        "pre_migration": dict(pre, preflight=preflight, source=context.get("before_source")),
        "results": {"phases": phases, "validation": validation_status, "validation_detail": validation,
                    "total_duration_s": head["duration_s"]},
        "post_migration": post,
        "recovery_points": points[:LIST_LIMIT],
        "backups": backups_of(facts)[:LIST_LIMIT],
        "failure": failure,
        "rollback": rollback,
        "next_steps": _next_steps(facts, verdict, run_id, rollback)[:LIST_LIMIT],
        "timeline": timeline_of(facts, phases, head["ledger"], points, head),
        "absent": rep.absent,
    }


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
