#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_restore
short_description: Restore a verified backup made by pg_backup, whole or chosen tables, and check its rows
version_added: 1.0.0
description:
  - Restores a backup made by M(knowledgehub.migration.pg_backup), named by its O(manifest), or the newest verified
    one of a O(label) in O(backup_dir).
  - Before anything is written, the backup must be of the database restored. Its database's name must be
    O(login_db), and when both the backup and O(login_db) have a migration ledger (O(ledger_table)), the identity of
    their migration histories must match. That identity is the run id and start of the ledger's first row. Otherwise
    the module refuses, naming both, unless O(allow_other_database). Without a ledger on one side, or with a manifest
    written before pg_backup recorded the identity, the name decides, and RV(identity) says why the identity was not
    checked.
  - Before anything is written, the archive must match its manifest (sha256 and size), so a truncated or altered
    archive is refused, and its table of contents must hold every table entry the manifest lists. Only dump and
    clone manifests are considered, each checked for the fields its kind needs. An archive name that is not a plain
    file name in the manifest's directory, or a link leading out of it, is refused and never followed.
  - O(mode=swap) (default) restores into a new database C(<db>_restore_<timestamp>), checks that every table holds
    exactly the manifest's row count (and runs ANALYZE with O(analyze)), and only then swaps it in by renaming.
    The sessions on the old database are ended (O(terminate_connections)) and it is kept as
    C(<db>_pre_restore_<timestamp>) unless O(drop_previous). Its database-level privileges, settings, owner and
    comment pass to the new one. Both renames run in one transaction, so no crash leaves O(login_db) without a
    database.
  - Every state the module puts a database in (refusing connections while its sessions drain, a new database being
    restored into, a recovery point opened for its row counts) is journaled in that database's comment in the same
    transaction. If the module is killed, the next run of this module or of M(knowledgehub.migration.pg_backup) on
    the server undoes it (see RV(settled)). A new database left by a killed or failed restore is dropped, unless
    it was kept with O(keep_failed); kept ones are listed at every run and never dropped.
  - O(mode=new_database) restores into O(target_db) (a new database) and checks it, without any swap.
  - O(mode=in_place) restores into O(login_db) itself with C(pg_restore --clean --if-exists), in one transaction
    by default.
  - O(mode=tables) restores the rows of chosen O(tables) into their existing tables in one transaction. The tables
    are truncated first (O(truncate)), loaded in foreign-key order with their sequences, and their row counts are
    checked against the manifest before the commit. Anything wrong rolls it all back.
  - Custom and directory archives restore with O(jobs) parallel C(pg_restore) processes unless in one transaction.
    Plain ones run through C(psql) with C(ON_ERROR_STOP=1) in one transaction. The restore sessions get
    O(session_settings), for example a larger C(maintenance_work_mem) for index builds.
  - A clone recovery point (C(pg_backup format=clone)) is restored by swapping its database in by renames, which
    takes seconds. It is then used up; the manifest records it as consumed.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment: [knowledgehub.migration.postgres, knowledgehub.migration.compose,
                                 knowledgehub.migration.compose.runner, knowledgehub.migration.backup.ledger]
attributes:
  check_mode:
    support: full
    description: Verifies the archive (sha256, size, table of contents) and reports what would be restored where and
      the command line, without writing anything.
  diff_mode:
    support: none
    description: Nothing to diff; the result reports what was restored and the row counts.
  idempotent:
    support: none
    description: Every run restores again.
options:
  manifest:
    description:
      - The manifest (C(<backup_id>.manifest.json)) of the backup to restore.
      - Mutually exclusive with O(backup_dir).
    type: path
  backup_dir:
    description:
      - Restore the newest verified backup of O(label) in this directory.
    type: path
  label:
    description:
      - With O(backup_dir), the label of the backup to restore. Defaults to O(login_db).
    type: str
  kind:
    description:
      - With O(backup_dir), consider only dumps (V(dump)) or only clone recovery points (V(clone)). V(any) is either;
        the configuration and volume archives of M(knowledgehub.migration.compose_backup) are never considered.
    type: str
    choices: [ any, dump, clone ]
    default: any
  mode:
    description:
      - How to restore; see the description.
    type: str
    choices: [ swap, new_database, in_place, tables ]
    default: swap
  target_db:
    description:
      - For O(mode=new_database), the database to create and restore into. It must not exist. Defaults to
        C(<login_db>_restore_<timestamp>).
    type: str
  tables:
    description:
      - For O(mode=tables), the tables to restore (C(table) or C(schema.table)). Defaults to every table whose rows
        the backup holds.
    type: list
    elements: str
  truncate:
    description:
      - For O(mode=tables), empty the tables first, in the same transaction, and check their row counts against the
        manifest before the commit. Without it the rows are added to those already there, and nothing is checked.
    type: bool
    default: true
  jobs:
    description:
      - Parallel pg_restore processes for custom and directory archives, unless in one transaction.
    type: int
    default: 2
  single_transaction:
    description:
      - Restore in one transaction (no parallelism). Defaults to true for O(mode=in_place) and false otherwise (the new
        database of V(swap) and V(new_database) is dropped if the restore fails).
    type: bool
  session_settings:
    description:
      - PostgreSQL settings of the restore's sessions only (passed in C(PGOPTIONS)). The default gives index builds
        512 MB each (times O(jobs)) and does not wait for WAL flushes at commit.
      - Names and values may hold only letters, digits, and the characters C(_), C(.), C(:), C(+) and C(-).
    type: dict
    default: {maintenance_work_mem: 512MB, synchronous_commit: 'off'}
  lock_timeout:
    description:
      - For O(mode=in_place) and O(mode=tables), how long the restore waits for a table lock before failing.
    type: str
    default: 30s
  drop_previous:
    description:
      - For O(mode=swap), drop the replaced database instead of keeping it as C(<db>_pre_restore_<timestamp>).
    type: bool
    default: false
  terminate_connections:
    description:
      - For O(mode=swap), end the sessions still connected to the live database after O(drain_timeout) seconds.
        Without it, the module fails listing them, and the restored database is left ready under its own name.
    type: bool
    default: true
  drain_timeout:
    description:
      - For O(mode=swap), seconds to wait for sessions to leave the live database before ending them (or failing).
    type: int
    default: 30
  maintenance_db:
    description:
      - Database to connect to for creating, renaming and dropping databases.
      - Every run also looks there for the states that an interrupted run left databases in (RV(settled)).
    type: str
    default: postgres
  analyze:
    description:
      - Run ANALYZE on the restored database (or tables) before the swap, so that the application's first queries
        are planned with statistics. Without it, autovacuum analyzes the freshly loaded tables within about a minute
        (C(autovacuum_naptime)).
      - It adds about 5% to a restore of KnowledgeHub data (3.4 s for 1.4 GB; see bench/README.md).
    type: bool
    default: true
  verify_rows:
    description:
      - Check the exact row count of every table against the manifest after the restore (before the swap).
    type: bool
    default: true
  no_owner:
    description:
      - Do not restore object ownership (C(pg_restore --no-owner)). Everything is then owned by O(login_user).
    type: bool
    default: false
  keep_failed:
    description:
      - Keep the new database of a failed O(mode=swap) or O(mode=new_database) restore for inspection instead of
        dropping it. Later runs list it (RV(not_settled)) and never drop it; drop it yourself when done.
    type: bool
    default: false
  allow_other_database:
    description:
      - Restore a backup of another database (its name differs from O(login_db)), or of a database with another
        migration history (the ledgers' first runs differ), for example a copy of production into staging.
      - The result records its use (RV(identity)) and the module warns.
    type: bool
    default: false
  pg_bin_dir:
    description:
      - Directory of the C(pg_restore) and C(psql) to use. Its major version must be at least the server's and the
        backup's pg_dump's. By default it is found as M(knowledgehub.migration.pg_backup) finds it.
    type: path
seealso:
  - module: knowledgehub.migration.pg_backup
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing the bytes pg_restore has read of the archive, with an estimate of the time left. The result is the same
    as without it. See docs/progress.md.
  - O(mode=swap) and restoring a clone need the CREATEDB privilege and ownership of the database (or a superuser).
  - The connection options name the database restored (O(login_db)); the login needs no access to it in O(mode=swap)
    beyond ownership.
'''

EXAMPLES = r'''
- name: Restore the newest full backup, swapped in after its rows were checked
  knowledgehub.migration.pg_restore:
    backup_dir: /var/backups/knowledgehub
    kind: dump
    login_port: 5433
    login_user: knowledgehub
    login_password: "{{ vault_knowledgehub_db_password }}"
    login_db: knowledgehub

- name: Put back the rows of the critical tables from a given backup
  knowledgehub.migration.pg_restore:
    manifest: /var/backups/knowledgehub/knowledgehub-critical_20261124T213300Z.manifest.json
    mode: tables
    tables: [ai_memories, documents, chunks]
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub

- name: Back to the recovery point (seconds)
  knowledgehub.migration.pg_restore:
    manifest: "{{ recovery_point.manifest }}"
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub

- name: Is this backup restorable? (verifies it, writes nothing)
  knowledgehub.migration.pg_restore:
    manifest: "{{ backup.manifest }}"
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  check_mode: true
  register: restorable

- name: What the restore would do, and its command line
  ansible.builtin.debug:
    var: restorable.would_restore
'''

RETURN = r'''
backup_id:
  description: The backup restored.
  returned: once the backup was found
  type: str
manifest:
  description: Its manifest.
  returned: once the backup was found
  type: str
kind:
  description: C(dump) or C(clone).
  returned: once the backup was found
  type: str
format:
  description: The backup's format.
  returned: once the backup was found
  type: str
mode:
  description: The mode.
  returned: always
  type: str
database:
  description: The database restored (O(login_db)).
  returned: always
  type: str
restored_database:
  description: The database the backup was restored into. For V(swap), its name before the swap.
  returned: when planned
  type: str
previous_database:
  description: For V(swap), the name under which the replaced database is kept (None if dropped).
  returned: swap
  type: str
integrity:
  description: sha256 and size checked against the manifest, and the table of contents entries checked.
  returned: dumps
  type: dict
row_counts:
  description: Exact row counts after the restore, per table.
  returned: success with verify_rows
  type: dict
row_counts_checked:
  description: Whether the row counts were checked against the manifest (false with O(verify_rows=false), and for
    O(mode=tables) with O(truncate=false), whose rows are added to those already there).
  returned: success
  type: bool
would_restore:
  description: In check mode, what would be restored where, with the command line.
  returned: check mode
  type: dict
cmd:
  description: The pg_restore or psql command line. It never holds a password.
  returned: dumps
  type: list
  elements: str
jobs:
  description: Parallel processes used.
  returned: whole-database dumps
  type: int
session_settings:
  description: Settings of the restore sessions.
  returned: dumps
  type: dict
tables:
  description: For V(tables), the tables restored, in the order loaded.
  returned: mode tables
  type: list
  elements: str
sequences:
  description: For V(tables), the sequences set with them.
  returned: mode tables
  type: list
  elements: str
restore_ms:
  description: Duration of pg_restore or psql.
  returned: success of a dump restore
  type: int
verify_ms:
  description: Duration of the row count check.
  returned: success with verify_rows
  type: int
analyze_ms:
  description: Duration of ANALYZE.
  returned: success with analyze
  type: int
downtime_ms:
  description: For V(swap), how long the live database refused connections (drain and renames).
  returned: success of a swap
  type: int
duration_ms:
  description: Duration of the restore.
  returned: success
  type: int
terminated_sessions:
  description: Sessions ended for the swap.
  returned: success of a swap
  type: list
  elements: dict
failed_database:
  description: With O(keep_failed), the database a failed restore was left in.
  returned: failure with keep_failed
  type: str
settled:
  description: As RV(knowledgehub.migration.pg_backup#module:settled) says for pg_backup, what interrupted runs had
    left on the server, undone or finished when this run started.
  returned: always, except in check mode
  type: list
  elements: dict
would_settle:
  description: What RV(settled) would hold, in check mode.
  returned: check mode
  type: list
  elements: dict
not_settled:
  description: As RV(knowledgehub.migration.pg_backup#module:not_settled) says for pg_backup. A new database kept
    with O(keep_failed) is listed here by every later run.
  returned: always
  type: list
  elements: dict
identity:
  description:
    - How the backup was proven to be of O(login_db). C(backup_database) and C(database) are the names, and
      C(names_match) says whether they match. C(backup_ledger) and C(database_ledger) are the ledgers' identities,
      the run id and start of their first rows. C(ledger_checked) and C(ledger_matches) tell the comparison.
      C(not_checked) gives why the identity was not compared, in which case the name decided. C(override) is true
      when O(allow_other_database) let a mismatch through.
  returned: once the backup was found
  type: dict
  sample: {"backup_database": "knowledgehub", "database": "knowledgehub", "names_match": true,
           "backup_ledger": {"run_id": "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11", "started_at": "2026-11-24T21:33:00+00:00"},
           "database_ledger": {"run_id": "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11",
                               "started_at": "2026-11-24T21:33:00+00:00"},
           "ledger_checked": true, "ledger_matches": true, "not_checked": null, "override": false}
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import client_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore import DEFAULT_SETTINGS, MODES
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore_database import DatabaseRestore
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore_tables import TablesRestore


def main():
    argument_spec = client_argument_spec()
    argument_spec.update(
        manifest=dict(type="path"),
        backup_dir=dict(type="path"),
        label=dict(type="str"),
        kind=dict(type="str", default="any", choices=["any", "dump", "clone"]),
        mode=dict(type="str", default="swap", choices=list(MODES)),
        target_db=dict(type="str"),
        tables=dict(type="list", elements="str"),
        truncate=dict(type="bool", default=True),
        jobs=dict(type="int", default=2),
        single_transaction=dict(type="bool"),
        session_settings=dict(type="dict", default=dict(DEFAULT_SETTINGS)),
        lock_timeout=dict(type="str", default="30s"),
        drop_previous=dict(type="bool", default=False),
        terminate_connections=dict(type="bool", default=True),
        drain_timeout=dict(type="int", default=30),
        maintenance_db=dict(type="str", default="postgres"),
        analyze=dict(type="bool", default=True),
        verify_rows=dict(type="bool", default=True),
        no_owner=dict(type="bool", default=False),
        keep_failed=dict(type="bool", default=False),
        allow_other_database=dict(type="bool", default=False),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
    )
    module = new_module(argument_spec, required_one_of=[["manifest", "backup_dir"]],
                        mutually_exclusive=[["manifest", "backup_dir"]])
    job = (TablesRestore if module.params["mode"] == "tables" else DatabaseRestore)(module.params, module.check_mode)
    execute(module, job, what="the restore into %s" % job.live)


if __name__ == "__main__":
    main()
