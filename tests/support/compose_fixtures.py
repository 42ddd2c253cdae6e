# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real docker-compose hosts for the integration tests (a pytest plugin).

* ``compose_hosts`` (session): a ``Deployment`` of the hosts "staging" and "production" brought up by
  tests/compose/hosts (see its docstring for what a host is, and support.compose for what a ``Host`` offers).
  It fails (never skips) when the hosts cannot be brought up, and tears them down at the end of the session:
  compose down -v, our processes stopped by pid, ssh masters closed, namespaces deleted.
* ``staging``, ``production`` (module): that host with a legacy KnowledgeHub database of 1500 chunks in its
  db service, loaded once per test module.
"""

from __future__ import annotations

import sys
import time
from typing import Iterator

import pytest

from support.compose import HOST_NAMES, Deployment, hosts_lib, load_legacy_state

LEGACY_CHUNKS = 1500
# Filled by the fixture, printed in the terminal summary.
_REPORT: dict[str, str] = {}


@pytest.fixture(scope="session")
def compose_hosts() -> Iterator[Deployment]:
    """The compose hosts "staging" and "production", up and healthy; torn down at the end of the session."""
    start = time.monotonic()
    try:
        deployment = hosts_lib.up(HOST_NAMES, python=sys.executable)
    except Exception as exc:  # pylint: disable=broad-except  # any failure to bring them up fails the tests
        try:
            hosts_lib.down(HOST_NAMES)
        finally:
            pytest.fail("the compose hosts could not be brought up: %s" % exc, pytrace=False)
    _REPORT["setup"] = "%.1fs (%s)" % (time.monotonic() - start, _slowest(deployment.timings))
    yield deployment
    start = time.monotonic()
    timings = hosts_lib.down(HOST_NAMES)
    _REPORT["teardown"] = "%.1fs (%s)" % (time.monotonic() - start, _slowest(timings))
    leftovers = hosts_lib.leftovers(HOST_NAMES)
    assert not leftovers, "left behind by the compose hosts' teardown: %s" % leftovers


def _slowest(timings: dict[str, float], count: int = 4) -> str:
    return ", ".join("%s %.1fs" % item for item in sorted(timings.items(), key=lambda i: -i[1])[:count])


def pytest_terminal_summary(terminalreporter) -> None:
    """Setup and teardown time of the compose hosts, when this session used them."""
    for phase in ("setup", "teardown"):
        if phase in _REPORT:
            terminalreporter.write_line("compose hosts %s: %s" % (phase, _REPORT[phase]))


@pytest.fixture(scope="module")
def staging(compose_hosts):
    host = compose_hosts["staging"]
    load_legacy_state(host, chunks=LEGACY_CHUNKS)
    return host


@pytest.fixture(scope="module")
def production(compose_hosts):
    host = compose_hosts["production"]
    load_legacy_state(host, chunks=LEGACY_CHUNKS)
    return host
