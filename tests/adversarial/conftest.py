# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the adversarial cases that need a second database beside ``legacy_db``."""

from __future__ import annotations

import pytest

from support.database import drop_database


@pytest.fixture
def other_legacy(cluster, legacy_templates):
    """A second legacy KnowledgeHub database: the same schema and rows as ``legacy_db``, another database."""
    database = legacy_templates.clone()
    yield database
    drop_database(cluster, database.name, derived=True)
