#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_probe
short_description: Time a read-only SQL query or an HTTP GET, and compare it with a baseline
version_added: 1.0.0
description:
  - The runbook's performance baseline and performance impact as data. It runs a probe O(warmup) times untimed,
    then O(samples) times timed, and returns the figures in milliseconds (min, p50, p95, max, mean) and the number of
    errors.
  - With O(query), the probe is one SQL statement that reads, run on O(login_db). Each run is its own C(READ ONLY)
    transaction with O(statement_timeout), rolled back. Only one statement is accepted, and it must start with
    C(SELECT), C(WITH), C(VALUES), C(TABLE), C(SHOW) or C(EXPLAIN), so that nothing can end the read-only
    transaction. A query that fails with a syntax, privilege or read-only error stops the module at once, since
    that is a wrong query. A statement timeout or a lost connection counts as an error sample.
  - With O(url), the probe is an HTTP GET, which reads the whole body. A status outside O(expected_status), a
    timeout or a refused connection counts as an error sample.
  - The time of an error sample is not counted, because a refused connection answers fast and would flatter the
    figures. The percentiles are linear interpolations between the closest ranks.
  - With O(baseline), the figures of an earlier probe (the same probe before the migration), the result gives the
    signed change of p50 and mean in percent (RV(impact_percent)). The RV(verdict) is V(ok), or the value of
    O(on_impact) when a change is above O(max_impact_percent), when more than O(max_errors) samples failed, or when
    none succeeded. By default the verdict is V(warn), which gives a warning and does not fail.
  - A cache warm-up before the baseline (a request or a command) is not part of this module. Run it as its own
    task, with M(ansible.builtin.uri) or M(ansible.builtin.command).
author:
  - KnowledgeHub migration maintainers (@knowledgehub)
extends_documentation_fragment:
  - knowledgehub.migration.postgres
attributes:
  check_mode:
    support: full
    description: The probe only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to show as a diff.
  idempotent:
    support: full
    description: Never changes anything (C(changed=false)). The figures are measured again on each run.
options:
  query:
    description:
      - One SQL statement that reads, timed on O(login_db). Its rows are fetched and thrown away.
      - Exactly one of O(query) and O(url) is required.
    type: str
  url:
    description:
      - An C(http://) or C(https://) address to GET.
      - A password written in it (C(http://user:password@host/)) is masked in the result. Prefer O(url_password).
    type: str
  url_username:
    description:
      - The user name for HTTP authentication of O(url).
    type: str
  url_password:
    description:
      - The password for HTTP authentication of O(url). It is never shown.
    type: str
  force_basic_auth:
    description:
      - Send the basic authentication header with the first request, without waiting for a 401.
    type: bool
    default: false
  samples:
    description:
      - How many timed runs.
    type: int
    default: 20
  warmup:
    description:
      - How many untimed runs before the timed ones, to warm the caches and the connection.
    type: int
    default: 3
  interval:
    description:
      - Seconds to wait between two runs.
    type: float
    default: 0
  statement_timeout:
    description:
      - PostgreSQL C(statement_timeout) of each run of O(query). A run that reaches it counts as an error sample.
    type: str
    default: 5s
  timeout:
    description:
      - Seconds an HTTP request may take before it counts as an error sample.
    type: float
    default: 10
  expected_status:
    description:
      - The HTTP statuses that count as an answer. Any other is an error sample.
    type: list
    elements: int
    default: [200]
  validate_certs:
    description:
      - Check the server certificate of an C(https://) O(url).
    type: bool
    default: true
  baseline:
    description:
      - The figures of an earlier probe (its RV(figures), or its whole registered result), to compare with.
      - C(p50_ms) and C(mean_ms) are compared.
    type: dict
  max_impact_percent:
    description:
      - The largest slowdown of p50 or mean against O(baseline), in percent, that keeps the verdict V(ok).
    type: float
    default: 20
  max_errors:
    description:
      - The largest number of error samples that keeps the verdict V(ok).
    type: int
    default: 0
  on_impact:
    description:
      - The verdict when a limit is passed. V(warn) gives a warning. V(fail) fails the module, and the figures are
        still in the failed result.
    type: str
    choices: [warn, fail]
    default: warn
notes:
  - The connection options are used only with O(query).
seealso:
  - module: knowledgehub.migration.migration_report
    description: Puts the figures before and after the migration in the Migration Log.
'''

EXAMPLES = r'''
- name: Response time of the search query before the migration
  knowledgehub.migration.pg_probe:
    query: SELECT id FROM chunks ORDER BY id DESC LIMIT 20
    samples: 30
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  register: probe_before

- name: The same after the migration, compared with it (a warning above +20 %)
  knowledgehub.migration.pg_probe:
    query: SELECT id FROM chunks ORDER BY id DESC LIMIT 20
    samples: 30
    baseline: "{{ probe_before.figures }}"
    login_port: 5433
    login_user: knowledgehub
    login_db: knowledgehub
  register: probe_after

- name: The API's health endpoint, failing the play above +50 % or on any error
  knowledgehub.migration.pg_probe:
    url: http://127.0.0.1:8080/health
    expected_status: [200]
    timeout: 5
    baseline: "{{ api_before.figures }}"
    max_impact_percent: 50
    on_impact: fail
'''

RETURN = r'''
kind:
  description: V(sql) or V(http).
  returned: always
  type: str
probe:
  description: What was timed, for example C(GET http://127.0.0.1:8080/health). Never holds a password.
  returned: always
  type: str
warmup:
  description: The untimed runs and how many of them failed.
  returned: always
  type: dict
  sample: {"runs": 3, "errors": 0}
figures:
  description:
    - The timed runs, in milliseconds with 3 decimals, over the samples that succeeded. They are V(null) when
      none succeeded.
  returned: always
  type: dict
  sample: {"samples": 20, "succeeded": 20, "errors": 0, "min_ms": 0.412, "p50_ms": 0.501, "p95_ms": 0.87,
           "max_ms": 1.204, "mean_ms": 0.561}
errors:
  description: The number of error samples (as in RV(figures)).
  returned: always
  type: int
error_messages:
  description: The first 5 distinct messages of the error samples.
  returned: always
  type: list
  elements: str
  sample: ["HTTP 503 (expected 200)", "no answer within 5.0s"]
baseline:
  description: The baseline figures compared with, or V(null).
  returned: always
  type: dict
impact_percent:
  description: The signed change of p50 and mean against the baseline, in percent with 1 decimal (V(null) without
    a baseline; a value is V(null) when either side has none). Positive means slower.
  returned: always
  type: dict
  sample: {"p50": 12.5, "mean": -3.1}
max_impact_percent:
  description: The limit the verdict used.
  returned: always
  type: float
verdict:
  description: V(ok), V(warn) or V(fail). The failed result carries V(fail).
  returned: always
  type: str
reasons:
  description: Why the verdict is not V(ok). Empty when it is.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.knowledgehub.migration.plugins.module_utils._module import execute, new_module
from ansible_collections.knowledgehub.migration.plugins.module_utils._probe import ProbeJob, url_password
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        query=dict(type="str"),
        url=dict(type="str"),
        samples=dict(type="int", default=20),
        warmup=dict(type="int", default=3),
        interval=dict(type="float", default=0),
        statement_timeout=dict(type="str", default="5s"),
        timeout=dict(type="float", default=10),
        expected_status=dict(type="list", elements="int", default=[200]),
        validate_certs=dict(type="bool", default=True),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        force_basic_auth=dict(type="bool", default=False),
        baseline=dict(type="dict"),
        max_impact_percent=dict(type="float", default=20),
        max_errors=dict(type="int", default=0),
        on_impact=dict(type="str", default="warn", choices=["warn", "fail"]),
    )
    module = new_module(argument_spec, needs_psycopg2=False, mutually_exclusive=[("query", "url")],
                        required_one_of=[("query", "url")])
    secret = url_password(module.params["url"])
    if secret:
        module.no_log_values.add(secret)
    execute(module, ProbeJob(module.params, module.check_mode), what="the response-time probe")


if __name__ == "__main__":
    main()
