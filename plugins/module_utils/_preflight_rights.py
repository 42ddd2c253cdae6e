# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the migration user can really do, asked of PostgreSQL rather than guessed from role names.

* CREATE on each schema the pending files create objects in (the current schema for unqualified names,
  the schema of a qualified one) and on the ledger's schema while the ledger does not exist yet
  (``has_schema_privilege``; a schema that does not exist yet needs CREATE on the database);
* on each relation the pending files touch and do not create (``_preflight_plan.requirements``):
  ownership, that is membership in the owning role (``pg_has_role(owner, 'USAGE')``, what PostgreSQL
  itself tests for ALTER, DROP, CREATE INDEX ...), or a table privilege (``has_table_privilege``);
* SELECT, INSERT and UPDATE on an existing ledger;
* when the run takes backups (``backup_count``): SELECT on every table and sequence, and USAGE on every schema, that
  pg_dump of the whole database reads (``_catalog.unreadable_relations``). pg_dump stops at the first
  one it may not read, and a recovery point that cannot be taken fails the run at its first write.

A superuser passes with observed "superuser". Read-only: catalog functions only.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import unreadable_relations
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import FAIL, PASS, make_check
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_plan import OWNER, requirements
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import psycopg2

LEDGER_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")


def _one(cur: Any, query: str, args: Any = None) -> Any:
    cur.execute(query, args)
    return cur.fetchone()


def _relation(cur: Any, name: str) -> tuple[int, str, bool] | None:
    """(oid, owner, member of the owner) of ``name`` (SQL name syntax), or None when it does not exist."""
    try:
        row = _one(cur, "SELECT c.oid::bigint, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE') "
                        "FROM pg_class c WHERE c.oid = to_regclass(%s)", (name,))
    except psycopg2.Error:
        return None  # not a name PostgreSQL can parse ("?" from the lock analysis): nothing to ask
    return (int(row[0]), row[1], bool(row[2])) if row else None


def schemas_needed(cur: Any, job: Any) -> list[str]:
    """The schemas the run creates objects in: the current schema, those of qualified created relations, and the
    ledger's while it does not exist."""
    schemas: list[str] = []
    current = _one(cur, "SELECT current_schema()")[0]
    if job.migration_plan is not None and job.migration_plan.pending:
        schemas.append(current or "public")
        for name in sorted(job.created):
            if "." in name and not name.startswith('"'):
                schemas.append(name.split(".", 1)[0])
    if job.migration_plan is None or not job.ledger_exists:
        schemas.append(job.params.get("ledger_schema") or "public")
    return sorted(set(schemas))


def _schema_gaps(cur: Any, schemas: list[str]) -> list[str]:
    gaps = []
    for schema in schemas:
        exists = _one(cur, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,))[0]
        if exists:
            if not _one(cur, "SELECT has_schema_privilege(%s, 'CREATE')", (schema,))[0]:
                gaps.append("CREATE on schema %s (GRANT CREATE ON SCHEMA %s TO <user>)" % (schema, schema))
        elif not _one(cur, "SELECT has_database_privilege(current_database(), 'CREATE')")[0]:
            gaps.append("CREATE on the database, for the new schema %s (GRANT CREATE ON DATABASE ...)" % schema)
    return gaps


def _relation_gaps(cur: Any, needs: list[dict[str, Any]]) -> tuple[list[str], int]:
    """What is missing for ``needs``, and how many existing relations were asked about."""
    gaps, asked = [], set()
    for item in needs:
        found = _relation(cur, item["relation"])
        if found is None:
            continue  # created by a pending file under another spelling, or dropped with IF EXISTS
        oid, owner, member = found
        asked.add(oid)
        where = "%s statement %d, line %d: %s" % (item["file"], item["statement"], item["line"], item["summary"])
        if item["need"] == (OWNER,):
            if not member:
                gaps.append("ownership of %s (owner %s): needed by %s. Run as %s, or GRANT %s TO <user>"
                            % (item["relation"], owner, where, owner, owner))
        elif not _one(cur, "SELECT has_table_privilege(%s::oid, %s)", (oid, ", ".join(item["need"])))[0]:
            gaps.append("%s on %s: needed by %s. GRANT %s ON %s TO <user>" % (
                " or ".join(item["need"]), item["relation"], where, item["need"][0], item["relation"]))
    return gaps, len(asked)


def _ledger_gaps(cur: Any, job: Any) -> list[str]:
    if not job.ledger_exists:
        return []
    name = job.ledger_name
    found = _relation(cur, name)
    if found is None:
        return []
    gaps = []
    for privilege in LEDGER_PRIVILEGES:
        if not _one(cur, "SELECT has_table_privilege(%s::oid, %s)", (found[0], privilege))[0]:
            gaps.append("%s on the ledger %s (GRANT %s ON %s TO <user>)" % (privilege, name, privilege, name))
    return gaps


def _dump_gaps(cur: Any) -> list[str]:
    """What the backups' pg_dump could not read (``_catalog.unreadable_relations``)."""
    gaps = []
    for kind, schema, name, no_usage in unreadable_relations(cur):
        qualified = "%s.%s" % (schema, name)
        if no_usage:
            gaps.append("USAGE on schema %s, which the backups read (%s %s) (GRANT USAGE ON SCHEMA %s TO <user>)"
                        % (schema, kind, qualified, schema))
        else:
            gaps.append("SELECT on %s %s, which the backups read (GRANT SELECT ON %s%s TO <user>)"
                        % (kind, qualified, "SEQUENCE " if kind == "sequence" else "", qualified))
    return gaps


def privileges_check(job: Any) -> dict[str, Any]:
    """Can the migration user run the pending files, write the ledger, and read what the backups dump?"""
    with job.conn.cursor() as cur:
        user, superuser = _one(cur, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        if superuser:
            return make_check("privileges", PASS, "superuser", None, "%s is a superuser: it may do anything." % user)
        schemas = schemas_needed(cur, job)
        gaps = _schema_gaps(cur, schemas) + _ledger_gaps(cur, job)
        needs = requirements(job.migration_plan) if job.migration_plan is not None else []
        relation_gaps, asked = _relation_gaps(cur, needs)
        # what the migration itself needs first, then what only its backups need
        gaps += relation_gaps + (_dump_gaps(cur) if job.params.get("backup_count") else [])
    observed = {"user": user, "schemas": schemas, "relations_checked": asked, "missing": len(gaps)}
    threshold = {"missing": 0}
    scope = "" if job.migration_plan is not None else (
        " Only the schemas were checked: the plan could not be read (see pending_migrations).")
    if not gaps:
        return make_check("privileges", PASS, observed, threshold,
                          "%s may create objects in %s and do what the pending files do on the %d existing "
                          "relation(s) they touch%s.%s" % (user, ", ".join(schemas) or "no schema", asked,
                                                           ", and read every table the backups dump"
                                                           if job.params.get("backup_count") else "", scope))
    return make_check("privileges", FAIL, observed, threshold,
                      "%s lacks %d right(s) the migration needs: %s. Grant them, or run the migration as the "
                      "owner of the tables.%s" % (user, len(gaps), "; ".join(gaps[:3]) + (
                          "; ..." if len(gaps) > 3 else ""), scope), gaps)


__all__ = ["LEDGER_PRIVILEGES", "schemas_needed", "privileges_check"]
