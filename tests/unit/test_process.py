# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A program's outcome: success is exit code 0 and no error on stderr; a failure never shows the password."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _pgdump
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgdump import ClientError

from support.modules import PARAMS


def result(rc: int, stderr: str) -> _pgdump.CommandResult:
    return _pgdump.CommandResult(["/bin/pg_dump", "x"], rc, "", stderr, 0.1)


def test_check_needs_exit_code_zero_and_no_error_on_stderr():
    assert _pgdump.check(result(0, "pg_dump: warning: there are circular foreign-key constraints\n"), "dump") == [
        "pg_dump: warning: there are circular foreign-key constraints"]
    with pytest.raises(ClientError, match=r"dump failed \(exit code 1\): pg_dump: error: could not write"):
        _pgdump.check(result(1, "pg_dump: error: could not write to output file: No space left on device\n"), "dump")
    with pytest.raises(ClientError, match="exit code 0"):
        _pgdump.check(result(0, "pg_dump: error: query failed\n"), "dump")
    with pytest.raises(ClientError, match="ERROR:  relation"):
        _pgdump.check(result(3, "psql:/x.sql:12: ERROR:  relation \"t\" does not exist\n"), "psql")
    with pytest.raises(ClientError, match=r"\*\*\*\*\*\*\*\*") as err:
        with _pgdump.Credentials(PARAMS) as creds:
            _pgdump.check(result(1, "FATAL: s3cr:et\\pw' is wrong"), "dump", creds)
    assert "s3cr" not in str(err.value) and "s3cr" not in str(err.value.details)
