# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""migrations/expectations/*.yml: what a migration must create (004), the invariants it must keep (005), the functions
it must leave (006)."""

from __future__ import annotations

import functools
import glob
import os

import yaml

from support.paths import MIGRATIONS

EXPECTATIONS = os.path.join(MIGRATIONS, "expectations")


@functools.lru_cache(maxsize=None)
def expectations(version: str) -> dict:
    """The expectations of migration ``version`` ("004"): migrations/expectations/<version>_<name>.yml."""
    paths = glob.glob(os.path.join(EXPECTATIONS, "%s_*.yml" % version))
    if len(paths) != 1:
        raise LookupError("expected one expectations file for %s in %s, found %s" % (version, EXPECTATIONS, paths))
    with open(paths[0], encoding="utf-8") as handle:
        return yaml.safe_load(handle)
