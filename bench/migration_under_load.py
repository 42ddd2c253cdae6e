# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The 004-006 migration under a steady application workload, two ways.

    python3 bench/migration_under_load.py                      # 1 000 000 chunks, dim 384
    python3 bench/migration_under_load.py --chunks 20000       # smoke run, a minute or two

Builds a throwaway PostgreSQL 15 cluster (tools/pgsandbox.py, fsync on) under /tmp,
loads one legacy KnowledgeHub database (001-003 with ``psql -1`` as the knowledgehub
role, then tools/sample_data.sql), vacuums it and clones it per arm with
``CREATE DATABASE ... TEMPLATE legacy STRATEGY FILE_COPY``, so both arms start from the
same files. In each arm pgbench runs the application's writes and reads
(bench/workload/*.sql, rate-limited, --max-tries=1) from a few seconds before the
migration until its backlog has drained after it, while

    arm A  psql -1 -v ON_ERROR_STOP=1 -f <file>            for 004, then 005, then 006
    arm B  ansible-playbook playbooks/migrate.yml -e migrate_lock_timeout=<X>

migrates the arm's database. A sampler thread records every 200 ms which session
waits for which lock and who holds it (pg_blocking_pids). The report gives per arm the
migration's wall time, the client transactions, the failed ones, the longest client
wait (pgbench latency, which counts from the scheduled start, so it includes the
schedule lag) and the p99 during the migration, and the verdict against the target of
issue 3: zero failed transactions and no client wait above lock_timeout. The numbers
are printed and written as JSON to bench/results/ (git-ignored); bench/README.md says
how to read them.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import math
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import pgsandbox  # noqa: E402  pylint: disable=wrong-import-position
from collection_path import link_collection  # noqa: E402  pylint: disable=wrong-import-position

link_collection()
# pylint: disable=wrong-import-position
# The header directives as pg_migrate reads them ("-- migrate:transaction off", ...).
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import parse_directives  # noqa: E402
# pylint: enable=wrong-import-position

try:
    import psycopg2
except ImportError:  # the system python3: main() re-executes this script with the repository's .venv
    psycopg2 = None

VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")
ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
WORKLOAD_DIR = os.path.join(REPO, "bench", "workload")
RESULTS_DIR = os.path.join(REPO, "bench", "results")
SAMPLE_DATA = os.path.join(REPO, "tools", "sample_data.sql")
APP_USER = "knowledgehub"
TEMPLATE_DB = "legacy"
# What KnowledgeHub production already holds (the migrate role's migrate_baseline_version).
BASELINE_VERSION = "003"
MIGRATION_FILE = re.compile(r"^(\d+)_[A-Za-z0-9][A-Za-z0-9_-]*\.sql$")  # as pg_migrate finds them

# The workload: (script in bench/workload, pgbench weight). Writes as the application
# issues them before it is upgraded, and the two reads it runs most.
WORKLOAD: tuple[tuple[str, int], ...] = (
    ("insert_document", 2),
    ("touch_memory", 4),
    ("insert_memory", 2),
    ("insert_search", 2),
    ("read_chunks", 4),
    ("recall_memories", 2),
)
# Every workload script starts with the stop switch; its intended failure is command 2.
STOP_COMMAND = 2
PROGRESS = re.compile(r"^progress: ([\d.]+) s, ([\d.]+) tps, lat ([\d.]+) ms stddev [\d.NaN]+,"
                      r"(?: (\d+) failed,)? lag ([\d.]+) ms")
META_ABORT = re.compile(r"client (\d+) aborted in command (\d+) \((\w+)\) of script (\d+); (.*)")
SQL_ABORT = re.compile(r"client (\d+) script (\d+) aborted in command (\d+) query (\d+): (.*)")

ARMS = {
    "A": "psql -1 -f (baseline)",
    "B": "ansible-playbook migrate.yml",
}


# --------------------------------------------------------------------------- helpers

def transaction_off(path: str) -> bool:
    """True when the file's header says "-- migrate:transaction off": the file commits on its own (batches) and
    cannot run under psql -1. Read with pg_migrate's own parser (an unknown directive is an error, as there)."""
    with open(path, encoding="utf-8") as handle:
        return parse_directives(os.path.basename(path), handle.read()).get("transaction") == "off"


def now() -> float:
    return time.time()


def log(message: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def percentile(sorted_values: list[float], fraction: float) -> Optional[float]:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = min(len(sorted_values), max(1, math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def fmt_seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 1:
        return "%.1f ms" % (value * 1000)
    return "%.2f s" % value


def run(cmd: list[str], env: Optional[dict[str, str]] = None, cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)


def git_state() -> dict[str, Any]:
    head = run(["git", "-C", REPO, "rev-parse", "HEAD"])
    status = run(["git", "-C", REPO, "status", "--porcelain"])
    return {"commit": head.stdout.strip() or None,
            "dirty_files": [line[3:] for line in status.stdout.splitlines()] if status.returncode == 0 else None}


def environment(cluster: pgsandbox.Cluster, args: argparse.Namespace) -> dict[str, Any]:
    cpu_model = None
    mem_gb = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kb = next(int(line.split()[1]) for line in handle if line.startswith("MemTotal"))
            mem_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    ansible = run([ANSIBLE_PLAYBOOK, "--version"])
    pgbench = run([os.path.join(pgsandbox.PG_BIN, "pgbench"), "--version"])
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "postgresql": cluster.psql("SHOW server_version"),
        "pgbench": pgbench.stdout.strip(),
        "ansible": ansible.stdout.splitlines()[0] if ansible.stdout else None,
        "fsync": cluster.psql("SHOW fsync"),
        "synchronous_commit": cluster.psql("SHOW synchronous_commit"),
        "shared_buffers": cluster.psql("SHOW shared_buffers"),
        "max_wal_size": cluster.psql("SHOW max_wal_size"),
        "deadlock_timeout": cluster.psql("SHOW deadlock_timeout"),
        "chunks": args.chunks,
        "dim": args.dim,
        "rate_tps": args.rate,
        "clients": args.clients,
        "threads": args.threads,
        "lock_timeout": args.lock_timeout,
        "warmup_s": args.warmup,
        "cooldown_s": args.cooldown,
        "sample_interval_s": args.sample_interval,
        "git": git_state(),
    }


# --------------------------------------------------------------------------- lock sampler

SAMPLE_SQL = r"""
WITH waiting AS (
    SELECT a.pid, coalesce(nullif(a.application_name, ''), a.backend_type) AS application_name, a.query, a.query_start,
           pg_blocking_pids(a.pid) AS blockers
      FROM pg_stat_activity a
     WHERE a.datname = current_database()
       AND a.wait_event_type = 'Lock'
       AND a.pid <> pg_backend_pid()
)
SELECT w.pid,
       w.application_name,
       extract(epoch FROM clock_timestamp() - w.query_start)::float8,
       left(regexp_replace(w.query, '\s+', ' ', 'g'), 240),
       wl.target,
       wl.mode,
       b.pid,
       coalesce(nullif(h.application_name, ''), h.backend_type),
       h.state,
       left(regexp_replace(h.query, '\s+', ' ', 'g'), 240),
       extract(epoch FROM clock_timestamp() - h.xact_start)::float8,
       (SELECT string_agg(DISTINCT hl.mode, '+')
          FROM pg_locks hl
         WHERE hl.pid = b.pid AND hl.granted AND hl.locktype = wl.locktype
           AND hl.database IS NOT DISTINCT FROM wl.database
           AND hl.relation IS NOT DISTINCT FROM wl.relation
           AND hl.transactionid IS NOT DISTINCT FROM wl.transactionid) AS held,
       (SELECT string_agg(DISTINCT hl.mode, '+')
          FROM pg_locks hl
         WHERE hl.pid = b.pid AND NOT hl.granted) AS blocker_waits_for
  FROM waiting w
  LEFT JOIN LATERAL (
        SELECT l.locktype, l.database, l.relation, l.transactionid, l.mode,
               coalesce(l.relation::regclass::text, l.locktype) AS target
          FROM pg_locks l
         WHERE l.pid = w.pid AND NOT l.granted
         LIMIT 1
       ) AS wl ON true
 CROSS JOIN LATERAL unnest(w.blockers) AS b(pid)
  LEFT JOIN pg_stat_activity h ON h.pid = b.pid
"""

SAMPLE_FIELDS = ("pid", "application", "waited_s", "query", "target", "mode", "blocker_pid", "blocker_application",
                 "blocker_state", "blocker_query", "blocker_xact_s", "blocker_holds", "blocker_waits_for")


class LockSampler(threading.Thread):
    """Every ``interval`` seconds, who waits for a lock in ``db`` and who blocks it."""

    def __init__(self, cluster: pgsandbox.Cluster, db: str, interval: float) -> None:
        super().__init__(name="lock-sampler-%s" % db, daemon=True)
        self.cluster = cluster
        self.db = db
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.polls = 0
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        conn = psycopg2.connect(host=self.cluster.socket_dir, port=self.cluster.port, user="postgres", dbname=self.db,
                                application_name="bench lock sampler")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '1s'")
                while not self._stop_event.is_set():
                    started = now()
                    try:
                        cur.execute(SAMPLE_SQL)
                        for row in cur.fetchall():
                            self.samples.append(dict(zip(SAMPLE_FIELDS, row), t=started))
                        self.polls += 1
                    except psycopg2.Error as exc:
                        if len(self.errors) < 20:
                            self.errors.append("%s: %s" % (time.strftime("%H:%M:%S"), str(exc).strip()))
                    self._stop_event.wait(max(0.0, self.interval - (now() - started)))
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


def blocking_episodes(samples: list[dict[str, Any]], origin: float) -> list[dict[str, Any]]:
    """Group lock waits by (waiter, wanted lock, blocker, what the blocker holds)."""
    groups: dict[tuple, dict[str, Any]] = {}
    for sample in samples:
        key = (_who(sample["application"]), sample["target"], sample["mode"], _who(sample["blocker_application"]),
               sample["blocker_holds"] or ("queued ahead, waiting for %s" % sample["blocker_waits_for"]))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "waiter": key[0], "waits_for": "%s on %s" % (sample["mode"], sample["target"]),
                "blocker": key[3], "blocker_holds": key[4], "first_s": sample["t"] - origin, "last_s": 0.0,
                "samples": 0, "max_wait_s": 0.0, "waiter_pids": set(), "blocker_statements": [],
                "waiter_statements": [],
            }
        group["last_s"] = sample["t"] - origin
        group["samples"] += 1
        group["max_wait_s"] = max(group["max_wait_s"], sample["waited_s"] or 0.0)
        group["waiter_pids"].add(sample["pid"])
        for name, value in (("blocker_statements", sample["blocker_query"]), ("waiter_statements", sample["query"])):
            if value and value not in group[name] and len(group[name]) < 4:
                group[name].append(value)
    episodes = sorted(groups.values(), key=lambda g: g["first_s"])
    for group in episodes:
        group["waiters"] = len(group.pop("waiter_pids"))
        for name in ("first_s", "last_s", "max_wait_s"):
            group[name] = round(group[name], 3)
    return episodes


def waits_by_blocker(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The longest lock wait seen behind each blocking application (a migration file's session, or a queued client)."""
    result: dict[str, dict[str, Any]] = {}
    for sample in samples:
        entry = result.setdefault(_who(sample["blocker_application"]), {"max_wait_s": 0.0, "samples": 0, "waiters": set()})
        entry["max_wait_s"] = max(entry["max_wait_s"], sample["waited_s"] or 0.0)
        entry["samples"] += 1
        entry["waiters"].add(sample["pid"])
    return {name: {"max_wait_s": round(e["max_wait_s"], 3), "samples": e["samples"], "waiters": len(e["waiters"])}
            for name, e in result.items()}


def _who(application: Optional[str]) -> str:
    return application or "(no application_name)"


# --------------------------------------------------------------------------- pgbench workload

@dataclass
class Transaction:
    """One line of pgbench's per-transaction log."""

    client: int
    script: str
    end: float
    latency: Optional[float]  # seconds from the scheduled start to the end (None for a failure)
    lag: float  # seconds from the scheduled start to the actual start
    status: str  # ok, failed, serialization, deadlock, skipped

    @property
    def start(self) -> float:
        return self.end - (self.latency or 0.0)


@dataclass
class Workload:
    """A pgbench process running bench/workload/*.sql against one database."""

    cluster: pgsandbox.Cluster
    db: str
    env: dict[str, str]
    log_prefix: str
    variables: dict[str, Any]
    args: argparse.Namespace
    stop_key: int = field(default_factory=lambda: secrets.randbits(62))
    proc: Optional[subprocess.Popen] = None
    stderr_lines: list[tuple[float, str]] = field(default_factory=list)
    progress: list[tuple[float, float, float]] = field(default_factory=list)  # (when, tps, lag seconds)
    stdout: str = ""
    command: list[str] = field(default_factory=list)
    _gate: Any = None
    _readers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        # The stop switch: while this session holds the advisory lock, the scripts' try-lock fails and they run.
        self._gate = psycopg2.connect(host=self.cluster.socket_dir, port=self.cluster.port, user="postgres",
                                      dbname=self.db, application_name="bench workload gate")
        self._gate.autocommit = True
        with self._gate.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (self.stop_key,))
        variables = dict(self.variables, stop_key=self.stop_key)
        cmd = [os.path.join(pgsandbox.PG_BIN, "pgbench"), "-h", "127.0.0.1", "-p", str(self.cluster.port),
               "-U", APP_USER, "-n", "-c", str(self.args.clients), "-j", str(self.args.threads),
               "-T", str(int(self.args.warmup + self.args.max_migration_minutes * 60 + 1800)),
               "--rate=%s" % self.args.rate, "--max-tries=1", "--failures-detailed", "-P", "1",
               "-l", "--log-prefix=%s" % self.log_prefix]
        for key, value in variables.items():
            cmd += ["-D", "%s=%s" % (key, value)]
        for script, weight in WORKLOAD:
            cmd += ["-f", "%s@%d" % (os.path.join(WORKLOAD_DIR, script + ".sql"), weight)]
        cmd.append(self.db)
        self.command = cmd
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._readers = [threading.Thread(target=self._read_stdout, name="pgbench-stdout", daemon=True),
                         threading.Thread(target=self._read_stderr, name="pgbench-stderr", daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.stdout = self.proc.stdout.read()

    def _read_stderr(self) -> None:
        """Progress lines (-P 1) and client aborts, as they come."""
        if self.proc is None or self.proc.stderr is None:
            return
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            when = now()
            self.stderr_lines.append((when, line))
            match = PROGRESS.match(line)
            if match:
                self.progress.append((when, float(match.group(2)), float(match.group(5)) / 1000.0))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_until_steady(self, seconds: float) -> None:
        deadline = now() + seconds
        while now() < deadline:
            if not self.running():
                raise RuntimeError("pgbench ended before the migration started:\n%s" % self.stderr_tail())
            time.sleep(0.2)
        if not self.progress:
            raise RuntimeError("pgbench reports no progress after %.0f s:\n%s" % (seconds, self.stderr_tail()))

    def wait_drained(self, since: float, minimum: float, limit: float) -> float:
        """Wait at least ``minimum`` s after ``since``, then until the schedule lag is back to normal."""
        deadline = since + limit
        while now() < deadline and self.running():
            recent = [p for p in self.progress if p[0] >= since + minimum]
            if len(recent) >= 3 and all(p[2] < 0.05 for p in recent[-3:]) and any(p[1] > 0 for p in recent[-3:]):
                break
            time.sleep(0.2)
        return now() - since

    def stop(self, timeout: float = 120) -> None:
        if self._gate is not None:
            self._gate.close()  # releases the advisory lock: every client stops before its next transaction
            self._gate = None
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self._gate is not None:
            self._gate.close()
            self._gate = None

    def stderr_tail(self, lines: int = 30) -> str:
        return "\n".join(entry[1] for entry in self.stderr_lines[-lines:])

    def aborts(self) -> tuple[list[dict[str, Any]], int]:
        """Clients pgbench aborted for a real error, and how many stopped at the stop switch."""
        real: list[dict[str, Any]] = []
        stopped = 0
        last_error = ""  # pgbench prints a failed meta-command's reason on the line(s) before the abort
        for line in (entry[1] for entry in self.stderr_lines):
            meta = META_ABORT.search(line)
            sql = SQL_ABORT.search(line)
            if meta and int(meta.group(2)) == STOP_COMMAND and meta.group(3) == "set":
                stopped += 1
            elif meta:
                real.append({"client": int(meta.group(1)), "script": _script_name(int(meta.group(4))),
                             "command": int(meta.group(2)), "error": "%s (%s)" % (meta.group(5), last_error)})
            elif sql:
                real.append({"client": int(sql.group(1)), "script": _script_name(int(sql.group(2))),
                             "command": int(sql.group(3)), "error": sql.group(5)})
            elif "error:" in line and "division by zero" not in line:
                last_error = line
        return real, stopped

    def transactions(self) -> list[Transaction]:
        directory = os.path.dirname(self.log_prefix)
        base = os.path.basename(self.log_prefix) + "."
        result: list[Transaction] = []
        for name in sorted(os.listdir(directory)):
            if not name.startswith(base):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                for line in handle:
                    result.append(_parse_log_line(line))
        result.sort(key=lambda t: t.end)
        return result


def _script_name(number: int) -> str:
    return WORKLOAD[number][0] if 0 <= number < len(WORKLOAD) else "script %d" % number


def _parse_log_line(line: str) -> Transaction:
    # client_id transaction_no time script_no time_epoch time_us schedule_lag (with --rate, --max-tries=1)
    fields = line.split()
    end = int(fields[4]) + int(fields[5]) / 1e6
    lag = int(fields[6]) / 1e6 if len(fields) > 6 and fields[6].isdigit() else 0.0
    if fields[2].isdigit():
        return Transaction(int(fields[0]), _script_name(int(fields[3])), end, int(fields[2]) / 1e6, lag, "ok")
    return Transaction(int(fields[0]), _script_name(int(fields[3])), end, None, lag, fields[2])


# --------------------------------------------------------------------------- statistics

def window_stats(txs: Iterable[Transaction], threshold: float) -> dict[str, Any]:
    """Counts and latencies of a set of transactions; the latency counts from the scheduled start."""
    ok = [t for t in txs if t.status == "ok"]
    failed: dict[str, int] = {}
    for t in txs:
        if t.status != "ok":
            failed[t.status] = failed.get(t.status, 0) + 1
    latencies = sorted(t.latency for t in ok if t.latency is not None)
    executions = sorted((t.latency or 0.0) - t.lag for t in ok)
    worst = max(ok, key=lambda t: t.latency or 0.0, default=None)
    return {
        "transactions": len(ok),
        "failed": sum(failed.values()),
        "failed_by_kind": failed,
        "max_latency_s": worst.latency if worst else None,
        "max_latency_script": worst.script if worst else None,
        "max_lag_s": max((t.lag for t in txs), default=None),
        "max_execution_s": executions[-1] if executions else None,
        "p50_latency_s": percentile(latencies, 0.50),
        "p99_latency_s": percentile(latencies, 0.99),
        "p99_execution_s": percentile(executions, 0.99),
        "over_lock_timeout": sum(1 for value in latencies if value > threshold),
    }


def overlapping(txs: list[Transaction], start: float, end: float) -> list[Transaction]:
    """Transactions scheduled before ``end`` that ended after ``start``."""
    return [t for t in txs if t.start <= end and t.end >= start]


# --------------------------------------------------------------------------- the two migrations

@dataclass
class MigrationRun:
    ok: bool = False
    start: float = 0.0
    end: float = 0.0
    error: Optional[str] = None
    files: list[dict[str, Any]] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    output_tail: str = ""

    @property
    def wall_s(self) -> float:
        return self.end - self.start


class Bench:
    """The cluster, the legacy database and the arms."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix="kh-bench-")
        self.cluster = pgsandbox.Cluster(tempfile.mkdtemp(prefix="kh-bench-pg-"), pgsandbox.free_port(), fsync=True)
        self.migrations_dir = os.path.join(self.workdir, "migrations")
        self.passfile = os.path.join(self.workdir, "pgpass")
        self.password = ""
        self.lock_timeout_s = 0.0
        self.legacy: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.result_base = os.path.join(RESULTS_DIR, "migration_under_load-%s-%dchunks" % (stamp, args.chunks))

    # -- setup ------------------------------------------------------------------

    def client_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGPASSFILE=self.passfile, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        env.update(extra)
        return env

    def snapshot_migrations(self) -> list[dict[str, Any]]:
        """Both arms run the same files: a copy taken now (of --migrations, or of migrations/ at --migrations-ref)."""
        if self.args.migrations_ref:
            archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", self.args.migrations_ref, "migrations"],
                                     capture_output=True, check=False)
            if archive.returncode != 0:
                raise SystemExit("migration_under_load: git archive %s migrations failed: %s"
                                 % (self.args.migrations_ref, archive.stderr.decode(errors="replace").strip()))
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(self.workdir)  # noqa: S202  our own repository's files
        else:
            shutil.copytree(self.args.migrations, self.migrations_dir)
        return [{"file": name, "sha256": sha256_file(os.path.join(self.migrations_dir, name)),
                 "transaction": "off" if transaction_off(os.path.join(self.migrations_dir, name)) else "on"}
                for name in sorted(os.listdir(self.migrations_dir)) if MIGRATION_FILE.match(name)]

    def migration_files(self, after: bool) -> list[str]:
        """The NNN_*.sql files up to the baseline (after=False) or the pending ones (after=True)."""
        names = sorted(n for n in os.listdir(self.migrations_dir) if MIGRATION_FILE.match(n))
        return [os.path.join(self.migrations_dir, n) for n in names
                if (int(MIGRATION_FILE.match(n).group(1)) > int(BASELINE_VERSION)) == after]

    def start_cluster(self) -> None:
        self.cluster.init()
        self.cluster.start()
        # log_lock_waits: server.log names waiter and holder of every wait longer than deadlock_timeout
        self.cluster.psql("ALTER SYSTEM SET log_lock_waits = on; SELECT pg_reload_conf();")
        self.password = self.cluster.create_app_db(APP_USER, TEMPLATE_DB)
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("127.0.0.1:%d:*:%s:%s\n" % (self.cluster.port, APP_USER, self.password.replace(":", "\\:")))
        self.lock_timeout_s = float(self.cluster.psql(
            "BEGIN; SET LOCAL lock_timeout = %s; SELECT setting FROM pg_settings WHERE name = 'lock_timeout'; COMMIT;"
            % pgsandbox.quote_literal(self.args.lock_timeout)).splitlines()[-1]) / 1000.0

    def build_legacy(self) -> None:
        started = now()
        for path in self.migration_files(after=False):
            self.cluster.psql_file(path, TEMPLATE_DB, user=APP_USER)
        self.cluster.psql_file(SAMPLE_DATA, TEMPLATE_DB, variables={"chunks": str(self.args.chunks), "dim": str(self.args.dim)},
                               single_transaction=False, user=APP_USER)
        loaded = now()
        self.cluster.psql("VACUUM (ANALYZE);", db=TEMPLATE_DB)
        self.cluster.psql("CHECKPOINT;")
        row = self.cluster.psql(
            "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks),"
            " (SELECT min(id) FROM chunks), (SELECT max(id) FROM chunks), (SELECT count(*) FROM ai_memories),"
            " (SELECT count(*) FROM search_queries), pg_database_size(current_database()),"
            " (SELECT array_length(embedding, 1) FROM chunks WHERE embedding IS NOT NULL LIMIT 1)", db=TEMPLATE_DB)
        sources, documents, chunks, chunk_min, chunk_max, memories, searches, size, dim = (int(v or 0) for v in row.split("|"))
        self.legacy = {"sources": sources, "documents": documents, "chunks": chunks, "ai_memories": memories,
                       "search_queries": searches, "size_bytes": size, "size": self.cluster.psql(
                           "SELECT pg_size_pretty(%d::bigint)" % size),
                       "load_s": round(loaded - started, 1), "vacuum_s": round(now() - loaded, 1)}
        self.variables = {"sources": sources, "documents": documents, "memories": memories,
                          "chunk_min": chunk_min, "chunk_max": chunk_max, "dim": dim or self.args.dim}

    def clone(self, db: str) -> float:
        started = now()
        self.cluster.psql("CREATE DATABASE %s TEMPLATE %s OWNER %s STRATEGY FILE_COPY;"
                          % (pgsandbox.quote_ident(db), pgsandbox.quote_ident(TEMPLATE_DB), pgsandbox.quote_ident(APP_USER)))
        self.cluster.psql("CHECKPOINT;")
        return now() - started

    # -- migrations ---------------------------------------------------------------

    def migrate_psql(self, db: str) -> MigrationRun:
        """Arm A: each pending file with psql -1 -v ON_ERROR_STOP=1 -f, as the knowledgehub role.

        A file whose header says "-- migrate:transaction off" commits its own batches, which psql -1 refuses
        ("invalid transaction termination"): it runs as psql -f without -1, as the file asks.
        """
        result = MigrationRun(start=now())
        for path in self.migration_files(after=True):
            name = os.path.basename(path)
            single = not transaction_off(path)
            cmd = [os.path.join(pgsandbox.PG_BIN, "psql"), "-X", "-q"] + (["-1"] if single else []) + [
                "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.cluster.port), "-U", APP_USER, "-d", db,
                "-f", path]
            psql = "psql -1" if single else "psql"
            result.command.append(" ".join(cmd[:-1] + ["migrations/" + name]))
            started = now()
            proc = run(cmd, env=self.client_env(PGAPPNAME="bench %s %s" % (psql, name)))
            ended = now()
            result.files.append({"file": name, "start": started, "end": ended, "seconds": round(ended - started, 3),
                                 "psql": psql})
            if proc.returncode != 0:
                result.error = "%s -f %s failed (%d): %s" % (psql, name, proc.returncode, proc.stderr.strip()[-2000:])
                break
        result.end = now()
        result.ok = result.error is None
        return result

    def migrate_playbook(self, db: str) -> MigrationRun:
        """Arm B: playbooks/migrate.yml against the arm's database, the password from PGPASSFILE."""
        inventory = os.path.join(self.workdir, "inventory-%s.yml" % db)
        content = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
                           "vars": {"login_host": "127.0.0.1", "login_port": self.cluster.port,
                                    "login_user": APP_USER, "login_db": db}}}
        with open(inventory, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)  # JSON is YAML
        cmd = [ANSIBLE_PLAYBOOK, "playbooks/migrate.yml", "-i", inventory, "-e", "target_env=bench",
               "-e", "migrate_lock_timeout=%s" % self.args.lock_timeout,
               "-e", "migrate_migrations_src=%s" % self.migrations_dir]
        for extra in self.args.extra_vars:
            cmd += ["-e", extra]
        result = MigrationRun(command=[" ".join(cmd)], start=now())
        proc = run(cmd, env=self.client_env(), cwd=REPO)
        result.end = now()
        with open(os.path.join(self.workdir, "ansible-%s.log" % db), "w", encoding="utf-8") as handle:
            handle.write(proc.stdout + proc.stderr)
        result.ok = proc.returncode == 0
        summary = [line.strip().strip('",') for line in proc.stdout.splitlines()
                   if re.search(r"(Applied|Baselined|Ledger now|Interrupted):", line)]
        failure = proc.stdout[proc.stdout.find("fatal:"):] if "fatal:" in proc.stdout else proc.stdout[-4000:]
        result.output_tail = "\n".join(summary) if result.ok else (failure[:4000] + proc.stderr[-1000:])
        if not result.ok:
            result.error = "ansible-playbook exited %d" % proc.returncode
        result.files = self.ledger_windows(db)
        return result

    def ledger_windows(self, db: str) -> list[dict[str, Any]]:
        """When each file ran according to the ledger (best effort: the ledger's shape may change)."""
        try:
            out = self.cluster.psql(
                "SELECT version || '_' || name || '.sql', status, extract(epoch FROM started_at),"
                " extract(epoch FROM completed_at)"
                " FROM migration_log WHERE version > %s AND started_at IS NOT NULL ORDER BY id"
                % pgsandbox.quote_literal(BASELINE_VERSION), db=db)
        except RuntimeError as exc:
            return [{"error": str(exc)}]
        files = []
        for line in out.splitlines():
            name, status, started, ended = line.split("|")
            entry: dict[str, Any] = {"file": name, "status": status, "start": float(started)}
            if ended:
                entry.update(end=float(ended), seconds=round(float(ended) - float(started), 3))
            files.append(entry)
        return files

    # -- one arm ------------------------------------------------------------------------

    def run_arm(self, arm: str) -> dict[str, Any]:
        db = "arm_%s" % arm.lower()
        log("arm %s (%s): cloning %s into %s" % (arm, ARMS[arm], TEMPLATE_DB, db))
        clone_s = self.clone(db)
        workload = Workload(self.cluster, db, self.client_env(), os.path.join(self.workdir, "pgbench-%s" % db),
                            self.variables, self.args)
        sampler = LockSampler(self.cluster, db, self.args.sample_interval)
        migrate: Callable[[str], MigrationRun] = self.migrate_psql if arm == "A" else self.migrate_playbook
        migration = MigrationRun()
        drain_s = 0.0
        try:
            sampler.start()
            workload.start()
            log("arm %s: workload running (%s tps, %d clients), migrating in %.0f s"
                % (arm, self.args.rate, self.args.clients, self.args.warmup))
            workload.wait_until_steady(self.args.warmup)
            log("arm %s: migrating (%s)" % (arm, ARMS[arm]))
            migration = migrate(db)
            log("arm %s: migration %s in %.1f s; waiting for the workload's backlog to drain"
                % (arm, "done" if migration.ok else "FAILED", migration.wall_s))
            drain_s = workload.wait_drained(migration.end, self.args.cooldown, self.args.cooldown + 600)
            workload.stop()
        finally:
            workload.kill()
            sampler.stop()
        return self.arm_result(arm, db, clone_s, drain_s, migration, workload, sampler)

    def arm_result(self, arm: str, db: str, clone_s: float, drain_s: float, migration: MigrationRun,
                   workload: Workload, sampler: LockSampler) -> dict[str, Any]:
        txs = workload.transactions()
        aborted, stopped = workload.aborts()
        threshold = self.lock_timeout_s
        during = overlapping(txs, migration.start, migration.end)
        overall = window_stats(txs, threshold)
        per_script = {name: window_stats([t for t in during if t.script == name], threshold) for name, weight in WORKLOAD}
        failed = overall["failed"] + len(aborted)
        longest = overall["max_latency_s"]
        verdict = {
            "migration_ok": migration.ok,
            "zero_failed": failed == 0,
            "max_wait_within_lock_timeout": longest is not None and longest <= threshold,
            "clients_all_ran_to_the_end": not aborted and stopped == self.args.clients,
        }
        verdict["pass"] = all(verdict.values())
        samples_path = "%s-samples-%s.jsonl" % (self.result_base, db)
        with open(samples_path, "w", encoding="utf-8") as handle:
            for sample in sampler.samples:
                handle.write(json.dumps(dict(sample, t_rel_s=round(sample["t"] - migration.start, 3))) + "\n")
        files = [dict(entry, start_rel_s=round(entry["start"] - migration.start, 3),
                      end_rel_s=round(entry["end"] - migration.start, 3) if "end" in entry else None)
                 for entry in migration.files if "start" in entry]
        ended = [f["end"] for f in files if f.get("end")]
        in_database = (max(ended) - min(f["start"] for f in files)) if ended else None
        return {
            "arm": arm,
            "label": ARMS[arm],
            "database": db,
            "clone_s": round(clone_s, 1),
            "migration": {"ok": migration.ok, "error": migration.error, "wall_s": round(migration.wall_s, 3),
                          "in_database_s": round(in_database, 3) if in_database is not None else None,
                          "start": migration.start, "end": migration.end, "files": files,
                          "commands": migration.command, "output": migration.output_tail},
            "workload": {"command": " ".join(workload.command), "exit_code": workload.proc.returncode if workload.proc else None,
                         "clients_stopped_by_switch": stopped, "aborted_clients": aborted,
                         "seconds_before_migration": round(migration.start - txs[0].end, 1) if txs else None,
                         "seconds_after_migration": round(drain_s, 1), "summary": workload.stdout[-6000:]},
            "failed_transactions": failed,
            "longest_client_wait_s": longest,
            "lock_timeout_s": threshold,
            "overall": overall,
            "before_migration": window_stats([t for t in txs if t.end < migration.start], threshold),
            "during_migration": window_stats(during, threshold),
            "after_migration": window_stats([t for t in txs if t.start > migration.end], threshold),
            "during_migration_by_script": per_script,
            "verdict": verdict,
            "lock_waits": {"polls": sampler.polls, "samples": len(sampler.samples), "errors": sampler.errors,
                           "samples_file": os.path.relpath(samples_path, REPO),
                           "by_blocker": waits_by_blocker(sampler.samples),
                           "episodes": blocking_episodes(sampler.samples, migration.start)},
        }

    def drop(self, db: str) -> None:
        self.cluster.psql("DROP DATABASE IF EXISTS %s;" % pgsandbox.quote_ident(db))

    def cleanup(self) -> None:
        if self.args.keep:
            log("kept: cluster %s (port %d, superuser over the socket %s), work files %s; remove with"
                "  python3 tools/pgsandbox.py destroy --dir %s && rm -rf %s"
                % (self.cluster.basedir, self.cluster.port, self.cluster.socket_dir, self.workdir,
                   self.cluster.basedir, self.workdir))
            return
        if os.path.exists(self.cluster.log):
            shutil.copyfile(self.cluster.log, self.result_base + "-server.log")
        self.cluster.destroy()
        shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- report

def format_report(report: dict[str, Any]) -> str:
    """The report as text (printed, and saved beside the JSON)."""
    lines: list[str] = []

    def out(text: str = "") -> None:
        lines.append(text)

    env = report["environment"]
    legacy = report["legacy_database"]
    out()
    out("Environment: %s cores (%s), %s GB RAM, PostgreSQL %s (fsync %s, shared_buffers %s), %s"
        % (env["cpu_cores"], env["cpu_model"], env["memory_gb"], env["postgresql"], env["fsync"],
           env["shared_buffers"], env["ansible"]))
    out("Data: %d chunks (dim %d), %d documents, %d memories, %s; loaded in %.0f s, vacuumed in %.0f s"
        % (legacy["chunks"], env["dim"], legacy["documents"], legacy["ai_memories"], legacy["size"],
           legacy["load_s"], legacy["vacuum_s"]))
    out("Workload: pgbench %d clients, %d threads, --rate %s tps, --max-tries=1; scripts %s"
        % (env["clients"], env["threads"], env["rate_tps"], ", ".join("%s@%d" % w for w in WORKLOAD)))
    out("Migrations: %s (%s)" % (report["migrations_source"], ", ".join(
        "%s%s" % (f["file"], " [transaction off]" if f["transaction"] == "off" else "")
        for f in report["migration_files"] if int(f["file"][:3]) > int(BASELINE_VERSION))))
    out("Target: zero failed client transactions and no client wait above lock_timeout = %s"
        % env["lock_timeout"])
    out()
    arms = report["arms"]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("migration", lambda a: "ok" if a["migration"]["ok"] else "FAILED"),
        ("migration wall time", lambda a: fmt_seconds(a["migration"]["wall_s"])),
        ("  in the database (files)", lambda a: fmt_seconds(a["migration"]["in_database_s"])),
        ("  per file", lambda a: ", ".join("%s %s%s" % (f["file"][:3], fmt_seconds(f.get("seconds")),
                                                        " (no -1)" if f.get("psql") == "psql" else "")
                                           for f in a["migration"]["files"]) or "-"),
        ("longest lock wait behind", lambda a: ", ".join(
            "%s %s" % (_version_of(name), fmt_seconds(e["max_wait_s"]))
            for name, e in sorted(a["lock_waits"]["by_blocker"].items()) if _version_of(name)) or "none seen"),
        ("client transactions (all)", lambda a: str(a["overall"]["transactions"])),
        ("  during the migration", lambda a: str(a["during_migration"]["transactions"])),
        ("failed transactions", lambda a: "%d%s" % (a["failed_transactions"], _failure_detail(a))),
        ("longest client wait", lambda a: "%s (%s)" % (fmt_seconds(a["longest_client_wait_s"]),
                                                       a["overall"]["max_latency_script"])),
        ("  longest schedule lag", lambda a: fmt_seconds(a["overall"]["max_lag_s"])),
        ("  longest execution", lambda a: fmt_seconds(a["overall"]["max_execution_s"])),
        ("p99 latency during migration", lambda a: fmt_seconds(a["during_migration"]["p99_latency_s"])),
        ("p99 execution during migration", lambda a: fmt_seconds(a["during_migration"]["p99_execution_s"])),
        ("p99 latency before migration", lambda a: fmt_seconds(a["before_migration"]["p99_latency_s"])),
        ("transactions > lock_timeout", lambda a: str(a["overall"]["over_lock_timeout"])),
        ("verdict", lambda a: "PASS" if a["verdict"]["pass"] else "FAIL (%s)" % ", ".join(
            k for k, v in a["verdict"].items() if k != "pass" and not v)),
    ]
    width = max(len(r[0]) for r in rows) + 2
    col = 38
    out("".ljust(width) + "".join(("arm %s: %s" % (a["arm"], a["label"])).ljust(col) for a in arms))
    for label, getter in rows:
        out(label.ljust(width) + "".join(getter(a).ljust(col) for a in arms))
    if "ratio_b_over_a" in report:
        out("B/A: " + ", ".join("%s %s" % (k.replace("_", " "), "%.2f" % v if v else "-")
                                for k, v in report["ratio_b_over_a"].items()))
    out()
    out("During the migration, per workload script: transactions, longest latency / longest execution (without lag)")
    for name, weight in WORKLOAD:
        out("  %-16s@%d" % (name, weight) + "".join(
            ("%6d  %10s / %-10s" % (a["during_migration_by_script"][name]["transactions"],
                                    fmt_seconds(a["during_migration_by_script"][name]["max_latency_s"]),
                                    fmt_seconds(a["during_migration_by_script"][name]["max_execution_s"]))).ljust(col)
            for a in arms))
    for arm in arms:
        out()
        out("arm %s: where the client waits came from (lock sampler, %d polls, %d waits seen)"
            % (arm["arm"], arm["lock_waits"]["polls"], arm["lock_waits"]["samples"]))
        episodes = sorted(arm["lock_waits"]["episodes"], key=lambda e: -e["max_wait_s"])[:8]
        for episode in episodes:
            holds = episode["blocker_holds"].replace("Lock", "")
            out("  %8.1f..%.1f s: %s (%d session(s)) waited up to %.2f s for %s; %s %s"
                % (episode["first_s"], episode["last_s"], episode["waiter"], episode["waiters"], episode["max_wait_s"],
                   episode["waits_for"], episode["blocker"],
                   ("is " + holds) if holds.startswith("queued") else ("holds " + holds)))
            for statement in episode["blocker_statements"][:2]:
                out("      blocker's statement then: %s" % statement[:140])
        if not episodes:
            out("  no lock waits seen")
        if arm["migration"]["error"]:
            out("  migration error: %s" % arm["migration"]["error"][:1500])
            if arm["migration"]["output"]:
                out("  " + arm["migration"]["output"][:2500].replace("\n", "\n  "))
    out()
    out("JSON: %s" % report["json"])
    return "\n".join(lines) + "\n"


def _version_of(application: str) -> Optional[str]:
    """004 for "bench psql -1 004_hybrid_rag_schema.sql", "bench psql 005_..." or "knowledgehub.migration pg_migrate 004"."""
    match = re.search(r"(?:psql (?:-1 )?|pg_migrate )(\d+)", application)
    return match.group(1) if match else None


def _failure_detail(arm: dict[str, Any]) -> str:
    parts = ["%d %s" % (n, kind) for kind, n in arm["overall"]["failed_by_kind"].items()]
    if arm["workload"]["aborted_clients"]:
        parts.append("%d client(s) aborted" % len(arm["workload"]["aborted_clients"]))
    return " (%s)" % ", ".join(parts) if parts else ""


# --------------------------------------------------------------------------- main

def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1000000, help="chunks in the legacy database (default 1000000)")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension (default 384)")
    parser.add_argument("--rate", type=float, default=50, help="workload transactions per second, all clients (default 50)")
    parser.add_argument("--clients", type=int, default=4, help="pgbench clients (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="pgbench threads (default 2)")
    parser.add_argument("--lock-timeout", default="2s", help="migrate_lock_timeout for arm B and the target (default 2s)")
    parser.add_argument("--arms", default="A,B", help="arms to run, A (psql -1 -f) and/or B (migrate.yml); default A,B")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of workload before the migration (default 10)")
    parser.add_argument("--cooldown", type=float, default=10,
                        help="seconds of workload after the migration, at least; longer until the backlog drained (default 10)")
    parser.add_argument("--sample-interval", type=float, default=0.2, help="lock sampler period in seconds (default 0.2)")
    parser.add_argument("--max-migration-minutes", type=float, default=240,
                        help="pgbench's -T covers this long a migration; it is stopped as soon as the migration ends")
    parser.add_argument("--migrations", default=os.path.join(REPO, "migrations"), help="migration files (default migrations/)")
    parser.add_argument("--migrations-ref", help="take migrations/ from this git revision instead (e.g. HEAD)")
    parser.add_argument("-e", "--extra-vars", action="append", default=[], metavar="VAR=VALUE",
                        help="more extra vars for arm B's ansible-playbook (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster running and the work files")
    args = parser.parse_args(argv)
    args.arms = [a.strip().upper() for a in args.arms.split(",") if a.strip()]
    if not args.arms or any(a not in ARMS for a in args.arms):
        parser.error("--arms takes A, B or A,B")
    if args.chunks < 20 or args.dim < 1 or args.rate <= 0 or args.clients < 1 or args.threads < 1:
        parser.error("--chunks >= 20, --dim >= 1, --rate > 0, --clients >= 1 and --threads >= 1")
    args.threads = min(args.threads, args.clients)
    return args


def ensure_venv() -> None:
    """psycopg2 lives in the repository's .venv: run there when started with another python."""
    if psycopg2 is not None:
        return
    if os.path.exists(VENV_PYTHON) and os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(VENV_PYTHON))):
        os.execv(VENV_PYTHON, [VENV_PYTHON] + sys.argv)
    raise SystemExit("migration_under_load: psycopg2 is missing; run `make venv` first")


def main(argv: Optional[list[str]] = None) -> int:
    ensure_venv()
    args = parse_args(argv)
    for program in ("postgres", "pgbench", "psql"):
        if not os.path.exists(os.path.join(pgsandbox.PG_BIN, program)):
            raise SystemExit("migration_under_load: %s not found in %s (apt-get install postgresql-15)"
                             % (program, pgsandbox.PG_BIN))
    if "B" in args.arms and not os.path.exists(ANSIBLE_PLAYBOOK):
        raise SystemExit("migration_under_load: %s not found; run `make venv collections` first" % ANSIBLE_PLAYBOOK)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    bench = Bench(args)
    report: dict[str, Any] = {"started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                              "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
                              "json": os.path.relpath(bench.result_base + ".json", REPO)}
    try:
        files = bench.snapshot_migrations()
        bench.start_cluster()
        report["environment"] = environment(bench.cluster, args)
        report["environment"]["lock_timeout_s"] = bench.lock_timeout_s
        report["migration_files"] = files
        report["migrations_source"] = ("git %s:migrations" % args.migrations_ref if args.migrations_ref
                                       else os.path.relpath(os.path.abspath(args.migrations), REPO))
        log("PostgreSQL %s on 127.0.0.1:%d (%s); loading %d chunks of dimension %d"
            % (report["environment"]["postgresql"], bench.cluster.port, bench.cluster.basedir, args.chunks, args.dim))
        bench.build_legacy()
        report["legacy_database"] = bench.legacy
        log("legacy database: %(documents)d documents, %(chunks)d chunks, %(ai_memories)d memories, %(size)s;"
            " loaded in %(load_s).0f s, vacuumed in %(vacuum_s).0f s" % bench.legacy)
        report["arms"] = []
        for arm in args.arms:
            result = bench.run_arm(arm)
            report["arms"].append(result)
            if not args.keep:
                bench.drop(result["database"])
        by_arm = {a["arm"]: a for a in report["arms"]}
        if "A" in by_arm and "B" in by_arm:
            wall_a = by_arm["A"]["migration"]["wall_s"]
            db_a, db_b = by_arm["A"]["migration"]["in_database_s"], by_arm["B"]["migration"]["in_database_s"]
            report["ratio_b_over_a"] = {
                "migration_wall_time": round(by_arm["B"]["migration"]["wall_s"] / wall_a, 3) if wall_a else None,
                "migration_time_in_database": round(db_b / db_a, 3) if db_a and db_b else None,
            }
        report["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        with open(bench.result_base + ".json", "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, default=str)
        text = format_report(report)
        with open(bench.result_base + ".txt", "w", encoding="utf-8") as handle:
            handle.write(text)
        print(text, end="")
    finally:
        bench.cleanup()
    return 0 if all(a["migration"]["ok"] for a in report.get("arms", [])) and report.get("arms") else 1


if __name__ == "__main__":
    sys.exit(main())
