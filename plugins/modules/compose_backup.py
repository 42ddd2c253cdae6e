#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: compose_backup
short_description: Back up a compose application's configuration files or its database volume, verified
version_added: 1.0.0
description:
  - Archives, into O(backup_dir), either named configuration O(paths) of the application (its compose file, C(.env),
    a C(config/) directory...) or a named O(volume) of a compose service, such as C(postgres_data) of C(db).
  - Each archive is a tar file (gzip level 1 by default) with a JSON manifest beside it, under the same rules as
    M(knowledgehub.migration.pg_backup). It is written as C(.partial) and verified, then made 0600 and renamed. Only
    then is the manifest written. The archive of a backup killed while it writes is removed by the next backup into
    the same directory (RV(swept)). O(keep_last) retention counts verified archives only, per O(label) and kind
    (C(config) or C(volume)), never a database backup that shares the label.
  - For O(paths), every file is hashed while it is archived. The archive is then read back and each file's sha256
    compared, so the archive holds exactly the bytes that were read. The manifest lists each file with its sha256
    and size, never its content.
  - For a O(volume), the copy is consistent. The services in O(stop_services) (for example C(api)) and then
    O(db_service) are stopped, C(tar) runs in a one-off container of O(db_service) with the same mounts
    (C(docker compose run --rm --no-deps)), and the services that were running are started again whatever happened.
    The downtime is measured from the stop until O(db_service) is ready again (running, and healthy when it has a
    healthcheck) and returned. Compression and verification happen after the restart, so they add no downtime.
  - A free-space check before writing fails early with the numbers.
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.backup
  - knowledgehub.migration.compose
attributes:
  check_mode:
    support: full
    description: Resolves the paths or the volume, measures their size, checks free space and reports which services
      would be stopped, without stopping anything or writing.
requirements:
  - For O(volume), the docker CLI with the compose v2 plugin (C(docker compose)), or another command given in
    O(compose_command), on the managed host.
options:
  label:
    description:
      - Names the archives (C(<label>-config_<UTC time>.tar.gz), C(<label>-volume_...)) and groups them for retention.
    type: str
    default: knowledgehub
  paths:
    description:
      - Configuration files and directories to archive. Relative paths are taken from O(project_dir). Every path must
        exist. Directories are archived whole; sockets, devices and fifos are left out with a warning.
      - Mutually exclusive with O(volume).
    type: list
    elements: path
  volume:
    description:
      - Name of a named volume, as written in the compose file, mounted by O(db_service), to archive with the service
        stopped. Needs O(project_dir). Mutually exclusive with O(paths).
      - With O(paths), relative paths are resolved from O(project_dir) and names inside the archive are relative to
        it.
    type: str
  stop_services:
    description:
      - Services to stop before O(db_service) and to start again after it, such as the application that would
        otherwise fail while the database is down. Only those running before are started again.
    type: list
    elements: str
    default: []
  stop_timeout:
    description:
      - Seconds that C(docker compose stop) gives each service to shut down cleanly.
    type: int
    default: 60
  ready_timeout:
    description:
      - Seconds to wait for each restarted service to be running (and healthy when it has a healthcheck).
    type: int
    default: 120
  archive_timeout:
    description:
      - Seconds the volume's tar may take before it is stopped and the services started again.
    type: int
    default: 3600
  compression:
    description:
      - V(gzip) (level 1, fast) or V(none).
    type: str
    choices: [ gzip, none ]
    default: gzip
  keep_last:
    description:
      - After a successful backup, keep the newest O(keep_last) verified archives of the same O(label) and kind and
        remove the others. V(0) keeps everything.
    type: int
    default: 0
  check_free_space:
    description:
      - Fail before writing when the free space in O(backup_dir) is below the size to archive (twice the volume's
        size when it is compressed afterwards) plus a reserve of 10% (at least 16 MiB).
    type: bool
    default: true
  run_id:
    description:
      - Identifier of the migration run this backup belongs to, recorded in the manifest.
    type: str
  purpose:
    description:
      - Why the backup is made (for example C(pre-migration)), recorded in the manifest.
    type: str
seealso:
  - module: knowledgehub.migration.compose_restore
  - module: knowledgehub.migration.pg_backup
  - module: community.docker.docker_compose_v2
notes:
  - Live progress. Run by ansible-playbook or AWX, the collection's action plugin of the same name prints a line on
    the controller every C(knowledgehub_progress_interval) seconds while the module runs (default 5; 0 prints none),
    showing its elapsed time. The result is the same as without it. See docs/progress.md.
  - The module starts the stopped services again on every failure it can see. If its own process is killed while
    the database is stopped (C(kill -9), a lost host), start them by hand with C(docker compose start db api) in
    O(project_dir).
  - M(knowledgehub.migration.compose_restore) puts an archive back, verified first, keeping what it replaces.
  - A volume archive leaves out the entries named C(.kh-*) at the top of the volume, which
    M(knowledgehub.migration.compose_restore) keeps there (the content a restore replaced, its lock).
'''

EXAMPLES = r'''
- name: Back up the application's configuration
  knowledgehub.migration.compose_backup:
    backup_dir: /var/backups/knowledgehub
    project_dir: /srv/knowledgehub
    paths:
      - compose.yml
      - .env
      - config
    keep_last: 10

- name: Back up the postgres_data volume with the api and db stopped for it
  knowledgehub.migration.compose_backup:
    backup_dir: /var/backups/knowledgehub
    project_dir: /srv/knowledgehub
    volume: postgres_data
    db_service: db
    stop_services: [api]
    purpose: pre-migration
  register: volume_backup

- name: Report the downtime
  ansible.builtin.debug:
    msg: "db was down {{ volume_backup.downtime_ms }} ms"
'''

RETURN = r'''
swept:
  description: What a backup killed while it wrote (kill -9 too) had left in O(backup_dir), removed before this one
    was written. Each archive is written as C(.partial) beside a lock file (C(.writing-<archive>)) that its process
    holds locked until it ends, so an archive another run is still writing is never removed.
  returned: when something was removed
  type: list
  elements: str
kind:
  description: V(config) or V(volume).
  returned: always
  type: str
backup_id:
  description: Identifier of the archive (its file name without extension).
  returned: success, not in check mode
  type: str
  sample: knowledgehub-volume_20261125T031500Z
path:
  description: The archive.
  returned: success, not in check mode
  type: str
manifest:
  description: The manifest beside the archive.
  returned: success, not in check mode
  type: str
sha256:
  description: sha256 of the archive.
  returned: success, not in check mode
  type: str
size_bytes:
  description: Size of the archive.
  returned: success, not in check mode
  type: int
paths:
  description: The configuration paths archived, absolute.
  returned: kind config
  type: list
  elements: str
entries:
  description: Number of entries (files, directories, links) in the archive.
  returned: success
  type: int
files:
  description: Number of regular files archived and compared.
  returned: kind config, not in check mode
  type: int
skipped_special_files:
  description: Sockets, devices and fifos left out.
  returned: kind config
  type: list
  elements: str
volume:
  description: The volume as compose knows it (C(volume), engine-level C(name), mount C(target) in the service).
  returned: kind volume
  type: dict
volume_bytes:
  description: Bytes used in the volume, measured before the backup.
  returned: kind volume
  type: int
would_stop:
  description: Services that are running and would be (or were) stopped, in order.
  returned: kind volume
  type: list
  elements: str
stopped_services:
  description: Services stopped for the backup and started again.
  returned: kind volume, not in check mode
  type: list
  elements: str
downtime_ms:
  description: Milliseconds from the stop until O(db_service) was ready again.
  returned: kind volume, not in check mode
  type: int
durations_ms:
  description: C(stop), C(archive), C(start), C(downtime) and C(application_downtime) (until every stopped service
    was ready again), in milliseconds.
  returned: kind volume, not in check mode
  type: dict
pg_version:
  description: Content of the volume's C(PG_VERSION), when it holds a PostgreSQL data directory.
  returned: kind volume, not in check mode
  type: str
free_space:
  description: The free-space verdict.
  returned: always
  type: dict
removed:
  description: Archives removed by retention. A manifest that names a file outside O(backup_dir), or lacks what its
    kind needs, is never acted on; it is left alone and named in a warning.
  returned: success, not in check mode
  type: list
  elements: str
backup_dir_mode:
  description: The path, old and new mode of O(backup_dir) when it was wider than 0700 and was tightened.
  returned: when the mode was changed
  type: dict
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import compose_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_backup import FilesBackup
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module


def main():
    module = new_module(
        dict(
            backup_dir=dict(type="path", required=True),
            label=dict(type="str", default="knowledgehub"),
            paths=dict(type="list", elements="path"),
            volume=dict(type="str"),
            stop_services=dict(type="list", elements="str", default=[]),
            stop_timeout=dict(type="int", default=60),
            ready_timeout=dict(type="int", default=120),
            archive_timeout=dict(type="int", default=3600),
            compression=dict(type="str", default="gzip", choices=["gzip", "none"]),
            keep_last=dict(type="int", default=0),
            check_free_space=dict(type="bool", default=True),
            run_id=dict(type="str"),
            purpose=dict(type="str"),
            **compose_argument_spec()
        ),
        mutually_exclusive=[("paths", "volume")],
        required_one_of=[("paths", "volume")],
        required_by={"volume": "project_dir"},
        needs_psycopg2=False,  # it never connects to PostgreSQL
    )
    job = FilesBackup(module.params)
    execute(module, job, what="the %s backup" % ("volume" if job.kind == "volume" else "configuration"))


if __name__ == "__main__":
    main()
