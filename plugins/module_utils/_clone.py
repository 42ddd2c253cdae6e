# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery points by file-level clone, and database swaps by rename.

A recovery point is ``CREATE DATABASE <db>_rp_<ts> TEMPLATE <db>``: PostgreSQL
copies the database's files, which takes seconds where a logical restore takes
minutes, but needs the source without any other session for those seconds. So:
new connections to the source are refused (ALLOW_CONNECTIONS false) while its
sessions drain, for at most ``drain_timeout`` seconds; sessions still there are
listed and the run fails, unless ``terminate_connections`` says to end them. The
source accepts connections again as soon as the copy is made (also on failure).

Going back to a recovery point, or putting a restored database in place, is a
swap: drain the live database the same way, rename it to ``<db>_pre_restore_<ts>``
and rename the replacement to ``<db>``. Both need CREATEDB and ownership of the
databases, checked up front. Everything here runs on a connection to the
maintenance database, never to the databases being copied or renamed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup
from ansible_collections.knowledgehub.migration.plugins.module_utils._postgres import (
    ConnectionFailure,
    connect,
    pgsql,
    psycopg2,
)

COMMENT_PREFIX = "knowledgehub.migration recovery point"
MAX_NAME = 63
OBJECT_IN_USE = "55006"
BackupError = _backup.BackupError


def maintenance_params(params: dict[str, Any]) -> dict[str, Any]:
    return dict(params, login_db=params.get("maintenance_db") or "postgres")


def connect_to(params: dict[str, Any], dbname: str, purpose: str) -> Any:
    try:
        return connect(dict(params, login_db=dbname), autocommit=True, purpose=purpose)
    except ConnectionFailure as exc:
        raise BackupError(str(exc)) from None


def ident(name: str) -> Any:
    return pgsql.Identifier(name)


def timestamp_name(base: str, infix: str, now: Any) -> str:
    name = "%s_%s_%s" % (base, infix, now.strftime("%Y%m%d%H%M%S"))
    if len(name.encode("utf-8")) > MAX_NAME:
        raise BackupError("The database name %s would be longer than PostgreSQL's %d bytes; the source database's "
                          "name is too long for a %s copy." % (name, MAX_NAME, infix))
    return name


def free_name(cur: Any, name: str) -> str:
    candidate = name
    number = 1
    while database(cur, candidate) is not None:
        number += 1
        candidate = "%s_%d" % (name, number)
    return candidate


# -- catalog ---------------------------------------------------------------------------


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
        raise BackupError("Cannot %s: %s. Nothing was changed." % (what, "; ".join(problems)),
                          {"role": me})
    return me


def sessions(cur: Any, dbname: str) -> list[dict[str, Any]]:
    cur.execute("SELECT pid, usename, application_name, coalesce(host(client_addr), 'local socket'), state, "
                "to_char(backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() ORDER BY pid", (dbname,))
    keys = ("pid", "user", "application", "client", "state", "connected_since")
    return [dict(zip(keys, row)) for row in cur.fetchall()]


def describe_sessions(rows: list[dict[str, Any]]) -> str:
    return "; ".join("pid %(pid)s (user %(user)s, application %(application)r, from %(client)s, %(state)s, "
                     "connected since %(connected_since)s)" % r for r in rows)


def set_allow_connections(cur: Any, name: str, allow: bool) -> None:
    cur.execute(pgsql.SQL("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS {v}").format(
        db=ident(name), v=pgsql.SQL("true" if allow else "false")))


def terminate_sessions(cur: Any, dbname: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        try:
            if int(cur.connection.server_version) >= 140000:
                cur.execute("SELECT pg_terminate_backend(%s, 5000)", (row["pid"],))
            else:
                cur.execute("SELECT pg_terminate_backend(%s)", (row["pid"],))
        except psycopg2.Error as exc:
            raise BackupError("Cannot end session pid %s on %s: %s" % (row["pid"], dbname, _backup.first_line(exc)),
                              {"sessions": rows}) from None


def drain(cur: Any, dbname: str, timeout: float, terminate: bool) -> dict[str, Any]:
    """Wait until no other session is connected to ``dbname``.

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
            raise BackupError(
                "Database %s still has %d session(s) after %.0fs: %s. Stop the application (the api service) "
                "first, or set terminate_connections=true to end them." % (dbname, len(rows), timeout,
                                                                           describe_sessions(rows)),
                {"sessions": rows})
        if expired and forced:
            raise BackupError("Sessions on %s did not end after pg_terminate_backend: %s."
                              % (dbname, describe_sessions(rows)), {"sessions": rows})
        if terminate:
            victims = rows if expired else [r for r in rows if r["state"] == "idle"]
            victims = [r for r in victims if r["pid"] not in {t["pid"] for t in terminated}]
            terminate_sessions(cur, dbname, victims)
            terminated.extend(victims)
            if expired:
                forced = True
                deadline = time.monotonic() + 10  # ended sessions get 10 s to go
        time.sleep(0.05)


class Guard:
    """ALLOW_CONNECTIONS false on a database for a short window; put back as it was on exit."""

    def __init__(self, cur: Any, name: str) -> None:
        self.cur = cur
        self.name = name
        self.was_allowed = True

    def __enter__(self) -> "Guard":
        row = database(self.cur, self.name)
        self.was_allowed = bool(row and row["allow_connections"])
        if self.was_allowed:
            set_allow_connections(self.cur, self.name, False)
        return self

    def renamed(self, name: str) -> None:
        self.name = name

    def __exit__(self, *exc: Any) -> None:
        if self.was_allowed and database(self.cur, self.name) is not None:
            set_allow_connections(self.cur, self.name, True)


def copy_properties(cur: Any, source: str, target: str) -> list[str]:
    """Give ``target`` the database-level properties of ``source`` that neither a dump nor a clone carries:
    owner, privileges (GRANT ... ON DATABASE), database settings (ALTER DATABASE SET), connection limit, comment.

    Returns warnings for what could not be copied (role-specific settings need a superuser).
    """
    warnings: list[str] = []
    cur.execute("SELECT pg_get_userbyid(datdba), datacl IS NULL, datconnlimit, shobj_description(oid, 'pg_database') "
                "FROM pg_database WHERE datname = %s", (source,))
    owner, default_acl, connlimit, comment = cur.fetchone()
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
                reason = _backup.first_line(exc)
                warnings.append("role setting %s for role oid %s not copied: %s" % (item, setrole, reason))
        else:
            cur.execute(pgsql.SQL("ALTER DATABASE {db} SET {name} = {value}").format(
                db=tgt, name=ident(name), value=pgsql.Literal(value)))
    cur.execute(pgsql.SQL("ALTER DATABASE {db} WITH CONNECTION LIMIT {n}").format(db=tgt, n=pgsql.Literal(connlimit)))
    cur.execute(pgsql.SQL("COMMENT ON DATABASE {db} IS {c}").format(db=tgt, c=pgsql.Literal(comment)))
    return warnings


def _rename(cur: Any, old: str, new: str) -> None:
    cur.execute(pgsql.SQL("ALTER DATABASE {old} RENAME TO {new}").format(old=ident(old), new=ident(new)))


def swap_in(cur: Any, live: str, replacement: str, keep_as: str, timeout: float, terminate: bool,
            drop_previous: bool) -> dict[str, Any]:
    """Put ``replacement`` in place of ``live`` by renames; the old one becomes ``keep_as`` (or is dropped).

    The database is unavailable from the moment its new connections are refused
    until the replacement carries its name: ``downtime_ms``.
    """
    warnings = copy_properties(cur, live, replacement) if database(cur, live) is not None else []
    started = time.monotonic()
    outcome: dict[str, Any] = {"previous": None, "terminated": [], "warnings": warnings}
    if database(cur, live) is not None:
        with Guard(cur, live) as guard:
            deadline = time.monotonic() + timeout
            while True:
                drained = drain(cur, live, max(0.0, deadline - time.monotonic()), terminate)
                outcome["terminated"].extend(drained["terminated"])
                try:
                    _rename(cur, live, keep_as)
                    guard.renamed(keep_as)
                    break
                except psycopg2.Error as exc:
                    if exc.pgcode != OBJECT_IN_USE or time.monotonic() >= deadline:
                        reason = _backup.first_line(exc)
                        raise BackupError("Cannot rename database %s to %s: %s" % (live, keep_as, reason)) from None
            try:
                _rename(cur, replacement, live)
            except psycopg2.Error as exc:
                _rename(cur, keep_as, live)
                guard.renamed(live)
                raise BackupError("Cannot rename database %s to %s: %s. %s is back in place, unchanged."
                                  % (replacement, live, _backup.first_line(exc), live)) from None
            row = database(cur, live)
            if row is not None and not row["allow_connections"]:
                set_allow_connections(cur, live, True)
        outcome["previous"] = keep_as
    else:
        _rename(cur, replacement, live)
        row = database(cur, live)
        if row is not None and not row["allow_connections"]:
            set_allow_connections(cur, live, True)
    outcome["downtime_ms"] = int((time.monotonic() - started) * 1000)
    if drop_previous and outcome["previous"]:
        drop_database(cur, keep_as)
        outcome["dropped_previous"] = keep_as
        outcome["previous"] = None
    return outcome


def drop_database(cur: Any, name: str) -> None:
    row = database(cur, name)
    if row is None:
        return
    if row["allow_connections"]:
        set_allow_connections(cur, name, False)
    if int(cur.connection.server_version) >= 130000:
        cur.execute(pgsql.SQL("DROP DATABASE {db} WITH (FORCE)").format(db=ident(name)))
    else:
        cur.execute(pgsql.SQL("DROP DATABASE {db}").format(db=ident(name)))


# -- recovery points ---------------------------------------------------------------------


class RecoveryPoint:
    """pg_backup format=clone: a recovery point of ``login_db`` as a database copy, with a manifest."""

    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.p = params
        self.check_mode = check_mode
        self.source: str = params["login_db"]
        self.label: str = params.get("label") or self.source
        self.backup_dir = os.path.abspath(params["backup_dir"])
        self.result: dict[str, Any] = {"changed": False, "kind": "clone", "format": "clone", "scope": "full",
                                       "label": self.label, "warnings": []}

    def run(self) -> dict[str, Any]:
        _backup.check_label(self.label)
        if self.p.get("tables") or self.p["scope"] != "full":
            raise BackupError("format=clone copies the whole database: scope must be full and tables unset.")
        conn = connect_to(self.p, self.p.get("maintenance_db") or "postgres", "pg_backup clone")
        try:
            with conn.cursor() as cur:
                return self._run(cur)
        finally:
            conn.close()

    def _run(self, cur: Any) -> dict[str, Any]:
        if self.source == (self.p.get("maintenance_db") or "postgres"):
            raise BackupError("maintenance_db must differ from the database to copy (%s)." % self.source)
        src = database(cur, self.source)
        if src is None:
            raise BackupError("Database %s does not exist." % self.source)
        me = require_rights(cur, "create a recovery point of %s" % self.source, [self.source])
        now = _backup.utcnow()
        name = free_name(cur, timestamp_name(self.source, "rp", now))
        present = sessions(cur, self.source)
        self.result.update(database=name, source=self.source, database_size_bytes=src["size_bytes"],
                           sessions=present, role=me)
        if self.check_mode:
            self.result.update(changed=True, would_clone=dict(
                source=self.source, database=name, strategy=self.p["clone_strategy"],
                estimated_disk_bytes=src["size_bytes"], sessions_connected=len(present),
                would_terminate=bool(present) and self.p["terminate_connections"]))
            return self.result

        _backup.ensure_private_dir(self.backup_dir)
        backup_id = _backup.new_backup_id(self.backup_dir, self.label, now)
        strategy = ""
        if int(cur.connection.server_version) >= 150000:
            strategy = " STRATEGY = %s" % ("FILE_COPY" if self.p["clone_strategy"] == "file_copy" else "WAL_LOG")
        create = pgsql.SQL("CREATE DATABASE {new} TEMPLATE {src}" + strategy).format(
            new=ident(name), src=ident(self.source))
        timeout = float(self.p["drain_timeout"])
        started = time.monotonic()
        terminated: list[dict[str, Any]] = []
        with Guard(cur, self.source):
            deadline = time.monotonic() + timeout
            while True:
                drained = drain(cur, self.source, max(0.0, deadline - time.monotonic()),
                                self.p["terminate_connections"])
                terminated.extend(drained["terminated"])
                drained_at = time.monotonic()
                try:
                    cur.execute(create)
                    break
                except psycopg2.Error as exc:
                    if exc.pgcode != OBJECT_IN_USE or time.monotonic() >= deadline:
                        raise BackupError("CREATE DATABASE %s TEMPLATE %s failed: %s"
                                          % (name, self.source, _backup.first_line(exc))) from None
        clone_ms = int((time.monotonic() - drained_at) * 1000)
        downtime_ms = int((time.monotonic() - started) * 1000)
        try:
            return self._record(cur, name, backup_id, now, clone_ms, downtime_ms, terminated)
        except BaseException:
            drop_database(cur, name)
            raise

    def _record(self, cur: Any, name: str, backup_id: str, now: Any, clone_ms: int, downtime_ms: int,
                terminated: list[dict[str, Any]]) -> dict[str, Any]:
        count_started = time.monotonic()
        conn = connect_to(self.p, name, "pg_backup clone check")
        try:
            with conn.cursor() as ccur:
                ccur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                tables = _backup.all_tables(ccur)
                counts = _backup.count_rows(ccur, tables)
                info = _backup.database_info(ccur, int(conn.server_version))
                ledger = _backup.ledger_state(ccur, self.p["ledger_schema"], self.p["ledger_table"])
                ccur.execute("ROLLBACK")
        finally:
            conn.close()
        count_ms = int((time.monotonic() - count_started) * 1000)
        comment = "%s of %s, %s (backup_id %s)" % (COMMENT_PREFIX, self.source, now.isoformat(), backup_id)
        cur.execute(pgsql.SQL("COMMENT ON DATABASE {db} IS {c}").format(db=ident(name), c=pgsql.Literal(comment)))
        set_allow_connections(cur, name, False)  # nobody changes a recovery point by accident
        size = database(cur, name)["size_bytes"]
        clone_info = {"database": name, "source": self.source, "strategy": self.p["clone_strategy"],
                      "size_bytes": size, "downtime_ms": downtime_ms, "clone_ms": clone_ms, "count_ms": count_ms,
                      "terminated_sessions": terminated}
        info["clone_of"] = info.pop("name")
        info["name"] = self.source
        manifest = {
            "manifest_version": _backup.MANIFEST_VERSION,
            "backup_id": backup_id,
            "label": self.label,
            "kind": "clone",
            "format": "clone",
            "scope": "full",
            "tables": None,
            "created_at": now.isoformat(),
            "completed_at": _backup.utcnow().isoformat(),
            "verified": True,
            "verification": {"depth": "clone", "tables": len(tables)},
            "archive": None,
            "clone": clone_info,
            "server": {"version": str(cur.connection.server_version), "version_num": int(cur.connection.server_version)},
            "database": info,
            "row_counts": counts,
            "ledger": ledger,
            "run_id": self.p.get("run_id"),
            "purpose": self.p.get("purpose"),
            "executed": _backup.who(),
        }
        manifest["server"]["version"] = _server_text(int(cur.connection.server_version))
        path = _backup.manifest_path(self.backup_dir, backup_id)
        _backup.write_json_atomic(path, manifest)
        removed = _backup.apply_retention(self.backup_dir, self.label, "clone", self.p.get("keep_last") or 0,
                                          drop_clone=lambda m: drop_recovery_point(cur, m))
        self.result.update(changed=True, backup_id=backup_id, path=None, manifest=path, manifest_data=manifest,
                           database=name, size_bytes=size, downtime_ms=downtime_ms, clone_ms=clone_ms,
                           row_counts=counts, removed=removed, terminated_sessions=terminated,
                           ledger_version=ledger.get("last_applied_version"),
                           duration_ms=downtime_ms + count_ms)
        return self.result


def _server_text(num: int) -> str:
    return "%d.%d" % (num // 10000, num % 10000) if num >= 100000 else str(num)


def drop_recovery_point(cur: Any, manifest: dict[str, Any]) -> None:
    """Drop a recovery point's database, only if it is the one its manifest names (by its comment)."""
    name = (manifest.get("clone") or {}).get("database")
    row = database(cur, name) if name else None
    if row is None:
        return
    if not (row["comment"] or "").startswith(COMMENT_PREFIX) or manifest["backup_id"] not in (row["comment"] or ""):
        raise BackupError("Retention would drop database %s, but it is not the recovery point %s (its comment is %r); "
                          "left alone." % (name, manifest["backup_id"], row["comment"]))
    drop_database(cur, name)


def create_recovery_point(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    return RecoveryPoint(params, check_mode).run()
