# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: input large enough to make the tool itself the problem.

A file of 20,000 statements with two lint findings each once took 19 s in check mode and
returned 12 MB (a lock entry per statement, every finding, twice for the blocking ones);
200,000 statements took minutes and returned 171 MB. The result must stay small whatever
the files hold (summaries, at most ``LIMIT`` entries per list, the totals beside them) and
the whole analysis goes to ``details_file``. How the work grows with the size of the
input is measured by bench/large_files.py, not timed here.
"""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._details import LIMIT

from support.modules import failed, ok, run_module
from support.paths import MIGRATIONS

STATEMENTS = 20000
RESULT_LIMIT = 256 * 1024


def _big_migration(directory, statements: int = STATEMENTS, ignores: bool = False) -> None:
    """One migration of ``statements`` statements; each ALTER is flagged twice by squawk (int column, no
    IF NOT EXISTS), each UPDATE and INSERT takes a lock on a table created in the same file."""
    lines = ["CREATE TABLE hostile_big (id bigint PRIMARY KEY, v text);"]
    for i in range(1, statements):
        if ignores and i % 2:
            lines.append("-- squawk-ignore prefer-robust-stmts -- hostile input, ignore comment number %d" % i)
        lines.append("ALTER TABLE hostile_big ADD COLUMN c%d int;" % i if i % 2 else
                     "UPDATE hostile_big SET v = 'row %d' WHERE id = %d;" % (i, i))
    (directory / "001_hostile_big.sql").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _size(result: dict) -> int:
    return len(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))


@pytest.mark.parametrize("ignores", [False, True], ids=["findings", "ignore-comments"])
def test_check_mode_of_a_huge_file_returns_a_small_result(db, tmp_path, ignores):
    migrations = tmp_path / "m"
    migrations.mkdir()
    _big_migration(migrations, ignores=ignores)
    result = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations)), check_mode=True))
    assert _size(result) < RESULT_LIMIT, _size(result)
    locks = result["locks"]["001_hostile_big.sql"]
    assert locks["statements_total"] == STATEMENTS and len(locks["statements"]) == LIMIT
    assert locks["statements_left_out"] == STATEMENTS - LIMIT
    assert result["lint"]["findings_total"] >= STATEMENTS // 2 and len(result["lint"]["findings"]) <= LIMIT
    assert len(result["lint"]["ignores"]) <= LIMIT
    assert result["lint"]["ignores_total"] == (STATEMENTS // 2 if ignores else 0)
    assert sum(result["lint"]["by_rule"].values()) == result["lint"]["findings_total"]


def test_the_whole_analysis_goes_to_the_details_file(db, tmp_path):
    migrations = tmp_path / "m"
    migrations.mkdir()
    _big_migration(migrations, statements=2 * LIMIT + 7)
    details = tmp_path / "plan.json"
    result = ok(run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations), details_file=str(details)),
                           check_mode=True))
    assert result["details_file"] == str(details)
    assert stat.S_IMODE(os.stat(details).st_mode) == 0o600
    data = json.loads(details.read_text(encoding="utf-8"))
    every = data["locks"]["001_hostile_big.sql"]["statements"]
    assert [s["number"] for s in every] == list(range(1, 2 * LIMIT + 8))
    assert len(data["lint"]["findings"]) == result["lint"]["findings_total"] > LIMIT
    # the result keeps the statements that lock something the application uses: here the ALTERs of a table the
    # file creates lock nothing that existed before, so the first LIMIT statements in file order are listed
    listed = result["locks"]["001_hostile_big.sql"]["statements"]
    assert [s["number"] for s in listed] == list(range(1, LIMIT + 1))


def test_the_statements_listed_are_those_that_lock_existing_tables(legacy_db, tmp_path):
    """Of a long file, the result lists the statements with the strongest locks on tables the application uses."""
    migrations = tmp_path / "m"
    migrations.mkdir()
    for name in sorted(os.listdir(MIGRATIONS)):
        if name[:3] in ("001", "002", "003"):
            shutil.copy(os.path.join(MIGRATIONS, name), str(migrations / name))
    body = ["CREATE TABLE hostile_new (id bigint PRIMARY KEY);"]
    body += ["INSERT INTO hostile_new (id) VALUES (%d);" % i for i in range(3 * LIMIT)]
    body += ["ALTER TABLE documents ADD COLUMN IF NOT EXISTS hostile_flag boolean;"]
    body += ["INSERT INTO hostile_new (id) VALUES (%d);" % i for i in range(3 * LIMIT, 4 * LIMIT)]
    (migrations / "004_hostile_long.sql").write_text("\n".join(body) + "\n", encoding="utf-8")
    result = ok(run_module("pg_migrate", dict(legacy_db.params, migrations_dir=str(migrations),
                                              baseline_version="003", lint=False), check_mode=True))
    locks = result["locks"]["004_hostile_long.sql"]
    alter = [s for s in locks["statements"] if s["summary"].startswith("ALTER TABLE documents")]
    assert len(alter) == 1 and alter[0]["locks"][0]["mode"] == "ACCESS EXCLUSIVE"
    assert locks["strongest"] == {"documents": "ACCESS EXCLUSIVE"}
    assert [s["number"] for s in locks["statements"]] == sorted(s["number"] for s in locks["statements"])


@pytest.mark.parametrize("where", ["missing directory", "symbolic link", "directory"])
def test_a_details_file_that_cannot_be_written_is_refused_before_anything_runs(db, tmp_path, where):
    migrations = tmp_path / "m"
    migrations.mkdir()
    _big_migration(migrations, statements=10)
    target = tmp_path / "elsewhere.json"
    target.write_text("{}", encoding="utf-8")
    details = {"missing directory": tmp_path / "nowhere" / "plan.json",
               "symbolic link": tmp_path / "link.json", "directory": tmp_path / "m"}[where]
    if where == "symbolic link":
        details.symlink_to(target)
    result = run_module("pg_migrate", dict(db.params, migrations_dir=str(migrations), details_file=str(details)))
    message = failed(result)
    assert "details_file" in message and str(details) in message and "Traceback" not in message
    assert target.read_text(encoding="utf-8") == "{}"
    assert db.sql("SELECT count(*) FROM pg_tables WHERE tablename IN ('migration_log', 'hostile_big')") == "0"
