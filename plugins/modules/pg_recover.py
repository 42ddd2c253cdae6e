#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_recover
short_description: Bring a database back to a recovery point of a migration run
version_added: 1.0.0
description:
  - Finds the recovery points of a migration run in O(backup_dir) (the verified backups the migrate role takes
    C(before) the first migration and C(after_schema) and C(after_data)), picks the one asked for, verifies it, and
    swaps it in for O(login_db) with the restore of M(knowledgehub.migration.pg_restore) (its C(mode=swap)).
  - Without O(run_id), the run is the newest one with recovery points of O(label). Without O(point), the point is
    C(before). A clone recovery point is preferred to a dump of the same point, because it swaps back in seconds.
  - A point that fails its verification is refused. A dump's archive must match its manifest (sha256 and size); a
    clone's database is checked by the swap. The refusal names the verified point of the same run it would use
    instead. Nothing is changed then.
  - Nothing is destroyed. The replaced database is kept as C(<db>_pre_restore_<timestamp>), and its name is in the
    result (RV(previous_database)). Drop it yourself once you no longer need it.
  - Safe to interrupt and rerun. The recover journal C(<backup_dir>/<label>.recover.json) is written before and after
    the swap. A rerun after a kill before the swap settles what the restore left and restores again. A rerun
    after the swap finds that the database is the one this point put in place (the journal and the database's oid
    agree) and changes nothing (RV(already_recovered)).
  - Check mode gives the plan. It names the point, its age, its verification and the restore's plan, and says what the
    database would lose (RV(would_lose)). That is the ledger versions applied after the point, and per table the rows
    beyond the backup's, estimated from the statistics.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment: [knowledgehub.migration.postgres, knowledgehub.migration.compose,
                                 knowledgehub.migration.compose.runner, knowledgehub.migration.backup.ledger]
attributes:
  check_mode:
    support: full
    description: Chooses and verifies the point, and reports what would be restored and lost, without writing.
  diff_mode:
    support: none
    description: The result says what was restored and what the replaced database held beyond the point.
  idempotent:
    support: full
    description: Once the point is in place, a rerun reports RV(already_recovered) and changes nothing.
options:
  backup_dir:
    description:
      - The directory of the recovery points' manifests and archives (the backup role's C(backup_dir)).
    type: path
    required: true
  label:
    description:
      - The label of the recovery points. Defaults to O(login_db).
    type: str
  run_id:
    description:
      - The migration run whose point is restored (a UUID). Defaults to the newest run with recovery points.
    type: str
  point:
    description:
      - V(before), V(after_schema) or V(after_data), or a backup id, or the id of a row of the recovery-point
        table beside the ledger.
    type: str
    default: before
  jobs:
    description:
      - Parallel pg_restore processes for a custom or directory archive.
    type: int
    default: 2
  session_settings:
    description:
      - PostgreSQL settings of the restore's sessions, as M(knowledgehub.migration.pg_restore) takes them.
    type: dict
    default: {maintenance_work_mem: 512MB, synchronous_commit: 'off'}
  terminate_connections:
    description:
      - End the sessions still on the live database after O(drain_timeout) seconds. Without it, the module fails
        listing them.
    type: bool
    default: true
  drain_timeout:
    description:
      - Seconds to wait for sessions to leave the live database before ending them (or failing).
    type: int
    default: 30
  maintenance_db:
    description:
      - Database to connect to for creating, renaming and dropping databases.
    type: str
    default: postgres
  analyze:
    description:
      - Run ANALYZE on the restored database before the swap.
    type: bool
    default: true
  verify_rows:
    description:
      - Check the exact row count of every table against the manifest before the swap.
    type: bool
    default: true
  no_owner:
    description:
      - Do not restore object ownership (C(pg_restore --no-owner)).
    type: bool
    default: false
  pg_bin_dir:
    description:
      - Directory of the C(pg_restore) and C(psql) to use, as for M(knowledgehub.migration.pg_restore).
    type: path
seealso:
  - module: knowledgehub.migration.pg_restore
  - module: knowledgehub.migration.pg_backup
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing the bytes pg_restore has read of the recovery point's archive. The result is the same as without it. See
    docs/progress.md.
  - Stop the application first (the C(app_service) role) so that nothing writes to the database being replaced;
    the recover playbook does.
'''

EXAMPLES = r'''
- name: Back to the recovery point taken before the latest migration run
  knowledgehub.migration.pg_recover:
    backup_dir: /var/backups/knowledgehub
    login_port: 5433

- name: What would the database lose going back to the point after the schema phase of an older run?
  knowledgehub.migration.pg_recover:
    backup_dir: /var/backups/knowledgehub
    run_id: 2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11
    point: after_schema
  check_mode: true
'''

RETURN = r'''
point:
  description: The recovery point chosen. It holds its backup id, manifest, kind, format, purpose, run id, creation
    time, age in seconds and the ledger version inside it.
  returned: once chosen
  type: dict
  sample: {"backup_id": "knowledgehub_20261130T101500Z", "kind": "dump", "purpose": "before", "age_seconds": 540,
           "ledger_version": "003"}
verification:
  description: How the point was verified (for a dump, the sha256 and size of its archive).
  returned: once chosen
  type: dict
would_lose:
  description: What the live database holds beyond the point. It gives the ledger versions applied after it, and per
    table the backup's row count and the live estimate where they differ.
  returned: unless already recovered
  type: dict
  sample: {"versions": ["004", "005", "006"], "rows": {"public.ai_memories": {"backup": 2000, "now_estimated": 2013}}}
already_recovered:
  description: The point is already in place (swapped in by an earlier run, and nothing has replaced the database
    since). Nothing was done.
  returned: once chosen
  type: bool
previous_database:
  description: The name under which the replaced database is kept.
  returned: success
  type: str
restore:
  description: The restore's own result (or plan, in check mode), as M(knowledgehub.migration.pg_restore) returns it.
  returned: unless already recovered
  type: dict
journal:
  description: The recover journal file.
  returned: always
  type: str
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import client_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._recover import Recover
from ansible_collections.knowledgehub.migration.plugins.module_utils._restore import DEFAULT_SETTINGS


def main():
    argument_spec = client_argument_spec()
    argument_spec.update(
        backup_dir=dict(type="path", required=True),
        label=dict(type="str"),
        run_id=dict(type="str"),
        point=dict(type="str", default="before"),
        jobs=dict(type="int", default=2),
        session_settings=dict(type="dict", default=dict(DEFAULT_SETTINGS)),
        terminate_connections=dict(type="bool", default=True),
        drain_timeout=dict(type="int", default=30),
        maintenance_db=dict(type="str", default="postgres"),
        analyze=dict(type="bool", default=True),
        verify_rows=dict(type="bool", default=True),
        no_owner=dict(type="bool", default=False),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
    )
    module = new_module(argument_spec)
    job = Recover(module.params, module.check_mode)
    execute(module, job, what="the recovery of %s" % job.target.dbname)


if __name__ == "__main__":
    main()
