# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor of a pg_migrate run: a thread on its own connection that samples the load while files apply.

Every ``monitor_interval`` seconds it takes one sample: lock waits in the
database (``pg_locks`` rows not granted, with ``pg_blocking_pids``; the
sessions waiting, directly or through others, for the migration, and those the
migration waits for), other sessions running one query for longer than
``monitor_long_query_seconds``, the host's CPU, memory and busiest disk
(``_monitor_host``), and PostgreSQL's error counters of the database
(``pg_stat_database``: xact_rollback, deadlocks, conflicts, temp_bytes).

Errors come from pg_stat_database, not from the server log: the counters can be
read by any role and count this database only, while the log needs superuser or
pg_read_server_files (the application role has neither), is off in the
official image (logging_collector: the log goes to the container's stderr, so
pg_current_logfile() is NULL), mixes every database of the cluster, and may
quote statements with secrets in them, which a module result must never carry.

The policy (``_monitor_policy``) turns samples into warnings, a pause or an
abort. Its lifetime is the run's: started before the first file, stopped after
the last; anything failing inside it is recorded (``error``) and ends the
sampling, never the migration.

Throttle protocol (for batched migrations, ``migrate:transaction off``): before
each such file the runner sets ``knowledgehub.throttle_lock`` on the file's
session to a bigint advisory-lock key of this run (only under
``monitor_policy=pause``). Between two batches the migration waits while it
cannot take that lock in shared mode::

    WHILE NOT pg_try_advisory_lock_shared(key) LOOP PERFORM pg_sleep(0.2); END LOOP;
    PERFORM pg_advisory_unlock_shared(key);

(never a blocking lock call: lock_timeout would fire). To pause, the monitor
holds the lock exclusively on its connection; to resume, it lets go. A lock
dies with its session, so a dead monitor can never stall the migration.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor_host import HostSampler
from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor_policy import (
    Policy,
    cut_timeline,
    number,
    peaks,
    reachable,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

THROTTLE_SETTING = "knowledgehub.throttle_lock"
LIMIT = 50  # entries of each list in the result (_details.LIMIT); the whole timeline goes to details_file
_COUNTERS = ("xact_rollback", "deadlocks", "conflicts", "temp_bytes")

_WAITING = """
SELECT a.pid, pg_blocking_pids(a.pid), extract(epoch FROM clock_timestamp() - {since})::float8,
       l.mode, coalesce(l.relation::regclass::text, l.locktype), a.application_name
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE NOT l.granted AND a.datname = current_database()
 ORDER BY 3 DESC"""
_LONG_QUERIES = """
SELECT count(*) FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.state = 'active' AND a.backend_type = 'client backend'
   AND a.pid <> pg_backend_pid() AND a.pid <> %s AND a.application_name NOT LIKE 'knowledgehub.migration%%'
   AND a.query_start < clock_timestamp() - make_interval(secs => %s)"""
_STATS = "SELECT " + ", ".join(_COUNTERS) + " FROM pg_stat_database WHERE datname = current_database()"


def throttle_key(run_id: str) -> int:
    """The advisory-lock key of a run's throttle: a signed 64-bit number drawn from the run id."""
    digest = hashlib.sha256(("knowledgehub.migration throttle " + run_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Monitor:
    """Samples the load during a run and applies the policy; ``start``/``stop`` around the files."""

    def __init__(self, target: Target, settings: dict[str, Any], run_id: str, proc: str = "/proc") -> None:
        self._target = target
        self.settings = settings
        self.interval = settings["monitor_interval"]
        self.policy = Policy(settings)
        self.key = throttle_key(run_id)
        self._host = HostSampler(proc)
        self.samples: list[dict[str, Any]] = []
        self.error: str | None = None
        self._pid: int | None = None
        self._file: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._counters: tuple | None = None
        self.totals = dict.fromkeys(_COUNTERS + ("new_errors",), 0)

    # -- the runner's side ------------------------------------------------------------------

    def start(self) -> "Monitor":
        self._thread = threading.Thread(target=self._run, name="pg_migrate-monitor", daemon=True)
        self._thread.start()
        return self

    def watch(self, pid: int | None, filename: str | None) -> None:
        """The migration session now running (None between files): its blockers are watched, an abort cancels it."""
        self._pid, self._file = pid, filename

    def session_settings(self, transactional: bool) -> dict[str, str]:
        """What a file's session gets: the throttle key, for a batched file under monitor_policy=pause."""
        if self.policy.policy != "pause" or transactional:
            return {}
        return {THROTTLE_SETTING: str(self.key)}

    @property
    def abort_reason(self) -> str | None:
        return self.policy.abort_reason

    def abort_message(self) -> str:
        """Why the migration was stopped and what to do, for its failure and its ledger row."""
        return ("the run's monitor aborted it (monitor_policy=abort): %s. This is not a crash: the load crossed a "
                "threshold. Rerun when the load is down (a migrate:transaction off file continues where it stopped), "
                "raise the threshold, or choose monitor_policy=pause to wait between batches instead"
                % self.abort_reason)

    def stop(self) -> dict[str, Any]:
        """Stop sampling (the throttle goes with the connection); returns the whole result, timeline included."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 15)
            if self._thread.is_alive():
                self.error = self.error or "the monitor did not stop within %ss; its result may miss the last " \
                    "sample" % number(self.interval + 15)
        self.policy.finish(time.monotonic())
        return self.result(whole=True)

    def result(self, whole: bool = False) -> dict[str, Any]:
        """The monitor's part of the module result; ``whole`` keeps every sample and warning (details_file)."""
        timeline = list(self.samples) if whole else cut_timeline(self.samples, LIMIT)
        warnings = list(self.policy.warnings) if whole else self.policy.warnings[:LIMIT]
        return {
            "interval": self.interval, "policy": self.policy.policy,
            "thresholds": {"monitor_max_cpu": self.settings["monitor_max_cpu"],
                           "monitor_max_memory": self.settings["monitor_max_memory"],
                           "monitor_max_lock_wait": self.settings["monitor_max_lock_wait"],
                           "monitor_max_pause": self.settings["monitor_max_pause"],
                           "monitor_long_query_seconds": self.settings["monitor_long_query_seconds"]},
            "samples": len(self.samples), "peaks": peaks(self.samples), "totals": dict(self.totals),
            "warnings": warnings, "warnings_total": len(self.policy.warnings),
            "paused_seconds": round(self.policy.paused_seconds, 1), "pauses": self.policy.pauses,
            "aborted": self.abort_reason is not None, "abort_reason": self.abort_reason, "error": self.error,
            "timeline": timeline, "timeline_total": len(self.samples),
            "timeline_left_out": len(self.samples) - len(timeline),
        }

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        conn = None
        try:
            conn = self._target.connect("pg_migrate monitor", autocommit=True)
            with conn.cursor() as cur:
                # a sample must never hang the monitor: its queries are bounded
                cur.execute("SET statement_timeout = '5s'; SET lock_timeout = '1s'")
            self._host.sample(time.monotonic())
            self._counters = self._read_counters(conn)
            while not self._stop.wait(self.interval):
                self._tick(conn)
            if not self.samples or time.monotonic() - self._started - self.samples[-1]["t"] >= 1:
                self._closing_sample(conn)
        except Exception as exc:  # pylint: disable=broad-except
            # the monitor is a guard, not a step: its failure is recorded and the migration goes on (a throttle
            # it held is released with its connection below)
            self.error = "the monitor stopped sampling after %d sample(s): %s" % (
                len(self.samples), self._target.scrub(first_line(exc)) or type(exc).__name__)
        finally:
            self.policy.finish(time.monotonic())
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # pylint: disable=broad-except
                    pass

    def _tick(self, conn: Any) -> None:
        now = time.monotonic()
        sample: dict[str, Any] = {"t": round(now - self._started, 1), "file": self._file}
        sample.update(self._host.sample(now))
        sample.update(self._database(conn))
        warned = len(self.policy.warnings)
        action = self.policy.decide(sample, now, where=self._file or "")
        if sample.get("deadlocks"):
            self.policy.warnings.append("%d deadlock(s) in the database (at +%ss, %s)." % (
                sample["deadlocks"], sample["t"], self._file or "between files"))
        if action == "pause":
            self._hold(conn)
        elif action == "resume":
            self._query(conn, "SELECT pg_advisory_unlock(%s)", (self.key,))
        if self.policy.abort_reason and self._pid is not None:
            # again at every sample: a cancel that lands between two statements cancels nothing, and the
            # runner checks the abort before each statement
            self._query(conn, "SELECT pg_cancel_backend(%s)", (self._pid,))
        sample.update(action=action, throttled=self.policy.paused, warned=len(self.policy.warnings) > warned)
        self.samples.append(sample)

    def _closing_sample(self, conn: Any) -> None:
        """The load since the last sample, taken as the run ends (a run shorter than the interval gets its figures
        too); no policy: the run is over."""
        now = time.monotonic()
        sample: dict[str, Any] = {"t": round(now - self._started, 1), "file": self._file}
        sample.update(self._host.sample(now))
        sample.update(self._database(conn))
        sample.update(action="closing", throttled=False, warned=False)
        self.samples.append(sample)

    def _hold(self, conn: Any) -> None:
        """Take the throttle exclusively; a batch holds it shared only for an instant, so a few tries suffice."""
        for _try in range(100):
            if self._query(conn, "SELECT pg_try_advisory_lock(%s)", (self.key,))[0][0]:
                return
            time.sleep(0.05)
        raise RuntimeError("the throttle lock %s stayed held by the migration for 5 s" % self.key)

    @staticmethod
    def _query(conn: Any, query: str, args: Any = None) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []

    def _read_counters(self, conn: Any) -> tuple:
        rows = self._query(conn, _STATS)
        return tuple(int(v or 0) for v in rows[0]) if rows else (0,) * len(_COUNTERS)

    def _database(self, conn: Any) -> dict[str, Any]:
        since = "l.waitstart" if conn.server_version >= 140000 else "a.query_start"
        waiting = self._query(conn, _WAITING.format(since=since))
        blockers = {row[0]: list(row[1] or []) for row in waiting}
        pid = self._pid
        out: dict[str, Any] = {
            "lock_wait_s": round(max([row[2] or 0.0 for row in waiting] or [0.0]), 1),
            "blocked_sessions": len(waiting),
            "blocked_by_migration": reachable(blockers, pid),
            "migration_blocked_by": blockers.get(pid, []) if pid is not None else [],
            "long_queries": int(self._query(conn, _LONG_QUERIES, (pid or 0, self.settings[
                "monitor_long_query_seconds"]))[0][0]),
        }
        if waiting:
            top = waiting[0]
            out["longest_wait"] = "pid %s (application %r) waiting for %s on %s, blocked by pid(s) %s" % (
                top[0], top[5], top[3], top[4], ", ".join(str(p) for p in top[1] or []) or "none")
        counters = self._read_counters(conn)
        delta = dict(zip(_COUNTERS, (max(0, a - b) for a, b in zip(counters, self._counters or counters))))
        self._counters = counters
        delta["new_errors"] = delta["xact_rollback"] + delta["deadlocks"] + delta["conflicts"]
        for key, value in delta.items():
            self.totals[key] += value
        out.update(delta)
        return out


def start_monitor(target: Target, settings: dict[str, Any], run_id: str) -> Monitor | None:
    """The run's monitor, started; None when monitor_interval is 0."""
    if not settings.get("monitor_interval"):
        return None
    return Monitor(target, settings, run_id).start()


__all__ = ["Monitor", "THROTTLE_SETTING", "start_monitor", "throttle_key"]
