#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_backup
short_description: Back up a PostgreSQL database with pg_dump, verified, with a manifest; or make a clone recovery point
version_added: 1.0.0
description:
  - Dumps O(login_db) with C(pg_dump) into O(backup_dir), in the custom (default), directory or plain format, whole
    (O(scope=full)), its schema only, or the data only, optionally of chosen O(tables).
  - A backup counts only once verified. pg_dump's exit code and stderr are checked (it writes its file itself; no pipe,
    no compressor after it); the archive's table of contents (C(pg_restore --list), or pg_dump's headers in a plain
    dump) must hold every table of the dumped scope, compared with the catalog; its sha256 and size are recorded.
    Then a manifest (JSON, beside the archive) records the server version, database size, the exact row count of
    each table, the migration ledger's last applied version, the checksums, format, scope, options and tool versions.
  - The row counts and the dump come from the same snapshot. The module exports the snapshot of a REPEATABLE READ
    transaction (C(pg_export_snapshot)), takes ACCESS SHARE locks on the tables in it, runs C(pg_dump --snapshot) on
    it, and counts the rows in that transaction once pg_dump is done, while it verifies the archive. The locks keep
    a C(TRUNCATE), which is not MVCC-safe, from emptying a table between the dump and its count.
  - Free space is checked before dumping. The archive size is estimated from the size of the table data in scope and
    the compression. When the space is short, the module fails at once with the numbers.
  - Files are created mode 0600 and directories 0700. The password reaches pg_dump in its environment (C(PGPASSWORD)),
    never on its command line and never in a file, and pg_dump is killed if the module dies. It is never written to
    the manifest or returned.
  - A backup that fails (pg_dump error, disk full, verification) is removed, or renamed C(.failed) with
    O(keep_failed). It never gets a manifest, and O(keep_last) retention never counts it. The archive of a backup
    killed while it writes (kill -9 too) is removed by the next backup into the same directory (RV(swept)).
  - With O(format=clone), makes a recovery point instead, C(CREATE DATABASE <db>_rp_<timestamp> TEMPLATE <db>). The
    copy is made at file level and takes seconds, not the minutes of a logical restore. While it is made, new
    connections to the database are refused and its sessions must end within O(drain_timeout). The module fails and
    lists them, or ends them only with O(terminate_connections). The downtime and the copy's disk use are measured
    and returned. M(knowledgehub.migration.pg_restore) swaps it back by renaming. It needs the CREATEDB privilege
    and ownership of the database.
  - The returned O(label)-scoped C(backup_id) identifies the backup. Record it in the migration ledger against the
    run that it precedes.
  - Every state the module puts a database in (refusing connections while a clone drains its sessions, a copy
    being made) is journaled in the database's comment in the same transaction, and undone or finished by the
    next run of this module or of M(knowledgehub.migration.pg_restore) on the server if this one is killed. See
    RV(settled).
  - The manifest records the ledger's identity, the run id and start of its first row, which
    M(knowledgehub.migration.pg_restore) compares before it restores.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.postgres
  - knowledgehub.migration.backup
  - knowledgehub.migration.backup.ledger
  - knowledgehub.migration.compose
  - knowledgehub.migration.compose.runner
attributes:
  check_mode:
    support: full
    description: Reports what would be dumped (tables, command line), the estimated size and the free-space verdict,
      and for a clone the sessions connected, without writing anything.
options:
  label:
    description:
      - Name prefix of the backups, and the group O(keep_last) counts in. Defaults to O(login_db).
    type: str
  format:
    description:
      - V(custom) is one compressed file that C(pg_restore) restores in parallel.
      - V(directory) is one file per table, dumped with O(jobs) processes and restored in parallel.
      - V(plain) is SQL, restored with C(psql). It is never compressed, so that no compressor follows pg_dump.
      - V(clone) makes a recovery point database (see the description) instead of a dump.
    type: str
    choices: [ custom, directory, plain, clone ]
    default: custom
  scope:
    description:
      - V(full) dumps the schema and the data, V(schema-only) the schema only, V(data-only) the rows only.
    type: str
    choices: [ full, schema-only, data-only ]
    default: full
  tables:
    description:
      - Dump only these tables (C(table) or C(schema.table), SQL identifier syntax), for example the runbook's critical
        tables C(ai_memories), C(documents), C(chunks). Each is matched exactly, never as a pattern.
      - A name that is not a table of the database fails the module before anything is written.
    type: list
    elements: str
  compression:
    description:
      - V(auto) is gzip level 1 with pg_dump 15, lz4 with pg_dump 16 or newer, and none for V(plain). pg_dump's
        default gzip level 6 is several times slower for little gain.
      - Otherwise V(none), a gzip level V(0) to V(9), or C(method[:level]) with C(method) one of C(gzip), C(lz4) or
        C(zstd). C(lz4) and C(zstd) need pg_dump 16 or newer.
    type: str
    default: auto
  jobs:
    description:
      - Parallel pg_dump processes for O(format=directory) (default 2). Other formats are written by one process.
    type: int
  verify:
    description:
      - V(toc) checks the exit code, stderr, the table of contents against the catalog, sha256 and size.
      - V(full) also has C(pg_restore) read every entry of the archive, data included, which proves that each
        compressed block is readable. It takes about as long as decompressing the archive.
    type: str
    choices: [ toc, full ]
    default: toc
  keep_last:
    description:
      - After a successful backup, keep the newest O(keep_last) verified backups of the same O(label) and kind (dumps
        and clones are counted apart) and remove the others. V(0) keeps everything.
      - Two kinds of backup are kept whatever O(keep_last) says (C(protected) in RV(retention) names them with the
        reason). Every backup of the run O(run_id) names, the current run's recovery points. And of the run the
        database's ledger shows last (the state a recover goes back from), the point a recover would use, its
        newest verified full C(before) point (else its newest verified full point).
    type: int
    default: 0
  keep_failed:
    description:
      - Keep a failed archive as C(<name>.failed) for inspection instead of removing it. It has no manifest and is
        never counted as a backup.
    type: bool
    default: false
  check_free_space:
    description:
      - Fail before dumping when the free space in O(backup_dir) is below the estimated archive size plus a reserve
        of 10% (at least 16 MiB).
      - For O(format=clone), fail before anything is changed when the database server's own volume (where its data
        directory and WAL are) cannot hold the copy plus O(keep_free_mb). That volume is read on this host when the
        server's data directory is here (visible to a superuser or a member of C(pg_read_all_settings)), else with
        C(df) in the O(db_service) container when O(project_dir) is set. When it cannot be read, a warning says so
        and the clone goes ahead.
    type: bool
    default: true
  keep_free_mb:
    description:
      - For O(format=clone), the space in MiB that must stay free on the database server's volume after the copy
        (room for WAL and the application's writes). The copy needs the database's size plus the larger of this
        and the 10% reserve.
    type: int
    default: 1024
  lock_wait_timeout:
    description:
      - How long pg_dump (and the row counts) wait for a table lock before failing, as a number of seconds (V(60))
        or a PostgreSQL duration (V(60s), V(500ms), V(2min)). The manifest records it as given.
    type: raw
    default: 60s
  pg_bin_dir:
    description:
      - Directory of the C(pg_dump) and C(pg_restore) to use. Its pg_dump must be at least the server's major version.
      - By default the oldest client found in C(/usr/lib/postgresql/*/bin), C(/usr/pgsql-*/bin) or on the PATH whose
        major version is at least the server's. Older ones are refused, naming both versions.
    type: path
  run_id:
    description:
      - Identifier of the migration run this backup belongs to, recorded in the manifest.
      - With O(record_recovery_point) (the default when O(run_id) is set), it must be the UUID of the run
        (M(knowledgehub.migration.pg_migrate)'s O(knowledgehub.migration.pg_migrate#module:run_id)).
    type: str
  purpose:
    description:
      - Why the backup is made, recorded in the manifest and in the recovery point. The migrate role uses the
        runbook's recovery points C(before), C(after_schema) and C(after_data).
    type: str
  record_recovery_point:
    description:
      - Once the backup is verified, and only then, record it as a recovery point of O(run_id) in the table
        C(<ledger_table>_recovery_point) beside the ledger (in O(ledger_schema), created on first use). The row
        holds the run id, O(purpose), O(label), the backup id, kind and format, where the backup is (archive path
        or clone database), its sha256 and size, the ledger's last applied version inside it, when and by whom
        it was made.
      - Defaults to V(true) when O(run_id) is set, V(false) otherwise. V(true) without O(run_id), or with a
        O(run_id) that is not a UUID, fails before anything is written.
      - Whatever this says, when O(keep_last) removes backups, their recovery points (if the table exists) are
        marked removed (C(removed_at)), not deleted. V(false) set explicitly writes nothing to the database.
      - If the recording fails, the module fails and says so; the verified backup is kept.
    type: bool
  maintenance_db:
    description:
      - Database to connect to for O(format=clone). It must not be O(login_db).
      - Every run also looks there for the states that an interrupted run of this module or of
        M(knowledgehub.migration.pg_restore) left databases in, and settles them (see RV(settled)).
    type: str
    default: postgres
  drain_timeout:
    description:
      - For O(format=clone), seconds to wait for the sessions connected to O(login_db) to end.
    type: int
    default: 30
  terminate_connections:
    description:
      - For O(format=clone), end the sessions still connected after O(drain_timeout) instead of failing.
    type: bool
    default: false
  clone_strategy:
    description:
      - How PostgreSQL 15 or newer copies the database for O(format=clone). V(file_copy) copies the files and
        checkpoints, which is fastest for large databases. V(wal_log) copies block by block through the WAL.
    type: str
    choices: [ file_copy, wal_log ]
    default: file_copy
  snapshot_tables:
    description:
      - Also take the pre-migration snapshot of these tables (C(table) or C(schema.table)), which
        M(knowledgehub.migration.pg_validate) compares after a migration
        (O(knowledgehub.migration.pg_validate#module:snapshot=compare)). It is the file that
        O(knowledgehub.migration.pg_validate#module:snapshot=take) writes, C(<snapshot_dir>/<run_id>.snapshot.json).
      - It is read while pg_dump runs, on a connection of its own, in the dump's exported snapshot. The snapshot's rows
        are then exactly the backup's, and its read costs the run almost no time where pg_dump leaves a core idle.
        On 2 cores with gzip level 1 it added 1.0 s to a 18.4 s dump, against 3.1 s for a take of its own; without
        compression, nothing (bench/README.md, "The cost of safety").
      - Needs O(run_id) and O(scope=full); not for O(format=clone). The file is written once the backup is verified
        and recorded. If the snapshot cannot be read, the module fails saying so, and the backup is kept.
      - An empty list (the default) takes no snapshot.
    type: list
    elements: str
    default: []
    version_added: 2.0.0
  snapshot_dir:
    description:
      - The directory of the snapshot file (O(snapshot_tables)), created mode 0700. Defaults to O(backup_dir). The
        migrate role puts it beside the run's reports, where its validation looks for it.
    type: path
    version_added: 2.0.0
  snapshot_exclude_columns:
    description:
      - Columns (C(table.column)) left out of the snapshot's row digests, as
        O(knowledgehub.migration.pg_validate#module:snapshot_exclude_columns).
    type: list
    elements: str
    default: []
    version_added: 2.0.0
  snapshot_keep_last:
    description:
      - After writing the snapshot file, keep this many snapshot files in O(snapshot_dir), the newest and always the
        one just written. V(0) keeps every one.
    type: int
    default: 5
    version_added: 2.0.0
  snapshot_overwrite:
    description:
      - Replace a snapshot file of the same run id. By default it is kept (and not read again), so that a rerun after
        a failed migration does not replace the pre-migration snapshot with a later one.
    type: bool
    default: false
    version_added: 2.0.0
seealso:
  - module: knowledgehub.migration.pg_restore
  - name: pg_dump
    description: The PostgreSQL documentation of pg_dump.
    link: https://www.postgresql.org/docs/current/app-pgdump.html
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing the bytes pg_dump has written against the estimated size, with an estimate of the time left; a clone
    (O(format=clone)) shows its elapsed time. The result is the same as without it. See docs/progress.md.
  - The row counts take one sequential scan of each table, after pg_dump (beside it, on a small machine, they would
    slow pg_dump down by as much).
  - A directory archive's sha256 is computed over the sorted list of its files' sha256 sums, which the manifest
    also holds.
'''

EXAMPLES = r'''
- name: Full backup before the migration, verified, keeping the last 5
  knowledgehub.migration.pg_backup:
    backup_dir: /var/backups/knowledgehub
    purpose: pre-migration
    keep_last: 5
    login_host: 127.0.0.1
    login_port: 5433
    login_user: knowledgehub
    login_password: "{{ vault_knowledgehub_db_password }}"
    login_db: knowledgehub
  register: backup

- name: Recovery point after the schema phase, recorded beside the ledger against the run
  knowledgehub.migration.pg_backup:
    backup_dir: /var/backups/knowledgehub
    purpose: after_schema
    run_id: "{{ migrate_run_id }}"
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  register: after_schema

- name: The critical tables' rows only
  knowledgehub.migration.pg_backup:
    backup_dir: /var/backups/knowledgehub
    label: knowledgehub-critical
    scope: data-only
    tables: [ai_memories, documents, chunks]
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub

- name: Recovery point by clone (the api is stopped for these seconds)
  knowledgehub.migration.pg_backup:
    backup_dir: /var/backups/knowledgehub
    format: clone
    label: knowledgehub-rp
    keep_last: 2
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  register: recovery_point

- name: Would it fit?
  knowledgehub.migration.pg_backup:
    backup_dir: /var/backups/knowledgehub
    format: directory
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  check_mode: true
'''

RETURN = r'''
backup_id:
  description: Identifier of the backup (C(<label>_<UTC timestamp>)); record it in the ledger.
  returned: success, not in check mode
  type: str
  sample: knowledgehub_20261124T213300Z
path:
  description: The archive (file or directory). None for a clone.
  returned: success, not in check mode
  type: str
  sample: /var/backups/knowledgehub/knowledgehub_20261124T213300Z.dump
manifest:
  description: Path of the manifest (JSON) beside the archive.
  returned: success, not in check mode
  type: str
  sample: /var/backups/knowledgehub/knowledgehub_20261124T213300Z.manifest.json
manifest_data:
  description: The manifest's content. It includes the row counts, checksums, versions, ledger version and options.
  returned: success, not in check mode
  type: dict
kind:
  description: C(dump), or C(clone) for a recovery point.
  returned: always
  type: str
format:
  description: The format.
  returned: always
  type: str
scope:
  description: The scope.
  returned: always
  type: str
label:
  description: The label.
  returned: always
  type: str
tables:
  description: The tables of the dumped scope.
  returned: when a dump was planned
  type: list
  elements: str
size_bytes:
  description: Size of the archive, or of the clone database.
  returned: success, not in check mode
  type: int
sha256:
  description: sha256 of the archive.
  returned: success of a dump, not in check mode
  type: str
row_counts:
  description: Exact row count of each table, in the dump's snapshot (or in the clone).
  returned: success, not in check mode
  type: dict
  sample: {"public.chunks": 100000, "public.documents": 5000}
ledger_version:
  description: The migration ledger's last applied version in the backup (versions ordered by their number, as
    the runner orders them, so C(6) comes after C(005)), or None without a ledger.
  returned: success, not in check mode
  type: str
  sample: "003"
estimate:
  description: The free-space check. It holds the table data size, the estimated archive size, the free space
    required and available, and the verdict.
  returned: for dumps, once the database was read
  type: dict
  sample: {"data_bytes": 1048576000, "estimated_bytes": 840000000, "required_free_bytes": 924000000,
           "free_bytes": 50000000000, "ok": true, "summary": "needs 881.2 MiB ..."}
would_dump:
  description: In check mode, what would be dumped, the command line (without password), the estimate and verdict.
  returned: check mode, dumps
  type: dict
would_clone:
  description: In check mode, the recovery point that would be made, whether the server's volume has room for it
    (C(free_space_ok), null when it could not be read) and the sessions connected now.
  returned: check mode, clones
  type: dict
server_space:
  description: For a clone, the free space on the database server's volume against what the copy needs. C(measured)
    is C(local), C(compose), or null when it could not be read (C(ok) is then null and C(summary) says why).
  returned: clones
  type: dict
  sample: {"ok": true, "measured": "local", "free_bytes": 52000000000, "estimated_bytes": 1500000000,
           "required_free_bytes": 2573741824, "keep_free_bytes": 1073741824, "filesystem_path": "/var/lib/postgresql/15/main",
           "summary": "needs 2.40 GiB (estimate 1.40 GiB + 1.00 GiB kept free), 48.43 GiB free on /var/lib/postgresql/15/main"}
cmd:
  description: The pg_dump command line. It never holds a password; the connection string is C(--dbname).
  returned: dumps, not in check mode
  type: list
  elements: str
client:
  description: The client programs used (bin directory and versions).
  returned: dumps
  type: dict
server_version:
  description: The server's version.
  returned: dumps
  type: str
compression:
  description: The compression used, for example C(gzip:1).
  returned: dumps
  type: str
duration_ms:
  description: Duration of the whole backup, verification included.
  returned: success, not in check mode
  type: int
dump_ms:
  description: Duration of pg_dump.
  returned: success of a dump
  type: int
verify_ms:
  description: Duration of the verification.
  returned: success of a dump
  type: int
database:
  description: For a clone, the recovery point database's name.
  returned: clones
  type: str
downtime_ms:
  description: For a clone, the time during which the database refused connections (drain and copy).
  returned: success of a clone
  type: int
clone_ms:
  description: For a clone, the duration of the CREATE DATABASE itself.
  returned: success of a clone
  type: int
terminated_sessions:
  description: Sessions ended because O(terminate_connections) was set.
  returned: success of a clone
  type: list
  elements: dict
recovery_point_id:
  description: Id of the recovery-point row recorded for this backup, or None when none was recorded.
  returned: success, not in check mode
  type: int
  sample: 3
recovery_point:
  description: The recovery-point row recorded for this backup (see O(record_recovery_point)), or None.
  returned: success, not in check mode
  type: dict
  sample: {"id": 3, "run_id": "2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11", "purpose": "after_schema",
           "backup_id": "knowledgehub_20261124T213300Z", "kind": "dump", "format": "custom",
           "location": "/var/backups/knowledgehub/knowledgehub_20261124T213300Z.dump", "sha256": "9f86...",
           "size_bytes": 104857600, "ledger_version": "004", "removed_at": null}
removed_recovery_points:
  description: Ids of the recovery-point rows marked removed because retention removed their backups.
  returned: success, not in check mode
  type: list
  elements: int
snapshot:
  description: With O(snapshot_tables), the snapshot file (path, action C(write) or C(keep), run id, moment, rows per
    table, total rows, bytes, the seconds its read and write took, and C(removed), the older snapshot files
    O(snapshot_keep_last) removed). In check mode, the plan (tables and estimated rows).
  returned: with O(snapshot_tables)
  type: dict
  sample: {"path": "/var/backups/knowledgehub-reports/2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11.snapshot.json",
           "action": "write", "rows": 306000, "tables": {"public.chunks": 300000}, "bytes": 9400000}
removed:
  description: Backups removed by retention.
  returned: success, not in check mode
  type: list
  elements: str
retention:
  description:
    - What retention did after this backup. C(keep_last), the backup ids C(removed) and the bytes they held
      (C(removed_bytes)), the backups of the label and kind left (C(kept)) and their bytes (C(kept_bytes)).
    - C(protected) lists the backups kept beyond O(keep_last), each with its C(backup_id) and the C(reason) (a
      recovery point of the current run, or the point a recover of the ledger's last run would use).
  returned: success, not in check mode
  type: dict
  sample: {"keep_last": 6, "removed": ["knowledgehub_20261120T101500Z"], "removed_bytes": 381681664, "kept": 6,
           "kept_bytes": 2290089984, "protected": []}
disk_free_bytes:
  description: Free space left in O(backup_dir)'s file system after the backup and its retention.
  returned: success, not in check mode
  type: int
  sample: 52613349376
swept:
  description: What a backup killed while it wrote (kill -9 too) had left in O(backup_dir), removed before this one
    was written. Each archive is written as C(.partial) beside a lock file (C(.writing-<archive>)) that its process
    holds locked until it ends, so an archive another run is still writing is never removed.
  returned: when something was removed
  type: list
  elements: str
failed_path:
  description: Where a failed archive was kept (O(keep_failed)).
  returned: failure with keep_failed
  type: str
backup_dir_mode:
  description: When the mode of an existing O(backup_dir) was wider than 0700 and was tightened, its path and the
    old and new modes (also said in a warning).
  returned: when the mode was changed
  type: dict
  sample: {"path": "/var/backups/knowledgehub", "old": "0755", "new": "0700"}
settled:
  description: What interrupted runs of pg_backup or pg_restore had left on the server, now undone or finished, per
    database, with the actions taken (each also said in a warning). A database that refused connections accepts
    them again, with its comment back; a copy that was never finished is dropped.
  returned: always, except in check mode
  type: list
  elements: dict
  sample: [{"database": "knowledgehub", "left_by": "pg_backup format=clone of knowledgehub",
            "since": "2026-11-24T21:33:00+00:00", "actions": ["ALLOW_CONNECTIONS true again, its comment put back"]}]
would_settle:
  description: In check mode, what RV(settled) would hold.
  returned: check mode
  type: list
  elements: dict
not_settled:
  description: Journaled states left as they are, with the reason. A run still in progress, a failed restore kept
    with O(knowledgehub.migration.pg_restore#module:keep_failed) (listed every run, never dropped), or a state that
    could not be undone.
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._clone import RecoveryPoint
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import client_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._dump import BackupRun
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module


def main():
    argument_spec = client_argument_spec()
    argument_spec.update(
        backup_dir=dict(type="path", required=True),
        label=dict(type="str"),
        format=dict(type="str", default="custom", choices=["custom", "directory", "plain", "clone"]),
        scope=dict(type="str", default="full", choices=["full", "schema-only", "data-only"]),
        tables=dict(type="list", elements="str"),
        compression=dict(type="str", default="auto"),
        jobs=dict(type="int"),
        verify=dict(type="str", default="toc", choices=["toc", "full"]),
        keep_last=dict(type="int", default=0),
        keep_failed=dict(type="bool", default=False),
        check_free_space=dict(type="bool", default=True),
        keep_free_mb=dict(type="int", default=1024),
        lock_wait_timeout=dict(type="raw", default="60s"),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
        run_id=dict(type="str"),
        purpose=dict(type="str"),
        record_recovery_point=dict(type="bool"),
        maintenance_db=dict(type="str", default="postgres"),
        drain_timeout=dict(type="int", default=30),
        terminate_connections=dict(type="bool", default=False),
        clone_strategy=dict(type="str", default="file_copy", choices=["file_copy", "wal_log"]),
        snapshot_tables=dict(type="list", elements="str", default=[]),
        snapshot_dir=dict(type="path"),
        snapshot_exclude_columns=dict(type="list", elements="str", default=[]),
        snapshot_keep_last=dict(type="int", default=5),
        snapshot_overwrite=dict(type="bool", default=False),
    )
    module = new_module(argument_spec)
    job = (RecoveryPoint if module.params["format"] == "clone" else BackupRun)(module.params, module.check_mode)
    execute(module, job, what="the backup of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
