# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/migrate.yml as an AWX job: ansible-runner (AWX's engine) on a private data directory holding a
checkout of the project, an inventory, the job template's extra variables and the database password as a custom
credential type injects it; a controller with ansible-core, ansible-runner and psycopg2 only, and the collections
the project declares (collections/requirements.yml, galaxy.yml's dependencies), installed as a project sync does.
The managed host is local; its Python is the test venv's (psycopg2, squawk), as a docker-compose host has its own.

What an operator or a later workflow node relies on: the job is successful, the ledger is written, the job's
artifacts hold the run's result (set_stats), no job event holds the password; --check writes nothing; a job
without a limit or target_env refuses before it connects to anything."""

from __future__ import annotations

import os
import sys

import pytest

from support.runner_env import Listener, PrivateDataDir, controller_venv, install_collections, project_checkout

# legacy_db: 001-003 applied by hand, 1000 chunks of sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(1000)

PLAYBOOK = "playbooks/migrate.yml"


@pytest.fixture(scope="module")
def awx_project(tmp_path_factory):
    """The controller venv, the project checked out and its collections installed (once for this file)."""
    venv = controller_venv()
    base = tmp_path_factory.mktemp("awx")
    project = project_checkout(str(base / "checkout"))
    collections = install_collections(venv, project, str(base / "requirements_collections"))
    return venv, project, collections


def private_data_dir(tmp_path, awx_project, host: dict, extravars: dict) -> PrivateDataDir:
    venv, project, collections = awx_project
    pdd = PrivateDataDir(str(tmp_path / "pdd"), venv, project, collections)
    pdd.inventory({"all": {"children": {"staging": {"hosts": {"kh-staging": dict(
        ansible_connection="local", ansible_python_interpreter=sys.executable, **host)}}}}})
    pdd.extravars(extravars)
    return pdd


@pytest.fixture
def job(tmp_path, awx_project, legacy_db):
    """A job template for the test database: inventory, survey-style extra vars (target_env), the password as a
    custom credential type "KnowledgeHub PostgreSQL" injects it (extra_vars: login_password)."""
    db = legacy_db
    pdd = private_data_dir(tmp_path, awx_project, dict(
        login_host="127.0.0.1", login_port=db.pg.port, login_user="knowledgehub", login_db=db.name,
        backup_dir=str(tmp_path / "backups")), dict(target_env="staging", report_dir=str(tmp_path / "reports")))
    pdd.credential_extra_vars({"login_password": db.pg.app_password})
    return pdd


def ledger_rows(db) -> list[tuple[str, str]]:
    return [(r["version"], r["status"]) for r in db.ledger()]


def test_migrate_as_an_awx_job(job, legacy_db, tmp_path):
    db = legacy_db
    run = job.run(PLAYBOOK, "migrate")
    assert (run.status, run.rc) == ("successful", 0), run.explain()
    assert ledger_rows(db) == [("001", "baseline"), ("002", "baseline"), ("003", "baseline"),
                               ("004", "applied"), ("005", "applied"), ("006", "applied")]

    # the run's result in the job's artifacts, for the next workflow node
    stats = run.stats()
    result = stats["knowledgehub_migration"]["kh-staging"]
    run_ids = {r["run_id"] for r in db.ledger() if r["status"] == "applied"}
    assert run_ids == {result["run_id"]}
    assert result["host"] == "kh-staging" and result["environment"] == "staging"
    assert result["verdict"] == "migrated" and result["check_mode"] is False
    assert result["versions_applied"] == ["004", "005", "006"] and result["ledger_version"] == "006"
    points = result["recovery_points"]
    assert [p["purpose"] for p in points] == ["before", "after_schema", "after_data"]
    assert all(p["id"] and p["backup_id"] and p["location"] for p in points)
    assert [p["ledger_version"] for p in points] == ["003", "004", "006"]
    assert all(p["location"].startswith(str(tmp_path / "backups")) for p in points)
    assert result["report"] and result["failure"] is None
    assert len(str(stats)) < 4096  # compact: well under AWX's event size limit

    # the password: in no job event, nor the stdout or the command line ansible-runner kept
    assert run.events(), "no job events"
    assert run.files_containing(db.pg.app_password) == []
    # and the result holds no connection settings at all
    assert "password" not in str(stats)


def test_check_mode_job_writes_nothing(job, legacy_db, tmp_path):
    db = legacy_db
    schema = db.schema_dump()
    run = job.run(PLAYBOOK, "check", "--check")
    assert (run.status, run.rc) == ("successful", 0), run.explain()
    assert db.schema_dump() == schema and db.ledger() == []
    assert not os.path.exists(tmp_path / "backups") or os.listdir(tmp_path / "backups") == []
    result = run.stats()["knowledgehub_migration"]["kh-staging"]
    assert result["verdict"] == "planned" and result["check_mode"] is True
    assert result["versions_pending"] == ["004", "005", "006"] and result["versions_applied"] == []
    assert result["recovery_points"] == []
    assert run.files_containing(db.pg.app_password) == []


@pytest.fixture
def listener():
    port = Listener()
    yield port
    port.close()


def test_a_job_without_a_target_refuses_before_connecting(tmp_path, awx_project, listener):
    # two environments; the database and the ssh port of every host are a listener that counts connections
    venv, project, collections = awx_project
    pdd = PrivateDataDir(str(tmp_path / "pdd"), venv, project, collections)
    remote = dict(ansible_host="127.0.0.1", ansible_port=listener.port, login_port=listener.port,
                  ansible_python_interpreter=sys.executable)
    pdd.inventory({"all": {"children": {
        "staging": {"hosts": {"kh-staging": dict(remote, ansible_connection="local")}},
        "production": {"hosts": {"kh-production": dict(remote, ansible_connection="ssh")}}}}})
    pdd.extravars({"report_dir": str(tmp_path / "reports")})
    run = pdd.run(PLAYBOOK, "no-target")
    assert run.status == "failed" and run.rc != 0, run.explain()
    output = " ".join(run.stdout.split())
    assert "Refusing to run: no target." in output, run.explain()
    assert "-l staging" in output and "-e target_env=staging" in output and "job template's Limit" in output
    assert "Groups of this inventory: production, staging." in output
    assert listener.accepted == 0
    assert "UNREACHABLE" not in run.stdout and "Migrate the KnowledgeHub database" not in run.stdout
    # no task of the collection's roles started
    assert not [e for e in run.events() if e.get("event") == "runner_on_start"
                and "knowledgehub.migration" in e.get("event_data", {}).get("task_action", "")]
