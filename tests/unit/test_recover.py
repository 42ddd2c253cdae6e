# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_recover's pure logic: which run, which point, in which order, and the journal's name."""

from __future__ import annotations

import uuid

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._recover import (
    RecoverError,
    journal_path,
    pick,
    version_key,
)


def point(purpose: str, kind: str = "dump", created: str = "2026-11-30T10:00:00+00:00", backup_id: str = ""):
    return ("/b/%s.manifest.json" % (backup_id or purpose), {
        "backup_id": backup_id or "%s_%s" % (purpose, kind), "kind": kind, "purpose": purpose, "created_at": created,
        "run_id": str(uuid.UUID(int=1))})


def test_versions_are_ordered_as_the_runner_orders_them():
    assert sorted(["10", "9", "006", "6_x", "", None], key=version_key) == ["", None, "006", "6_x", "9", "10"]
    assert version_key("004") > version_key("003") and version_key("10") > version_key("9")


def test_a_clone_is_preferred_to_a_dump_of_the_same_point():
    points = [point("before", "dump"), point("after_data", "clone"), point("before", "clone")]
    assert [m["backup_id"] for _p, m in pick(points, "before")] == ["before_clone", "before_dump"]
    assert [m["backup_id"] for _p, m in pick(points, "after_data")] == ["after_data_clone"]
    assert pick(points, "after_schema") == []


def test_a_point_named_by_its_backup_id():
    points = [point("before", backup_id="kh_20261130T100000Z"), point("after_data", backup_id="kh_20261130T110000Z")]
    assert [m["purpose"] for _p, m in pick(points, "kh_20261130T110000Z")] == ["after_data"]


@pytest.mark.parametrize("label", ["../x", "a/b", ".hidden", ""])
def test_a_label_that_cannot_name_a_plain_file_is_refused(label):
    with pytest.raises(RecoverError):
        journal_path("/var/backups/knowledgehub", label)


def test_the_journal_sits_in_the_backup_directory():
    assert journal_path("/var/backups/kh", "knowledgehub") == "/var/backups/kh/knowledgehub.recover.json"
