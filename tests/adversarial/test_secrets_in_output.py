# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: secrets in output and in what a run leaves on the host.

Every way a password can be given (login_password, connect_params.password) is no_log, so it
appears in no task output at any verbosity, and the shipped configuration pipelines modules, so
a killed run leaves no module payload (with its arguments) in the remote tmp directory.
"""

from __future__ import annotations

import glob
import json
import sys

import pytest

from support.modules import failed, ok, run_module
from support.paths import MIGRATIONS
from support.playbooks import ansible

SECRET = "cp-s3cret-!x"


@pytest.fixture
def app_password_in_connect_params(db):
    """The application role's password, given only through connect_params."""
    params = dict(db.params)
    params["connect_params"] = {"password": params.pop("login_password")}
    return params


def _inventory(tmp_path) -> str:
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                    "      ansible_python_interpreter: %s\n" % sys.executable)
    return str(path)


def test_a_password_in_connect_params_is_not_in_the_result(app_password_in_connect_params):
    params = app_password_in_connect_params
    password = params["connect_params"]["password"]
    result = ok(run_module("pg_migrate", dict(params, migrations_dir=MIGRATIONS), check_mode=True))
    assert password not in result["_stdout"] and password not in result["_stderr"]
    assert "connect_params" not in json.dumps(result.get("invocation", {}).get("module_args", {})) or \
        password not in json.dumps(result["invocation"])


def test_a_wrong_password_in_connect_params_is_not_echoed(db):
    params = dict(db.params, login_password="", connect_params={"password": SECRET})
    message = failed(run_module("pg_migrate", dict(params, migrations_dir=MIGRATIONS)))
    assert "Cannot connect" in message
    assert SECRET not in json.dumps(run_module("pg_migrate", dict(params, migrations_dir=MIGRATIONS)))


@pytest.mark.parametrize("given_as", ["login_password", "connect_params"])
def test_no_password_in_ansible_output_at_vvv(tmp_path, db, given_as):
    params = dict(db.params)
    password = params.pop("login_password")
    if given_as == "connect_params":
        params["connect_params"] = {"password": password}
    else:
        params["login_password"] = password
    args = json.dumps(dict(params, migrations_dir=MIGRATIONS))
    run = ansible("ansible", _inventory(tmp_path), "localhost", "-m", "knowledgehub.migration.pg_migrate",
                  "-a", args, "--check", "-vvv")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert password not in run.stdout and password not in run.stderr


def test_modules_are_pipelined_and_leave_no_payload(tmp_path, db):
    remote_tmp = tmp_path / "remote-tmp"
    run = ansible("ansible", _inventory(tmp_path), "localhost", "-m", "knowledgehub.migration.pg_migrate",
                  "-a", json.dumps(dict(db.params, migrations_dir=MIGRATIONS)), "--check", "-vvv",
                  "-e", "ansible_remote_tmp=%s" % remote_tmp)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Pipelining is enabled" in run.stdout
    assert "AnsiballZ_pg_migrate.py" not in run.stdout
    assert glob.glob(str(remote_tmp / "**" / "AnsiballZ_*"), recursive=True) == []
