# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection of this checkout as ``ansible_collections.knowledgehub.migration``, for the tests and the benchmarks.

``make collections`` makes the same link (ansible.cfg: collections_path = .collections);
``link_collection()`` makes it when it is missing, so that pytest or a benchmark started
on its own can import the collection's code, and run its modules with
``PYTHONPATH=COLLECTIONS``.
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".collections")


def link_collection() -> str:
    """Make ``ansible_collections.knowledgehub.migration`` importable from this checkout; returns COLLECTIONS.

    Creates the relative link .collections/ansible_collections/knowledgehub/migration -> ../../.. when it is
    missing and puts COLLECTIONS on sys.path.
    """
    parent = os.path.join(COLLECTIONS, "ansible_collections", "knowledgehub")
    link = os.path.join(parent, "migration")
    if not os.path.lexists(link):
        os.makedirs(parent, exist_ok=True)
        os.symlink(os.path.relpath(REPO, parent), link)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    return COLLECTIONS
