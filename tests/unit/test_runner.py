# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A server lost between migrations is a clear failure, never a crash without a result."""

from __future__ import annotations

import psycopg2
import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _runner


def test_connection_lost_between_migrations_becomes_a_failure_that_says_rerun(monkeypatch):
    runner = _runner.MigrationJob({})
    runner.result.applied.append({"file": "004_hybrid_rag_schema.sql"})

    def lost():
        raise psycopg2.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(runner, "_locked_run", lost)
    with pytest.raises(_runner.MigrationFailed) as err:
        runner.apply({})
    message = str(err.value)
    assert "server closed the connection unexpectedly" in message
    assert "004_hybrid_rag_schema.sql" in message and "rerun" in message
    assert err.value.details["applied"] == [{"file": "004_hybrid_rag_schema.sql"}]
