# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of the modules that lint (pg_migrate, pg_preflight): squawk runs on the controller.

When the task gives ``migrations_source`` (the controller's directory of the migration files), their ``.sql``
files are read here and handed to the module in ``_migration_files`` (``module_utils/_migration_files``), which
writes them into a private directory on the host for its run: nothing is staged.

When the task gives ``lint_source`` (or ``migrations_source``) and its ``lint`` is on, squawk reads those files
here, on the controller, and the module receives its raw findings with each file's sha256 in the private option
``_lint_findings`` (``module_utils/_lint_handoff``); the module then needs no squawk on the managed host, checks that
its pending files are the ones linted, and judges the findings against the live database as before. Both sources are
the plugin's own options: they are removed before the module runs. Without them (or with ``lint=false``) the module
runs exactly as before, linting on the host.

squawk is looked up next to the controller's Python, then on its PATH (``_lint.find_squawk``); its major version
argument is ``knowledgehub_lint_pg_version`` (default 15), which the module checks against the server. The module
itself then runs with live progress (``_progress_action``).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_handoff import (
    DEFAULT_PG_VERSION,
    OPTION,
    collect,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._migration_files import OPTION as FILES_OPTION
from ansible_collections.knowledgehub.migration.plugins.module_utils._migration_files import SOURCE as FILES_SOURCE
from ansible_collections.knowledgehub.migration.plugins.module_utils._migration_files import collect as collect_files
from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_action import ProgressAction

SOURCE = "lint_source"
PG_VERSION_VAR = "knowledgehub_lint_pg_version"


class LintingAction(ProgressAction):
    """Hands the files of ``migrations_source`` to the module, lints ``lint_source`` (else ``migrations_source``) on
    the controller and hands the findings over, then runs the module with progress."""

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        args = dict(self._task.args)
        source = args.pop(SOURCE, None)
        args.pop(OPTION, None)  # only this plugin hands findings over
        args.pop(FILES_OPTION, None)  # nor files
        files_source = args.pop(FILES_SOURCE, None)
        if files_source:
            if args.get("migrations_dir"):
                return {"failed": True, "changed": False,
                        "msg": "Give migrations_dir (on the host) or %s (on the controller), not both. Nothing was "
                               "run." % FILES_SOURCE}
            try:
                args[FILES_OPTION] = collect_files(self._loader.path_dwim(str(files_source)))
            except Failure as exc:
                return {"failed": True, "changed": False, "msg": "%s Nothing was run." % exc.message.rstrip()}
            source = source or files_source
        if source and boolean(args.get("lint", True), strict=False):
            pg_version = self._templar.template(task_vars.get(PG_VERSION_VAR, DEFAULT_PG_VERSION))
            try:
                args[OPTION] = collect(self._loader.path_dwim(str(source)), pg_version)
            except Failure as exc:
                return {"failed": True, "changed": False,
                        "msg": "Lint gate: %s Nothing was run." % exc.message.rstrip()}
        self._task.args = args
        return super().run(tmp, task_vars)
