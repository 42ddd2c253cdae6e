# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_preflight against a real PostgreSQL 15: each check made to fail for real, and nothing written, ever.

Every test compares a fingerprint of the server (schema, ledger, every table's rows, roles, databases) and
of the backup directory before and after the module: the gate reads only, in check mode or not. The CPU
warning level is lifted in every run: the load of a shared CI host is not under test here (its decision is
unit tested on /proc texts).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import pytest

from support.database import app_connection, superuser_connection
from support.modules import failed, migrate, module_command, ok, parse_result, run_module
from support.paths import MIGRATIONS

# legacy_db: 001-003 applied by hand, sample data, no ledger
pytestmark = pytest.mark.legacy_chunks(200)

# The checks of this file (engineer B's data_integrity:* and baseline:* checks are tested in their own file).
MINE = ("connection", "primary", "privileges", "free_disk", "free_memory", "cpu_load", "client_programs", "psycopg2",
        "squawk", "sessions", "replication", "pending_migrations")
STABLE = ("connection", "primary", "privileges", "client_programs", "psycopg2", "squawk", "sessions", "replication",
          "pending_migrations")


def preflight(db, tmp_path, check_mode=False, **options):
    args = dict(db.params, migrations_dir=MIGRATIONS, baseline_version="003", backup_dir=str(tmp_path / "backups"),
                max_cpu_percent=100000)
    args.update(options)
    return run_module("pg_preflight", args, check_mode=check_mode)


def checks(result):
    return {c["name"]: c for c in result["checks"] if c["name"] in MINE}


def own(names):
    """The names of this file's checks among ``names``, in order."""
    return [name for name in names if name in MINE]


def fingerprint(db):
    """What a write anywhere on the server would change."""
    return {"schema": db.schema_dump(), "ledger": db.ledger(), "rows": db.snapshot(),
            "roles": db.pg.psql("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles"),
            "databases": db.pg.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
            "grants": db.sql("SELECT string_agg(relname || ':' || coalesce(relacl::text, ''), ',' ORDER BY relname) "
                             "FROM pg_class WHERE relnamespace = 'public'::regnamespace")}


@pytest.fixture
def weak_role(legacy_db):
    """A login role that owns nothing, is no member of the owner, and lacks CREATE on schema public; it may
    connect and read the tables (so the plan can be read), nothing more."""
    name = "kh_weak_" + uuid.uuid4().hex[:8]
    password = "w3ak:pw'" + uuid.uuid4().hex[:6]
    legacy_db.pg.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (name, password.replace("'", "''")))
    legacy_db.sql("GRANT USAGE ON SCHEMA public TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s"
                  % (name, name))
    yield name, password
    legacy_db.sql("DROP OWNED BY %s" % name)
    legacy_db.pg.psql("DROP ROLE %s" % name)


def test_a_clean_database_passes_every_check_and_nothing_is_written(legacy_db, tmp_path):
    before = fingerprint(legacy_db)
    result = ok(preflight(legacy_db, tmp_path))
    found = checks(result)
    assert list(found) == list(MINE)
    assert {c["name"]: c["status"] for c in result["checks"] if c["status"] != "pass"} == {}
    assert result["ok"] is True and result["changed"] is False and own(result["failed_checks"]) == []
    assert result["counts"] == {"pass": len(result["checks"]), "warn": 0, "fail": 0}
    for check in result["checks"]:
        assert set(check) <= {"name", "status", "observed", "threshold", "message", "details"} and check["message"]
    assert found["connection"]["observed"]["server_version"].startswith("15.")
    assert found["privileges"]["observed"]["user"] == "knowledgehub"
    assert found["privileges"]["observed"]["relations_checked"] >= 5
    assert found["replication"]["observed"] == "no replicas"
    assert found["primary"]["observed"] == "primary"
    assert found["pending_migrations"]["observed"]["pending"] == ["004", "005", "006"]
    assert found["pending_migrations"]["observed"]["lint"]["error"] == 0
    assert set(found["client_programs"]["observed"]) >= {"pg_dump", "pg_restore", "psql"}
    assert found["free_disk"]["observed"]["path"] == str(tmp_path)  # backup_dir does not exist: its parent
    assert found["free_disk"]["threshold"]["min_free_mb"] >= 2048
    assert legacy_db.pg.app_password not in result["_stdout"]

    again = ok(preflight(legacy_db, tmp_path, check_mode=True))
    assert [(c["name"], c["status"]) for c in again["checks"]] == [(c["name"], c["status"]) for c in result["checks"]]
    assert {n: c["observed"] for n, c in checks(again).items() if n in STABLE} == {
        n: c["observed"] for n, c in found.items() if n in STABLE}
    assert [c["name"] for c in again["checks"]] == [c["name"] for c in result["checks"]]
    assert again["changed"] is False and again["pending"] == result["pending"]
    assert fingerprint(legacy_db) == before and not os.path.exists(tmp_path / "backups")


def test_a_user_without_the_rights_fails_with_what_to_grant(legacy_db, weak_role, tmp_path):
    name, password = weak_role
    before = fingerprint(legacy_db)
    for check_mode in (False, True):
        result = preflight(legacy_db, tmp_path, check_mode=check_mode, login_user=name, login_password=password)
        message = failed(result)
        assert own(result["failed_checks"]) == ["privileges"], result["failed_checks"]
        rights = checks(result)["privileges"]
        assert rights["observed"]["user"] == name and rights["observed"]["missing"] >= 3
        text = " ".join(rights["details"])
        assert "CREATE on schema public" in text
        assert "ownership of ai_memories (owner knowledgehub)" in text and "GRANT knowledgehub TO <user>" in text
        assert "REFERENCES on" in text or "TRIGGER on" in text
        assert "privileges:" in message and "CREATE on schema public" in message and password not in message
    assert fingerprint(legacy_db) == before


def test_a_table_the_backups_cannot_read_fails_before_the_recovery_point_would(legacy_db, tmp_path):
    # the superuser's table, not granted: pg_dump of the database would stop at it (the before point, the run's
    # first write); a sequence the same
    legacy_db.sql("CREATE TABLE kh_private (id int PRIMARY KEY); REVOKE ALL ON kh_private FROM PUBLIC; "
                  "CREATE SEQUENCE kh_private_seq; REVOKE ALL ON SEQUENCE kh_private_seq FROM PUBLIC; "
                  # a materialized view's rows pg_dump does not read (the restore refreshes it): not asked for
                  "CREATE MATERIALIZED VIEW kh_private_view AS SELECT 1 AS one; "
                  "REVOKE ALL ON kh_private_view FROM PUBLIC")
    before = fingerprint(legacy_db)
    result = preflight(legacy_db, tmp_path)
    message = failed(result)
    assert own(result["failed_checks"]) == ["privileges"], result["failed_checks"]
    text = " ".join(checks(result)["privileges"]["details"])
    assert "SELECT on table public.kh_private, which the backups read (GRANT SELECT ON public.kh_private" in text
    assert "SELECT on sequence public.kh_private_seq" in text and "GRANT SELECT ON SEQUENCE" in text
    assert "kh_private_view" not in text
    assert "kh_private" in message and "Traceback" not in message
    # a run without backups does not need to read it
    assert checks(ok(preflight(legacy_db, tmp_path, backup_count=0)))["privileges"]["status"] == "pass"
    assert fingerprint(legacy_db) == before


def test_membership_in_the_owning_role_is_ownership_and_a_superuser_passes(legacy_db, weak_role, tmp_path):
    name, password = weak_role
    legacy_db.pg.psql("GRANT knowledgehub TO %s" % name)
    try:
        result = ok(preflight(legacy_db, tmp_path, login_user=name, login_password=password))
        assert checks(result)["privileges"]["status"] == "pass"
    finally:
        legacy_db.pg.psql("REVOKE knowledgehub FROM %s" % name)
    result = ok(preflight(legacy_db, tmp_path, login_user="postgres", login_password="",
                          login_unix_socket=legacy_db.pg.socket_dir))
    assert checks(result)["privileges"]["observed"] == "superuser"


def on_a_small_file_system(db, mount, size, **options):
    """pg_preflight with its backup_dir on a real file system of ``size`` (a tmpfs mounted at ``mount`` in a private
    mount namespace of this process's user: nothing outside sees it, and it goes with the process). Returns the
    result and what the file system held afterwards."""
    args = dict(db.params, migrations_dir=MIGRATIONS, baseline_version="003", backup_dir=str(mount / "backups"),
                max_cpu_percent=100000, **options)
    argv, stdin, env = module_command("pg_preflight", args)
    script = ('mount -t tmpfs -o size=%s,mode=0700 knowledgehub-test "$0" || exit 97; "$@"; rc=$?; '
              'echo "==after=="; ls -A "$0"; exit $rc' % size)
    os.makedirs(mount, exist_ok=True)
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True,
                           check=False)
    if probe.returncode != 0:
        pytest.skip("no private mount namespace here (unshare: %s)" % probe.stderr.decode().strip())
    # the module reads its arguments from the shell's standard input (mount and ls do not read it)
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(mount)] + argv,
                          input=stdin, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode != 97, proc.stderr
    out, _sep, listing = proc.stdout.partition("==after==\n")
    return parse_result(out, proc.stderr, proc.returncode), listing.split()


def test_a_real_file_system_too_small_for_the_backups_fails_the_disk_check(legacy_db, tmp_path):
    """A 64 MB file system where the backups go: the 2 GB floor fails, naming the path and the free space; a 3 GB one
    passes with the same settings. Nothing is written there or in the database."""
    before = fingerprint(legacy_db)
    result, left = on_a_small_file_system(legacy_db, tmp_path / "small", "64m")
    message = failed(result)
    disk = checks(result)["free_disk"]
    assert own(result["failed_checks"]) == ["free_disk"] and disk["status"] == "fail", disk
    assert disk["observed"]["path"] == str(tmp_path / "small") and 50 <= disk["observed"]["free_mb"] <= 64, disk
    assert disk["threshold"]["min_free_mb"] >= 2048
    assert "free_disk: Only" in message and str(tmp_path / "small") in message
    assert left == []  # backup_dir was not created
    result, left = on_a_small_file_system(legacy_db, tmp_path / "large", "3g")
    disk = checks(ok(result))["free_disk"]
    assert disk["status"] == "pass" and disk["observed"]["free_mb"] >= 3000 and left == []
    assert fingerprint(legacy_db) == before


def test_a_file_system_too_small_fails_and_backup_dir_is_not_created(legacy_db, tmp_path):
    before = fingerprint(legacy_db)
    free_mb = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    result = preflight(legacy_db, tmp_path, min_free_disk_mb=free_mb + 4096)
    message = failed(result)
    disk = checks(result)["free_disk"]
    assert own(result["failed_checks"]) == ["free_disk"] and disk["status"] == "fail"
    assert disk["threshold"]["min_free_mb"] == free_mb + 4096 and disk["observed"]["free_mb"] < free_mb + 4096
    assert "free_disk: Only" in message and "backup_dir" in message
    # the backups' own estimate raises the threshold: a million of them do not fit anywhere
    result = preflight(legacy_db, tmp_path, min_free_disk_mb=0, backup_count=1000000)
    failed(result)
    disk = checks(result)["free_disk"]
    assert disk["observed"]["backup_estimate_mb"] is not None
    assert disk["threshold"]["min_free_mb"] > disk["observed"]["free_mb"]
    assert fingerprint(legacy_db) == before and not os.path.exists(tmp_path / "backups")


def test_a_session_holding_a_lock_the_first_file_waits_for_fails_naming_it(legacy_db, tmp_path):
    before = fingerprint(legacy_db)
    holder = app_connection(legacy_db, application="kh-test-holder")
    try:
        with holder.cursor() as cur:  # an application transaction that read ai_memories and went idle
            cur.execute("SELECT count(*) FROM ai_memories")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        result = preflight(legacy_db, tmp_path)
        message = failed(result)
        sessions = checks(result)["sessions"]
        assert own(result["failed_checks"]) == ["sessions"]
        assert sessions["observed"]["blocking_first_file"] == 1
        assert "ACCESS SHARE lock on ai_memories held by pid %d" % pid in message
        assert "004_hybrid_rag_schema.sql would wait for it (ACCESS EXCLUSIVE)" in message
        assert "pg_terminate_backend" in message
        assert checks(preflight(legacy_db, tmp_path, check_mode=True))["sessions"]["status"] == "fail"
    finally:
        holder.close()
    assert fingerprint(legacy_db) == before


def test_an_autovacuum_worker_on_a_table_the_first_file_locks_is_not_in_the_way(legacy_db, tmp_path, cluster):
    """An autovacuum worker cancels itself when it blocks a lock request (unless it prevents wraparound): a vacuum of
    chunks, which 004 locks, must not fail the sessions check."""
    legacy_db.sql("ALTER TABLE chunks SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, "
                  "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1); "
                  "UPDATE chunks SET token_count = token_count")
    workers = "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND backend_type = 'autovacuum worker' " \
              "AND query LIKE '%%chunks%%'" % legacy_db.name
    cluster.psql("ALTER SYSTEM SET autovacuum_naptime = 1; SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 60
        while cluster.psql(workers).strip() == "0" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cluster.psql(workers).strip() == "1", "no autovacuum worker came to chunks within 60 s"
        result = preflight(legacy_db, tmp_path)
        assert cluster.psql(workers).strip() == "1", "the worker left before the check could see it"
        assert checks(result)["sessions"]["status"] != "fail", checks(result)["sessions"]["message"]
    finally:
        cluster.psql("ALTER SYSTEM RESET autovacuum_naptime; SELECT pg_reload_conf()")


def test_a_lock_that_blocks_nothing_pending_and_an_idle_transaction_only_warn(legacy_db, tmp_path):
    holder = app_connection(legacy_db, application="kh-test-reader")
    try:
        with holder.cursor() as cur:  # 004 only reads sources (a view's query): ACCESS SHARE does not conflict
            cur.execute("SELECT count(*) FROM sources")
        result = ok(preflight(legacy_db, tmp_path))
        sessions = checks(result)["sessions"]
        assert sessions["status"] == "warn" and own(result["warned_checks"]) == ["sessions"]
        assert sessions["observed"]["other_locks_on_touched"] == 1 and sessions["observed"]["idle_in_transaction"] == 1
        assert any("ACCESS SHARE lock on sources" in line for line in sessions["details"])
    finally:
        holder.close()


def test_an_exclusive_lock_does_not_hang_the_gate(legacy_db, tmp_path):
    """A table locked ACCESS EXCLUSIVE: the gate reports it and measures the disk from the database's size instead
    of waiting behind the lock."""
    holder = superuser_connection(legacy_db.pg, legacy_db.name)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE")
        result = preflight(legacy_db, tmp_path)
        failed(result)
        found = checks(result)
        assert found["sessions"]["status"] == "fail" and "ACCESS EXCLUSIVE lock on chunks" in found["sessions"]["message"]
        assert found["free_disk"]["status"] == "pass" and found["free_disk"]["observed"]["backup_estimate_mb"] is not None
        assert any("database's size taken instead" in line for line in found["free_disk"]["details"])
    finally:
        holder.close()


def test_a_missing_client_program_fails_naming_it_and_how_to_install_it(legacy_db, tmp_path):
    before = fingerprint(legacy_db)
    lonely = tmp_path / "bin"
    lonely.mkdir()
    os.symlink(shutil.which("pg_dump") or "/usr/bin/pg_dump", lonely / "pg_dump")
    result = preflight(legacy_db, tmp_path, runner="host", pg_bin_dir=str(lonely))
    message = failed(result)
    programs = checks(result)["client_programs"]
    assert own(result["failed_checks"]) == ["client_programs"]
    assert programs["observed"]["pg_dump"] and programs["observed"]["pg_restore"] is None
    assert programs["observed"]["psql"] is None
    assert "pg_restore is not in %s" % lonely in message and "apt-get install postgresql-client-15" in message

    result = preflight(legacy_db, tmp_path, runner="host", pg_bin_dir=str(tmp_path / "nowhere"),
                       squawk_path=str(tmp_path / "no-squawk"))
    message = failed(result)
    assert own(result["failed_checks"]) == ["client_programs", "squawk", "pending_migrations"]
    assert "no pg_dump in %s" % (tmp_path / "nowhere") in message
    assert "squawk at %s cannot be used" % (tmp_path / "no-squawk") in message and "pip install squawk-cli" in message
    assert fingerprint(legacy_db) == before


def test_without_a_connection_the_host_checks_still_run_and_the_password_stays_secret(legacy_db, tmp_path):
    secret = "n0t-the:pw'" + uuid.uuid4().hex
    result = preflight(legacy_db, tmp_path, login_password=secret)
    message = failed(result)
    assert own(result["failed_checks"]) == ["connection"]
    ran = [c["name"] for c in result["checks"]]
    assert ran == ["connection", "free_disk", "free_memory", "cpu_load", "psycopg2", "squawk"]
    not_checked = own(result["not_checked"])
    assert not_checked == ["primary", "privileges", "client_programs", "sessions", "replication", "pending_migrations"]
    assert "Cannot connect" in message and "Not checked, for want of a connection" in message
    assert secret not in result["_stdout"] + result["_stderr"]


def test_fail_on_never_reports_without_failing(legacy_db, tmp_path):
    result = ok(preflight(legacy_db, tmp_path, min_free_memory_mb=10 ** 9, fail_on="never"))
    assert result["ok"] is False and own(result["failed_checks"]) == ["free_memory"]
    assert result["counts"]["fail"] == len(result["failed_checks"]) and checks(result)["free_memory"]["threshold"] == 10 ** 9


def test_nothing_pending_passes_with_an_empty_list_and_drift_fails(legacy_db, tmp_path, migrations_copy):
    ok(migrate(legacy_db, baseline_version="003", migrations_dir=migrations_copy))
    before = fingerprint(legacy_db)
    result = ok(preflight(legacy_db, tmp_path, migrations_dir=str(migrations_copy)))
    pending = checks(result)["pending_migrations"]
    assert pending["status"] == "pass" and pending["observed"] == [] and result["pending"] == []
    assert checks(result)["privileges"]["status"] == "pass"  # the ledger's SELECT/INSERT/UPDATE included
    with open(migrations_copy / "004_hybrid_rag_schema.sql", "a", encoding="utf-8") as handle:
        handle.write("\n-- edited after it was applied\n")
    message = failed(preflight(legacy_db, tmp_path, migrations_dir=str(migrations_copy)))
    assert "pending_migrations: pg_migrate would refuse to plan: Drift: 004_hybrid_rag_schema.sql" in message
    assert fingerprint(legacy_db) == before


def test_a_blocking_lint_finding_fails_the_pending_check(legacy_db, tmp_path, migrations_copy):
    (migrations_copy / "007_index.sql").write_text("CREATE INDEX chunks_text_idx ON chunks (content);\n",
                                                   encoding="utf-8")
    # judged as pg_migrate judges it: blocking on a table above lint_small_table_rows (here: any table) ...
    message = failed(preflight(legacy_db, tmp_path, migrations_dir=str(migrations_copy), lint_small_table_rows=0))
    assert "pending_migrations:" in message and "require-concurrent-index-creation" in message
    result = ok(preflight(legacy_db, tmp_path, migrations_dir=str(migrations_copy), fail_on="never",
                          lint_small_table_rows=0))
    pending = checks(result)["pending_migrations"]
    assert pending["status"] == "fail" and pending["observed"]["lint"]["error"] == 1
    assert pending["observed"]["pending"] == ["004", "005", "006", "007"]
    # ... and relaxed, as in the run, on the legacy database's small chunks table
    chunks = int(legacy_db.sql("SELECT count(*) FROM chunks"))
    assert chunks < 1000
    relaxed = checks(ok(preflight(legacy_db, tmp_path, migrations_dir=str(migrations_copy))))["pending_migrations"]
    assert relaxed["status"] == "pass" and relaxed["observed"]["lint"]["error"] == 0, relaxed
    assert relaxed["observed"]["lint"].get("relaxed") == 1, relaxed


def test_the_servers_volume_is_read_for_the_runs_clone_points(legacy_db, tmp_path, cluster):
    """server_volume: none without clone points; where the role cannot see the data directory, a warning saying so;
    seen, a pass with the free space; too little room (keep_free_mb), a warning that the clone will be a dump."""
    def volume(result):
        return [c for c in result["checks"] if c["name"] == "server_volume"]

    before = fingerprint(legacy_db)
    assert volume(ok(preflight(legacy_db, tmp_path))) == []
    (unread,) = volume(ok(preflight(legacy_db, tmp_path, clone_points=1)))
    assert unread["status"] == "warn" and "not read" in unread["message"] and unread["observed"]["measured"] is None
    cluster.psql("GRANT pg_read_all_settings TO knowledgehub")
    try:
        (seen,) = volume(ok(preflight(legacy_db, tmp_path, clone_points=2)))
        assert seen["status"] == "pass" and seen["observed"]["measured"] == "local", seen
        assert seen["observed"]["path"] == cluster.psql("SHOW data_directory") and seen["threshold"]["clone_points"] == 2
        (short,) = volume(ok(preflight(legacy_db, tmp_path, clone_points=1,
                                       keep_free_mb=seen["observed"]["free_mb"] + 1024)))
        assert short["status"] == "warn" and "give way to a verified dump" in short["message"], short
    finally:
        cluster.psql("REVOKE pg_read_all_settings FROM knowledgehub")
    assert fingerprint(legacy_db) == before
