# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How the modules address the application's docker compose project on the managed host.
    DOCUMENTATION = r'''
options:
  project_dir:
    description:
      - The compose project directory on the managed host (where the application's compose file is).
    type: path
  compose_files:
    description:
      - Compose files of the project, when not the default C(compose.yml) / C(docker-compose.yml) of O(project_dir).
    type: list
    elements: path
  project_name:
    description:
      - Compose project name, when it is not derived from O(project_dir).
    type: str
  compose_command:
    description:
      - The compose command, as a list of arguments. The engine is the one the docker CLI finds (E(DOCKER_HOST), set
        with the task's C(environment) keyword when it is not the default).
    type: list
    elements: str
    default: [ docker, compose ]
  db_service:
    description:
      - The compose service that runs PostgreSQL.
    type: str
    default: db
'''

    # Where the PostgreSQL client programs run (pg_backup, pg_restore): add as knowledgehub.migration.compose.runner.
    RUNNER = r'''
options:
  runner:
    description:
      - Where the PostgreSQL client programs (pg_dump, pg_restore, psql) run.
      - V(host) runs the host's client programs. V(compose) runs the ones inside the O(db_service) container of the
        compose project in O(project_dir) (C(docker compose exec -T)), which reach the server through the container's
        own socket and port. There, archives travel through stdin and stdout, so the directory format and parallel
        restore jobs are not available, and the password is passed with C(-e PGPASSWORD), by name only, from the
        docker CLI's environment.
      - V(auto) uses the host's client when its major version is at least the server's, and otherwise, when
        O(project_dir) is set, the db service's own client. When neither is recent enough, the module fails naming
        the versions found.
    type: str
    choices: [ auto, host, compose ]
    default: auto
'''
