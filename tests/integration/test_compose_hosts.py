# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compose hosts harness itself (tests/compose/hosts): real docker-compose hosts that Ansible reaches over
ssh."""

from __future__ import annotations

import socket
import textwrap
import time

import psycopg2
import pytest

from support.compose import HOST_NAMES, load_legacy_state, services
from support.playbooks import ansible

# A cold machine (packages, images, compose plugin to fetch) stays well under this.
SETUP_BUDGET_SECONDS = 600


def wait_for_health(host, service: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = services(host).get(service, {})
        if row.get("State") == "running" and row.get("Health") == "healthy":
            return row
        assert time.monotonic() < deadline, "%s of %s not healthy after %ds: %s" % (service, host.name, timeout, row)
        time.sleep(0.5)


def test_setup_time(compose_hosts):
    print("\ncompose hosts up in %.1fs:" % compose_hosts.seconds)
    for step, seconds in compose_hosts.timings.items():
        print("  %-34s %6.1fs" % (step, seconds))
    assert compose_hosts.seconds < SETUP_BUDGET_SECONDS
    assert [h.name for h in compose_hosts] == list(HOST_NAMES)


def test_ansible_reaches_every_host_over_ssh(compose_hosts, tmp_path):
    ping = ansible("ansible", compose_hosts.inventory, "all", "-m", "ansible.builtin.ping")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    for name in HOST_NAMES:
        assert "%s | SUCCESS" % name in ping.stdout

    # What the collection's modules need on a host: the docker CLI with compose v2 and its
    # engine (from sshd's environment), the project directory, psycopg2 in the interpreter.
    playbook = tmp_path / "probe.yml"
    playbook.write_text(textwrap.dedent("""\
        - name: Probe the compose hosts
          hosts: compose_hosts
          gather_facts: false
          tasks:
            - name: Running compose services
              ansible.builtin.command:
                cmd: docker compose ps --services --status running
                chdir: "{{ compose_project_dir }}"
              register: running
              changed_when: false
            - name: The interpreter has psycopg2
              ansible.builtin.command:
                cmd: "{{ ansible_python_interpreter }} -c 'import psycopg2'"
              changed_when: false
            - name: Both services run
              ansible.builtin.assert:
                that: running.stdout_lines | sort == ['api', 'db']
        """), encoding="utf-8")
    play = ansible("ansible-playbook", compose_hosts.inventory, str(playbook))
    assert play.returncode == 0, play.stdout + play.stderr
    for name in HOST_NAMES:
        assert "%s" % name in play.stdout and "failed=0" in play.stdout


@pytest.mark.parametrize("name", HOST_NAMES)
def test_compose_ps_shows_db_and_api_running(compose_hosts, name):
    host = compose_hosts[name]
    for service in ("db", "api"):
        row = wait_for_health(host, service)
        assert row["Image"] == "docker.io/library/postgres:15"
        assert row["Project"] == "knowledgehub"


@pytest.mark.parametrize("name", HOST_NAMES)
def test_postgres_answers_inside_the_host_only(compose_hosts, name):
    host = compose_hosts[name]
    assert host.psql("SELECT current_user || ' ' || current_database() || ' ' || current_setting('port')") == \
        "knowledgehub knowledgehub 5433"
    assert host.psql("SHOW server_version_num").startswith("15")
    system_id = host.psql("SELECT system_identifier FROM pg_control_system()")

    # The machine's own namespace does not reach it: nothing listens there on 5433, or
    # (a PostgreSQL of the machine, e.g. `make demo`'s) something that is not this server.
    try:
        probe = socket.create_connection(("127.0.0.1", 5433), timeout=5)
    except OSError:
        pass
    else:
        probe.close()
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=5433, user="knowledgehub", password=host.db_password,
                                    dbname="knowledgehub", connect_timeout=5)
        except psycopg2.Error:
            pass
        else:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT system_identifier::text FROM pg_control_system()")
                assert cur.fetchone()[0] != system_id, "the host's PostgreSQL is reachable from the machine"
            conn.close()


def test_hosts_are_separate_servers(compose_hosts):
    ids = {h.name: h.psql("SELECT system_identifier FROM pg_control_system()") for h in compose_hosts}
    assert len(set(ids.values())) == len(HOST_NAMES), ids


def test_stop_and_start_api(compose_hosts):
    host = compose_hosts["staging"]
    api_up = ["nc", "-z", "-w", "2", "127.0.0.1", "8080"]
    assert host.run(api_up, check=False).returncode == 0

    host.compose("stop", "api")
    rows = services(host)
    assert rows["api"]["State"] == "exited"
    assert rows["db"]["State"] == "running"
    assert host.run(api_up, check=False).returncode != 0
    assert host.psql("SELECT 1") == "1"

    host.compose("start", "api")
    wait_for_health(host, "api")
    config = host.run(["python3", "-c", "import urllib.request; "
                       "print(urllib.request.urlopen('http://127.0.0.1:8080/api.yml', timeout=5).read().decode())"])
    assert "port: 5433" in config.stdout
    assert services(host)["db"]["State"] == "running"


def test_compose_exec_in_db(compose_hosts):
    host = compose_hosts["production"]
    out = host.compose("exec", "-T", "db", "pg_dump", "--version").stdout
    assert out.startswith("pg_dump (PostgreSQL) 15.")


def test_legacy_state_loads_into_a_host(compose_hosts):
    host = compose_hosts["staging"]
    load_legacy_state(host, chunks=2000)
    assert host.psql("SELECT count(*) FROM chunks") == "2000"
    assert host.psql("SELECT to_regclass('public.migration_log') IS NULL") == "t"
    assert int(host.psql("SELECT count(*) FROM ai_memories")) > 0
