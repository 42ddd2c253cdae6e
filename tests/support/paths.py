# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where things are, and the collection made importable from this checkout (``link_collection``).

``link_collection`` lives in tools/collection_path.py, the one place the tests and the
benchmarks (bench/) both import it from; tests/conftest.py puts tools/ on sys.path.
"""

from __future__ import annotations

import os

from collection_path import COLLECTIONS, REPO, link_collection  # tools/

TESTS = os.path.join(REPO, "tests")
MIGRATIONS = os.path.join(REPO, "migrations")
SAMPLE_DATA = os.path.join(REPO, "tools", "sample_data.sql")

__all__ = ["COLLECTIONS", "MIGRATIONS", "REPO", "SAMPLE_DATA", "TESTS", "link_collection"]
