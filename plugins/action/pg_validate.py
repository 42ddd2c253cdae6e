# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""knowledgehub.migration.pg_validate: its expectation files read on the controller, live progress (docs/progress.md).

When the task gives ``expectations_source`` (a directory of ``<version>_<name>.yml`` on the controller), the files
are read and parsed here, where PyYAML always is, and the module receives their content in the private option
``_expectations`` (``module_utils/_validate_expect.read_source``); the managed host then needs no PyYAML.
``expectations_source`` is also passed on, resolved, for the messages that name where a version's file was looked
for; when it is not a directory, the module runs the generic checks and warns that it found no expectation files.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_expect import (
    HANDOFF_OPTION,
    read_source,
)
from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_action import ProgressAction

SOURCE = "expectations_source"


class ActionModule(ProgressAction):
    """The pg_validate module, its expectation files read on the controller from ``expectations_source``; its
    progress printed every knowledgehub_progress_interval seconds while it runs."""

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        args = dict(self._task.args)
        args.pop(HANDOFF_OPTION, None)  # only this plugin hands expectations over
        source = args.get(SOURCE)
        if source:
            # resolved as Ansible resolves a relative path; a directory that is not there leaves the module to warn
            # that only the generic checks ran (a project need not write expectation files)
            args[SOURCE] = path = self._loader.path_dwim(str(source))
            if os.path.isdir(path):
                try:
                    args[HANDOFF_OPTION] = read_source(path)
                except Failure as exc:
                    return {"failed": True, "changed": False,
                            "msg": "%s (expectations_source, on the controller). Nothing was checked."
                                   % exc.message.rstrip().rstrip(".")}
        self._task.args = args
        return super().run(tmp, task_vars)
