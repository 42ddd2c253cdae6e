# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real docker-compose hosts for the integration tests (a pytest plugin).

Test modules load it with ``pytest_plugins = ["conftest_compose"]`` and use the
session fixture ``compose_hosts``: a ``Deployment`` of the hosts "staging" and
"production" brought up by ``tests/compose/hosts.py`` (see its docstring for what
a host is). ``compose_hosts["staging"]`` is a ``Host`` with

* ``name``, ``netns`` (network namespace), ``project_dir`` (the deployed compose project),
* ``docker_env`` (DOCKER_HOST, DOCKER_CONFIG) and ``env()``,
* ``run(argv)``: a command inside the host's namespace with that environment,
* ``compose(*args)``: ``docker compose ARGS`` in the project directory,
* ``psql(sql)`` / ``psql(file=...)``: psql inside the host against 127.0.0.1:5433 as
  the application role, the password in a PGPASSFILE,
* ``inventory``: the Ansible inventory of all hosts (also ``compose_hosts.inventory``).

The fixture fails (never skips) when the hosts cannot be brought up, and tears
them down at the end of the session: compose down -v, our processes stopped by
pid, ssh masters closed, namespaces deleted.

PYTEST_DONT_REWRITE: test modules import helpers from here before pytest_plugins
registers it; this keeps pytest from warning that it cannot rewrite the asserts.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from typing import Iterator

import pytest

from conftest import MIGRATIONS, REPO, SAMPLE_DATA


def _load_hosts_module():
    """tests/compose/hosts.py, imported under a name of its own."""
    spec = importlib.util.spec_from_file_location("kh_compose_hosts", os.path.join(REPO, "tests", "compose",
                                                                                   "hosts.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hosts_lib = _load_hosts_module()
Host = hosts_lib.Host
Deployment = hosts_lib.Deployment

HOST_NAMES = ("staging", "production")
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


def ansible(tool: str, inventory: str | os.PathLike, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``ansible`` / ``ansible-playbook`` of this interpreter's venv against ``inventory``, from the repository
    (its ansible.cfg)."""
    command = [os.path.join(os.path.dirname(sys.executable), tool), "-i", str(inventory), *args]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False)


def reset_database(host: Host) -> None:
    """Drop and recreate the host's (empty) knowledgehub database, owned by the application role."""
    user = host.env_file()["POSTGRES_USER"]
    host.psql("DROP DATABASE IF EXISTS knowledgehub WITH (FORCE)", db="postgres")
    host.psql('CREATE DATABASE knowledgehub OWNER "%s"' % user, db="postgres")


def load_legacy_state(host: Host, chunks: int = 2000, dim: int = 16) -> None:
    """A KnowledgeHub database from before the ledger in the host's db service: a fresh knowledgehub database,
    migrations 001-003 applied by hand (each in one transaction), then tools/sample_data.sql with ``chunks``
    chunks of ``dim``-element embeddings."""
    reset_database(host)
    for name in sorted(os.listdir(MIGRATIONS)):
        if name[:3] in ("001", "002", "003") and name.endswith(".sql"):
            host.psql(file=os.path.join(MIGRATIONS, name), single_transaction=True)
    host.psql(file=SAMPLE_DATA, variables={"chunks": str(chunks), "dim": str(dim)})
