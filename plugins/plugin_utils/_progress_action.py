# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of the collection's long-running modules: the module as a plain run, plus live progress.

Ansible returns a module's result only at its end. This plugin runs the module exactly as
``ansible.builtin.normal`` does (``_execute_module``: pipelined, the arguments through stdin, nothing on disk),
but in a thread of the worker, and names a progress file in the task's remote tmp directory in the module's
environment (``KNOWLEDGEHUB_PROGRESS_FILE``). Meanwhile the worker reads what the module appended to that file
(``tail -c +N`` through a copy of the connection, without become) every ``knowledgehub_progress_interval``
seconds (default 5) and prints a line with ``display.display``: in ansible-playbook's output and in AWX's job
output alike. The result is the module's own, untouched. Why not async_wrapper and async_status: see
docs/progress.md.

The plain synchronous run instead (no line at all) when: the interval is 0, the task is itself async, the
connection runs modules its own way (Windows), or become switches to an unprivileged user (who could not
write into the connection user's tmp directory).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_view import ProgressView, parse

display = Display()

ENV = "KNOWLEDGEHUB_PROGRESS_FILE"  # module_utils/_progress.ENV
INTERVAL_VAR = "knowledgehub_progress_interval"
DEFAULT_INTERVAL = 5.0
READ_LIMIT = 65536  # bytes read per look: the progress file is a few lines a second at most


def interval_of(value: Any) -> float:
    """knowledgehub_progress_interval as seconds: a number >= 0 (0: off). AnsibleActionFail otherwise."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise AnsibleActionFail("%s=%r: give the seconds between two progress lines (5 by default), or 0 to "
                                "print none." % (INTERVAL_VAR, value))
    return seconds


class ProgressAction(ActionBase):
    """Runs the task's module; prints its progress every few seconds while it runs."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        interval = interval_of(self._templar.template(task_vars.get(INTERVAL_VAR, DEFAULT_INTERVAL)))
        if not self._watchable(interval):
            # exactly ansible.builtin.normal
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        try:
            result = merge_hash(result, self._watched(task_vars, interval))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _watchable(self, interval: float) -> bool:
        connection = self._connection
        return bool(interval > 0 and not self._task.async_val and not connection.has_native_async
                    and not connection.always_pipeline_modules and not self._is_become_unprivileged()
                    and isinstance(self._task.environment, list))

    def _watched(self, task_vars: dict[str, Any], interval: float) -> dict[str, Any]:
        shell = self._connection._shell
        if shell.tmpdir is None:
            self._make_tmp_path()
        path = shell.join_path(shell.tmpdir, "knowledgehub-progress.jsonl")
        outcome: dict[str, Any] = {}

        def module() -> None:
            try:
                outcome["result"] = self._execute_module(task_vars=task_vars)
            except BaseException as exc:  # pylint: disable=broad-except  # raised again in the worker's thread
                outcome["error"] = exc

        entry = {ENV: path}
        self._task.environment.append(entry)  # read once, when the module's command line is built
        worker = threading.Thread(target=module, name="knowledgehub-module", daemon=True)
        started = time.monotonic()
        worker.start()
        try:
            self._follow(worker, path, interval, started, task_vars)
        finally:
            worker.join()
            if entry in self._task.environment:
                self._task.environment.remove(entry)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _follow(self, worker: threading.Thread, path: str, interval: float, started: float,
                task_vars: dict[str, Any]) -> None:
        """Every ``interval`` seconds while the module runs: read what it appended, print the line."""
        view = ProgressView(str(task_vars.get("inventory_hostname", "")), self._task.action.split(".")[-1])
        reader: Any = copy.copy(self._connection)  # its own state for its commands; the module's stays untouched
        offset = 0
        next_line = started + interval
        while True:
            worker.join(max(0.0, next_line - time.monotonic()))
            if not worker.is_alive():
                return
            if reader is not None:
                try:
                    records, used = parse(self._read(reader, path, offset))
                    offset += used
                    view.add(records, time.monotonic() - started)
                except Exception as exc:  # pylint: disable=broad-except  # progress never fails the task
                    display.vvv("knowledgehub progress: cannot read %s (%s); no more progress lines for this task"
                                % (path, exc))
                    reader = None
            display.display(view.line(time.monotonic() - started))
            next_line = max(next_line + interval, time.monotonic() + interval / 2)

    def _read(self, reader: Any, path: str, offset: int) -> bytes:
        """What the module appended to ``path`` since ``offset`` (bytes), without become."""
        quote = self._connection._shell.quote
        command = "tail -c +%d %s 2>/dev/null | head -c %d; exit 0" % (offset + 1, quote(path), READ_LIMIT)
        rc, out, err = reader.exec_command("/bin/sh -c %s" % quote(command), sudoable=False)
        if rc != 0:
            raise OSError("exit code %s: %s" % (rc, err[-200:]))
        return out if isinstance(out, bytes) else str(out).encode("utf-8")
