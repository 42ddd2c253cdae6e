# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the tests on real docker-compose hosts (tests/compose/hosts, fixture ``compose_hosts``).

A host (``compose_hosts["staging"]``, a ``Host`` of tests/compose/hosts) has

* ``name``, ``netns`` (network namespace), ``project_dir`` (the deployed compose project),
* ``docker_env`` (DOCKER_HOST, DOCKER_CONFIG) and ``env()``,
* ``run(argv)``: a command inside the host's namespace with that environment,
* ``compose(*args)``: ``docker compose ARGS`` in the project directory,
* ``psql(sql)`` / ``psql(file=...)``: psql inside the host against 127.0.0.1:5433 as
  the application role, the password in a PGPASSFILE,
* ``inventory``: the Ansible inventory of all hosts (also ``compose_hosts.inventory``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from support.database import CRITICAL
from support.modules import module_command, parse_result
from support.paths import MIGRATIONS, SAMPLE_DATA, TESTS

HOST_NAMES = ("staging", "production")


def _load_hosts_package():
    """tests/compose/hosts, imported under a name of its own (``hosts`` would be too common a name)."""
    package = os.path.join(TESTS, "compose", "hosts")
    spec = importlib.util.spec_from_file_location("kh_compose_hosts", os.path.join(package, "__init__.py"),
                                                  submodule_search_locations=[package])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hosts_lib = _load_hosts_package()
Host = hosts_lib.Host
Deployment = hosts_lib.Deployment


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


def run_on(host: Host, name: str, args: dict, check_mode: bool = False) -> dict:
    """Run a module of the collection inside ``host``'s namespace with its docker environment, as Ansible runs it
    there; its result as support.modules.run_module returns one."""
    argv, stdin, env = module_command(name, args, check_mode)
    proc = subprocess.run(["nsenter", "--net=/run/netns/" + host.netns, "--", *argv], input=stdin,
                          capture_output=True, text=True, env=host.env({"PYTHONPATH": env["PYTHONPATH"]}),
                          check=False, timeout=900)
    return parse_result(proc.stdout, proc.stderr, proc.returncode)


def connection(host: Host, **extra) -> dict:
    """The modules' connection options for the host's database (and its compose project), plus ``extra``."""
    env = host.env_file()
    params = dict(login_host="127.0.0.1", login_port=5433, login_user=env["POSTGRES_USER"],
                  login_password=env["POSTGRES_PASSWORD"], login_db="knowledgehub", project_dir=str(host.project_dir))
    params.update(extra)
    return params


def content(host: Host, db: str = "knowledgehub") -> dict[str, str]:
    """Row count and an md5 of every row, per critical table."""
    return {t: host.psql("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                         "FROM %s t" % t, db=db) for t in CRITICAL}


def services(host: Host) -> dict[str, dict]:
    """`docker compose ps -a` of the host, by service (compose v2 prints one JSON object per line)."""
    out = host.compose("ps", "-a", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {row["Service"]: row for row in rows}


def ready(host: Host, service: str) -> bool:
    """The service runs and is healthy (or has no healthcheck)."""
    row = services(host).get(service, {})
    return row.get("State") == "running" and row.get("Health") in ("", "healthy")
