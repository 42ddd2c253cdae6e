#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_migrate
short_description: Apply pending SQL migration files to PostgreSQL under a checksummed ledger
version_added: 1.0.0
description:
  - Finds the migration files C(NNN_name.sql) in O(migrations_dir) and applies each pending one, in version
    order, in its own transaction. The file's ledger row turns C(applied) inside that same transaction, so the
    ledger and the schema always agree.
  - Records every attempt in a ledger table (O(ledger_table), created on first use) with version, name, sha256,
    status, start and end time, duration and who ran it. Files already applied are skipped.
  - Refuses to run when a file already applied has changed since (drift), when an applied file is missing, when
    a pending file would run out of order, or when a file holds transaction control or a statement that cannot
    run in a transaction. Nothing is changed in those cases.
  - Adopts a database that predates the ledger by baselining, as Flyway does. When the database holds tables
    but the ledger has no history, the versions up to O(baseline_version) are recorded as present without
    being run. Without O(baseline_version), such a database is refused.
  - One run at a time per database. A session-level advisory lock is held for the whole run; a second run
    waits up to O(lock_wait_timeout), then fails naming the session that holds it.
  - Rows a killed runner left C(running) are marked C(failed) by the next run. PostgreSQL rolled their
    transaction back, so nothing of them was applied.
  - C(rollback_*.sql) files in the directory are not migrations and are left alone.
  - A file whose first lines include C(-- migrate:transaction off) runs statement by statement, each statement
    committed on its own and journaled in the ledger (C(last_statement)). This is for C(CREATE INDEX CONCURRENTLY)
    and for batched data migrations whose C(DO) blocks commit between batches. After a failure or a kill, the next
    run continues at the statement that did not complete. An INVALID index left by a failed concurrent build is
    dropped before that statement is retried. Such files must be written so that each statement can be run
    again (C(IF NOT EXISTS), C(NOT EXISTS) guards).
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.postgres
  - knowledgehub.migration.lint
  - knowledgehub.migration.migration_files
attributes:
  check_mode:
    support: full
    description: Reports the files that would be baselined and applied, and refuses bad input, without writing.
  diff_mode:
    support: none
    description: The result lists the files applied and the ledger; there is no diff of the database.
  idempotent:
    support: full
    description: A second run with the same files applies nothing and returns C(changed=false).
options:
  baseline_version:
    description:
      - For a database that already holds the schema of the early migrations but has no ledger, the last version
        it already contains. Those files are recorded as C(baseline), not run.
      - Ignored once the ledger has history, and on an empty database (everything is then run).
    type: str
  target_version:
    description:
      - Apply pending migrations up to and including this version only.
    type: str
  ledger_table:
    description:
      - Name of the ledger table.
    type: str
    default: migration_log
  ledger_schema:
    description:
      - Schema of the ledger table.
    type: str
    default: public
  lock_wait_timeout:
    description:
      - How long to wait for another run of this module on the same database to finish before failing, as a number
        of seconds (V(60)) or a PostgreSQL duration (V(60s), V(2min)).
      - A row left C(running) by a killed run whose session is still open is waited for as long.
    type: raw
    default: 60
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for each migration's transaction. A statement that waits longer than this for
        a lock fails, so a migration never queues the application's queries behind it for long.
    type: str
    default: 2s
  statement_timeout:
    description:
      - PostgreSQL C(statement_timeout) for each migration's statements. V(0) means no limit.
      - A file may override this and O(lock_timeout) with the header lines C(-- migrate:statement_timeout 30min)
        and C(-- migrate:lock_timeout 2s).
    type: str
    default: '0'
  idle_in_transaction_timeout:
    description:
      - PostgreSQL C(idle_in_transaction_session_timeout) for the migration's session, so a runner that hangs in
        the middle of a transaction cannot keep its locks.
    type: str
    default: 60s
  lock_retries:
    description:
      - How many times to retry after a lock timeout (SQLSTATE 55P03), a deadlock (40P01) or a serialization
        failure (40001), after which PostgreSQL has already rolled the work back. A transactional file is run
        again from its start; a statement of a C(migrate:transaction off) file is run again.
      - Retries wait O(lock_retry_delay) seconds, doubling each time (at most 30 s), with random jitter.
      - When the retries are spent, the failure names the relation waited for and the session holding it.
    type: int
    default: 5
  lock_retry_delay:
    description:
      - First delay between lock-timeout retries, in seconds.
    type: float
    default: 1.0
  blocking_sessions:
    description:
      - What to do when, before a migration, other sessions of the database have held a transaction (running or
        idle in transaction) with relation locks for longer than O(long_transaction_seconds). DDL would queue
        behind them, and the application's queries behind the DDL.
      - V(wait) waits up to O(blocking_sessions_timeout) seconds for them to finish, then fails listing them.
        V(fail) fails at once with the list. V(ignore) goes ahead (lock_timeout and the retries still apply).
    type: str
    choices: [ wait, fail, ignore ]
    default: wait
  blocking_sessions_timeout:
    description:
      - Seconds to wait for long transactions to finish when O(blocking_sessions=wait).
    type: int
    default: 60
  long_transaction_seconds:
    description:
      - Age, in seconds, from which another session's open transaction counts as long for O(blocking_sessions).
    type: int
    default: 30
  lint:
    description:
      - Lint the pending files with squawk before anything runs, and refuse to run when it finds an error.
      - Rules that mean a long lock or a table rewrite on a table that already holds data, or data loss, are errors.
        Style rules are warnings. Rules this runner already satisfies, such as C(require-lock-timeout), are
        dropped. See C(docs/lint.md) in the collection for the whole policy.
      - To accept a finding for one statement, put C(-- squawk-ignore <rule>) on the line just before the
        flagged line, and give the reason after a second C(--).
    type: bool
    default: true
  squawk_path:
    description:
      - The squawk binary (PyPI C(squawk-cli)) on the managed host, used when squawk lints there (no
        O(lint_source)). Defaults to C(squawk) next to the module's Python, then on E(PATH).
    type: path
  lint_levels:
    description:
      - "Per-rule level overrides, for example C({prefer-bigint-over-int: error}). Levels are V(error),
        V(warning) and V(satisfied)."
    type: dict
  lint_accept:
    description:
      - Rules accepted for every pending file. Prefer a C(squawk-ignore) comment on the one statement instead.
    type: list
    elements: str
    default: []
  lint_small_table_rows:
    description:
      - The lint gate judges each blocking finding against the database. A finding about a lock, a scan or a
        rewrite of a table does not block when the table is created earlier in the run (by an earlier pending
        file or an earlier statement) or holds fewer rows than this. A finding about data that would be lost
        (C(ban-drop-column), C(ban-drop-table)) is relaxed only for a new or empty table; a rename only for a new
        table. Relaxed findings are reported with C(relaxed=true) and the C(reason).
      - Rows are read from C(pg_class.reltuples); a table is counted, never further than this number plus one,
        only when the estimate is below it.
      - V(0) turns this off; every finding then keeps the level of the policy.
    type: int
    default: 1000
  monitor_interval:
    description:
      - While the files apply, sample the load every this many seconds on a connection of its own (see RV(monitor)).
        V(0) turns the monitor off.
      - Each sample holds the lock waits of the database (C(pg_locks), C(pg_blocking_pids), and which sessions wait
        for the migration or the migration for), other sessions running one query longer than
        O(monitor_long_query_seconds), the host's CPU, memory and busiest disk (C(/proc), the machine the module
        runs on, the database host in a compose setup), and the database's new errors (C(pg_stat_database)
        rollbacks, deadlocks, conflicts, temporary bytes; the server log is not read).
      - A failure of the monitor is a warning; the migration goes on without it.
    type: float
    default: 5
  monitor_policy:
    description:
      - What a figure above its threshold (O(monitor_max_cpu), O(monitor_max_memory), O(monitor_max_lock_wait)) does.
      - V(warn) records a warning each time a figure rises above its threshold.
      - V(pause) throttles batched migrations (C(migrate:transaction off) files that follow the throttle protocol,
        as C(005_data_migration.sql) does). They wait between two batches until every figure is back at or below
        90% of its threshold, or until O(monitor_max_pause) has passed; then the migration goes on.
      - V(abort) cancels the running migration at the first figure above its threshold. The run fails with a message
        naming the threshold and the figure, the ledger records the attempt as failed, and a rerun continues a
        C(migrate:transaction off) file where it stopped.
    type: str
    choices: [ warn, pause, abort ]
    default: warn
  monitor_max_cpu:
    description:
      - Threshold of the host's CPU use, in percent over a sampling interval. V(100) never fires.
    type: float
    default: 80
  monitor_max_memory:
    description:
      - Threshold of the host's memory in use (1 - C(MemAvailable) / C(MemTotal)), in percent.
    type: float
    default: 90
  monitor_max_lock_wait:
    description:
      - Threshold of the longest lock wait of any session of the database, in seconds.
    type: float
    default: 10
  monitor_max_pause:
    description:
      - With O(monitor_policy=pause), the longest one pause lasts, in seconds. After it the migration goes on with a
        warning, and is throttled again only once the load has come down below the resume level and risen again.
    type: float
    default: 300
  monitor_long_query_seconds:
    description:
      - Age from which another session's running query counts as long in the monitor's samples, in seconds.
    type: float
    default: 60
  analyze:
    description:
      - After the files of a run applied, run C(ANALYZE) on the tables they created or changed, as the lock analysis
        reads them from their statements. ANALYZE lets the application's reads and writes go on; it runs with
        O(lock_timeout), and a failure is a warning, not a failed migration.
    type: bool
    default: true
  details_file:
    description:
      - A JSON file to receive the whole analysis of the pending files. It holds every lint finding and, in check
        mode, the locks of every statement. After a run with the monitor on, it also holds the monitor's whole
        timeline. The module result keeps summaries, whose lists hold at most 50
        entries, so that it stays small whatever the size of the files.
      - The file is written with mode 0600 and replaced atomically, in check mode too, because it is the plan's
        long form. Its directory must exist. A symbolic link or a directory at that path is refused.
    type: path
  executed_by:
    description:
      - Who runs the migration, recorded in the ledger. The migrate role passes the controller's user.
      - Defaults to the user the module runs as on the managed host.
    type: str
  job_id:
    description:
      - Identifier of the job that runs the migration (for example the AWX job id), recorded in the ledger.
    type: str
  run_id:
    description:
      - Identifier of the run (a UUID), stored on every ledger row this invocation writes. Give the same one to
        several invocations (the phases of one run, for example the schema phase up to 004 and the data phase up
        to 005) so the ledger shows them as one run, together with the recovery points recorded against it
        (see M(knowledgehub.migration.pg_backup)'s O(knowledgehub.migration.pg_backup#module:run_id)).
      - Defaults to a new random UUID.
    type: str
  backup_ref:
    description:
      - The backup (recovery point) that precedes the migrations of this invocation, for example the
        C(backup_id) pg_backup returned. Recorded in the C(backup_ref) column of every ledger row it writes.
    type: str
requirements:
  - Nothing else on the managed host (pg_migrate runs no PostgreSQL client program)
  - squawk (PyPI C(squawk-cli) 2.x, pinned in the collection's C(requirements.txt)) on the controller when the task
    gives O(lint_source) with O(lint=true), as the collection's roles do; only without O(lint_source) is it needed
    on the managed host
seealso:
  - name: Flyway baseline
    description: The model for adopting a database that predates the ledger.
    link: https://documentation.red-gate.com/fd/baseline-184127456.html
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing each file's statement and the rows its progress NOTICEs count (005's batches), with an estimate. The
    result is the same as without it. See docs/progress.md.
  - The connecting role needs the privileges the migrations use (CREATE on the database's schema, ownership of
    the tables they alter) and, on first use, CREATE on O(ledger_schema).
'''

EXAMPLES = r'''
- name: Apply KnowledgeHub migrations, adopting a database that already holds 001-003
  knowledgehub.migration.pg_migrate:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    baseline_version: "003"
    login_host: 127.0.0.1
    login_port: 5433
    login_user: knowledgehub
    login_password: "{{ vault_knowledgehub_db_password }}"
    login_db: knowledgehub
  register: migration

- name: Only the schema phase (004), as part of run 2f1d7a4c-..., after recovery point knowledgehub_20261124T213300Z
  knowledgehub.migration.pg_migrate:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    target_version: "004"
    run_id: 2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11
    backup_ref: knowledgehub_20261124T213300Z
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub

- name: The data phase, throttled on load (005's batches wait while CPU > 80 % or a lock wait > 10 s)
  knowledgehub.migration.pg_migrate:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    target_version: "005"
    monitor_policy: pause
    monitor_max_pause: 600
    details_file: /var/lib/knowledgehub-migration/pg_migrate-005.json
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  register: data_phase

- name: What would run? (nothing is written)
  knowledgehub.migration.pg_migrate:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  check_mode: true
  register: plan
'''

RETURN = r'''
run_id:
  description: Identifier of this run (O(run_id) when given), stored on every ledger row it wrote.
  returned: always
  type: str
  sample: 2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11
ledger_created:
  description: Whether the ledger table was (or, in check mode, would be) created.
  returned: always
  type: bool
baselined:
  description: Files recorded (or to be recorded) as present without being run.
  returned: always
  type: list
  elements: dict
  sample: [{"version": "001", "name": "knowledge_store", "file": "001_knowledge_store.sql", "checksum": "9f86..."}]
applied:
  description: Files applied by this run, in order, with their duration and PostgreSQL notices.
  returned: always
  type: list
  elements: dict
  sample: [{"version": "004", "name": "hybrid_rag_schema", "file": "004_hybrid_rag_schema.sql",
            "checksum": "60303ae2...", "statements": 112, "duration_ms": 840, "notices": []}]
pending:
  description: In check mode, files that would be applied. Empty after a real run.
  returned: always
  type: list
  elements: dict
already_applied:
  description: Files already recorded as applied or baseline; their checksums matched.
  returned: always
  type: list
  elements: dict
beyond_target:
  description: Pending files left alone because they come after O(target_version).
  returned: always
  type: list
  elements: dict
interrupted:
  description: Ledger rows an earlier, killed run left C(running), now marked C(failed) (in check mode, found).
  returned: always
  type: list
  elements: dict
ignored_files:
  description: Entries of O(migrations_dir) that are neither a migration (C(NNN_name.sql), ASCII digits, lowercase
    C(.sql), a regular file) nor a revert file (C(NNN_name.down.sql), C(rollback*.sql)).
  returned: always
  type: list
  elements: str
ignored_reasons:
  description: For each entry of RV(ignored_files), why it was not taken as a migration.
  returned: always
  type: dict
  sample: {"006_new.SQL": "the extension must be lowercase .sql to be a migration", "expectations": "a directory"}
lint:
  description:
    - The lint gate's report for the pending files. It holds the findings with their file, line, statement, rule
      and level, the counts (C(counts), C(by_rule)), the rules accepted and the rules the runner satisfies.
    - The lists hold at most 50 entries, blocking findings first. C(findings_total) and C(findings_left_out) say
      how many there are. All of them are in O(details_file).
  returned: when there were pending files and O(lint=true)
  type: dict
locks:
  description:
    - In check mode, for each pending file, the strongest lock per existing relation (complete), and the locks of
      at most 50 statements. These are the statements with the strongest locks on relations that existed before
      the file, in file order. C(statements_total) and C(statements_left_out) say how many there are.
    - Each statement's locks (relation and lock mode) are read from its text. Every statement is in O(details_file).
  returned: check mode
  type: dict
  sample: {"004_hybrid_rag_schema.sql": {"strongest": {"ai_memories": "ACCESS EXCLUSIVE"}, "statements": [],
           "statements_total": 120, "statements_left_out": 70}}
lock_table:
  description:
    - In check mode, the plan's lock table, short whatever the files. Per pending file and relation that existed
      before it, the strongest lock the file takes on it and the first statement that takes it (C(statement),
      C(line), C(summary)), strongest first. Then one row per file with C(relation=*) and C(mode=unknown) for its
      statements of procedural code (C(DO), functions), whose locks show only when they run.
    - At most 50 rows; C(rows_total) and C(rows_left_out) say how many there are. Relations the file creates are
      left out (nothing can be waiting on them).
  returned: check mode
  type: dict
  sample: {"rows": [{"file": "004_hybrid_rag_schema.sql", "relation": "ai_memories", "mode": "ACCESS EXCLUSIVE",
           "statement": 12, "line": 389, "summary": "ALTER TABLE ai_memories ADD COLUMN cluster_id..."}],
           "rows_total": 1, "rows_left_out": 0}
details_file:
  description: The file O(details_file) written by this run, or an empty string.
  returned: always
  type: str
ledger:
  description: The ledger's rows after the run, oldest first.
  returned: always
  type: list
  elements: dict
monitor:
  description:
    - The load during the run, sampled every O(monitor_interval) seconds while the files applied, and what the
      policy did. C(peaks) are the highest figures (None when never measured). C(warnings) lists each crossing of a
      threshold. C(pauses) and C(paused_seconds) count the throttle, held under O(monitor_policy=pause). C(aborted)
      and C(abort_reason) tell whether the monitor stopped the migration. C(error) is set when the monitor itself
      failed (the migration went on). C(totals) sum the error counters over the run.
    - C(timeline) holds at most 50 samples (those where something happened first); C(timeline_total) and
      C(timeline_left_out) say how many there are. Every sample is in O(details_file).
  returned: when files were applied with O(monitor_interval) above 0
  type: dict
  sample: {"interval": 5.0, "policy": "pause", "samples": 12, "pauses": 1, "paused_seconds": 10.2, "aborted": false,
           "peaks": {"cpu_percent": 91.5, "memory_percent": 41.0, "io_read_bps": 1048576, "io_write_bps": 8388608,
                     "lock_wait_s": 0.0, "blocked_sessions": 0, "long_queries": 0, "new_errors": 0},
           "warnings": ["CPU 91.5% above monitor_max_cpu=80 (at +20.1s, 005_data_migration.sql)."],
           "timeline": [{"t": 5.0, "file": "005_data_migration.sql", "cpu_percent": 91.5, "action": "pause"}]}
analyze:
  description:
    - The tables ANALYZE ran on after the files applied (C(tables), each with its C(duration_ms), at most 50;
      C(tables_total)), those that failed with PostgreSQL's message (C(failed), also warnings), the names no longer
      found (C(not_found)), the statements of procedural code whose tables could not be named
      (C(procedural_statements)) and the time taken (C(duration_ms)).
  returned: when files were applied and O(analyze=true)
  type: dict
  sample: {"tables": [{"table": "public.memory_clusters", "duration_ms": 3}], "tables_total": 19, "failed": [],
           "not_found": [], "procedural_statements": 9, "duration_ms": 240}
failure:
  description: Where a migration failed. Its file, statement number and line, SQLSTATE, PostgreSQL's message
    and hint, and what the ledger now says.
  returned: failed
  type: dict
  sample: {"file": "004_hybrid_rag_schema.sql", "statement": 12, "line": 88, "sqlstate": "42601",
           "error": "syntax error at or near \"TABEL\"", "hint": null,
           "ledger": "Its transaction was rolled back: nothing of this file is applied..."}
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, migration_files, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._runner import MigrationJob
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        migrations_dir=dict(type="path"),
        migrations_source=dict(type="path"),
        _migration_files=dict(type="dict", no_log=True),
        baseline_version=dict(type="str"),
        target_version=dict(type="str"),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
        lock_wait_timeout=dict(type="raw", default=60),
        lock_timeout=dict(type="str", default="2s"),
        statement_timeout=dict(type="str", default="0"),
        idle_in_transaction_timeout=dict(type="str", default="60s"),
        lock_retries=dict(type="int", default=5),
        lock_retry_delay=dict(type="float", default=1.0),
        blocking_sessions=dict(type="str", default="wait", choices=["wait", "fail", "ignore"]),
        blocking_sessions_timeout=dict(type="int", default=60),
        long_transaction_seconds=dict(type="int", default=30),
        lint=dict(type="bool", default=True),
        squawk_path=dict(type="path"),
        lint_source=dict(type="path"),
        _lint_findings=dict(type="dict"),
        lint_levels=dict(type="dict"),
        lint_accept=dict(type="list", elements="str", default=[]),
        lint_small_table_rows=dict(type="int", default=1000),
        monitor_interval=dict(type="float", default=5.0),
        monitor_policy=dict(type="str", default="warn", choices=["warn", "pause", "abort"]),
        monitor_max_cpu=dict(type="float", default=80.0),
        monitor_max_memory=dict(type="float", default=90.0),
        monitor_max_lock_wait=dict(type="float", default=10.0),
        monitor_max_pause=dict(type="float", default=300.0),
        monitor_long_query_seconds=dict(type="float", default=60.0),
        analyze=dict(type="bool", default=True),
        details_file=dict(type="path"),
        executed_by=dict(type="str"),
        job_id=dict(type="str"),
        run_id=dict(type="str"),
        backup_ref=dict(type="str"),
    )
    module = new_module(argument_spec)
    with migration_files(module) as params:
        job = MigrationJob(params, check_mode=module.check_mode)
        execute(module, job, what="the migration of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
