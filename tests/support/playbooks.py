# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible and ansible-playbook as an operator runs them, and what their output says."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Any

import yaml

from support.paths import REPO

MIGRATE_PLAYBOOK = os.path.join("playbooks", "migrate.yml")
# The controller's copies of the Migration Logs (the report role's report_dir), out of the tester's home; a test
# that looks at them passes its own -e report_dir, which comes later and wins.
REPORT_DIR = os.path.join(tempfile.gettempdir(), "knowledgehub-test-reports-%d" % os.getuid())


def staging_inventory(directory: str | os.PathLike, db: Any, production: bool = False, backups: bool = True,
                      **group_vars: Any) -> pathlib.Path:
    """``directory``/hosts.yml as the playbook tests use it: kh-staging (group staging) is ``db`` through a local
    connection with this venv's Python; with ``production``, kh-production (group production) points at port 1,
    where nothing listens. The connection (and, with ``backups``, backup_dir ``directory``/backups) and
    ``group_vars`` are variables of all."""
    local = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
    groups = {"staging": {"hosts": {"kh-staging": dict(local, login_port=db.pg.port, login_db=db.name)}}}
    if production:
        groups["production"] = {"hosts": {"kh-production": dict(local, login_port=1, login_db="knowledgehub")}}
    variables = {"login_host": "127.0.0.1", "login_user": "knowledgehub", "login_password": db.pg.app_password}
    if backups:
        variables["backup_dir"] = str(pathlib.Path(directory) / "backups")
    variables.update(group_vars)
    path = pathlib.Path(directory) / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": groups, "vars": variables}}), encoding="utf-8")
    return path


def ansible(tool: str, inventory: str | os.PathLike, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``ansible`` / ``ansible-playbook`` of this interpreter's venv against ``inventory``, from the repository
    (its ansible.cfg), without colours."""
    command = [os.path.join(os.path.dirname(sys.executable), tool), "-i", str(inventory), *args]
    if tool == "ansible-playbook":
        # the targeting guard (playbooks/targeting.yml): a test names its hosts with -l, else its inventory is all one
        # test environment; the "production" of the tests' inventories is a port where nothing listens
        command[3:3] = ["-e", "report_dir=%s" % REPORT_DIR, "-e", "confirm_production=true"] + (
            [] if "-l" in args else ["-l", "all"])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False)


def ansible_playbook(inventory: str | os.PathLike, playbook: str, *args: str) -> subprocess.CompletedProcess:
    """``ansible-playbook -i inventory playbook ARGS`` (a path relative to the repository, or absolute)."""
    return ansible("ansible-playbook", inventory, playbook, *args)


def recap(output: str, host: str = "kh-staging") -> dict[str, int]:
    """The PLAY RECAP counters of ``host``: ok, changed, failed ..."""
    match = re.search(r"^%s\s*:\s*(.*)$" % re.escape(host), output, re.MULTILINE)
    assert match, "no PLAY RECAP line for %s in:\n%s" % (host, output[-3000:])
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def task_outcome(output: str, task: str) -> str:
    """The first word of the result line under a task's header: ok, changed, skipping, fatal."""
    match = re.search(r"TASK \[[^\]]*: %s\][^\n]*\n(?:.*\n)*?(ok|changed|skipping|fatal):" % re.escape(task), output)
    assert match, "task %r not in output" % task
    return match.group(1)
