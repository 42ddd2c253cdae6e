# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the collection's modules as Ansible does (a Python process, the arguments on stdin), and checking
their results.

Every result is the module's JSON (with ``failed`` set on failure, also when the module
printed no JSON) plus the raw process output under ``_stdout`` / ``_stderr`` / ``_rc``,
for assertions on what leaked. ``ok(result)`` and ``failed(result)`` are the two
assertions on the outcome::

    result = ok(migrate(db, baseline_version="003"))      # exit code 0 and not failed
    assert "Drift" in failed(migrate(db))                   # failed, exit code not 0; returns msg
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.paths import COLLECTIONS, MIGRATIONS, REPO

MODULE_TIMEOUT = 900

# The connection options as a module hands them to module_utils, for unit tests; the password holds the
# characters a libpq passfile and a conninfo must escape.
PARAMS = dict(login_user="knowledgehub", login_password="s3cr:et\\pw'", login_host="127.0.0.1", login_port=5433,
              login_db="knowledgehub", login_unix_socket="", ssl_mode="prefer", connect_timeout=10, connect_params={},
              ca_cert=None, ssl_cert=None, ssl_key=None)


def module_command(name: str, args: dict, check_mode: bool = False) -> tuple[list[str], str, dict]:
    """argv, stdin and environment that run a module of this collection as Ansible does."""
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_no_log=False)
    argv = [sys.executable, "-m", "ansible_collections.knowledgehub.migration.plugins.modules." + name]
    return argv, json.dumps({"ANSIBLE_MODULE_ARGS": module_args}), dict(os.environ, PYTHONPATH=COLLECTIONS)


def parse_result(stdout: str, stderr: str, rc: int) -> dict:
    """A module's result from its output: its JSON, or a failure when it printed none."""
    try:
        result = json.loads(stdout)
    except ValueError:
        result = {"failed": True, "msg": "module printed no JSON: %s" % stderr[-2000:]}
    result.update(_stdout=stdout, _stderr=stderr, _rc=rc)
    return result


def run_module(name: str, args: dict, check_mode: bool = False, env: dict | None = None) -> dict:
    """Run a module of this collection and return its result."""
    argv, stdin, base_env = module_command(name, args, check_mode)
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=dict(base_env, **(env or {})),
                          cwd=REPO, check=False, timeout=MODULE_TIMEOUT)
    return parse_result(proc.stdout, proc.stderr, proc.returncode)


def start_module(name: str, args: dict, check_mode: bool = False) -> subprocess.Popen:
    """Start a module without waiting for it (to kill it, to race it against another run, to watch it run)."""
    argv, stdin, env = module_command(name, args, check_mode)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() must not touch it again
    return proc


def module_result(proc: subprocess.Popen, timeout: float = MODULE_TIMEOUT) -> dict:
    """Wait for a module started with start_module and return its result."""
    stdout, stderr = proc.communicate(timeout=timeout)
    return parse_result(stdout, stderr, proc.returncode)


def ok(result: dict) -> dict:
    """Assert that the module succeeded (exit code 0, not failed); returns the result."""
    assert result["_rc"] == 0 and not result.get("failed"), result.get("msg") or result["_stderr"][-3000:]
    return result


def failed(result: dict) -> str:
    """Assert that the module failed (failed, exit code not 0); returns its message."""
    assert result.get("failed") and result["_rc"] != 0, "expected a failure, got %s" % {
        k: v for k, v in result.items() if not k.startswith("_")}
    return result["msg"]


# -- the modules with a test database's connection (support.database.Database.params) --------------------


def migrate(db, check_mode: bool = False, migrations_dir=MIGRATIONS, **options) -> dict:
    """pg_migrate on ``db`` with the migrations of this repository (or ``migrations_dir``)."""
    return run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations_dir), **options),
                      check_mode=check_mode)


def backup(db, backup_dir: str, check_mode: bool = False, **options) -> dict:
    """pg_backup of ``db`` into ``backup_dir``."""
    return run_module("pg_backup", dict(db.params, backup_dir=backup_dir, **options), check_mode=check_mode)


def restore(db, check_mode: bool = False, **options) -> dict:
    """pg_restore into ``db``."""
    return run_module("pg_restore", dict(db.params, **options), check_mode=check_mode)
