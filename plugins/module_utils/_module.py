# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way a module of this collection starts and ends.

A module is: its argument spec, a job built from the options, and ``execute``::

    module = new_module(argument_spec)
    execute(module, SomeJob(module.params), what="the backup of %s" % module.params["login_db"])

A module that reads migration files takes its options through ``migration_files`` (the files handed over from the
controller, in a private directory for the run).

A job computes what it would do as data (``plan``), and carries the plan out
(``apply``). ``execute`` holds the one check-mode guard: in check mode the plan is
the result and nothing is applied. Every failure ends here too: a ``Failure``
becomes ``fail_json`` with its message and details, a PostgreSQL or file system
error becomes a sentence naming what was being done, and a job's warnings go to
``module.warn``. No traceback reaches the operator.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._migration_files import (
    OPTION,
    require_source,
    unpacked,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import (
    HAS_PSYCOPG2,
    PSYCOPG2_IMPORT_ERROR,
    psycopg2,
)


# psycopg2 errors, when psycopg2 is there (a module that never connects runs without it).
_POSTGRES_ERRORS: tuple[type[BaseException], ...] = (psycopg2.Error,) if psycopg2 is not None else ()


class Job:
    """What a module does: ``plan`` (read-only, returns the result check mode gives) then ``apply``."""

    def plan(self) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``plan`` opened (connections); called whatever happened."""


def new_module(argument_spec: dict[str, Any], needs_psycopg2: bool = True, **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with check mode, failing cleanly when it needs psycopg2 and that is missing."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
    if needs_psycopg2 and not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)
    return module


@contextmanager
def migration_files(module: AnsibleModule) -> Iterator[dict[str, Any]]:
    """The module's options, with ``migrations_dir`` the private directory of the files the action plugin handed
    over from ``migrations_source`` (``_migration_files``), removed when the module ends; as given without them.
    Neither ``migrations_dir`` nor the files is a clear failure."""
    try:
        require_source(module.params)
        if module.params.get(OPTION) is None:
            yield module.params
            return
        with unpacked(module.params[OPTION]) as directory:
            yield dict(module.params, migrations_dir=directory)
    except Failure as exc:
        fail(module, exc)


def execute(module: AnsibleModule, job: Job, what: str) -> None:
    """Plan, apply unless in check mode, and end the module (exit_json or fail_json). Never returns."""
    try:
        try:
            result = job.plan()
            if not module.check_mode:
                result = job.apply(result)
        finally:
            job.close()
    except Failure as exc:
        fail(module, exc)
    except _POSTGRES_ERRORS as exc:
        module.fail_json(msg="PostgreSQL error during %s: %s" % (what, first_line(exc)))
    except OSError as exc:
        module.fail_json(msg="File system error during %s: %s" % (what, exc))
    finish(module, result)


def fail(module: AnsibleModule, exc: Failure) -> None:
    """fail_json with the failure's message and details (and the warnings gathered before it)."""
    details = dict(exc.details)
    for warning in details.pop("warnings", None) or []:
        module.warn(warning)
    details.pop("msg", None)
    module.fail_json(msg=exc.message, **details)


def finish(module: AnsibleModule, result: dict[str, Any]) -> None:
    """exit_json with the result; its ``warnings`` go to module.warn."""
    result = dict(result)
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    module.exit_json(**result)
