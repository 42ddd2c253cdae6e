# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the backup, restore and recovery-point tests (a pytest plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture
def createdb(cluster):
    """The application role may create and rename databases (swap, clone) for the test."""
    cluster.psql("ALTER ROLE knowledgehub CREATEDB")
    yield
    cluster.psql("ALTER ROLE knowledgehub NOCREATEDB")


@pytest.fixture
def backup_dir(tmp_path):
    """Where the test's backups go (not created: pg_backup makes it, 0700)."""
    return str(tmp_path / "backups")
