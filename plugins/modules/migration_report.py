#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: migration_report
short_description: Fill in the runbook's Migration Log for a migration run, as Markdown, JSON and an HTML page
version_added: 1.0.0
description:
  - Fills in the runbook's Migration Log Template for one run (O(run_id)). The sections are Migration Date, Migration
    Version, Environment, Executed By, Pre-Migration Status, Migration Results, Post-Migration Status, Rollback
    Status and Next Steps. The module returns the log as Markdown (RV(markdown)) and as a dict with the same figures
    (RV(json)).
  - What must be measured is read from the database when the report is made, in one C(REPEATABLE READ READ ONLY)
    transaction. That is the database size (C(pg_database_size)), the exact record counts of O(count_tables), the
    list of tables, the ledger rows of the run (versions, status, durations, executed_by) and the run's recovery
    points from the table beside the ledger.
  - The figures from before the run come from O(snapshot=before), run before the migration. It measures the same
    size, counts and tables, and writes them to C(<dest>/<run_id>.before.json). The report compares with them, which
    gives the size change, the new tables and the share of rows preserved.
  - The rest comes from O(facts), the registered results of the run's other modules. Each key is optional.
  - Every figure is computed from the run, or the report says why it is absent (for example, that no probe was
    configured). No placeholder is written.
  - The report is written to C(<dest>/<run_id>.md) and C(<dest>/<run_id>.json), and with O(html) to the page
    C(<dest>/<run_id>.html). Each file has mode 0600 and is replaced atomically, and O(dest) is created with mode
    0700 when missing. The report is also stored in the table
    C(<ledger_table>_report) beside the ledger, one row per run (a later report of the same run replaces it). The
    table is created on first use, and only once the ledger has history, because pg_migrate would take a
    database holding a tool table and no ledger history for a legacy one.
  - The HTML page is one self-contained file (inline CSS and SVG, no script, nothing loaded from elsewhere; it reads
    the same offline). It shows the verdict first, the failure when there is one, a timeline of the run, then the
    Migration Log's sections with the same texts and figures as the Markdown, made from the same report.
  - The timeline (C(timeline) in RV(json)) has one lane per kind. Phases are bars over their ledger rows (first start to
    last end). Batched files (C(migrate:transaction off)) show their span and their batch count, read from their
    progress notices. Recovery points are markers with their ids at their creation time. Lock waits and CPU and
    memory are drawn from the monitor's samples, whose clock starts as their phase's first file starts. Only recorded
    times are drawn. What cannot be placed is named under the drawing.
  - A failed run gets a report too. With C(facts.failure) set, the verdict is C(FAILED) and the failure's message is
    in the report.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.postgres
  - knowledgehub.migration.backup.ledger
attributes:
  check_mode:
    support: full
    description: Measures the database and returns the report (or the snapshot), and writes no file and no row.
  diff_mode:
    support: none
    description: The report is the result. There is no diff.
  idempotent:
    support: none
    description: Each run measures again and replaces the files and the row of the run (C(changed=true)).
options:
  run_id:
    description:
      - The migration run (a UUID), as pg_migrate recorded it on the ledger rows.
    type: str
    required: true
  dest:
    description:
      - Directory on the managed host for C(<run_id>.md), C(<run_id>.json) and the snapshot C(<run_id>.before.json).
        It is created with mode 0700 when missing. A symbolic link is refused.
    type: path
    required: true
  snapshot:
    description:
      - V(before) records the figures before the run (size, exact counts, tables, time) in C(<dest>/<run_id>.before.json)
        and writes no report. Run it before the first migration of the run.
      - Unset, the module writes the report.
    type: str
    choices: [before]
  count_tables:
    description:
      - Tables whose rows are counted exactly (C(count(*))), before and after, written as C(table) or C(schema.table).
    type: list
    elements: str
    default: [ai_memories, documents, chunks]
  html:
    description:
      - Also write the report as the self-contained HTML page C(<dest>/<run_id>.html).
      - The page is not stored in the database. The JSON stored there holds everything it shows.
    type: bool
    default: true
  controller_dir:
    description:
      - A directory on the controller to copy the report files into, by the module's action plugin, once they are
        written on the host (the report role passes C(<report_dir>/<inventory_hostname>)). It is created with mode
        0700, and each copy is written mode 0600, atomically, and checked against the sha256 of the file on the
        host. The copies' paths are in RV(controller_paths). Nothing is copied in check mode.
      - Handled on the controller; the module itself ignores it.
    type: path
    version_added: 2.0.0
  _return_files:
    description:
      - Internal, set by the collection's action plugin for O(controller_dir). Do not set it.
    type: bool
    default: false
    version_added: 2.0.0
  store:
    description:
      - Store the report in the table C(<ledger_table>_report) beside the ledger.
    type: bool
    default: true
  host:
    description:
      - The host name the report names. The report role passes C(inventory_hostname). Defaults to the managed host's
        name.
    type: str
  facts:
    description:
      - What the run recorded, usually the other modules' registered results. Every key is optional, and a key
        that is absent makes the report say which figure is not measured and why.
      - C(date), C(started), C(finished) are ISO 8601 timestamps. They default to the first and last time of the
        run's ledger rows, and the total duration is the time between them.
      - C(environment) (for example the inventory group), C(executed_by) and C(job_id). The last two default to the
        run's ledger rows.
      - C(phases) is a list. Each item is either the migrate role's phase log entry C({phase, result}), where
        C(result) is pg_migrate's registered result, or C({name, status, duration_ms, versions}), with C(status) one
        of C(success), C(failed), C(skipped) or C(planned).
      - C(validation) is pg_validate's result or C({ok, counts, data_preserved_percent, new_table_count, failing,
        warnings}). C(failing) is a list of texts or of C({check, message}).
      - C(preflight) is pg_preflight's result or C({ok, counts, warnings, failing}).
      - C(monitor) is C({peaks, alerts}), where C(peaks) maps a name (for example C(cpu_percent)) to its peak value
        and C(alerts) is a list of texts. Without C(peaks), its numeric top-level keys are taken as peaks. It may be
        a list of pg_migrate's C(monitor) results, one per phase; the timeline takes their C(timeline) samples from
        the phases' own results, or from this list when it has one entry per phase.
      - C(probe) is C({before, after}), each a pg_probe result (or its C(figures)). It gives the performance baseline
        and the performance impact.
      - C(recovery_points) is the migrate role's recovery log, C([{purpose, backup_id, recovery_point_id,
        size_bytes, verified}]). The report lists the run's rows of the recovery-point table and adds what is noted
        here. A point noted and not in the table is listed as not recorded.
      - C(backups) is a list of pg_backup results (C(backup_id), C(kind), C(size_bytes), C(duration_ms),
        C(downtime_ms)).
      - C(failure) is C({task, msg or message, phase, file, statement, line, ledger}). It makes the verdict
        C(FAILED), and C(phase), or C(phase <name>) in C(task), marks that phase failed.
      - C(rollback) is C({status, method, detail}), with C(status) one of C(not_required), C(applied), C(failed) or
        C(not_applied). Without it, the status comes from the ledger (rows C(rolled_back) in this run) and from
        C(failure).
      - C(next_steps) is a list of texts. Without it, the steps follow from the verdict.
      - C(before) holds the figures before the run, in place of the snapshot file (the RV(snapshot) of
        O(snapshot=before)).
    type: dict
    default: {}
notes:
  - Lists in the report hold at most 50 entries (ledger rows, issues, new tables, recovery points).
seealso:
  - module: knowledgehub.migration.pg_probe
    description: The response-time figures before and after the migration.
'''

EXAMPLES = r'''
- name: Record the figures before the migration
  knowledgehub.migration.migration_report:
    run_id: "{{ migrate_run }}"
    dest: /var/lib/knowledgehub-migration/reports
    snapshot: before

- name: Fill in the Migration Log once the run is over
  knowledgehub.migration.migration_report:
    run_id: "{{ migrate_run }}"
    dest: /var/lib/knowledgehub-migration/reports
    host: "{{ inventory_hostname }}"
    facts:
      environment: staging
      phases: "{{ migrate_phase_log }}"
      recovery_points: "{{ migrate_recovery_log }}"
      probe:
        before: "{{ probe_before }}"
        after: "{{ probe_after }}"
      failure: "{{ migrate_failure | default(omit) }}"
  register: report
'''

RETURN = r'''
run_id:
  description: The run reported on (normalised UUID).
  returned: always
  type: str
verdict:
  description: V(SUCCESS), V(FAILED) (a failure, a failed phase or validation, a failed ledger row of the run) or
    V(NO CHANGE) (nothing applied).
  returned: report
  type: str
markdown:
  description: The Migration Log as Markdown.
  returned: report
  type: str
json:
  description:
    - The Migration Log as a dict. C(migration) holds the header and the ledger rows, then come C(pre_migration),
      C(results), C(post_migration), C(recovery_points), C(backups), C(failure), C(rollback), C(next_steps) and
      C(timeline).
    - C(timeline) places the run on one axis, in seconds from its C(start) (ISO 8601) to C(span_s). It holds
      C(phases) (C(name), C(status), C(start_s), C(end_s), C(duration_ms), C(versions)), C(batched) (C(file),
      C(phase), C(start_s), C(end_s), C(batches), C(walks)), C(recovery_points) (C(id), C(purpose), C(backup_id),
      C(at_s)), C(samples) (the monitor's, each C(at_s), C(phase), C(cpu_percent), C(memory_percent),
      C(lock_wait_s), C(blocked_sessions), C(action)) and C(notes), which say what could not be drawn and why.
    - C(absent) maps each figure that is V(null) (for example C(pre_migration.response_time)) to the reason.
  returned: report
  type: dict
controller_paths:
  description: With O(controller_dir), the copies on the controller (C(markdown), C(json) and, with O(html), C(html)).
  returned: with O(controller_dir), not in check mode
  type: dict
  sample: {"markdown": "/home/ops/knowledgehub-reports/staging-db/2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11.md"}
paths:
  description: The files written (in check mode, the files that would be written). These are C(markdown), C(json)
    and, with O(html), C(html), or C(snapshot).
  returned: always
  type: dict
  sample: {"markdown": "/var/lib/knowledgehub-migration/reports/2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11.md",
           "json": "/var/lib/knowledgehub-migration/reports/2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11.json",
           "html": "/var/lib/knowledgehub-migration/reports/2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11.html"}
stats:
  description: A compact summary for M(ansible.builtin.set_stats), with run_id, host, environment, verdict, the
    versions applied, duration_s, at most 10 recovery points and the report paths.
  returned: report
  type: dict
stored:
  description: The row stored in the report table (table, run_id, created_at, updated_at, and replaced when an earlier
    report of the run was replaced). It is V(null) when nothing was stored, and RV(stored_note) says why.
  returned: report
  type: dict
stored_note:
  description: Why the report is not stored in the database, or V(null).
  returned: report
  type: str
snapshot:
  description: With O(snapshot=before), the figures recorded (measured_at, database, database_size_bytes,
    record_counts, tables, run_id, host).
  returned: snapshot
  type: dict
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._report import ReportJob
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        run_id=dict(type="str", required=True),
        dest=dict(type="path", required=True),
        snapshot=dict(type="str", choices=["before"]),
        count_tables=dict(type="list", elements="str", default=["ai_memories", "documents", "chunks"]),
        html=dict(type="bool", default=True),
        store=dict(type="bool", default=True),
        host=dict(type="str"),
        facts=dict(type="dict", default={}),
        ledger_table=dict(type="str", default="migration_log"),
        ledger_schema=dict(type="str", default="public"),
        controller_dir=dict(type="path"),
        _return_files=dict(type="bool", default=False),
    )
    module = new_module(argument_spec)
    job = ReportJob(module.params, module.check_mode)
    execute(module, job, what="the migration report of run %s" % module.params["run_id"])


if __name__ == "__main__":
    main()
