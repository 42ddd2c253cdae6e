# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores without a database: row counts compared with the manifest, the tables that hold data."""

from __future__ import annotations

from ansible_collections.knowledgehub.migration.plugins.module_utils import _restore


def test_row_count_comparison_and_data_tables():
    assert _restore.compare_counts({"public.a": 3, "public.b": 1}, {"public.a": 3, "public.b": None}) == [
        "public.b: missing rows, the backup has 1"]
    assert _restore.compare_counts({"public.a": 3}, {"public.a": 2}) == ["public.a: 2 rows, the backup has 3"]
    manifest = {"verification": {"entries": [["TABLE", "public", "a"], ["TABLE DATA", "public", "a"]]},
                "row_counts": {"public.a": 1}}
    assert _restore.data_tables(manifest) == [("public", "a")]
    assert _restore.data_tables({"row_counts": {"s.t": 1}}) == [("s", "t")]
