# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log as one self-contained HTML page: the verdict first, the timeline, then the log's sections.

The page is made from the report dict alone (``_report_build``) and prints the Markdown's own texts
(``_report_render``'s fields): the same figures from the same facts, never computed twice. One file: inline CSS and
an inline SVG, no script, no font, image or style sheet from elsewhere (its Content-Security-Policy forbids them),
so it reads the same offline, in a mail attachment or an AWX artifact. Every text of the run (table names, messages,
error texts) is escaped.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_html_svg import (
    esc,
    status_class,
    timeline_svg,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_render import (
    backup_lines,
    failure_fields,
    header_fields,
    ledger_cells,
    phase_text,
    point_cells,
    post_fields,
    results_fields,
    rollback_text,
    seconds,
    stamp,
    status_fields,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
       background: #ffffff; margin: 0; padding: 0 0 40px; }
main { max-width: 1220px; margin: 0 auto; padding: 0 16px; }
header.verdict { padding: 18px 24px; margin: 0 0 18px; color: #ffffff; }
header.verdict.ok { background: #1a7f37; } header.verdict.failed { background: #cf222e; }
header.verdict.skipped, header.verdict.other, header.verdict.planned { background: #57606a; }
header .word { font-size: 40px; font-weight: 800; letter-spacing: 1px; margin: 0; }
header h1 { font-size: 20px; font-weight: 600; margin: 4px 0 0; }
header p { margin: 4px 0 0; opacity: .95; }
.check-mode { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; margin: 0 0 12px; }
section { margin: 0 0 22px; }
h2 { font-size: 18px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin: 0 0 10px; }
dl { display: grid; grid-template-columns: 230px 1fr; gap: 4px 16px; margin: 0; }
dt { font-weight: 600; color: #57606a; } dd { margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; white-space: pre-wrap; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 700; } .status.ok { color: #1a7f37; } .status.failed { color: #cf222e; }
.status.skipped, .status.planned, .status.other { color: #57606a; }
section.failure { border: 2px solid #cf222e; background: #ffebe9; padding: 10px 14px; }
section.failure h2 { color: #cf222e; border-color: #cf222e; }
ul { margin: 4px 0 0; padding-left: 22px; } li { overflow-wrap: anywhere; white-space: pre-wrap; }
.legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
.legend i { display: inline-block; width: 14px; height: 10px; margin-right: 5px; vertical-align: middle; }
.notes { color: #57606a; font-size: 13px; }
.timeline-box { overflow-x: auto; border: 1px solid #d0d7de; }
svg.timeline { display: block; font: 12px system-ui, "DejaVu Sans", sans-serif; }
svg .lane-bg { fill: rgba(0, 0, 0, .025); stroke: #d8dee4; stroke-width: .5; }
svg .lane-label { font-weight: 600; fill: #1f2328; }
svg .axis line { stroke: #8c959f; } svg .axis .grid { stroke: #d8dee4; stroke-dasharray: 2 3; }
svg text { fill: #1f2328; } svg .none, svg .clock, svg .scale { fill: #57606a; }
svg .phase-bar.ok { fill: #2da44e; } svg .phase-bar.failed { fill: #cf222e; }
svg .phase-bar.skipped, svg .phase-bar.planned, svg .phase-bar.other { fill: #8c959f; }
svg .in-bar { fill: #ffffff; font-weight: 600; }
svg .batched-span { fill: url(#hatch); stroke: #8250df; } svg .hatch-bg { fill: #fbefff; }
svg .hatch-line { stroke: #8250df; stroke-width: 2; }
svg .point-line { stroke: #0969da; stroke-dasharray: 3 3; stroke-width: 1; }
svg .point-mark { fill: #0969da; }
svg .lockwait { fill: #bc4c00; } svg .baseline { stroke: #8c959f; stroke-width: .5; }
svg polyline { fill: none; stroke-width: 2; } svg polyline.cpu { stroke: #d1242f; }
svg polyline.memory { stroke: #0969da; } svg circle.cpu { fill: #d1242f; } svg circle.memory { fill: #0969da; }
svg .throttle { fill: #9a6700; }
"""
LEGEND = (("ok", "#2da44e", "phase succeeded"), ("failed", "#cf222e", "phase failed"),
          ("batched", "#8250df", "batched file"), ("point", "#0969da", "recovery point"),
          ("lock", "#bc4c00", "lock wait"), ("cpu", "#d1242f", "CPU %"), ("memory", "#0969da", "memory %"))


def _dl(fields: list[tuple[str, str]], ids: bool = False) -> str:
    rows = []
    for label, text in fields:
        key = ' id="field-%s"' % "-".join(label.lower().split()[:2]) if ids else ""
        rows.append("<dt>%s</dt><dd%s>%s</dd>" % (esc(label), key, esc(text)))
    return "<dl>%s</dl>" % "".join(rows)


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]], cls: str) -> str:
    heads = "".join("<th>%s</th>" % esc(h) for h in head)
    out = ['<table class="%s"><thead><tr>%s</tr></thead><tbody>' % (cls, heads)]
    for row in rows:
        out.append("<tr>%s</tr>" % "".join("<td>%s</td>" % esc(v) for v in row))
    return "".join(out) + "</tbody></table>"


def _head(report: dict[str, Any]) -> str:
    mig, verdict = report["migration"], report["verdict"]
    started = stamp(mig["started"]) if mig["started"] else ""
    took = seconds(mig["duration_s"]) if mig["duration_s"] is not None else ""
    line = ", ".join(t for t in ("host %s" % mig["host"], "database %s" % mig["database"],
                                 mig["environment"] or "", started, took) if t)
    return ('<header class="verdict %s"><p class="word" id="verdict">%s</p><h1>Migration Log: run %s</h1>'
            '<p>%s</p></header>' % (status_class(verdict), esc(verdict), esc(mig["run_id"]), esc(line)))


def _phases(report: dict[str, Any]) -> str:
    res = report["results"]
    rows = []
    for phase in res["phases"]:
        took = seconds(phase["duration_ms"] / 1000.0) if phase["duration_ms"] is not None else ""
        rows.append('<tr class="phase-row" data-phase="%s"><td>%s</td><td class="status %s">%s</td><td>%s</td>'
                    '<td class="num">%s</td><td>%s</td></tr>' % (
                        esc(phase["name"]), esc(phase["name"]), status_class(phase["status"]), esc(phase["status"]),
                        esc(", ".join(phase["versions"])), esc(took), esc(phase_text(phase))))
    if not rows:
        return ""
    return ('<table class="phases"><thead><tr><th>phase</th><th>status</th><th>versions</th><th>duration</th>'
            '<th>as the log says</th></tr></thead><tbody>%s</tbody></table>' % "".join(rows))


def _ledger(report: dict[str, Any]) -> str:
    ledger = report["migration"]["ledger"]
    if not ledger:
        return "<p>Ledger: no row of this run</p>"
    rows = [ledger_cells(r) + (r.get("error") or "",) for r in ledger]
    more = report["migration"]["ledger_total"] - len(ledger)
    return _table(("version", "name", "status", "duration", "executed by", "completed", "error"), rows, "ledger") + (
        "<p>(%d more rows in the ledger)</p>" % more if more > 0 else "")


def _counts(report: dict[str, Any]) -> str:
    before = report["pre_migration"]["record_counts"] or {}
    after = report["post_migration"]["record_counts"] or {}
    names = list(after) + [t for t in before if t not in after]
    if not names:
        return ""
    rows = []
    for name in names:
        cells = ["{:,}".format(c) if c is not None else "no such table" if name in side else "not measured"
                 for side in (before, after) for c in [side.get(name)]]
        rows.append('<tr data-table="%s"><td>%s</td><td class="num">%s</td><td class="num">%s</td></tr>'
                    % (esc(name), esc(name), esc(cells[0]), esc(cells[1])))
    return ('<table class="counts"><thead><tr><th>table</th><th>records before</th><th>records after</th></tr>'
            '</thead><tbody>%s</tbody></table>' % "".join(rows))


def _list(items: list[Any], cls: str) -> str:
    return '<ul class="%s">%s</ul>' % (cls, "".join("<li>%s</li>" % esc(i) for i in items))


def _legend() -> str:
    items = ['<span><i style="background:%s"></i>%s</span>' % (colour, esc(text)) for _key, colour, text in LEGEND]
    return '<p class="legend">%s</p>' % "".join(items)


def page(report: dict[str, Any]) -> str:
    """The whole HTML document of ``report``."""
    mig = report["migration"]
    post = report["post_migration"]
    failure = failure_fields(report)
    parts = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
             '<meta http-equiv="Content-Security-Policy" content="%s">' % CSP,
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<title>%s: Migration Log %s</title>' % (esc(report["verdict"]), esc(mig["run_id"])),
             '<style>%s</style></head><body>' % CSS, _head(report), "<main>"]
    if report["check_mode"]:
        parts.append('<p class="check-mode">CHECK MODE: this report was computed and not written.</p>')
    if failure:
        parts.append('<section class="failure" id="failure"><h2>Failure</h2>%s</section>' % _dl(failure))
    parts.append('<section id="summary"><h2>Migration</h2>%s</section>' % _dl(header_fields(report), ids=True))
    timeline = report.get("timeline") or {"start": None, "notes": ["This report holds no timeline."]}
    parts.append('<section id="timeline"><h2>Timeline</h2><div class="timeline-box">%s</div>%s%s</section>' % (
        timeline_svg(timeline, "Timeline of run %s" % mig["run_id"]), _legend(),
        _list(timeline.get("notes") or [], "notes") if timeline.get("notes") else ""))
    parts.append('<section id="pre-migration"><h2>Pre-Migration Status</h2>%s</section>'
                 % _dl(status_fields(report, "pre_migration")))
    parts.append('<section id="results"><h2>Migration Results</h2>%s%s%s</section>' % (
        _phases(report), _dl(results_fields(report)), _ledger(report)))
    parts.append('<section id="post-migration"><h2>Post-Migration Status</h2>%s%s<h3>Issues Encountered</h3>%s'
                 '</section>' % (_dl(post_fields(report)), _counts(report),
                                 _list(post["issues"], "issues") if post["issues"] else "<p>none</p>"))
    points = report["recovery_points"]
    parts.append('<section id="recovery-points"><h2>Recovery Points</h2>%s%s</section>' % (
        _table(("id", "purpose", "backup", "kind", "size", "verified", "taken"), [point_cells(p) for p in points],
               "points") if points else "<p>No recovery point was recorded for this run.</p>",
        _list(backup_lines(report), "backups") if backup_lines(report) else ""))
    parts.append('<section id="rollback"><h2>Rollback Status</h2><p>%s</p></section>' % esc(rollback_text(report)))
    parts.append('<section id="next-steps"><h2>Next Steps</h2>%s</section>' % _list(report["next_steps"], "steps"))
    parts.append('<footer class="notes">Generated %s by knowledgehub.migration migration_report (report format %s).'
                 ' The JSON beside this page holds every figure.</footer>'
                 % (esc(stamp(report["generated_at"])), esc(report["format"])))
    return "\n".join(parts + ["</main></body></html>"]) + "\n"


__all__ = ["CSP", "page"]
