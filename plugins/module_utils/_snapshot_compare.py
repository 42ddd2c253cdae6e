# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A snapshot (``_snapshot``) against the database now: which rows are still there unchanged.

Each table is hashed again over the SAME columns the snapshot hashed (columns a migration added since, such as
004's on ai_memories, are not part of it), in one REPEATABLE READ READ ONLY transaction with the same pinned
settings. Every row of the snapshot is then

* ``unchanged``: there, same digest;
* ``changed``: there, another digest;
* ``changed_by_application``: another digest, and the table has an ``updated_at`` column (in the snapshot) whose value
  is now later than the snapshot's moment. That is a hint, not a proof, so these rows are not counted as
  preserved either: a writer may set ``updated_at`` from its own clock, a transaction that began before the snapshot
  and committed after it has an older ``updated_at``, the application may change a row without touching it
  (KnowledgeHub's usage counters), and a migration that sets it would be taken for the application;
* ``missing``: gone.

Only the rows written since the snapshot are hashed again. A row version whose xmin is older than the snapshot's xmin
was written by a transaction that ended before the snapshot, and row versions never change (an UPDATE writes a new
one with a new xmin; VACUUM FULL and CLUSTER copy them as they are): it is the very row the snapshot read, so its
digest is the recorded one. That holds in the same database, table and server lifetime: when the database's or the
table's OID differs (a clone swapped in, a table replaced), the server restarted since (its files may have been
restored) or the snapshot has no horizon, every row is hashed again, as with ``rehash=all``. On KnowledgeHub's
1.4 GiB the compare after 005 hashes the 66 000 memories 005 updated, not the 330 000 chunks it only read.

Rows added since the snapshot are counted apart (``added``): they are no loss. ``data_preserved_percent`` is
unchanged rows over snapshot rows, rounded DOWN to 2 decimals, so one lost row in a million never reads 100.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._progress import reporter
from ansible_collections.knowledgehub.migration.plugins.module_utils._snapshot import horizon, rows_query, stream
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import pgsql, psycopg2
from ansible_collections.knowledgehub.migration.plugins.module_utils._validate_expect import check

STATUSES = ("unchanged", "changed", "changed_by_application", "missing", "added")
# Differences kept per table (for the details file; the result keeps fewer).
KEEP = 10000
EXAMPLES = 3


def preserved_percent(unchanged: int, total: int) -> float:
    """``unchanged / total`` in percent, rounded down to 2 decimals (100.0 for an empty snapshot)."""
    if total <= 0:
        return 100.0
    return math.floor(unchanged * 10000 / total) / 100


def classify(snapshot: dict[str, str], current: Iterable[tuple], keep: int = KEEP) -> dict[str, Any]:
    """Compare a snapshot's digests (key -> digest; consumed) with the rows now: (key, digest) or (key, digest,
    newer); a digest None is a row version the snapshot read (not hashed again). Returns the counts per status, how
    many rows were hashed, and up to ``keep`` differences [(key, status)], missing ones last."""
    counts = {s: 0 for s in STATUSES}
    differences: list[tuple[str, str]] = []
    rehashed = 0
    for row in current:
        key, digest = row[0], row[1]
        rehashed += digest is not None
        old = snapshot.pop(key, None)
        if old is None:
            counts["added"] += 1
            continue
        if digest is None or old == digest:
            counts["unchanged"] += 1
            continue
        status = "changed_by_application" if len(row) > 2 and row[2] else "changed"
        counts[status] += 1
        if len(differences) < keep:
            differences.append((key, status))
    counts["missing"] = len(snapshot)
    for key in sorted(snapshot)[:max(0, keep - len(differences))]:
        differences.append((key, "missing"))
    return {"counts": counts, "differences": differences, "rehashed": rehashed}


def unread_rows_reason(now: dict[str, Any], document: dict[str, Any]) -> str:
    """'' when the rows written before the snapshot's xmin are the ones it read (the same database, no restart
    since, the xid counter far from wrapping), else why every row has to be hashed again."""
    then = document.get("horizon")
    if not isinstance(then, dict) or not all(isinstance(then.get(k), int) for k in ("xmin", "xid", "database_oid")):
        return "the snapshot records no horizon"
    if now["database_oid"] != then["database_oid"]:
        return "the database is not the one the snapshot read (another OID: restored, cloned or swapped since)"
    if now["server_started"] != then.get("server_started"):
        return "the server restarted since the snapshot (its files may have been restored)"
    if not 0 <= now["xmax"] - then["xmin"] < 2 ** 30:
        return "the server's transaction counter is not where the snapshot left it"
    return ""


def table_verdict(name: str, rows: int, counts: dict[str, int], differences: list[tuple[str, str]],
                  note: str = "") -> dict[str, Any]:
    """The check of one table: fail on a missing or changed row, warn on rows changed by the application only."""
    lost = counts["missing"] + counts["changed"]
    status = "fail" if lost else "warn" if counts["changed_by_application"] else "pass"
    percent = preserved_percent(counts["unchanged"], rows)
    parts = ["%d of %d rows unchanged (%s%%)" % (counts["unchanged"], rows, _percent(percent))]
    for kind in ("missing", "changed", "changed_by_application"):
        if counts[kind]:
            keys = [k for k, s in differences if s == kind][:EXAMPLES]
            parts.append("%d %s (%s%s)" % (counts[kind], kind.replace("_", " "), "key " + ", ".join(keys),
                                           " ..." if counts[kind] > len(keys) else ""))
    if counts["added"]:
        parts.append("%d added since the snapshot (not a loss)" % counts["added"])
    if note:
        parts.append(note)
    return check("snapshot %s" % name, "data", status, "%d unchanged" % counts["unchanged"], "%d unchanged" % rows,
                 "snapshot %s: %s" % (name, "; ".join(parts)))


def _percent(value: float) -> str:
    return ("%.2f" % value).rstrip("0").rstrip(".")


def compare_table(conn: Any, name: str, entry: dict[str, Any], number: int, since: int | None,
                  reason: str) -> dict[str, Any]:
    """One table of the snapshot against the database (in the caller's transaction): counts, differences, check.
    ``since``: the snapshot's 32-bit xmin, for hashing again only the rows written since (None: every row, for
    ``reason``)."""
    schema, table = entry.get("schema") or name.split(".", 1)[0], entry.get("name") or name.split(".", 1)[1]
    columns = [c["name"] for c in entry["columns"]]
    with conn.cursor() as cur:
        cur.execute("SELECT attname, attrelid::bigint FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                    "AND attnum > 0 AND NOT attisdropped", (pgsql.Identifier(schema, table).as_string(cur),))
        found_columns = cur.fetchall()
    now = {r[0] for r in found_columns}
    if since is not None and found_columns and found_columns[0][1] != entry.get("oid"):
        since, reason = None, "the table was replaced since the snapshot (another OID)"
    rows = entry["rows"]
    if not now:
        counts = dict({s: 0 for s in STATUSES}, missing=rows)
        return _outcome(name, rows, counts, [("*", "missing")], "table %s no longer exists" % name)
    gone = [c for c in columns + entry["primary_key"] if c not in now]
    if gone:
        counts = dict({s: 0 for s in STATUSES}, changed=rows)
        return _outcome(name, rows, counts, [("*", "changed")], "column(s) %s of the snapshot no longer exist, so "
                        "every row of %s is counted as changed" % (", ".join(sorted(set(gone))), name))
    if entry.get("hashes") is None:
        with conn.cursor() as cur:
            cur.execute(pgsql.SQL("SELECT count(*) FROM ONLY {t}").format(t=pgsql.Identifier(schema, table)))
            count = int(cur.fetchone()[0])
        counts = dict({s: 0 for s in STATUSES}, unchanged=min(rows, count), missing=max(0, rows - count),
                      added=max(0, count - rows))
        return _outcome(name, rows, counts, [], "no primary key: rows are counted, not compared")
    newer = "updated_at" in columns
    query = rows_query(schema, table, entry["primary_key"], entry["columns"], newer_than=newer,
                       written_since=since is not None)
    args = ([since] if since is not None else []) + ([entry.get("taken_at")] if newer else [])
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT kh_compare")
    try:
        found = classify(entry["hashes"], stream(conn, query, args, name="kh_compare_%d" % number))
    except psycopg2.Error as exc:  # a column's type changed so that it cannot be read the snapshot's way
        if conn.closed:
            raise
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT kh_compare")
        counts = dict({s: 0 for s in STATUSES}, changed=rows)
        return _outcome(name, rows, counts, [("*", "changed")], "its rows cannot be read as the snapshot read them "
                        "(%s), so every row is counted as changed" % first_line(exc))
    outcome = _outcome(name, rows, found["counts"], found["differences"])
    outcome.update(rehashed=found["rehashed"], rehash_reason=reason)
    return outcome


def _outcome(name: str, rows: int, counts: dict[str, int], differences: list[tuple[str, str]],
             note: str = "") -> dict[str, Any]:
    return {"table": name, "rows": rows, "counts": counts, "differences": differences, "rehashed": None,
            "rehash_reason": "", "check": table_verdict(name, rows, counts, differences, note)}


def compare(conn: Any, document: dict[str, Any], rehash: str = "written") -> dict[str, Any]:
    """Every table of the snapshot; the result's ``data_preserved_percent``, ``snapshot_comparison`` (per table),
    the differences [{table, key, status}] and one check per table. ``rehash``: ``written`` hashes again the rows
    written since the snapshot (every row when that cannot be told), ``all`` every row."""
    reason = "rehash=all" if rehash == "all" else unread_rows_reason(horizon(conn), document)
    since = None if reason else document["horizon"]["xid"]
    outcomes = []
    tables = sorted(document["tables"].items())
    for number, (name, entry) in enumerate(tables):
        reporter().report("compare with the snapshot", number, len(tables), "tables", name)
        outcomes.append(compare_table(conn, name, entry, number, since, reason))
    total = sum(o["rows"] for o in outcomes)
    unchanged = sum(o["counts"]["unchanged"] for o in outcomes)
    per_table = {o["table"]: dict(o["counts"], rows_in_snapshot=o["rows"], rows_hashed_again=o["rehashed"],
                                  every_row_hashed_because=o["rehash_reason"] or None,
                                  preserved_percent=preserved_percent(o["counts"]["unchanged"], o["rows"]))
                 for o in outcomes}
    differences = [{"table": o["table"], "key": key, "status": status}
                   for o in outcomes for key, status in o["differences"]]
    totals = {s: sum(o["counts"][s] for o in outcomes) for s in STATUSES}
    return {"data_preserved_percent": preserved_percent(unchanged, total), "rows_in_snapshot": total,
            "totals": totals, "tables": per_table, "differences": differences,
            "differences_total": totals["changed"] + totals["changed_by_application"] + totals["missing"],
            "checks": [o["check"] for o in outcomes]}
