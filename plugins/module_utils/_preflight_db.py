# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server's side of the pre-flight: the connection, primary or standby, replicas and their lag, the sessions
in the migration's way (locks on the tables it touches, idle transactions, old transactions).

Whether a session's lock would make the migration wait is judged from PostgreSQL's lock conflict table
(explicit-locking.html, table 13.2) against the locks the lock analysis says the pending files take. Every
query reads the statistics views and the catalog only.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._activity import AUTOVACUUM_WORKER, describe_session
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import (
    ACCESS_EXCLUSIVE,
    ACCESS_SHARE,
    EXCLUSIVE,
    LOCK_MODES,
    ROW_EXCLUSIVE,
    ROW_SHARE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import (
    FAIL,
    PASS,
    WARN,
    above,
    make_check,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_plan import touched
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import psycopg2

# Which modes each mode waits for (PostgreSQL 15, table 13.2; the table is symmetric).
CONFLICTS = {
    ACCESS_SHARE: {ACCESS_EXCLUSIVE},
    ROW_SHARE: {EXCLUSIVE, ACCESS_EXCLUSIVE},
    ROW_EXCLUSIVE: {SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE},
    SHARE_UPDATE_EXCLUSIVE: {SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE},
    SHARE: {ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE},
    SHARE_ROW_EXCLUSIVE: {ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
                          ACCESS_EXCLUSIVE},
    EXCLUSIVE: {ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
                ACCESS_EXCLUSIVE},
    ACCESS_EXCLUSIVE: set(LOCK_MODES),
}

_SESSION = """a.pid, coalesce(a.usename, '?'), coalesce(a.application_name, ''),
    coalesce(host(a.client_addr), 'local socket'), coalesce(a.state, 'unknown'),
    extract(epoch FROM now() - a.xact_start)::int, extract(epoch FROM now() - a.state_change)::int,
    left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 160)"""
_SESSION_KEYS = ("pid", "user", "application", "client", "state", "xact_seconds", "state_seconds", "query")


def lock_mode(pg_mode: str) -> str:
    """pg_locks' ``AccessShareLock`` -> ``ACCESS SHARE`` (the lock analysis' spelling)."""
    name = pg_mode[:-4] if pg_mode.endswith("Lock") else pg_mode
    return " ".join(re.findall(r"[A-Z][a-z]*", name)).upper()


def conflicts(held: str, wanted: str) -> bool:
    """Would a session wanting ``wanted`` wait for one holding ``held``? (Modes as in ``LOCK_MODES``.)"""
    return held in CONFLICTS.get(wanted, set(LOCK_MODES))


# -- connection, primary, replicas --------------------------------------------------------


def connection_check(job: Any) -> dict[str, Any]:
    """Reached the server (the job connected, or kept why not: the message never holds the password)."""
    if job.conn is None:
        return make_check("connection", FAIL, None, None, job.connect_error)
    return make_check("connection", PASS, {"server_version": job.server_version, "database": job.target.dbname,
                                           "user": job.target.user}, None,
                      "Connected to %s: PostgreSQL %s." % (job.target.describe(), job.server_version))


def primary_check(job: Any) -> dict[str, Any]:
    """Migrations run on the primary: a standby (in recovery) is read-only and replays the primary's changes."""
    with job.conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        standby = bool(cur.fetchone()[0])
    if standby:
        return make_check("primary", FAIL, "standby", "primary",
                          "%s is a standby (pg_is_in_recovery() is true): migrations must run on the primary. "
                          "Point login_host/login_port at the primary." % job.target.describe())
    return make_check("primary", PASS, "primary", "primary", "The server is the primary (not in recovery).")


def replication_check(job: Any) -> dict[str, Any]:
    """Replicas and their replay lag: a migration's WAL (index builds, the data copy) makes a lagging replica lag
    more, and the application's reads there go stale."""
    limit = job.params["max_replication_lag"]
    with job.conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        if cur.fetchone()[0]:
            return make_check("replication", PASS, "standby", {"max_lag_seconds": limit},
                              "Not read on a standby (see the primary check).")
        cur.execute("""SELECT coalesce(application_name, ''), coalesce(host(client_addr), 'local socket'), state,
                              pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                              extract(epoch FROM replay_lag)::float8
                         FROM pg_stat_replication ORDER BY application_name""")
        rows = [dict(zip(("name", "client", "state", "lag_bytes", "lag_seconds"), r)) for r in cur.fetchall()]
    if not rows:
        return make_check("replication", PASS, "no replicas", {"max_lag_seconds": limit},
                          "No replica is connected to this server.")
    statuses, lines = [], []
    for row in rows:
        row["lag_seconds"] = None if row["lag_seconds"] is None else round(row["lag_seconds"], 1)
        hidden = row["state"] is None
        status = WARN if hidden else above(row["lag_seconds"] or 0.0, limit)
        if row["state"] not in (None, "streaming"):
            status = WARN
        statuses.append(status)
        lines.append("%s from %s: %s, replay lag %s s, %s bytes" % (
            row["name"] or "?", row["client"], row["state"] or "state hidden (the user lacks pg_monitor)",
            row["lag_seconds"], row["lag_bytes"]))
    status = WARN if WARN in statuses else PASS
    message = "%d replica(s): %s." % (len(rows), "; ".join(lines))
    if status == WARN:
        message += (" A replica lagging more than %ss, not streaming, or whose state cannot be read: wait for it "
                    "to catch up (or grant pg_monitor to see it) before adding a migration's WAL." % limit)
    return make_check("replication", status, rows, {"max_lag_seconds": limit}, message)


# -- sessions in the way ----------------------------------------------------------------------


def _locks_on(cur: Any, oids: list[int]) -> list[dict[str, Any]]:
    cur.execute("SELECT l.relation::bigint, l.relation::regclass::text, l.mode, " + _SESSION + """
                   FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.relation = ANY(%s::oid[])
                    -- an autovacuum worker cancels itself when it blocks a lock request, unless it prevents
                    -- wraparound: only that one is in the way (one the role cannot see for sure is taken for a
                    -- worker, as the clone's drain does; were it not, the migration's lock_timeout ends its wait)
                    AND NOT (""" + AUTOVACUUM_WORKER + """
                             AND coalesce(a.query, '') NOT LIKE '%%to prevent wraparound%%')
                  ORDER BY l.pid, l.relation""", (oids,))
    return [dict(zip(("oid", "relation", "mode") + _SESSION_KEYS, r)) for r in cur.fetchall()]


def _slow_sessions(cur: Any, max_age: int) -> list[dict[str, Any]]:
    cur.execute("SELECT " + _SESSION + """ FROM pg_stat_activity a
                  WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                    AND a.backend_type = 'client backend'
                    AND (a.state LIKE 'idle in transaction%%' OR a.xact_start < now() - make_interval(secs => %s))
                  ORDER BY a.xact_start""", (max_age,))
    return [dict(zip(_SESSION_KEYS, r)) for r in cur.fetchall()]


def _oids(cur: Any, names: set[str]) -> dict[int, str]:
    found = {}
    for name in sorted(names):
        try:
            cur.execute("SELECT to_regclass(%s)::bigint", (name,))
        except psycopg2.Error:
            continue
        oid = cur.fetchone()[0]
        if oid is not None:
            found[int(oid)] = name
    return found


def judge_holders(holders: list[dict[str, Any]], files: list[dict[str, Any]], names: dict[int, str]
                  ) -> tuple[list[str], list[str], list[str]]:
    """(blocking the first file, blocking a later file, holding a lock that blocks nothing pending) as lines."""
    first, later, harmless = [], [], []
    for held in holders:
        relation, mode = names.get(held["oid"], held["relation"]), lock_mode(held["mode"])
        waits = [f["file"] for f in files if relation in f["strongest"] and conflicts(mode, f["strongest"][relation])]
        line = "%s lock on %s held by %s" % (mode, relation, describe_session(held))
        if waits and waits[0] == files[0]["file"]:
            first.append("%s: %s would wait for it (%s)" % (line, waits[0], files[0]["strongest"][relation]))
        elif waits:
            later.append("%s: %s would wait for it" % (line, waits[0]))
        else:
            harmless.append(line)
    return first, later, harmless


def sessions_check(job: Any) -> dict[str, Any]:
    """Sessions holding locks on the relations the pending files touch; idle-in-transaction and old transactions."""
    max_age = job.params["max_transaction_age"]
    files = touched(job.migration_plan, job.locks) if job.migration_plan is not None else []
    with job.conn.cursor() as cur:
        names = _oids(cur, {r for f in files for r in f["strongest"]})
        holders = _locks_on(cur, list(names)) if names else []
        slow = _slow_sessions(cur, max_age)
    first, later, harmless = judge_holders(holders, files, names) if files else ([], [], [])
    idle = [s for s in slow if s["state"].startswith("idle in transaction")]
    old = [s for s in slow if s not in idle]
    observed = {"blocking_first_file": len(first), "blocking_later_files": len(later),
                "other_locks_on_touched": len(harmless), "idle_in_transaction": len(idle),
                "long_transactions": len(old)}
    threshold = {"max_transaction_age": max_age}
    unknown = files[0]["unknown_statements"] if files else []
    details = first + later + harmless + ["idle in transaction: " + describe_session(s) for s in idle] + [
        "transaction older than %ss: %s" % (max_age, describe_session(s)) for s in old]
    if first:
        return make_check("sessions", FAIL, observed, threshold,
                          "%d session lock(s) the first pending file would wait for: %s. End those transactions "
                          "(the application's, or SELECT pg_terminate_backend(<pid>)) before migrating; otherwise "
                          "the migration waits, the application queues behind it, and lock_timeout ends it."
                          % (len(first), "; ".join(first[:2])), details)
    if later or harmless or idle or old or (unknown and holders):
        note = (" Statements %s of %s hold locks the analysis cannot read from their text (procedural code): "
                "whether they would wait is not known." % (unknown, files[0]["file"])) if unknown and holders else ""
        return make_check("sessions", WARN, observed, threshold,
                          "Sessions in the migration's way: %d lock(s) a later pending file would wait for, %d other "
                          "lock(s) on touched relations, %d idle in transaction, %d transaction(s) older than %ss. "
                          "They may have ended by the time the migration runs; if not, it will wait for them."
                          "%s" % (len(later), len(harmless), len(idle), len(old), max_age, note), details)
    return make_check("sessions", PASS, observed, threshold,
                      "No session holds a lock on the %d relation(s) the pending files touch; none idle in "
                      "transaction; no transaction older than %ss." % (len(names), max_age))


__all__ = ["CONFLICTS", "lock_mode", "conflicts", "connection_check", "primary_check", "replication_check",
           "judge_holders", "sessions_check"]
