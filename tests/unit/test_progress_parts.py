# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress, the pure parts: the module's lines (module_utils/_progress) and the controller's line and
estimate (plugin_utils/_progress_view)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _progress
from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_action import interval_of
from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_view import (
    ProgressView,
    clock,
    parse,
    size,
)


def record(step="005_data_migration.sql", elapsed=0.0, done=None, total=None, unit=None, note=None):
    return {"at": 0, "step": step, "elapsed": elapsed, "done": done, "total": total, "unit": unit, "note": note}


def test_clock_and_size():
    assert [clock(s) for s in (0, 7.4, 65, 3723)] == ["0:00", "0:07", "1:05", "1:02:03"]
    assert [size(b) for b in (812, 4_200_000, 1_300_000_000)] == ["812 B", "4.2 MB", "1.3 GB"]


def test_a_line_with_rows_percent_elapsed_and_estimate():
    view = ProgressView("kh-staging", "pg_migrate")
    view.add([record(elapsed=2.0, done=10_000, total=100_000, unit="chunks", note="005 enhanced_chunks"),
              record(elapsed=12.0, done=30_000, total=100_000, unit="chunks", note="005 enhanced_chunks")], 31)
    # 20,000 chunks in 10 s: 70,000 left take 35 s
    assert view.estimate() == pytest.approx(35.0)
    assert view.line(31) == ("knowledgehub progress [kh-staging] pg_migrate: 005_data_migration.sql: "
                             "30,000/100,000 chunks (30%), 005 enhanced_chunks | step 0:12, about 0:35 left, task 0:31")


def test_the_estimate_uses_the_same_step_unit_and_total_only():
    view = ProgressView("h", "pg_migrate")
    view.add([record(elapsed=1, done=1, total=9, unit="statements"),
              record(elapsed=5, done=100, total=1000, unit="memories"),
              record(elapsed=6, done=3, total=9, unit="statements")], 6)
    assert view.estimate() is None  # statements are of uneven cost: no estimate
    assert "005_data_migration.sql: 3/9 statements (33%) | step 0:06, task 0:06" in view.line(6)
    view = ProgressView("h", "pg_migrate")
    view.add([record(elapsed=1, done=1, total=9, unit="chunks"),
              record(elapsed=5, done=100, total=1000, unit="memories"),
              record(elapsed=6, done=3, total=9, unit="chunks")])
    assert view.estimate() == pytest.approx(15.0)  # chunks: 2 in 5 s (the memories between do not count)
    view = ProgressView("h", "pg_migrate")
    view.add([record(elapsed=0, done=0, total=10, unit="rows"),
              record(step="other", elapsed=1, done=5, total=10, unit="rows")])
    assert view.estimate() is None  # one record of "other": no rate yet


def test_no_estimate_without_a_total_or_past_it_and_bytes_read_as_sizes():
    view = ProgressView("h", "pg_backup")
    view.add([record(step="pg_dump of kh", elapsed=1, done=1_000_000, total=None, unit="bytes")], 3)
    assert view.estimate() is None
    assert "pg_dump of kh: 1.0 MB | step 0:01, task 0:03" in view.line(3)
    view.add([record(step="pg_dump of kh", elapsed=2, done=2_000_000, total=1_500_000, unit="bytes")], 4)
    assert view.estimate() is None and "2.0 MB of about 1.5 MB |" in view.line(4)  # past the estimate: no percent


def test_a_step_without_figures_keeps_counting_its_time_and_the_estimate_counts_down():
    view = ProgressView("h", "pg_backup")
    view.add([record(step="clone kh as kh_rp", elapsed=1, note="CREATE DATABASE")], 2)
    assert view.line(12).endswith("clone kh as kh_rp: CREATE DATABASE | step 0:11, task 0:12")
    view = ProgressView("h", "pg_migrate")
    view.add([record(elapsed=0, done=0, total=100, unit="rows"),
              record(elapsed=10, done=50, total=100, unit="rows")], 10)
    assert "step 0:14, about 0:06 left, task 0:14" in view.line(14)


def test_before_any_report_the_line_says_running_and_the_time():
    assert ProgressView("h", "pg_restore").line(6.2) == "knowledgehub progress [h] pg_restore: running, 0:06 so far"


def test_parse_keeps_a_line_still_being_written_for_the_next_read():
    first = json.dumps(record(done=1)).encode() + b"\n"
    records, used = parse(first + b'{"step": "half')
    assert [r["done"] for r in records] == [1] and used == len(first)
    assert parse(b"not json\n") == ([], 9)


def test_interval():
    assert interval_of("2") == 2.0 and interval_of(0) == 0.0
    for bad in ("soon", -1, None, "nan", "inf"):
        with pytest.raises(Exception, match="knowledgehub_progress_interval"):
            interval_of(bad)


def test_the_module_side_writes_json_lines_throttled_and_nothing_without_a_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.jsonl"
    reporter = _progress.Reporter(str(path))
    reporter.report("005_data_migration.sql", 1, 10, "statements", "a note")
    reporter.report("005_data_migration.sql", 2, 10, "statements")  # within MIN_GAP of the same step: dropped
    reporter.report("ANALYZE", note="touched tables")  # a new step is always written
    reporter.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["step"], r["done"], r["note"]) for r in lines] == [
        ("005_data_migration.sql", 1, "a note"), ("ANALYZE", None, "touched tables")]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    off = _progress.Reporter(None)
    off.report("x", 1, 2, "rows")
    assert not off.enabled
    monkeypatch.setenv(_progress.ENV, str(tmp_path / "gone" / "p.jsonl"))
    broken = _progress.Reporter(str(tmp_path / "gone" / "p.jsonl"))
    broken.report("x")  # its directory is gone: no error, and no more attempts
    assert not broken.enabled


def test_notice_figures_and_label():
    notice = "NOTICE:  005 enhanced_chunks: 12000/100000 chunks (12%)\n"
    assert _progress.figures(notice) == (12000, 100000, "chunks")
    assert _progress.notice_label(notice) == "005 enhanced_chunks"
    assert _progress.figures("NOTICE:  005 ai_memories: done, 5000 memories in 3 batches") is None


def test_a_tick_runs_every_second_while_a_program_runs_and_the_timeout_still_holds():
    from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError, spawn

    seen = []
    result = spawn(["sleep", "2.5"]).wait(tick=lambda running: seen.append(running.poll()))
    assert result.rc == 0 and len(seen) >= 2 and set(seen) == {None}  # called while the program ran
    ticks = []
    with pytest.raises(ProcessError, match="did not finish within 1.5 seconds"):
        spawn(["sleep", "30"]).wait(timeout=1.5, tick=ticks.append)
    assert ticks
