# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pg_backup leaves in a backup directory."""

from __future__ import annotations

import json
import os

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup_store, _manifests


def manifest_of(result: dict) -> dict:
    """The manifest a pg_backup result names."""
    with open(result["manifest"], encoding="utf-8") as handle:
        return json.load(handle)


def nothing_recorded(backup_dir: str, label: str | None = None) -> None:
    """No backup counted as good: no manifest, no archive, nothing retention would count."""
    if not os.path.isdir(backup_dir):
        return
    leftovers = [n for n in os.listdir(backup_dir) if not n.endswith(_backup_store.FAILED_SUFFIX)]
    assert leftovers == [], leftovers
    if label:
        assert _manifests.good_backups(backup_dir, label) == []


def backup_files(backup_dir) -> list[str]:
    """The names in ``backup_dir``, sorted ([] when it does not exist)."""
    return sorted(os.listdir(backup_dir)) if os.path.isdir(backup_dir) else []
