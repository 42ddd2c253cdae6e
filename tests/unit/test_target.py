# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection: the libpq conninfo (quoted, never the password), the password's way to the client programs
(a private passfile), the session settings they get."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _pgdump
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgdump import ClientError

from support.modules import PARAMS


def test_conninfo_quotes_values_and_never_holds_the_password():
    params = dict(PARAMS, login_db="it's", connect_params={"password": "other", "target_session_attrs": "any"})
    dsn = _pgdump.conninfo(params, application="x y")
    assert "dbname='it\\'s'" in dsn and "application_name='x y'" in dsn and "target_session_attrs='any'" in dsn
    assert "s3cr" not in dsn and "other" not in dsn and "password" not in dsn
    assert "host='/run/pg'" in _pgdump.conninfo(dict(PARAMS, login_unix_socket="/run/pg"))


def test_password_goes_to_a_private_passfile_that_is_removed(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=1GB")
    with _pgdump.Credentials(PARAMS, {"maintenance_work_mem": "512MB"}) as creds:
        path = creds.env["PGPASSFILE"]
        assert "PGPASSWORD" not in creds.env and creds.env["LC_ALL"] == "C"
        assert creds.env["PGOPTIONS"] == "-c maintenance_work_mem=512MB"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        with open(path, encoding="utf-8") as handle:
            assert handle.read() == "*:*:*:*:s3cr\\:et\\\\pw'\n"
        assert creds.scrub("oops s3cr:et\\pw' leaked") == "oops ******** leaked"
    assert not os.path.exists(os.path.dirname(path))


def test_without_a_password_libpq_looks_it_up_itself(monkeypatch):
    monkeypatch.setenv("PGPASSFILE", "/home/op/.pgpass")
    with _pgdump.Credentials(dict(PARAMS, login_password="")) as creds:
        assert creds.env["PGPASSFILE"] == "/home/op/.pgpass" and creds.tmpdir is None


def test_session_settings_are_validated():
    assert _pgdump.pgoptions({"synchronous_commit": "off", "lock_timeout": "30s"}) == \
        "-c synchronous_commit=off -c lock_timeout=30s"
    with pytest.raises(ClientError, match="not a plain PostgreSQL setting"):
        _pgdump.pgoptions({"work_mem": "1GB -c log_statement=all"})
    with pytest.raises(ClientError):
        _pgdump.pgoptions({"bad name": "1"})
