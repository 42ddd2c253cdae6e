#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_validate
short_description: Validate a migrated database against its expectation files, and snapshot rows to prove none is lost
version_added: 1.0.0
description:
  - The runbook's C(validate --phase schema) and C(--phase data) as data. Read-only on the database. Every query runs
    in a READ ONLY transaction (C(default_transaction_read_only)) with a O(lock_timeout), so a check never queues the
    application behind it. Long ones (invariants, orphan scans) also run with a O(statement_timeout).
  - The versions validated are those the ledger (O(ledger_table)) records as applied or baselined, or O(versions).
    Each version's expectation file C(<expectations_dir>/<version>_<name>.yml) says what it must have left. A version
    without a file is a warning, not a failure.
  - The schema phase checks that the file's C(tables), C(views), C(functions) and C(indexes) exist, and that the
    indexes are valid. It also checks C(min_indexes) (explicit indexes on the tables the file creates),
    C(foreign_keys) and C(columns_added). A function listed as a mapping is checked against its C(arguments), its
    C(config) (C(pg_proc.proconfig)) and C(security_definer). Other keys are named in RV(expectations) and not
    checked.
  - The data phase runs the file's C(invariants). Each is one SELECT that returns the number of violating rows, run
    in its own READ ONLY transaction.
  - Generic checks run in every phase. They look for invalid indexes (a failed C(CREATE INDEX CONCURRENTLY)),
    NOT VALID constraints (a warning after the schema phase, a failure after the data phase), disabled triggers,
    owned sequences behind their column's maximum, and orphaned rows. For orphaned rows, every foreign key is checked
    by an anti-join, unless its table is estimated above O(orphan_check_max_rows) rows.
  - O(snapshot=take) writes C(<backup_dir>/<run_id>.snapshot.json) (mode 0600, atomically) before a migration. Per
    table of O(snapshot_tables) it holds the columns, the primary key, the row count, and a 64-bit digest of every
    row keyed by its primary key. The digests are computed on the server and streamed through a server-side cursor.
    Every table is read in one REPEATABLE READ READ ONLY transaction (with O(snapshot_readers=2), a large table on
    two connections in one exported snapshot). The file also records the snapshot's xmin, the database's and tables'
    OIDs and the server's start time, for the compare. A snapshot file already there is kept, unless
    O(snapshot_overwrite).
  - O(snapshot=compare) (phase V(data) or V(all)) hashes the same columns again, of the rows written since the
    snapshot (O(snapshot_rehash)). Columns a migration added since are not part of it. Each snapshot row is then
    unchanged, changed, or missing. Rows added since are counted apart and are no loss. RV(data_preserved_percent)
    is the unchanged rows over the snapshot's rows, rounded down to 2 decimals. The rows that differ are named in
    RV(snapshot_differences).
  - A row the application changes between the snapshot and the compare counts as changed. If the table has an
    C(updated_at) column that is now later than the snapshot's moment, the row is classed C(changed_by_application)
    (a warning, not a failure), but it is not counted as preserved. That class is a hint, not a proof (see the notes).
  - Any failing check fails the module, naming the failing checks, with the whole result beside the message. In
    check mode too, unless O(fail_on=never).
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment: [knowledgehub.migration.postgres]
requirements:
  - Nothing else on the managed host when the expectation files come through O(expectations_source), as the
    collection's roles give them (read on the controller); PyYAML on the managed host only for O(expectations_dir)
    or O(migrations_dir)
attributes:
  check_mode:
    support: full
    description: Every check and a compare run the same (they only read). A snapshot take is planned (tables, file,
      estimated rows), not written.
  diff_mode:
    support: none
    description: Nothing to diff; the checks are the result.
  idempotent:
    support: full
    description: The checks change nothing. A snapshot file already there is kept, unless O(snapshot_overwrite).
options:
  phase:
    description:
      - V(schema) checks the objects of the expectation files, V(data) their invariants (and the snapshot compare),
        V(all) both. The generic checks run in every phase.
    type: str
    choices: [schema, data, all]
    default: all
  versions:
    description:
      - The versions to validate (for example V(["004"])). Defaults to the versions applied or baselined in the ledger.
    type: list
    elements: str
  migrations_dir:
    description:
      - The migration files' directory. The expectation files are read from its C(expectations) subdirectory, unless
        O(expectations_dir) is given. Without either, only the generic checks run (a warning says so).
    type: path
  expectations_dir:
    description:
      - The directory of the C(<version>_<name>.yml) expectation files on the managed host. It must exist when given.
        Reading them there needs PyYAML on the host; O(expectations_source) does not.
    type: path
  expectations_source:
    description:
      - A directory of C(<version>_<name>.yml) expectation files on the controller. The collection's action plugin
        reads and checks them there and hands their content to the module, so the managed host needs no PyYAML and
        no copy of the files. It takes the place of O(expectations_dir) and O(migrations_dir) for the expectations.
      - A file that is not valid YAML or not of the shape described above fails the task on the controller, before
        anything is read on the database. A relative path is resolved as Ansible resolves one (the role's or the
        playbook's directory). When it is not a directory, only the generic checks run and a warning says so.
    type: path
  _expectations:
    description:
      - Internal, set by the collection's action plugin from O(expectations_source) (the files' parsed content by
        file name). Do not set it.
    type: dict
  snapshot:
    description:
      - V(take) writes the pre-migration snapshot, V(compare) compares the database with it (phase V(data) or V(all)),
        V(none) does neither.
    type: str
    choices: [none, take, compare]
    default: none
  workers:
    description:
      - How many connections read at once. With V(2) the generic checks and then the snapshot compare
        (O(snapshot=compare)) run on connections of their own beside the expectation files' checks, so a validation
        takes about the longer of the two rather than their sum. With V(1) they run after them, for a server whose CPU
        the application needs more than the validation needs time. The checks and their order are the same.
        A snapshot take has its own O(snapshot_readers).
    type: int
    choices: [1, 2]
    default: 2
  snapshot_tables:
    description:
      - The tables of the snapshot (C(table) or C(schema.table)), for O(snapshot=take).
    type: list
    elements: str
    default: [ai_memories, documents, chunks]
  snapshot_exclude_columns:
    description:
      - Columns (C(table.column)) left out of the row digests, for counters the application bumps all the time (for
        example C(ai_memories.access_count)). A change in them is then not seen.
    type: list
    elements: str
    default: []
  snapshot_keep_last:
    description:
      - After a snapshot take, keep this many snapshot files (C(*.snapshot.json)) in O(backup_dir), the newest by
        time and always the one just written, and remove the others. V(0) keeps every one. A snapshot of 330 000
        chunks is about 15 MB, and every run writes one.
    type: int
    default: 5
  snapshot_readers:
    description:
      - Connections that read a table of 80 MB or more at once for a snapshot take, each half of its pages, in one
        exported snapshot. The hashing is the server's work, so V(2) halves the take's time where the server has an
        idle core (3.1 to 2.1 s on 1.4 GiB, 2 cores).
      - On a server with two cores it also takes both from the application while it runs. Taken back to back under
        a 50 tps workload, the application's p95 latency rose 3.2 times with V(2) against 1.4 times with V(1)
        (bench/README.md, "The pre-migration snapshot"). Hence V(1) by default, where the application runs during the
        take, as migrate.yml's does.
    type: int
    choices: [1, 2]
    default: 1
    version_added: 2.0.0
  snapshot_rehash:
    description:
      - Which rows a compare hashes again. V(written) hashes only the rows written since the snapshot. A row version
        older than the snapshot's xmin is the very one the snapshot read, because PostgreSQL never changes a row
        version in place (an UPDATE writes a new one). So after 005, which updates the memories and only reads the
        chunks, the chunks' embeddings are not hashed again. When that cannot be told (another database or table
        OID, a server restart since the snapshot, a snapshot without its horizon), every row is hashed, and
        RV(snapshot_comparison) says why per table.
      - V(all) hashes every row again, whatever was written.
    type: str
    choices: [written, all]
    default: written
    version_added: 2.0.0
  snapshot_overwrite:
    description:
      - Replace a snapshot file of the same run id. By default it is kept, so that a rerun after a failed migration
        does not replace the pre-migration snapshot with a later one.
    type: bool
    default: false
  backup_dir:
    description:
      - The directory of the snapshot file (the backup role's). Created mode 0700 for a take. A symbolic link is
        refused.
    type: path
  run_id:
    description:
      - The migration run the snapshot belongs to (a UUID, or a plain name). It names the file
        C(<backup_dir>/<run_id>.snapshot.json).
    type: str
  statement_timeout:
    description:
      - PostgreSQL statement_timeout of every query. An invariant that runs longer fails naming the timeout. An orphan
        scan that does is a warning that names the foreign key.
    type: str
    default: 10min
  lock_timeout:
    description:
      - PostgreSQL lock_timeout of every query, so that no check waits behind a migration's lock (and the
        application behind the check).
    type: str
    default: 5s
  orphan_check_max_rows:
    description:
      - Foreign keys whose referencing table is estimated (C(pg_class.reltuples)) above this many rows are not
        scanned for orphaned rows. A warning names them. V(0) scans only empty tables.
    type: int
    default: 5000000
  fail_on:
    description:
      - V(fail) fails the module when a check fails. V(never) returns the result with RV(ok) false, so a report can
        still read it.
    type: str
    choices: [fail, never]
    default: fail
  details_file:
    description:
      - Write every check and every snapshot difference (up to 10000 per table) to this JSON file on the host (mode
        0600). Its directory must exist. The result keeps at most 50 of each.
    type: path
  ledger_table:
    description:
      - The migration ledger, read for the versions applied.
    type: str
    default: migration_log
  ledger_schema:
    description:
      - Schema of O(ledger_table).
    type: str
    default: public
seealso:
  - module: knowledgehub.migration.pg_migrate
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing the expectation file, the generic checks or the snapshot being compared. The result is the same as
    without it. See docs/progress.md.
  - A snapshot of 1.4 GiB of KnowledgeHub data (412 500 rows) writes a file of 14 MB. On a 2-core VM a take took
    2.9 s with one reader and 1.9 s with two; the compare after 005 took 1.3 s, since only the memories 005 updated
    are hashed again (bench/README.md, "The pre-migration snapshot", with the application's latency during takes).
    A take and a compare hold the digests in memory, about 100 bytes a row.
  - The snapshot's transaction holds ACCESS SHARE locks on its tables while it reads. A migration's ALTER TABLE would
    wait for it, so take it before the migration, not during.
  - C(changed_by_application) relies on C(updated_at). A writer may set it from its own clock. A transaction that began
    before the snapshot but committed after it leaves an older value. The application may change a row without
    touching it (KnowledgeHub's C(access_count)). A migration that sets it would be taken for the application. So
    those rows are a warning to read, and never counted as preserved.
'''

EXAMPLES = r'''
- name: Snapshot the critical tables before the migration
  knowledgehub.migration.pg_validate:
    phase: schema
    snapshot: take
    backup_dir: /var/backups/knowledgehub
    run_id: "{{ migrate_run }}"
    login_port: 5433
    login_user: knowledgehub

- name: Validate everything after the data phase, and prove no row was lost
  knowledgehub.migration.pg_validate:
    phase: all
    expectations_source: "{{ playbook_dir }}/../migrations/expectations"  # read on the controller
    snapshot: compare
    backup_dir: /var/backups/knowledgehub
    run_id: "{{ migrate_run }}"
    login_port: 5433
    login_user: knowledgehub
  register: validation

- name: Report without failing, the expectation files already on the host (needs PyYAML there)
  knowledgehub.migration.pg_validate:
    phase: all
    migrations_dir: /srv/knowledgehub/migrations
    fail_on: never
  register: report
'''

RETURN = r'''
ok:
  description: No check failed.
  returned: always
  type: bool
checks:
  description: The checks, C({name, phase, status, observed, expected, message}); status is C(pass), C(warn) or
    C(fail); phase is C(schema), C(data) or C(generic). At most 50 (failures first), see RV(checks_total).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "indexes (004_hybrid_rag_schema.yml)", "phase": "schema", "status": "fail",
            "observed": "32 of 33 present", "expected": "33 indexes",
            "message": "index idx_kg_entities_entity_type (004_hybrid_rag_schema.yml) is missing"}]
checks_total:
  description: The number of checks, RV(checks_left_out) of them not in RV(checks).
  returned: always
  type: int
checks_left_out:
  description: Checks not listed in RV(checks) (see O(details_file)).
  returned: always
  type: int
counts:
  description: Checks per status, and the total.
  returned: always
  type: dict
  sample: {"pass": 27, "warn": 3, "fail": 0, "total": 30}
failed_checks:
  description: The names of the failing checks.
  returned: always
  type: list
  elements: str
phase:
  description: The phase validated.
  returned: always
  type: str
versions:
  description: The versions validated.
  returned: always
  type: list
  elements: str
expectations:
  description: The expectation files read, each with the keys it holds that are not checked.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "006_harden_rollback_functions.yml", "not_checked": ["allowed_columns", "allowed_tables",
            "refused"]}]
new_table_count:
  description: The tables the validated versions create (their expectation files' C(tables)) that exist.
  returned: always
  type: int
data_preserved_percent:
  description: Snapshot rows present and unchanged over the snapshot's rows, in percent, rounded down to 2 decimals.
  returned: with O(snapshot=compare) and a readable snapshot
  type: float
  sample: 99.95
snapshot_comparison:
  description: Per table the rows of the snapshot, unchanged, changed, changed_by_application, missing, added,
    preserved_percent, rows_hashed_again and every_row_hashed_because (why every row was hashed, or null; see
    O(snapshot_rehash)); the totals; the snapshot's path and moment.
  returned: with O(snapshot=compare) and a readable snapshot
  type: dict
snapshot_differences:
  description: Rows that differ, C({table, key, status}) with status C(missing), C(changed) or
    C(changed_by_application); at most 50.
  returned: with O(snapshot=compare) and a readable snapshot
  type: list
  elements: dict
  sample: [{"table": "public.ai_memories", "key": "4d0a6b1e-...", "status": "missing"}]
snapshot_differences_total:
  description: The number of rows that differ.
  returned: with O(snapshot=compare) and a readable snapshot
  type: int
snapshot:
  description: For O(snapshot=take), the file (path, action C(write) or C(keep), run id, moment, rows per table, total
    rows, bytes) and, after a write, C(removed), the older snapshot files O(snapshot_keep_last) removed (path,
    bytes). In check mode, the plan (tables and estimated rows).
  returned: with O(snapshot=take)
  type: dict
  sample: {"path": "/var/backups/knowledgehub/2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11.snapshot.json", "action": "write",
           "rows": 306000, "tables": {"public.chunks": 300000}, "bytes": 9400000}
details_file:
  description: The details file written.
  returned: when O(details_file) is set
  type: str
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate import PHASES, ValidateJob


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        phase=dict(type="str", default="all", choices=list(PHASES)),
        versions=dict(type="list", elements="str"),
        migrations_dir=dict(type="path"),
        expectations_dir=dict(type="path"),
        expectations_source=dict(type="path"),
        _expectations=dict(type="dict"),
        snapshot=dict(type="str", default="none", choices=["none", "take", "compare"]),
        workers=dict(type="int", default=2, choices=[1, 2]),
        snapshot_tables=dict(type="list", elements="str", default=["ai_memories", "documents", "chunks"]),
        snapshot_exclude_columns=dict(type="list", elements="str", default=[]),
        snapshot_overwrite=dict(type="bool", default=False),
        snapshot_rehash=dict(type="str", default="written", choices=["written", "all"]),
        snapshot_readers=dict(type="int", default=1, choices=[1, 2]),
        snapshot_keep_last=dict(type="int", default=5),
        backup_dir=dict(type="path"),
        run_id=dict(type="str"),
        statement_timeout=dict(type="str", default="10min"),
        lock_timeout=dict(type="str", default="5s"),
        orphan_check_max_rows=dict(type="int", default=5000000),
        fail_on=dict(type="str", default="fail", choices=["fail", "never"]),
        details_file=dict(type="path"),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
    )
    module = new_module(argument_spec)
    job = ValidateJob(module.params, module.check_mode)
    execute(module, job, what="the validation of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
