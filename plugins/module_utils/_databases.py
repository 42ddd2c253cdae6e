# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole databases: rights, sessions, draining, copies of their properties, renames, swaps, drops.

A database is copied (``CREATE DATABASE ... TEMPLATE``) or renamed only without any
other session on it. So: new connections are refused (ALLOW_CONNECTIONS false)
while its sessions drain, for at most a timeout; sessions still there are listed
and the run fails, unless told to end them. The database accepts connections again
as soon as the work is done (also on failure).

A swap puts a replacement in place of a live database by renames: drain the live
one, then in ONE transaction rename it aside (``<db>_pre_restore_<ts>``) and the
replacement to its name, so that no crash leaves the application's name without a
database. Both need CREATEDB and ownership of the databases, checked up front. All
of this runs on a connection to the maintenance database (``maintenance``), never to
the databases being copied or renamed. Every state a database is put in is journaled
with it (``_db_states``): a crash leaves nothing that the next run does not undo.
"""

from __future__ import annotations

import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._activity import AUTOVACUUM_WORKER
from ansible_collections.knowledgehub.migration.plugins.module_utils._db_states import (
    Journal,
    allow_sql,
    comment_sql,
    transaction,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target, pgsql, psycopg2

MAX_NAME = 63
OBJECT_IN_USE = "55006"


class DatabaseError(Failure):
    """A database cannot be drained, copied, renamed or dropped as asked, or the role lacks the rights to."""


def maintenance(target: Target, maintenance_db: str | None, purpose: str) -> Any:
    """An autocommit connection to the maintenance database, where databases are created, renamed and dropped."""
    return target.on(maintenance_db or "postgres").connect(purpose, autocommit=True)


def ident(name: str) -> Any:
    return pgsql.Identifier(name)


def timestamp_name(base: str, infix: str, now: Any) -> str:
    name = "%s_%s_%s" % (base, infix, now.strftime("%Y%m%d%H%M%S"))
    if len(name.encode("utf-8")) > MAX_NAME:
        raise DatabaseError("The database name %s would be longer than PostgreSQL's %d bytes; the source database's "
                            "name is too long for a %s copy." % (name, MAX_NAME, infix))
    return name


def free_name(cur: Any, name: str) -> str:
    candidate = name
    number = 1
    while database(cur, candidate) is not None:
        number += 1
        candidate = "%s_%d" % (name, number)
    return candidate


# -- reading -----------------------------------------------------------------------------


def rights(cur: Any) -> dict[str, Any]:
    cur.execute("SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return {"user": row[0], "superuser": bool(row[1]), "createdb": bool(row[2])}


def database(cur: Any, name: str) -> dict[str, Any] | None:
    cur.execute("SELECT oid::bigint, pg_get_userbyid(datdba), datallowconn, datistemplate, "
                "shobj_description(oid, 'pg_database'), pg_database_size(oid) FROM pg_database WHERE datname = %s",
                (name,))
    row = cur.fetchone()
    if row is None:
        return None
    return {"oid": int(row[0]), "owner": row[1], "allow_connections": bool(row[2]), "is_template": bool(row[3]),
            "comment": row[4], "size_bytes": int(row[5])}


def require_rights(cur: Any, what: str, databases: list[str]) -> dict[str, Any]:
    """CREATEDB and ownership of ``databases`` (or superuser), checked before anything is done."""
    me = rights(cur)
    if me["superuser"]:
        return me
    problems = []
    if not me["createdb"]:
        problems.append("role %s lacks the CREATEDB privilege (ALTER ROLE %s CREATEDB)" % (me["user"], me["user"]))
    for name in databases:
        row = database(cur, name)
        if row is not None and row["owner"] != me["user"]:
            cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (row["owner"],))
            if not cur.fetchone()[0]:
                problems.append("database %s is owned by %s, not by %s" % (name, row["owner"], me["user"]))
    if problems:
        raise DatabaseError("Cannot %s: %s. Nothing was changed." % (what, "; ".join(problems)),
                            {"role": me})
    return me


def sessions(cur: Any, dbname: str) -> list[dict[str, Any]]:
    """The other sessions connected to ``dbname``. An autovacuum worker is none of them: CREATE DATABASE ...
    TEMPLATE, ALTER DATABASE ... RENAME and DROP DATABASE end it themselves (it loses nothing), whereas waiting for
    it could take as long as a vacuum of the largest table. A role without pg_read_all_stats sees no backend_type of
    a worker; a vacuum or analyze it cannot see is taken for one (pg_stat_progress_* show its pid to everyone): if it
    is a client's manual VACUUM after all, the statement that needs the database alone refuses, and says so."""
    cur.execute("SELECT pid, usename, application_name, coalesce(host(client_addr), 'local socket'), state, "
                "to_char(backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') FROM pg_stat_activity a "
                "WHERE datname = %s AND pid <> pg_backend_pid() AND NOT " + AUTOVACUUM_WORKER + " ORDER BY pid",
                (dbname,))
    keys = ("pid", "user", "application", "client", "state", "connected_since")
    return [dict(zip(keys, row)) for row in cur.fetchall()]


def describe_sessions(rows: list[dict[str, Any]]) -> str:
    return "; ".join("pid %(pid)s (user %(user)s, application %(application)r, from %(client)s, %(state)s, "
                     "connected since %(connected_since)s)" % r for r in rows)


def set_allow_connections(cur: Any, name: str, allow: bool) -> None:
    cur.execute(allow_sql(name, allow))


def terminate_sessions(cur: Any, dbname: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        try:
            if int(cur.connection.server_version) >= 140000:
                cur.execute("SELECT pg_terminate_backend(%s, 5000)", (row["pid"],))
            else:
                cur.execute("SELECT pg_terminate_backend(%s)", (row["pid"],))
        except psycopg2.Error as exc:
            raise DatabaseError("Cannot end session pid %s on %s: %s" % (row["pid"], dbname, first_line(exc)),
                                {"sessions": rows}) from None


def drain(cur: Any, dbname: str, timeout: float, terminate: bool, operation: str) -> dict[str, Any]:
    """Wait until no other session is connected to ``dbname``; failures name ``operation`` ("make the recovery
    point of x", ...).

    With ``terminate``, idle sessions (no transaction open, nothing lost) are
    ended at once and the others after ``timeout``; without it, the sessions
    still there after ``timeout`` are listed in the error.
    """
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    terminated: list[dict[str, Any]] = []
    forced = False
    while True:
        rows = sessions(cur, dbname)
        if not rows:
            return {"drain_ms": int((time.monotonic() - started) * 1000), "terminated": terminated}
        expired = time.monotonic() >= deadline
        if expired and not terminate:
            raise DatabaseError(
                "Cannot %s: database %s still has %d session(s) after %.0fs: %s. Stop the application (the api "
                "service) first, or set terminate_connections=true to end them."
                % (operation, dbname, len(rows), timeout, describe_sessions(rows)), {"sessions": rows})
        if expired and forced:
            raise DatabaseError("Cannot %s: sessions on %s did not end after pg_terminate_backend: %s."
                                % (operation, dbname, describe_sessions(rows)), {"sessions": rows})
        if terminate:
            victims = rows if expired else [r for r in rows if r["state"] == "idle"]
            victims = [r for r in victims if r["pid"] not in {t["pid"] for t in terminated}]
            terminate_sessions(cur, dbname, victims)
            terminated.extend(victims)
            if expired:
                forced = True
                deadline = time.monotonic() + 10  # ended sessions get 10 s to go
        time.sleep(0.05)


class Refusing:
    """ALLOW_CONNECTIONS false on a database while its sessions drain, journaled in the same transaction (with
    ``state``: what else is under way); on exit it accepts connections again and gets its comment back, unless
    ``hand_over`` said that a later transaction did (the swap)."""

    def __init__(self, cur: Any, journal: Journal, name: str, **state: Any) -> None:
        self.cur = cur
        self.journal = journal
        self.name = name
        self.state = state
        self.was_allowed = True
        self.comment: str | None = None
        self.open = False

    def __enter__(self) -> "Refusing":
        row = database(self.cur, self.name)
        self.was_allowed = bool(row and row["allow_connections"])
        self.comment = self.journal.comment(self.name)
        transaction(self.cur, [self.journal.mark(self.name, self.comment, allow_connections=self.was_allowed,
                                                 **self.state),
                               allow_sql(self.name, False) if self.was_allowed else None])
        self.open = True
        return self

    def undo_sql(self) -> list[Any]:
        """The statements that put the database back as it was."""
        return [allow_sql(self.name, True) if self.was_allowed else None, comment_sql(self.name, self.comment)]

    def hand_over(self) -> None:
        self.open = False

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if not self.open or database(self.cur, self.name) is None:
            return
        try:
            transaction(self.cur, self.undo_sql())
        except psycopg2.Error:
            if exc_type is None:
                raise
            # the error on the way out is the one to report; the next run settles the journaled state


def copy_properties(cur: Any, source: str, target: str) -> list[str]:
    """Give ``target`` the database-level properties of ``source`` that neither a dump nor a clone carries:
    owner, privileges (GRANT ... ON DATABASE), database settings (ALTER DATABASE SET), connection limit. (The
    comment passes in the swap's own transaction: until then ``target`` carries its journal entry.)

    Returns warnings for what could not be copied (role-specific settings need a superuser).
    """
    warnings: list[str] = []
    cur.execute("SELECT pg_get_userbyid(datdba), datacl IS NULL, datconnlimit FROM pg_database WHERE datname = %s",
                (source,))
    owner, default_acl, connlimit = cur.fetchone()
    tgt = ident(target)
    cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (target,))
    if cur.fetchone()[0] != owner:
        cur.execute(pgsql.SQL("ALTER DATABASE {db} OWNER TO {owner}").format(db=tgt, owner=ident(owner)))
    if not default_acl:
        cur.execute("SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, "
                    "a.is_grantable FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s", (source,))
        grants = cur.fetchall()
        cur.execute(pgsql.SQL("REVOKE ALL ON DATABASE {db} FROM PUBLIC").format(db=tgt))
        for grantee, privilege, grantable in grants:
            cur.execute(pgsql.SQL("GRANT {priv} ON DATABASE {db} TO {who}{opt}").format(
                priv=pgsql.SQL(privilege), db=tgt, who=ident(grantee) if grantee else pgsql.SQL("PUBLIC"),
                opt=pgsql.SQL(" WITH GRANT OPTION" if grantable else "")))
    cur.execute("SELECT s.setrole, unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d "
                "ON d.oid = s.setdatabase WHERE d.datname = %s", (source,))
    for setrole, item in cur.fetchall():
        name, _sep, value = item.partition("=")
        if setrole:
            try:
                cur.execute("SELECT pg_get_userbyid(%s)", (setrole,))
                role = cur.fetchone()[0]
                cur.execute(pgsql.SQL("ALTER ROLE {role} IN DATABASE {db} SET {name} = {value}").format(
                    role=ident(role), db=tgt, name=ident(name), value=pgsql.Literal(value)))
            except psycopg2.Error as exc:
                reason = first_line(exc)
                warnings.append("role setting %s for role oid %s not copied: %s" % (item, setrole, reason))
        else:
            cur.execute(pgsql.SQL("ALTER DATABASE {db} SET {name} = {value}").format(
                db=tgt, name=ident(name), value=pgsql.Literal(value)))
    cur.execute(pgsql.SQL("ALTER DATABASE {db} WITH CONNECTION LIMIT {n}").format(db=tgt, n=pgsql.Literal(connlimit)))
    return warnings


def rename_sql(old: str, new: str) -> Any:
    return pgsql.SQL("ALTER DATABASE {old} RENAME TO {new}").format(old=ident(old), new=ident(new))


def when_drained(cur: Any, dbname: str, statements: list[Any], timeout: float, terminate: bool,
                 operation: str) -> dict[str, Any]:
    """Run ``statements`` (a copy of ``dbname``, or the renames of a swap, in one transaction) once no other
    session is on ``dbname``: drain it, run, and drain again while a session that slipped in keeps it in use,
    until ``timeout`` seconds have passed.

    Returns the sessions ended and when the last drain ended; the statement's psycopg2 error otherwise.
    """
    deadline = time.monotonic() + timeout
    terminated: list[dict[str, Any]] = []
    while True:
        drained = drain(cur, dbname, max(0.0, deadline - time.monotonic()), terminate, operation)
        terminated.extend(drained["terminated"])
        drained_at = time.monotonic()
        try:
            if len(statements) == 1:
                cur.execute(statements[0])  # CREATE DATABASE cannot run inside a transaction block
            else:
                transaction(cur, statements)
            return {"terminated": terminated, "drained_at": drained_at}
        except psycopg2.Error as exc:
            if exc.pgcode != OBJECT_IN_USE or time.monotonic() >= deadline:
                raise


def swap_in(cur: Any, journal: Journal, live: str, replacement: str, keep_as: str, timeout: float,
            terminate: bool, drop_previous: bool, operation: str) -> dict[str, Any]:
    """Put ``replacement`` in place of ``live``; the old one becomes ``keep_as`` (or is dropped). Failures name
    ``operation`` ("swap the restored database in for x" ...).

    ``live`` refuses connections (journaled) while its sessions drain; then ONE transaction renames it aside
    and ``replacement`` into its place, opens both, and gives the new one the old one's comment: a crash at any
    moment leaves the application's name on one of them. The database is unavailable from the moment its new
    connections are refused until the transaction commits: ``downtime_ms``.
    """
    started = time.monotonic()
    outcome: dict[str, Any] = {"previous": None, "terminated": [], "warnings": []}
    if database(cur, live) is None:
        transaction(cur, [rename_sql(replacement, live), allow_sql(live, True), comment_sql(live, None)])
        outcome["downtime_ms"] = int((time.monotonic() - started) * 1000)
        return outcome
    outcome["warnings"] = copy_properties(cur, live, replacement)
    started = time.monotonic()
    with Refusing(cur, journal, live, swap={"replacement": replacement, "keep_as": keep_as}) as refusing:
        previous = journal.mark(keep_as, refusing.comment, drop="%s, replaced by a swap with drop_previous" % keep_as) \
            if drop_previous else comment_sql(keep_as, refusing.comment)
        renames = [rename_sql(live, keep_as), rename_sql(replacement, live), allow_sql(live, True),
                   comment_sql(live, refusing.comment), allow_sql(keep_as, True) if refusing.was_allowed else None,
                   previous]
        try:
            outcome["terminated"] = when_drained(cur, live, renames, timeout, terminate, operation)["terminated"]
        except psycopg2.Error as exc:
            raise DatabaseError("Cannot %s: renaming %s to %s and %s to %s failed: %s. %s is unchanged."
                                % (operation, live, keep_as, replacement, live, first_line(exc), live)) from None
        refusing.hand_over()
    outcome["previous"] = keep_as
    outcome["downtime_ms"] = int((time.monotonic() - started) * 1000)
    if drop_previous:
        drop_database(cur, keep_as)
        outcome["dropped_previous"] = keep_as
        outcome["previous"] = None
    return outcome


def create_sql(name: str, properties: dict[str, Any]) -> Any:
    """CREATE DATABASE ``name`` from template0 with the encoding and locale of ``properties`` (``database_info``)."""
    parts = [pgsql.SQL("CREATE DATABASE {db} TEMPLATE template0").format(db=ident(name))]
    if properties.get("encoding"):
        parts.append(pgsql.SQL("ENCODING {v}").format(v=pgsql.Literal(properties["encoding"])))
    if properties.get("locale_provider") == "i":
        parts.append(pgsql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {v}").format(v=pgsql.Literal(properties["icu_locale"])))
    if properties.get("collate"):
        parts.append(pgsql.SQL("LC_COLLATE {v}").format(v=pgsql.Literal(properties["collate"])))
    if properties.get("ctype"):
        parts.append(pgsql.SQL("LC_CTYPE {v}").format(v=pgsql.Literal(properties["ctype"])))
    return pgsql.SQL(" ").join(parts)


def drop_database(cur: Any, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE): its sessions are ended and no new one gets in meanwhile (PostgreSQL 13+)."""
    row = database(cur, name)
    if row is None:
        return
    if int(cur.connection.server_version) >= 130000:
        cur.execute(pgsql.SQL("DROP DATABASE {db} WITH (FORCE)").format(db=ident(name)))
    else:
        if row["allow_connections"]:
            set_allow_connections(cur, name, False)
        cur.execute(pgsql.SQL("DROP DATABASE {db}").format(db=ident(name)))
