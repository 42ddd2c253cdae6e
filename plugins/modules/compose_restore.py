#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: compose_restore
short_description: Restore a compose application's data volume or configuration from a verified compose_backup archive
version_added: 1.0.0
description:
  - Puts back an archive made by M(knowledgehub.migration.compose_backup), either a data volume (kind V(volume),
    such as C(postgres_data) of C(db)) or configuration files (kind V(config)). The archive is named by its
    O(manifest), or it is the newest verified one of O(label) and O(kind) in O(backup_dir).
  - Before anything is touched, the manifest must be of kind V(config) or V(volume), verified, and of this project
    (its project directory, and for a volume its service, volume and the volume's engine-level name), unless
    O(allow_other_project). The archive must be a plain file name beside its manifest and match the manifest's
    sha256 and size. Every member must be a plain relative path (not absolute, no C(..), no control character), a
    file, a directory or a link, and a link must lead inside the tree it is restored into, also when followed
    through the archive's other links. Devices, fifos and members under a link member are refused. There must be
    room for the content (O(check_free_space)).
  - For a V(volume), the archive is first extracted into the volume beside its current content, into a hidden
    directory, by a one-off container of O(db_service) (C(docker compose run --rm --no-deps)) while the services
    still run. Then the services that depend on O(db_service) (or O(stop_services)) and O(db_service) are stopped, in
    the order M(knowledgehub.migration.compose_backup) uses. The current content is moved aside, kept whole as
    C(.kh-pre-restore-<UTC time>) at the top of the volume (RV(previous_content)), and the restored content moved
    in, by renames. The services that were running are started again, O(db_service) first and waited for until it
    is healthy. The kept content is removed only with O(drop_previous).
  - A volume restore is journaled in O(backup_dir) (C(compose-restore.journal.json)) before each step. If the module
    is killed (C(kill -9), a lost host), the next run of this module with that backup directory settles it first
    (RV(settled)). Before the swap it undoes it; during it, it finishes it. Then it starts the services that were
    running. PostgreSQL's C(global) and C(PG_VERSION) go out first and come in last, so no server can start on a
    mix of two contents in between.
  - A failure the module sees puts the old content back and starts the services again on it, and says so. So does
    a O(db_service) that does not come up on the restored content.
  - For a V(config) archive, the archived paths are put back into O(project_dir). Only paths that were inside the
    project directory are, and no link on the way may lead out of it. Each file is written to a temporary file
    beside it (its bytes checked against the manifest, its mode, owner and time set) and renamed over the old one.
    The file it replaces is kept as C(<path>.pre-restore-<UTC time>). A file that already holds the archived bytes
    and mode is left alone. A failure puts every file already replaced back. Files the archive does not hold are
    left alone. Services are recreated only when named in O(restart_services).
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.compose
attributes:
  check_mode:
    support: full
    description: Verifies the manifest, the archive (sha256, size, every member) and the room. Reports what would
      be replaced, which services would be stopped and what would be kept, and what an interrupted run left
      (RV(would_settle)). It touches nothing.
  diff_mode:
    support: none
    description: Nothing to diff; RV(files) and RV(previous_content) say what was replaced.
  idempotent:
    support: partial
    description: A configuration restore leaves files that already hold the archived bytes alone, so a second run
      changes nothing. A volume restore replaces the volume's content at every run.
requirements:
  - The docker CLI with the compose v2 plugin (C(docker compose)), or another command given in O(compose_command), on
    the managed host.
  - For a volume, C(sh), GNU C(tar), C(mv) and C(stat), C(flock) and C(gzip) in the image of O(db_service) (as in the
    official C(postgres) images).
options:
  manifest:
    description:
      - The manifest (C(<backup_id>.manifest.json)) of the archive to restore. Mutually exclusive with O(backup_dir).
    type: path
  backup_dir:
    description:
      - Restore the newest verified archive of O(label) and O(kind) in this directory.
      - With O(manifest), the manifest's directory is the backup directory. It holds the journal and the lock of
        the restores.
    type: path
  label:
    description:
      - With O(backup_dir), the label of the archive to restore.
    type: str
    default: knowledgehub
  kind:
    description:
      - V(volume) or V(config). Needed with O(backup_dir). With O(manifest), the manifest's kind must be this one.
    type: str
    choices: [ volume, config ]
  volume:
    description:
      - For a volume, the named volume of O(db_service) to restore into, as written in the compose file. Defaults to
        the one the archive was made of.
    type: str
  paths:
    description:
      - For a configuration archive, the archived paths to put back (relative to O(project_dir), such as C(.env) or
        C(config)). Defaults to all of them.
    type: list
    elements: str
  stop_services:
    description:
      - For a volume, the services to stop before O(db_service) and to start again after it. Defaults to the services
        that depend on O(db_service), directly or through others, and those that mount the same volume, the farthest
        first (for KnowledgeHub, C(api)). Only those running before are started again.
    type: list
    elements: str
  restart_services:
    description:
      - For a configuration archive, the services to recreate once the files are back
        (C(docker compose up -d --no-deps --force-recreate)), each waited for, so that a restored compose file,
        C(.env) or mounted file takes effect. None by default.
    type: list
    elements: str
    default: []
  drop_previous:
    description:
      - Remove what the restore replaced once it succeeded. For a volume, the kept content (RV(previous_content)).
        For a configuration archive, the C(<path>.pre-restore-<UTC time>) files.
    type: bool
    default: false
  allow_other_project:
    description:
      - Restore a backup of another project directory, service or volume. The result records its use
        (RV(project)) and the module warns.
    type: bool
    default: false
  stop_timeout:
    description:
      - Seconds that C(docker compose stop) gives each service to shut down cleanly.
    type: int
    default: 60
  ready_timeout:
    description:
      - Seconds to wait for each started service to be running (and healthy when it has a healthcheck).
    type: int
    default: 120
  archive_timeout:
    description:
      - Seconds the volume's extraction may take before it is stopped, the old content kept and the services started
        again.
    type: int
    default: 3600
  check_free_space:
    description:
      - Fail before touching anything when the free space (in the volume, or in O(project_dir)) is below the
        content to restore plus a reserve of 10% (at least 16 MiB).
    type: bool
    default: true
seealso:
  - module: knowledgehub.migration.compose_backup
  - module: knowledgehub.migration.pg_restore
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing its elapsed time. The result is the same as without it. See docs/progress.md.
  - The kept content of a volume stays inside the volume, and so inside PostgreSQL's data directory, until it is
    removed. compose_backup leaves it out of its archives. Remove it with O(drop_previous), or later with
    C(docker compose run --rm --no-deps --entrypoint rm db -rf /var/lib/postgresql/data/.kh-pre-restore-<time>).
  - Only one restore runs at a time per backup directory (an C(flock) on C(compose-restore.lock)); a second one fails
    at once.
'''

EXAMPLES = r'''
- name: Is the newest volume archive restorable? (verifies it, touches nothing)
  knowledgehub.migration.compose_restore:
    backup_dir: /var/backups/knowledgehub
    kind: volume
    project_dir: /srv/knowledgehub
  check_mode: true
  register: restorable

- name: Put the postgres_data volume back from a given archive, api and db stopped around it
  knowledgehub.migration.compose_restore:
    manifest: /var/backups/knowledgehub/knowledgehub-volume_20261125T031500Z.manifest.json
    project_dir: /srv/knowledgehub
  register: volume_restore

- name: Say where the replaced content is kept
  ansible.builtin.debug:
    msg: "db was down {{ volume_restore.downtime_ms }} ms; old content kept in {{ volume_restore.previous_content.path }}"

- name: Put back .env from the newest configuration archive and recreate the api with it
  knowledgehub.migration.compose_restore:
    backup_dir: /var/backups/knowledgehub
    kind: config
    paths: [.env]
    project_dir: /srv/knowledgehub
    restart_services: [api]
'''

RETURN = r'''
kind:
  description: V(config) or V(volume).
  returned: once the backup was found
  type: str
backup_id:
  description: The archive restored.
  returned: once the backup was found
  type: str
manifest:
  description: Its manifest.
  returned: once the backup was found
  type: str
created_at:
  description: When the backup was made.
  returned: once the backup was found
  type: str
archive:
  description: The archive.
  returned: once checked
  type: str
integrity:
  description: The archive's C(sha256) and C(size_bytes) checked against the manifest, the number of C(members)
    checked, the C(content_bytes) they hold, and how long it took (C(ms)).
  returned: once checked
  type: dict
project:
  description: The project the backup was made of (C(backup_project_dir)) and the one restored into (C(project_dir)),
    whether they C(matches), and whether O(allow_other_project) let a mismatch through (C(override)).
  returned: once checked
  type: dict
journal:
  description: The journal file of the restores in the backup directory (present only while a restore runs, or after
    one was killed).
  returned: once the backup was found
  type: str
free_space:
  description: The free-space verdict.
  returned: once checked
  type: dict
volume:
  description: The volume as compose knows it (C(volume), engine-level C(name), mount C(target) in the service).
  returned: kind volume
  type: dict
pg_version:
  description: The archive's C(PG_VERSION), when it holds a PostgreSQL data directory.
  returned: kind volume
  type: str
would_stop:
  description: Services that are running and would be (or were) stopped, in order.
  returned: kind volume
  type: list
  elements: str
previous_content:
  description: Where the volume's replaced content is kept, C(volume), C(name) and C(path) (inside the service).
    In check mode, where it would be. None once removed with O(drop_previous).
  returned: kind volume
  type: dict
kept_contents:
  description: The contents that earlier restores replaced and kept in the volume, by name.
  returned: kind volume
  type: list
  elements: str
stopped_services:
  description: Services stopped for the restore.
  returned: kind volume, success
  type: list
  elements: str
started_services:
  description: Services started again (those that were running before).
  returned: kind volume, success
  type: list
  elements: str
downtime_ms:
  description: Milliseconds from the stop until O(db_service) was ready again.
  returned: kind volume, success
  type: int
durations_ms:
  description: C(stop), C(extract), C(swap), C(downtime) and C(application_downtime) in milliseconds.
  returned: kind volume, success
  type: dict
dropped_previous:
  description: The replaced content (or files) were removed (O(drop_previous)).
  returned: with drop_previous, success
  type: bool
already_restored:
  description: The run found that an interrupted run of the same backup had swapped it in; settling finished it,
    and nothing more was done.
  returned: when so
  type: bool
project_dir:
  description: The project directory the files were put back into.
  returned: kind config
  type: str
paths:
  description: The archived top-level paths put back.
  returned: kind config
  type: list
  elements: str
files:
  description: The files (and directories, links) C(replaced), C(created) and C(unchanged), by path. In check mode,
    what would be.
  returned: kind config
  type: dict
kept_files:
  description: Each replaced file's C(path) and the name it is C(kept) under.
  returned: kind config
  type: list
  elements: dict
restart_services:
  description: The services that would be (or were) recreated.
  returned: kind config
  type: list
  elements: str
restarted_services:
  description: The services recreated and ready.
  returned: kind config, when some were
  type: list
  elements: str
settled:
  description: What an interrupted run had left, settled when this run started. Each has the C(backup_id), C(kind)
    and C(step) it was at, and since when. For a volume, the C(outcome) (C(restored) or C(undone)) and where the
    replaced content is kept (C(previous_content)). For a configuration, the files it had C(put_back), and the
    C(temporary_files) removed.
  returned: when there was one, not in check mode
  type: list
  elements: dict
would_settle:
  description: What RV(settled) would hold, in check mode, with what would be done (C(would)).
  returned: check mode, when there is one
  type: list
  elements: dict
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import compose_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore import FilesRestore
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module


def main():
    module = new_module(
        dict(
            manifest=dict(type="path"),
            backup_dir=dict(type="path"),
            label=dict(type="str", default="knowledgehub"),
            kind=dict(type="str", choices=["volume", "config"]),
            volume=dict(type="str"),
            paths=dict(type="list", elements="str"),
            stop_services=dict(type="list", elements="str"),
            restart_services=dict(type="list", elements="str", default=[]),
            drop_previous=dict(type="bool", default=False),
            allow_other_project=dict(type="bool", default=False),
            stop_timeout=dict(type="int", default=60),
            ready_timeout=dict(type="int", default=120),
            archive_timeout=dict(type="int", default=3600),
            check_free_space=dict(type="bool", default=True),
            **compose_argument_spec()
        ),
        mutually_exclusive=[("manifest", "backup_dir")],
        required_one_of=[("manifest", "backup_dir")],
        required_by={"backup_dir": "kind"},
        needs_psycopg2=False,  # it never connects to PostgreSQL
    )
    job = FilesRestore(module.params, module.check_mode)
    execute(module, job, what=job.what)


if __name__ == "__main__":
    main()
