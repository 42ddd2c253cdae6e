# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A response-time probe: one read-only SQL query, or one HTTP GET, timed ``samples`` times after ``warmup`` runs.

The runbook's "Performance Baseline: Avg response time" and "Performance Impact +/-XX%" as data: the same probe
before and after the migration, the second given the first one's figures as ``baseline``.

* SQL: one connection (its set-up is not timed); each sample is its own READ ONLY transaction with a
  ``statement_timeout``, rolled back. Only one statement that reads is accepted (SELECT, WITH, VALUES, TABLE, SHOW,
  EXPLAIN): a second statement could end the read-only transaction (``COMMIT; DELETE ...``). The time is the
  execution and the fetch of every row.
* HTTP: ``open_url`` (Ansible's own, no new dependency); the time is the request and the read of the whole body.
  A status outside ``expected_status``, a timeout or a refused connection is an error sample.

Error samples are counted and their first distinct messages kept; they give no time (a refused connection answers
fast and would flatter the figures). The figures are milliseconds: min, p50 and p95 (linear interpolation between
the closest ranks), max and mean, over the samples that succeeded.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.error
from typing import Any, Callable

from ansible.module_utils.urls import open_url

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_duration
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import HAS_PSYCOPG2, Target, psycopg2

FIGURES = ("min_ms", "p50_ms", "p95_ms", "max_ms", "mean_ms")
READING = ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN")
MAX_MESSAGES = 5
QUERY_CANCELED = "57014"
READ_ONLY_TRANSACTION = "25006"


class ProbeError(Failure):
    """The probe cannot run as asked (its options, or a query that is not one reading statement); nothing ran."""


class ImpactExceeded(Failure):
    """The response time moved beyond max_impact_percent (or errors beyond max_errors) and on_impact is fail."""


# -- figures -------------------------------------------------------------------------------------------------------


def percentile(ordered: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of sorted values, interpolated linearly between the closest ranks."""
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def figures(times_ms: list[float], errors: int) -> dict[str, Any]:
    """min/p50/p95/max/mean (ms, 3 decimals) of the successful samples, with the sample and error counts. With no
    successful sample the times are None."""
    ordered = sorted(times_ms)
    out: dict[str, Any] = {"samples": len(ordered) + errors, "succeeded": len(ordered), "errors": errors}
    if not ordered:
        return dict(out, **{key: None for key in FIGURES})
    values = (ordered[0], percentile(ordered, 0.5), percentile(ordered, 0.95), ordered[-1],
              sum(ordered) / len(ordered))
    return dict(out, **{key: round(value, 3) for key, value in zip(FIGURES, values)})


def baseline_figures(baseline: Any) -> dict[str, Any]:
    """The figures of ``baseline``: a probe's ``figures`` or its whole earlier result. ProbeError otherwise."""
    if not isinstance(baseline, dict):
        raise ProbeError("baseline must be the figures of an earlier probe (its result's 'figures', or the whole "
                         "registered result), not %s." % type(baseline).__name__)
    source = baseline.get("figures") if isinstance(baseline.get("figures"), dict) else baseline
    found = {}
    for key in ("p50_ms", "mean_ms"):
        value = source.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ProbeError("baseline %s=%r is not a number of milliseconds." % (key, value))
        found[key] = value
    if found["p50_ms"] is None and found["mean_ms"] is None:
        raise ProbeError("baseline has neither p50_ms nor mean_ms: pass the 'figures' of an earlier probe "
                         "(for example baseline: \"{{ probe_before.figures }}\").")
    return {key: source.get(key) for key in FIGURES + ("samples", "succeeded", "errors") if key in source}


def change_percent(now: float | None, before: float | None) -> float | None:
    """The signed change from ``before`` to ``now`` in percent, 1 decimal; None when either is missing or before is 0."""
    if now is None or before is None or before <= 0:
        return None
    return round((now - before) / before * 100.0, 1)


def verdict(current: dict[str, Any], baseline: dict[str, Any] | None, max_impact: float, max_errors: int,
            on_impact: str) -> dict[str, Any]:
    """The impact against the baseline (p50 and mean) and the verdict: ok, or ``on_impact`` (warn or fail) with the
    reasons, when a change is above ``max_impact`` percent, errors are above ``max_errors``, or nothing succeeded."""
    reasons = []
    impact = None
    if current["succeeded"] == 0:
        reasons.append("no sample succeeded (%d errors)" % current["errors"])
    elif current["errors"] > max_errors:
        reasons.append("%d of %d samples failed (max_errors=%d)" % (current["errors"], current["samples"], max_errors))
    if baseline is not None:
        impact = {"p50": change_percent(current["p50_ms"], baseline.get("p50_ms")),
                  "mean": change_percent(current["mean_ms"], baseline.get("mean_ms"))}
        for key, value in impact.items():
            if value is not None and value > max_impact:
                reasons.append("%s %+.1f%% against the baseline (%s ms -> %s ms; max_impact_percent=%s)"
                               % (key, value, baseline.get(key + "_ms"), current[key + "_ms"], max_impact))
    return {"impact_percent": impact, "verdict": on_impact if reasons else "ok", "reasons": reasons}


# -- what is timed ---------------------------------------------------------------------------------------------------


def check_query(query: str) -> str:
    """``query`` when it is exactly one statement that reads; ProbeError naming what is wrong otherwise."""
    statements = split_sql(query or "")
    if len(statements) != 1:
        raise ProbeError("query must be exactly one SQL statement (it holds %d): a second statement could end the "
                         "read-only transaction the probe runs in. Nothing was run." % len(statements))
    words = statements[0].words
    if not words or words[0] not in READING:
        raise ProbeError("query must be a statement that reads (starting with %s), not %r. Nothing was run."
                         % (", ".join(READING), " ".join(words[:3]) or statements[0].text[:40]))
    return statements[0].text


_CREDENTIALS = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def shown_url(url: str) -> str:
    """``url`` without user and password, for results and messages."""
    return _CREDENTIALS.sub(r"\g<scheme>", url)


def url_password(url: str | None) -> str | None:
    """The password written in ``url`` (``scheme://user:password@host``), for the module to mask, or None."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:(?P<password>[^/@]*)@", url or "")
    return match.group("password") if match and match.group("password") else None


class SqlProbe:
    """One connection; each sample a READ ONLY transaction with statement_timeout, rolled back."""

    def __init__(self, target: Target, query: str, statement_timeout: str) -> None:
        self.target = target
        self.query = query
        self.timeout = statement_timeout
        self.conn: Any = None

    def describe(self) -> str:
        return "query on %s" % self.target.describe()

    def _connection(self) -> Any:
        """The probe's connection; one lost during the run is made again, and failing that is an error sample
        (the first connection failing is a Failure: the options are wrong)."""
        if self.conn is not None and not self.conn.closed:
            return self.conn
        first = self.conn is None
        try:
            self.conn = self.target.connect("pg_probe")
        except Failure as exc:
            if first:
                raise
            raise RuntimeError("reconnecting failed: %s" % exc.message) from None
        self.conn.set_session(readonly=True, autocommit=False)
        return self.conn

    def sample(self) -> float:
        """One timed run in ms; raises RuntimeError with the message of a failed sample."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SET LOCAL statement_timeout = %s", (self.timeout,))
                start = time.perf_counter()
                cur.execute(self.query)
                if cur.description is not None:
                    cur.fetchall()
                elapsed = (time.perf_counter() - start) * 1000.0
            conn.rollback()
            return elapsed
        except psycopg2.Error as exc:
            code = getattr(exc, "pgcode", None) or ""
            if not conn.closed:
                conn.rollback()
            if code == READ_ONLY_TRANSACTION or code.startswith("42"):
                raise ProbeError("The probe query fails on %s: %s (SQLSTATE %s). Fix the query; it must only read. "
                                 "Nothing was changed." % (self.target.dbname, first_line(exc), code)) from None
            if code == QUERY_CANCELED:
                raise RuntimeError("statement_timeout (%s) reached" % self.timeout) from None
            raise RuntimeError("SQLSTATE %s: %s" % (code or "connection", self.target.scrub(first_line(exc)))) from None

    def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.close()


class HttpProbe:
    """GET ``url``; a status outside ``expected`` is an error sample."""

    def __init__(self, url: str, expected: list[int], timeout: float, params: dict[str, Any]) -> None:
        self.url = url
        self.expected = expected
        self.timeout = timeout
        self.options = {"validate_certs": params["validate_certs"], "url_username": params.get("url_username"),
                        "url_password": params.get("url_password"), "force_basic_auth": params["force_basic_auth"]}

    def describe(self) -> str:
        return "GET %s" % shown_url(self.url)

    def sample(self) -> float:
        start = time.perf_counter()
        try:
            response = open_url(self.url, method="GET", timeout=self.timeout, follow_redirects="safe",
                                **self.options)
            try:
                response.read()
                status = response.getcode()
            finally:
                response.close()
        except urllib.error.HTTPError as exc:
            exc.close()
            status = exc.code
        except (socket.timeout, TimeoutError):
            raise RuntimeError("no answer within %ss" % self.timeout) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise RuntimeError("no answer within %ss" % self.timeout) from None
            raise RuntimeError("cannot reach %s: %s" % (shown_url(self.url), reason)) from None
        elapsed = (time.perf_counter() - start) * 1000.0
        if status not in self.expected:
            raise RuntimeError("HTTP %s (expected %s)" % (status, ", ".join(str(s) for s in self.expected)))
        return elapsed

    def close(self) -> None:
        """Nothing stays open between samples."""


# -- the job ---------------------------------------------------------------------------------------------------------


def _run(sample: Callable[[], float], count: int, interval: float) -> tuple[list[float], list[str]]:
    """``count`` samples: their times (ms) and the messages of those that failed."""
    times, messages = [], []
    for index in range(count):
        if index and interval:
            time.sleep(interval)
        try:
            times.append(sample())
        except RuntimeError as exc:
            messages.append(str(exc))
    return times, messages


class ProbeJob(Job):
    """pg_probe: read-only, so check mode runs it the same (plan is the whole work, apply returns it)."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.probe: Any = None

    def _options(self) -> None:
        for name in ("samples", "warmup", "max_errors"):
            if self.p[name] < (1 if name == "samples" else 0):
                raise ProbeError("%s=%s must be at least %d." % (name, self.p[name], 1 if name == "samples" else 0))
        for name in ("timeout", "interval"):
            if self.p[name] < 0 or (name == "timeout" and not self.p[name]):
                raise ProbeError("%s=%s must be a positive number of seconds." % (name, self.p[name]))

    def _make_probe(self) -> Any:
        if self.p.get("query"):
            if not HAS_PSYCOPG2:
                raise ProbeError("A query probe needs psycopg2 on the managed host (psycopg2-binary or "
                                 "python3-psycopg2).")
            timeout = check_duration("statement_timeout", self.p["statement_timeout"])
            return SqlProbe(Target.from_params(self.p), check_query(self.p["query"]), timeout)
        url = self.p["url"]
        if not re.match(r"^https?://", url, re.IGNORECASE):
            raise ProbeError("url=%r must start with http:// or https://." % shown_url(url))
        expected = [int(s) for s in self.p["expected_status"]]
        return HttpProbe(url, expected, float(self.p["timeout"]), self.p)

    def plan(self) -> dict[str, Any]:
        self._options()
        baseline = baseline_figures(self.p["baseline"]) if self.p.get("baseline") is not None else None
        self.probe = self._make_probe()
        warm_times, warm_errors = _run(self.probe.sample, self.p["warmup"], self.p["interval"])
        times, messages = _run(self.probe.sample, self.p["samples"], self.p["interval"])
        measured = figures(times, len(messages))
        judged = verdict(measured, baseline, float(self.p["max_impact_percent"]), self.p["max_errors"],
                         self.p["on_impact"])
        distinct = list(dict.fromkeys(messages))
        result = {
            "changed": False,
            "kind": "sql" if self.p.get("query") else "http",
            "probe": self.probe.describe(),
            "warmup": {"runs": len(warm_times) + len(warm_errors), "errors": len(warm_errors)},
            "figures": measured,
            "errors": measured["errors"],
            "error_messages": distinct[:MAX_MESSAGES],
            "baseline": baseline,
            "impact_percent": judged["impact_percent"],
            "max_impact_percent": float(self.p["max_impact_percent"]),
            "verdict": judged["verdict"],
            "reasons": judged["reasons"],
        }
        if judged["reasons"]:
            message = "Response time probe (%s): %s." % (result["probe"], "; ".join(judged["reasons"]))
            if judged["verdict"] == "fail":
                raise ImpactExceeded(message + " on_impact=fail stops here; nothing was changed.", result)
            result["warnings"] = [message]
        return result

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        return plan

    def close(self) -> None:
        if self.probe is not None:
            self.probe.close()
