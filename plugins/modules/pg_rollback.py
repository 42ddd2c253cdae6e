#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_rollback
short_description: Revert applied migrations above a target version through their revert files
version_added: 1.0.0
description:
  - Reverts every version the migration ledger records as applied (or baseline) above O(target_version), highest
    first, each through its revert file. C(NNN_name.down.sql) beside C(NNN_name.sql) reverts version NNN.
    O(revert_script), for example C(rollback_004_005.sql), reverts the versions its header line
    C(-- migrate:reverts 004 005 006) declares, in place of their C(.down) files.
  - Each revert file runs in its own transaction. Its last statement turns the ledger rows of the versions it
    reverts to C(rolled_back), so a kill or a failure leaves each revert file whole or not at all, and the ledger
    always agrees with the schema. A later M(knowledgehub.migration.pg_migrate) run applies those versions again.
  - The ledger rows keep the run id of the run that applied them. The first row's run id is the identity of the
    ledger's history. The revert is noted in the row's C(error) column (this run's id, the revert file, its sha256,
    who, from where, the job id), and C(rolled_back_at) says when.
  - A version whose C(migrate:transaction off) file was cut short after some of its statements committed (its last
    row C(failed) with C(last_statement)) is reverted too. Those statements are in the database, and pg_migrate would
    otherwise resume after them on a schema that no longer holds them.
  - Refuses before anything runs when a version to revert has no revert file, or when one is drifted. A revert file
    is drifted when the forward file beside it no longer has the sha256 the ledger recorded when it was applied (the
    revert was then written for something else than what ran). It is also drifted when a C(.down) file names the
    version of another migration, or when its C(migrate:reverts) line names another version. A version covered twice,
    a file that does not split cleanly, holds transaction control or C(-- migrate:transaction off), or a statement that
    cannot run in a transaction, is refused too. Revert files always run in one transaction.
  - Stops at the first revert file that fails. That file's transaction is rolled back, the files reverted before it
    stay reverted with their ledger rows, and the message names the file, the statement number and line, and the
    SQLSTATE.
  - Takes the same session-level advisory lock as M(knowledgehub.migration.pg_migrate), so a migration and a
    rollback of the same database never overlap. Rows a killed runner left C(running) are marked C(failed) first,
    as pg_migrate does.
  - Each revert file's session gets pg_migrate's guards, which are O(lock_timeout) with O(lock_retries) and the
    O(blocking_sessions) policy.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.postgres
attributes:
  check_mode:
    support: full
    description: Returns the plan (the versions to revert, by which file, in which order) and refuses what a run
      would refuse, without writing anything.
  diff_mode:
    support: none
    description: The result lists the revert files run and the ledger rows; there is no diff of the database.
  idempotent:
    support: full
    description: Once the versions above O(target_version) are reverted, a second run reverts nothing and returns
      C(changed=false).
options:
  migrations_dir:
    description:
      - Directory on the managed host that holds the migration files C(NNN_name.sql) and their revert files.
    type: path
    required: true
  target_version:
    description:
      - The last version to keep. Every version applied above it is reverted, highest first.
      - The version of a migration file in O(migrations_dir) (compared as a number, so V(3) is V(003)), or V(0) to
        revert every version.
    type: str
    required: true
  revert_script:
    description:
      - A revert file to use instead of the C(.down) files for the versions it declares with its header line
        C(-- migrate:reverts ...), for example V(rollback_004_005.sql). It runs in one transaction.
      - Its name in O(migrations_dir), or its absolute path there. A file elsewhere, a path with C(..), a link
        leading out of O(migrations_dir), or a name that is not a revert file's is refused.
      - Every version it declares must lie above O(target_version) and have a migration file. At least one of them
        must be applied. Those applied must follow each other in the order of the revert.
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
      - How long to wait for another run of this module or of pg_migrate on the same database to finish, as a
        number of seconds (V(60)) or a PostgreSQL duration (V(60s), V(2min)).
    type: raw
    default: 60
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for each revert file's transaction. A revert file may override it with the
        header line C(-- migrate:lock_timeout 5s).
    type: str
    default: 2s
  statement_timeout:
    description:
      - PostgreSQL C(statement_timeout) for each revert file's statements. V(0) means no limit. A revert file may
        override it with the header line C(-- migrate:statement_timeout 10min).
    type: str
    default: '0'
  idle_in_transaction_timeout:
    description:
      - PostgreSQL C(idle_in_transaction_session_timeout) for the revert's session.
    type: str
    default: 60s
  lock_retries:
    description:
      - How many times to run a revert file again after a lock timeout, a deadlock or a serialization failure, with
        O(lock_retry_delay) doubling between attempts.
    type: int
    default: 5
  lock_retry_delay:
    description:
      - First delay between lock-timeout retries, in seconds.
    type: float
    default: 1.0
  blocking_sessions:
    description:
      - What to do when, before a revert file, other sessions have held a transaction with relation locks for
        longer than O(long_transaction_seconds). V(wait) waits up to O(blocking_sessions_timeout) seconds, V(fail)
        fails at once, V(ignore) goes ahead. As in M(knowledgehub.migration.pg_migrate).
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
  executed_by:
    description:
      - Who runs the rollback, noted in the ledger rows it reverts. Defaults to the user the module runs as.
    type: str
  job_id:
    description:
      - Identifier of the job that runs the rollback (for example the AWX job id), noted in the ledger rows.
    type: str
  run_id:
    description:
      - Identifier of this run (a UUID), noted in the ledger rows it reverts. Defaults to a new random UUID.
    type: str
seealso:
  - module: knowledgehub.migration.pg_migrate
  - module: knowledgehub.migration.pg_restore
    description: Restores a recovery point instead, which also brings back the data written since.
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing each revert file's statement and the rows its progress NOTICEs count. The result is the same as without
    it. See docs/progress.md.
  - A revert file gives back the schema. What the application wrote into the objects it removes goes with them,
    unless the file keeps it. Take a recovery point first (M(knowledgehub.migration.pg_backup)).
'''

EXAMPLES = r'''
- name: What would a rollback to 003 revert? (nothing is written)
  knowledgehub.migration.pg_rollback:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    target_version: "003"
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  check_mode: true
  register: rollback_plan

- name: Revert 006, 005 and 004 through their .down files
  knowledgehub.migration.pg_rollback:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    target_version: "003"
    login_host: 127.0.0.1
    login_port: 5433
    login_user: knowledgehub
    login_password: "{{ vault_knowledgehub_db_password }}"
    login_db: knowledgehub

- name: The same through KnowledgeHub's rollback script, in one transaction
  knowledgehub.migration.pg_rollback:
    migrations_dir: /var/lib/knowledgehub-migration/migrations
    target_version: "003"
    revert_script: rollback_004_005.sql
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
'''

RETURN = r'''
run_id:
  description: Identifier of this run (O(run_id) when given), noted in the ledger rows it reverted.
  returned: always
  type: str
  sample: 2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11
target_version:
  description: O(target_version) as given.
  returned: always
  type: str
  sample: "003"
plan:
  description:
    - The revert files in the order they run (or, in check mode, would run). Each entry has its file, sha256 and
      the versions it declares (C(reverts)), and its C(order). C(versions) lists the ledger rows it turns
      C(rolled_back) (version, name, ledger id, status, whether partly applied). C(not_applied) lists the versions
      it declares that are not applied.
    - At most 50 entries; RV(plan_total) says how many there are.
  returned: always
  type: list
  elements: dict
  sample: [{"order": 1, "file": "006_harden_rollback_functions.down.sql", "checksum": "5d1e...",
            "reverts": ["006"], "not_applied": [],
            "versions": [{"version": "006", "name": "harden_rollback_functions", "ledger_id": 9,
                          "status": "applied", "partly_applied": false}]}]
plan_total:
  description: How many revert files the plan holds.
  returned: always
  type: int
reverted:
  description: The revert files this run ran, in order, each with the versions it reverted (C(reverted)), its
    statements, attempts, duration and PostgreSQL notices.
  returned: always
  type: list
  elements: dict
interrupted:
  description: Ledger rows an earlier, killed run left C(running), now marked C(failed) (in check mode, found).
  returned: always
  type: list
  elements: dict
ledger:
  description: The ledger rows of the versions in the plan, after the run (at most the last 50).
  returned: always
  type: list
  elements: dict
failure:
  description: Where a revert file failed. Its file, statement number and line, SQLSTATE, PostgreSQL's message and
    hint, what the ledger now says, and the files reverted before it (C(reverted_before_failure)).
  returned: failed
  type: dict
  sample: {"file": "005_data_migration.down.sql", "statement": 7, "line": 61, "sqlstate": "22012",
           "error": "division by zero", "ledger": "Its transaction was rolled back: ..."}
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._revert import RollbackJob
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        migrations_dir=dict(type="path", required=True),
        target_version=dict(type="str", required=True),
        revert_script=dict(type="str"),
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
        executed_by=dict(type="str"),
        job_id=dict(type="str"),
        run_id=dict(type="str"),
    )
    module = new_module(argument_spec)
    job = RollbackJob(module.params, check_mode=module.check_mode)
    execute(module, job, what="the rollback of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
