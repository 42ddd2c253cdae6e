# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures (a pytest plugin): a real PostgreSQL 15 started by the test session, fresh databases per test.

* ``cluster``: the session's cluster, with the application role ``knowledgehub``;
* ``db``: an empty database for one test;
* ``legacy_db``: a production-like KnowledgeHub database for one test: 001-003 applied by hand, sample data,
  no ledger. It is a file copy of a template loaded once per chunk count, 2000 chunks unless the test (its
  class or module) is marked ``@pytest.mark.legacy_chunks(N)``. Databases the modules derive from it
  (``<name>_rp_...``, ``<name>_pre_restore_...``) are dropped with it;
* ``legacy_templates``: the templates themselves (``clone(chunks)``), for fixtures of a wider scope;
* ``migrations_copy``: a private copy of migrations/ that a test may alter.
"""

from __future__ import annotations

import shutil
import tempfile

import pgsandbox  # tools/
import pytest

from support.database import Database, drop_database, new_database
from support.paths import MIGRATIONS

DEFAULT_CHUNKS = 2000


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "legacy_chunks(n): the number of chunks in the test's legacy_db "
                                       "(default %d)" % DEFAULT_CHUNKS)


@pytest.fixture(scope="session")
def cluster():
    """A PostgreSQL 15 cluster on a free loopback port, removed at the end of the session."""
    basedir = tempfile.mkdtemp(prefix="kh-test-pg-")
    pg = pgsandbox.Cluster(basedir, pgsandbox.free_port(), fsync=False)
    pg.init()
    pg.start()
    pg.app_password = pg.create_app_db("knowledgehub", "knowledgehub_template")
    yield pg
    pg.destroy()


@pytest.fixture
def db(cluster):
    """A fresh, empty database for one test, dropped afterwards."""
    database = new_database(cluster)
    yield database
    drop_database(cluster, database.name)


class LegacyTemplates:
    """Legacy KnowledgeHub databases to copy from, one per chunk count, each loaded when first asked for."""

    def __init__(self, cluster: pgsandbox.Cluster) -> None:
        self.cluster = cluster
        self.templates: dict[int, Database] = {}

    def template(self, chunks: int) -> Database:
        if chunks not in self.templates:
            template = new_database(self.cluster)
            template.load_baseline(chunks=chunks)
            self.templates[chunks] = template
        return self.templates[chunks]

    def clone(self, chunks: int = DEFAULT_CHUNKS) -> Database:
        """A fresh copy of the template with ``chunks`` chunks (a file copy: fast). The caller drops it."""
        return new_database(self.cluster, self.template(chunks).name)

    def drop(self) -> None:
        for template in self.templates.values():
            drop_database(self.cluster, template.name)
        self.templates.clear()


@pytest.fixture(scope="session")
def legacy_templates(cluster):
    templates = LegacyTemplates(cluster)
    yield templates
    templates.drop()


@pytest.fixture
def legacy_db(request, cluster, legacy_templates):
    """A fresh legacy KnowledgeHub database for one test (see the module's docstring)."""
    marker = request.node.get_closest_marker("legacy_chunks")
    database = legacy_templates.clone(marker.args[0] if marker else DEFAULT_CHUNKS)
    yield database
    drop_database(cluster, database.name, derived=True)


@pytest.fixture
def migrations_copy(tmp_path):
    """A private copy of migrations/ that a test may alter."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target
