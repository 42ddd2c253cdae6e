# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight gate's pure parts: the check shape, the status decisions, /proc parsed from text, the backups'
estimate, what each statement needs of the migration user, and lock conflicts."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import LOCK_MODES
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover
from ansible_collections.knowledgehub.migration.plugins.module_utils._plan import make_plan
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import (
    above,
    at_least,
    cut,
    failure_message,
    make_check,
    summarize,
    worst,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_db import (
    CONFLICTS,
    conflicts,
    judge_holders,
    lock_mode,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks import plan_locks
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_host import (
    backup_estimate,
    cpu_check,
    disk_decision,
    memory_check,
    parse_loadavg,
    parse_meminfo,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_job import check_thresholds
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_plan import (
    OWNER,
    need_of,
    requirements,
    touched,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_tools import version_tuple

MIB = 1024 * 1024

MEMINFO = """MemTotal:       16315856 kB
MemFree:          912344 kB
MemAvailable:    5242880 kB
Buffers:          220000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
garbage line
"""


# -- the shape and the verdict ------------------------------------------------------------------


def test_a_check_has_one_shape_and_a_known_status():
    check = make_check("x", "warn", {"a": 1}, 2, "seen", details=["d%d" % i for i in range(30)])
    assert list(check) == ["name", "status", "observed", "threshold", "message", "details"]
    assert len(check["details"]) == 10 and check["details"][-1] == "... and 21 more"
    assert "details" not in make_check("x", "pass", 1, None, "seen")
    with pytest.raises(ValueError):
        make_check("x", "skipped", 1, None, "seen")
    assert cut([1, 2, 3], 3) == [1, 2, 3]


def test_status_decisions():
    assert at_least(1024, 1024) == "pass" and at_least(1023, 1024) == "fail" and at_least(None, 1) == "warn"
    assert at_least(0, None) == "pass"
    assert above(80, 80) == "pass" and above(80.1, 80) == "warn" and above(500, 80) == "warn"
    assert above(500, 80, 400) == "fail" and above(None, 80) == "warn"
    assert worst("pass", "fail", "warn") == "fail" and worst("pass", "warn") == "warn" and worst() == "pass"


def test_the_verdict_counts_and_the_failure_names_each_failed_check_and_what_to_do():
    verdict = summarize([make_check("a", "pass", 1, 1, "fine"), make_check("b", "fail", 1, 2, "too little: add more"),
                         make_check("c", "warn", 3, 2, "high"), make_check("d", "fail", None, None, "gone: fix it")],
                        not_checked=["e"])
    assert verdict["counts"] == {"pass": 1, "warn": 1, "fail": 2} and verdict["ok"] is False
    assert verdict["failed_checks"] == ["b", "d"] and verdict["warned_checks"] == ["c"]
    message = failure_message(verdict, "database 'kh'")
    assert message.splitlines() == [
        "Pre-flight of database 'kh': 2 check(s) failed (b, d); nothing was written. Fix these before migrating:",
        "  b: too little: add more", "  d: gone: fix it", "Not checked, for want of a connection: e."]
    assert summarize([make_check("a", "warn", 1, 1, "x")])["ok"] is True


def test_thresholds_are_checked_before_anything():
    params = dict(min_free_disk_mb=2048, min_free_memory_mb=1024, max_cpu_percent=80, max_cpu_percent_fail=None,
                  max_transaction_age=300, max_replication_lag=30, backup_count=1)
    check_thresholds(params)
    with pytest.raises(OptionError, match="min_free_disk_mb=-1 must not be negative"):
        check_thresholds(dict(params, min_free_disk_mb=-1))
    with pytest.raises(OptionError, match="max_cpu_percent_fail=50 is below max_cpu_percent=80"):
        check_thresholds(dict(params, max_cpu_percent_fail=50))


# -- the host, from /proc texts -----------------------------------------------------------------------


def test_meminfo_is_read_in_bytes_and_memory_judged_on_mem_available():
    info = parse_meminfo(MEMINFO)
    assert info["MemAvailable"] == 5242880 * 1024 and info["HugePages_Total"] == 0 and "garbage line" not in info
    assert memory_check(MEMINFO, 1024)["status"] == "pass" and memory_check(MEMINFO, 1024)["observed"] == 5120
    low = memory_check(MEMINFO, 6000)
    assert low["status"] == "fail" and low["threshold"] == 6000 and "Only 5120 MB" in low["message"]
    unreadable = memory_check(None, 1024)
    assert unreadable["status"] == "warn" and unreadable["observed"] is None
    assert memory_check("MemTotal: 100 kB\n", 1)["status"] == "warn"  # a kernel without MemAvailable


def test_cpu_load_is_the_one_minute_load_per_cpu_and_fails_only_when_asked():
    assert parse_loadavg("1.50 0.80 0.40 2/345 6789\n") == (1.5, 0.8, 0.4)
    assert parse_loadavg("") is None and parse_loadavg("x y z") is None
    calm = cpu_check("1.00 0.5 0.5 1/1 1", 4, 80, None)
    assert calm["status"] == "pass" and calm["observed"] == {"percent": 25.0, "load_1m": 1.0, "cpus": 4}
    busy = cpu_check("3.60 0.5 0.5 1/1 1", 4, 80, None)
    assert busy["status"] == "warn" and busy["observed"]["percent"] == 90.0
    assert cpu_check("40.0 0 0 1/1 1", 4, 80, None)["status"] == "warn"  # 1000%: no fail level, never fails
    assert cpu_check("40.0 0 0 1/1 1", 4, 80, 200)["status"] == "fail"
    assert cpu_check("6.0 0 0 1/1 1", 4, 80, 200)["status"] == "warn"
    assert cpu_check(None, 4, 80, None)["status"] == "warn" and cpu_check("1 1 1", None, 80, None)["status"] == "warn"


def test_disk_needs_the_larger_of_the_minimum_and_the_backups_with_pg_backups_reserve():
    assert disk_decision(3000 * MIB, 2048, None, 1) == ("pass", 2048 * MIB)
    assert disk_decision(2000 * MIB, 2048, None, 1) == ("fail", 2048 * MIB)
    assert disk_decision(3000 * MIB, 2048, 100 * MIB, 1) == ("pass", 2048 * MIB)  # small database: the minimum
    status, required = disk_decision(3000 * MIB, 2048, 1000 * MIB, 3)  # three backups of 1000 MiB + 10%
    assert status == "fail" and required == 3300 * MIB
    assert disk_decision(3000 * MIB, 0, 1 * MIB, 1)[1] == 17 * MIB  # at least 16 MiB of reserve


def test_the_backups_estimate_is_pg_backups():
    data = 1000 * MIB
    assert backup_estimate(None, 3, "custom", "auto") is None
    custom = backup_estimate(data, 10, "custom", "auto")   # lz4: the larger factor of auto's two outcomes
    assert custom == data + 1024 * 1024 + 4096 * 10
    assert backup_estimate(data, 10, "custom", "gzip") < custom
    assert backup_estimate(data, 10, "plain", "auto") == int(data * 1.8) + 1024 * 1024 + 4096 * 10


# -- what the statements need ---------------------------------------------------------------------------


def lock(relation, mode, note="", created=False):
    return {"relation": relation, "mode": mode, "note": note, "created_in_file": created}


@pytest.mark.parametrize("words, item, need", [
    (("ALTER", "TABLE"), lock("t", "ACCESS EXCLUSIVE"), (OWNER,)),
    (("DROP", "INDEX"), lock("i", "ACCESS EXCLUSIVE"), (OWNER,)),
    (("CREATE", "INDEX"), lock("t", "SHARE"), (OWNER,)),
    (("CREATE", "UNIQUE", "INDEX"), lock("t", "SHARE"), (OWNER,)),
    (("CREATE", "OR", "REPLACE", "TRIGGER"), lock("t", "SHARE ROW EXCLUSIVE"), ("TRIGGER",)),
    (("CREATE", "TABLE"), lock("p", "SHARE ROW EXCLUSIVE", "referenced by a new foreign key"), ("REFERENCES",)),
    (("CREATE", "VIEW"), lock("t", "ACCESS SHARE"), ("SELECT",)),
    (("INSERT", "INTO"), lock("t", "ROW EXCLUSIVE"), ("INSERT",)),
    (("UPDATE",), lock("t", "ROW EXCLUSIVE"), ("UPDATE",)),
    (("DELETE", "FROM"), lock("t", "ROW EXCLUSIVE"), ("DELETE",)),
    (("WITH",), lock("t", "ROW EXCLUSIVE"), ("INSERT", "UPDATE", "DELETE")),
    (("INSERT", "INTO"), lock("s", "ACCESS SHARE"), ("SELECT",)),
    (("INSERT", "INTO"), lock("p", "ROW SHARE", "foreign-key checks of the rows written to t"), None),
    (("DELETE", "FROM"), lock("c", "ROW EXCLUSIVE", "ON DELETE of its foreign key to t"), None),
    (("TRUNCATE",), lock("t", "ACCESS EXCLUSIVE"), ("TRUNCATE",)),
    (("LOCK", "TABLE"), lock("t", "SHARE ROW EXCLUSIVE"), ("UPDATE", "DELETE", "TRUNCATE")),
    (("LOCK", "TABLE"), lock("t", "ACCESS SHARE"), ("SELECT",)),
    (("ALTER", "TABLE"), lock("new", "ACCESS EXCLUSIVE", created=True), None),
    (("DO",), lock("*", "unknown", "procedural code"), None),
])
def test_what_a_lock_needs_of_the_migration_user(words, item, need):
    assert need_of(words, item) == need


def test_requirements_skip_what_the_pending_files_create_and_keep_the_first_statement(tmp_path):
    (tmp_path / "001_base.sql").write_text("CREATE TABLE a (id int PRIMARY KEY);", encoding="utf-8")
    (tmp_path / "002_next.sql").write_text(
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));\n"
        "ALTER TABLE a ADD COLUMN note text;\nINSERT INTO b SELECT id, id FROM a;\nALTER TABLE a DROP COLUMN note;\n",
        encoding="utf-8")
    (tmp_path / "003_more.sql").write_text("CREATE INDEX b_a_idx ON b (a_id);\nUPDATE a SET id = id;\n",
                                           encoding="utf-8")
    files, _ignored = discover(str(tmp_path))
    plan = make_plan(files, [{"version": "001", "name": "base", "checksum": files[0].checksum, "status": "applied"}])
    locks = plan_locks(plan)
    needs = [(r["relation"], r["need"], r["file"], r["statement"]) for r in requirements(plan)]
    assert needs == [("a", ("REFERENCES",), "002_next.sql", 1), ("a", (OWNER,), "002_next.sql", 2),
                     ("a", ("SELECT",), "002_next.sql", 3), ("a", ("UPDATE",), "003_more.sql", 2)]
    files_touched = touched(plan, locks)
    assert [f["file"] for f in files_touched] == ["002_next.sql", "003_more.sql"]
    assert files_touched[0]["strongest"] == {"a": "ACCESS EXCLUSIVE"} and files_touched[1]["strongest"] == {
        "a": "ROW EXCLUSIVE"}


# -- locks held by other sessions --------------------------------------------------------------------------


def test_lock_modes_from_pg_locks_and_the_conflict_table():
    assert lock_mode("AccessShareLock") == "ACCESS SHARE" and lock_mode("ShareRowExclusiveLock") == "SHARE ROW EXCLUSIVE"
    assert lock_mode("ExclusiveLock") == "EXCLUSIVE" and lock_mode("ShareUpdateExclusiveLock") == \
        "SHARE UPDATE EXCLUSIVE"
    assert set(CONFLICTS) == set(LOCK_MODES)
    for one in LOCK_MODES:  # PostgreSQL's table is symmetric
        for other in LOCK_MODES:
            assert conflicts(one, other) == conflicts(other, one), (one, other)
    assert conflicts("ACCESS SHARE", "ACCESS EXCLUSIVE") and not conflicts("ACCESS SHARE", "SHARE ROW EXCLUSIVE")
    assert conflicts("ROW EXCLUSIVE", "SHARE") and not conflicts("ROW EXCLUSIVE", "ROW EXCLUSIVE")
    assert conflicts("SHARE UPDATE EXCLUSIVE", "SHARE UPDATE EXCLUSIVE") and not conflicts("SHARE", "SHARE")


def test_holders_are_judged_against_the_first_file_then_the_later_ones():
    files = [{"file": "004.sql", "strongest": {"m": "ACCESS EXCLUSIVE", "c": "SHARE ROW EXCLUSIVE"}},
             {"file": "005.sql", "strongest": {"c": "ACCESS EXCLUSIVE", "s": "ACCESS SHARE"}}]
    session = dict(user="app", application="api", client="10.0.0.5", state="idle in transaction", xact_seconds=9,
                   state_seconds=9, query="SELECT 1")
    holders = [dict(session, pid=1, oid=10, relation="m", mode="AccessShareLock"),
               dict(session, pid=2, oid=11, relation="c", mode="AccessShareLock"),
               dict(session, pid=3, oid=12, relation="s", mode="RowExclusiveLock"),
               dict(session, pid=4, oid=11, relation="c", mode="RowExclusiveLock")]
    first, later, harmless = judge_holders(holders, files, {10: "m", 11: "c", 12: "s"})
    pids = [[line.split(" held by pid ")[1][:1] for line in group] for group in (first, later, harmless)]
    assert pids == [["1", "4"], ["2"], ["3"]]
    assert "ROW EXCLUSIVE lock on c held by pid 4" in first[1] and "004.sql would wait for it" in first[1]


def test_library_versions_are_compared_as_numbers():
    assert version_tuple("2.9.13 (dt dec pq3 ext lo64)") == (2, 9, 13) and version_tuple("2.10") > (2, 8)
    assert version_tuple("") == () and version_tuple("2.8b1") == (2,)
