# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log as Markdown, headed like the runbook's template, and the compact summary for set_stats.

Only what the report dict (``_report_build``) holds is printed: a figure that is None is replaced by the reason the
dict gives for it (``absent``), never by a placeholder.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_facts import when

STATS_POINTS = 10


def mb(size: Any) -> str:
    return "%.1f MB" % (size / 1048576.0)


def seconds(value: Any) -> str:
    if value is None:
        return ""
    if value < 60:
        return "%.1f s" % value
    minutes, rest = divmod(int(round(value)), 60)
    return "%d min %02d s" % (minutes, rest) if minutes < 60 else "%d h %02d min %02d s" % (
        minutes // 60, minutes % 60, rest)


def stamp(value: Any) -> str:
    """An ISO 8601 time as the log prints it: 2026-11-24 21:33:00 UTC (the JSON keeps the whole value)."""
    parsed = when(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else ("" if value is None else str(value))


def ms(value: Any) -> str:
    return "%.3f ms" % value if value is not None else "no time"


def cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _or_why(report: dict[str, Any], path: str, text: str | None) -> str:
    return text if text is not None else report["absent"].get(path, "not recorded")


def _counts(counts: dict[str, Any] | None) -> str | None:
    if counts is None:
        return None
    return ", ".join("%s (%s)" % (t, "{:,}".format(n) if n is not None else "no such table")
                     for t, n in counts.items())


def _response(side: dict[str, Any]) -> str | None:
    probe = side["response_time"]
    if probe is None:
        return None
    fig = probe["figures"]
    parts = ["Avg response time %s" % ms(fig["mean_ms"]), "p50 %s" % ms(fig["p50_ms"]), "p95 %s" % ms(fig["p95_ms"])]
    if fig.get("samples") is not None:
        parts.append("%s samples, %s errors" % (fig["samples"], fig.get("errors") or 0))
    return ", ".join(parts) + (" (%s)" % probe["probe"] if probe.get("probe") else "")


def _gate(gate: dict[str, Any] | None) -> str | None:
    if gate is None:
        return None
    return "%s (%s)" % ({True: "passed", False: "FAILED", None: "result not stated"}[gate["ok"]], _gate_detail(gate))


def _gate_detail(gate: dict[str, Any]) -> str:
    extra = []
    if gate["counts"]:
        extra.append(", ".join("%s %s" % (k, v) for k, v in sorted(gate["counts"].items())))
    extra.append("%d warnings" % len(gate["warnings"]))
    if gate["failing"]:
        extra.append("%d failing checks" % len(gate["failing"]))
    return "; ".join(extra)


def _header(report: dict[str, Any]) -> list[str]:
    mig = report["migration"]
    applied = " + ".join(mig["applied"])
    if mig["failed"]:
        applied += (" + " if applied else "") + " + ".join("%s (failed)" % v for v in mig["failed"])
    if not applied:
        applied = "none applied: " + ("the run failed before a migration committed" if report["failure"]
                                      else "nothing was pending")
    when_text = _or_why(report, "migration.date", mig["date"])
    if mig["started"]:
        when_text += " (started %s, finished %s)" % (stamp(mig["started"]), stamp(mig["finished"]) or "not recorded")
    lines = ["# Migration Log: run %s" % mig["run_id"], ""]
    if report["check_mode"]:
        lines += ["> CHECK MODE: this report was computed and not written.", ""]
    lines += [
        "- **Migration Date:** %s" % when_text,
        "- **Migration Version:** %s" % applied,
        "- **Environment:** %s (host %s, database %s)" % (
            _or_why(report, "migration.environment", mig["environment"]), mig["host"], mig["database"]),
        "- **Executed By:** %s%s" % (_or_why(report, "migration.executed_by", mig["executed_by"]),
                                     " (job %s)" % mig["job_id"] if mig["job_id"] else ""),
        "- **Result:** %s" % report["verdict"],
    ]
    if mig["baselined"]:
        lines.append("- **Baselined (recorded as present, not run):** %s" % ", ".join(mig["baselined"]))
    return lines


def _status(report: dict[str, Any], key: str, title: str) -> list[str]:
    side = report[key]
    size = mb(side["database_size_bytes"]) if side["database_size_bytes"] is not None else None
    if key == "post_migration" and side["size_change_bytes"] is not None:
        size += " (%+.1f MB)" % (side["size_change_bytes"] / 1048576.0)
    lines = ["", "## %s" % title, "",
             "- Database Size: %s" % _or_why(report, key + ".database_size_bytes", size),
             "- Record Counts: %s" % _or_why(report, key + ".record_counts", _counts(side["record_counts"]))]
    if side["measured_at"]:
        lines.append("- Measured At: %s" % stamp(side["measured_at"]))
    label = "Performance Baseline" if key == "pre_migration" else "Response Time"
    lines.append("- %s: %s" % (label, _or_why(report, key + ".response_time", _response(side))))
    if key == "pre_migration":
        lines.append("- Pre-flight Checks: %s" % (_gate(side["preflight"]) or
                                                  "not run: no pre-flight result in facts.preflight"))
    return lines


def _results(report: dict[str, Any]) -> list[str]:
    res = report["results"]
    lines = ["", "## Migration Results", ""]
    if not res["phases"]:
        lines.append("- Phases: not recorded (facts.phases is empty); the ledger rows below are this run's")
    for phase in res["phases"]:
        extra = [", ".join(phase["versions"])] if phase["versions"] else []
        if phase["duration_ms"] is not None:
            extra.append(seconds(phase["duration_ms"] / 1000.0))
        lines.append("- %s Migration: %s%s" % (phase["name"].capitalize(), phase["status"],
                                               " (%s)" % ", ".join(extra) if extra else ""))
    validation = res["validation"] or report["absent"].get("results.validation")
    if res["validation_detail"]:
        validation += " (%s)" % _gate_detail(res["validation_detail"])
    lines.append("- Validation: %s" % validation)
    lines.append("- Total Duration: %s" % _or_why(report, "migration.duration_s", seconds(res["total_duration_s"])
                                                  if res["total_duration_s"] is not None else None))
    ledger = report["migration"]["ledger"]
    if ledger:
        lines += ["", "| version | name | status | duration | executed by | completed |", "|---|---|---|---|---|---|"]
        for row in ledger:
            duration = seconds(row["duration_ms"] / 1000.0) if row.get("duration_ms") is not None else ""
            values = (row["version"], row["name"], row["status"], duration, row.get("executed_by"),
                      stamp(row.get("completed_at")))
            lines.append("| %s |" % " | ".join(cell(v) for v in values))
        if report["migration"]["ledger_total"] > len(ledger):
            lines.append("\n(%d more rows in the ledger)" % (report["migration"]["ledger_total"] - len(ledger)))
    else:
        lines.append("- Ledger: no row of this run")
    return lines


def _post(report: dict[str, Any]) -> list[str]:
    post = report["post_migration"]
    lines = _status(report, "post_migration", "Post-Migration Status")
    count = post["new_table_count"]
    if count is not None:
        count = "%d%s" % (count, " (%s)" % ", ".join(post["new_tables"]) if post["new_tables"] else "")
    lines.append("- New Table Count: %s" % _or_why(report, "post_migration.new_table_count", count))
    preserved = post["data_preserved_percent"]
    text = "%.1f%% (record counts of the counted tables, before and after)" % preserved if preserved is not None \
        else None
    detail = report["results"]["validation_detail"]
    if detail and detail["data_preserved_percent"] is not None:
        text = (text + "; " if text else "") + "%.1f%% (validation)" % detail["data_preserved_percent"]
    lines.append("- Data Preserved: %s" % _or_why(report, "post_migration.data_preserved_percent", text))
    impact = post["performance_impact_percent"]
    lines.append("- Performance Impact: %s" % _or_why(report, "post_migration.performance_impact_percent", ", ".join(
        "%s (%s)" % ("%+.1f%%" % v if v is not None else "no figure", k) for k, v in sorted(impact.items()))
        if impact else None))
    monitor = post["monitor"]
    lines.append("- Monitoring Peaks: %s" % _or_why(report, "post_migration.monitor", ", ".join(
        "%s %s" % (k, v) for k, v in monitor["peaks"].items()) or "none recorded" if monitor else None))
    lines.append("- Issues Encountered: %s" % ("none" if not post["issues"] else ""))
    lines += ["  - %s" % issue for issue in post["issues"]]
    return lines


def _points(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Recovery Points", ""]
    if not report["recovery_points"]:
        return lines + ["No recovery point was recorded for this run."]
    lines += ["| id | purpose | backup | kind | size | verified | taken |", "|---|---|---|---|---|---|---|"]
    for point in report["recovery_points"]:
        size = mb(point["size_bytes"]) if point["size_bytes"] is not None else ""
        verified = "yes" if point["verified"] else "NO"
        if point["removed_at"]:
            verified += ", removed %s" % stamp(point["removed_at"])
        values = (point["id"], point["purpose"], point["backup_id"], point["kind"], size, verified,
                  stamp(point["created_at"]))
        lines.append("| %s |" % " | ".join(cell(v) for v in values))
    backups = [b for b in report["backups"] if b["duration_ms"] is not None or b["size_bytes"] is not None]
    for backup in backups:
        size = mb(backup["size_bytes"]) if backup["size_bytes"] is not None else "size not recorded"
        took = ", %s" % seconds(backup["duration_ms"] / 1000.0) if backup["duration_ms"] is not None else ""
        lines.append("\n- Backup %s: %s%s" % (backup["backup_id"], size, took))
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = _header(report)
    lines += _status(report, "pre_migration", "Pre-Migration Status")
    lines += _results(report)
    lines += _post(report)
    lines += _points(report)
    rollback = report["rollback"]
    detail = ": %s" % rollback["detail"] if rollback["detail"] else ""
    lines += ["", "## Rollback Status", "", rollback["status"] + detail]
    if report["failure"]:
        failure = report["failure"]
        lines += ["", "## Failure", "", "- Message: %s" % failure["message"]]
        lines += ["- %s: %s" % (k.capitalize(), failure[k]) for k in ("task", "phase", "where", "ledger")
                  if failure[k]]
    lines += ["", "## Next Steps", ""] + ["- %s" % step for step in report["next_steps"]]
    return "\n".join(lines) + "\n"


def stats(report: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """What set_stats publishes for the run: small whatever the run (at most 10 recovery points)."""
    mig = report["migration"]
    return {
        "run_id": mig["run_id"],
        "host": mig["host"],
        "environment": mig["environment"],
        "verdict": report["verdict"],
        "versions_applied": mig["applied"][:20],
        "duration_s": mig["duration_s"],
        "recovery_points": [{"purpose": p["purpose"], "backup_id": p["backup_id"]}
                            for p in report["recovery_points"][:STATS_POINTS]],
        "report": dict(paths),
    }
