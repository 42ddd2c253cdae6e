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
  migrations_dir:
    description:
      - Directory on the managed host that holds the C(NNN_name.sql) migration files.
    type: path
    required: true
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
      - The squawk binary (PyPI C(squawk-cli)). Defaults to C(squawk) next to the module's Python, then on E(PATH).
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
  details_file:
    description:
      - A JSON file to receive the whole analysis of the pending files. It holds every lint finding and, in check
        mode, the locks of every statement. The module result keeps summaries, whose lists hold at most 50
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
seealso:
  - name: Flyway baseline
    description: The model for adopting a database that predates the ledger.
    link: https://documentation.red-gate.com/fd/baseline-184127456.html
notes:
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
details_file:
  description: The file O(details_file) written by this run, or an empty string.
  returned: always
  type: str
ledger:
  description: The ledger's rows after the run, oldest first.
  returned: always
  type: list
  elements: dict
failure:
  description: Where a migration failed. Its file, statement number and line, SQLSTATE, PostgreSQL's message
    and hint, and what the ledger now says.
  returned: failed
  type: dict
  sample: {"file": "004_hybrid_rag_schema.sql", "statement": 12, "line": 88, "sqlstate": "42601",
           "error": "syntax error at or near \"TABEL\"", "hint": null,
           "ledger": "Its transaction was rolled back: nothing of this file is applied..."}
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._runner import MigrationJob
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        migrations_dir=dict(type="path", required=True),
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
        lint_levels=dict(type="dict"),
        lint_accept=dict(type="list", elements="str", default=[]),
        lint_small_table_rows=dict(type="int", default=1000),
        details_file=dict(type="path"),
        executed_by=dict(type="str"),
        job_id=dict(type="str"),
        run_id=dict(type="str"),
        backup_ref=dict(type="str"),
    )
    module = new_module(argument_spec)
    job = MigrationJob(module.params, check_mode=module.check_mode)
    execute(module, job, what="the migration of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
