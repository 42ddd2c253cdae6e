# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lock modes: their order, what each makes other sessions wait for, and one lock entry per relation.

The modes follow PostgreSQL 15 (explicit-locking.html). A lock entry is
``{relation, mode, note}``; ``mode`` is one of ``LOCK_MODES`` or ``UNKNOWN``
(then ``relation`` is ``ANY_RELATION`` and ``note`` says why).
"""

from __future__ import annotations

from typing import Any

ACCESS_SHARE = "ACCESS SHARE"
ROW_SHARE = "ROW SHARE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
SHARE = "SHARE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
EXCLUSIVE = "EXCLUSIVE"
ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
UNKNOWN = "unknown"

# Weakest first, as PostgreSQL numbers them.
LOCK_MODES = (ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE,
              EXCLUSIVE, ACCESS_EXCLUSIVE)

BLOCKS = {
    ACCESS_SHARE: "only ACCESS EXCLUSIVE (DDL that drops or rewrites the table)",
    ROW_SHARE: "EXCLUSIVE and ACCESS EXCLUSIVE",
    ROW_EXCLUSIVE: "SHARE and stronger (CREATE INDEX, LOCK ... IN SHARE MODE, most DDL)",
    SHARE_UPDATE_EXCLUSIVE: "other DDL, VACUUM, ANALYZE and CREATE INDEX CONCURRENTLY; not reads or writes",
    SHARE: "writes (INSERT, UPDATE, DELETE); reads go on",
    SHARE_ROW_EXCLUSIVE: "writes (INSERT, UPDATE, DELETE); reads go on",
    EXCLUSIVE: "writes and SELECT ... FOR UPDATE/SHARE; plain reads go on",
    ACCESS_EXCLUSIVE: "everything, SELECT included",
    UNKNOWN: "cannot be told from the text",
}

NEW_NOTE = "created in this migration: no other session can be waiting on it"
ANY_RELATION = "*"


def lock_on(relation: str, mode: str, note: str = "") -> dict[str, Any]:
    return {"relation": relation, "mode": mode, "note": note}


def unknown_locks(note: str) -> list[dict[str, Any]]:
    return [lock_on(ANY_RELATION, UNKNOWN, note)]


def stronger(a: str, b: str) -> str:
    if UNKNOWN in (a, b):
        return a if b == UNKNOWN else b
    return a if LOCK_MODES.index(a) >= LOCK_MODES.index(b) else b


def merge(locks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per relation: its strongest mode, the notes joined."""
    merged: dict[str, dict[str, Any]] = {}
    for item in locks:
        have = merged.get(item["relation"])
        if have is None:
            merged[item["relation"]] = dict(item)
            continue
        have["mode"] = stronger(have["mode"], item["mode"])
        if item["note"] and item["note"] not in have["note"]:
            have["note"] = "; ".join(n for n in (have["note"], item["note"]) if n)
    return list(merged.values())


def describe_mode(mode: str) -> str:
    """What a lock mode makes other sessions wait for."""
    return BLOCKS.get(mode, BLOCKS[UNKNOWN])
