# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's timeline (``report["timeline"]``, made by ``_report_timeline``) drawn as one inline SVG: a time axis
and one lane per kind, phases (bars), batched files (their span and batch count), recovery points (markers with their
ids), lock waits (a bar per sample) and load (CPU and memory lines, 0 to 100 %).

Pure, no script, no external resource: every text from the run is escaped (``esc``), every number formatted here.
"""

from __future__ import annotations

import html
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_render import seconds, stamp

WIDTH = 1200
X0, X1 = 150, 1160  # the plot: the lanes' names on the left, the load's scale on the right
AXIS_H = 40
LANES = (("phases", "Phases", 56), ("batches", "Batched files", 44), ("points", "Recovery points", 64),
         ("locks", "Lock waits", 54), ("load", "Load (CPU, memory)", 96))
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)


def esc(value: Any) -> str:
    """Text of the run as HTML/SVG text or attribute value: every markup character escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def status_class(status: Any) -> str:
    """A CSS class from a status word, from a fixed set (never the run's text)."""
    word = str(status or "").upper()
    return {"SUCCESS": "ok", "FAILED": "failed", "SKIPPED": "skipped", "PLANNED": "planned",
            "NO CHANGE": "skipped", "NOTHING TO APPLY": "skipped"}.get(word, "other")


def _n(value: float) -> str:
    return ("%.1f" % value).rstrip("0").rstrip(".")


def _tick_label(value: float) -> str:
    value = int(round(value))
    if value < 60:
        return "+%d s" % value
    if value < 3600:
        return "+%d min%s" % (value // 60, " %02d s" % (value % 60) if value % 60 else "")
    return "+%d h %02d min" % (value // 3600, value % 3600 // 60)


class _Plot:
    def __init__(self, span_s: float) -> None:
        self.span = max(float(span_s or 0.0), 1.0)

    def x(self, at_s: Any) -> float:
        return X0 + min(max(float(at_s or 0.0), 0.0), self.span) / self.span * (X1 - X0)


def _axis(timeline: dict[str, Any], plot: _Plot, bottom: float) -> list[str]:
    step = next((s for s in STEPS if plot.span / s <= 8), STEPS[-1])
    out = ['<g class="axis">', '<line x1="%d" y1="%d" x2="%d" y2="%d"/>' % (X0, AXIS_H - 4, X1, AXIS_H - 4)]
    tick = 0.0
    while tick <= plot.span + 1e-9:
        x = plot.x(tick)
        out.append('<line class="grid" x1="%s" y1="%d" x2="%s" y2="%s"/>' % (_n(x), AXIS_H - 8, _n(x), _n(bottom)))
        out.append('<text x="%s" y="%d" text-anchor="middle">%s</text>' % (_n(x), AXIS_H - 10, _tick_label(tick)))
        tick += step
    out.append('<text class="clock" x="8" y="13">+0 s = %s</text>' % esc(stamp(timeline["start"])))
    return out + ["</g>"]


def _phases(timeline: dict[str, Any], plot: _Plot, top: float, height: float) -> list[str]:
    out = []
    for i, phase in enumerate(timeline["phases"]):
        x, end = plot.x(phase["start_s"]), plot.x(phase["end_s"])
        width = max(end - x, 3.0)
        took = seconds(phase["duration_ms"] / 1000.0) if phase["duration_ms"] is not None else ""
        label = "%s %s" % (phase["name"], took) if took else phase["name"]
        tip = "phase %s: %s%s%s" % (phase["name"], phase["status"], ", %s" % took if took else "",
                                    " (%s)" % ", ".join(phase["versions"]) if phase["versions"] else "")
        y = top + 6 + (i % 2) * 4
        out.append('<g class="phase" data-phase="%s">' % esc(phase["name"]))
        out.append('<rect class="phase-bar %s" x="%s" y="%s" width="%s" height="22" rx="3"><title>%s</title></rect>'
                   % (status_class(phase["status"]), _n(x), _n(y), _n(width), esc(tip)))
        inside = width > 8 * len(label) + 8
        left = not inside and x + width + 4 + 7 * len(label) > WIDTH  # near the end: the label goes left of its bar
        anchor_x = x + 5 if inside else x - 4 if left else x + width + 4
        out.append('<text class="%s" x="%s" y="%s"%s>%s</text>' % (
            "in-bar" if inside else "by-bar", _n(anchor_x), _n(y + 15 if inside else y + 34),
            ' text-anchor="end"' if left else "", esc(label)))
        out.append("</g>")
    return out


def _batches(timeline: dict[str, Any], plot: _Plot, top: float, height: float) -> list[str]:
    out = []
    for item in timeline["batched"]:
        x = plot.x(item["start_s"])
        width = max(plot.x(item["end_s"]) - x, 3.0)
        count = "%d batches" % item["batches"] if item["batches"] is not None else "batches not counted"
        walks = ", ".join("%s %d" % (w["walk"], w["batches"]) for w in item["walks"])
        out.append('<g class="batched"><rect class="batched-span" x="%s" y="%s" width="%s" height="16">'
                   '<title>%s: %s%s</title></rect>' % (_n(x), _n(top + 6), _n(width), esc(item["file"]), esc(count),
                                                       " (%s)" % esc(walks) if walks else ""))
        out.append('<text x="%s" y="%s">%s: %s</text></g>' % (_n(x), _n(top + 36), esc(item["file"]), esc(count)))
    if not timeline["batched"]:
        out.append('<text class="none" x="%d" y="%s">no batched file in this run</text>' % (X0 + 4, _n(top + 26)))
    return out


def _points(timeline: dict[str, Any], plot: _Plot, top: float, height: float, bottom: float) -> list[str]:
    out = []
    for i, point in enumerate(timeline["recovery_points"]):
        x = plot.x(point["at_s"])
        y = top + 12
        label = "#%s %s" % (point["id"] if point["id"] is not None else "?", point["purpose"] or "")
        out.append('<g class="point" data-point-id="%s">' % esc(point["id"]))
        out.append('<line class="point-line" x1="%s" y1="%d" x2="%s" y2="%s"/>' % (_n(x), AXIS_H, _n(x), _n(bottom)))
        out.append('<path class="point-mark" d="M%s %s l7 7 l-7 7 l-7 -7 z"><title>recovery point %s: %s, backup %s'
                   '</title></path>' % (_n(x), _n(y - 7), esc(point["id"]), esc(point["purpose"]),
                                        esc(point["backup_id"])))
        right = x + 9 + 7 * len(label) > WIDTH  # near the end: the label goes left of its marker
        out.append('<text x="%s" y="%s"%s>%s</text></g>' % (_n(x - 9 if right else x + 9), _n(y + 18 + (i % 3) * 14),
                                                            ' text-anchor="end"' if right else "", esc(label)))
    if not timeline["recovery_points"]:
        out.append('<text class="none" x="%d" y="%s">no recovery point with a time</text>' % (X0 + 4, _n(top + 30)))
    return out


def _locks(timeline: dict[str, Any], plot: _Plot, top: float, height: float) -> list[str]:
    samples = [s for s in timeline["samples"] if s["lock_wait_s"] is not None]
    base = top + height - 8
    out = ['<line class="baseline" x1="%d" y1="%s" x2="%d" y2="%s"/>' % (X0, _n(base), X1, _n(base))]
    top_wait = max([s["lock_wait_s"] for s in samples] + [1.0])
    for sample in samples:
        x, h = plot.x(sample["at_s"]), sample["lock_wait_s"] / top_wait * (height - 16)
        tip = "+%s s: lock wait %s s, %s blocked session(s)%s" % (
            _n(sample["at_s"]), _n(sample["lock_wait_s"]), sample["blocked_sessions"] or 0,
            ": %s" % sample["longest_wait"] if sample.get("longest_wait") else "")
        out.append('<rect class="lockwait" x="%s" y="%s" width="3" height="%s"><title>%s</title></rect>'
                   % (_n(x - 1.5), _n(base - max(h, 1.0)), _n(max(h, 1.0)), esc(tip)))
    text = "max %s s over %d samples" % (_n(max(s["lock_wait_s"] for s in samples)), len(samples)) if samples \
        else "no monitor sample"
    out.append('<text class="none" x="%d" y="%s">%s</text>' % (X0 + 4, _n(top + 12), esc(text)))
    return out


def _load(timeline: dict[str, Any], plot: _Plot, top: float, height: float) -> list[str]:
    base, scale = top + height - 6, (height - 14) / 100.0
    out = ['<line class="baseline" x1="%d" y1="%s" x2="%d" y2="%s"/>' % (X0, _n(base), X1, _n(base)),
           '<text class="scale" x="%d" y="%s">100%%</text>' % (X1 + 3, _n(base - 100 * scale + 4)),
           '<text class="scale" x="%d" y="%s">0%%</text>' % (X1 + 3, _n(base))]
    for figure in ("cpu_percent", "memory_percent"):
        phases = []  # one line per phase: nothing is sampled between phases
        for sample in timeline["samples"]:
            if sample[figure] is None:
                continue
            if not phases or phases[-1][0] != sample["phase"]:
                phases.append((sample["phase"], []))
            value = min(max(sample[figure], 0.0), 100.0)
            phases[-1][1].append("%s,%s" % (_n(plot.x(sample["at_s"])), _n(base - value * scale)))
        for _phase, points in phases:
            out.append('<polyline class="%s" points="%s"/>' % (figure[:-len("_percent")], " ".join(points)))
            if len(points) == 1:
                cx, cy = points[0].split(",")
                out.append('<circle class="%s" cx="%s" cy="%s" r="2.5"/>' % (figure[:-len("_percent")], cx, cy))
    for sample in timeline["samples"]:
        if sample["action"] in ("pause", "abort"):
            out.append('<path class="throttle" d="M%s %s l5 -9 l-10 0 z"><title>+%s s: the monitor chose %s'
                       '</title></path>' % (_n(plot.x(sample["at_s"])), _n(top + 12), _n(sample["at_s"]),
                                            esc(sample["action"])))
    if not timeline["samples"]:
        out.append('<text class="none" x="%d" y="%s">no monitor sample</text>' % (X0 + 4, _n(top + 30)))
    return out


def timeline_svg(timeline: dict[str, Any], title: str) -> str:
    """The timeline as an inline ``<svg>`` element (no script, no external reference)."""
    height = AXIS_H + sum(h for _k, _t, h in LANES) + 8
    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 %d %d" width="100%%" '
           'role="img" aria-labelledby="timeline-title">' % (WIDTH, height),
           '<title id="timeline-title">%s</title>' % esc(title),
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/>'
           '<line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>']
    if timeline.get("start") is None:
        out.append('<text class="none" x="%d" y="40">%s</text>' % (X0, esc(" ".join(timeline["notes"]))))
        return "\n".join(out + ["</svg>"])
    plot = _Plot(timeline["span_s"])
    bottom = height - 8
    out += _axis(timeline, plot, bottom)
    top = float(AXIS_H)
    for kind, label, lane_h in LANES:
        out.append('<g class="lane lane-%s"><rect class="lane-bg" x="0" y="%s" width="%d" height="%d"/>'
                   '<text class="lane-label" x="8" y="%s">%s</text>' % (kind, _n(top), WIDTH, lane_h,
                                                                        _n(top + 18), esc(label)))
        if kind == "phases":
            out += _phases(timeline, plot, top, lane_h)
        elif kind == "batches":
            out += _batches(timeline, plot, top, lane_h)
        elif kind == "points":
            out += _points(timeline, plot, top, lane_h, bottom)
        elif kind == "locks":
            out += _locks(timeline, plot, top, lane_h)
        else:
            out += _load(timeline, plot, top, lane_h)
        out.append("</g>")
        top += lane_h
    return "\n".join(out + ["</svg>"])


__all__ = ["esc", "status_class", "timeline_svg"]
