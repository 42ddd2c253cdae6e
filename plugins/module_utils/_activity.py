# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sessions that get in a migration's way: blockers, long transactions, idle-in-transaction.

DDL needs strong locks. A session with an open transaction that read a table
holds a lock the DDL must wait for, and while the DDL waits every new query on
that table queues behind it: the application stalls. So before DDL the runner
looks for such sessions, and while a statement runs a watcher notes who blocks
it, so that a lock timeout can name the relation and the session.
"""

from __future__ import annotations

import threading
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

_SESSION_COLUMNS = """
    a.pid, a.usename, a.application_name, coalesce(host(a.client_addr), 'local socket') AS client,
    a.state, extract(epoch FROM now() - a.xact_start)::int AS xact_seconds,
    extract(epoch FROM now() - a.state_change)::int AS state_seconds,
    left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 160) AS query
"""

_SESSION_KEYS = ("pid", "user", "application", "client", "state", "xact_seconds", "state_seconds", "query")

# Whether the pg_stat_activity row ``a`` is an autovacuum worker, as far as the current role can see: a role without
# pg_read_all_stats sees no backend_type of a worker, so a vacuum or analyze whose backend_type it cannot see is taken
# for one (pg_stat_progress_vacuum / _analyze show the pid to everyone). Never NULL.
AUTOVACUUM_WORKER = """coalesce(a.backend_type = 'autovacuum worker'
    OR (a.backend_type IS NULL AND (EXISTS (SELECT 1 FROM pg_stat_progress_vacuum p WHERE p.pid = a.pid)
                                    OR EXISTS (SELECT 1 FROM pg_stat_progress_analyze p WHERE p.pid = a.pid))),
    false)"""


def describe_session(session: dict[str, Any]) -> str:
    """One line an operator can act on (pid first: pg_terminate_backend takes it)."""
    return "pid %s (user %s, application %r, from %s, %s, transaction open %ss: %s)" % (
        session["pid"], session["user"], session["application"], session["client"], session["state"],
        session["xact_seconds"], session["query"])


def lingering_sessions(conn: Any, min_seconds: int) -> list[dict[str, Any]]:
    """Other sessions of this database whose transaction has been open ``min_seconds`` or more
    (running or idle in transaction) and that hold a lock on a relation: DDL would queue behind them."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT " + _SESSION_COLUMNS + """
               FROM pg_stat_activity a
              WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL
                AND a.xact_start < now() - make_interval(secs => %s)
                AND a.application_name NOT LIKE 'knowledgehub.migration%%'
                AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted)
              ORDER BY a.xact_start""", (min_seconds,))
        return [dict(zip(_SESSION_KEYS, row)) for row in cur.fetchall()]


def blockers_of(conn: Any, pid: int) -> list[dict[str, Any]]:
    """The sessions blocking ``pid`` right now and the relation it waits for."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT w.relation::regclass::text, w.mode, " + _SESSION_COLUMNS + """
               FROM pg_locks w
               CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
               JOIN pg_stat_activity a ON a.pid = b.pid
              WHERE w.pid = %s AND NOT w.granted""", (pid,))
        return [dict(zip(("relation", "mode") + _SESSION_KEYS, row)) for row in cur.fetchall()]


class BlockerWatch:
    """Polls, on its own connection to ``target``, who blocks a migration session while a statement runs.

    Keeps the last non-empty observation, so that after a lock timeout the
    runner can say which relation it waited for and which session held it.
    """

    def __init__(self, target: Target, pid: int, interval: float = 0.2) -> None:
        self._target = target
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: list[dict[str, Any]] = []
        self.error: str | None = None

    def __enter__(self) -> "BlockerWatch":
        self._thread = threading.Thread(target=self._run, name="blocker-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            conn = self._target.connect("pg_migrate watch", autocommit=True)
        except Exception as exc:  # pylint: disable=broad-except
            self.error = str(exc)  # the watch is a diagnostic: never fail the migration for it
            return
        try:
            while not self._stop.wait(self._interval):
                seen = blockers_of(conn, self._pid)
                if seen:
                    self.last = seen
        except Exception as exc:  # pylint: disable=broad-except
            self.error = str(exc)
        finally:
            conn.close()

    def describe(self) -> str:
        if not self.last:
            return "the blocking session had gone before it could be observed"
        relation = self.last[0]["relation"] or "a non-relation lock"
        return "waiting for %s lock on %s, held by %s" % (
            self.last[0]["mode"], relation, "; ".join(describe_session(s) for s in self.last))
