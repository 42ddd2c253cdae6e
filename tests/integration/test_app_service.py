# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compose_service and the app_service role on a real docker-compose host: the api stopped while the database keeps
running, started again and waited for until healthy, the downtime measured; check mode touching nothing; a service
that never becomes healthy failing within its timeout, named, with its health output and log tail (secrets masked),
and left running; a host without a compose project skipped with a note.

The hosts are built by tests/compose/hosts (podman behind the docker CLI, one network namespace each). Modules run
inside the host's namespace, as Ansible runs them there; the role runs through ansible-playbook over ssh.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
import time

import pytest

from support.compose import ready, run_on, services
from support.modules import failed, ok
from support.playbooks import ansible, recap

CYCLE_PLAYBOOK = os.path.join("tests", "integration", "playbooks", "app_service_cycle.yml")
API_URL = "http://127.0.0.1:8080/api.yml"
SECRET = "kh-sick-token-4f9a1c"


@pytest.fixture
def host(compose_hosts):
    """The staging host with its api running and healthy, before and after the test."""
    host = compose_hosts["staging"]
    _up(host)
    yield host
    _up(host)


def _up(host, timeout: float = 60) -> None:
    host.compose("start", "db", "api")
    deadline = time.monotonic() + timeout
    while not (ready(host, "db") and ready(host, "api")):
        assert time.monotonic() < deadline, "the api of %s did not come back: %s" % (host.name, services(host))
        time.sleep(0.3)


def _started_at(host, service: str = "api") -> str:
    """When the service's container last started (unchanged means it was not stopped or restarted)."""
    name = services(host)[service]["Name"]
    return host.run([host.workdir.docker(), "inspect", "--format", "{{.State.StartedAt}}", name]).stdout.strip()


def test_stop_keeps_the_database_up_and_start_waits_for_health_and_measures_the_downtime(host):
    begun = time.monotonic()
    stopped = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="stopped")))
    assert stopped["changed"] is True and stopped["stopped"] == ["api"]
    assert stopped["services"]["api"]["before"]["state"] == "running"
    assert stopped["services"]["api"]["after"]["state"] != "running"
    assert stopped["db"] == {"state": "running", "health": "healthy"}
    rows = services(host)
    assert rows["api"]["State"] != "running" and rows["db"]["State"] == "running"
    assert host.psql("SELECT 1") == "1"  # the database answers while the api is down

    again = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="stopped")))
    assert again["changed"] is False and again["stopped"] == []

    time.sleep(1)
    started = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="started",
                                                      health_url=API_URL, down_since=stopped["stopped_at"])))
    wall = time.monotonic() - begun
    assert started["changed"] is True and started["started"] == ["api"]
    assert started["services"]["api"]["after"] == {"state": "running", "health": "healthy"}
    assert started["health_url"] == {"url": API_URL, "status": 200}
    assert stopped["stopped_at"] < started["started_at"] < started["healthy_at"]
    # From the stop to healthy: it holds the second between the calls, the start and the wait, and matches the
    # timestamps; it is no longer than the whole test so far.
    assert started["down_since"] == stopped["stopped_at"]
    between = datetime.datetime.fromisoformat(started["healthy_at"]) - \
        datetime.datetime.fromisoformat(stopped["stopped_at"])
    assert abs(started["downtime_seconds"] - between.total_seconds()) < 0.002
    assert 1.0 + started["seconds"]["start"] + started["seconds"]["wait"] < started["downtime_seconds"] <= wall + 0.5, \
        (started, wall)
    assert started["downtime_seconds"] < 15  # the recover playbook's target
    assert set(started["seconds"]) == {"start", "wait"} and started["seconds"]["wait"] < 15
    assert ready(host, "api")

    steady = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="started")))
    assert steady["changed"] is False and steady["started"] == [] and "downtime_seconds" not in steady


def test_restart_measures_its_own_downtime(host):
    before = _started_at(host)
    result = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="restarted",
                                                     health_url=API_URL)))
    assert result["stopped"] == ["api"] and result["started"] == ["api"]
    assert result["down_since"] == result["stopped_at"]
    assert 0 < result["downtime_seconds"] < 15
    assert _started_at(host) != before and ready(host, "api")


def test_check_mode_reports_the_plan_and_touches_nothing(host):
    before = _started_at(host)
    for state in ("stopped", "restarted"):
        plan = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state=state),
                         check_mode=True))
        assert plan["changed"] is True and plan["would_stop"] == ["api"]
        assert "stopped_at" not in plan and "commands" not in plan
    assert _started_at(host) == before and ready(host, "api")

    host.compose("stop", "api")
    plan = ok(run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="started",
                                                   health_url="http://127.0.0.1:9/never"), check_mode=True))
    assert plan["would_start"] == ["api"] and "healthy_at" not in plan
    assert services(host)["api"]["State"] != "running"


def test_role_in_check_mode_touches_nothing(compose_hosts, host):
    before = _started_at(host)
    proc = ansible("ansible-playbook", compose_hosts.inventory, CYCLE_PLAYBOOK, "-l", "staging", "--check",
                   "-e", "app_service_maintenance=true")
    assert proc.returncode == 0, proc.stdout[-3000:]
    text = " ".join(proc.stdout.split())
    assert "would stop: api; db is running" in text and "would start: api" in text
    assert _started_at(host) == before and ready(host, "api")
    assert not os.path.exists(host.project_dir / "maintenance" / "maintenance.on")


def test_a_health_url_that_never_answers_fails_in_time_and_leaves_the_api_running(host):
    begun = time.monotonic()
    result = run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="restarted",
                                                  health_url="http://127.0.0.1:9/health", health_timeout=3))
    elapsed = time.monotonic() - begun
    message = failed(result)
    assert message.startswith("Service api was not healthy within 3 s: it runs, but http://127.0.0.1:9/health did "
                              "not answer 2xx"), message
    assert "It was left running" in message and "logs --tail 100 api" in message
    assert result["service"] == "api" and result["state"]["state"] == "running"
    assert 0 < len(result["logs_tail"]) <= 20 and all(len(line) <= 300 for line in result["logs_tail"])
    assert elapsed < 3 + 10, elapsed  # the timeout, plus the stop, the start and reading the logs
    assert services(host)["api"]["State"] == "running"


def test_a_service_that_never_becomes_healthy_is_named_with_its_health_output_secrets_masked(host, tmp_path):
    project = tmp_path / "sick"
    project.mkdir()
    (project / "compose.yml").write_text("""
name: kh-sick
services:
  sick:
    image: docker.io/library/postgres:15
    network_mode: host
    environment:
      SICK_API_TOKEN: %s
    command: ["sh", "-c", "echo booting with token=$$SICK_API_TOKEN; exec sleep 600"]
    healthcheck:
      test: ["CMD", "python3", "-c", "print('token='+__import__('os').environ['SICK_API_TOKEN']);exit(1)"]
      interval: 1s
      timeout: 5s
      retries: 1
""" % SECRET)
    compose = [host.workdir.docker(), "compose", "--project-directory", str(project)]
    host.run(compose + ["up", "-d"], cwd=project, timeout=120)
    try:
        begun = time.monotonic()
        result = run_on(host, "compose_service", dict(project_dir=str(project), services=["sick"], health_timeout=4))
        elapsed = time.monotonic() - begun
        message = failed(result)
        assert message.startswith("Service sick was not healthy within 4 s: its state is running ("), message
        assert result["service"] == "sick" and result["state"]["state"] == "running"
        assert any("token=********" in line for line in result["health_output"]), result["health_output"]
        assert any("token=********" in line for line in result["logs_tail"]), result["logs_tail"]
        assert SECRET not in result["_stdout"] + result["_stderr"]
        assert elapsed < 4 + 10, elapsed
        state = host.run(compose + ["ps", "--format", "{{.State}}", "sick"], cwd=project).stdout.strip()
        assert state == "running"  # left running
    finally:
        host.run(compose + ["down", "-v", "-t", "1"], cwd=project, check=False, timeout=120)


def test_an_unknown_service_is_refused_before_anything_is_stopped(host):
    before = _started_at(host)
    result = run_on(host, "compose_service", dict(project_dir=str(host.project_dir), state="stopped",
                                                  services=["api", "worker"]))
    assert failed(result) == ("The compose project in %s has no service worker; its services are: api, db. Nothing "
                              "was changed." % host.project_dir)
    assert _started_at(host) == before


def test_role_cycle_with_maintenance_flag_reports_the_downtime(compose_hosts, host):
    begun = time.monotonic()
    proc = ansible("ansible-playbook", compose_hosts.inventory, CYCLE_PLAYBOOK, "-l", "staging",
                   "-e", "app_service_health_url=%s" % API_URL, "-e", "app_service_maintenance=true",
                   "-e", "step_seconds=1")
    wall = time.monotonic() - begun
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap(proc.stdout, "staging")["failed"] == 0
    text = " ".join(proc.stdout.split())  # the yaml callback folds long messages
    assert re.search(r"stopped at \S+: api in [\d.]+ s; db is running", text), proc.stdout[-3000:]
    match = re.search(r"downtime (\d+\.\d) s \(down since", text)
    assert match, proc.stdout[-3000:]
    fact = float(re.search(r"app_service_downtime_seconds=([\d.]+)", text).group(1))
    # From the stop to healthy: the step (1 s) and the playbook's own tasks between the two role runs at least,
    # the whole playbook at most.
    assert 1.0 < fact < wall and abs(fact - float(match.group(1))) < 0.06, (fact, wall)
    started = re.search(r"\(started api in ([\d.]+) s\) \(healthy ([\d.]+) s after the start\)", text)
    assert started and float(started.group(1)) + float(started.group(2)) < 15, proc.stdout[-3000:]
    assert not os.path.exists(host.project_dir / "maintenance" / "maintenance.on")
    assert ready(host, "api")


def test_a_host_without_a_compose_project_is_skipped_with_a_note(tmp_path):
    inventory = tmp_path / "demo.yml"
    inventory.write_text("all:\n  hosts:\n    demo:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: %s\n" % sys.executable)
    proc = ansible("ansible-playbook", inventory, CYCLE_PLAYBOOK)
    assert proc.returncode == 0, proc.stdout[-3000:]
    text = " ".join(proc.stdout.split())  # the yaml callback folds long messages
    assert text.count("demo has no compose project (neither app_service_project_dir nor compose_project_dir is "
                      "set), so api is not") == 2
    assert "so api is not stopped here; the step is skipped" in text and "so api is not started here" in text
    counts = recap(proc.stdout, "demo")
    assert counts["changed"] == 0 and counts["failed"] == 0 and counts["skipped"] > 0
    assert "app_service_downtime_seconds=undefined" in proc.stdout
