# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection: the libpq conninfo (quoted, never the password), the password's way to the client programs
(a private passfile), the session settings they get."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import pgoptions
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target

from support.modules import PARAMS


def test_conninfo_quotes_values_and_never_holds_the_password():
    params = dict(PARAMS, login_db="it's", connect_params={"password": "other", "target_session_attrs": "any"})
    dsn = Target.from_params(params).conninfo(application="x y")
    assert "dbname='it\\'s'" in dsn and "application_name='x y'" in dsn and "target_session_attrs='any'" in dsn
    assert "s3cr" not in dsn and "other" not in dsn and "password" not in dsn
    assert "host='/run/pg'" in Target.from_params(dict(PARAMS, login_unix_socket="/run/pg")).conninfo()


def test_password_goes_to_a_private_passfile_that_is_removed(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=1GB")
    target = Target.from_params(PARAMS)
    with target.client_env({"maintenance_work_mem": "512MB"}) as env:
        path = env["PGPASSFILE"]
        assert "PGPASSWORD" not in env and env["LC_ALL"] == "C"
        assert env["PGOPTIONS"] == "-c maintenance_work_mem=512MB"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        with open(path, encoding="utf-8") as handle:
            assert handle.read() == "*:*:*:*:s3cr\\:et\\\\pw'\n"
        assert target.scrub("oops s3cr:et\\pw' leaked") == "oops ******** leaked"
    assert not os.path.exists(os.path.dirname(path))


def test_without_a_password_libpq_looks_it_up_itself(monkeypatch):
    monkeypatch.setenv("PGPASSFILE", "/home/op/.pgpass")
    with Target.from_params(dict(PARAMS, login_password="")).client_env() as env:
        assert env["PGPASSFILE"] == "/home/op/.pgpass"


def test_session_settings_are_validated():
    assert pgoptions({"synchronous_commit": "off", "lock_timeout": "30s"}) == \
        "-c synchronous_commit=off -c lock_timeout=30s"
    with pytest.raises(OptionError, match="not a plain PostgreSQL setting"):
        pgoptions({"work_mem": "1GB -c log_statement=all"})
    with pytest.raises(OptionError):
        pgoptions({"bad name": "1"})
