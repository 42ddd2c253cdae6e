# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The expectation files beside the migrations, and the checks they give.

``migrations/expectations/<version>_<name>.yml`` says what a migration must have left: its ``tables``, ``views``,
``functions`` (names, or dicts with ``name`` and the ``arguments``, ``config`` and ``security_definer`` it runs
with), ``indexes`` (and ``min_indexes``), ``foreign_keys`` and ``columns_added`` (the schema phase), and
``invariants`` (the data phase): SELECTs returning one integer, the number of rows that violate them. A version
without a file is a warning (a project need not write them); keys this module does not know are named in the result
and not checked (the behaviour 006's ``allowed_tables``/``refused`` describe needs calls that write).

Every check is a dict ``{name, phase, status, observed, expected, message}``; a failing one names the object and
the file: "index idx_kg_entities_entity_type (004_hybrid_rag_schema.yml) is missing". The catalog is read once
(``catalog_facts``); invariants run each in its own READ ONLY transaction with a statement_timeout.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import psycopg2

try:
    from ansible.module_utils.common.yaml import HAS_YAML, yaml_load
except ImportError:  # pragma: no cover - ansible-core without the helper
    HAS_YAML = False
    yaml_load = None

FILE_PATTERN = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.ya?ml$", re.ASCII)
SCHEMA_KEYS = ("tables", "views", "functions", "indexes", "min_indexes", "foreign_keys", "columns_added")
DATA_KEYS = ("invariants",)
RELKINDS = {"tables": ("r", "p"), "views": ("v", "m")}
SINGULAR = {"tables": "table", "views": "view", "indexes": "index", "foreign_keys": "foreign key",
            "functions": "function"}


class ExpectationError(Failure):
    """An expectation file cannot be read or does not have the shape this module reads."""


def check(name: str, phase: str, status: str, observed: Any, expected: Any, message: str) -> dict[str, Any]:
    """One entry of the result's ``checks``."""
    return {"name": name, "phase": phase, "status": status, "observed": observed, "expected": expected,
            "message": message}


# -- the files ------------------------------------------------------------------------------------


def expectation_files(directory: str) -> dict[int, str]:
    """The expectation files of ``directory`` by version number (two files for one version: an error)."""
    if not os.path.isdir(directory):
        raise ExpectationError("expectations directory %s does not exist or is not a directory: give the "
                               "directory that holds <version>_<name>.yml (migrations/expectations)." % directory)
    names = [e for e in sorted(os.listdir(directory))
             if FILE_PATTERN.match(e) and os.path.isfile(os.path.join(directory, e))]
    return {v: os.path.join(directory, n) for v, n in by_version(names, " in %s" % directory).items()}


def by_version(names: list[str], where: str = "") -> dict[int, str]:
    """Expectation file names (each matching FILE_PATTERN, in order) by version number; two for one version are
    an error naming both (``where``: " in <directory>", for the message)."""
    found: dict[int, str] = {}
    for name in names:
        digits = FILE_PATTERN.match(name).group("version")
        if int(digits) in found:
            raise ExpectationError("Two expectation files for version %s%s: %s and %s. Keep one."
                                   % (digits, where, found[int(digits)], name))
        found[int(digits)] = name
    return found


def load_expectations(path: str) -> dict[str, Any]:
    """One expectation file read and parsed (PyYAML), its shape checked (``check_shape``)."""
    name = os.path.basename(path)
    if not HAS_YAML:
        raise ExpectationError("PyYAML is not installed on this host, so %s cannot be read. Install python3-yaml "
                               "(or pip install PyYAML) for the interpreter Ansible uses, or give "
                               "expectations_source (read on the controller) instead of expectations_dir." % name)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpectationError("Cannot read expectation file %s: %s." % (path, exc)) from None
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any YAML error
        raise ExpectationError("Expectation file %s is not valid YAML: %s" % (path, first_line(exc))) from None
    return check_shape(name, data, path)


def check_shape(name: str, data: Any, where: str = "") -> dict[str, Any]:
    """An expectation file's parsed content, its shape checked (lists of names, invariants with name and sql).
    ``name`` is the file's name, ``where`` its path (for the messages)."""
    where = where or name
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ExpectationError("Expectation file %s must hold a mapping (tables:, indexes:, invariants: ...)." % where)
    for key in ("tables", "views", "indexes", "foreign_keys"):
        if not _names(data.get(key, [])):
            raise ExpectationError("%s: %s must be a list of names." % (name, key))
    for item in data.get("functions") or []:
        if not isinstance(item, str) and not (isinstance(item, dict) and isinstance(item.get("name"), str)):
            raise ExpectationError("%s: each entry of functions is a name or a mapping with a name." % name)
    columns = data.get("columns_added") or {}
    if not isinstance(columns, dict) or not all(_names(v) for v in columns.values()):
        raise ExpectationError("%s: columns_added maps a table to a list of column names." % name)
    if "min_indexes" in data and (not isinstance(data["min_indexes"], int) or isinstance(data["min_indexes"], bool)):
        raise ExpectationError("%s: min_indexes must be a number." % name)
    for item in data.get("invariants") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("sql"), str):
            raise ExpectationError("%s: each invariant needs a name and an sql (one SELECT returning one integer)."
                                   % name)
    return data


# -- handed over from the controller ---------------------------------------------------------------

HANDOFF_OPTION = "_expectations"


def read_source(directory: str) -> dict[str, dict[str, Any]]:
    """Every expectation file of ``directory`` (on the controller), parsed and checked: {file name: content}.
    The pg_validate action plugin hands this to the module in ``_expectations``, so the host needs no PyYAML."""
    return {os.path.basename(path): load_expectations(path) for path in expectation_files(directory).values()}


def handed_files(handed: Any) -> dict[int, tuple[str, dict[str, Any]]]:
    """``_expectations`` as the module received it: {version: (file name, content)}, each checked again."""
    if not isinstance(handed, dict):
        raise ExpectationError("%s must map expectation file names to their content. It is set by the pg_validate "
                               "action plugin from expectations_source; do not set it." % HANDOFF_OPTION)
    names = [str(n) for n in sorted(handed)]
    for name in names:
        if not FILE_PATTERN.match(name):
            raise ExpectationError("%s: %r is not an expectation file name (<version>_<name>.yml)."
                                   % (HANDOFF_OPTION, name))
    return {v: (n, check_shape(n, handed[n])) for v, n in by_version(names).items()}


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def not_checked_keys(data: dict[str, Any]) -> list[str]:
    """The keys of an expectation file this module does not check."""
    return sorted(k for k in data if k not in SCHEMA_KEYS + DATA_KEYS)


# -- what the catalog holds -----------------------------------------------------------------------

_RELATIONS = """
SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (current_schemas(false))
"""
_INDEXES = """
SELECT c.relname, i.indisvalid AND i.indisready, t.relname,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (current_schemas(false))
"""
_CONSTRAINTS = """
SELECT k.conname, k.contype::text FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
 WHERE n.nspname = ANY (current_schemas(false))
"""
_FUNCTIONS = """
SELECT p.proname, pg_get_function_arguments(p.oid), coalesce(p.proconfig, '{}'), p.prosecdef
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY (current_schemas(false))
"""
_COLUMNS = """
SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY (current_schemas(false)) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
"""


def catalog_facts(cur: Any) -> dict[str, Any]:
    """Relations, indexes, constraints, functions and columns of the schemas on the search_path, read once."""
    facts: dict[str, Any] = {"relations": {}, "indexes": {}, "constraints": {}, "functions": {}, "columns": set()}
    cur.execute(_RELATIONS)
    for name, kind in cur.fetchall():
        facts["relations"].setdefault(name, set()).add(kind)
    cur.execute(_INDEXES)
    for name, valid, table, implicit in cur.fetchall():
        facts["indexes"][name] = {"valid": bool(valid), "table": table, "implicit": bool(implicit)}
    cur.execute(_CONSTRAINTS)
    for name, kind in cur.fetchall():
        facts["constraints"].setdefault(name, set()).add(kind)
    cur.execute(_FUNCTIONS)
    for name, arguments, config, definer in cur.fetchall():
        facts["functions"].setdefault(name, []).append(
            {"arguments": arguments, "config": list(config), "security_definer": bool(definer)})
    cur.execute(_COLUMNS)
    facts["columns"] = set(cur.fetchall())
    return facts


# -- the schema phase ------------------------------------------------------------------------------


def _present(key: str, name: str, facts: dict[str, Any]) -> bool:
    if key in RELKINDS:
        return bool(facts["relations"].get(name, set()) & set(RELKINDS[key]))
    if key == "indexes":
        return name in facts["indexes"]
    if key == "foreign_keys":
        return "f" in facts["constraints"].get(name, set())
    return name in facts["functions"]


def _listing(key: str, names: list[str], label: str, facts: dict[str, Any]) -> dict[str, Any]:
    missing = [n for n in names if not _present(key, n, facts)]
    problems = ["%s %s (%s) is missing" % (SINGULAR[key], n, label) for n in missing]
    if key == "indexes":
        problems += ["index %s (%s) is invalid (a failed CREATE INDEX CONCURRENTLY): drop it and build it again"
                     % (n, label) for n in names if n in facts["indexes"] and not facts["indexes"][n]["valid"]]
    observed = "%d of %d present" % (len(names) - len(missing), len(names))
    return check("%s (%s)" % (key, label), "schema", "fail" if problems else "pass", observed,
                 "%d %s" % (len(names), key), "; ".join(problems) or "every %s of %s exists" % (SINGULAR[key], label))


def schema_checks(data: dict[str, Any], label: str, facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema phase's checks of one expectation file (``label`` is its file name)."""
    out = []
    for key in ("tables", "views", "indexes", "foreign_keys"):
        if data.get(key):
            out.append(_listing(key, data[key], label, facts))
    functions = data.get("functions") or []
    if functions:
        out.append(_listing("functions", [f if isinstance(f, str) else f["name"] for f in functions], label, facts))
        settings = [f for f in functions if isinstance(f, dict) and len(f) > 1]
        if settings:
            out.append(_function_settings(settings, label, facts))
    if "min_indexes" in data:
        out.append(_min_indexes(data, label, facts))
    columns = data.get("columns_added") or {}
    if columns:
        wanted = [(t, c) for t, cols in sorted(columns.items()) for c in cols]
        missing = ["column %s.%s (%s) is missing" % (t, c, label) for t, c in wanted if (t, c) not in facts["columns"]]
        out.append(check("columns_added (%s)" % label, "schema", "fail" if missing else "pass",
                         "%d of %d present" % (len(wanted) - len(missing), len(wanted)), "%d columns" % len(wanted),
                         "; ".join(missing) or "every column %s adds exists" % label))
    return out


def _min_indexes(data: dict[str, Any], label: str, facts: dict[str, Any]) -> dict[str, Any]:
    """At least ``min_indexes`` explicit indexes (not behind a primary key or UNIQUE constraint) on the tables the
    file creates, or among its listed indexes when it creates no table."""
    tables = set(data.get("tables") or [])
    listed = set(data.get("indexes") or [])
    if tables:
        found = [n for n, i in facts["indexes"].items() if i["table"] in tables and not i["implicit"]]
        where = "on the tables %s creates" % label
    else:
        found = [n for n in listed if n in facts["indexes"]]
        where = "among the indexes %s lists" % label
    wanted = int(data["min_indexes"])
    ok = len(found) >= wanted
    return check("min_indexes (%s)" % label, "schema", "pass" if ok else "fail", len(found), ">= %d" % wanted,
                 "%d indexes %s (at least %d expected)%s" % (len(found), where, wanted, "" if ok else ": too few"))


def _function_settings(functions: list[dict[str, Any]], label: str, facts: dict[str, Any]) -> dict[str, Any]:
    problems = []
    for spec in functions:
        found = facts["functions"].get(spec["name"]) or []
        if not found:
            continue  # named missing by the functions check
        if "arguments" in spec:
            found = [f for f in found if f["arguments"] == spec["arguments"]]
            if not found:
                problems.append("function %s(%s) (%s) is missing: other signatures exist"
                                % (spec["name"], spec["arguments"], label))
                continue
        for fact in found:
            if "config" in spec and sorted(fact["config"]) != sorted(spec["config"] or []):
                problems.append("function %s (%s) runs with settings %s, expected %s"
                                % (spec["name"], label, fact["config"] or "none", spec["config"] or "none"))
            if "security_definer" in spec and fact["security_definer"] != bool(spec["security_definer"]):
                problems.append("function %s (%s) is %s, expected %s" % (
                    spec["name"], label, _definer(fact["security_definer"]), _definer(spec["security_definer"])))
    return check("function settings (%s)" % label, "schema", "fail" if problems else "pass",
                 "%d problem(s)" % len(problems), "arguments, config, security_definer as listed",
                 "; ".join(problems) or "every function of %s has its arguments and settings" % label)


def _definer(value: Any) -> str:
    return "SECURITY DEFINER" if value else "SECURITY INVOKER"


# -- the data phase --------------------------------------------------------------------------------


def invariant_checks(conn: Any, data: dict[str, Any], label: str, statement_timeout: str,
                     lock_timeout: str) -> list[dict[str, Any]]:
    """Each invariant of one file in its own READ ONLY transaction, with the timeouts; 0 violating rows passes."""
    out = []
    for item in data.get("invariants") or []:
        name = "invariant %s (%s)" % (item["name"], label)
        description = " ".join(str(item.get("description") or "").split())
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN READ ONLY")
                try:
                    cur.execute("SET LOCAL statement_timeout = %s", (statement_timeout,))
                    cur.execute("SET LOCAL lock_timeout = %s", (lock_timeout,))
                    cur.execute(item["sql"])
                    rows = cur.fetchall() if cur.description else []
                finally:
                    cur.execute("ROLLBACK")
        except psycopg2.Error as exc:
            if conn.closed:
                raise
            out.append(check(name, "data", "fail", None, 0, "invariant %s (%s) could not run: %s"
                             % (item["name"], label, first_line(exc))))
            continue
        value = rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else None
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(check(name, "data", "fail", repr(rows[:2]), 0, "invariant %s (%s) returned %r, not one row "
                             "with one integer: fix its sql" % (item["name"], label, rows[:2])))
        elif value:
            out.append(check(name, "data", "fail", value, 0, "invariant %s (%s) is broken: %d row(s) violate it (%s)"
                             % (item["name"], label, value, description or "see the file")))
        else:
            out.append(check(name, "data", "pass", 0, 0, "invariant %s (%s) holds" % (item["name"], label)))
    return out


def new_tables(expectations: list[tuple[str, dict[str, Any]]], facts: dict[str, Any]) -> list[str]:
    """The tables the validated versions create (their ``tables``) that exist."""
    names: list[str] = []
    for _label, data in expectations:
        names += [t for t in data.get("tables") or [] if t not in names]
    return [t for t in names if _present("tables", t, facts)]
