# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test session: import paths, and the fixtures of tests/support registered once for every test.

sys.path gets tests/ (the helpers: ``from support.modules import ok``), tools/
(pgsandbox, collection_path) and .collections (``ansible_collections.knowledgehub.migration``
of this checkout). Test files import helpers from ``support.*``, never from a conftest.
"""

from __future__ import annotations

import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.join(os.path.dirname(TESTS), "tools")]

# The shared helpers assert (ok(), failed(), nothing_recorded() ...): pytest rewrites them as it does test files.
pytest.register_assert_rewrite("support")

from collection_path import link_collection  # noqa: E402  pylint: disable=wrong-import-position

link_collection()

# pytest reads pytest_plugins only in the root conftest.
pytest_plugins = ["support.fixtures", "support.backup_fixtures", "support.compose_fixtures", "support.adversarial"]
