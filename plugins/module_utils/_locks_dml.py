# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The locks of queries and of the commands that read or write whole tables.

Queries (SELECT, INSERT, UPDATE, DELETE, MERGE, and the query of CREATE VIEW
or CREATE TABLE AS) take ACCESS SHARE on what they read, ROW EXCLUSIVE on what
they write and ROW SHARE under FOR UPDATE/SHARE; LOCK TABLE, VACUUM, ANALYZE,
REINDEX, TRUNCATE, CLUSTER, REFRESH MATERIALIZED VIEW and COPY take theirs.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import (
    ACCESS_EXCLUSIVE,
    ACCESS_SHARE,
    ANY_RELATION,
    EXCLUSIVE,
    LOCK_MODES,
    ROW_EXCLUSIVE,
    ROW_SHARE,
    SHARE,
    SHARE_UPDATE_EXCLUSIVE,
    lock_on,
    stronger,
    unknown_locks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_names import (
    END_OF_LIST,
    close_paren,
    names_list,
    read_name,
    skip_words,
    split_top,
    words_of,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import Token

# Inside these functions FROM belongs to the call's syntax, not to a table list.
_FROM_FUNCTIONS = ("EXTRACT", "SUBSTRING", "TRIM", "OVERLAY")
# These end a FROM list at the same parenthesis depth.
_FROM_END = ("WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FETCH", "WINDOW", "UNION", "INTERSECT",
             "EXCEPT", "RETURNING", "SET", "VALUES", "SELECT", "WHEN")
# A word after a table name that is not its alias.
_NOT_ALIAS = _FROM_END + ("ON", "USING", "JOIN", "LEFT", "RIGHT", "FULL", "INNER", "CROSS", "NATURAL", "FOR",
                          "TABLESAMPLE", "WITH", "DEFAULT", "OVERRIDING", "AS")
_LOCKING = (("UPDATE",), ("SHARE",), ("NO", "KEY", "UPDATE"), ("KEY", "SHARE"))


def _cte_names(toks: list[Token]) -> set[str]:
    """Names defined by WITH clauses (``WITH [RECURSIVE] x [(cols)] AS [NOT] [MATERIALIZED] (...)``)."""
    names: set[str] = set()
    for i, tok in enumerate(toks):
        if tok.up != "WITH":
            continue
        j = skip_words(toks, i + 1, "RECURSIVE")
        while True:
            name, k = read_name(toks, j)
            if name is None:
                break
            if k < len(toks) and toks[k].is_op("("):
                k = close_paren(toks, k)
            if words_of(toks[k:k + 1]) != ["AS"]:
                break
            k = skip_words(toks, k + 1, "NOT", "MATERIALIZED")
            if k >= len(toks) or not toks[k].is_op("("):
                break
            names.add(name)
            j = close_paren(toks, k)
            if j >= len(toks) or not toks[j].is_op(","):
                break
            j += 1
    return names


class _QueryScan:
    """Walk a query's tokens and collect the tables it reads and writes.

    Parenthesis groups are frames: a FROM list is tracked per frame, and the
    FROM inside EXTRACT(... FROM ...) and its kin is not a table list.
    """

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.ctes = _cte_names(toks)
        self.modes: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.locked_for: list[str] | None = None  # FOR UPDATE/SHARE [OF ...]; ["*"] = every table read
        self.expect: str | None = None  # a table name comes next, to be read in this mode
        self.writes: dict[str, dict[str, Any]] = {}  # table -> {"columns": set | None (all), "delete": bool}
        self.updating: str | None = None  # UPDATE target whose SET list comes next

    def _word_at(self, i: int) -> str:
        return self.toks[i].up if 0 <= i < len(self.toks) else ""

    def record(self, name: str, mode: str, i: int) -> int:
        """Note ``name`` in ``mode``; return the index after its alias, if any."""
        if name in self.ctes:
            return i
        self.modes[name] = stronger(self.modes.get(name, mode), mode)
        self.aliases[name.split(".")[-1]] = name
        i = skip_words(self.toks, i, "AS")
        if i < len(self.toks) and self.toks[i].kind in ("word", "ident") and self.toks[i].up not in _NOT_ALIAS:
            tok = self.toks[i]
            self.aliases[tok.text.lower() if tok.kind == "word" else tok.text] = name
            i += 1
        return i

    def target(self, i: int, how: str) -> int:
        """Record the table written at ``i`` (after INSERT INTO, UPDATE, DELETE FROM, MERGE INTO)."""
        name, j = read_name(self.toks, skip_words(self.toks, i, "ONLY"))
        if not name:
            return j
        write = self.writes.setdefault(name, {"columns": set(), "delete": False})
        if how in ("INSERT", "MERGE"):
            write["columns"] = None  # every column: every foreign key is checked
        write["delete"] = write["delete"] or how == "DELETE" or how == "MERGE" and "DELETE" in words_of(self.toks)
        self.updating = name if how == "UPDATE" else None
        return self.record(name, ROW_EXCLUSIVE, j)

    def set_list(self, i: int) -> None:
        """``UPDATE t SET a = ..., (b, c) = ...``: the columns the update changes."""
        write = self.writes[self.updating] if self.updating else None
        self.updating = None
        if write is None or write["columns"] is None:
            return
        for part in split_top(self.toks, i + 1):
            names = names_list(part[1:close_paren(part, 0) - 1], 0) if part[0].is_op("(") else \
                [read_name(part, 0)[0]]
            write["columns"].update(n for n in names if n)
            if any(t.up in ("FROM", "WHERE", "RETURNING") for t in part):
                break

    def locking_clause(self, i: int) -> None:
        """``FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE [OF a, b]`` at ``i``."""
        j = i + 1
        for words in _LOCKING:
            if tuple(words_of(self.toks[j:j + len(words)])) == words:
                j += len(words)
                break
        else:
            return
        self.locked_for = self.locked_for or []
        if self._word_at(j) != "OF":
            self.locked_for.append(ANY_RELATION)
            return
        for part in split_top(self.toks, j + 1):
            name, _end = read_name(part, 0)
            if name:
                self.locked_for.append(name)

    def keyword(self, i: int, frame: dict[str, bool]) -> int:
        """Handle the token at ``i`` outside a table-name position; return the next index."""
        tok, word, nxt = self.toks[i], self.toks[i].up, self._word_at(i + 1)
        prev = self.toks[i - 1] if i > 0 else None
        if word in ("INSERT", "MERGE") and nxt == "INTO":
            return self.target(i + 2, word)
        if word == "UPDATE" and (prev is None or prev.is_op("(") or prev.is_op(")")):
            return self.target(i + 1, word)
        if word == "DELETE" and nxt == "FROM":
            return self.target(i + 2, word)
        if word == "SET" and self.updating:
            self.set_list(i)
        if word == "FROM" and self._word_at(i - 1) != "DISTINCT" or word == "USING" and nxt:
            frame["from"] = True
            self.expect = ACCESS_SHARE
        elif word == "JOIN" or tok.is_op(",") and frame["from"]:
            self.expect = ACCESS_SHARE
        elif word == "FOR":
            self.locking_clause(i)
            frame["from"] = False
        elif word in _FROM_END:
            frame["from"] = False
        return i + 1

    def table_name(self, i: int) -> int | None:
        """At a table-name position: record the table and return the next index, or None."""
        mode, self.expect = self.expect, None
        name, j = read_name(self.toks, skip_words(self.toks, i, "LATERAL", "ONLY"))
        if name is None or j < len(self.toks) and self.toks[j].is_op("("):
            return None  # a subquery or a function in FROM
        return self.record(name, mode or ACCESS_SHARE, j)

    def run(self, start: int = 0) -> list[dict[str, Any]]:
        frames = [{"call": False, "from": False}]
        i = start
        while i < len(self.toks):
            tok = self.toks[i]
            if tok.is_op("(") or tok.is_op("["):
                frames.append({"call": tok.is_op("(") and self._word_at(i - 1) in _FROM_FUNCTIONS, "from": False})
                self.expect = None
                i += 1
            elif tok.is_op(")") or tok.is_op("]"):
                frames = frames[:-1] or frames
                i += 1
            elif frames[-1]["call"]:
                i += 1
            else:
                after = self.table_name(i) if self.expect is not None else None
                i = after if after is not None else self.keyword(i, frames[-1])
        return self.locks()

    def locks(self) -> list[dict[str, Any]]:
        out = []
        for name, mode in self.modes.items():
            note = ""
            if mode == ACCESS_SHARE and self.locked_for is not None:
                wanted = {self.aliases.get(n, n) for n in self.locked_for}
                if ANY_RELATION in wanted or name in wanted:
                    mode, note = ROW_SHARE, "SELECT ... FOR UPDATE/SHARE"
            elif mode == ROW_EXCLUSIVE:
                note = "written"
            out.append(dict(lock_on(name, mode, note), written=self.writes.get(name)))
        return out


def query_locks(toks: list[Token], start: int = 0) -> list[dict[str, Any]]:
    return _QueryScan(toks).run(start)


# -- LOCK, maintenance, TRUNCATE, COPY ----------------------------------------

def lock_table(toks: list[Token]) -> list[dict[str, Any]]:
    """``LOCK [TABLE] [ONLY] name [*] [, ...] [IN mode MODE] [NOWAIT]`` (default ACCESS EXCLUSIVE)."""
    words = words_of(toks)
    mode, end = ACCESS_EXCLUSIVE, len(toks)
    if "IN" in words and "MODE" in words[words.index("IN"):]:
        end = words.index("IN")
        mode = " ".join(words[end + 1:words.index("MODE", end)])
        if mode not in LOCK_MODES:
            return unknown_locks("LOCK TABLE in an unknown mode: %s" % mode)
    return [lock_on(n, mode, "LOCK TABLE") for n in names_list(toks[:end], skip_words(toks, 1, "TABLE"), ("NOWAIT",))]


def _maintenance(toks: list[Token], mode: str, label: str) -> list[dict[str, Any]]:
    """ANALYZE / VACUUM [options] [table [(columns)], ...]; no table means every table."""
    i = 1
    while i < len(toks) and (toks[i].up in ("VERBOSE", "FULL", "FREEZE", "ANALYZE", "ANALYSE", "SKIP_LOCKED")
                             or i == 1 and toks[i].is_op("(")):
        end = close_paren(toks, i) if toks[i].is_op("(") else i + 1
        if "FULL" in words_of(toks[i:end]):
            mode, label = ACCESS_EXCLUSIVE, "VACUUM FULL rewrites the table"
        i = end
    names = names_list(toks, i)
    return [lock_on(n, mode, label) for n in names] or [lock_on(ANY_RELATION, mode, "%s of every table" % label)]


def vacuum(toks: list[Token]) -> list[dict[str, Any]]:
    return _maintenance(toks, SHARE_UPDATE_EXCLUSIVE, "VACUUM (cannot run inside a transaction)")


def analyze(toks: list[Token]) -> list[dict[str, Any]]:
    return _maintenance(toks, SHARE_UPDATE_EXCLUSIVE, "ANALYZE")


def reindex(toks: list[Token]) -> list[dict[str, Any]]:
    i = close_paren(toks, 1) if len(toks) > 1 and toks[1].is_op("(") else 1
    kind = toks[i].up if i < len(toks) else ""
    concurrently = "CONCURRENTLY" in words_of(toks[i:i + 2])
    name, _end = read_name(toks, skip_words(toks, i + 1, "CONCURRENTLY"))
    if concurrently:
        return [lock_on(name or ANY_RELATION, SHARE_UPDATE_EXCLUSIVE, "REINDEX CONCURRENTLY")]
    if kind == "TABLE":
        return [lock_on(name or "?", SHARE, "REINDEX TABLE: writes wait; each of its indexes ACCESS EXCLUSIVE")]
    if kind == "INDEX":
        return [lock_on(name or "?", ACCESS_EXCLUSIVE, "index being rebuilt; its table is locked SHARE")]
    return [lock_on(ANY_RELATION, SHARE, "REINDEX %s: every table SHARE, every index ACCESS EXCLUSIVE" % kind)]


def truncate(toks: list[Token]) -> list[dict[str, Any]]:
    note = "TRUNCATE" + (" CASCADE: every table referencing it too" if "CASCADE" in words_of(toks) else "")
    names = names_list(toks, skip_words(toks, 1, "TABLE"), ("RESTART", "CONTINUE") + END_OF_LIST)
    return [lock_on(n, ACCESS_EXCLUSIVE, note) for n in names]


def cluster(toks: list[Token]) -> list[dict[str, Any]]:
    names = names_list(toks, skip_words(toks, 1, "VERBOSE"))
    if names:
        return [lock_on(names[0], ACCESS_EXCLUSIVE, "CLUSTER rewrites the table")]
    return [lock_on(ANY_RELATION, ACCESS_EXCLUSIVE, "CLUSTER of every clustered table")]


def refresh(toks: list[Token]) -> list[dict[str, Any]]:
    concurrently = "CONCURRENTLY" in words_of(toks)
    name, _end = read_name(toks, skip_words(toks, 1, "MATERIALIZED", "VIEW", "CONCURRENTLY"))
    return [lock_on(name or "?", EXCLUSIVE if concurrently else ACCESS_EXCLUSIVE,
                    "and ACCESS SHARE on the tables its query reads")]


def copy(toks: list[Token]) -> list[dict[str, Any]]:
    if len(toks) > 1 and toks[1].is_op("("):
        return query_locks(toks, 1)
    name, i = read_name(toks, 1)
    if "FROM" in words_of(toks[i:]):
        return [dict(lock_on(name or "?", ROW_EXCLUSIVE, "COPY FROM"), written={"columns": None, "delete": False})]
    return [lock_on(name or "?", ACCESS_SHARE, "COPY TO")]
