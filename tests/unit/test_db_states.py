# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The journal of database states without a database: what a comment says (the crashes themselves are
tests/adversarial/test_kill_states.py, against a real server)."""

from __future__ import annotations

from ansible_collections.knowledgehub.migration.plugins.module_utils import _db_states


def test_only_a_journal_entry_is_read_as_one():
    assert _db_states.parse(None) is None
    assert _db_states.parse("the live one") is None
    assert _db_states.parse('knowledgehub.migration recovery point of kh, now (backup_id kh_1)') is None
    assert _db_states.parse(_db_states.JOURNAL_PREFIX + '{"allow_connections": true, "comment": null}') == {
        "allow_connections": True, "comment": None}
    assert _db_states.parse(_db_states.JOURNAL_PREFIX + "{broken") == {
        "unreadable": _db_states.JOURNAL_PREFIX + "{broken"}
    assert _db_states.parse(_db_states.JOURNAL_PREFIX + "[1]") == {"unreadable": _db_states.JOURNAL_PREFIX + "[1]"}
