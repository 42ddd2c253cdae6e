# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cost of safety: migrate.yml with every gate and recovery point against the runbook's own procedure.

    .venv/bin/python bench/cost_of_safety.py --reuse                    # the cluster bench/backup_restore.py loaded
    .venv/bin/python bench/cost_of_safety.py --chunks 5000 --dir /tmp/kh-cos   # quick look on a small fresh cluster
    .venv/bin/python bench/cost_of_safety.py --reuse --variants none    # the five arms only

Measured in one run, each arm at least ``--repeat`` times, the arms interleaved (ABCDE, then EDCBA, ...):

* ``runbook``: ``pg_dump -Fp -f file`` of the database, then ``psql -v ON_ERROR_STOP=1 -f`` of each pending file
  (004, 005, 006): the runbook's own procedure;
* ``full``: ``ansible-playbook playbooks/migrate.yml`` with its defaults: every gate (pre-flight, snapshot, validation
  after each phase, monitor, report) and every recovery point (before: a verified dump; after_schema: schema-only;
  after_data: a clone);
* ``no_gates``: ``full`` without pre-flight, snapshot and validation (``gates_overhead`` = full / no_gates - 1);
* ``no_points``: ``full`` without recovery points;
* ``bare``: no gates, report, monitor or recovery points;
* variants (``--variants``): ``full`` with other recovery points (after_data as a verified dump or a clone; three
  full dumps, as the collection took them before).

Every arm works on its own copy of the database (``CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY``, not timed,
dropped afterwards), so the source database is only read. The playbook runs from a copy of the collection taken at the
start (the working tree, or ``--ref``), so that edits made while the benchmark runs cannot split the arms. Its
``ansible.posix.json`` output gives every task's start and end: the breakdown (pre-flight, snapshot, each recovery
point, each phase, each validation, the report, and Ansible's own time between tasks) comes from there.
Results: a table on stdout and JSON in bench/results/cost_of_safety-<time>.json (see bench/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backup_restore import PG_BIN, REPO, Bench  # noqa: E402  pylint: disable=wrong-import-position
from collection_path import link_collection  # noqa: E402  pylint: disable=wrong-import-position
from migration_under_load import transaction_off  # noqa: E402  pylint: disable=wrong-import-position

TARGETS = {"full_vs_runbook": 1.5, "gates_overhead": 0.10}
ARMS = ("runbook", "full", "no_gates", "no_points", "bare")
GATES = {"migrate_preflight": False, "migrate_snapshot": False, "migrate_validate": False}
ARM_VARS = {"full": {}, "no_gates": GATES, "no_points": {"migrate_recovery_points": False},
            "bare": dict(GATES, migrate_report=False, migrate_monitor_interval=0, migrate_recovery_points=False)}
# full with other values of variables the roles already have (nothing here changes a role)
PHASES = [{"name": "schema", "target_version": "004", "recovery_point": "schema-only"},
          {"name": "data", "target_version": ""}]
VARIANTS = {
    # the point after the data phase as a verified dump (the backup role's format) rather than a clone
    "after_data_dump": {"migrate_phases": [PHASES[0], dict(PHASES[1], recovery_point=True)]},
    # the point after the data phase as a clone on the same server
    "after_data_clone": {"migrate_phases": [PHASES[0], dict(PHASES[1], recovery_point="clone")]},
    # every point a full verified dump (the collection's defaults before this benchmark)
    "three_dumps": {"migrate_phases": [dict(PHASES[0], recovery_point=True), dict(PHASES[1], recovery_point=True)]},
    # the dumps uncompressed (the runbook's plain dump is): time against disk
    "uncompressed": {"backup_compression": "none"},
}
# What the collection needs to run (copied at the start)
TREE = ("galaxy.yml", "meta", "plugins", "roles", "playbooks", "migrations")
MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def log(message: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True, check=False)


def parse_time(stamp: str) -> float:
    """ansible.posix.json's ISO-8601 UTC stamp (2026-12-01T03:10:00.123456Z) as seconds since the epoch."""
    return datetime.datetime.strptime(stamp.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


MARKERS = [  # the migrate role's tasks and includes (their names, without a role prefix for an include)
    (r"Plan the run", "start: staging, plan"), (r"Pre-flight", "pre-flight"), (r"Rehearse", "rehearsal"),
    (r"Adopt the legacy database", "baseline"), (r"Take the figures before the run", "before"),
    (r"Recovery point before the migration", "recovery point before"),
    (r"Apply pending migrations under the ledger, phase (\w+)", "phase {}"),
    (r"Validate phase (\w+)", "validation {}"), (r"Recovery point after phase (\w+)", "recovery point after_{}"),
    (r"Post-migration checks", "post"), (r"Write the Migration Log", "report"),
    (r"Summarise the run", "end: summary, cleanup")]
STAGING = re.compile(r"(Create a private staging directory|Stage the .* files|Remove the staging directory|"
                     r"Create a private file for the archive|Pack the migration files|Unpack them|"
                     r"Remove the archive)")


def section_of(name: str, context: dict) -> str:
    """The breakdown section of a task: the migrate role's last marker task, refined for the figures before the run.

    The migrate role's own tasks (``...migrate : <name>``) and its includes (no role prefix) set the section; the
    tasks of the roles it includes (preflight, validate, report, backup, app_service) belong to the section their
    include set.
    """
    role, _sep, task = name.rpartition(" : ")
    role = role.rsplit(".", 1)[-1]
    if role in ("", "migrate"):
        for pattern, section in MARKERS:
            match = re.match(pattern, task)
            if match:
                context["section"] = section.format(*match.groups())
                break
        section = context.setdefault("section", "start: staging, plan")
        if section == "before" and task.startswith(("Snapshot the chosen tables", "Validate the database before")):
            return "validation before"
        if section == "before" and task.startswith("Record the database size"):
            return "report: figures before"
        return section
    section = context.get("section", "start: staging, plan")
    if section == "before":  # the figures before the run: the snapshot (validate) and the size and counts (report)
        return {"validate": "validation before", "report": "report: figures before"}.get(role, section)
    return section


class CostBench(Bench):
    """The backup benchmark's cluster and plumbing, with the migration arms."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.mine = os.path.join(self.work, "cost_of_safety")
        self.backups = os.path.join(self.mine, "backups")
        self.files = os.path.join(self.mine, "files")
        self.tree_root = os.path.join(self.mine, "tree")
        self.tree = os.path.join(self.tree_root, "ansible_collections", "knowledgehub", "migration")
        self.current_db = args.db
        self.pending: list[str] = []
        self.results["breakdown_runs"] = {}

    def env(self) -> dict:
        env = super().env()
        env["PGDATABASE"] = self.current_db  # a client started without -d never reaches the source database
        return env

    # -- the collection, frozen for the run ------------------------------------------------------------

    def freeze_tree(self) -> None:
        """Copy what the playbook needs into a private collection path; arms all run the same code."""
        shutil.rmtree(self.tree_root, ignore_errors=True)
        os.makedirs(self.tree)
        if self.args.ref:
            archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", self.args.ref, *TREE],
                                     capture_output=True, check=False)
            if archive.returncode != 0:
                raise SystemExit("git archive %s failed: %s" % (self.args.ref, archive.stderr.decode()[-500:]))
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(self.tree, filter="data")
        else:
            for entry in TREE:
                source = os.path.join(REPO, entry)
                if os.path.isdir(source):
                    shutil.copytree(source, os.path.join(self.tree, entry),
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(source, os.path.join(self.tree, entry))
        with open(os.path.join(self.tree_root, "ansible.cfg"), "w", encoding="utf-8") as handle:
            handle.write("[defaults]\ncollections_path = %s\ninterpreter_python = auto_silent\n"
                         "retry_files_enabled = False\n\n[connection]\npipelining = True\n" % self.tree_root)
        digest = hashlib.sha256()
        for top, dirs, names in os.walk(self.tree):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(top, name)
                digest.update(os.path.relpath(path, self.tree).encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read())
        status = git("status", "--porcelain", "--", *TREE)
        self.results["code"] = {"source": "git %s" % self.args.ref if self.args.ref else "working tree",
                                "commit": git("rev-parse", "HEAD").stdout.strip(),
                                "changed_files": [] if self.args.ref else [
                                    line[3:] for line in status.stdout.splitlines()],
                                "tree_sha256": digest.hexdigest()}
        migrations = os.path.join(self.tree, "migrations")
        self.pending = sorted(os.path.join(migrations, name) for name in os.listdir(migrations)
                              if MIGRATION.match(name) and int(MIGRATION.match(name).group(1)) > 3)
        self.results["pending_files"] = [os.path.basename(p) for p in self.pending]
        self.results["migration_sha256"] = {}
        for path in self.pending:
            with open(path, "rb") as handle:
                self.results["migration_sha256"][os.path.basename(path)] = hashlib.sha256(handle.read()).hexdigest()
        log("collection frozen (%s, %d changed files), pending: %s" % (
            self.results["code"]["source"], len(self.results["code"]["changed_files"]),
            ", ".join(self.results["pending_files"])))

    # -- a copy per arm ----------------------------------------------------------------------------------

    def copy(self, name: str) -> None:
        """The source database copied (not timed); a session on the source makes CREATE DATABASE fail: retry."""
        self.drop(name)
        for attempt in range(30):
            try:
                self.su('CREATE DATABASE "%s" TEMPLATE "%s" OWNER knowledgehub STRATEGY FILE_COPY'
                        % (name, self.args.db))
                break
            except RuntimeError:
                if attempt == 29:
                    raise
                time.sleep(2)
        self.su("CHECKPOINT")  # every arm starts with clean buffers
        self.current_db = name

    def discard(self, name: str, *paths: str) -> None:
        """The copy dropped, with the clone recovery points made of it (<copy>_rp_<time>), and the arm's files."""
        self.current_db = self.args.db
        self.drop(name)
        for clone in self.su("SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE '%s\\_rp\\_%%'"
                             % name).split():
            self.drop(clone)
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    # -- the arms ----------------------------------------------------------------------------------------

    def runbook(self, db: str) -> None:
        """One plain pg_dump, then psql for each file, as the knowledgehub role over TCP.

        psql -1 (one transaction, as pg_migrate runs it) unless the file's header says
        "-- migrate:transaction off" (005 commits its own batches, which psql -1 refuses).
        """
        plain = os.path.join(self.files, "runbook.sql")
        steps = {}
        started = time.monotonic()
        steps["pg_dump -Fp"] = self.timed([os.path.join(PG_BIN, "pg_dump"), "-Fp", "-f", plain, "-d", db])
        size = os.path.getsize(plain)
        for path in self.pending:
            single = not transaction_off(path)  # read with pg_migrate's own parser
            steps["psql %s%s" % ("-1 " if single else "", os.path.basename(path))] = self.timed(
                [os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"] + (["-1"] if single else [])
                + ["-d", db, "-f", path])
        self.record("runbook", time.monotonic() - started, dump_bytes=size)
        self.results["breakdown_runs"].setdefault("runbook", []).append({k: round(v, 3) for k, v in steps.items()})
        os.unlink(plain)
        if "schema_point_seconds" not in self.results:
            self.schema_point(db)

    def run_module(self, name: str, args: dict) -> tuple[float, dict]:
        """A module of the frozen collection as Ansible runs it (a Python process, the arguments on stdin)."""
        argv = [sys.executable, "-m", "ansible_collections.knowledgehub.migration.plugins.modules." + name]
        started = time.monotonic()
        proc = subprocess.run(argv, input=json.dumps({"ANSIBLE_MODULE_ARGS": dict(
            args, _ansible_check_mode=False, _ansible_no_log=False)}), capture_output=True, text=True,
            cwd=self.tree_root, env=dict(os.environ, PYTHONPATH=self.tree_root), check=False)
        seconds = time.monotonic() - started
        result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {"failed": True}
        if proc.returncode != 0 or result.get("failed"):
            raise RuntimeError("%s failed: %s %s" % (name, result.get("msg"), proc.stderr[-2000:]))
        return seconds, result

    def schema_point(self, db: str) -> None:
        """The runbook's schema-only recovery point as pg_backup makes it (not part of any arm's time)."""
        backup_dir = os.path.join(self.backups, "schema_only")
        seconds, result = self.run_module("pg_backup", dict(self.params(db), backup_dir=backup_dir,
                                                            scope="schema-only", keep_last=0))
        self.results["schema_point_seconds"] = round(seconds, 3)
        self.results["schema_point"] = {"dump_ms": result.get("dump_ms"), "size_bytes": result.get("size_bytes")}
        log("pg_backup scope=schema-only (module process): %.2f s, %d bytes" % (seconds, result.get("size_bytes", 0)))
        shutil.rmtree(backup_dir, ignore_errors=True)

    def inventory(self, db: str, backup_dir: str) -> str:
        path = os.path.join(self.mine, "hosts.json")
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "login_host": "127.0.0.1", "login_port": self.cluster.port, "login_user": "knowledgehub",
                "login_db": db, "backup_dir": backup_dir}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"all": {"hosts": {"bench": host}}}, handle)
        return path

    def playbook(self, key: str, db: str, extra: dict) -> None:
        """migrate.yml as an operator runs it (the password in PGPASSFILE), timed, its tasks' times kept."""
        backup_dir = os.path.join(self.backups, key)
        os.makedirs(os.path.dirname(backup_dir), exist_ok=True)
        reports = os.path.join(self.mine, "reports")
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                self.inventory(db, backup_dir), os.path.join(self.tree, "playbooks", "migrate.yml"),
                "-e", json.dumps(dict({"report_dir": reports, "target_env": "bench"}, **extra))]
        for item in self.args.extra_vars:
            argv += ["-e", item]
        env = dict(self.env(), ANSIBLE_CONFIG=os.path.join(self.tree_root, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_JSON_INDENT="0")
        started = time.monotonic()
        wall_start = time.time()
        proc = subprocess.run(argv, env=env, cwd=self.tree_root, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        raw = os.path.join(self.mine, "last-%s.json" % key)
        with open(raw, "w", encoding="utf-8") as handle:
            handle.write(proc.stdout)
        try:
            output = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            raise RuntimeError("migrate.yml (%s) printed no JSON (rc %d): %s" % (key, proc.returncode,
                                                                                 proc.stderr[-3000:])) from None
        if proc.returncode != 0:
            failed = [t["task"]["name"] for play in output.get("plays", []) for t in play["tasks"]
                      if any(h.get("failed") for h in t["hosts"].values())]
            raise RuntimeError("migrate.yml (%s) failed (rc %d) at %s; output in %s"
                               % (key, proc.returncode, failed, raw))
        breakdown, figures = self.breakdown(output, wall_start, elapsed)
        self.record(key, elapsed, **figures)
        self.results["breakdown_runs"].setdefault(key, []).append(breakdown)
        for path in (backup_dir, backup_dir + "-reports", reports):
            shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def breakdown(output: dict, wall_start: float, elapsed: float) -> tuple[dict, dict]:
        """Seconds per section (sum of its tasks' durations), Ansible's own time, and the modules' own figures."""
        sections: dict[str, float] = {}
        figures: dict = {}
        context: dict = {}
        tasks = [t for play in output.get("plays", []) for t in play["tasks"]]
        first = last = None
        staging = 0.0
        for entry in tasks:
            task = entry["task"]
            start, end = parse_time(task["duration"]["start"]), parse_time(task["duration"]["end"])
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
            section = section_of(task["name"], context)
            sections[section] = sections.get(section, 0.0) + (end - start)
            if STAGING.match(task["name"].rpartition(" : ")[2]):
                staging += end - start
            for result in entry["hosts"].values():
                if result.get("skipped"):
                    continue
                purpose = (result.get("invocation") or {}).get("module_args", {}).get("purpose")
                if "dump_ms" in result and purpose:  # pg_backup: the dump, its verification, the archive's size
                    figures["%s_dump_ms" % purpose] = result["dump_ms"]
                    figures["%s_verify_ms" % purpose] = result.get("verify_ms")
                    figures["%s_bytes" % purpose] = result.get("size_bytes")
                if "clone_ms" in result and purpose:  # pg_backup format=clone: the copy and the connections' downtime
                    figures["%s_clone_ms" % purpose] = result["clone_ms"]
                    figures["%s_downtime_ms" % purpose] = result.get("downtime_ms")
                if isinstance(result.get("analyze"), dict):  # pg_migrate's ANALYZE of what the files changed
                    figures["analyze_ms"] = figures.get("analyze_ms", 0) + result["analyze"].get("duration_ms", 0)
                for applied in result.get("applied") or []:
                    if isinstance(applied, dict) and "duration_ms" in applied:
                        figures["%s_ms" % applied.get("version")] = applied["duration_ms"]
                snap = result.get("snapshot")
                if isinstance(snap, dict) and "duration_ms" in snap:
                    figures["snapshot_take_ms"] = snap["duration_ms"]
                comp = result.get("snapshot_comparison")
                if isinstance(comp, dict) and "duration_ms" in comp:
                    figures["snapshot_compare_ms"] = comp["duration_ms"]
        total_tasks = sum(sections.values())
        sections = {k: round(v, 3) for k, v in sections.items()}
        sections["ansible start-up and exit"] = round(elapsed - ((last - first) if first else 0.0), 3)
        sections["ansible between tasks"] = round((last - first) - total_tasks, 3) if first else 0.0
        sections["(of which: files staged on the host)"] = round(staging, 3)
        return sections, figures

    def run_arm(self, arm: str, repeat: int) -> None:
        db = "cos_%s_%d" % (arm, repeat)
        self.copy(db)
        try:
            if arm == "runbook":
                self.runbook(db)
            else:
                self.playbook(arm, db, ARM_VARS[arm] if arm in ARM_VARS else VARIANTS[arm])
        finally:
            self.discard(db, os.path.join(self.backups, arm))

    def arms_phase(self) -> None:
        arms = list(self.args.arms) + list(self.args.variants)
        for repeat in range(self.args.repeat):
            order = arms if repeat % 2 == 0 else arms[::-1]
            log("round %d of %d: %s (load %s)" % (repeat + 1, self.args.repeat, ", ".join(order), self.loadavg()))
            for arm in order:
                self.run_arm(arm, repeat)

    # -- report ------------------------------------------------------------------------------------------

    def report(self) -> None:
        runs = self.results["runs"]
        best = {k: self.best(k) for k in runs}
        median = {k: self.median(k) for k in runs}
        m: dict = {}

        def ratio(key: str, num: str, den: str, minus: float = 0.0) -> None:
            if num in runs and den in runs:
                m[key] = round(best[num] / best[den] - minus, 3)
                m[key + "_median"] = round(median[num] / median[den] - minus, 3)

        ratio("full_vs_runbook", "full", "runbook")
        ratio("gates_overhead", "full", "no_gates", 1.0)  # what pre-flight, snapshot and validation add
        ratio("no_points_vs_runbook", "no_points", "runbook")
        ratio("bare_vs_runbook", "bare", "runbook")
        ratio("points_cost_vs_no_points", "full", "no_points", 1.0)
        for variant in self.args.variants:
            ratio("%s_vs_runbook" % variant, variant, "runbook")
        sections: dict = {}
        for key, items in self.results["breakdown_runs"].items():
            names = []
            for item in items:
                names += [n for n in item if n not in names]
            sections[key] = {n: round(statistics.median(i.get(n, 0.0) for i in items), 2) for n in names}
        fastest = {}  # the breakdown of each arm's fastest run (runs and breakdowns are appended together)
        for key, items in self.results["breakdown_runs"].items():
            times = [r["seconds"] for r in runs[key]]
            fastest[key] = items[times.index(min(times))]
        self.results.update(measurements=m, targets=TARGETS, best_seconds=best, median_seconds=median,
                            breakdown_median_seconds=sections, breakdown_fastest_run=fastest,
                            verdict={k: m[k] <= v for k, v in TARGETS.items() if k in m})
        print("\nseconds: best (median) of %d runs" % self.args.repeat)
        for key in runs:
            print("  %-32s %8.2f (%.2f)" % (key, best[key], median[key]))
        print("\nratios (best; median) and targets")
        for key, value in m.items():
            if key.endswith("_median"):
                continue
            target = TARGETS.get(key)
            verdict = "" if target is None else "target <= %s: %s" % (target, "met" if value <= target else "NOT met")
            print("  %-50s %7.3f (%s) %s" % (key, value, m.get(key + "_median", "-"), verdict))
        print("\nbreakdown: seconds per section in each arm's fastest run")
        for key, parts in fastest.items():
            print("  %s" % key)
            for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
                if seconds >= 0.05:
                    print("    %-40s %8.2f" % (name, seconds))

    def save(self, name: str = "cost_of_safety") -> str:
        self.results["load_at_start"] = self.args.load_at_start
        return super().save(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=330000, help="sample chunks (330000 at dim 384 is ~1.5 GB)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=2, help="runs per arm (at least 2; best and median reported)")
    parser.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "kh-bench"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", default="knowledgehub", help="the source database (only read: copied per arm)")
    parser.add_argument("--reuse", action="store_true", help="reuse the cluster loaded by an earlier run in --dir")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    parser.add_argument("--no-fsync", action="store_true", help="run the server with fsync off (new cluster only)")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated, of %s" % ", ".join(ARMS))
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated, of %s; 'none' for none" % ", ".join(VARIANTS))
    parser.add_argument("--ref", help="run the collection of this git revision instead of the working tree")
    parser.add_argument("-e", dest="extra_vars", action="append", default=[],
                        help="more extra vars for every playbook arm (repeatable)")
    args = parser.parse_args(argv)
    if args.repeat < 2:
        parser.error("--repeat must be at least 2")
    args.arms = [] if args.arms == "none" else [a for a in args.arms.split(",") if a]
    args.variants = [] if args.variants == "none" else [v for v in args.variants.split(",") if v]
    unknown = [a for a in args.arms if a not in ARMS] + [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error("unknown arm or variant: %s" % ", ".join(unknown))
    link_collection()
    bench = CostBench(args)
    args.load_at_start = bench.loadavg()
    log("load average at start: %s" % args.load_at_start)
    was_running = False
    if args.reuse and os.path.exists(os.path.join(bench.work, "bench.json")):
        with open(os.path.join(bench.work, "bench.json"), encoding="utf-8") as handle:
            bench.cluster.port = json.load(handle)["port"]
        was_running = bench.cluster.is_running()
    try:
        bench.freeze_tree()
        bench.setup()
        bench.arms_phase()
        bench.report()
        bench.save()
        if not args.keep:  # after a failure, the playbook's last output stays for reading
            shutil.rmtree(bench.mine, ignore_errors=True)
    finally:
        if args.keep or was_running:
            print("cluster left running: %s (port %d)" % (bench.cluster.basedir, bench.cluster.port))
        elif bench.cluster.is_running():
            bench.cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
