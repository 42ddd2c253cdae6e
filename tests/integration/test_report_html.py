# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Migration Log's HTML page of a real migrate.yml run, opened in a real headless browser (Debian's chromium).

What the rendered page shows is read back from the browser's DOM (``--dump-dom``): the verdict, each phase with its
duration as the Markdown writes it, the run's recovery point ids as the database holds them, the record counts as
count(*) gives them, and an SVG timeline with one bar per phase. The screenshot must be a PNG of the window's size
with the verdict's colour in it; its path is printed. A failed run whose error text is markup gets a page too: the
failure shown, the markup as text, no script element in the DOM.

Skipped (with the reason) where chromium is not installed: ``apt-get install chromium``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import subprocess
import zlib

import pytest

from support.paths import REPO
from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook, staging_inventory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.legacy_chunks(300),
              pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (apt-get install "
                                 "--no-install-recommends chromium): the report's HTML page cannot be opened in a "
                                 "headless browser here")]
COUNTED = ("ai_memories", "documents", "chunks")
WINDOW = (1280, 2000)
SUCCESS_GREEN = (0x1A, 0x7F, 0x37)  # header.verdict.ok in _report_html's CSS
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"
SHOTS = os.path.join(REPO, "tests", "output", "report_html")


def browser() -> str:
    assert CHROMIUM  # the module's skipif
    return CHROMIUM


def chromium(exe: str, tmp_path, page: str, *args: str) -> str:
    """chromium headless on ``page`` with ``args``; its stdout. A profile of its own under tmp_path."""
    command = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage",
               "--user-data-dir=%s" % (tmp_path / "chromium-profile"), *args, "file://%s" % page]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, "chromium failed (%s): %s" % (proc.returncode, proc.stderr[-3000:])
    return proc.stdout


def png_pixels(path: str, rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and the first ``rows`` rows of an 8-bit RGB/RGBA PNG, unfiltered (a small reader: chunks,
    zlib, the five filters)."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % data[:8]
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0], kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _comp, _filter, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    size = 3 if colour == 2 else 4
    raw = zlib.decompressobj().decompress(b"".join(idat), (width * size + 1) * rows)
    stride, prev, out = width * size, bytearray(width * size), []
    for y in range(rows):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = prev[i], prev[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        out.append(bytes(line))
        prev = line
    return width, height, [bytes(b for x in range(0, stride, size) for b in row[x:x + 3]) for row in out]


def colours(rows: list[bytes]) -> dict[tuple[int, int, int], int]:
    count: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for x in range(0, len(row), 3):
            key = (row[x], row[x + 1], row[x + 2])
            count[key] = count.get(key, 0) + 1
    return count


@pytest.fixture
def inventory(tmp_path, legacy_db):
    return staging_inventory(tmp_path, legacy_db, report_dir=str(tmp_path / "controller"))


def migrate(inventory, *args: str) -> tuple[subprocess.CompletedProcess, dict, str, str]:
    """migrate.yml with the monitor sampling every second; the run's JSON, Markdown and HTML page on the controller."""
    proc = ansible_playbook(inventory, MIGRATE_PLAYBOOK, "-l", "staging", "-e",
                            "report_dir=%s" % (inventory.parent / "controller"), "-e", "migrate_monitor_interval=1",
                            *args)
    controller = inventory.parent / "controller" / "kh-staging"
    pages = list(controller.glob("*.html"))
    assert len(pages) == 1, (sorted(os.listdir(controller)) if controller.is_dir() else "no controller copies",
                             proc.stdout[-4000:])
    page = pages[0]
    assert stat.S_IMODE(os.stat(page).st_mode) == 0o600
    data = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert page.name == "%s.html" % data["migration"]["run_id"]
    assert "open the page: file://%s" % page in " ".join(proc.stdout.split())  # the role names the page
    return proc, data, page.with_suffix(".md").read_text(encoding="utf-8"), str(page)


def text_of(dom: str) -> str:
    """The DOM's text with tags dropped and entities read (what a reader sees), spaces folded."""
    text = re.sub(r"<[^>]*>", " ", dom)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&#x27;", "'")
    return " ".join(text.replace("&amp;", "&").split())


def test_the_html_page_of_a_run_as_a_browser_shows_it(inventory, legacy_db, tmp_path, capsys):
    exe = browser()
    proc, data, md, page = migrate(inventory)
    assert proc.returncode == 0, proc.stdout[-4000:]
    dom = chromium(exe, tmp_path, page, "--dump-dom")
    seen = text_of(dom)

    assert re.search(r'<p class="word" id="verdict">SUCCESS</p>', dom) and data["verdict"] == "SUCCESS"
    phases = data["results"]["phases"]
    assert [p["name"] for p in phases] == ["schema", "data"]
    for phase in phases:
        # the phase's line as the Markdown writes it, duration included: "- Data Migration: SUCCESS (005_..., 2.1 s)"
        line = re.search(r"^- %s Migration: (.*)$" % phase["name"].capitalize(), md, re.MULTILINE).group(1)
        assert re.search(r"\d s\)$", line), line
        assert "%s Migration %s" % (phase["name"].capitalize(), line) in seen, line
        assert re.search(r'<tr class="phase-row" data-phase="%s"><td>%s</td><td class="status ok">SUCCESS</td>'
                         % (phase["name"], phase["name"]), dom)
    # one bar per phase in the SVG timeline, each inside the drawing
    svg = re.search(r'<svg[^>]*class="timeline".*?</svg>', dom, re.DOTALL)
    assert svg, "no SVG timeline in the DOM"
    bars = re.findall(r'<g class="phase" data-phase="(\w+)">\s*<rect class="phase-bar ok" x="([\d.]+)" y="[\d.]+" '
                      r'width="([\d.]+)"', svg.group(0))
    assert [b[0] for b in bars] == ["schema", "data"], bars
    assert float(bars[0][1]) < float(bars[1][1])  # schema before data
    # the recovery points, as the database holds them for the run: in the table and on the timeline
    ids = legacy_db.sql("SELECT string_agg(id::text || ':' || purpose, ',' ORDER BY id) FROM "
                        "migration_log_recovery_point WHERE run_id = '%s'" % data["migration"]["run_id"]).split(",")
    assert [i.split(":")[1] for i in ids] == ["before", "after_schema", "after_data"]
    for ident, purpose in (i.split(":") for i in ids):
        assert re.search(r"<tr><td>%s</td><td>%s</td>" % (ident, purpose), dom), ident
        assert 'data-point-id="%s"' % ident in svg.group(0) and "#%s %s" % (ident, purpose) in seen
    # the record counts, as count(*) gives them, before and after
    for table in COUNTED:
        count = "{:,}".format(int(legacy_db.sql("SELECT count(*) FROM %s" % table)))
        assert re.search(r'<tr data-table="%s"><td>%s</td><td class="num">%s</td><td class="num">%s</td></tr>'
                         % (table, table, count, count), dom), (table, count)
    # the monitor's samples made it onto the load lane (the run sampled every second)
    assert data["timeline"]["samples"] and "<polyline class=\"cpu\"" in svg.group(0)
    assert "<script" not in dom

    os.makedirs(SHOTS, exist_ok=True)
    shot = os.path.join(SHOTS, "report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    chromium(exe, tmp_path, page, "--screenshot=%s" % shot, "--window-size=%d,%d" % WINDOW, "--hide-scrollbars")
    width, height, top = png_pixels(shot, 160)  # the verdict's banner is at the top
    assert (width, height) == WINDOW
    seen_colours = colours(top)
    assert len(seen_colours) > 8, seen_colours  # text on a coloured banner, not a blank page
    assert seen_colours.get(SUCCESS_GREEN, 0) > width * 40, sorted(seen_colours.items(), key=lambda c: -c[1])[:5]
    with capsys.disabled():
        print("\nthe report page: %s\nits screenshot (%dx%d, %d colours in the top 160 rows): %s"
              % (page, width, height, len(seen_colours), shot))


def test_a_failed_runs_page_shows_the_failure_and_its_markup_as_text(inventory, tmp_path, migrations_copy):
    exe = browser()
    (migrations_copy / "007_fails.sql").write_text(
        "DO $$ BEGIN RAISE EXCEPTION '%s'; END $$;\n" % HOSTILE.replace("'", "''"), encoding="utf-8")
    proc, data, _md, page = migrate(inventory, "-e", "migrate_migrations_src=%s" % migrations_copy)
    assert proc.returncode != 0
    assert data["verdict"] == "FAILED" and HOSTILE in data["failure"]["message"], data["failure"]
    dom = chromium(exe, tmp_path, page, "--dump-dom")
    assert '<p class="word" id="verdict">FAILED</p>' in dom
    failure = re.search(r'<section class="failure" id="failure">(.*?)</section>', dom, re.DOTALL)
    assert failure, "no failure section in the DOM"
    assert HOSTILE in text_of(failure.group(1)) and "&lt;script&gt;" in failure.group(1)
    # the markup stayed text: the browser built no script and no img element from it, and ran nothing
    assert "<script" not in dom and "<img" not in dom and "<title>FAILED: Migration Log" in dom
    # the data phase failed: its bar is drawn red over the rows this run wrote (005, 006 applied, 007 failed)
    assert re.search(r'<g class="phase" data-phase="data">\s*<rect class="phase-bar failed"', dom)
    failed = [p for p in data["timeline"]["phases"] if p["name"] == "data"]
    assert failed and "007_fails" in failed[0]["versions"], data["timeline"]["phases"]
