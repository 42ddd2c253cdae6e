# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log of a run as data: the runbook's template filled from the run's facts and the database's figures.

``build`` takes what the caller recorded during the run (``facts``: the other modules' registered results, each key
optional), what the report measured on the database at its own time (``measured``: size, exact record counts,
tables, the run's ledger rows and recovery points) and the figures recorded before the run (``before``: the
``snapshot: before`` file), and returns one dict. Every figure is either computed from those, or None with the
reason in ``absent`` (keyed by the figure's path), so the Markdown can say why in plain words: no placeholder is
ever written.

Pure: no database, no file; ``_report_render`` turns the dict into Markdown and the set_stats summary.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

STATUS_WORDS = {"ok": "SUCCESS", "success": "SUCCESS", "succeeded": "SUCCESS", "applied": "SUCCESS",
                "failed": "FAILED", "failure": "FAILED", "skipped": "SKIPPED", "planned": "PLANNED",
                "nothing": "NOTHING TO APPLY"}
ROLLBACK_WORDS = {"not_required": "Not Required", "applied": "Applied Successfully", "failed": "FAILED",
                  "not_applied": "Not Applied"}
LIST_LIMIT = 50


def num(value: Any) -> float | int | None:
    """A number from a fact (Jinja may hand numbers over as text); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        text = str(value).strip()
        return int(text) if re.match(r"^-?\d+$", text) else float(text)
    except ValueError:
        return None


def when(value: Any) -> datetime.datetime | None:
    """An ISO 8601 timestamp (a fact, or a ledger row's) as an aware datetime in UTC; None when it is not one."""
    if isinstance(value, datetime.datetime):
        stamp = value
    else:
        text = str(value or "").strip().replace("Z", "+00:00")
        try:
            stamp = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.astimezone(datetime.timezone.utc)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# -- pieces ----------------------------------------------------------------------------------------------------------


def phase_of(item: dict[str, Any]) -> dict[str, Any]:
    """One phase, from the migrate role's phase log (``{phase, result: <pg_migrate result>}``) or as written in the
    facts (``{name, status, duration_ms, versions}``)."""
    result = item.get("result")
    if isinstance(result, dict):
        applied = [m for m in _list(result.get("applied")) if isinstance(m, dict)]
        pending = [m for m in _list(result.get("pending")) if isinstance(m, dict)]
        if result.get("failed"):
            status = "FAILED"
        elif result.get("skipped"):
            status = "SKIPPED"
        elif applied:
            status = "SUCCESS"
        else:
            status = "PLANNED" if pending else "NOTHING TO APPLY"
        durations = [num(m.get("duration_ms")) for m in applied]
        return {"name": _text(item.get("phase") or item.get("name")) or "unnamed",
                "status": status, "duration_ms": sum(d for d in durations if d is not None) if applied else None,
                "versions": ["%s_%s" % (m.get("version"), m.get("name")) for m in applied or pending]}
    status = _text(item.get("status")).lower()
    return {"name": _text(item.get("name") or item.get("phase")) or "unnamed",
            "status": STATUS_WORDS.get(status, status.upper() or "NOT RECORDED"),
            "duration_ms": num(item.get("duration_ms")),
            "versions": [_text(v) for v in _list(item.get("versions"))]}


def failure_of(facts: dict[str, Any]) -> dict[str, Any] | None:
    failure = facts.get("failure")
    if not failure:
        return None
    if not isinstance(failure, dict):
        failure = {"message": str(failure)}
    message = _text(failure.get("message") or failure.get("msg")) or "no message recorded"
    task = _text(failure.get("task"))
    phase = _text(failure.get("phase"))
    if not phase:
        match = re.search(r"\bphase (\w+)", task)
        phase = match.group(1) if match else ""
    where = ", ".join("%s %s" % (k, failure[k]) for k in ("file", "statement", "line")
                      if failure.get(k) not in (None, "", "None"))
    return {"task": task or None, "message": message, "phase": phase or None, "where": where or None,
            "ledger": _text(failure.get("ledger")) or None}


def probe_figures(value: Any) -> dict[str, Any] | None:
    """A pg_probe result (or its figures) as {figures, probe, impact_percent}; None when it holds no figures."""
    value = _dict(value)
    figures = _dict(value.get("figures")) or value
    if num(figures.get("mean_ms")) is None and num(figures.get("p50_ms")) is None:
        return None
    keep = {k: num(figures.get(k)) for k in ("min_ms", "p50_ms", "p95_ms", "max_ms", "mean_ms", "samples", "errors")}
    return {"figures": keep, "probe": _text(value.get("probe")) or None,
            "impact_percent": _dict(value.get("impact_percent")) or None}


def change_percent(now: Any, before: Any) -> float | None:
    now, before = num(now), num(before)
    if now is None or before is None or before <= 0:
        return None
    return round((now - before) / before * 100.0, 1)


def preserved_percent(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """Rows of the counted tables still there: sum of min(after, before) over sum of before, 1 decimal; 100 when
    there were none. None when a table lacks a count on either side."""
    if not before or any(before.get(t) is None or after.get(t) is None for t in before):
        return None
    total = sum(before.values())
    if not total:
        return 100.0
    return round(sum(min(after[t], before[t]) for t in before) / total * 100.0, 1)


def recovery_points(rows: list[dict[str, Any]], noted: list[Any]) -> list[dict[str, Any]]:
    """The run's recovery points from the table (verified by construction: only a verified backup is recorded),
    with what the caller noted about each (its row's id, size), and the points noted but not in the table."""
    by_backup = {_text(p.get("backup_id")): p for p in noted if isinstance(p, dict) and p.get("backup_id")}
    out = []
    for row in rows:
        note = by_backup.pop(_text(row.get("backup_id")), {})
        out.append({"id": row.get("id"), "purpose": row.get("purpose"), "backup_id": row.get("backup_id"),
                    "kind": row.get("kind"), "size_bytes": num(row.get("size_bytes")),
                    "location": row.get("location"), "created_at": row.get("created_at"),
                    "verified": note.get("verified", True) is not False,
                    "removed_at": row.get("removed_at"), "recorded": True})
    for backup_id, note in by_backup.items():
        out.append({"id": num(note.get("recovery_point_id")), "purpose": note.get("purpose"), "backup_id": backup_id,
                    "kind": note.get("kind"), "size_bytes": num(note.get("size_bytes")),
                    "location": note.get("location"), "created_at": note.get("created_at"),
                    "verified": note.get("verified") is True, "removed_at": None, "recorded": False})
    return out


def backups_of(facts: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in _list(facts.get("backups")):
        if isinstance(item, dict) and item.get("backup_id"):
            out.append({"backup_id": item.get("backup_id"), "kind": item.get("kind"),
                        "purpose": item.get("purpose"), "size_bytes": num(item.get("size_bytes")),
                        "duration_ms": num(item.get("duration_ms")), "downtime_ms": num(item.get("downtime_ms"))})
    return out


def summary_of(value: Any, name: str) -> dict[str, Any] | None:
    """A gate's result (preflight, validation) reduced to ok, counts, warnings and failing checks."""
    value = _dict(value)
    if not value:
        return None
    failing = _list(value.get("failing") or value.get("failed_checks"))
    # the gate's own checks, when it gives them, say what failed (the index missing, the rows found)
    failed = [c for c in _list(value.get("checks")) if isinstance(c, dict) and c.get("status") == "fail"]
    if failed:
        failing = ["%s: %s" % (_text(c.get("name")), _text(c.get("message"))) if c.get("message")
                   else _text(c.get("name")) for c in failed]
    ok = value.get("ok")
    if ok is None and "failed" in value:
        ok = not value.get("failed")
    return {"gate": name, "ok": ok if isinstance(ok, bool) else None,
            "counts": _dict(value.get("counts")) or None,
            "warnings": [_text(w) for w in _list(value.get("warnings"))][:LIST_LIMIT],
            "failing": [_text(f.get("message") or f.get("check") or f) if isinstance(f, dict) else _text(f)
                        for f in failing][:LIST_LIMIT],
            "data_preserved_percent": num(value.get("data_preserved_percent")),
            "new_table_count": num(value.get("new_table_count"))}


def monitor_of(value: Any) -> dict[str, Any] | None:
    """``{peaks, alerts}`` from pg_migrate's ``monitor`` result, from a list of them (one per phase: the highest
    peak of each figure, every alert), or from a plain ``{peaks, alerts}``."""
    parts = [_dict(v) for v in (value if isinstance(value, list) else [value])]
    parts = [v for v in parts if v]
    if not parts:
        return None
    peaks: dict[str, Any] = {}
    alerts: list[str] = []
    for part in parts:
        found = _dict(part.get("peaks")) or {k: v for k, v in part.items() if num(v) is not None}
        for key, val in found.items():
            old = peaks.get(str(key))
            if num(val) is None:
                if val not in (None, "") and not isinstance(val, (dict, list)):
                    peaks.setdefault(str(key), _text(val))
            elif num(old) is None or num(val) > num(old):
                peaks[str(key)] = num(val)
        for key in ("pauses", "paused_seconds"):
            if num(part.get(key)):
                peaks[key] = (num(peaks.get(key)) or 0) + num(part.get(key))
        if part.get("aborted"):
            alerts.append("the monitor aborted the migration (monitor_policy=abort)")
        alerts += [_text(a.get("message") or a) if isinstance(a, dict) else _text(a)
                   for a in _list(part.get("alerts")) + _list(part.get("warnings"))]
    if not peaks and not alerts:
        return None  # no sample was taken: the report says the figures were not measured
    return {"peaks": dict(sorted(peaks.items())), "alerts": alerts[:LIST_LIMIT]}
