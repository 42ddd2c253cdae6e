# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A program's outcome: success is exit code 0 and no error on stderr; a failure never shows the password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _process
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

from support.modules import PARAMS
from support.paths import COLLECTIONS


def result(rc: int, stderr: str) -> _process.CommandResult:
    return _process.CommandResult(["/bin/pg_dump", "x"], rc, "", stderr, 0.1)


def test_check_needs_exit_code_zero_and_no_error_on_stderr():
    assert _process.check(result(0, "pg_dump: warning: there are circular foreign-key constraints\n"), "dump") == [
        "pg_dump: warning: there are circular foreign-key constraints"]
    with pytest.raises(ProcessError, match=r"dump failed \(exit code 1\): pg_dump: error: could not write"):
        _process.check(result(1, "pg_dump: error: could not write to output file: No space left on device\n"), "dump")
    with pytest.raises(ProcessError, match="exit code 0"):
        _process.check(result(0, "pg_dump: error: query failed\n"), "dump")
    with pytest.raises(ProcessError, match="ERROR:  relation"):
        _process.check(result(3, "psql:/x.sql:12: ERROR:  relation \"t\" does not exist\n"), "psql")
    with pytest.raises(ProcessError, match=r"\*\*\*\*\*\*\*\*") as err:
        _process.check(result(1, "FATAL: s3cr:et\\pw' is wrong"), "dump", Target.from_params(PARAMS).password)
    assert "s3cr" not in str(err.value) and "s3cr" not in str(err.value.details)


_PARENT = """
import sys, time
sys.path[:0] = [%r]
from ansible_collections.knowledgehub.migration.plugins.module_utils import _process
running = _process.spawn(["sleep", "300"])
print(running.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_with_its_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", _PARENT % COLLECTIONS], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % child) and _state(child) != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists("/proc/%d" % child) or _state(child) == "Z", "sleep %d outlived its parent" % child


def _state(pid: int) -> str:
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_a_program_that_cannot_start_is_a_process_error(tmp_path):
    with pytest.raises(ProcessError, match="Cannot run .*nosuch"):
        _process.spawn([str(tmp_path / "nosuch")])
