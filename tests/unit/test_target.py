# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection: the libpq conninfo (quoted, never the password), the password's way to the client programs
(its environment, never a file), the session settings they get."""

from __future__ import annotations

import os
import tempfile

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


def test_password_goes_to_the_child_environment_only_never_to_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    monkeypatch.setenv("PGPASSFILE", "/home/op/.pgpass")
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=1GB")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = Target.from_params(PARAMS)
    with target.client_env({"maintenance_work_mem": "512MB"}) as env:
        assert env["PGPASSWORD"] == "s3cr:et\\pw'" and "PGPASSFILE" not in env and env["LC_ALL"] == "C"
        assert env["PGOPTIONS"] == "-c maintenance_work_mem=512MB"
        assert os.listdir(str(tmp_path)) == []  # no file holds the password, not even for a moment
        assert target.scrub("oops s3cr:et\\pw' leaked") == "oops ******** leaked"
    assert os.environ["PGPASSWORD"] == "from-the-environment"  # the module's own environment is not changed


def test_stale_passfiles_of_older_versions_are_removed(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "kh-pgpass-abc"
    stale.mkdir()
    (stale / "pgpass").write_text("*:*:*:*:old\n")
    (tmp_path / "kh-pgpass-file").write_text("not a directory of ours")
    (tmp_path / "other").mkdir()
    with Target.from_params(PARAMS).client_env():
        pass
    assert sorted(os.listdir(str(tmp_path))) == ["kh-pgpass-file", "other"]


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
