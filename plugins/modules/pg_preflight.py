#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_preflight
short_description: Read-only pre-flight gate before a migration, with each check as data
version_added: 1.0.0
description:
  - Runs the runbook's Pre-Migration Checklist against the database and the managed host, and returns every check
    as data. Each check has C(name), C(status) (V(pass), V(warn) or V(fail)), C(observed), C(threshold),
    C(message) and sometimes C(details).
  - C(connection) connects and reads the server version. The message never holds the password.
  - C(primary) fails on a standby (C(pg_is_in_recovery())), because migrations must run on the primary.
  - C(privileges) asks PostgreSQL what the connecting role can really do. That is CREATE on the schemas the
    pending files create objects in (and on O(ledger_schema) while the ledger does not exist), ownership (or
    membership in the owning role) of each existing table the pending files alter, drop or index, the table
    privileges their reads and writes need, and SELECT, INSERT and UPDATE on the ledger. The tables come from the
    lock analysis of the pending statements, the one pg_migrate's check mode reports. A superuser passes.
  - C(free_disk) compares the free space of the file system of O(backup_dir) (or of its nearest existing parent)
    with the larger of O(min_free_disk_mb) and O(backup_count) backups of the size pg_backup estimates, with
    pg_backup's reserve.
  - C(free_memory) compares C(MemAvailable) of C(/proc/meminfo) with O(min_free_memory_mb).
  - C(cpu_load) is the 1-minute load average divided by the number of CPUs, as a percent. It warns above
    O(max_cpu_percent) and fails above O(max_cpu_percent_fail).
  - C(client_programs) finds pg_dump, pg_restore and psql where the backups and restores run them (O(runner),
    as M(knowledgehub.migration.pg_backup) does) and reads their versions. C(psycopg2) reads the driver's version.
    C(squawk) checks the lint gate's squawk when O(lint=true). With O(lint_source), the squawk that already ran on
    the controller (the host needs none); without it, the host's. A missing program fails, naming it and how to
    install it.
  - C(sessions) lists the sessions holding locks on the tables the pending files touch, sessions idle in
    transaction and transactions older than O(max_transaction_age). It warns about them, and fails when a session
    holds a lock that the first pending file would wait for (judged from PostgreSQL's lock conflict table and the
    modes of the lock analysis).
  - C(replication) lists the replicas (C(pg_stat_replication)) with their state and replay lag. It warns above
    O(max_replication_lag) and passes with observed C(no replicas) when there are none.
  - C(pending_migrations) gives the versions pending and the lint gate's counts, through pg_migrate's own plan and
    lint. It fails when pg_migrate would refuse to plan (drift, a legacy database without O(baseline_version)) or
    when the lint gate would block. An empty pending list passes with observed C([]).
  - C(data_integrity:<constraint>) checks, one per foreign key, CHECK, NOT NULL, UNIQUE, PRIMARY KEY or unique
    index the pending files add to a table that exists (and per C(VALIDATE CONSTRAINT)), count the rows that would
    violate it and give a few of their keys in C(details). Each is one read-only scan of the table, bounded by
    O(integrity_timeout) (a warning when it cannot finish). A constraint on a table or column the run creates, or
    added C(NOT VALID), has nothing to check and passes, saying why.
  - C(invalid_indexes), C(not_valid_constraints), C(disabled_triggers), C(sequences_behind) and C(orphaned_rows)
    look at the database as it is, with the generic checks
    M(knowledgehub.migration.pg_validate) runs after every phase, for what an interrupted or careless migration leaves
    behind. An invalid index, a disabled trigger, a sequence behind its column or a row whose foreign key points to
    no row fails, naming them; a constraint left C(NOT VALID) warns. The orphaned rows are one anti-join per foreign
    key, under O(integrity_timeout), on tables estimated at most O(orphan_check_max_rows) rows (a warning names those
    left out).
  - C(baseline:<file>) checks, one per file O(baseline_version) would record as applied without running it, fail
    when an object the file creates (table, view, index, sequence, function, type, column) is not in the database.
  - A failed check fails the module, with a message naming each failed check and what to fix, unless
    O(fail_on=never). A warning never fails it. The checks that need the database are listed in C(not_checked)
    when the connection failed.
  - Writes nothing anywhere, in check mode or not. The session is read-only (C(default_transaction_read_only)), and
    catalog reads give up after 3 s of waiting for a lock instead of queueing behind the application.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.postgres
  - knowledgehub.migration.compose
  - knowledgehub.migration.compose.runner
  - knowledgehub.migration.lint
  - knowledgehub.migration.migration_files
attributes:
  check_mode:
    support: full
    description: The checks only read; check mode runs them all and gives the same result.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  idempotent:
    support: full
    description: Never changes anything; C(changed) is always false.
options:
  baseline_version:
    description:
      - As pg_migrate's O(knowledgehub.migration.pg_migrate#module:baseline_version), so the plan is the run's.
    type: str
  target_version:
    description:
      - As pg_migrate's O(knowledgehub.migration.pg_migrate#module:target_version). Only the files up to it are
        pending.
    type: str
  ledger_table:
    description:
      - Name of the migration ledger table.
    type: str
    default: migration_log
  ledger_schema:
    description:
      - Schema of the ledger table.
    type: str
    default: public
  lint:
    description:
      - Lint the pending files as pg_migrate's lint gate does and require squawk. With V(false), neither.
    type: bool
    default: true
  squawk_path:
    description:
      - The squawk binary on the managed host, used when squawk lints there (no O(lint_source)). Defaults to
        C(squawk) next to the module's Python, then on E(PATH).
    type: path
  lint_levels:
    description:
      - Per-rule level overrides, as pg_migrate's O(knowledgehub.migration.pg_migrate#module:lint_levels).
    type: dict
  lint_accept:
    description:
      - Rules accepted for every pending file, as pg_migrate's O(knowledgehub.migration.pg_migrate#module:lint_accept).
    type: list
    elements: str
    default: []
  lint_small_table_rows:
    description:
      - As pg_migrate's O(knowledgehub.migration.pg_migrate#module:lint_small_table_rows). The findings are judged
        against the database exactly as pg_migrate judges them, so the pre-flight and the run agree.
    type: int
    default: 1000
  backup_dir:
    description:
      - The directory the backups will be written to. When it does not exist yet, the free space of its nearest
        existing parent is measured. Nothing is created.
    type: path
    required: true
  backup_format:
    description:
      - The format of the backups (pg_backup's O(knowledgehub.migration.pg_backup#module:format)), for their
        estimated size. V(plain) is uncompressed.
    type: str
    choices: [ custom, directory, plain ]
    default: custom
  backup_compression:
    description:
      - The compression of the backups (pg_backup's O(knowledgehub.migration.pg_backup#module:compression)), for
        their estimated size. V(auto) is counted as lz4, the larger of its two outcomes.
    type: str
    default: auto
  backup_count:
    description:
      - How many backups of the database the run will keep in O(backup_dir). The migrate role takes one before the
        migration and one after each phase.
      - With one or more, the check C(privileges) also asks for SELECT on every table and sequence, and USAGE on
        every schema, that pg_dump of the whole database reads (extension members aside). V(0) is a run without
        backups.
    type: int
    default: 1
  clone_points:
    description:
      - How many clone recovery points (pg_backup O(knowledgehub.migration.pg_backup#module:format=clone)) the run
        will take. With one or more, the check C(server_volume) reads the free space of the database server's own
        volume (on this host when its data directory is here and visible to the role, else with C(df) in the
        O(db_service) container when O(project_dir) is set) against the database's size per clone plus
        O(keep_free_mb). Short of room, or unread, is a warning, since such a clone gives way to a verified dump.
    type: int
    default: 0
  keep_free_mb:
    description:
      - For C(server_volume), the space in MiB that must stay free on the server's volume after the clones (as
        pg_backup's O(knowledgehub.migration.pg_backup#module:keep_free_mb)).
    type: int
    default: 1024
  min_free_disk_mb:
    description:
      - Free space, in MiB, needed where the backups go at the least (the runbook's 2 GB). The estimated size of
        the backups raises it.
    type: int
    default: 2048
  min_free_memory_mb:
    description:
      - Available memory (C(MemAvailable)), in MiB, needed on the host (the runbook's 1 GB).
    type: int
    default: 1024
  max_cpu_percent:
    description:
      - CPU load (1-minute load average per CPU, in percent) above which C(cpu_load) warns (the runbook's 80%).
    type: float
    default: 80
  max_cpu_percent_fail:
    description:
      - CPU load above which C(cpu_load) fails. Unset, it never fails.
      - The load average is a smoothed length of the run queue, and it counts processes waiting for disk as well.
        A busy minute does not make a migration unsafe (each statement waits for its locks at most
        C(lock_timeout)); it makes it slower. So by default a high load is a warning for the operator to weigh,
        as the runbook's 80% is an alert, not a stop.
    type: float
  max_transaction_age:
    description:
      - Seconds after which another session's open transaction counts as long (a warning).
    type: int
    default: 300
  max_replication_lag:
    description:
      - Replay lag, in seconds, above which a replica is a warning.
    type: float
    default: 30
  integrity_timeout:
    description:
      - The C(statement_timeout) of each data integrity query (the rows that would break a foreign key, CHECK,
        NOT NULL, UNIQUE or PRIMARY KEY the pending files add) and of the baseline check, as a PostgreSQL duration.
        Each query is one scan of the table, read only. A query that does not finish in time is a warning saying
        the check could not finish, never a failure.
    type: str
    default: 30s
  orphan_check_max_rows:
    description:
      - The foreign keys of tables estimated above this many rows are not scanned for orphaned rows (a warning says
        which), as pg_validate's option of the same name.
    type: int
    default: 5000000
  fail_on:
    description:
      - V(fail) fails the module when a check fails. V(never) only reports, so that a plan or a report can read the
        checks (look at C(ok) and C(failed_checks)).
    type: str
    choices: [ fail, never ]
    default: fail
  pg_bin_dir:
    description:
      - The directory of the pg_dump, pg_restore and psql to check. By default the client is chosen as pg_backup
        chooses it.
    type: path
requirements:
  - The PostgreSQL client programs C(pg_dump), C(pg_restore) and C(psql) on the managed host (O(pg_bin_dir)), or
    the compose C(db) service's own through docker compose (O(runner=compose))
  - squawk (PyPI C(squawk-cli) 2.x, pinned in the collection's C(requirements.txt)) on the controller when the task
    gives O(lint_source) with O(lint=true), as the collection's roles do; only without O(lint_source) is it needed
    on the managed host
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing its elapsed time. The result is the same as without it. See docs/progress.md.
  - The host checks (disk, memory, CPU) measure the managed host the module runs on, the docker-compose host whose
    resources the C(db) container shares.
  - For the whole picture of C(sessions) and C(replication) (other users' queries, replay positions), the
    connecting role needs C(pg_monitor) or C(pg_read_all_stats). Without it, what is hidden is a warning, not a pass.
seealso:
  - module: knowledgehub.migration.pg_migrate
  - module: knowledgehub.migration.pg_backup
'''

EXAMPLES = r'''
- name: Pre-flight of the KnowledgeHub migration (fails the play on any failed check)
  knowledgehub.migration.pg_preflight:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    baseline_version: "003"
    backup_dir: /var/backups/knowledgehub
    backup_count: 3
    login_host: 127.0.0.1
    login_port: 5433
    login_user: knowledgehub
    login_password: "{{ vault_knowledgehub_db_password }}"
    login_db: knowledgehub
  register: preflight

- name: Report only, with stricter CPU thresholds and the client of the db service
  knowledgehub.migration.pg_preflight:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    backup_dir: /var/backups/knowledgehub
    max_cpu_percent: 60
    max_cpu_percent_fail: 150
    runner: compose
    project_dir: /srv/knowledgehub
    fail_on: never
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  register: preflight
'''

RETURN = r'''
checks:
  description:
    - Every check, in the runbook's order, each with C(name), C(status) (V(pass), V(warn), V(fail)), C(observed),
      C(threshold) (or null), C(message) (what was seen and, for a warning or a failure, what to do) and optionally
      C(details) (a list of at most 10 lines).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "free_memory", "status": "pass", "observed": 5120, "threshold": 1024,
            "message": "5120 MB of memory available (at least 1024 MB needed)."}]
counts:
  description: How many checks passed, warned and failed.
  returned: always
  type: dict
  sample: {"pass": 11, "warn": 1, "fail": 0}
ok:
  description: True when no check failed.
  returned: always
  type: bool
failed_checks:
  description: The names of the failed checks.
  returned: always
  type: list
  elements: str
  sample: ["privileges", "sessions"]
warned_checks:
  description: The names of the checks that warned.
  returned: always
  type: list
  elements: str
not_checked:
  description: The checks that need the database, left out because the connection failed.
  returned: always
  type: list
  elements: str
server_version:
  description: The server's version, or null without a connection.
  returned: always
  type: str
  sample: "15.8"
pending:
  description: The migration files pg_migrate would apply (version, name, file, checksum).
  returned: always
  type: list
  elements: dict
baselined:
  description: The files pg_migrate would record as baseline without running them.
  returned: always
  type: list
  elements: dict
plan_error:
  description: Why pg_migrate would refuse to plan (drift, a missing baseline_version...), or null.
  returned: always
  type: str
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import client_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, migration_files, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight_job import PreflightJob


def main():
    argument_spec = client_argument_spec()
    argument_spec.update(
        migrations_dir=dict(type="path"),
        migrations_source=dict(type="path"),
        _migration_files=dict(type="dict", no_log=True),
        baseline_version=dict(type="str"),
        target_version=dict(type="str"),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
        lint=dict(type="bool", default=True),
        squawk_path=dict(type="path"),
        lint_source=dict(type="path"),
        _lint_findings=dict(type="dict"),
        lint_levels=dict(type="dict"),
        lint_accept=dict(type="list", elements="str", default=[]),
        lint_small_table_rows=dict(type="int", default=1000),
        backup_dir=dict(type="path", required=True),
        backup_format=dict(type="str", default="custom", choices=["custom", "directory", "plain"]),
        backup_compression=dict(type="str", default="auto"),
        backup_count=dict(type="int", default=1),
        clone_points=dict(type="int", default=0),
        keep_free_mb=dict(type="int", default=1024),
        min_free_disk_mb=dict(type="int", default=2048),
        min_free_memory_mb=dict(type="int", default=1024),
        max_cpu_percent=dict(type="float", default=80),
        max_cpu_percent_fail=dict(type="float"),
        max_transaction_age=dict(type="int", default=300),
        max_replication_lag=dict(type="float", default=30),
        integrity_timeout=dict(type="str", default="30s"),
        orphan_check_max_rows=dict(type="int", default=5000000),
        fail_on=dict(type="str", default="fail", choices=["fail", "never"]),
    )
    module = new_module(argument_spec)
    with migration_files(module) as params:
        job = PreflightJob(params, check_mode=module.check_mode)
        execute(module, job, what="the pre-flight of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
