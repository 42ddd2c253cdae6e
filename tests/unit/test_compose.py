# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compose helpers' pure parts: `docker compose ps` in both output formats, a service's named volume."""

from __future__ import annotations

import json

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _compose
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import ComposeError


def test_ps_output_in_both_compose_formats():
    lines = '{"Service":"db","State":"running","Health":"healthy"}\n{"Service":"api","State":"exited","Health":""}\n'
    array = json.dumps([{"Service": "db", "State": "running", "Health": "starting"}])
    assert _compose.service_state(_compose.parse_ps(lines), "api") == {"state": "exited", "health": ""}
    assert _compose.is_ready(_compose.service_state(_compose.parse_ps(lines), "db"))
    assert not _compose.is_ready(_compose.service_state(_compose.parse_ps(array), "db"))
    assert _compose.service_state(_compose.parse_ps(""), "db") == {"state": "", "health": ""}


CONFIG = {
    "services": {"db": {"volumes": [
        {"type": "bind", "source": "/srv/kh/init", "target": "/docker-entrypoint-initdb.d"},
        {"type": "volume", "source": "postgres_data", "target": "/var/lib/postgresql/data"}]},
        "api": {}},
    "volumes": {"postgres_data": {"name": "knowledgehub_postgres_data"}},
}


def test_volume_mount_is_found_with_its_engine_name():
    assert _compose.volume_mount(CONFIG, "db", "postgres_data") == {
        "volume": "postgres_data", "name": "knowledgehub_postgres_data", "target": "/var/lib/postgresql/data"}


def test_volume_mount_errors_name_what_exists():
    with pytest.raises(ComposeError, match="no service 'database'; its services are: api, db"):
        _compose.volume_mount(CONFIG, "database", "postgres_data")
    with pytest.raises(ComposeError, match="does not mount a named volume 'pgdata'; its named volumes are: "
                                           "postgres_data"):
        _compose.volume_mount(CONFIG, "db", "pgdata")
