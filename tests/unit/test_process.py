# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A program's outcome: success is exit code 0 and no error on stderr; a failure never shows the password."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _process
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

from support.modules import PARAMS


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
