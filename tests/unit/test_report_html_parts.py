# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML page and its timeline, built from facts alone (no database): hostile text from the run stays text (no
element, no attribute, no script of its own), the page loads nothing from elsewhere, it prints the Markdown's own
texts, and the timeline places only what the run recorded (phases over their ledger rows, the monitor's samples from
their phase's start, recovery points at their time, batches counted from the notices)."""

from __future__ import annotations

import html
from html.parser import HTMLParser

from ansible_collections.knowledgehub.migration.plugins.module_utils._report_build import build
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_html import page
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_render import (
    header_fields,
    post_fields,
    results_fields,
    status_fields,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_timeline import batches_of

RUN = "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11"
CONTEXT = {"host": "kh-01", "generated_at": "2026-11-24T21:40:00+00:00", "check_mode": False,
           "before_source": "/r/x.before.json", "own_tables": ["public.migration_log"]}
SCRIPT = "<script>alert('x')</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG_BREAK = "</text></svg><script>alert(2)</script>"
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section", "div", "p", "h1",
        "h2", "h3", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "span", "i",
        "svg", "defs", "pattern", "g", "rect", "line", "text", "path", "polyline", "circle"}


def row(version, name, status, started, completed, error=None):
    return {"run_id": RUN, "version": version, "name": name, "status": status, "duration_ms": 900,
            "executed_by": "alice" + SCRIPT, "job_id": None, "started_at": started, "completed_at": completed,
            "error": error}


def measured(ledger, points=None, counts=None):
    return {"measured_at": "2026-11-24T21:40:00+00:00", "database": "knowledgehub", "database_size_bytes": 2 ** 26,
            "record_counts": counts or {"ai_memories": 1000, "documents": 100}, "tables": ["public.ai_memories"],
            "ledger": ledger, "recovery_points": points or [], "ledger_has_rows": True}


def point(ident, purpose, created):
    return {"id": ident, "purpose": purpose, "backup_id": "kh_%s" % ident, "kind": "dump", "size_bytes": 2 ** 20,
            "location": "/b/%s" % ident, "created_at": created, "removed_at": None}


MONITOR = {"timeline": [{"t": 0.5, "file": "005_data_migration.sql", "cpu_percent": 35.0, "memory_percent": 41.0,
                         "lock_wait_s": 0.0, "blocked_sessions": 0, "action": "none"},
                        {"t": 2.0, "file": "005_data_migration.sql", "cpu_percent": 88.0, "memory_percent": 42.5,
                         "lock_wait_s": 4.5, "blocked_sessions": 2, "action": "pause", "longest_wait": IMG}],
           "timeline_total": 40, "timeline_left_out": 38, "peaks": {"cpu_percent": 88.0}}
NOTICES = ["NOTICE:  005 ai_memories: enhancing 1000 memories, batches of up to 5000 rows and about 300 ms",
           "005 ai_memories: done, 1000 memories in 3 batches, 0.9 s, longest batch 400 ms, 0 queued, 0 retries",
           "005 drain: 12 queued changes applied in 2 batches, 0.1 s, longest batch 4 ms, 0 left for the catch-up",
           SVG_BREAK + ": done, 1 rows in 1 batches"]


def successful():
    ledger = [row("004", "hybrid_rag_schema", "applied", "2026-11-24T21:33:00+00:00", "2026-11-24T21:33:01+00:00"),
              row("005", "data_migration", "applied", "2026-11-24T21:33:10+00:00", "2026-11-24T21:34:10+00:00"),
              row("006", "harden", "applied", "2026-11-24T21:34:10+00:00", "2026-11-24T21:34:12+00:00")]
    phases = [{"phase": "schema", "result": {"applied": [{"version": "004", "name": "hybrid_rag_schema",
                                                          "duration_ms": 800, "transactional": True}]}},
              {"phase": "data", "result": {"applied": [
                  {"version": "005", "name": "data_migration", "duration_ms": 60000, "transactional": False,
                   "file": "005_data_migration.sql", "notices": NOTICES},
                  {"version": "006", "name": "harden", "duration_ms": 1500, "transactional": True}],
                  "monitor": MONITOR}},
              {"phase": "cleanup", "result": {"applied": [], "pending": []}}]
    points = [point(11, "before", "2026-11-24T21:32:50+00:00"), point(12, "after_schema", "2026-11-24T21:33:05+00:00"),
              point(13, "after_data", "2026-11-24T21:34:20+00:00")]
    return build(RUN, {"phases": phases, "environment": "staging"}, measured(ledger, points), None, CONTEXT)


def hostile():
    """A failed run whose every text a caller or the database hands over is an attempt at markup."""
    ledger = [row("004", "schema" + SCRIPT, "applied", "2026-11-24T21:33:00+00:00", "2026-11-24T21:33:01+00:00"),
              row("005", "data", "failed", "2026-11-24T21:33:02+00:00", "2026-11-24T21:33:03+00:00",
                  error="ERROR: " + SCRIPT)]
    facts = {"environment": IMG, "executed_by": SCRIPT, "job_id": IMG,
             "phases": [{"phase": "schema" + IMG, "result": {"applied": [
                 {"version": "004", "name": "schema" + SCRIPT, "duration_ms": 5, "transactional": True}],
                 "monitor": dict(MONITOR, timeline=[dict(MONITOR["timeline"][1], file=SVG_BREAK)])}}],
             "failure": {"task": "Apply pending migrations under the ledger, phase data" + IMG,
                         "msg": "migration failed: " + SCRIPT, "file": SVG_BREAK, "phase": "data"},
             "validation": {"ok": False, "failing": [{"check": "c", "message": SCRIPT}], "warnings": [IMG]},
             "next_steps": [SCRIPT], "rollback": {"status": "failed", "detail": SVG_BREAK},
             "backups": [{"backup_id": IMG, "size_bytes": 10, "duration_ms": 5}]}
    points = [point(SCRIPT, SVG_BREAK, "2026-11-24T21:32:59+00:00")]
    return build(RUN, facts, measured(ledger, points, {"ai_memories" + IMG: 3}), None, CONTEXT)


class Elements(HTMLParser):
    """The elements and attributes a browser would build from the page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]

    def handle_data(self, data):
        self.text.append(data)


def parsed(text):
    parser = Elements()
    parser.feed(text)
    parser.close()
    return parser


def test_hostile_text_from_the_run_stays_text():
    report = hostile()
    text = page(report)
    doc = parsed(text)
    assert set(doc.tags) <= TAGS, set(doc.tags) - TAGS  # no script, img, iframe, link ...
    assert "script" not in doc.tags and "img" not in doc.tags
    assert not [a for a in doc.attrs if a[1].startswith("on") or a[1] in ("src", "href", "xlink:href")], doc.attrs
    words = " ".join(doc.text)
    # every hostile text shows, as text: the failure's message, the ledger's error, a table name, a recovery point
    for shown in ("migration failed: " + SCRIPT, "ERROR: " + SCRIPT, "ai_memories" + IMG, SVG_BREAK):
        assert shown in words, shown
    assert html.escape(SCRIPT) in text and text.count("<script") == 0
    assert report["verdict"] == "FAILED" and 'id="verdict">FAILED<' in text
    assert '<section class="failure" id="failure">' in text


def test_the_page_loads_nothing_from_elsewhere_and_needs_no_script():
    text = page(successful())
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    urls = [u for u in ("http://", "https://", "//") if u in text.replace('xmlns="http://www.w3.org/2000/svg"', "")]
    assert not urls, urls
    assert "url(" not in text.replace("url(#hatch)", "")


def test_the_page_prints_the_markdowns_own_texts():
    for report in (successful(), hostile()):
        text = page(report)
        fields = header_fields(report) + status_fields(report, "pre_migration") + results_fields(report) + \
            post_fields(report)
        for label, value in fields:
            assert "<dt>%s</dt>" % html.escape(label) in text and html.escape(value) in text, (label, value)
        for issue in report["post_migration"]["issues"]:
            assert "<li>%s</li>" % html.escape(issue) in text


def test_the_timeline_places_what_the_run_recorded():
    report = successful()
    line = report["timeline"]
    assert line["start"] == "2026-11-24T21:32:50+00:00"  # the first recovery point, before any ledger row
    spans = [(p["name"], p["start_s"], p["end_s"]) for p in line["phases"]]
    assert spans == [("schema", 10.0, 11.0), ("data", 20.0, 82.0)]
    assert any("phase cleanup" in n for n in line["notes"])  # it applied nothing: named, not drawn
    assert [(p["id"], p["at_s"]) for p in line["recovery_points"]] == [(11, 0.0), (12, 15.0), (13, 90.0)]
    # the monitor's clock starts with its phase (21:33:10 = +20 s)
    assert [(s["at_s"], s["cpu_percent"], s["lock_wait_s"]) for s in line["samples"]] == [(20.5, 35.0, 0.0),
                                                                                          (22.0, 88.0, 4.5)]
    assert any("2 of the monitor's 40 samples" in n for n in line["notes"])
    [batched] = line["batched"]
    assert (batched["file"], batched["start_s"], batched["end_s"], batched["batches"]) == \
        ("005_data_migration.sql", 20.0, 80.0, 6)
    svg = page(report)
    assert svg.count('<rect class="phase-bar ok"') == 2 and svg.count('class="point"') == 3
    assert svg.count('class="lockwait"') == 2 and 'data-point-id="13"' in svg
    assert "data 1 min 02 s" in svg  # the phase's duration as the Markdown writes it


def test_a_failed_phase_the_role_could_not_log_takes_the_rows_no_other_phase_claims():
    line = hostile()["timeline"]
    assert [(p["name"], p["status"], p["versions"]) for p in line["phases"]] == [
        ("schema" + IMG, "SUCCESS", ["004_schema" + SCRIPT]), ("data", "FAILED", ["005_data"])]
    assert '<rect class="phase-bar failed"' in page(hostile())


def test_batches_are_counted_from_the_notices_that_give_a_count():
    assert batches_of(NOTICES[:3]) == [{"walk": "005 ai_memories", "batches": 3},
                                       {"walk": "005 drain", "batches": 2}]
    assert batches_of(["005 ai_memories: 500/1000 memories (50%)", 7, None]) == []


def test_a_run_with_no_time_recorded_gets_a_page_saying_so():
    report = build(RUN, {"failure": {"msg": "the lock was not granted"}}, measured([]), None, CONTEXT)
    line = report["timeline"]
    assert line["start"] is None and line["phases"] == [] and "Nothing to draw" in " ".join(line["notes"])
    text = page(report)
    assert "Nothing to draw" in text and "the lock was not granted" in text and 'id="verdict">FAILED<' in text
