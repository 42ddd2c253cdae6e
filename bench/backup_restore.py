# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark pg_backup / pg_restore against the bare commands, on one KnowledgeHub-like database.

    .venv/bin/python bench/backup_restore.py                     # ~1.5 GB (330 000 chunks at dim 384)
    .venv/bin/python bench/backup_restore.py --chunks 50000      # quick look (~230 MB)

Everything is measured in the same run, against the same database, each at least
``--repeat`` times (the minimum is reported), bare commands and modules alternating.
Results: a table on stdout and JSON in bench/results/ (see bench/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import pgsandbox  # noqa: E402  pylint: disable=wrong-import-position
from collection_path import COLLECTIONS, link_collection  # noqa: E402  pylint: disable=wrong-import-position

PG_BIN = pgsandbox.PG_BIN
TARGETS = {"backup_vs_bare_pg_dump": 1.05, "backup_default_vs_runbook_plain": 1.3,
           "restore_vs_bare_pg_restore_j2": 1.1, "clone_swap_seconds": 10.0}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = os.path.abspath(args.dir)
        self.backups = os.path.join(self.work, "backups")
        self.files = os.path.join(self.work, "files")
        self.cluster = pgsandbox.Cluster(os.path.join(self.work, "pg"), args.port or pgsandbox.free_port(),
                                         fsync=not args.no_fsync)
        self.passfile = os.path.join(self.work, "pgpass")
        self.password = ""
        self.results: dict = {"measurements": {}, "runs": {}}

    # -- plumbing -----------------------------------------------------------------

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGHOST="127.0.0.1", PGPORT=str(self.cluster.port), PGUSER="knowledgehub",
                   PGPASSFILE=self.passfile, PGDATABASE=self.args.db)
        return env

    def params(self, db: str | None = None) -> dict:
        return dict(login_host="127.0.0.1", login_port=self.cluster.port, login_user="knowledgehub",
                    login_password=self.password, login_db=db or self.args.db)

    def su(self, sql: str, db: str = "postgres") -> str:
        return self.cluster.psql(sql, db=db)

    def timed(self, argv: list[str], stdin=None, stdout=None) -> float:
        started = time.monotonic()
        proc = subprocess.run(argv, env=self.env(), stdin=stdin, stdout=stdout if stdout else subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv[0], proc.returncode, proc.stderr[-2000:]))
        return elapsed

    def module(self, name: str, args: dict) -> tuple[float, dict]:
        module_args = dict(args, _ansible_check_mode=False, _ansible_no_log=False)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "ansible_collections.knowledgehub.migration.plugins.modules." + name],
            input=json.dumps({"ANSIBLE_MODULE_ARGS": module_args}), capture_output=True, text=True,
            env=dict(os.environ, PYTHONPATH=COLLECTIONS), cwd=REPO, check=False)
        elapsed = time.monotonic() - started
        result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {"failed": True}
        if proc.returncode != 0 or result.get("failed"):
            raise RuntimeError("%s failed: %s %s" % (name, result.get("msg"), proc.stderr[-2000:]))
        return elapsed, result

    def drop(self, name: str) -> None:
        self.su('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def fresh_db(self, name: str) -> None:
        self.drop(name)
        self.su('CREATE DATABASE "%s" OWNER knowledgehub TEMPLATE template0' % name)

    def record(self, key: str, seconds: float, **extra) -> None:
        self.results["runs"].setdefault(key, []).append(dict(seconds=round(seconds, 3), loadavg=self.loadavg()[0],
                                                             **extra))
        print("  %-40s %8.2f s %s" % (key, seconds, " ".join("%s=%s" % kv for kv in extra.items())), flush=True)

    def best(self, key: str) -> float:
        return min(r["seconds"] for r in self.results["runs"][key])

    def median(self, key: str) -> float:
        return statistics.median(r["seconds"] for r in self.results["runs"][key])

    def loadavg(self) -> list[float]:
        return [round(v, 2) for v in os.getloadavg()]

    # -- setup ------------------------------------------------------------------------

    def setup(self) -> None:
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        if self.args.reuse and os.path.exists(self.cluster.data):
            with open(os.path.join(self.work, "bench.json"), encoding="utf-8") as handle:
                saved = json.load(handle)
            self.cluster.port = saved["port"]
            self.password = saved["password"]
            if not self.cluster.is_running():
                self.cluster.start()
            print("reusing the loaded cluster in %s (port %d)" % (self.work, self.cluster.port))
        else:
            if os.path.exists(self.cluster.basedir):
                self.cluster.destroy()
            self.cluster.init()
            self.cluster.start()
            self.password = self.cluster.create_app_db("knowledgehub", self.args.db)
            self.load_database()
            with open(os.path.join(self.work, "bench.json"), "w", encoding="utf-8") as handle:
                json.dump({"port": self.cluster.port, "password": self.password}, handle)
        self.cluster.write_passfile(self.passfile, "knowledgehub", "*", self.password)
        self.su("ALTER ROLE knowledgehub CREATEDB")
        for path in (self.backups, self.files):
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path, mode=0o700)
        size = int(self.su("SELECT pg_database_size('%s')" % self.args.db))
        chunks = int(self.su("SELECT count(*) FROM chunks", db=self.args.db))
        self.results["database"] = {"size_bytes": size, "size_gib": round(size / 1024 ** 3, 3), "chunks": chunks,
                                    "dim": self.args.dim}
        print("database %s: %.2f GiB, %d chunks" % (self.args.db, size / 1024 ** 3, chunks), flush=True)

    def load_database(self) -> None:
        started = time.monotonic()
        for name in sorted(os.listdir(os.path.join(REPO, "migrations"))):
            if name[:3] in ("001", "002", "003") and name.endswith(".sql"):
                self.cluster.psql_file(os.path.join(REPO, "migrations", name), self.args.db, user="knowledgehub")
        print("loading %d chunks at dim %d ..." % (self.args.chunks, self.args.dim), flush=True)
        self.cluster.psql_file(os.path.join(REPO, "tools", "sample_data.sql"), self.args.db,
                               {"chunks": str(self.args.chunks), "dim": str(self.args.dim)},
                               single_transaction=False, user="knowledgehub")
        self.su("VACUUM ANALYZE", db=self.args.db)
        self.results["load_seconds"] = round(time.monotonic() - started, 1)
        print("loaded in %.0f s" % self.results["load_seconds"], flush=True)

    # -- measurements -------------------------------------------------------------------------

    def backups_phase(self) -> dict:
        print("backups", flush=True)
        pg_dump = os.path.join(PG_BIN, "pg_dump")
        custom = plain_module = None
        for _repeat in range(self.args.repeat):
            target = os.path.join(self.files, "bare.dump")
            self.record("bare pg_dump -Fc -Z1", self.timed([pg_dump, "-Fc", "-Z1", "-f", target]),
                        size=os.path.getsize(target))
            seconds, result = self.module("pg_backup", dict(self.params(), backup_dir=self.backups, label="bench",
                                                            keep_last=1))
            self.record("pg_backup (default: custom gzip:1)", seconds, dump_ms=result["dump_ms"],
                        verify_ms=result["verify_ms"], size=result["size_bytes"])
            custom = result
            target = os.path.join(self.files, "runbook.sql")
            with open(target, "w", encoding="utf-8") as out:  # the runbook's `pg_dump > file.sql`
                self.record("runbook pg_dump > file.sql", self.timed([pg_dump], stdout=out),
                            size=os.path.getsize(target))
            seconds, result = self.module("pg_backup", dict(self.params(), backup_dir=self.backups, label="plain",
                                                            format="plain", keep_last=1))
            self.record("pg_backup format=plain", seconds, dump_ms=result["dump_ms"], verify_ms=result["verify_ms"],
                        size=result["size_bytes"])
            plain_module = result
            seconds, result = self.module("pg_backup", dict(self.params(), backup_dir=self.backups, label="z0",
                                                            compression="none", keep_last=1))
            self.record("pg_backup custom compression=none", seconds, dump_ms=result["dump_ms"],
                        verify_ms=result["verify_ms"], size=result["size_bytes"])
        target = os.path.join(self.files, "bare.dir")
        shutil.rmtree(target, ignore_errors=True)
        self.record("bare pg_dump -Fd -Z1 -j2", self.timed([pg_dump, "-Fd", "-Z1", "-j2", "-f", target]))
        seconds, result = self.module("pg_backup", dict(self.params(), backup_dir=self.backups, label="dir",
                                                        format="directory", keep_last=1))
        self.record("pg_backup format=directory (jobs 2)", seconds, dump_ms=result["dump_ms"])
        estimate = custom["estimate"]
        self.results["estimate"] = {"data_bytes": estimate["data_bytes"],
                                    "estimated_custom_bytes": estimate["estimated_bytes"],
                                    "actual_custom_bytes": custom["size_bytes"],
                                    "actual_plain_bytes": plain_module["size_bytes"]}
        return {"custom": custom, "plain": plain_module}

    def restore_phase(self, made: dict) -> None:
        print("restores", flush=True)
        pg_restore = os.path.join(PG_BIN, "pg_restore")
        psql = os.path.join(PG_BIN, "psql")
        archive = made["custom"]["path"]
        for _repeat in range(self.args.repeat):
            self.drop("bench_bare")
            started = time.monotonic()
            self.su('CREATE DATABASE bench_bare OWNER knowledgehub TEMPLATE template0')
            self.timed([pg_restore, "-j2", "-d", "bench_bare", archive])
            self.record("bare createdb + pg_restore -j2", time.monotonic() - started)
            self.drop("bench_bare")
            self.drop("bench_module")
            seconds, result = self.module("pg_restore", dict(self.params(), manifest=made["custom"]["manifest"],
                                                             mode="new_database", target_db="bench_module"))
            self.record("pg_restore module (new_database, -j2)", seconds, restore_ms=result["restore_ms"],
                        verify_ms=result["verify_ms"], integrity_ms=result["integrity"]["ms"],
                        analyze_ms=result.get("analyze_ms"))
            self.drop("bench_module")
        plain = os.path.join(self.files, "runbook.sql")
        for _repeat in range(self.args.repeat):
            self.fresh_db("bench_psql")
            with open(plain, encoding="utf-8") as source:  # the runbook's `psql < file.sql`
                self.record("runbook psql < file.sql", self.timed([psql, "-X", "-q", "-d", "bench_psql"],
                                                                  stdin=source))
            self.drop("bench_psql")
        self.drop("bench_module")
        seconds, result = self.module("pg_restore", dict(self.params(), manifest=made["plain"]["manifest"],
                                                         mode="new_database", target_db="bench_module"))
        self.record("pg_restore module, plain backup (psql -1)", seconds, restore_ms=result["restore_ms"])
        self.drop("bench_module")
        seconds, result = self.module("pg_restore", dict(self.params(), manifest=made["custom"]["manifest"],
                                                         mode="new_database", target_db="bench_module", analyze=False))
        self.record("pg_restore module with analyze=false", seconds, restore_ms=result["restore_ms"])
        self.drop("bench_module")
        seconds, result = self.module("pg_restore", dict(self.params(), manifest=made["custom"]["manifest"],
                                                         drop_previous=True))
        self.record("pg_restore module (swap, drop previous)", seconds, downtime_ms=result["downtime_ms"])

    def clone_phase(self) -> None:
        print("clone recovery points", flush=True)
        for strategy in ("file_copy", "wal_log") + ("file_copy",) * (self.args.repeat - 1):
            seconds, point = self.module("pg_backup", dict(self.params(), backup_dir=self.backups, format="clone",
                                                           label="rp", keep_last=1, clone_strategy=strategy))
            self.record("pg_backup format=clone (%s)" % strategy, seconds, downtime_ms=point["downtime_ms"],
                        clone_ms=point["clone_ms"], disk_bytes=point["size_bytes"])
            self.su("UPDATE chunks SET token_count = token_count + 1 WHERE id % 1000 = 0", db=self.args.db)
            seconds, back = self.module("pg_restore", dict(self.params(), manifest=point["manifest"],
                                                           drop_previous=True))
            self.record("pg_restore clone swap back", seconds, downtime_ms=back["downtime_ms"],
                        verify_ms=back.get("verify_ms"))

    # -- report ---------------------------------------------------------------------------------

    def report(self) -> None:
        runs = self.results["runs"]

        def ratio(key: str, num: str, den: str, how=None) -> None:
            if num in runs and den in runs:
                how = how or self.best
                self.results["measurements"][key] = how(num) / how(den)

        m = self.results["measurements"]
        ratio("backup_vs_bare_pg_dump", "pg_backup (default: custom gzip:1)", "bare pg_dump -Fc -Z1")
        ratio("backup_default_vs_runbook_plain", "pg_backup (default: custom gzip:1)", "runbook pg_dump > file.sql")
        ratio("bare_z1_vs_runbook_plain", "bare pg_dump -Fc -Z1", "runbook pg_dump > file.sql")
        ratio("backup_plain_vs_runbook_plain", "pg_backup format=plain", "runbook pg_dump > file.sql")
        ratio("backup_uncompressed_vs_runbook_plain", "pg_backup custom compression=none",
              "runbook pg_dump > file.sql")
        ratio("backup_vs_bare_pg_dump_median", "pg_backup (default: custom gzip:1)", "bare pg_dump -Fc -Z1",
              self.median)
        ratio("restore_vs_bare_pg_restore_j2_median", "pg_restore module (new_database, -j2)",
              "bare createdb + pg_restore -j2", self.median)
        ratio("restore_vs_bare_pg_restore_j2", "pg_restore module (new_database, -j2)",
              "bare createdb + pg_restore -j2")
        ratio("restore_vs_runbook_psql", "pg_restore module (new_database, -j2)", "runbook psql < file.sql")
        if "pg_restore clone swap back" in runs:
            m["clone_swap_seconds"] = self.best("pg_restore clone swap back")
            m["clone_downtime_seconds"] = min(r["downtime_ms"] for r in runs[
                "pg_backup format=clone (file_copy)"]) / 1000.0
        m = {k: round(v, 3) for k, v in m.items()}
        self.results["measurements"] = m
        self.results["targets"] = TARGETS
        self.results["verdict"] = {k: m[k] <= v for k, v in TARGETS.items() if k in m}
        self.results["best_seconds"] = {k: self.best(k) for k in self.results["runs"]}
        self.results["median_seconds"] = {k: self.median(k) for k in self.results["runs"]}
        print("\nseconds: best (median) of up to %d runs" % self.args.repeat)
        for key, seconds in self.results["best_seconds"].items():
            print("  %-42s %8.2f (%.2f)" % (key, seconds, self.results["median_seconds"][key]))
        print("\nratios and targets")
        for key, value in m.items():
            target = TARGETS.get(key)
            print("  %-42s %8.3f %s" % (key, value, "" if target is None else "(target <= %s: %s)" % (
                target, "met" if value <= target else "NOT met")))

    def save(self, name: str = "backup_restore") -> str:
        os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.results.update(when=stamp, host=dict(cpus=os.cpu_count(), python=platform.python_version(),
                                                  machine=platform.machine()),
                            postgres=self.su("SHOW server_version"), fsync=not self.args.no_fsync,
                            repeat=self.args.repeat, loadavg_at_end=self.loadavg())
        path = os.path.join(REPO, "bench", "results", "%s-%s.json" % (name, stamp))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.results, handle, indent=2)
        print("\nresults: %s" % path)
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=330000, help="sample chunks (330000 at dim 384 is ~1.5 GB)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (the minimum is reported)")
    parser.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "kh-bench"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", default="knowledgehub")
    parser.add_argument("--reuse", action="store_true", help="reuse the cluster loaded by an earlier run in --dir")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    parser.add_argument("--no-fsync", action="store_true", help="run the server with fsync off")
    parser.add_argument("--only", choices=["backups"], help="measure the backups only (no restores, no clones)")
    args = parser.parse_args(argv)
    if args.repeat < 2:
        parser.error("--repeat must be at least 2")
    link_collection()
    bench = Bench(args)
    try:
        print("load average at start: %s" % bench.loadavg(), flush=True)
        bench.setup()
        made = bench.backups_phase()
        if args.only != "backups":
            bench.restore_phase(made)
            bench.clone_phase()
        bench.report()
        bench.save()
    finally:
        if args.keep:
            print("cluster left running: %s (port %d)" % (bench.cluster.basedir, bench.cluster.port))
        else:
            bench.cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
