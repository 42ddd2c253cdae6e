# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_rollback against a real PostgreSQL 15: 006, 005 and 004 reverted through their .down files or through
rollback_004_005.sql, each file whole or not at all (failures, kill -9), refusals before anything runs, check mode,
the run lock shared with pg_migrate, and pg_migrate applying the reverted versions again.

"The state before version N" is read once per module from a legacy database taken through pg_migrate step by step
(pg_dump --schema-only without the ledger, content checksums of every table): every revert is compared with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass, field

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import LOCK_NAMESPACE, Ledger
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover
from ansible_collections.knowledgehub.migration.plugins.module_utils._plan import make_plan
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql

from support.database import app_connection, drop_database, new_database
from support.expectations import expectations
from support.hostile import sessions_gone, wait_for, waiting_on_lock
from support.modules import failed, migrate, ok, run_module, start_module
from support.paths import MIGRATIONS

EXPECT_005 = expectations("005")
EXPECT_006 = expectations("006")
CHUNKS = 3000
pytestmark = pytest.mark.legacy_chunks(CHUNKS)
DOWN = {"004": "004_hybrid_rag_schema.down.sql", "005": "005_data_migration.down.sql",
        "006": "006_harden_rollback_functions.down.sql"}
SCRIPT = "rollback_004_005.sql"


@dataclass
class States:
    """What a legacy database was with each version the last one applied (3: before 004 ... 6: everything): its
    schema without the ledger (``dumps``) and the content checksums of its tables (``data``); and the database
    itself, migrated through 006, the template of ``migrated``."""

    template: object = None
    dumps: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


STATES = States()


@pytest.fixture(scope="module")
def states(cluster, legacy_templates):
    db = legacy_templates.clone(CHUNKS)
    try:
        for last in (3, 4, 5, 6):
            ok(migrate(db, baseline_version="003", target_version="%03d" % last))
            STATES.dumps[last], STATES.data[last] = db.schema_dump(exclude_ledger=True), db.snapshot()
        assert len(set(STATES.dumps.values())) == 4
        STATES.template = db
        sessions_gone(cluster)
        yield STATES
    finally:
        drop_database(cluster, db.name)


@pytest.fixture
def migrated(cluster, states):
    """A copy of the legacy database with 001-003 baselined and 004, 005, 006 applied by pg_migrate."""
    db = new_database(cluster, states.template.name)
    yield db
    drop_database(cluster, db.name)


def rollback(db, check_mode=False, migrations_dir=MIGRATIONS, **options) -> dict:
    return run_module("pg_rollback", dict(db.params, migrations_dir=str(migrations_dir), **options),
                      check_mode=check_mode)


def statuses(db) -> dict:
    """The status of each version's newest ledger row."""
    return {r["version"]: r["status"] for r in db.ledger()}


def sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def is_state(db, last: int) -> bool:
    """The database is exactly what it was with ``last`` the last version applied (schema and every row)."""
    return db.schema_dump(exclude_ledger=True) == STATES.dumps[last] and db.snapshot() == STATES.data[last]


def unchanged(db):
    """What a refusal must leave exactly as it was: the whole schema, the ledger included, and the ledger's rows."""
    before = (db.schema_dump(), db.ledger())
    return lambda: (db.schema_dump(), db.ledger()) == before


def no_traceback(result) -> None:
    assert "Traceback" not in result["_stderr"] and "Traceback" not in result.get("msg", "")


# -- reverting ---------------------------------------------------------------------------------------------


def test_down_files_revert_006_005_004_to_exactly_the_database_before_004(migrated):
    applied = {r["version"]: r for r in migrated.ledger()}
    result = ok(rollback(migrated, target_version="003"))
    assert result["changed"] is True
    assert [(r["file"], r["reverted"]) for r in result["reverted"]] == [
        (DOWN["006"], ["006"]), (DOWN["005"], ["005"]), (DOWN["004"], ["004"])]
    assert is_state(migrated, 3)
    rows = {r["id"]: r for r in migrated.ledger()}
    assert [(r["version"], r["status"]) for r in rows.values()] == [
        ("001", "baseline"), ("002", "baseline"), ("003", "baseline"),
        ("004", "rolled_back"), ("005", "rolled_back"), ("006", "rolled_back")]
    for version, down in DOWN.items():
        row = rows[applied[version]["id"]]
        # the row keeps the run that applied it; the revert is noted beside it: this run, the file, its sha256
        assert row["run_id"] == applied[version]["run_id"] and row["rolled_back_at"]
        assert result["run_id"] in row["error"] and down in row["error"]
        assert sha256(os.path.join(MIGRATIONS, down)) in row["error"]
    again = ok(rollback(migrated, target_version="003"))
    assert again["changed"] is False and again["reverted"] == [] and again["plan"] == []


def test_rollback_004_005_through_pg_rollback_gives_the_same_database(migrated):
    run_id = "6f1c2b1e-0d5a-4a53-9f4e-2b8f9c1d7e10"
    result = ok(rollback(migrated, target_version="3", revert_script=SCRIPT, run_id=run_id, job_id="awx-77"))
    assert [(r["file"], r["reverted"]) for r in result["reverted"]] == [(SCRIPT, ["006", "005", "004"])]
    assert is_state(migrated, 3)
    for row in migrated.ledger()[3:]:
        # the script turns its rows itself (for its use with psql): harmless, the module's note is there too
        assert row["status"] == "rolled_back" and run_id in row["error"]
        assert SCRIPT in row["error"] and "job awx-77" in row["error"]


@pytest.mark.parametrize("target", [5, 4])
def test_each_revert_file_gives_back_exactly_the_database_before_its_version(migrated, target):
    """006's down file gives back 004's functions (their bodies, settings and comments), 005's empties and removes
    exactly what 005 wrote and makes its constraints NOT VALID again: pg_dump and every row say so."""
    result = ok(rollback(migrated, target_version="%03d" % target))
    assert [r["file"] for r in result["reverted"]] == [DOWN["%03d" % v] for v in range(6, target, -1)]
    assert is_state(migrated, target)
    assert [s for v, s in sorted(statuses(migrated).items())][3:] == \
        ["applied"] * (target - 3) + ["rolled_back"] * (6 - target)


def test_check_mode_lists_the_plan_and_touches_nothing(migrated):
    same = unchanged(migrated)
    ids = {r["version"]: r["id"] for r in migrated.ledger()}
    result = ok(rollback(migrated, check_mode=True, target_version="003"))
    assert result["changed"] is True and result["reverted"] == [] and result["plan_total"] == 3
    assert [(p["order"], p["file"], [(v["version"], v["ledger_id"], v["status"]) for v in p["versions"]])
            for p in result["plan"]] == [(1, DOWN["006"], [("006", ids["006"], "applied")]),
                                         (2, DOWN["005"], [("005", ids["005"], "applied")]),
                                         (3, DOWN["004"], [("004", ids["004"], "applied")])]
    assert result["plan"][0]["checksum"] == sha256(os.path.join(MIGRATIONS, DOWN["006"]))
    script = ok(rollback(migrated, check_mode=True, target_version="003", revert_script=SCRIPT))
    assert [(p["file"], [v["version"] for v in p["versions"]]) for p in script["plan"]] == [
        (SCRIPT, ["006", "005", "004"])]
    assert same()


def test_pg_migrate_applies_the_reverted_versions_again(migrated):
    ok(rollback(migrated, target_version="003"))
    files = discover(MIGRATIONS)[0]
    plan = make_plan(files, migrated.ledger(), database_is_empty=False)
    assert [m.version for m in plan.pending] == ["004", "005", "006"] and plan.baseline == []
    assert [m["version"] for m in ok(migrate(migrated, check_mode=True))["pending"]] == ["004", "005", "006"]
    result = ok(migrate(migrated))
    assert [(m["version"], m["resumed_at"]) for m in result["applied"]] == [
        ("004", None), ("005", None), ("006", None)]
    assert migrated.schema_dump(exclude_ledger=True) == STATES.dumps[6]
    for inv in EXPECT_005["invariants"]:
        assert int(migrated.sql(inv["sql"])) == 0, inv["name"]
    assert [r["status"] for r in migrated.ledger()].count("applied") == 3


# -- refused before anything runs ----------------------------------------------------------------------------


def test_a_missing_revert_file_refuses_before_anything_runs(migrated, migrations_copy):
    os.remove(str(migrations_copy / DOWN["005"]))
    same = unchanged(migrated)
    for check_mode in (True, False):
        result = rollback(migrated, check_mode=check_mode, migrations_dir=migrations_copy, target_version="003")
        message = failed(result)
        assert "No revert file for 005_data_migration.sql: expected 005_data_migration.down.sql beside it" in message
        assert "Nothing was run" in message and result["changed"] is False and result["reverted"] == []
        no_traceback(result)
    assert same()  # 006's down file, first in line, did not run either


@pytest.mark.parametrize("drift, words", [
    ("forward file edited", "Drift: 004_hybrid_rag_schema.sql was applied with sha256"),
    ("down file of another migration", "Drift: 005_data_cleanup.down.sql is named for version 005"),
    ("down file reverting another version", "Drift: 006_harden_rollback_functions.down.sql is named for version 006"),
])
def test_a_drifted_revert_file_refuses_before_anything_runs(migrated, migrations_copy, drift, words):
    if drift == "forward file edited":
        path = migrations_copy / "004_hybrid_rag_schema.sql"
        path.write_text(path.read_text(encoding="utf-8") + "\n-- a harmless-looking edit\n", encoding="utf-8")
    elif drift == "down file of another migration":
        (migrations_copy / "005_data_cleanup.down.sql").write_text("DELETE FROM documents;\n", encoding="utf-8")
    else:
        path = migrations_copy / DOWN["006"]
        path.write_text("-- migrate:reverts 005\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    same = unchanged(migrated)
    result = rollback(migrated, migrations_dir=migrations_copy, target_version="003")
    assert words in failed(result) and "Nothing was run" in result["msg"]
    no_traceback(result)
    assert same()


# -- a revert file that fails ---------------------------------------------------------------------------------


def test_a_revert_file_failing_halfway_rolls_back_that_file_only_and_the_ledger_says_so(migrated, migrations_copy):
    path = migrations_copy / DOWN["005"]
    text = path.read_text(encoding="utf-8")
    marker = "-- 4. The rows 005 wrote"
    assert marker in text  # after the memories were emptied, before the rows go
    path.write_text(text.replace(marker, "SELECT 1 / 0;\n\n" + marker), encoding="utf-8")
    broken = [s for s in split_sql(path.read_text(encoding="utf-8")) if s.text == "SELECT 1 / 0"][0]
    total = len(split_sql(path.read_text(encoding="utf-8")))

    result = rollback(migrated, migrations_dir=migrations_copy, target_version="003")
    message = failed(result)
    assert message.startswith("Revert file 005_data_migration.down.sql failed at statement %d of %d (line %d): "
                              "SQLSTATE 22012 division by zero." % (broken.number, total, broken.line)), message
    assert "nothing of 005_data_migration.down.sql is reverted" in message
    failure = result["failure"]
    assert (failure["file"], failure["statement"], failure["line"], failure["sqlstate"]) == (
        DOWN["005"], broken.number, broken.line, "22012")
    assert [r["file"] for r in failure["reverted_before_failure"]] == [DOWN["006"]]
    assert [r["file"] for r in result["reverted"]] == [DOWN["006"]] and result["changed"] is True
    assert migrated.pg.app_password not in json.dumps(result)
    # 006 reverted and committed with its ledger row; 005's file rolled back whole (its memories are filled again)
    assert [s for v, s in sorted(statuses(migrated).items())][3:] == ["applied", "applied", "rolled_back"]
    assert is_state(migrated, 5)
    for inv in EXPECT_005["invariants"]:
        assert int(migrated.sql(inv["sql"])) == 0, inv["name"]

    shutil.copy(os.path.join(MIGRATIONS, DOWN["005"]), str(path))
    rerun = ok(rollback(migrated, migrations_dir=migrations_copy, target_version="003"))
    assert [r["file"] for r in rerun["reverted"]] == [DOWN["005"], DOWN["004"]]
    assert is_state(migrated, 3)


def test_a_005_cut_short_is_reverted_with_004_and_applied_again_from_its_start(migrated, migrations_copy):
    """A migrate:transaction off file that failed after some statements committed (005's change capture is in
    place): its row says failed with last_statement, pg_rollback reverts it, and pg_migrate starts it over."""
    ok(rollback(migrated, target_version="004"))
    path = migrations_copy / "005_data_migration.sql"
    text = path.read_text(encoding="utf-8")
    marker = "-- ---------------------------------------------------------------------------\n-- 2. Helper functions"
    path.write_text(text.replace(marker, "SELECT 1 / 0;\n\n" + marker), encoding="utf-8")
    failed(migrate(migrated, migrations_dir=migrations_copy))
    cut = migrated.ledger()[-1]
    assert (cut["version"], cut["status"]) == ("005", "failed") and cut["last_statement"] > 1
    assert migrated.sql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'migration_005%'") == "6"

    plan = ok(rollback(migrated, check_mode=True, migrations_dir=migrations_copy, target_version="003"))["plan"]
    assert [(p["file"], p["versions"][0]["partly_applied"]) for p in plan] == [(DOWN["005"], True),
                                                                               (DOWN["004"], False)]
    ok(rollback(migrated, migrations_dir=migrations_copy, target_version="003"))
    assert is_state(migrated, 3)
    result = ok(migrate(migrated))  # the shipped 005, from its first statement
    assert [(m["version"], m["resumed_at"]) for m in result["applied"]] == [
        ("004", None), ("005", None), ("006", None)]
    assert migrated.schema_dump(exclude_ledger=True) == STATES.dumps[6]


# -- the run lock and kills ----------------------------------------------------------------------------------


def test_a_rollback_waits_for_the_lock_pg_migrate_takes(migrated):
    holder = app_connection(migrated, "a pg_migrate run")
    holder.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)",
                        (LOCK_NAMESPACE, Ledger(holder, "public", "migration_log").lock_key))
        same = unchanged(migrated)
        result = rollback(migrated, target_version="003", lock_wait_timeout="1s")
    finally:
        holder.close()
    assert "Another migration run holds the lock on public.migration_log" in failed(result)
    assert "a pg_migrate run" in result["msg"]
    assert same()


def test_kill_9_while_a_revert_file_waits_then_a_rerun_finishes(cluster, migrated):
    """A deterministic kill inside 005's down file: it waits for a lock an application session holds on
    ingestion_logs, after its first statements ran in its transaction. Meanwhile pg_migrate cannot start."""
    blocker = app_connection(migrated, "the application")
    with blocker.cursor() as cur:
        cur.execute("LOCK TABLE ingestion_logs IN SHARE MODE")
    proc = start_module("pg_rollback", dict(migrated.params, migrations_dir=MIGRATIONS, target_version="003",
                                            lock_timeout="60s"))
    try:
        wait_for(lambda: waiting_on_lock(cluster, "DO $rows$"), "005's down file to wait for ingestion_logs",
                 proc=proc)
        other = migrate(migrated, lock_wait_timeout=1)
        assert "Another migration run holds the lock" in failed(other) and "pg_rollback control" in other["msg"]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        blocker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sessions_gone(cluster)
    assert [s for v, s in sorted(statuses(migrated).items())][3:] == ["applied", "applied", "rolled_back"]
    assert is_state(migrated, 5)
    ok(rollback(migrated, target_version="003"))
    assert is_state(migrated, 3)


@pytest.fixture(scope="module")
def rollback_seconds(cluster, states):
    """How long a whole rollback to 003 takes, module start-up included: kill points are spread over it."""
    db = new_database(cluster, states.template.name)
    try:
        started = time.monotonic()
        ok(rollback(db, target_version="003"))
        return time.monotonic() - started
    finally:
        drop_database(cluster, db.name)


KILL_TRIALS = 12
PHASES_SEEN: list[int] = []


def reverted_so_far(db) -> int:
    """How many of 006, 005, 004 the ledger says are reverted; they must be reverted highest first."""
    status = statuses(db)
    flags = [status[v] == "rolled_back" for v in ("006", "005", "004")]
    assert flags == sorted(flags, reverse=True), status
    return sum(flags)


@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_kill_9_at_random_moments_leaves_each_revert_file_whole_and_a_rerun_finishes(
        trial, cluster, migrated, rollback_seconds):
    # the kill points are spread evenly over the run, from process start-up to past its end, with jitter
    delay = (trial + random.Random(trial).random()) / KILL_TRIALS * rollback_seconds * 1.5
    proc = start_module("pg_rollback", dict(migrated.params, migrations_dir=MIGRATIONS, target_version="003"))
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sessions_gone(cluster)
    done = reverted_so_far(migrated)
    PHASES_SEEN.append(done)
    # the ledger tells the truth: the database is exactly the state its rows say, nothing half-reverted
    assert is_state(migrated, 6 - done), "ledger says %d reverted" % done
    assert "running" not in statuses(migrated).values()
    rerun = ok(rollback(migrated, target_version="003"))
    assert len(rerun["reverted"]) == 3 - done
    assert is_state(migrated, 3)


def test_the_kill_points_landed_before_and_after_the_reverts():
    """The trials mean something only if some kills hit before anything was reverted and some after all was (the
    kill inside a revert file is forced by the test above them)."""
    if len(PHASES_SEEN) < KILL_TRIALS:
        pytest.skip("runs only after the kill trials")
    assert {0, 3} <= set(PHASES_SEEN), PHASES_SEEN


# -- hostile input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, words", [
    (dict(target_version="abc"), "target_version='abc' is not a version"),
    (dict(target_version="3.0"), "target_version='3.0' is not a version"),
    (dict(target_version="\u0663"), "is not a version"),
    (dict(target_version="030"), "target_version=030 matches no migration file"),
    (dict(target_version="003", revert_script="../migrations/" + SCRIPT), "'..' is refused"),
    (dict(target_version="003", revert_script="/etc/passwd"), "is not in migrations_dir"),
    (dict(target_version="003", revert_script="004_hybrid_rag_schema.sql"), "is not named like a revert file"),
    (dict(target_version="004", revert_script=SCRIPT), "rollback_004_005.sql reverts 004, which is not above"),
    (dict(target_version="003", run_id="not-a-uuid"), "run_id='not-a-uuid' is not a UUID"),
    (dict(target_version="003", lock_timeout="soon"), "lock_timeout='soon' is not a PostgreSQL duration"),
])
def test_hostile_options_are_refused_clearly_and_change_nothing(migrated, options, words):
    same = unchanged(migrated)
    result = rollback(migrated, **options)
    assert words in failed(result), result["msg"]
    no_traceback(result)
    assert same()


def test_a_revert_script_linked_from_outside_is_refused(migrated, migrations_copy, tmp_path):
    outside = tmp_path / "rollback_everything.sql"
    outside.write_text("-- migrate:reverts 004 005 006\nDROP TABLE documents CASCADE;\n", encoding="utf-8")
    os.symlink(str(outside), str(migrations_copy / "rollback_linked.sql"))
    same = unchanged(migrated)
    result = rollback(migrated, migrations_dir=migrations_copy, target_version="003", revert_script="rollback_linked.sql")
    assert "is a link leading out of migrations_dir" in failed(result)
    assert same()


def test_revert_files_for_a_version_never_applied(migrated, migrations_copy):
    """A revert_script for a version that was never applied is refused; a .down file for one is never run."""
    (migrations_copy / "007_later.sql").write_text("CREATE TABLE later (id int);\n", encoding="utf-8")
    (migrations_copy / "rollback_007.sql").write_text("-- migrate:reverts 007\nDROP TABLE documents CASCADE;\n",
                                                      encoding="utf-8")
    (migrations_copy / "007_later.down.sql").write_text("DROP TABLE documents CASCADE;\n", encoding="utf-8")
    same = unchanged(migrated)
    result = rollback(migrated, migrations_dir=migrations_copy, target_version="006", revert_script="rollback_007.sql")
    assert "rollback_007.sql reverts 007, but none of them is applied" in failed(result)
    assert same()
    result = ok(rollback(migrated, migrations_dir=migrations_copy, target_version="005"))
    assert [r["file"] for r in result["reverted"]] == [DOWN["006"]]
    assert is_state(migrated, 5)


def test_a_revert_file_that_would_not_run_in_one_transaction_is_refused(migrated, migrations_copy):
    path = migrations_copy / DOWN["004"]
    path.write_text("-- migrate:transaction off\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    same = unchanged(migrated)
    result = rollback(migrated, migrations_dir=migrations_copy, target_version="003")
    assert "says '-- migrate:transaction off', but a revert file runs in one transaction" in failed(result)
    assert same()


def test_a_database_without_a_ledger_is_refused(db):
    db.sql("CREATE TABLE keep_me (id int)")
    result = rollback(db, target_version="003")
    assert "has no ledger table public.migration_log: nothing is recorded as applied" in failed(result)
    assert db.tables() == ["keep_me"]
