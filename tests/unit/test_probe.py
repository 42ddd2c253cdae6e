# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of pg_probe: percentiles, figures, the impact and the verdict, the query and URL checks."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._probe import (
    ProbeError,
    baseline_figures,
    change_percent,
    check_query,
    figures,
    percentile,
    shown_url,
    url_password,
    verdict,
)


def test_percentiles_interpolate_between_the_closest_ranks():
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 0.5) == 10.5
    assert percentile(values, 0.95) == pytest.approx(19.05)
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 20.0
    assert percentile([7.0], 0.95) == 7.0


def test_figures_are_over_the_successful_samples_and_count_the_errors():
    out = figures([3.0, 1.0, 2.0, 10.0], errors=2)
    assert out == {"samples": 6, "succeeded": 4, "errors": 2, "min_ms": 1.0, "p50_ms": 2.5, "p95_ms": 8.95,
                   "max_ms": 10.0, "mean_ms": 4.0}
    assert figures([0.1234567], 0)["mean_ms"] == 0.123
    empty = figures([], errors=3)
    assert empty["succeeded"] == 0 and empty["p50_ms"] is None and empty["mean_ms"] is None


def test_the_change_is_signed_with_one_decimal():
    assert change_percent(11.0, 10.0) == 10.0
    assert change_percent(9.0, 10.0) == -10.0
    assert change_percent(1.0, 3.0) == -66.7
    assert change_percent(None, 3.0) is None and change_percent(3.0, None) is None and change_percent(3.0, 0) is None


def current(**changes):
    return dict(figures([10.0, 10.0, 10.0], 0), **changes)


def test_the_verdict_is_ok_within_the_limit_and_warns_or_fails_beyond_it():
    within = verdict(current(), {"p50_ms": 9.0, "mean_ms": 9.0}, 20.0, 0, "warn")
    assert within == {"impact_percent": {"p50": 11.1, "mean": 11.1}, "verdict": "ok", "reasons": []}
    beyond = verdict(current(), {"p50_ms": 5.0, "mean_ms": 9.0}, 20.0, 0, "fail")
    assert beyond["verdict"] == "fail" and beyond["impact_percent"] == {"p50": 100.0, "mean": 11.1}
    assert beyond["reasons"] == ["p50 +100.0% against the baseline (5.0 ms -> 10.0 ms; max_impact_percent=20.0)"]
    faster = verdict(current(), {"p50_ms": 50.0, "mean_ms": 50.0}, 20.0, 0, "warn")
    assert faster["verdict"] == "ok" and faster["impact_percent"]["p50"] == -80.0


def test_errors_and_no_success_count_against_the_verdict_without_a_baseline_too():
    assert verdict(current(), None, 20.0, 0, "warn") == {"impact_percent": None, "verdict": "ok", "reasons": []}
    errors = verdict(current(errors=2, samples=5), None, 20.0, 1, "warn")
    assert errors["verdict"] == "warn" and errors["reasons"] == ["2 of 5 samples failed (max_errors=1)"]
    nothing = verdict(figures([], 4), {"p50_ms": 1.0}, 20.0, 10, "fail")
    assert nothing["verdict"] == "fail" and nothing["reasons"] == ["no sample succeeded (4 errors)"]
    assert nothing["impact_percent"] == {"p50": None, "mean": None}


def test_a_baseline_is_figures_or_a_whole_result():
    figs = figures([1.0, 2.0], 0)
    assert baseline_figures(figs) == figs
    assert baseline_figures({"figures": figs, "verdict": "ok"}) == figs
    assert baseline_figures({"mean_ms": 4}) == {"mean_ms": 4}
    for bad, words in (([1], "not list"), ({"p95_ms": 1}, "neither"), ({"p50_ms": True}, "not a number"),
                       ({"mean_ms": "4"}, "not a number")):
        with pytest.raises(ProbeError, match=words):
            baseline_figures(bad)


@pytest.mark.parametrize("query", ["SELECT 1", "  -- why\nselect count(*) from chunks;", "WITH x AS (SELECT 1) "
                                   "SELECT * FROM x", "VALUES (1)", "TABLE chunks", "SHOW work_mem",
                                   "EXPLAIN ANALYZE SELECT 1", "SELECT ';' AS semicolon"])
def test_one_reading_statement_is_accepted(query):
    assert check_query(query).upper().lstrip().startswith(("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN",
                                                           "-- WHY"))


@pytest.mark.parametrize("query,words", [
    ("", "exactly one SQL statement (it holds 0)"),
    ("SELECT 1; SELECT 2", "exactly one SQL statement (it holds 2)"),
    ("SELECT 1; COMMIT; DELETE FROM chunks", "exactly one"),
    ("DELETE FROM chunks", "statement that reads"),
    ("SET transaction_read_only = off", "statement that reads"),
    ("BEGIN", "statement that reads"),
    ("(SELECT 1)", "statement that reads"),
])
def test_anything_else_is_refused(query, words):
    with pytest.raises(ProbeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_query(query)


def test_credentials_are_taken_out_of_a_url():
    assert shown_url("http://user:pw@127.0.0.1:8080/health") == "http://127.0.0.1:8080/health"
    assert shown_url("https://token@api.example/x?a=b@c") == "https://api.example/x?a=b@c"
    assert shown_url("http://127.0.0.1/a@b") == "http://127.0.0.1/a@b"
    assert url_password("http://user:pw@127.0.0.1/") == "pw"
    assert url_password("http://user@127.0.0.1/") is None and url_password(None) is None
