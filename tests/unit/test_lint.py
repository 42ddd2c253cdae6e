# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lint gate: the real squawk on small files, and the policy that classifies what it says."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _lint
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import (
    DEFAULT_LEVELS,
    IGNORE_FILE_ALL,
    LintError,
    classify,
    find_squawk,
    ignore_comments,
    lint_files,
    normalize_pg_version,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import CommandResult, run

from support.paths import MIGRATIONS


@dataclass(frozen=True)
class Sql:
    """A MigrationFile look-alike."""

    path: str
    sql: str
    transactional: bool = True

    @property
    def filename(self) -> str:
        return os.path.basename(self.path)


@pytest.fixture(autouse=True)
def run_command(monkeypatch):
    """squawk runs through _process.run: checked here to be an argument list."""
    def checked(argv, **kwargs):
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)  # never a shell string
        return run(argv, **kwargs)
    monkeypatch.setattr(_lint, "run", checked)


@pytest.fixture(scope="module")
def squawk():
    path = find_squawk(None)
    if not path:
        pytest.fail("squawk is not installed next to the test interpreter nor on PATH: pip install squawk-cli")
    return path


@pytest.fixture
def write(tmp_path):
    def _write(sql, name="010_test.sql", transactional=True, directory=None):
        folder = tmp_path / (directory or "m")
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(sql, encoding="utf-8")
        return Sql(str(path), sql, transactional)
    return _write


def lint(squawk, *files, **kwargs):
    return lint_files(squawk, list(files), "15", **kwargs)


def rules(findings):
    return [(f["line"], f["rule"], f["level"]) for f in findings]


def test_a_long_lock_on_an_existing_table_blocks(squawk, write):
    report = lint(squawk, write("SELECT 1;\n\nALTER TABLE chunks\n    ALTER COLUMN token_count TYPE bigint;\n"))
    # squawk points at the sub-command (line 4), not at the statement's first line
    assert rules(report.blocking) == [(4, "changing-column-type", "error")]
    finding = report.blocking[0]
    assert (finding["file"], finding["statement"], finding["column"]) == ("010_test.sql", 2, 30)  # at TYPE
    assert finding["url"] == "https://squawkhq.com/docs/changing-column-type"
    assert not report.ok
    assert report.satisfied == {"require-lock-timeout": 1, "require-statement-timeout": 1}
    message = report.blocking_message()
    assert "010_test.sql line 4 (statement 2): changing-column-type" in message
    assert "-- squawk-ignore <rule>" in message
    assert report.squawk_version.startswith("2.")
    assert report.pg_version == "15.0"


def test_style_findings_are_warnings_only(squawk, write):
    report = lint(squawk, write("CREATE TABLE notes (id int PRIMARY KEY, body text);\n"))
    assert rules(report.findings) == [(1, "prefer-bigint-over-int", "warning")]
    assert report.ok and report.blocking == []
    assert report.counts == {"error": 0, "warning": 1, "satisfied": 0, "accepted": 0, "files": 1}
    assert report.summary().endswith("on 1 file(s): 0 blocking, 1 warning(s)")


def test_timeouts_the_runner_sets_are_dropped_with_a_count(squawk, write):
    report = lint(squawk, write("ALTER TABLE chunks ADD COLUMN note text;\n"))
    assert report.findings == []
    assert report.satisfied == {"require-lock-timeout": 1, "require-statement-timeout": 1}
    assert "2 satisfied by the runner (require-lock-timeout, require-statement-timeout)" in report.summary()
    as_dict = report.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["ok"] is True and as_dict["counts"]["satisfied"] == 2


def test_squawk_ignore_on_the_line_above_the_flagged_line_accepts_it(squawk, write):
    accepted = write("-- squawk-ignore changing-column-type -- chunks is empty on every install\n"
                     "ALTER TABLE chunks ALTER COLUMN token_count TYPE bigint;\n")
    report = lint(squawk, accepted)
    assert report.ok and report.findings == []
    assert report.ignores == [{"file": "010_test.sql", "line": 1, "scope": "statement",
                               "rules": ["changing-column-type"], "reason": "chunks is empty on every install"}]


def test_squawk_ignore_covers_only_the_next_line_not_the_whole_statement(squawk, write):
    """squawk matches an ignore to the line a finding starts on: in a multi-line
    statement the comment goes right above the flagged sub-command."""
    too_high = ("-- squawk-ignore constraint-missing-not-valid\n"
                "ALTER TABLE ai_memories\n"
                "    ADD COLUMN content_hash text,\n"
                "    ADD CONSTRAINT ck_hash CHECK (content_hash <> '');\n")
    assert rules(lint(squawk, write(too_high)).blocking) == [(4, "constraint-missing-not-valid", "error")]
    right_place = ("ALTER TABLE ai_memories\n"
                   "    ADD COLUMN content_hash text,\n"
                   "    -- squawk-ignore constraint-missing-not-valid -- new column, every value NULL\n"
                   "    ADD CONSTRAINT ck_hash CHECK (content_hash <> '');\n")
    assert lint(squawk, write(right_place, name="011_test.sql")).blocking == []


def test_a_malformed_ignore_comment_blocks(squawk, write):
    # "rule: reason" is read as an unknown rule name: the comment accepts nothing
    report = lint(squawk, write("-- squawk-ignore changing-column-type: it is fine\n"
                                "ALTER TABLE chunks ALTER COLUMN token_count TYPE bigint;\n"))
    assert sorted(f["rule"] for f in report.blocking) == ["changing-column-type", "unused-ignore"]


def test_a_ruleless_file_ignore_silences_squawk_so_it_blocks(squawk, write):
    report = lint(squawk, write("-- squawk-ignore-file\nALTER TABLE chunks ALTER COLUMN token_count TYPE bigint;\n"))
    assert rules(report.blocking) == [(1, IGNORE_FILE_ALL, "error")]
    named = lint(squawk, write("-- squawk-ignore-file changing-column-type -- test data only\n"
                               "ALTER TABLE chunks ALTER COLUMN token_count TYPE bigint;\n", name="011_t.sql"))
    assert named.ok
    assert named.ignores[0]["scope"] == "file"


def test_transactional_files_may_index_a_table_they_create(squawk, write):
    sql = "CREATE TABLE notes (id bigint PRIMARY KEY);\nCREATE INDEX idx_notes_id ON notes (id);\n"
    assert lint(squawk, write(sql)).ok
    outside = lint(squawk, write(sql, name="011_t.sql", transactional=False))
    assert (2, "require-concurrent-index-creation", "error") in rules(outside.blocking)
    assert (1, "prefer-robust-stmts", "warning") in rules(outside.warnings)


def test_a_missing_squawk_is_a_clear_error(write, tmp_path):
    with pytest.raises(LintError, match="squawk is not installed.*squawk-cli"):
        lint_files(None, [write("SELECT 1;")], "15")
    with pytest.raises(LintError, match="is not an executable file"):
        lint_files(str(tmp_path / "bin" / "squawk"), [write("SELECT 1;")], "15")
    assert find_squawk("/opt/elsewhere/squawk") == "/opt/elsewhere/squawk"  # an explicit path is never replaced


def test_squawk_config_files_cannot_change_the_verdict(squawk, write, tmp_path, monkeypatch):
    (tmp_path / ".squawk.toml").write_text('excluded_rules = ["changing-column-type"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    report = lint(squawk, write("ALTER TABLE chunks ALTER COLUMN token_count TYPE bigint;\n"))
    assert [f["rule"] for f in report.blocking] == ["changing-column-type"]


def test_paths_with_glob_characters_are_taken_literally(squawk, write):
    report = lint(squawk, write("CREATE TABLE notes (id int);\n", directory="we[ird]*dir"))
    assert [f["rule"] for f in report.findings] == ["prefer-bigint-over-int"]


def test_caller_levels_and_accepted_rules(squawk, write):
    migration = write("CREATE TABLE notes (id int);\nALTER TABLE chunks ALTER COLUMN token_count TYPE bigint;\n")
    report = lint(squawk, migration, levels={"prefer-bigint-over-int": "error"}, accept=["changing-column-type"])
    assert rules(report.blocking) == [(1, "prefer-bigint-over-int", "error")]
    assert report.accepted == {"changing-column-type": 1}
    with pytest.raises(LintError, match="not one of error, warning, satisfied"):
        lint(squawk, migration, levels={"prefer-bigint-over-int": "fatal"})


def test_policy_defaults():
    assert classify("adding-foreign-key-constraint") == "error"
    assert classify("require-concurrent-index-creation") == "error"
    assert classify("ban-drop-column") == "error"
    assert classify("prefer-robust-stmts") == "warning"
    assert classify("require-lock-timeout") == "satisfied"
    assert classify("a-rule-squawk-adds-next-year") == "error"  # unknown rules block until classified
    assert classify("prefer-robust-stmts", {"prefer-robust-stmts": "error"}) == "error"
    assert set(DEFAULT_LEVELS.values()) == {"error", "warning", "satisfied"}


def fake(rc, out, err=""):
    def _run(argv, **_kwargs):
        if argv[1] == "--version":
            return CommandResult(argv, 0, "squawk 2.70.0\n", "", 0.0)
        return CommandResult(argv, rc, out, err, 0.0)
    return _run


@pytest.mark.parametrize("rc, out, err, match", [
    (1, "", "Failed to find files for provided patterns", r"could not lint 010_x.sql \(exit 1\): Failed to find files"),
    (101, "", "thread 'main' panicked", r"\(exit 101\): thread 'main' panicked"),
    (0, "not json", "", r"\(exit 0\): not json"),
    (1, json.dumps([{"message": "no rule"}]), "", "JSON this gate does not understand"),
])
def test_squawk_failures_stop_the_gate(tmp_path, monkeypatch, rc, out, err, match):
    binary = tmp_path / "squawk"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    monkeypatch.setattr(_lint, "run", fake(rc, out, err))
    with pytest.raises(LintError, match=match):
        lint_files(str(binary), [Sql(str(tmp_path / "010_x.sql"), "SELECT 1")], "15")


def test_unknown_rules_from_squawk_block_and_argv_is_fixed(tmp_path, monkeypatch):
    binary = tmp_path / "squawk"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    seen = []
    finding = {"line": 0, "column": 4, "rule_name": "brand-new-rule", "message": "new", "help": None,
               "level": "Warning"}

    def _run(argv, **_kwargs):
        seen.append(argv)
        return fake(1, json.dumps([finding, finding]))(argv)

    files = [Sql(str(tmp_path / "010_x.sql"), "SELECT 1"), Sql(str(tmp_path / "011_y.sql"), "SELECT 1", False)]
    monkeypatch.setattr(_lint, "run", _run)
    report = lint_files(str(binary), files, 150004)
    assert rules(report.blocking) == [(1, "brand-new-rule", "error"), (1, "brand-new-rule", "error")]  # deduplicated
    assert report.blocking[0]["column"] == 5
    assert seen[1] == [str(binary), "--reporter", "json", "--config", os.devnull, "--pg-version", "15.4",
                       "--assume-in-transaction", str(tmp_path / "010_x.sql")]
    assert seen[2][-2] == "--no-assume-in-transaction"


def test_pg_versions():
    assert normalize_pg_version(15) == "15.0"
    assert normalize_pg_version("15.4 (Debian 15.4-1)") == "15.4"
    assert normalize_pg_version(150004) == "15.4"
    with pytest.raises(LintError):
        normalize_pg_version("latest")


def test_ignore_comments_are_listed_with_their_reasons():
    sql = ("-- squawk-ignore-file prefer-robust-stmts -- whole file\n"
           "/* squawk-ignore ban-drop-column, renaming-column */\n"
           "SELECT 1; -- squawk-ignore require-concurrent-index-creation -- built on an empty table\n"
           "-- a squawk-ignored note\n")
    assert ignore_comments("x.sql", sql) == [
        {"file": "x.sql", "line": 1, "scope": "file", "rules": ["prefer-robust-stmts"], "reason": "whole file"},
        {"file": "x.sql", "line": 2, "scope": "statement", "rules": ["ban-drop-column", "renaming-column"],
         "reason": ""},
        {"file": "x.sql", "line": 3, "scope": "statement", "rules": ["require-concurrent-index-creation"],
         "reason": "built on an empty table"},
    ]


def test_shipped_migrations_lint_without_error(squawk):
    files = [Sql(os.path.join(MIGRATIONS, name), open(os.path.join(MIGRATIONS, name), encoding="utf-8").read())
             for name in sorted(os.listdir(MIGRATIONS)) if name.endswith(".sql") and name[:3].isdigit()]
    report = lint(squawk, *files)
    assert report.files == [f.filename for f in files]
    for finding in report.findings:
        assert finding["level"] in ("error", "warning") and finding["line"] >= 1


def test_findings_name_their_statement_in_a_file_of_many_multiline_statements():
    """The statement of a finding's line is found by bisection (a linear search per finding made a file of
    200,000 flagged statements quadratic); lines inside a statement, between statements and past the end."""
    from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import _statement_at, _statement_index
    from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql

    sql = "".join("-- statement %d\nALTER TABLE t\n  ADD COLUMN c%d int;\n\n" % (i, i) for i in range(1, 1001))
    index = _statement_index(split_sql(sql))
    assert _statement_at(index, 1) is None  # the comment before the first statement
    assert [_statement_at(index, line) for line in (2, 3, 4)] == [1, 1, None]
    assert [_statement_at(index, 4 * 999 + 2), _statement_at(index, 4 * 999 + 3)] == [1000, 1000]
    assert _statement_at(index, 5000) is None
