# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The states pg_backup and pg_restore put databases in, journaled so that a crash never leaves one behind.

A run changes a database's state (it refuses connections while its sessions drain, a copy is
being made or restored into, a recovery point is opened for its row counts) only together with
a journal entry on that database, written in the SAME transaction as the change, or before it
when the change cannot run in a transaction (CREATE DATABASE): the database's COMMENT becomes
``knowledgehub.migration state: {json}``, which holds the comment it had, the state to put back
and the session of the run (pid and start) that owns it. Comments live in a shared catalog:
readable from any database of the server, transactional, and writable by the database's owner,
which every one of these changes needs anyway (a custom setting would need a superuser).

``settle``, at the start of every run of pg_backup and pg_restore, reads every journal entry of
the server. An entry whose session is gone was left by an interrupted run: it is undone (the
database accepts connections again and gets its comment back; an incomplete copy is dropped) or
finished (a recovery point whose manifest was written gets its final comment). An entry whose
session still runs belongs to a run in progress and is left alone. A failed restore kept with
``keep_failed`` is listed, never dropped. What is done, or cannot be, is reported.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import ConnectionFailure, pgsql, psycopg2

JOURNAL_PREFIX = "knowledgehub.migration state: "


def transaction(cur: Any, statements: list[Any]) -> None:
    """Run ``statements`` in one transaction on an autocommit connection: all of them or none."""
    cur.execute("BEGIN")
    try:
        for statement in statements:
            if statement is not None:
                cur.execute(statement)
        cur.execute("COMMIT")
    except BaseException:
        if not cur.connection.closed:
            try:
                cur.execute("ROLLBACK")
            except psycopg2.Error:
                pass
        raise


def comment_sql(name: str, text: str | None) -> Any:
    return pgsql.SQL("COMMENT ON DATABASE {db} IS {text}").format(
        db=pgsql.Identifier(name), text=pgsql.Literal(text) if text is not None else pgsql.SQL("NULL"))


def allow_sql(name: str, allow: bool) -> Any:
    return pgsql.SQL("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS {v}").format(
        db=pgsql.Identifier(name), v=pgsql.SQL("true" if allow else "false"))


def parse(comment: str | None) -> dict[str, Any] | None:
    """The journal entry a database's comment holds, or None (an ordinary comment, or none)."""
    if not comment or not comment.startswith(JOURNAL_PREFIX):
        return None
    try:
        state = json.loads(comment[len(JOURNAL_PREFIX):])
    except ValueError:
        return {"unreadable": comment}
    return state if isinstance(state, dict) else {"unreadable": comment}


class Journal:
    """The journal of one run: its session on the maintenance database is the owner of what it writes."""

    def __init__(self, cur: Any, by: str) -> None:
        self.cur = cur
        cur.execute("SELECT pg_backend_pid(), backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        pid, started = cur.fetchone()
        self.owner = {"pid": int(pid), "backend_start": started.isoformat() if started else None, "by": by,
                      "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    def comment(self, name: str) -> str | None:
        """The comment ``name`` has for its operator: the one its journal entry keeps, or its own."""
        self.cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                         (name,))
        row = self.cur.fetchone()
        comment = row[0] if row else None
        state = parse(comment)
        return state.get("comment") if state is not None else comment

    def mark(self, name: str, comment: Any = ..., **state: Any) -> Any:
        """The statement that journals ``state`` on database ``name`` (keeping ``comment``, by default its own)."""
        body = dict(state, owner=self.owner, comment=self.comment(name) if comment is ... else comment)
        return comment_sql(name, JOURNAL_PREFIX + json.dumps(body, sort_keys=True, default=str))


# -- the next run ---------------------------------------------------------------------------------


def _in_progress(cur: Any, owner: dict[str, Any]) -> bool:
    """The owner's session still runs (its start is compared when the role may see it)."""
    if not owner.get("pid"):
        return False
    cur.execute("SELECT backend_start FROM pg_stat_activity WHERE pid = %s", (owner["pid"],))
    row = cur.fetchone()
    if row is None:
        return False
    return row[0] is None or owner.get("backend_start") is None or row[0].isoformat() == owner["backend_start"]


def _owner_and_comment(cur: Any, name: str) -> tuple[str, str | None] | None:
    cur.execute("SELECT pg_get_userbyid(datdba), shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = %s", (name,))
    row = cur.fetchone()
    return (row[0], row[1]) if row else None


def _drop(cur: Any, name: str) -> None:
    force = " WITH (FORCE)" if int(cur.connection.server_version) >= 130000 else ""
    cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {db}" + force).format(db=pgsql.Identifier(name)))


def _recorded(unrecorded: dict[str, Any], name: str) -> bool:
    """A recovery point's manifest was written (the run died before the point got its final comment)."""
    try:
        with open(str(unrecorded.get("manifest")), encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError, TypeError):
        return False
    return isinstance(manifest, dict) and manifest.get("backup_id") == unrecorded.get("backup_id") and \
        (manifest.get("clone") or {}).get("database") == name


def _actions(cur: Any, name: str, allowed: bool, state: dict[str, Any]) -> list[tuple[str, Any]]:
    """What undoes (or finishes) ``state`` on ``name``: (sentence, how) pairs; how is a list of statements to run
    in one transaction, or ("drop", database)."""
    if state.get("unrecorded"):
        unrecorded = state["unrecorded"]
        if _recorded(unrecorded, name):
            sentence = "finished recovery point %s (its manifest %s was written)" % (
                unrecorded.get("backup_id"), unrecorded.get("manifest"))
            return [(sentence, [allow_sql(name, False), comment_sql(name, unrecorded.get("final_comment"))])]
        return [("dropped the recovery point %s, whose manifest was never written" % unrecorded.get("backup_id"),
                 ("drop", name))]
    if state.get("drop"):
        return [("dropped %s" % state["drop"], ("drop", name))]
    actions: list[tuple[str, Any]] = []
    copy = state.get("copy")
    found = _owner_and_comment(cur, copy) if copy and copy != name else None
    # On the word of a comment on ``name``, only a database of the same owner is ever dropped: one that owner could
    # drop anyway. A copy marked as the tool's own is settled by its own entry.
    if found is not None and parse(found[1]) is None:
        owner = (_owner_and_comment(cur, name) or ("",))[0]
        if found[0] == owner:
            actions.append(("dropped %s, the copy it was making (never marked as the tool's own)" % copy,
                            ("drop", copy)))
        else:
            actions.append(("left %s alone, the copy it was making: owned by %s, not by %s (%s's owner); drop it "
                            "yourself if it is that copy" % (copy, found[0], owner, name), None))
    statements = []
    sentence = "its comment put back"
    if "allow_connections" in state and bool(state["allow_connections"]) != allowed:
        statements.append(allow_sql(name, bool(state["allow_connections"])))
        sentence = "ALLOW_CONNECTIONS %s again, %s" % (str(bool(state["allow_connections"])).lower(), sentence)
    statements.append(comment_sql(name, state.get("comment")))
    actions.append((sentence, statements))
    return actions


def settle(cur: Any, check_mode: bool) -> dict[str, Any]:
    """Undo or finish what interrupted runs left on this server (see the module's docstring).

    Returns ``settled`` (or ``would_settle`` in check mode), ``not_settled`` (runs in progress, kept failed
    restores, what could not be done) and the warnings that say so.
    """
    cur.execute("SELECT datname, datallowconn, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE shobj_description(oid, 'pg_database') LIKE %s ORDER BY datname", (JOURNAL_PREFIX + "%",))
    done: list[dict[str, Any]] = []
    left: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name, allowed, comment in cur.fetchall():
        state = parse(comment) or {}
        owner = state.get("owner") or {}
        if state.get("kept"):
            left.append({"database": name, "reason": "%s. It is kept, never dropped by this tool: drop it when done "
                                                     "(DROP DATABASE)" % state["kept"]})
            continue
        if "unreadable" in state:
            left.append({"database": name, "reason": "its journal entry cannot be read: %r" % state["unreadable"]})
            continue
        if _in_progress(cur, owner):
            left.append({"database": name, "reason": "in progress: %s, session pid %s since %s"
                                                     % (owner.get("by"), owner.get("pid"), owner.get("since"))})
            continue
        entry = {"database": name, "left_by": owner.get("by"), "since": owner.get("since"), "actions": []}
        try:
            for sentence, how in _actions(cur, name, bool(allowed), state):
                if not check_mode:
                    _run(cur, how)
                entry["actions"].append(sentence)
        except psycopg2.Error as exc:
            left.append({"database": name, "reason": "cannot settle what an interrupted run of %s left: %s"
                                                     % (owner.get("by"), first_line(exc))})
            continue
        done.append(entry)
    for entry in done:
        warnings.append("%s interrupted run of %s (since %s) had left database %s in a state of its own: %s."
                        % ("An" if not check_mode else "Would settle: an", entry["left_by"], entry["since"],
                           entry["database"], "; ".join(entry["actions"])))
    for entry in left:
        warnings.append("Database %s was left as it is: %s." % (entry["database"], entry["reason"]))
    return {"would_settle" if check_mode else "settled": done, "not_settled": left, "warnings": warnings}


def _run(cur: Any, how: Any) -> None:
    if how is None:
        return
    if isinstance(how, tuple):
        _drop(cur, how[1])
    else:
        transaction(cur, how)


def settle_into(result: dict[str, Any], cur: Any, check_mode: bool) -> None:
    """``settle``, its findings and warnings added to ``result``."""
    found = settle(cur, check_mode)
    result.setdefault("warnings", []).extend(found.pop("warnings"))
    result.update(found)


def settle_on(target: Any, maintenance_db: str | None, check_mode: bool, result: dict[str, Any]) -> None:
    """``settle_into`` through a connection of its own to the maintenance database. A server that cannot be
    reached there is said in a warning (the run itself may not need that database)."""
    try:
        conn = target.on(maintenance_db or "postgres").connect("settle", autocommit=True)
    except ConnectionFailure as exc:
        result.setdefault("warnings", []).append(
            "Could not look for databases left by interrupted runs (maintenance_db %s): %s"
            % (maintenance_db or "postgres", exc.message))
        result.update({"would_settle" if check_mode else "settled": [], "not_settled": []})
        return
    try:
        settle_into(result, conn.cursor(), check_mode)
    finally:
        conn.close()
