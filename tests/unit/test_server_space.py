# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the free space of the database server's volume (no database): df's output, and which data directory is
taken for this server's."""

from __future__ import annotations

import os

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._server_space import local_free, parse_df

DF = """Filesystem     1024-blocks     Used Available Capacity Mounted on
overlay          263174212 190283656  59432840      77% /
"""


def test_df_gives_the_available_kilobytes_of_its_last_line():
    assert parse_df(DF) == 59432840 * 1024
    with pytest.raises(ValueError):
        parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n")


def _pid_file(directory, data_dir, port):
    (directory / "postmaster.pid").write_text("4242\n%s\n1764583200\n%d\n/tmp\n127.0.0.1\n" % (data_dir, port),
                                              encoding="utf-8")


def test_a_data_directory_counts_only_when_its_postmaster_pid_names_it_and_the_port(tmp_path):
    _pid_file(tmp_path, str(tmp_path), 5433)
    stat = os.statvfs(str(tmp_path))
    assert abs(local_free(str(tmp_path), 5433, "127.0.0.1") - stat.f_bavail * stat.f_frsize) < 2 ** 30
    assert local_free(str(tmp_path), 5433, "/var/run/postgresql") is not None  # a socket directory is this host
    assert local_free(str(tmp_path), 5434, "127.0.0.1") is None  # another server's directory
    assert local_free(str(tmp_path), 5433, "db.example.org") is None  # the server is elsewhere
    _pid_file(tmp_path, "/var/lib/postgresql/data", 5433)
    assert local_free(str(tmp_path), 5433, "127.0.0.1") is None  # a copy of someone else's file
    assert local_free(None, 5433, "127.0.0.1") is None
    assert local_free(str(tmp_path / "absent"), 5433, "127.0.0.1") is None
