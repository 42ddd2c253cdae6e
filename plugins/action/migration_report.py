# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""knowledgehub.migration.migration_report, and with ``controller_dir`` the copy of its files on the controller.

The module writes the report on the host; asked by this plugin (``_return_files``), it also returns the files' texts
and sha256. The plugin writes the copies (``_report.copy_to_controller``: a 0700 directory, 0600 files, each checked
against the host file's sha256) and removes the texts from the result. One task instead of a directory, a fetch and a
chmod per file. Nothing is copied in check mode or after a failure.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._report import FILES_RESULT, copy_to_controller
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_store import ReportError
from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_action import ProgressAction

OPTION = "controller_dir"
RETURN_FILES = "_return_files"


class ActionModule(ProgressAction):
    """The migration_report module; then its files copied to ``controller_dir`` on the controller."""

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        args = dict(self._task.args)
        target = args.pop(OPTION, None)
        args[RETURN_FILES] = bool(target) and not self._task.check_mode
        self._task.args = args
        result = super().run(tmp, task_vars)
        files = result.pop(FILES_RESULT, None)
        if files and not result.get("failed"):
            try:
                result["controller_paths"] = copy_to_controller(self._loader.path_dwim(str(target)), files)
            except ReportError as exc:
                result.update(failed=True, msg="The report is written on the host (%s), but its copy on the "
                                               "controller failed: %s Rerun the report role to copy it."
                                               % (", ".join(e["path"] for e in files.values()), exc.message))
        return result
