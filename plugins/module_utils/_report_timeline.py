# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run on one time axis, for the report's timeline (``report["timeline"]``): phases, batched files, recovery
points and the monitor's samples, from the times the run recorded and nothing else.

Every time is in seconds from the timeline's start (the earliest recorded moment of the run):

- a phase spans its ledger rows (first ``started_at`` to last ``completed_at``). A phase that applied nothing has
  no row and no span; a failed phase the migrate role could not log (its pg_migrate task failed) takes this run's
  rows that no other phase claims (the files applied before the failure and the failed one);
- a batched file (``migrate:transaction off``) spans its ledger row; its batches are counted from its progress
  notices (``... in N batches``). The run records how many batches each walk took, not when each batch ran;
- a recovery point sits at its ``created_at``;
- the monitor's clock (a sample's ``t``) starts as its phase's first file starts, so a sample sits at the phase's
  start plus ``t``. Lock waits and CPU and memory figures are the samples' own.

Pure: the report dict in (``_report_build``), a dict out; the HTML page draws it (``_report_html_svg``).
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_facts import num, when

SAMPLE_FIGURES = ("cpu_percent", "memory_percent", "lock_wait_s", "blocked_sessions")
_BATCHES = re.compile(r"^(?:NOTICE:\s*)?(?P<walk>[^:\n]{1,80}): [^\n]*?\bin (?P<batches>\d+) batches\b")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _key(row: dict[str, Any]) -> str:
    return "%s_%s" % (row.get("version"), row.get("name"))


def _span(rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    """First start and last end of ledger rows (an end missing: the row's start)."""
    starts = [when(r.get("started_at")) for r in rows]
    ends = [when(r.get("completed_at")) or when(r.get("started_at")) for r in rows]
    starts, ends = [s for s in starts if s], [e for e in ends if e]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _monitors(raw: list[dict[str, Any]], given: Any) -> list[dict[str, Any]]:
    """The monitor result of each logged phase: its pg_migrate result's ``monitor``, else ``facts.monitor`` when
    that is a list of one per phase (the migrate role's)."""
    own = [_dict(_dict(item.get("result")).get("monitor")) for item in raw]
    given = _list(given)
    if not any(own) and len(given) == len(raw):
        return [_dict(m) for m in given]
    return own


def batches_of(notices: list[Any]) -> list[dict[str, Any]]:
    """The walks of a batched file and their batch counts, from its progress notices."""
    walks = []
    for notice in notices:
        match = _BATCHES.search(str(notice).strip())
        if match:
            walks.append({"walk": match.group("walk").strip(), "batches": int(match.group("batches"))})
    return walks


class _Axis:
    """Moments gathered, then turned into seconds from the earliest."""

    def __init__(self) -> None:
        self.moments: list[Any] = []

    def add(self, *moments: Any) -> None:
        self.moments += [m for m in moments if m is not None]

    def offset(self, moment: Any) -> float | None:
        return None if moment is None else round((moment - min(self.moments)).total_seconds(), 3)


def _phase_spans(phases, raw, ledger, axis):
    by_key = {_key(r): r for r in ledger}
    claimed = {v for p in phases for v in p["versions"] if v in by_key}
    spans, untimed = [], []
    for index, phase in enumerate(phases):
        rows = [by_key[v] for v in phase["versions"] if v in by_key]
        if not rows and phase["status"] == "FAILED" and index >= len(raw):
            rows = [r for r in ledger if _key(r) not in claimed and r.get("status") != "baseline"]
        start, end = _span(rows)
        if start is None:
            untimed.append(phase["name"])
            continue
        axis.add(start, end)
        logged = index < len(raw)
        spans.append({"name": phase["name"], "status": phase["status"], "start": start, "end": end,
                      "duration_ms": phase["duration_ms"], "versions": [_key(r) for r in rows],
                      "index": index if logged else None, "raw": raw[index] if logged else {}})
    return spans, untimed


def _batched(span: dict[str, Any], by_key: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in _list(_dict(span["raw"].get("result")).get("applied")):
        if not isinstance(item, dict) or item.get("transactional") is not False:
            continue
        row = by_key.get("%s_%s" % (item.get("version"), item.get("name")))
        start, end = _span([row] if row else [])
        if start is None:
            continue
        walks = batches_of(_list(item.get("notices")))
        out.append({"file": item.get("file") or _key(row), "version": item.get("version"), "phase": span["name"],
                    "start": start, "end": end, "walks": walks,
                    "batches": sum(w["batches"] for w in walks) if walks else None})
    return out


def _samples(span: dict[str, Any], monitor: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    out = []
    for sample in _list(monitor.get("timeline")):
        t = num(_dict(sample).get("t"))
        if t is None:
            continue
        entry = {k: num(sample.get(k)) for k in SAMPLE_FIGURES}
        entry.update(phase=span["name"], t=t, file=sample.get("file"), action=sample.get("action"),
                     longest_wait=sample.get("longest_wait"))
        out.append(entry)
    left = num(monitor.get("timeline_left_out"))
    if left:
        notes.append("Phase %s: %d of the monitor's %s samples are drawn; the others are in pg_migrate's "
                     "details_file." % (span["name"], len(out), monitor.get("timeline_total")))
    return out


def timeline_of(facts: dict[str, Any], phases: list[dict[str, Any]], ledger: list[dict[str, Any]],
                points: list[dict[str, Any]], head: dict[str, Any]) -> dict[str, Any]:
    """The report's timeline: ``phases`` as ``_report_build`` made them, ``ledger`` the run's rows, ``points`` its
    recovery points, ``head`` the report's migration header (started, finished)."""
    raw = [p for p in _list(facts.get("phases")) if isinstance(p, dict)]
    axis, notes = _Axis(), []
    spans, untimed = _phase_spans(phases, raw, ledger, axis)
    by_key = {_key(r): r for r in ledger}
    monitors = _monitors(raw, facts.get("monitor"))
    batched, samples = [], []
    for span in spans:
        batched += _batched(span, by_key)
        index = span["index"]
        monitor = monitors[index] if index is not None and index < len(monitors) else {}
        for sample in _samples(span, monitor, notes):
            sample["at"] = span["start"].timestamp() + sample.pop("t")
            samples.append(sample)
    marked = [(p, when(p.get("created_at"))) for p in points]
    axis.add(*(m for _p, m in marked), when(head.get("started")), when(head.get("finished")))
    if untimed:
        notes.append("Not drawn, no ledger row gives their time: phase %s." % ", ".join(untimed))
    if not axis.moments:
        notes.append("Nothing to draw: no ledger row of this run and no recovery point has a time.")
        return {"start": None, "end": None, "span_s": 0.0, "phases": [], "batched": [], "recovery_points": [],
                "samples": [], "notes": notes}
    start = min(axis.moments)
    base = start.timestamp()
    for sample in samples:
        sample["at_s"] = round(sample.pop("at") - base, 3)
    if batched and not any(b["walks"] for b in batched):
        notes.append("The batched files' notices name no batch count.")
    end = max(axis.moments)
    span_s = max([axis.offset(end)] + [s["at_s"] for s in samples])
    return {
        "start": start.isoformat(), "end": end.isoformat(), "span_s": span_s,
        "phases": [{"name": s["name"], "status": s["status"], "start_s": axis.offset(s["start"]),
                    "end_s": axis.offset(s["end"]), "duration_ms": s["duration_ms"], "versions": s["versions"]}
                   for s in spans],
        "batched": [dict({k: v for k, v in b.items() if k not in ("start", "end")},
                         start_s=axis.offset(b["start"]), end_s=axis.offset(b["end"])) for b in batched],
        "recovery_points": [{"id": p.get("id"), "purpose": p.get("purpose"), "backup_id": p.get("backup_id"),
                             "at_s": axis.offset(m)} for p, m in marked if m is not None],
        "samples": sorted(samples, key=lambda s: s["at_s"]),
        "notes": notes,
    }


__all__ = ["SAMPLE_FIGURES", "batches_of", "timeline_of"]
