# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The expectation files and the schema checks they give, on catalog facts written by hand (no database)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_expect import (
    ExpectationError,
    expectation_files,
    handed_files,
    load_expectations,
    new_tables,
    not_checked_keys,
    read_source,
    schema_checks,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPECTATIONS = os.path.join(REPO, "migrations", "expectations")


def facts(**kw):
    base = {"relations": {}, "indexes": {}, "constraints": {}, "functions": {}, "columns": set()}
    base.update(kw)
    return base


def test_the_repositorys_expectation_files_are_read():
    files = expectation_files(EXPECTATIONS)
    assert sorted(files) == [4, 5, 6]
    data = load_expectations(files[4])
    assert len(data["tables"]) == 19 and data["min_indexes"] == 30
    assert not_checked_keys(load_expectations(files[6])) == ["allowed_columns", "allowed_tables", "refused"]
    assert len(load_expectations(files[5])["invariants"]) == 16  # orphaned rows are the generic check's


def test_two_files_for_one_version_and_bad_shapes_are_refused(tmp_path):
    (tmp_path / "004_a.yml").write_text("tables: [a]\n", encoding="utf-8")
    (tmp_path / "004_b.yaml").write_text("tables: [b]\n", encoding="utf-8")
    with pytest.raises(ExpectationError, match="Two expectation files for version 004"):
        expectation_files(str(tmp_path))
    bad = tmp_path / "007_x.yml"
    for text, match in (("tables: a\n", "tables must be a list"), ("- a\n", "must hold a mapping"),
                        ("invariants: [{name: x}]\n", "each invariant needs"), ("tables: [\n", "not valid YAML"),
                        ("min_indexes: many\n", "min_indexes must be a number")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ExpectationError, match=match):
            load_expectations(str(bad))
    with pytest.raises(ExpectationError, match="does not exist"):
        expectation_files(str(tmp_path / "none"))


def test_the_files_read_on_the_controller_reach_the_module_as_they_were_read(tmp_path):
    handed = read_source(EXPECTATIONS)  # what the action plugin hands over in _expectations
    assert sorted(handed) == ["004_hybrid_rag_schema.yml", "005_data_migration.yml",
                              "006_harden_rollback_functions.yml"]
    files = handed_files(handed)
    assert sorted(files) == [4, 5, 6]
    assert files[4] == ("004_hybrid_rag_schema.yml", load_expectations(os.path.join(EXPECTATIONS, files[4][0])))
    (tmp_path / "004_x.yml").write_text("tables: [\n", encoding="utf-8")
    with pytest.raises(ExpectationError, match="004_x.yml is not valid YAML"):
        read_source(str(tmp_path))


def test_a_hand_over_not_made_by_the_action_plugin_is_refused():
    for handed, match in ((["004_a.yml"], "must map expectation file names"),
                          ({"notes.txt": {}}, "not an expectation file name"),
                          ({"004_a.yml": {}, "004_b.yml": {}}, "Two expectation files for version 004"),
                          ({"004_a.yml": {"tables": "a"}}, "004_a.yml: tables must be a list")):
        with pytest.raises(ExpectationError, match=match):
            handed_files(handed)


def test_each_missing_object_is_named_with_its_file():
    data = {"tables": ["t1", "t2"], "views": ["v1"], "indexes": ["i1", "i2"], "foreign_keys": ["fk1"],
            "functions": ["f1"], "columns_added": {"old": ["c1", "c2"]}}
    invalid = {"i1": {"valid": False, "table": "t1", "implicit": False}}
    have = facts(relations={"t1": {"r"}, "v1": {"r"}}, indexes=invalid,
                 constraints={"fk1": {"c"}}, functions={"f1": [{}]}, columns={("old", "c1")})
    checks = {c["name"]: c for c in schema_checks(data, "004_x.yml", have)}
    assert checks["tables (004_x.yml)"]["message"] == "table t2 (004_x.yml) is missing"
    assert checks["views (004_x.yml)"]["message"] == "view v1 (004_x.yml) is missing"  # a table, not a view
    assert checks["indexes (004_x.yml)"]["message"].startswith(
        "index i2 (004_x.yml) is missing; index i1 (004_x.yml) is invalid")
    assert checks["foreign_keys (004_x.yml)"]["message"] == "foreign key fk1 (004_x.yml) is missing"
    assert checks["columns_added (004_x.yml)"]["message"] == "column old.c2 (004_x.yml) is missing"
    assert checks["functions (004_x.yml)"]["status"] == "pass"
    assert {c["status"] for n, c in checks.items() if n != "functions (004_x.yml)"} == {"fail"}


def test_min_indexes_counts_the_explicit_indexes_on_the_files_tables():
    data = {"tables": ["t"], "min_indexes": 2}
    idx = {"i1": {"valid": True, "table": "t", "implicit": False},
           "t_pkey": {"valid": True, "table": "t", "implicit": True}}
    check = schema_checks(data, "f.yml", facts(relations={"t": {"r"}}, indexes=idx))
    assert [(c["name"], c["status"], c["observed"]) for c in check] == [
        ("tables (f.yml)", "pass", "1 of 1 present"), ("min_indexes (f.yml)", "fail", 1)]
    idx["i2"] = {"valid": True, "table": "t", "implicit": False}
    assert schema_checks(data, "f.yml", facts(relations={"t": {"r"}}, indexes=idx))[1]["status"] == "pass"


def test_function_settings_are_compared():
    data = {"functions": [{"name": "f", "arguments": "p text", "config": ["search_path=pg_catalog, pg_temp"],
                           "security_definer": False}]}
    good = {"f": [{"arguments": "p text", "config": ["search_path=pg_catalog, pg_temp"], "security_definer": False}]}
    assert [c["status"] for c in schema_checks(data, "6.yml", facts(functions=good))] == ["pass", "pass"]
    loose = {"f": [{"arguments": "p text", "config": [], "security_definer": True}]}
    message = schema_checks(data, "6.yml", facts(functions=loose))[1]["message"]
    assert "function f (6.yml) runs with settings none, expected ['search_path=pg_catalog, pg_temp']" in message
    assert "function f (6.yml) is SECURITY DEFINER, expected SECURITY INVOKER" in message
    other = {"f": [{"arguments": "p integer", "config": [], "security_definer": False}]}
    assert "function f(p text) (6.yml) is missing" in schema_checks(data, "6.yml", facts(functions=other))[1][
        "message"]


def test_new_tables_are_those_of_the_files_that_exist():
    files = [("4.yml", {"tables": ["a", "b"]}), ("7.yml", {"tables": ["b", "c"]})]
    assert new_tables(files, facts(relations={"a": {"r"}, "c": {"p"}, "b": {"v"}})) == ["a", "c"]
