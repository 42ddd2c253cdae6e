# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles in a play of one's own, with no module_defaults: they connect as the inventory says (login_port,
login_db, login_password here; login_host and login_user left to the roles' defaults, 127.0.0.1 and knowledgehub),
as the shipped playbooks do, and not to postgres on the local socket's port 5432."""

from __future__ import annotations

import sys

import pytest
import yaml

from support.playbooks import ansible_playbook, recap

# legacy_db: 001-003 applied by hand, sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(200)

# A play as an operator writes one: the collection's read-only roles, no module_defaults at all.
OWN_PLAY = """\
- name: Check the KnowledgeHub database with the collection's roles
  hosts: all
  gather_facts: false
  roles:
    - role: knowledgehub.migration.preflight
    - role: knowledgehub.migration.validate
      vars:
        validate_phase: schema
"""


@pytest.fixture
def own_play(tmp_path, legacy_db):
    """The play and an inventory naming only the test database's port, name and password: staging is the test
    database, elsewhere a port where nothing listens. The CPU warning level is lifted: the load of a shared host is
    not under test."""
    db = legacy_db
    local = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
    content = {"all": {"children": {
        "staging": {"hosts": {"kh-staging": dict(local, login_port=db.pg.port, login_db=db.name)}},
        "elsewhere": {"hosts": {"kh-elsewhere": dict(local, login_port=1, login_db=db.name)}},
    }, "vars": {"login_password": db.pg.app_password, "backup_dir": str(tmp_path / "backups"),
                "preflight_max_cpu_percent": 100000}}}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(content), encoding="utf-8")
    play = tmp_path / "own_play.yml"
    play.write_text(OWN_PLAY, encoding="utf-8")
    return inventory, str(play)


def test_the_roles_connect_as_the_inventory_says_without_module_defaults(own_play, legacy_db):
    inventory, play = own_play
    run = ansible_playbook(inventory, play, "-l", "staging", "-vvv")
    output = " ".join(run.stdout.split())  # the callback wraps long lines
    assert run.returncode == 0, run.stdout[-4000:]
    assert recap(run.stdout, "kh-staging") == dict(recap(run.stdout, "kh-staging"), changed=0, failed=0)
    # both roles reached the test database and ran their checks there
    assert "Pre-flight:" in output and "0 failed." in output
    assert "Validation:" in output and "Validation failed" not in output
    assert legacy_db.pg.app_password not in run.stdout + run.stderr


def test_the_roles_default_to_the_playbooks_host_and_user(own_play, legacy_db):
    inventory, play = own_play
    run = ansible_playbook(inventory, play, "-l", "elsewhere")
    output = " ".join(run.stdout.split())
    assert run.returncode != 0
    # login_host and login_user are not in the inventory: the roles' defaults, 127.0.0.1 and knowledgehub
    assert "on 127.0.0.1:1 as user 'knowledgehub'" in output, output[-3000:]
    assert "Cannot connect to database '%s'" % legacy_db.name in output
    assert recap(run.stdout, "kh-elsewhere")["failed"] == 1
    assert legacy_db.pg.app_password not in run.stdout + run.stderr
