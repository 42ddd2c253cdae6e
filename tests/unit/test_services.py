# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compose_service's pure parts: timestamps, secret values of a compose config masked in what a failure shows,
the health URL (checked, its password kept out of the output, probed against a real HTTP server on loopback)."""

from __future__ import annotations

import http.server
import threading

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _services
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError


def test_timestamps_round_trip_and_need_a_time_zone():
    now = _services.utcnow()
    text = _services.stamp(now)
    assert text.endswith("+00:00") and len(text.split(".")[1]) == 9  # milliseconds, then +00:00
    assert abs((_services.parse_stamp("down_since", text) - now).total_seconds()) < 0.001
    assert _services.parse_stamp("down_since", "2026-11-30T21:28:41Z").tzinfo is not None
    for bad in ("2026-11-30T21:28:41", "yesterday", ""):
        with pytest.raises(OptionError, match="down_since must be a timestamp with a time zone"):
            _services.parse_stamp("down_since", bad)


def test_secret_values_come_from_variables_named_like_secrets():
    config = {"services": {
        "api": {"environment": {"KNOWLEDGEHUB_DB_PASSWORD": "s3cret-pw", "KNOWLEDGEHUB_DB_HOST": "127.0.0.1",
                                "API_KEY": "abcd1234", "EMPTY_TOKEN": "", "SHORT_SECRET": "x"}},
        "worker": {"environment": ["GITHUB_TOKEN=ghp_longtoken", "MODE=fast"]},
        "db": {}}}
    assert _services.secret_values(config) == ["ghp_longtoken", "s3cret-pw", "abcd1234"]


def test_clean_masks_strips_terminal_codes_and_bounds_the_lines():
    text = "\x1b[2Kstarting\n\nconnecting with s3cret-pw\n" + "x" * 1000 + "\n" + "\n".join(map(str, range(50)))
    lines = _services.clean(text, ["s3cret-pw"])
    assert len(lines) == _services.LOG_LINES and lines[-1] == "49"
    assert _services.clean(text, ["s3cret-pw"], lines=100)[:3] == ["starting", "connecting with ********",
                                                                   "x" * _services.LINE_CHARS]


def test_health_url_is_checked_and_its_password_never_shown():
    _services.check_url("https://api.example/health")
    for bad in ("ftp://x/", "127.0.0.1:8080/health", "http:///path"):
        with pytest.raises(OptionError, match="health_url must be an http"):
            _services.check_url(bad)
    assert _services.shown_url("http://ops:pa%40ss@127.0.0.1:8080/h") == "http://ops:********@127.0.0.1:8080/h"
    assert _services.shown_url("http://127.0.0.1/h") == "http://127.0.0.1/h"
    assert _services.url_secrets("http://ops:pa%40ss@127.0.0.1/h") == ["pa%40ss", "pa@ss"]
    assert _services.url_secrets(None) == [] and _services.url_secrets("http://ops@h/") == []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (the name http.server calls)
        wanted = "Basic b3BzOnBhQHNz"  # ops:pa@ss
        code = 200 if self.path == "/ok" else 503
        if self.path == "/auth":
            code = 200 if self.headers.get("Authorization") == wanted else 401
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_probe_reports_the_status_or_why_nothing_answered(server):
    assert _services.probe(server + "/ok", 2) == (200, "")
    assert _services.probe(server + "/down", 2)[0] == 503
    assert _services.probe(server.replace("http://", "http://ops:pa%40ss@") + "/auth", 2) == (200, "")
    assert _services.probe(server + "/auth", 2)[0] == 401
    status, why = _services.probe("http://127.0.0.1:9/", 2)
    assert status is None and "refused" in why.lower()
