# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pg_validate's pre-migration snapshot costs on a KnowledgeHub database, and what it does to the application.

    .venv/bin/python bench/snapshot.py --port 5433 --source knowledgehub        # PGPASSWORD for the knowledgehub role
    .venv/bin/python bench/snapshot.py --bench-json /path/bench.json --seconds 60

The cluster must already run (any PostgreSQL 15 with the knowledgehub role and a legacy KnowledgeHub database, as
bench/backup_restore.py loads one). The source database is only read: a scratch copy of it
(``CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY``, as the superuser through the Unix socket) takes the
workload's writes and is dropped at the end.

1. ``--repeat`` snapshot takes (pg_validate ``snapshot=take``, ``snapshot_overwrite``, ``snapshot_readers`` from
   ``--readers``) of ai_memories, documents and chunks, timed (the module's wall time and the snapshot's own
   ``duration_ms``), with the file's size; then one compare (``phase=data``, ``snapshot=compare``), timed.
2. The workload of bench/migration_under_load.py (bench/workload/*.sql through pgbench, ``--rate`` transactions per
   second, the same weights and stop switch) for ``--seconds`` undisturbed, then ``--seconds`` with snapshots taken
   back to back. The per-transaction latencies (from the scheduled start, so queueing counts) of each window give
   p50 and p95, and the ratios with/without.

The report is printed and written to bench/results/snapshot-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "tools"), os.path.join(REPO, "bench")]

import pgsandbox  # noqa: E402  pylint: disable=wrong-import-position
from collection_path import COLLECTIONS, link_collection  # noqa: E402  pylint: disable=wrong-import-position
from migration_under_load import Workload, percentile  # noqa: E402  pylint: disable=wrong-import-position

RESULTS_DIR = os.path.join(REPO, "bench", "results")
TABLES = ["ai_memories", "documents", "chunks"]


def log(message: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def run_module(args: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """pg_validate as Ansible runs it (a Python process, the arguments on stdin); its result and wall time."""
    argv = [sys.executable, "-m", "ansible_collections.knowledgehub.migration.plugins.modules.pg_validate"]
    stdin = json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=False, _ansible_no_log=False)})
    started = time.monotonic()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS), cwd=REPO)
    wall = time.monotonic() - started
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit("pg_validate printed no JSON: %s" % proc.stderr[-2000:]) from None
    if result.get("failed"):
        raise SystemExit("pg_validate failed: %s" % result.get("msg"))
    return result, wall


def latency_stats(txs: list[Any]) -> dict[str, Any]:
    latencies = sorted(t.latency for t in txs if t.status == "ok" and t.latency is not None)
    return {"transactions": len(latencies), "failed": sum(t.status != "ok" for t in txs),
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 2) if latencies else None,
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 2) if latencies else None,
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else None}


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-json", help="a JSON file with the cluster's port and the knowledgehub password")
    parser.add_argument("--port", type=int, default=5433)
    parser.add_argument("--socket-dir", help="the cluster's Unix socket directory (superuser, trust)")
    parser.add_argument("--source", default="knowledgehub", help="the database copied (only read)")
    parser.add_argument("--repeat", type=int, default=3, help="snapshot takes timed (default 3)")
    parser.add_argument("--seconds", type=float, default=60, help="length of each workload window (default 60)")
    parser.add_argument("--rate", type=float, default=50, help="workload transactions per second (default 50)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--readers", type=int, default=1, choices=[1, 2],
                        help="pg_validate snapshot_readers for the takes: 2 reads a large table on two connections")
    args = parser.parse_args()
    password = os.environ.get("PGPASSWORD", "")
    socket_dir = args.socket_dir
    if args.bench_json:
        with open(args.bench_json, encoding="utf-8") as handle:
            conf = json.load(handle)
        args.port, password = int(conf["port"]), conf["password"]
        socket_dir = socket_dir or os.path.join(os.path.dirname(os.path.abspath(args.bench_json)), "pg", "socket")
    if not socket_dir:
        raise SystemExit("--socket-dir (or --bench-json beside pg/socket) is needed to copy the database")
    link_collection()
    cluster = pgsandbox.Cluster(os.path.dirname(socket_dir), args.port)
    scratch = "kh_snapshot_bench_%s" % secrets.token_hex(4)
    workdir = tempfile.mkdtemp(prefix="kh-snapshot-bench-")
    backup_dir = os.path.join(workdir, "backups")
    report: dict[str, Any] = {"started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                              "source": args.source, "rate_tps": args.rate, "clients": args.clients,
                              "window_s": args.seconds, "cpu_cores": os.cpu_count(), "snapshot_readers": args.readers}
    log("copying %s into %s" % (args.source, scratch))
    cluster.psql('CREATE DATABASE "%s" TEMPLATE "%s" OWNER knowledgehub STRATEGY FILE_COPY' % (scratch, args.source))
    try:
        cluster.psql("CHECKPOINT")
        row = cluster.psql("SELECT pg_database_size(current_database()), (SELECT count(*) FROM sources), "
                           "(SELECT count(*) FROM documents), (SELECT count(*) FROM ai_memories), "
                           "(SELECT min(id) FROM chunks), (SELECT max(id) FROM chunks), (SELECT count(*) FROM chunks), "
                           "(SELECT array_length(embedding, 1) FROM chunks WHERE embedding IS NOT NULL LIMIT 1)",
                           db=scratch)
        size, sources, documents, memories, chunk_min, chunk_max, chunks, dim = (int(v or 0) for v in row.split("|"))
        report["database"] = {"size_bytes": size, "documents": documents, "ai_memories": memories, "chunks": chunks,
                              "dim": dim, "postgresql": cluster.psql("SHOW server_version")}
        log("database: %.2f GiB, %d documents, %d chunks, %d memories"
            % (size / 2 ** 30, documents, chunks, memories))
        conn = dict(login_host="127.0.0.1", login_port=args.port, login_user="knowledgehub", login_password=password,
                    login_db=scratch)
        take = dict(conn, phase="schema", snapshot="take", snapshot_overwrite=True, backup_dir=backup_dir,
                    run_id="bench", snapshot_tables=TABLES, snapshot_readers=args.readers)
        takes = []
        for number in range(args.repeat):
            result, wall = run_module(take)
            takes.append({"wall_s": round(wall, 2), "snapshot_s": result["snapshot"]["duration_ms"] / 1000,
                          "bytes": result["snapshot"]["bytes"], "rows": result["snapshot"]["rows"]})
            log("take %d: %.2f s (snapshot %.2f s), %d rows, %.1f MB" % (
                number + 1, wall, takes[-1]["snapshot_s"], takes[-1]["rows"], takes[-1]["bytes"] / 1e6))
        report["takes"] = takes
        result, wall = run_module(dict(conn, phase="data", snapshot="compare", backup_dir=backup_dir, run_id="bench"))
        report["compare"] = {"wall_s": round(wall, 2), "compare_s": result["snapshot_comparison"]["duration_ms"] / 1000,
                             "data_preserved_percent": result["data_preserved_percent"]}
        log("compare: %.2f s (compare %.2f s), %s%% preserved" % (wall, report["compare"]["compare_s"],
                                                                  result["data_preserved_percent"]))

        env = dict(os.environ, PGPASSWORD=password)
        variables = {"sources": sources, "documents": documents, "memories": memories, "chunk_min": chunk_min,
                     "chunk_max": chunk_max, "dim": dim}
        wl_args = argparse.Namespace(clients=args.clients, threads=min(args.threads, args.clients), warmup=5,
                                     max_migration_minutes=args.seconds * 3 / 60, rate=args.rate)
        workload = Workload(cluster, scratch, env, os.path.join(workdir, "pgbench"), variables, wl_args)
        snapshots = []
        try:
            workload.start()
            workload.wait_until_steady(5)
            quiet_start = time.time()
            log("workload at %s tps: %.0f s without snapshot" % (args.rate, args.seconds))
            time.sleep(args.seconds)
            busy_start = time.time()
            log("%.0f s with snapshots back to back" % args.seconds)
            while time.time() - busy_start < args.seconds:
                result, wall = run_module(take)
                snapshots.append(round(wall, 2))
            busy_end = time.time()
            workload.stop()
        finally:
            workload.kill()
        txs = workload.transactions()
        quiet = latency_stats([t for t in txs if quiet_start <= t.start < busy_start])
        busy = latency_stats([t for t in txs if busy_start <= t.start < busy_end])
        report["latency"] = {"without_snapshot": quiet, "with_snapshot": busy, "snapshots_during": snapshots,
                             "ratio_p50": round(busy["p50_ms"] / quiet["p50_ms"], 2),
                             "ratio_p95": round(busy["p95_ms"] / quiet["p95_ms"], 2)}
        log("latency without: p50 %s ms, p95 %s ms; with: p50 %s ms, p95 %s ms; ratios p50 %.2f, p95 %.2f" % (
            quiet["p50_ms"], quiet["p95_ms"], busy["p50_ms"], busy["p95_ms"], report["latency"]["ratio_p50"],
            report["latency"]["ratio_p95"]))
    finally:
        cluster.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % scratch)
        subprocess.run(["rm", "-rf", workdir], check=False)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, "snapshot-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report, indent=2))
    log("JSON: %s" % os.path.relpath(path, REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
