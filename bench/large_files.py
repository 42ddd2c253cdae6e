# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How pg_migrate's check mode grows with the size of a migration file.

    python3 bench/large_files.py                         # 25k, 50k, 100k, 200k statements
    python3 bench/large_files.py --sizes 10000,40000     # a quicker look

For each size it writes one migration file of that many statements (a mix of INSERTs,
ALTER TABLE ... ADD COLUMN ... int, which squawk flags twice each, and UPDATEs), and runs
pg_migrate in check mode against a throwaway PostgreSQL 15 (tools/pgsandbox.py), as
Ansible runs a module: a Python process reading its arguments on stdin. It reports per
size the wall time, the peak memory of the module process, the size of the module's
result and of its details_file, and the growth against the smallest size of the same
run: ``(time / baseline time) / (size / baseline size)``, which is 1.0 when the work grows
linearly and 8.0 at 8x the baseline's size when it grows with the square. The verdict is
"linear" while that figure stays under 1.5 and every result under 256 KiB. Peak memory is
measured by /usr/bin/time (its ``%M``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import pgsandbox  # noqa: E402  pylint: disable=wrong-import-position
from collection_path import link_collection  # noqa: E402  pylint: disable=wrong-import-position

MODULE = "ansible_collections.knowledgehub.migration.plugins.modules.pg_migrate"
RESULT_LIMIT = 256 * 1024
LINEAR_LIMIT = 1.5


def write_file(path: str, statements: int) -> int:
    """One migration file of ``statements`` statements; returns its size in bytes."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("CREATE TABLE bench_big (id bigint PRIMARY KEY, v text);\n")
        for i in range(1, statements):
            kind = i % 4
            if kind == 0:
                handle.write("ALTER TABLE bench_big ADD COLUMN c%d int;\n" % i)
            elif kind == 1:
                handle.write("UPDATE bench_big SET v = 'row %d' WHERE id = %d;\n" % (i, i))
            else:
                handle.write("INSERT INTO bench_big (id, v) VALUES (%d, 'value number %d');\n" % (i, i))
    return os.path.getsize(path)


def run_check_mode(cluster: pgsandbox.Cluster, password: str, migrations: str, details: str) -> dict:
    """pg_migrate in check mode on ``migrations``: wall time, peak memory, result and details sizes."""
    args = {"ANSIBLE_MODULE_ARGS": {
        "migrations_dir": migrations, "login_host": "127.0.0.1", "login_port": cluster.port,
        "login_user": "knowledgehub", "login_password": password, "login_db": "knowledgehub",
        "details_file": details, "_ansible_check_mode": True}}
    env = dict(os.environ, PYTHONPATH=link_collection())
    peak_file = details + ".rss"
    started = time.monotonic()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak_file, sys.executable, "-m", MODULE],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate(json.dumps(args))
    wall = time.monotonic() - started
    with open(peak_file, encoding="utf-8") as handle:
        peak_kib = int(handle.read().split()[-1])
    if proc.returncode != 0:
        raise SystemExit("pg_migrate failed: %s %s" % (out[-2000:], err[-2000:]))
    result = json.loads(out)
    return {"seconds": round(wall, 2), "peak_rss_mib": round(peak_kib / 1024), "result_bytes": len(out),
            "details_bytes": os.path.getsize(details),
            "statements_total": sum(f["statements_total"] for f in result["locks"].values()),
            "findings_total": result["lint"].get("findings_total", 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="25000,50000,100000,200000",
                        help="statements per file, comma-separated; the first is the baseline")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    work = tempfile.mkdtemp(prefix="kh-bench-large-")
    cluster = pgsandbox.Cluster(tempfile.mkdtemp(prefix="kh-bench-pg-"), pgsandbox.free_port(), fsync=False)
    rows = []
    try:
        cluster.init()
        cluster.start()
        password = cluster.create_app_db()
        for size in sizes:
            migrations = os.path.join(work, "m%d" % size)
            os.mkdir(migrations)
            size_bytes = write_file(os.path.join(migrations, "001_bench_big.sql"), size)
            row = dict(statements=size, file_bytes=size_bytes,
                       **run_check_mode(cluster, password, migrations, os.path.join(work, "d%d.json" % size)))
            base = rows[0] if rows else row
            row["growth"] = round((row["seconds"] / base["seconds"]) / (size / base["statements"]), 2)
            rows.append(row)
            print("%7d statements %6.1f MB: %6.1fs  growth %.2f  peak %5d MiB  result %6.1f KiB  details %6.1f MB"
                  % (size, size_bytes / 1e6, row["seconds"], row["growth"], row["peak_rss_mib"],
                     row["result_bytes"] / 1024, row["details_bytes"] / 1e6), flush=True)
    finally:
        cluster.destroy()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    linear = all(r["growth"] < LINEAR_LIMIT for r in rows)
    small = all(r["result_bytes"] < RESULT_LIMIT for r in rows)
    verdict = "linear, small results" if linear and small else "NOT linear" if not linear else "result too large"
    print(json.dumps({"rows": rows, "verdict": verdict}, indent=2))
    return 0 if linear and small else 1


if __name__ == "__main__":
    sys.exit(main())
