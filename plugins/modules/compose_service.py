#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: compose_service
short_description: Stop, start or restart the application's compose services, wait for health, measure the downtime
version_added: 1.0.0
description:
  - Stops, starts or restarts O(services) (by default the C(api)) of the compose project in O(project_dir) with the
    compose CLI (C(docker compose stop) and C(docker compose start)), and returns each service's state before and
    after, the moments it was stopped, started and healthy, and the seconds each step took.
  - A start waits (O(wait)) until every service is running, healthy when it has a compose C(healthcheck), and, with
    O(health_url), until that URL answers with a 2xx status from the managed host. The downtime across two calls (a
    stop, then a start) is returned as RV(downtime_seconds) when the start is given the stop's RV(stopped_at) as
    O(down_since). A restart measures it by itself.
  - A start only starts existing containers. It never creates or recreates one (that is a deploy, C(docker compose up)),
    so the service comes back exactly as it was stopped. A service without a container is an error, and nothing is
    changed.
  - A service that does not become healthy within O(health_timeout) fails the task. The message names the service,
    its state, its last healthcheck output and the tail of its log (at most 20 lines of 300 characters, the values of
    the project's environment variables named like secrets masked). The service is left running, not stopped.
  - The compose CLI rather than M(community.docker.docker_compose_v2). That module works with this collection's
    podman-served docker CLI for a stop and for C(up --wait), but its start is C(docker compose up), which converges
    to the compose file (it may recreate a container whose image or configuration changed), its restart does not
    wait for health, and it has no URL check, no timings and no health output on failure. This module uses the same
    compose options, error messages and process rules as M(knowledgehub.migration.compose_backup).
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.compose
attributes:
  check_mode:
    support: full
    description: Reads the project and the services' states and reports what would be stopped or started
      (RV(would_stop), RV(would_start)), without stopping, starting or probing anything.
  diff_mode:
    support: none
    description: The result gives each service's state before and after.
  idempotent:
    support: full
    description: Services already in the state asked for are left alone (C(changed) is false); V(restarted) always
      restarts.
requirements:
  - The docker CLI with the compose v2 plugin (C(docker compose)), or another command given in O(compose_command), on
    the managed host.
options:
  state:
    description:
      - V(stopped) stops the running O(services) (C(docker compose stop)); the others, O(db_service) included, keep
        running.
      - V(started) starts those not running (C(docker compose start), which also waits for the services they depend
        on) and, with O(wait), waits for them to be healthy.
      - V(restarted) stops the running ones, then starts them all and waits, measuring the downtime.
    type: str
    choices: [ started, stopped, restarted ]
    default: started
  services:
    description:
      - The compose services, as named in the compose file. Each must exist in the project.
    type: list
    elements: str
    default: [ api ]
  project_dir:
    description:
      - The compose project directory on the managed host (where the application's compose file is). Required here;
        the app_service role skips its tasks with a note on a host without one.
    type: path
    required: true
  stop_timeout:
    description:
      - Seconds that C(docker compose stop) gives each service to shut down cleanly before it is killed.
    type: int
    default: 30
  wait:
    description:
      - After a start (and for V(started), also when nothing had to be started), wait until every service is ready.
    type: bool
    default: true
  health_url:
    description:
      - An http or https URL that must answer with a 2xx status, requested from the managed host without a proxy,
        for the services to count as healthy (for example C(http://127.0.0.1:8080/health)). Redirects are followed.
      - User information in the URL (C(http://user:password@host/...)) is sent as basic authentication; the password
        is masked in the result and the task's output.
    type: str
  health_timeout:
    description:
      - Seconds to wait for the services to be healthy after the start, compose healthcheck and O(health_url)
        together.
    type: float
    default: 120
  down_since:
    description:
      - When the services went down, as RV(stopped_at) of an earlier V(stopped) call returned it. With it, a start
        returns RV(downtime_seconds), from this moment to RV(healthy_at). Both come from the managed host's clock.
    type: str
seealso:
  - module: knowledgehub.migration.compose_backup
  - module: community.docker.docker_compose_v2
notes:
  - The role C(knowledgehub.migration.app_service) runs this module around a step that needs the api down, with an
    optional maintenance flag and the downtime printed.
  - O(db_service) is not stopped unless it is named in O(services); its state is returned as RV(db) so a caller sees
    that the database stayed up.
  - If the module is killed after a stop, the services stay stopped; start them with
    C(docker compose start api) in O(project_dir), or run this module with O(state=started).
'''

EXAMPLES = r'''
- name: Stop the api, keep the database running
  knowledgehub.migration.compose_service:
    project_dir: /srv/knowledgehub
    services: [api]
    state: stopped
  register: api_stop

- name: Start the api and wait until it answers
  knowledgehub.migration.compose_service:
    project_dir: /srv/knowledgehub
    services: [api]
    state: started
    health_url: http://127.0.0.1:8080/health
    health_timeout: 60
    down_since: "{{ api_stop.stopped_at }}"
  register: api_start

- name: Report the downtime
  ansible.builtin.debug:
    msg: "api down {{ api_start.downtime_seconds }} s"
'''

RETURN = r'''
state:
  description: The state asked for.
  returned: always
  type: str
services:
  description: Per service, its C(before) and (not in check mode) C(after) state, each a dict with C(state)
    (C(running), C(exited), C(created)..., empty when the service has no container) and C(health) (C(healthy),
    C(starting), C(unhealthy), empty without a healthcheck).
  returned: always
  type: dict
  sample: {"api": {"before": {"state": "running", "health": "healthy"}, "after": {"state": "exited", "health": ""}}}
db:
  description: The state and health of O(db_service), before the action in check mode, after it otherwise.
  returned: always
  type: dict
  sample: {"state": "running", "health": "healthy"}
would_stop:
  description: The services that are running and would be stopped.
  returned: check mode
  type: list
  elements: str
would_start:
  description: The services that are not running and would be started.
  returned: check mode
  type: list
  elements: str
stopped:
  description: The services that were stopped (those running before).
  returned: O(state) V(stopped) or V(restarted), not in check mode
  type: list
  elements: str
started:
  description: The services that were started (those not running before).
  returned: O(state) V(started) or V(restarted), not in check mode
  type: list
  elements: str
stopped_at:
  description:
    - When the stop was issued (UTC, ISO 8601). The services stop serving from this moment. Pass it as O(down_since)
      to the start.
  returned: O(state) V(stopped) or V(restarted), not in check mode
  type: str
  sample: "2026-11-30T21:28:41.544+00:00"
started_at:
  description: When the start was issued (UTC, ISO 8601).
  returned: O(state) V(started) or V(restarted), not in check mode
  type: str
healthy_at:
  description: When every service was ready and O(health_url) answered (UTC, ISO 8601).
  returned: O(state) V(started) or V(restarted) with O(wait), not in check mode
  type: str
down_since:
  description: The start of the downtime measured (O(down_since), or this call's RV(stopped_at) for a restart).
  returned: when RV(downtime_seconds) is
  type: str
downtime_seconds:
  description: Seconds from RV(down_since) to RV(healthy_at).
  returned: O(state) V(restarted), or V(started) with O(down_since), with O(wait), not in check mode
  type: float
  sample: 2.417
seconds:
  description: Seconds each step took, C(stop), C(start) (the compose commands) and C(wait) (until healthy). A step
    that was not needed is absent.
  returned: not in check mode
  type: dict
  sample: {"start": 0.8, "wait": 1.52}
health_url:
  description: O(health_url) (its password masked) and the HTTP status it answered.
  returned: with O(health_url), after a successful wait
  type: dict
commands:
  description: The compose commands run, as argument lists.
  returned: not in check mode
  type: list
  elements: list
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import compose_argument_spec
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._services import STATES, VERBS, ServiceJob, url_secrets


def main():
    spec = compose_argument_spec()
    spec["project_dir"] = dict(type="path", required=True)
    module = new_module(
        dict(
            state=dict(type="str", default="started", choices=list(STATES)),
            services=dict(type="list", elements="str", default=["api"]),
            stop_timeout=dict(type="int", default=30),
            wait=dict(type="bool", default=True),
            health_url=dict(type="str"),
            health_timeout=dict(type="float", default=120),
            down_since=dict(type="str"),
            **spec
        ),
        needs_psycopg2=False,  # it never connects to PostgreSQL
    )
    module.no_log_values.update(url_secrets(module.params["health_url"]))
    execute(module, ServiceJob(module.params), what="the %s of the compose services %s" % (
        VERBS[module.params["state"]], ", ".join(module.params["services"] or [])))


if __name__ == "__main__":
    main()
