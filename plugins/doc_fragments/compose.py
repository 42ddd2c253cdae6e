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
