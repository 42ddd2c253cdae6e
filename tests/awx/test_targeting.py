# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The targeting guard of the shipped playbooks (playbooks/targeting.yml), with ansible-playbook as an operator runs
it: no run without a limit or target_env, target_env keeps the run in its group, production asks for a
confirmation before a playbook that writes. The hosts' database and ssh ports are a listener that counts
connections: a refused run reaches nothing, an accepted one goes on to the playbook's play (which then fails on
the listener: no database there)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from support.paths import REPO
from support.runner_env import Listener

WRITERS = ["migrate.yml", "recover.yml", "rollback.yml"]
READERS = ["preflight.yml", "validate.yml"]
PLAYS = {"migrate.yml": "Migrate the KnowledgeHub database", "recover.yml": "Recover the KnowledgeHub database",
         "rollback.yml": "Roll back chosen tables", "preflight.yml": "Pre-flight checks of the KnowledgeHub database",
         "validate.yml": "Validate the KnowledgeHub database"}


@pytest.fixture
def listener():
    port = Listener()
    yield port
    port.close()


@pytest.fixture
def inventory(tmp_path, listener):
    """staging and production, every host's database on the listener; group_vars name each group's environment
    (target_env) as an inventory may do for the Migration Log: that is no target."""
    host = dict(ansible_connection="local", ansible_python_interpreter=sys.executable, login_host="127.0.0.1",
                login_port=listener.port, backup_dir=str(tmp_path / "backups"))
    content = {"all": {"children": {
        "staging": {"hosts": {"kh-staging": host}, "vars": {"target_env": "staging"}},
        "production": {"hosts": {"kh-production": host}, "vars": {"target_env": "production"}}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return str(path)


def playbook(inventory: str, name: str, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """ansible-playbook playbooks/<name> as an operator runs it (no -l, no extra vars unless given); the output
    with its lines joined (the callback wraps long messages)."""
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
               os.path.join("playbooks", name), *args]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600, check=False)
    return proc, " ".join(proc.stdout.split())


def refused(proc: subprocess.CompletedProcess, output: str, name: str, listener: Listener) -> None:
    assert proc.returncode != 0, output[-3000:]
    assert "PLAY [%s" % PLAYS[name] not in output, output[-3000:]
    assert listener.accepted == 0


def went_ahead(output: str, name: str) -> None:
    assert "PLAY [%s" % PLAYS[name] in output, output[-3000:]
    assert "Refusing" not in output


@pytest.mark.parametrize("name", WRITERS + READERS)
def test_no_target_no_run(inventory, listener, name):
    proc, output = playbook(inventory, name)
    refused(proc, output, name, listener)
    assert re.search(r"Refusing to run: no target\. Without a limit or target_env this playbook would reach every "
                     r"host of the inventory \(2: kh-(staging, kh-production|production, kh-staging)\), every "
                     r"environment in one go\.", output), output[-3000:]
    assert "ansible-playbook playbooks/%s -i <inventory> -l staging" % name in output
    assert "or -e target_env=staging; in AWX, the job template's Limit, or target_env as a survey answer" in output
    assert "Groups of this inventory: production, staging." in output


def test_target_env_must_name_a_group(inventory, listener):
    proc, output = playbook(inventory, "migrate.yml", "-e", "target_env=stagin")
    refused(proc, output, "migrate.yml", listener)
    assert "target_env=stagin names no group of this inventory (groups: production, staging)" in output


def test_a_limit_and_a_target_env_that_disagree(inventory, listener):
    proc, output = playbook(inventory, "migrate.yml", "-l", "staging", "-e", "target_env=production")
    refused(proc, output, "migrate.yml", listener)
    assert "the limit staging reaches no host of target_env=production" in output


def test_target_env_keeps_the_run_in_its_group(inventory):
    output = playbook(inventory, "preflight.yml", "-e", "target_env=staging")[1]
    went_ahead(output, "preflight.yml")
    main_play = output[output.index("PLAY [%s" % PLAYS["preflight.yml"]):output.index("PLAY RECAP")]
    assert "kh-staging" in main_play and "kh-production" not in main_play
    assert "Target: kh-staging (target_env=staging)" in output


@pytest.mark.parametrize("name", WRITERS)
def test_production_asks_for_a_confirmation(inventory, listener, name):
    proc, output = playbook(inventory, name, "-l", "production")
    refused(proc, output, name, listener)
    assert ("Refusing to run on production without a confirmation: kh-production (group production). This "
            "playbook writes. To go ahead, add -e confirm_production=true") in output
    assert "or type the target again: -e confirm_production=production" in output

    proc, output = playbook(inventory, name, "-e", "target_env=production", "-e", "confirm_production=no")
    refused(proc, output, name, listener)
    assert "Refusing to run on production without a confirmation: target_env=production." in output


@pytest.mark.parametrize("confirmation", ["-e confirm_production=true", "-e confirm_production=production", "--check"])
def test_production_confirmed(inventory, confirmation):
    output = playbook(inventory, "migrate.yml", "-l", "production", *confirmation.split())[1]
    went_ahead(output, "migrate.yml")


@pytest.mark.parametrize("name", READERS)
def test_read_only_playbooks_need_a_target_but_no_confirmation(inventory, name):
    output = playbook(inventory, name, "-l", "production")[1]
    went_ahead(output, name)
