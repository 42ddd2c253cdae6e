# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emergency path against the runbook's 5 minutes, on one KnowledgeHub-like database of 1 GB or more.

    .venv/bin/python bench/recover.py                      # ~1.5 GB (330 000 chunks at dim 384)
    .venv/bin/python bench/recover.py --chunks 50000       # quick look (~230 MB)
    .venv/bin/python bench/recover.py --reuse              # the cluster bench/backup_restore.py loaded in --dir

Measured in one run, each at least ``--repeat`` times (the minimum is reported):

* ``recover.yml`` by a clone recovery point (the swap back), the whole playbook as an operator runs it;
* ``recover.yml`` by a dump recovery point (pg_restore -j2 into a new database, rows checked, ANALYZE, swap),
  against the bare ``createdb + pg_restore -j2`` of the same archive (target: at most 1.2x);
* the runbook's restore: ``psql < file.sql`` of a plain dump into a fresh database.

Each is compared with the runbook's 5 minutes. The playbook runs against the throwaway cluster with no compose
project, so the application's stop and start are not in these figures; tests/integration/test_app_service.py
measures them on the compose hosts, and bench/README.md adds them to the time to a healthy api.
Results: a table on stdout and JSON in bench/results/recover-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backup_restore import PG_BIN, REPO, Bench  # noqa: E402  pylint: disable=wrong-import-position
from collection_path import link_collection  # noqa: E402  pylint: disable=wrong-import-position

RUNBOOK_SECONDS = 300.0
TARGETS = {"recover_clone_seconds": 15.0, "recover_dump_vs_bare_pg_restore_j2": 1.2,
           "recover_dump_vs_runbook_5min": 1.0, "runbook_psql_vs_runbook_5min": 1.0}


class RecoverBench(Bench):
    """The backup benchmark's cluster and plumbing, with recover.yml arms."""

    def inventory(self) -> str:
        path = os.path.join(self.work, "hosts.yml")
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "login_host": "127.0.0.1", "login_port": self.cluster.port, "login_user": "knowledgehub",
                "login_db": self.args.db, "backup_dir": self.backups}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"all": {"hosts": {"bench": host}}}, handle)
        return path

    def playbook(self, *extra: str) -> float:
        """recover.yml as an operator runs it; the password comes from PGPASSFILE, never the command line."""
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", self.inventory(),
                os.path.join(REPO, "playbooks", "recover.yml"), "-e", "target_env=bench", *extra]
        env = dict(self.env(), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("recover.yml failed:\n%s" % proc.stdout[-4000:])
        return elapsed

    def point(self, fmt: str) -> dict:
        """A recovery point "before" of a new run (not timed)."""
        _seconds, result = self.module("pg_backup", dict(self.params(), backup_dir=self.backups, label=self.args.db,
                                                         format=fmt, run_id=str(uuid.uuid4()), purpose="before",
                                                         keep_last=0, record_recovery_point=False))
        return result

    def forget(self) -> None:
        """Between repeats: the recover journal (else the rerun says "already recovered") and the kept databases."""
        journal = os.path.join(self.backups, self.args.db + ".recover.json")
        if os.path.exists(journal):
            os.unlink(journal)
        for name in self.su("SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE '%s\\_pre\\_restore\\_%%'"
                            % self.args.db).split():
            self.drop(name)

    def recover_phase(self) -> None:
        print("recover.yml", flush=True)
        pg_restore = os.path.join(PG_BIN, "pg_restore")
        dump = self.point("custom")
        for _repeat in range(self.args.repeat):
            self.forget()
            self.record("recover.yml (dump point, pg_restore -j2)", self.playbook())
            self.drop("bench_bare")
            started = time.monotonic()
            self.su('CREATE DATABASE bench_bare OWNER knowledgehub TEMPLATE template0')
            self.timed([pg_restore, "-j2", "-d", "bench_bare", dump["path"]])
            self.record("bare createdb + pg_restore -j2", time.monotonic() - started)
            self.drop("bench_bare")
        for _repeat in range(self.args.repeat):
            self.forget()
            self.point("clone")
            self.record("recover.yml (clone point, swap back)", self.playbook())
        self.forget()
        plain = os.path.join(self.files, "runbook.sql")
        with open(plain, "w", encoding="utf-8") as out:
            self.timed([os.path.join(PG_BIN, "pg_dump")], stdout=out)
        for _repeat in range(self.args.repeat):
            self.fresh_db("bench_psql")
            with open(plain, encoding="utf-8") as source:
                self.record("runbook psql < file.sql", self.timed([os.path.join(PG_BIN, "psql"), "-X", "-q", "-d",
                                                                   "bench_psql"], stdin=source))
            self.drop("bench_psql")

    def report(self) -> None:
        best = {k: self.best(k) for k in self.results["runs"]}
        m = {"recover_clone_seconds": best["recover.yml (clone point, swap back)"],
             "recover_dump_vs_bare_pg_restore_j2": best["recover.yml (dump point, pg_restore -j2)"]
             / best["bare createdb + pg_restore -j2"],
             "recover_dump_vs_runbook_5min": best["recover.yml (dump point, pg_restore -j2)"] / RUNBOOK_SECONDS,
             "runbook_psql_vs_runbook_5min": best["runbook psql < file.sql"] / RUNBOOK_SECONDS}
        m = {k: round(v, 3) for k, v in m.items()}
        self.results.update(measurements=m, targets=TARGETS, best_seconds=best,
                            median_seconds={k: self.median(k) for k in self.results["runs"]},
                            verdict={k: m[k] <= v for k, v in TARGETS.items()})
        print("\nseconds: best (median) of %d runs" % self.args.repeat)
        for key, seconds in best.items():
            print("  %-44s %8.2f (%.2f)" % (key, seconds, self.results["median_seconds"][key]))
        print("\nratios and targets")
        for key, value in m.items():
            verdict = "met" if value <= TARGETS[key] else "NOT met"
            print("  %-44s %8.3f (target <= %s: %s)" % (key, value, TARGETS[key], verdict))

    def save(self, name: str = "recover") -> str:
        return super().save(name)


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
    args = parser.parse_args(argv)
    link_collection()
    bench = RecoverBench(args)
    try:
        bench.setup()
        bench.recover_phase()
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
