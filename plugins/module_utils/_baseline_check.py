# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight: a baseline is checked, not trusted.

``baseline_version`` makes pg_migrate record the files up to it as applied on a
database that predates the ledger, without running them. A wrong value (a database
that never received 003) would then run 004 on a schema that lacks what 004 builds
on, or skip what the database needs. For each baselined file, the objects it leaves
behind (tables, views, materialized views, sequences, indexes, functions, types,
columns added: ``_integrity_sql.created_objects``, read from its statements, minus
what it or a later baselined file drops) must exist in the database; a missing one
fails the check, naming the file and the objects. Catalog reads only.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._integrity import (
    DEFAULT_TIMEOUT,
    ReadOnly,
    integrity_checks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._integrity_sql import created_objects
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import is_duration
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import (
    FAIL,
    LOCK_TIMEOUT,
    PASS,
    WARN,
    make_check,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_generic import generic_checks

_RELKINDS = {"table": ("r", "p"), "view": ("v",), "materialized view": ("m",), "sequence": ("S",),
             "index": ("i", "I")}


def _split(name: str) -> tuple[str | None, str]:
    """``schema.name`` / ``name`` as written (rendered by the lock analysis) -> (schema or None, name), unquoted."""
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p for p in _parts(name)]
    return (parts[0], parts[-1]) if len(parts) > 1 else (None, parts[0])


def _parts(name: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in name:
        if char == '"':
            quoted = not quoted
        if char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def exists(db: ReadOnly, item: dict[str, str]) -> bool:
    """Whether the object ``{kind, name[, table]}`` is in the database (search_path for unqualified names)."""
    kind = item["kind"]
    if kind in _RELKINDS:
        rows, _error = db.rows("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(%s)", (item["name"],))
        return bool(rows) and rows[0][0] in _RELKINDS[kind]
    if kind == "column":
        rows, _error = db.rows("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
                               "AND attnum > 0 AND NOT attisdropped", (item["table"], _split(item["name"])[1]))
        return bool(rows)
    if kind == "type":
        rows, _error = db.rows("SELECT to_regtype(%s) IS NOT NULL", (item["name"],))
        return bool(rows and rows[0][0])
    schema, name = _split(item["name"])
    rows, _error = db.rows(
        "SELECT 1 FROM pg_proc WHERE proname = %s AND pronamespace::regnamespace::text = ANY ("
        "CASE WHEN %s::text IS NULL THEN current_schemas(false)::text[] ELSE ARRAY[quote_ident(%s)] END)",
        (name, schema, schema))
    return bool(rows)


def _describe(item: dict[str, str]) -> str:
    if item["kind"] == "column":
        return "column %s.%s" % (item["table"], item["name"])
    return "%s %s" % (item["kind"], item["name"])


def baseline_checks(conn: Any, baselined: list[Any], baseline_version: str | None = None,
                    statement_timeout: str = "30s") -> list[dict[str, Any]]:
    """One check per baselined file (MigrationFile list, in order): every object it leaves must exist."""
    if not baselined:
        return [make_check("baseline", PASS, {"files": 0}, None,
                           "Nothing is baselined: no file is recorded as applied without running.")]
    version = baseline_version or baselined[-1].version
    objects = created_objects(baselined)
    checks = []
    with ReadOnly(conn, statement_timeout) as db:
        for migration in baselined:
            expected = objects[migration.filename]
            missing = [item for item in expected if not exists(db, item)]
            observed = {"file": migration.filename, "objects": len(expected), "missing": len(missing)}
            if not missing:
                checks.append(make_check("baseline:%s" % migration.filename, PASS, observed, 0,
                                         "baseline_version %s: the %d object(s) %s creates are in the database."
                                         % (version, len(expected), migration.filename)))
                continue
            shown = ", ".join(_describe(item) for item in missing[:5])
            more = " and %d more" % (len(missing) - 5) if len(missing) > 5 else ""
            checks.append(make_check(
                "baseline:%s" % migration.filename, FAIL, observed, 0,
                "baseline_version %s says %s is applied, but %s %s not exist%s: check baseline_version (the last "
                "migration whose schema this database really holds), or apply what is missing first."
                % (version, migration.filename, shown, "does" if len(missing) == 1 else "do", more),
                details=[_describe(item) for item in missing]))
    return checks


# -- as pg_preflight's checks (``_preflight_job.CHECKS``: a function of the job) -------------------------

def _timeout(job: Any) -> str:
    value = job.params.get("integrity_timeout") or DEFAULT_TIMEOUT
    if not is_duration(value):
        raise OptionError("integrity_timeout=%r is not a PostgreSQL duration (examples: 30s, 500ms, 2min)." % value)
    return str(value)


def _no_plan(name: str, job: Any) -> list[dict[str, Any]]:
    return [make_check(name, WARN, None, None, "Not checked: pg_migrate's plan could not be read (%s)."
                       % (job.plan_error or "no plan"))]


def data_integrity(job: Any) -> list[dict[str, Any]]:
    """The existing rows that would break the constraints the pending files add (``_integrity``)."""
    if job.migration_plan is None:
        return _no_plan("data_integrity", job)
    return integrity_checks(job.conn, job.pending, _timeout(job))


def database_health(job: Any) -> list[dict[str, Any]]:
    """The database as it is, before anything is written: the generic checks pg_validate runs after every phase
    (``_validate_generic``: invalid indexes, NOT VALID constraints, disabled triggers, sequences behind their column,
    orphaned rows). A constraint left NOT VALID warns, as between a schema phase and its data phase."""
    found = generic_checks(job.conn, "schema", _timeout(job), LOCK_TIMEOUT, job.params["orphan_check_max_rows"])
    return [make_check(c["name"], c["status"], c["observed"], c["expected"], c["message"]) for c in found]


def baseline(job: Any) -> list[dict[str, Any]]:
    """The objects of every file baseline_version would record as applied must exist."""
    if job.migration_plan is None:
        return _no_plan("baseline", job)
    return baseline_checks(job.conn, job.baselined, job.params.get("baseline_version"), _timeout(job))


__all__ = ["baseline_checks", "exists", "data_integrity", "database_health", "baseline"]
