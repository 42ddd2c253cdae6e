# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_probe: a SQL query timed against a real PostgreSQL 15 (read-only, whatever the query tries), and an HTTP GET
timed against a small HTTP server on 127.0.0.1 that the test starts (statuses, timeouts, refused connections
counted as errors); the impact against a baseline computed from the two results' own figures."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from support.modules import failed, ok, run_module


def probe(check_mode=False, **options):
    options.setdefault("samples", 5)
    options.setdefault("warmup", 1)
    return run_module("pg_probe", options, check_mode=check_mode)


def sql_probe(db, check_mode=False, **options):
    return probe(check_mode=check_mode, **dict(db.params, **options))


# -- the HTTP server ----------------------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """/ok: 200 at once; /slow/<ms>: 200 after ms; /status/<code>: that status; /flaky: 500 every other request."""

    flaky = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = self.path.strip("/").split("/")
        status = 200
        if parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000.0)
        elif parts[0] == "status":
            status = int(parts[1])
        elif parts[0] == "flaky":
            Handler.flaky += 1
            status = 500 if Handler.flaky % 2 else 200
        body = b'{"status": "healthy"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ordered(figures):
    return figures["min_ms"] <= figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]


# -- SQL ------------------------------------------------------------------------------------------------------------


def test_a_query_is_timed_on_the_real_database(db):
    result = ok(sql_probe(db, query="SELECT pg_sleep(0.02), 1 AS one", samples=4))
    figures = result["figures"]
    assert result["kind"] == "sql" and not result["changed"] and result["errors"] == 0
    assert figures["samples"] == figures["succeeded"] == 4 and ordered(figures)
    assert 20.0 <= figures["min_ms"] < 1000.0  # pg_sleep(0.02) is inside the timed part, the connection is not
    assert figures["min_ms"] <= figures["mean_ms"] <= figures["max_ms"]
    assert result["verdict"] == "ok" and result["impact_percent"] is None and result["baseline"] is None
    assert db.pg.app_password not in result["_stdout"] + result["probe"]


def test_check_mode_runs_the_probe_the_same(db):
    result = ok(sql_probe(db, check_mode=True, query="SELECT pg_sleep(0.01)", samples=3))
    assert result["figures"]["succeeded"] == 3 and result["figures"]["min_ms"] >= 10.0 and not result["changed"]


@pytest.fixture
def table(db):
    # owned by the role the probe logs in as: only the read-only transaction stands in the way of a write
    db.sql("CREATE TABLE probe_t (id int); INSERT INTO probe_t VALUES (1), (2); CREATE SEQUENCE probe_s; "
           "ALTER TABLE probe_t OWNER TO knowledgehub; ALTER SEQUENCE probe_s OWNER TO knowledgehub")
    return db


WRITES = [
    "DELETE FROM probe_t",                                                   # not a reading statement
    "SELECT 1; DELETE FROM probe_t",                                         # a second statement
    "SELECT 1; COMMIT; DELETE FROM probe_t",                                 # ending the read-only transaction
    "WITH d AS (DELETE FROM probe_t RETURNING id) SELECT * FROM d",         # a write inside a read: READ ONLY
    "SELECT nextval('probe_s')",                                            # a function that writes: READ ONLY
    "SELECT set_config('transaction_read_only', 'off', true), (SELECT count(*) FROM (DELETE FROM probe_t "
    "RETURNING 1) x)",                                                       # not valid SQL either
]


@pytest.mark.parametrize("query", WRITES, ids=range(len(WRITES)))
def test_a_query_that_would_write_is_refused_and_nothing_changes(table, query):
    message = failed(sql_probe(table, query=query))
    assert "Nothing was" in message and "Traceback" not in message and "42501" not in message
    assert table.sql("SELECT count(*) FROM probe_t") == "2"
    assert table.sql("SELECT last_value || ':' || is_called FROM probe_s") == "1:false"


def test_a_query_that_is_not_valid_sql_is_a_clear_error(db):
    message = failed(sql_probe(db, query="SELECT * FROM no_such_table"))
    assert "no_such_table" in message and "42P01" in message


def test_a_statement_timeout_is_an_error_sample_not_a_time(db):
    result = ok(sql_probe(db, query="SELECT pg_sleep(0.5)", statement_timeout="50ms", samples=3))
    assert result["errors"] == 3 and result["figures"]["succeeded"] == 0 and result["figures"]["p50_ms"] is None
    assert result["error_messages"] == ["statement_timeout (50ms) reached"]
    assert result["verdict"] == "warn" and "no sample succeeded" in result["reasons"][0]
    assert "no sample succeeded" in result["_stdout"]  # the warning


# -- HTTP -----------------------------------------------------------------------------------------------------------


def test_an_http_get_is_timed(server):
    result = ok(probe(url=server + "/slow/30", samples=4))
    assert result["kind"] == "http" and result["errors"] == 0 and ordered(result["figures"])
    assert result["figures"]["min_ms"] >= 30.0 and result["probe"] == "GET %s/slow/30" % server


def test_an_unexpected_status_is_an_error_and_an_expected_one_is_not(server):
    result = ok(probe(url=server + "/status/503", samples=3))
    assert result["errors"] == 3 and result["error_messages"] == ["HTTP 503 (expected 200)"]
    assert result["verdict"] == "warn"
    accepted = ok(probe(url=server + "/status/503", samples=3, expected_status=[200, 503]))
    assert accepted["errors"] == 0 and accepted["verdict"] == "ok"


def test_errors_are_counted_and_the_successes_still_timed(server):
    result = ok(probe(url=server + "/flaky", samples=6, warmup=0, max_errors=3))
    assert result["errors"] == 3 and result["figures"]["succeeded"] == 3 and result["verdict"] == "ok"
    over = ok(probe(url=server + "/flaky", samples=6, warmup=0, max_errors=2))
    assert over["verdict"] == "warn" and "3 of 6 samples failed (max_errors=2)" in over["reasons"]


def test_a_timeout_and_a_refused_connection_are_errors(server):
    slow = ok(probe(url=server + "/slow/500", samples=2, warmup=0, timeout=0.1))
    assert slow["errors"] == 2 and slow["error_messages"] == ["no answer within 0.1s"]
    refused = ok(probe(url="http://127.0.0.1:%d/health" % closed_port(), samples=2, warmup=0))
    assert refused["errors"] == 2 and refused["error_messages"][0].startswith("cannot reach http://127.0.0.1:")


def test_credentials_in_the_url_are_never_shown(server):
    url = server.replace("http://", "http://operator:s3cret-pw@") + "/status/500"
    result = ok(probe(url=url, samples=1, warmup=0))
    assert "s3cret-pw" not in result["_stdout"] + result["_stderr"]
    assert result["probe"] == "GET %s/status/500" % server


# -- impact -----------------------------------------------------------------------------------------------------------


def test_the_impact_is_computed_against_the_baseline_from_the_figures(server):
    before = ok(probe(url=server + "/slow/10", samples=5))
    after = ok(probe(url=server + "/slow/100", samples=5, baseline=before["figures"]))
    for key in ("p50", "mean"):
        expected = round((after["figures"][key + "_ms"] - before["figures"][key + "_ms"])
                         / before["figures"][key + "_ms"] * 100, 1)
        assert after["impact_percent"][key] == expected
    assert after["impact_percent"]["p50"] > 20  # the median: a hiccup of the shared CPU may move the mean
    assert after["verdict"] == "warn" and after["baseline"]["p50_ms"] == before["figures"]["p50_ms"]
    assert "max_impact_percent=20" in after["_stdout"]  # warned, not failed

    registered = {k: v for k, v in after.items() if not k.startswith("_") and k not in ("warnings", "invocation")}
    faster = ok(probe(url=server + "/slow/10", samples=5, baseline=registered))  # a whole result is a baseline too
    assert faster["impact_percent"]["p50"] < 0 and faster["verdict"] == "ok"


def test_on_impact_fail_fails_with_the_figures_in_the_result(server):
    before = ok(probe(url=server + "/ok", samples=3))
    result = probe(url=server + "/slow/80", samples=3, baseline=before["figures"], on_impact="fail")
    message = failed(result)
    assert "p50 +" in message and "on_impact=fail" in message
    assert result["verdict"] == "fail" and result["figures"]["min_ms"] >= 80 and result["impact_percent"]["p50"] > 20


BAD = [
    (dict(query="SELECT 1", url="http://127.0.0.1:1/"), "mutually exclusive"),
    (dict(), "one of the following is required"),
    (dict(url="ftp://127.0.0.1/x"), "must start with http:// or https://"),
    (dict(url="http://127.0.0.1:1/", samples=0), "samples=0 must be at least 1"),
    (dict(url="http://127.0.0.1:1/", baseline={"p95_ms": 3}), "neither p50_ms nor mean_ms"),
    (dict(url="http://127.0.0.1:1/", baseline={"p50_ms": "fast"}), "is not a number of milliseconds"),
    (dict(query="SELECT 1", statement_timeout="soon", login_port=1), "not a PostgreSQL duration"),
]


@pytest.mark.parametrize("options,words", BAD, ids=[w for _o, w in BAD])
def test_bad_input_is_a_clear_error(options, words):
    message = failed(probe(**options))
    assert words in message and "Traceback" not in message
