# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lint gate's squawk runs on the controller: a managed host with Python, psycopg2 and the PostgreSQL client
only (no squawk, no PyYAML) runs migrate.yml with the lint gate on and its validations reading the expectation
files, and a blocking finding still blocks.

The playbook tests give the managed host a Python of its own (a venv made once, under tests/output, with
psycopg2-binary alone) and a PATH without squawk; the controller is this checkout's venv, which has squawk. The
module tests hand pg_migrate and pg_preflight the controller's findings as the action plugin does
(``_lint_handoff.collect``) and show what the module does with them: no squawk looked for on the host, the files
checked against the ones linted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_handoff import collect
from support.modules import failed, migrate, ok, run_module
from support.paths import MIGRATIONS, REPO
from support.playbooks import MIGRATE_PLAYBOOK, ansible_playbook

pytestmark = pytest.mark.legacy_chunks(200)
HOST_VENV = os.path.join(REPO, "tests", "output", "host-python-without-squawk")
BAD_FILE = "007_rename_title.sql"  # renaming-column on a table the application uses: blocks, whatever its size
BAD_SQL = "ALTER TABLE documents RENAME COLUMN title TO heading;\n"


def _pinned(package: str, where: str = "requirements.txt") -> str:
    with open(os.path.join(REPO, where), encoding="utf-8") as handle:
        for line in handle:
            if line.split("==")[0].strip() == package:
                return line.strip()
    raise AssertionError("%s is not pinned in %s" % (package, where))


@pytest.fixture(scope="session")
def host_python():
    """The managed host's Python: psycopg2 only. No squawk (the lint gate runs on the controller) and no PyYAML (the
    validation's expectation files are read on the controller)."""
    python = os.path.join(HOST_VENV, "bin", "python")
    probe = [python, "-c", "import psycopg2"]
    if not os.path.exists(python) or subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        shutil.rmtree(HOST_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", HOST_VENV], check=True, timeout=300)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        _pinned("psycopg2-binary")], check=True, timeout=600)
        subprocess.run(probe, check=True, timeout=60)
    assert not os.path.exists(os.path.join(HOST_VENV, "bin", "squawk"))
    assert subprocess.run([python, "-c", "import yaml"], capture_output=True, check=False).returncode != 0, \
        "the host venv must not have PyYAML"
    return python


@pytest.fixture
def no_squawk_on_path(monkeypatch):
    """PATH without any directory holding a squawk: the host side finds none (the controller's is beside its
    Python, which ansible-playbook runs by its absolute path)."""
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not os.path.exists(os.path.join(d, "squawk"))]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))
    assert shutil.which("squawk") is None
    return os.pathsep.join(kept)


def _original(name: str) -> bytes:
    with open(os.path.join(MIGRATIONS, name), "rb") as handle:
        return handle.read()


def _inventory(tmp_path, db, python):
    host = dict(ansible_connection="local", ansible_python_interpreter=python, login_port=db.pg.port, login_db=db.name)
    content = {"all": {"children": {"staging": {"hosts": {"kh-staging": host}}},
                       "vars": {"login_host": "127.0.0.1", "login_user": "knowledgehub",
                                "login_password": db.pg.app_password, "backup_dir": str(tmp_path / "backups"),
                                "report_dir": str(tmp_path / "controller")}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def _play(inventory, source, *args):
    return ansible_playbook(inventory, MIGRATE_PLAYBOOK, "-l", "staging", "-e", "report_dir=%s"
                            % (inventory.parent / "controller"), "-e", "migrate_migrations_src=%s" % source,
                            "-e", "migrate_details_file=%s" % (inventory.parent / "details.json"), *args)


def test_a_host_without_squawk_runs_migrate_yml_with_the_lint_gate_on(tmp_path, legacy_db, host_python,
                                                                      no_squawk_on_path, migrations_copy):
    proc = _play(_inventory(tmp_path, legacy_db, host_python), migrations_copy, "-e", "migrate_lint=true")
    assert proc.returncode == 0, proc.stdout[-5000:]
    applied = {row["version"]: row["status"] for row in legacy_db.ledger()}
    assert {v: applied.get(v) for v in ("004", "005", "006")} == dict.fromkeys(("004", "005", "006"), "applied")
    lint = json.loads((tmp_path / "details.json").read_text(encoding="utf-8"))["lint"]
    assert lint["ran_on"] == "controller" and lint["ok"] is True
    assert lint["squawk"] == os.path.join(os.path.dirname(sys.executable), "squawk")  # the controller's own
    assert lint["files"] == ["004_hybrid_rag_schema.sql", "005_data_migration.sql", "006_harden_rollback_functions.sql"]
    assert "squawk is not installed" not in proc.stdout
    # the expectation files were read (on the controller) and checked: 004's tables by name, 005's invariants
    out = " ".join(proc.stdout.split())
    assert re.search(r"PASS +tables \(004_hybrid_rag_schema\.yml\) +19 of 19 present", out), out[:20000]
    assert re.search(r"PASS +\S+ \(005_data_migration\.yml\)", out), out[:20000]
    assert "PyYAML" not in out and "generic checks only" not in out


def test_a_blocking_finding_found_on_the_controller_still_blocks_the_run(tmp_path, legacy_db, host_python,
                                                                         no_squawk_on_path, migrations_copy):
    (migrations_copy / BAD_FILE).write_text(BAD_SQL, encoding="utf-8")
    before = (legacy_db.schema_dump(), legacy_db.ledger())
    proc = _play(_inventory(tmp_path, legacy_db, host_python), migrations_copy)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert re.search(r"The lint gate blocks the run .*%s line 1 \(statement 1\): renaming-column" % BAD_FILE, out), \
        proc.stdout[-5000:]
    assert "squawk is not installed" not in out  # the verdict is the controller's squawk's, not a missing one
    assert (legacy_db.schema_dump(), legacy_db.ledger()) == before


# -- the module's side of the hand-over (run directly, as the action plugin would call it) ------------------------

def test_pg_migrate_uses_the_controllers_findings_and_never_looks_for_squawk_on_the_host(db, migrations_copy, tmp_path):
    handed = collect(str(migrations_copy))
    nowhere = str(tmp_path / "no-squawk")
    # without the hand-over the module lints on the host, where this squawk does not exist
    assert "squawk %s is not an executable file" % nowhere in failed(
        migrate(db, check_mode=True, migrations_dir=migrations_copy, squawk_path=nowhere))
    result = ok(migrate(db, migrations_dir=migrations_copy, squawk_path=nowhere, _lint_findings=handed))
    assert result["lint"]["ran_on"] == "controller" and result["lint"]["squawk"] == handed["squawk"]
    assert [row["version"] for row in db.ledger()] == ["001", "002", "003", "004", "005", "006"]


def test_pg_migrate_refuses_a_pending_file_other_than_the_one_linted(db, migrations_copy):
    handed = collect(str(migrations_copy))
    (migrations_copy / "004_hybrid_rag_schema.sql").write_text(
        _original("004_hybrid_rag_schema.sql").decode("utf-8") + "\n" + BAD_SQL, encoding="utf-8")
    message = failed(migrate(db, migrations_dir=migrations_copy, _lint_findings=handed))
    assert "004_hybrid_rag_schema.sql on the host (sha256" in message
    assert "is not the file linted on the controller" in message and "Nothing was run" in message
    assert db.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"  # not even the ledger

    (migrations_copy / "004_hybrid_rag_schema.sql").write_bytes(_original("004_hybrid_rag_schema.sql"))
    (migrations_copy / BAD_FILE).write_text(BAD_SQL, encoding="utf-8")
    message = failed(migrate(db, migrations_dir=migrations_copy, _lint_findings=handed))
    assert "%s is pending on the host but was not linted on the controller" % BAD_FILE in message
    assert "Nothing was run" in message
    assert db.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"

    message = failed(migrate(db, migrations_dir=migrations_copy, _lint_findings={"files": "forged"}))
    assert "_lint_findings is not what this collection's action plugin hands over" in message


def test_pg_preflight_reports_the_controllers_squawk_and_needs_none_on_the_host(legacy_db, migrations_copy, tmp_path):
    args = dict(legacy_db.params, migrations_dir=str(migrations_copy), baseline_version="003",
                backup_dir=str(tmp_path / "backups"), max_cpu_percent=100000, squawk_path=str(tmp_path / "no-squawk"))
    result = run_module("pg_preflight", dict(args, _lint_findings=collect(str(migrations_copy))))
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["squawk"]["status"] == "pass", checks["squawk"]
    assert checks["squawk"]["observed"]["ran_on"] == "controller"
    assert "ran on the controller" in checks["squawk"]["message"]
    assert checks["pending_migrations"]["status"] == "pass", checks["pending_migrations"]

    checks = {c["name"]: c for c in run_module("pg_preflight", args)["checks"]}  # without it: the host's squawk
    assert checks["squawk"]["status"] == "fail" and "cannot be used" in checks["squawk"]["message"]
