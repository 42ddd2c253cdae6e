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


def or_why(report: dict[str, Any], path: str, text: str | None) -> str:
    return text if text is not None else report["absent"].get(path, "not recorded")


def counts_text(counts: dict[str, Any] | None) -> str | None:
    if counts is None:
        return None
    return ", ".join("%s (%s)" % (t, "{:,}".format(n) if n is not None else "no such table")
                     for t, n in counts.items())


def response_text(side: dict[str, Any]) -> str | None:
    probe = side["response_time"]
    if probe is None:
        return None
    fig = probe["figures"]
    parts = ["Avg response time %s" % ms(fig["mean_ms"]), "p50 %s" % ms(fig["p50_ms"]), "p95 %s" % ms(fig["p95_ms"])]
    if fig.get("samples") is not None:
        parts.append("%s samples, %s errors" % (fig["samples"], fig.get("errors") or 0))
    return ", ".join(parts) + (" (%s)" % probe["probe"] if probe.get("probe") else "")


def gate_text(gate: dict[str, Any] | None) -> str | None:
    if gate is None:
        return None
    return "%s (%s)" % ({True: "passed", False: "FAILED", None: "result not stated"}[gate["ok"]], gate_detail(gate))


def gate_detail(gate: dict[str, Any]) -> str:
    extra = []
    if gate["counts"]:
        extra.append(", ".join("%s %s" % (k, v) for k, v in sorted(gate["counts"].items())))
    extra.append("%d warnings" % len(gate["warnings"]))
    if gate["failing"]:
        extra.append("%d failing checks" % len(gate["failing"]))
    return "; ".join(extra)


def header_fields(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The log's head as (label, text): Migration Date, Version, Environment, Executed By, Result (and what was
    baselined). The Markdown and the HTML page print these same texts."""
    mig = report["migration"]
    applied = " + ".join(mig["applied"])
    if mig["failed"]:
        applied += (" + " if applied else "") + " + ".join("%s (failed)" % v for v in mig["failed"])
    if not applied:
        applied = "none applied: " + ("the run failed before a migration committed" if report["failure"]
                                      else "nothing was pending")
    when_text = or_why(report, "migration.date", mig["date"])
    if mig["started"]:
        when_text += " (started %s, finished %s)" % (stamp(mig["started"]), stamp(mig["finished"]) or "not recorded")
    fields = [
        ("Migration Date", when_text),
        ("Migration Version", applied),
        ("Environment", "%s (host %s, database %s)" % (
            or_why(report, "migration.environment", mig["environment"]), mig["host"], mig["database"])),
        ("Executed By", "%s%s" % (or_why(report, "migration.executed_by", mig["executed_by"]),
                                  " (job %s)" % mig["job_id"] if mig["job_id"] else "")),
        ("Result", report["verdict"]),
    ]
    if mig["baselined"]:
        fields.append(("Baselined (recorded as present, not run)", ", ".join(mig["baselined"])))
    return fields


def _header(report: dict[str, Any]) -> list[str]:
    lines = ["# Migration Log: run %s" % report["migration"]["run_id"], ""]
    if report["check_mode"]:
        lines += ["> CHECK MODE: this report was computed and not written.", ""]
    return lines + ["- **%s:** %s" % field for field in header_fields(report)]


def status_fields(report: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """Pre- or Post-Migration Status (``key`` pre_migration or post_migration) as (label, text)."""
    side = report[key]
    size = mb(side["database_size_bytes"]) if side["database_size_bytes"] is not None else None
    if key == "post_migration" and side["size_change_bytes"] is not None:
        size += " (%+.1f MB)" % (side["size_change_bytes"] / 1048576.0)
    fields = [("Database Size", or_why(report, key + ".database_size_bytes", size)),
              ("Record Counts", or_why(report, key + ".record_counts", counts_text(side["record_counts"])))]
    if side["measured_at"]:
        fields.append(("Measured At", stamp(side["measured_at"])))
    label = "Performance Baseline" if key == "pre_migration" else "Response Time"
    fields.append((label, or_why(report, key + ".response_time", response_text(side))))
    if key == "pre_migration":
        fields.append(("Pre-flight Checks", gate_text(side["preflight"]) or
                       "not run: no pre-flight result in facts.preflight"))
    return fields


def _status(report: dict[str, Any], key: str, title: str) -> list[str]:
    return ["", "## %s" % title, ""] + ["- %s: %s" % field for field in status_fields(report, key)]


def phase_text(phase: dict[str, Any]) -> str:
    """A phase's line after its name: status (versions, duration)."""
    extra = [", ".join(phase["versions"])] if phase["versions"] else []
    if phase["duration_ms"] is not None:
        extra.append(seconds(phase["duration_ms"] / 1000.0))
    return "%s%s" % (phase["status"], " (%s)" % ", ".join(extra) if extra else "")


def results_fields(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Migration Results as (label, text): one line per phase, the validation, the total duration."""
    res = report["results"]
    fields = []
    if not res["phases"]:
        fields.append(("Phases", "not recorded (facts.phases is empty); the ledger rows below are this run's"))
    for phase in res["phases"]:
        # "migration": the failure of a run whose phase is not known (see _report_build._phases)
        label = "Migration" if phase["name"] == "migration" else "%s Migration" % phase["name"].capitalize()
        fields.append((label, phase_text(phase)))
    validation = res["validation"] or report["absent"].get("results.validation")
    if res["validation_detail"]:
        validation += " (%s)" % gate_detail(res["validation_detail"])
    fields.append(("Validation", validation))
    fields.append(("Total Duration", or_why(report, "migration.duration_s", seconds(res["total_duration_s"])
                                            if res["total_duration_s"] is not None else None)))
    return fields


def ledger_cells(row: dict[str, Any]) -> tuple[Any, ...]:
    """A ledger row as the log's table shows it: version, name, status, duration, executed by, completed."""
    duration = seconds(row["duration_ms"] / 1000.0) if row.get("duration_ms") is not None else ""
    return (row["version"], row["name"], row["status"], duration, row.get("executed_by"),
            stamp(row.get("completed_at")))


def _results(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Migration Results", ""]
    fields = results_fields(report)
    lines += ["- %s: %s" % field for field in fields]
    ledger = report["migration"]["ledger"]
    if ledger:
        lines += ["", "| version | name | status | duration | executed by | completed |", "|---|---|---|---|---|---|"]
        for row in ledger:
            lines.append("| %s |" % " | ".join(cell(v) for v in ledger_cells(row)))
        if report["migration"]["ledger_total"] > len(ledger):
            lines.append("\n(%d more rows in the ledger)" % (report["migration"]["ledger_total"] - len(ledger)))
    else:
        lines.append("- Ledger: no row of this run")
    return lines


def post_fields(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Post-Migration Status as (label, text), the issues apart (``post_migration.issues``)."""
    post = report["post_migration"]
    fields = status_fields(report, "post_migration")
    count = post["new_table_count"]
    if count is not None:
        count = "%d%s" % (count, " (%s)" % ", ".join(post["new_tables"]) if post["new_tables"] else "")
    fields.append(("New Table Count", or_why(report, "post_migration.new_table_count", count)))
    preserved = post["data_preserved_percent"]
    text = "%.1f%% (record counts of the counted tables, before and after)" % preserved if preserved is not None \
        else None
    detail = report["results"]["validation_detail"]
    if detail and detail["data_preserved_percent"] is not None:
        text = (text + "; " if text else "") + "%.1f%% (validation)" % detail["data_preserved_percent"]
    fields.append(("Data Preserved", or_why(report, "post_migration.data_preserved_percent", text)))
    impact = post["performance_impact_percent"]
    fields.append(("Performance Impact", or_why(report, "post_migration.performance_impact_percent", ", ".join(
        "%s (%s)" % ("%+.1f%%" % v if v is not None else "no figure", k) for k, v in sorted(impact.items()))
        if impact else None)))
    monitor = post["monitor"]
    fields.append(("Monitoring Peaks", or_why(report, "post_migration.monitor", ", ".join(
        "%s %s" % (k, v) for k, v in monitor["peaks"].items()) or "none recorded" if monitor else None)))
    return fields


def _post(report: dict[str, Any]) -> list[str]:
    issues = report["post_migration"]["issues"]
    lines = ["", "## Post-Migration Status", ""] + ["- %s: %s" % field for field in post_fields(report)]
    lines.append("- Issues Encountered: %s" % ("none" if not issues else ""))
    return lines + ["  - %s" % issue for issue in issues]


def point_cells(point: dict[str, Any]) -> tuple[Any, ...]:
    """A recovery point as the log's table shows it: id, purpose, backup, kind, size, verified, taken."""
    size = mb(point["size_bytes"]) if point["size_bytes"] is not None else ""
    verified = "yes" if point["verified"] else "NO"
    if point["removed_at"]:
        verified += ", removed %s" % stamp(point["removed_at"])
    return (point["id"], point["purpose"], point["backup_id"], point["kind"], size, verified,
            stamp(point["created_at"]))


def backup_lines(report: dict[str, Any]) -> list[str]:
    """The backups with a size or a duration: 'Backup <id>: <size>, <duration>'."""
    out = []
    for backup in report["backups"]:
        if backup["duration_ms"] is None and backup["size_bytes"] is None:
            continue
        size = mb(backup["size_bytes"]) if backup["size_bytes"] is not None else "size not recorded"
        took = ", %s" % seconds(backup["duration_ms"] / 1000.0) if backup["duration_ms"] is not None else ""
        out.append("Backup %s: %s%s" % (backup["backup_id"], size, took))
    return out


def rollback_text(report: dict[str, Any]) -> str:
    rollback = report["rollback"]
    return rollback["status"] + (": %s" % rollback["detail"] if rollback["detail"] else "")


def failure_fields(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The failure as (label, text), or [] after a run that did not fail."""
    failure = report["failure"]
    if not failure:
        return []
    keys = ("task", "phase", "where", "ledger")
    return [("Message", failure["message"])] + [(k.capitalize(), failure[k]) for k in keys if failure[k]]


def _points(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Recovery Points", ""]
    if not report["recovery_points"]:
        return lines + ["No recovery point was recorded for this run."]
    lines += ["| id | purpose | backup | kind | size | verified | taken |", "|---|---|---|---|---|---|---|"]
    for point in report["recovery_points"]:
        lines.append("| %s |" % " | ".join(cell(v) for v in point_cells(point)))
    return lines + ["\n- %s" % line for line in backup_lines(report)]


def markdown(report: dict[str, Any]) -> str:
    lines = _header(report)
    lines += _status(report, "pre_migration", "Pre-Migration Status")
    lines += _results(report)
    lines += _post(report)
    lines += _points(report)
    lines += ["", "## Rollback Status", "", rollback_text(report)]
    failure = failure_fields(report)
    if failure:
        lines += ["", "## Failure", ""] + ["- %s: %s" % field for field in failure]
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
