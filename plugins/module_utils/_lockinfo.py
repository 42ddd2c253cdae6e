# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The table-level locks a statement takes, read from its text (check mode runs nothing).

An operator deciding when to run a migration needs to know which tables the
application will wait on, and how badly: ACCESS EXCLUSIVE stops even SELECT,
SHARE stops writers, SHARE UPDATE EXCLUSIVE only stops other DDL. The modes
follow PostgreSQL 15 (explicit-locking.html and each command's page) and were
checked against pg_locks on a PostgreSQL 15 server. Inside the runner's
transaction every lock is held until the file commits, so the strongest lock
per table over the whole file (``strongest_locks``) is the number that matters.

This is a careful tokenizer, not a SQL parser: it knows the common DDL and DML
forms and says ``unknown`` rather than guess (procedural code, statements it
does not recognise). Unqualified names are reported as written (schema public
is assumed; ``public.x`` is reported as ``x``).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, NamedTuple

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

_PROCEDURAL = "procedural code: the locks it takes are known only when it runs"


class _Tok(NamedTuple):
    kind: str  # "word", "ident" (quoted identifier), "str", "num", "op"
    text: str  # word as written, identifier without quotes, operator characters

    @property
    def up(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    def is_op(self, chars: str) -> bool:
        return self.kind == "op" and self.text == chars


# -- tokenizer ----------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+")
_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_OPERATOR = re.compile(r"[+\-*/<>=~!@#%^&|`?:]+")


def _skip_comment(text: str, pos: int) -> int:
    """Index after the comment at ``pos`` (``--`` or nested ``/* */``), or ``pos`` if none."""
    if text.startswith("--", pos):
        end = text.find("\n", pos)
        return len(text) if end < 0 else end + 1
    if not text.startswith("/*", pos):
        return pos
    depth = 0
    while pos < len(text):
        if text.startswith("/*", pos):
            depth, pos = depth + 1, pos + 2
        elif text.startswith("*/", pos):
            depth, pos = depth - 1, pos + 2
            if depth == 0:
                return pos
        else:
            pos += 1
    return pos


def _quoted(text: str, pos: int, quote: str, escapes: bool) -> tuple[str, int]:
    """The content of the literal or identifier opening at ``pos``, and the index after it."""
    out = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if escapes and char == "\\":
            out.append(text[pos:pos + 2])
            pos += 2
        elif char == quote and text.startswith(quote * 2, pos):
            out.append(quote)
            pos += 2
        elif char == quote:
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos


def _token_at(text: str, pos: int, prev: _Tok | None) -> tuple[_Tok, int]:
    char = text[pos]
    if char in "'\"":
        escapes = char == "'" and prev is not None and prev.kind == "word" and prev.up == "E"
        value, end = _quoted(text, pos, char, escapes)
        return _Tok("ident" if char == '"' else "str", value), end
    dollar = _DOLLAR.match(text, pos)
    if dollar:
        close = text.find(dollar.group(0), dollar.end())
        end = len(text) if close < 0 else close + len(dollar.group(0))
        return _Tok("str", text[dollar.end():close if close >= 0 else end]), end
    for kind, pattern in (("word", _WORD), ("num", _NUMBER), ("op", _OPERATOR)):
        match = pattern.match(text, pos)
        if match:
            return _Tok(kind, match.group(0)), match.end()
    return _Tok("op", char), pos + 1


def tokenize(text: str) -> list[_Tok]:
    """Words, quoted identifiers, literals, numbers and operators; comments dropped."""
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        after = _skip_comment(text, pos)
        if after != pos:
            pos = after
            continue
        tok, pos = _token_at(text, pos, tokens[-1] if tokens else None)
        tokens.append(tok)
    return tokens


# -- names --------------------------------------------------------------------

def _render(parts: list[str]) -> str:
    """``["public", "t"]`` -> ``t``; a part that needs quotes keeps them."""
    if len(parts) == 2 and parts[0] == "public":
        parts = parts[1:]
    return ".".join(p if re.fullmatch(r"[a-z_][a-z0-9_$]*", p) else '"%s"' % p.replace('"', '""') for p in parts)


def _read_parts(toks: list[_Tok], i: int) -> tuple[list[str], int]:
    """The parts of a (schema-qualified, possibly quoted) name at ``i``; unquoted parts fold to lower case."""
    parts: list[str] = []
    while i < len(toks) and toks[i].kind in ("word", "ident"):
        parts.append(toks[i].text.lower() if toks[i].kind == "word" else toks[i].text)
        i += 1
        if i + 1 < len(toks) and toks[i].is_op(".") and toks[i + 1].kind in ("word", "ident"):
            i += 1
            continue
        break
    if parts and i < len(toks) and toks[i].is_op("*"):
        i += 1  # "t *": the inheritance marker, same relation
    return parts, i


def _read_name(toks: list[_Tok], i: int) -> tuple[str | None, int]:
    """The rendered name at ``i`` (see ``_render``), or None."""
    parts, i = _read_parts(toks, i)
    return (_render(parts), i) if parts else (None, i)


def _skip(toks: list[_Tok], i: int, *words: str) -> int:
    """Skip any of ``words`` (single words or space-separated sequences) at ``i``."""
    moved = True
    while moved:
        moved = False
        for phrase in words:
            seq = phrase.split()
            if [t.up for t in toks[i:i + len(seq)]] == seq:
                i += len(seq)
                moved = True
    return i


def _close_paren(toks: list[_Tok], i: int) -> int:
    """Index after the parenthesis group opening at ``i``."""
    depth = 0
    while i < len(toks):
        if toks[i].is_op("("):
            depth += 1
        elif toks[i].is_op(")"):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _split_top(toks: list[_Tok], start: int) -> list[list[_Tok]]:
    """``toks[start:]`` split on commas outside parentheses."""
    parts: list[list[_Tok]] = [[]]
    depth = 0
    for tok in toks[start:]:
        if tok.is_op("(") or tok.is_op("["):
            depth += 1
        elif tok.is_op(")") or tok.is_op("]"):
            depth -= 1
        elif tok.is_op(",") and depth == 0:
            parts.append([])
            continue
        elif tok.is_op(";") and depth == 0:
            break
        parts[-1].append(tok)
    return [p for p in parts if p]


def _names_list(toks: list[_Tok], start: int, stop_words: tuple[str, ...] = ()) -> list[str]:
    """The relation names of a comma-separated list (``a, b (cols), ONLY c *``)."""
    names = []
    for part in _split_top(toks, start):
        i = _skip(part, 0, "ONLY", "TABLE")
        if i < len(part) and part[i].up in stop_words:
            continue
        name, _end = _read_name(part, i)
        if name:
            names.append(name)
    return names


def _words(toks: list[_Tok]) -> list[str]:
    return [t.up for t in toks]


def _lock(relation: str, mode: str, note: str = "") -> dict[str, Any]:
    return {"relation": relation, "mode": mode, "note": note}


def _unknown(note: str) -> list[dict[str, Any]]:
    return [_lock(ANY_RELATION, UNKNOWN, note)]


def _stronger(a: str, b: str) -> str:
    if UNKNOWN in (a, b):
        return a if b == UNKNOWN else b
    return a if LOCK_MODES.index(a) >= LOCK_MODES.index(b) else b


def _merge(locks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per relation: its strongest mode, the notes joined."""
    merged: dict[str, dict[str, Any]] = {}
    for item in locks:
        have = merged.get(item["relation"])
        if have is None:
            merged[item["relation"]] = dict(item)
            continue
        have["mode"] = _stronger(have["mode"], item["mode"])
        if item["note"] and item["note"] not in have["note"]:
            have["note"] = "; ".join(n for n in (have["note"], item["note"]) if n)
    return list(merged.values())


# -- queries: SELECT, INSERT, UPDATE, DELETE, MERGE, the query of CREATE VIEW ... ----

# Inside these functions FROM belongs to the call's syntax, not to a table list.
_FROM_FUNCTIONS = ("EXTRACT", "SUBSTRING", "TRIM", "OVERLAY")
# These end a FROM list at the same parenthesis depth.
_FROM_END = ("WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FETCH", "WINDOW", "UNION", "INTERSECT",
             "EXCEPT", "RETURNING", "SET", "VALUES", "SELECT", "WHEN")
# A word after a table name that is not its alias.
_NOT_ALIAS = _FROM_END + ("ON", "USING", "JOIN", "LEFT", "RIGHT", "FULL", "INNER", "CROSS", "NATURAL", "FOR",
                          "TABLESAMPLE", "WITH", "DEFAULT", "OVERRIDING", "AS")
_LOCKING = (("UPDATE",), ("SHARE",), ("NO", "KEY", "UPDATE"), ("KEY", "SHARE"))


def _cte_names(toks: list[_Tok]) -> set[str]:
    """Names defined by WITH clauses (``WITH [RECURSIVE] x [(cols)] AS [NOT] [MATERIALIZED] (...)``)."""
    names: set[str] = set()
    for i, tok in enumerate(toks):
        if tok.up != "WITH":
            continue
        j = _skip(toks, i + 1, "RECURSIVE")
        while True:
            name, k = _read_name(toks, j)
            if name is None:
                break
            if k < len(toks) and toks[k].is_op("("):
                k = _close_paren(toks, k)
            if _words(toks[k:k + 1]) != ["AS"]:
                break
            k = _skip(toks, k + 1, "NOT", "MATERIALIZED")
            if k >= len(toks) or not toks[k].is_op("("):
                break
            names.add(name)
            j = _close_paren(toks, k)
            if j >= len(toks) or not toks[j].is_op(","):
                break
            j += 1
    return names


class _QueryScan:
    """Walk a query's tokens and collect the tables it reads and writes.

    Parenthesis groups are frames: a FROM list is tracked per frame, and the
    FROM inside EXTRACT(... FROM ...) and its kin is not a table list.
    """

    def __init__(self, toks: list[_Tok]) -> None:
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
        self.modes[name] = _stronger(self.modes.get(name, mode), mode)
        self.aliases[name.split(".")[-1]] = name
        i = _skip(self.toks, i, "AS")
        if i < len(self.toks) and self.toks[i].kind in ("word", "ident") and self.toks[i].up not in _NOT_ALIAS:
            tok = self.toks[i]
            self.aliases[tok.text.lower() if tok.kind == "word" else tok.text] = name
            i += 1
        return i

    def target(self, i: int, how: str) -> int:
        """Record the table written at ``i`` (after INSERT INTO, UPDATE, DELETE FROM, MERGE INTO)."""
        name, j = _read_name(self.toks, _skip(self.toks, i, "ONLY"))
        if not name:
            return j
        write = self.writes.setdefault(name, {"columns": set(), "delete": False})
        if how in ("INSERT", "MERGE"):
            write["columns"] = None  # every column: every foreign key is checked
        write["delete"] = write["delete"] or how == "DELETE" or how == "MERGE" and "DELETE" in _words(self.toks)
        self.updating = name if how == "UPDATE" else None
        return self.record(name, ROW_EXCLUSIVE, j)

    def set_list(self, i: int) -> None:
        """``UPDATE t SET a = ..., (b, c) = ...``: the columns the update changes."""
        write = self.writes[self.updating] if self.updating else None
        self.updating = None
        if write is None or write["columns"] is None:
            return
        for part in _split_top(self.toks, i + 1):
            names = _names_list(part[1:_close_paren(part, 0) - 1], 0) if part[0].is_op("(") else \
                [_read_name(part, 0)[0]]
            write["columns"].update(n for n in names if n)
            if any(t.up in ("FROM", "WHERE", "RETURNING") for t in part):
                break

    def locking_clause(self, i: int) -> None:
        """``FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE [OF a, b]`` at ``i``."""
        j = i + 1
        for words in _LOCKING:
            if tuple(_words(self.toks[j:j + len(words)])) == words:
                j += len(words)
                break
        else:
            return
        self.locked_for = self.locked_for or []
        if self._word_at(j) != "OF":
            self.locked_for.append(ANY_RELATION)
            return
        for part in _split_top(self.toks, j + 1):
            name, _end = _read_name(part, 0)
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
        name, j = _read_name(self.toks, _skip(self.toks, i, "LATERAL", "ONLY"))
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
            out.append(dict(_lock(name, mode, note), written=self.writes.get(name)))
        return out


def _query_locks(toks: list[_Tok], start: int = 0) -> list[dict[str, Any]]:
    return _QueryScan(toks).run(start)


# -- ALTER TABLE ----------------------------------------------------------------

# Storage parameters whose SET/RESET takes only SHARE UPDATE EXCLUSIVE (others: ACCESS EXCLUSIVE).
_LIGHT_OPTIONS = ("fillfactor", "parallel_workers", "toast_tuple_target", "vacuum_index_cleanup", "vacuum_truncate",
                  "log_autovacuum_min_duration")


def _options_mode(toks: list[_Tok], i: int) -> str:
    """Lock for ``SET ( name = value, ... )`` / ``RESET ( name, ... )`` whose parenthesis is at ``i``."""
    for part in _split_top(toks[i + 1:_close_paren(toks, i) - 1], 0):
        name = ".".join(t.text.lower() for t in part[:3] if t.kind == "word")
        base = name[len("toast."):] if name.startswith("toast.") else name
        if not (base in _LIGHT_OPTIONS or base.startswith("autovacuum_")):
            return ACCESS_EXCLUSIVE
    return SHARE_UPDATE_EXCLUSIVE


def _references(toks: list[_Tok], own: str | None) -> list[dict[str, Any]]:
    """SHARE ROW EXCLUSIVE on every other table named after REFERENCES (a new foreign key)."""
    locks = []
    for i, tok in enumerate(toks):
        if tok.up == "REFERENCES":
            name, _end = _read_name(toks, i + 1)
            if name and name != own:
                locks.append(_lock(name, SHARE_ROW_EXCLUSIVE, "referenced by a new foreign key"))
    return locks


def _add_subcommand(cmd: list[_Tok], table: str) -> list[dict[str, Any]]:
    """``ADD [COLUMN] ...`` or ``ADD [CONSTRAINT name] CHECK|UNIQUE|PRIMARY KEY|EXCLUDE|FOREIGN KEY ...``."""
    i = 3 if cmd[1].up == "CONSTRAINT" else 1
    kind = cmd[i].up if i < len(cmd) else ""
    if kind == "FOREIGN":
        return [_lock(table, SHARE_ROW_EXCLUSIVE, "ADD FOREIGN KEY: SHARE ROW EXCLUSIVE")] + _references(cmd, table)
    if kind in ("CHECK", "UNIQUE", "PRIMARY", "EXCLUDE"):
        return [_lock(table, ACCESS_EXCLUSIVE, "ADD %s: ACCESS EXCLUSIVE" % kind)]
    return [_lock(table, ACCESS_EXCLUSIVE, "ADD COLUMN: ACCESS EXCLUSIVE")] + _references(cmd, table)


def _alter_column_mode(cmd: list[_Tok]) -> str:
    """``ALTER [COLUMN] col ...``: statistics and per-column options are the light ones."""
    i = _skip(cmd, 1, "COLUMN") + 1
    if _words(cmd[i:i + 2]) == ["SET", "STATISTICS"]:
        return SHARE_UPDATE_EXCLUSIVE
    if _words(cmd[i:i + 1]) in (["SET"], ["RESET"]) and i + 1 < len(cmd) and cmd[i + 1].is_op("("):
        return SHARE_UPDATE_EXCLUSIVE
    return ACCESS_EXCLUSIVE


def _partition_subcommand(cmd: list[_Tok], table: str) -> list[dict[str, Any]]:
    partition, _end = _read_name(cmd, 2)
    if cmd[0].up == "ATTACH":
        return [_lock(table, SHARE_UPDATE_EXCLUSIVE, "ATTACH PARTITION: SHARE UPDATE EXCLUSIVE"),
                _lock(partition or "?", ACCESS_EXCLUSIVE, "attached partition (and the default partition, if any)")]
    mode = SHARE_UPDATE_EXCLUSIVE if "CONCURRENTLY" in _words(cmd) else ACCESS_EXCLUSIVE
    return [_lock(table, mode, "DETACH PARTITION: %s" % mode), _lock(partition or "?", mode, "detached partition")]


def _inherit_subcommand(cmd: list[_Tok], table: str) -> list[dict[str, Any]]:
    dropping = cmd[0].up == "NO"
    parent, _end = _read_name(cmd, 2 if dropping else 1)
    label = "NO INHERIT" if dropping else "INHERIT"
    return [_lock(table, ACCESS_EXCLUSIVE, "%s: ACCESS EXCLUSIVE" % label),
            _lock(parent or "?", ACCESS_SHARE if dropping else SHARE_UPDATE_EXCLUSIVE, "%s parent" % label)]


def _simple_subcommand(cmd: list[_Tok]) -> tuple[str, str]:
    """Mode and label of a sub-command that locks only the altered table."""
    words = _words(cmd[:4])
    if words[0] == "ALTER" and words[1:2] != ["CONSTRAINT"]:
        return _alter_column_mode(cmd), "ALTER COLUMN"
    if words[:2] == ["VALIDATE", "CONSTRAINT"]:
        return SHARE_UPDATE_EXCLUSIVE, "VALIDATE CONSTRAINT (a foreign key's referenced table: ROW SHARE)"
    if words[0] in ("ENABLE", "DISABLE") and "TRIGGER" in words:
        return SHARE_ROW_EXCLUSIVE, "%s TRIGGER" % words[0]
    if words[:2] == ["CLUSTER", "ON"] or words[:3] == ["SET", "WITHOUT", "CLUSTER"]:
        return SHARE_UPDATE_EXCLUSIVE, " ".join(words[:3] if words[0] == "SET" else words[:2])
    if words[0] in ("SET", "RESET") and len(cmd) > 1 and cmd[1].is_op("("):
        return _options_mode(cmd, 1), "%s (storage parameters)" % words[0]
    if words[:2] == ["DROP", "CONSTRAINT"]:
        return ACCESS_EXCLUSIVE, "DROP CONSTRAINT (a foreign key's referenced table: ACCESS EXCLUSIVE too)"
    return ACCESS_EXCLUSIVE, " ".join(w for w in words[:2] if w)


def _alter_subcommand(cmd: list[_Tok], table: str) -> list[dict[str, Any]]:
    head = cmd[0].up
    if head == "ADD" and len(cmd) > 1:
        return _add_subcommand(cmd, table)
    if head in ("ATTACH", "DETACH"):
        return _partition_subcommand(cmd, table)
    if head == "INHERIT" or _words(cmd[:2]) == ["NO", "INHERIT"]:
        return _inherit_subcommand(cmd, table)
    mode, label = _simple_subcommand(cmd)
    return [_lock(table, mode, "%s: %s" % (label, mode))]


def _alter_table(toks: list[_Tok], start: int) -> list[dict[str, Any]]:
    """``ALTER TABLE [IF EXISTS] [ONLY] name sub-command [, ...]``: the strongest sub-command wins."""
    i = _skip(toks, start, "IF EXISTS", "ONLY")
    if _words(toks[i:i + 2]) == ["ALL", "IN"]:
        return [_lock(ANY_RELATION, ACCESS_EXCLUSIVE, "every table in the tablespace")]
    table, i = _read_name(toks, i)
    if table is None:
        return _unknown("ALTER TABLE without a table name")
    locks: list[dict[str, Any]] = []
    for cmd in _split_top(toks, i):
        locks.extend(_alter_subcommand(cmd, table))
    return locks or [_lock(table, ACCESS_EXCLUSIVE, "")]


def _alter_index(toks: list[_Tok]) -> list[dict[str, Any]]:
    """ALTER INDEX: RENAME and light storage parameters take SHARE UPDATE EXCLUSIVE on the index."""
    i = _skip(toks, 2, "IF EXISTS")
    if _words(toks[i:i + 2]) == ["ALL", "IN"]:
        return [_lock(ANY_RELATION, ACCESS_EXCLUSIVE, "every index in the tablespace")]
    index, i = _read_name(toks, i)
    mode = ACCESS_EXCLUSIVE
    if _words(toks[i:i + 1]) == ["RENAME"]:
        mode = SHARE_UPDATE_EXCLUSIVE
    elif _words(toks[i:i + 1]) in (["SET"], ["RESET"]) and i + 1 < len(toks) and toks[i + 1].is_op("("):
        mode = _options_mode(toks, i + 1)
    return [_lock(index or "?", mode, "index")]


def _alter_domain(toks: list[_Tok]) -> list[dict[str, Any]]:
    words = _words(toks)
    if "ADD" in words or "VALIDATE" in words or "NOT" in words and "SET" in words:
        return _unknown("checking a domain constraint locks every table with a column of the domain (SHARE)")
    return []


def _alter(toks: list[_Tok]) -> list[dict[str, Any]]:
    words = _words(toks[:3])
    kind = words[1] if len(words) > 1 else ""
    if kind == "TABLE" or words[1:3] == ["FOREIGN", "TABLE"]:
        return _alter_table(toks, 2 if kind == "TABLE" else 3)
    if kind == "INDEX":
        return _alter_index(toks)
    if kind in ("VIEW", "MATERIALIZED", "SEQUENCE"):
        name, _end = _read_name(toks, _skip(toks, 3 if kind == "MATERIALIZED" else 2, "IF EXISTS"))
        mode = SHARE_ROW_EXCLUSIVE if kind == "SEQUENCE" else ACCESS_EXCLUSIVE
        return [_lock(name or "?", mode, "ALTER %s" % kind)]
    if kind == "POLICY":
        return _on_table(toks, 2, ACCESS_EXCLUSIVE, "ALTER POLICY")
    if kind == "DOMAIN":
        return _alter_domain(toks)
    if kind in ("TYPE", "FUNCTION", "PROCEDURE", "ROUTINE", "SCHEMA", "ROLE", "USER", "GROUP", "DEFAULT",
                "DATABASE", "AGGREGATE", "OPERATOR", "COLLATION", "LANGUAGE"):
        return []
    return _unknown("ALTER %s is not known to the lock analysis" % kind)


# -- CREATE ---------------------------------------------------------------------

def _like_sources(body: list[_Tok]) -> list[dict[str, Any]]:
    locks = []
    for i, tok in enumerate(body):
        if tok.up == "LIKE" and i > 0 and (body[i - 1].is_op("(") or body[i - 1].is_op(",")):
            name, _end = _read_name(body, i + 1)
            if name:
                locks.append(_lock(name, ACCESS_SHARE, "LIKE source"))
    return locks


def _create_table(toks: list[_Tok], start: int) -> list[dict[str, Any]]:
    """A new table locks nothing that exists, except the tables it references, copies or extends."""
    if_not_exists = _words(toks[start:start + 3]) == ["IF", "NOT", "EXISTS"]
    name, i = _read_name(toks, _skip(toks, start, "IF NOT EXISTS"))
    locks: list[dict[str, Any]] = []
    if _words(toks[i:i + 2]) == ["PARTITION", "OF"]:
        parent, i = _read_name(toks, i + 2)
        locks.append(_lock(parent or "?", ACCESS_EXCLUSIVE, "partitioned table receiving a new partition"))
    if i < len(toks) and toks[i].is_op("("):
        end = _close_paren(toks, i)
        locks += _references(toks[i:end], name) + _like_sources(toks[i:end])
        i = end
    if _words(toks[i:i + 1]) == ["INHERITS"] and i + 1 < len(toks):
        locks += [_lock(p, SHARE_UPDATE_EXCLUSIVE, "inheritance parent")
                  for p in _names_list(toks[i + 2:_close_paren(toks, i + 1) - 1], 0)]
    if _words(toks[i:i + 2]) == ["AS", "TABLE"]:
        locks += [_lock(n, ACCESS_SHARE, "read by CREATE TABLE AS") for n in _names_list(toks, i + 2)[:1]]
    elif _words(toks[i:i + 1]) == ["AS"]:
        locks += _query_locks(toks, i + 1)
    if if_not_exists:
        for item in locks:
            item["note"] = "; ".join(n for n in (item["note"], "only if the table does not exist yet") if n)
    return locks


def _create_index(toks: list[_Tok], start: int) -> list[dict[str, Any]]:
    """``CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] name] ON [ONLY] table``."""
    concurrently = _words(toks[start:start + 1]) == ["CONCURRENTLY"]
    for i in range(start, len(toks)):
        if toks[i].up == "ON":
            table, _end = _read_name(toks, _skip(toks, i + 1, "ONLY"))
            if concurrently:
                return [_lock(table or "?", SHARE_UPDATE_EXCLUSIVE, "CREATE INDEX CONCURRENTLY: writes go on")]
            return [_lock(table or "?", SHARE, "CREATE INDEX: writes wait until the index is built")]
    return _unknown("CREATE INDEX without ON table")


def _create_view(toks: list[_Tok], start: int, replace: bool) -> list[dict[str, Any]]:
    """A view's query is analysed at creation: ACCESS SHARE on every table it reads."""
    name, i = _read_name(toks, _skip(toks, start, "IF NOT EXISTS"))
    for j in range(i, len(toks)):
        if toks[j].up == "AS":
            locks = [dict(item, note="read by the view's query") for item in _query_locks(toks, j + 1)]
            if replace and name:
                locks.append(_lock(name, ACCESS_EXCLUSIVE, "the view it replaces, if it exists"))
            return locks
    return _unknown("view without AS query")


def _on_table(toks: list[_Tok], start: int, mode: str, note: str) -> list[dict[str, Any]]:
    """Triggers, policies, and a table's constraints: the relation follows the first ON."""
    for i in range(start, len(toks)):
        if toks[i].up == "ON":
            table, _end = _read_name(toks, _skip(toks, i + 1, "ONLY", "TABLE"))
            if table:
                return [_lock(table, mode, note)]
    return _unknown("%s without ON table" % note)


def _rule_table(toks: list[_Tok], mode: str, note: str) -> list[dict[str, Any]]:
    """``CREATE RULE name AS ON event TO table`` / ``DROP RULE name ON table``."""
    words = _words(toks)
    if "TO" in words and toks[0].up == "CREATE":
        table, _end = _read_name(toks, words.index("TO") + 1)
        return [_lock(table or "?", mode, note)]
    return _on_table(toks, 2, mode, note)


def _create_routine(toks: list[_Tok], start: int) -> list[dict[str, Any]]:
    """Creating a function locks nothing, unless a SQL-language body is analysed at creation."""
    words = _words(toks[start:])
    sql_body = "ATOMIC" in words or any(
        w == "LANGUAGE" and toks[start + n + 1].text.lower() in ("sql", "'sql'") for n, w in enumerate(words[:-1]))
    if sql_body:
        return _unknown("a SQL-language body is checked at creation: ACCESS SHARE on the tables it reads")
    return []


def _create(toks: list[_Tok]) -> list[dict[str, Any]]:
    i = _skip(toks, 1, "OR REPLACE")
    replace = i > 1
    i = _skip(toks, i, "GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED", "RECURSIVE")
    kind = toks[i].up if i < len(toks) else ""
    if kind == "TABLE":
        return _create_table(toks, i + 1)
    if kind in ("INDEX", "UNIQUE"):
        return _create_index(toks, _skip(toks, i, "UNIQUE", "INDEX"))
    if kind in ("VIEW", "MATERIALIZED"):
        return _create_view(toks, i + (2 if kind == "MATERIALIZED" else 1), replace)
    if kind in ("TRIGGER", "CONSTRAINT"):
        return _on_table(toks, i, SHARE_ROW_EXCLUSIVE, "CREATE TRIGGER: writes wait")
    if kind == "POLICY":
        return _on_table(toks, i, ACCESS_EXCLUSIVE, "CREATE POLICY")
    if kind == "RULE":
        return _rule_table(toks, ACCESS_EXCLUSIVE, "CREATE RULE")
    if kind == "STATISTICS":
        words = _words(toks)
        names = _names_list(toks, words.index("FROM") + 1) if "FROM" in words else []
        return [_lock(n, SHARE_UPDATE_EXCLUSIVE, "CREATE STATISTICS") for n in names[:1]]
    if kind in ("FUNCTION", "PROCEDURE"):
        return _create_routine(toks, i)
    if kind in ("EXTENSION",):
        return _unknown("CREATE EXTENSION runs the extension's install script")
    if kind in _NO_RELATION_OBJECTS:
        return []
    return _unknown("CREATE %s is not known to the lock analysis" % kind)


# -- DROP, TRUNCATE, LOCK, maintenance, COMMENT, COPY ------------------------------

_NO_RELATION_OBJECTS = ("SCHEMA", "SEQUENCE", "TYPE", "DOMAIN", "ROLE", "USER", "GROUP", "COLLATION",
                        "CONVERSION", "OPERATOR", "AGGREGATE", "CAST", "TEXT", "LANGUAGE", "ACCESS",
                        "PUBLICATION", "SUBSCRIPTION", "SERVER", "FOREIGN", "TABLESPACE", "DATABASE", "EVENT",
                        "TRANSFORM")
_END_OF_LIST = ("CASCADE", "RESTRICT")


def _drop_relations(toks: list[_Tok], kind: str, start: int) -> list[dict[str, Any]]:
    notes = []
    if kind == "TABLE":
        notes.append("the tables linked to it by a foreign key are locked ACCESS EXCLUSIVE too")
    if "CASCADE" in _words(toks):
        notes.append("CASCADE: the tables of dependent objects too")
    names = _names_list(toks, _skip(toks, start, "IF EXISTS"), _END_OF_LIST)
    return [dict(_lock(n, ACCESS_EXCLUSIVE, "; ".join(notes)), dropped=kind == "TABLE") for n in names]


def _drop(toks: list[_Tok]) -> list[dict[str, Any]]:
    words = _words(toks[:4])
    kind = words[1] if len(words) > 1 else ""
    if kind in ("TABLE", "VIEW", "SEQUENCE"):
        return _drop_relations(toks, kind, 2)
    if words[1:3] in (["MATERIALIZED", "VIEW"], ["FOREIGN", "TABLE"]):
        return _drop_relations(toks, words[2], 3)
    if kind == "INDEX":
        mode = SHARE_UPDATE_EXCLUSIVE if words[2:3] == ["CONCURRENTLY"] else ACCESS_EXCLUSIVE
        names = _names_list(toks, _skip(toks, 2, "CONCURRENTLY", "IF EXISTS"), _END_OF_LIST)
        return [_lock(n, mode, "index; its table is locked %s too" % mode) for n in names]
    if kind in ("TRIGGER", "POLICY"):
        return _on_table(toks, 2, ACCESS_EXCLUSIVE, "DROP %s" % kind)
    if kind == "RULE":
        return _rule_table(toks, ACCESS_EXCLUSIVE, "DROP RULE")
    if kind == "SCHEMA" and "CASCADE" in _words(toks):
        return [_lock("%s.*" % n, ACCESS_EXCLUSIVE, "every relation in the schema (CASCADE)")
                for n in _names_list(toks, _skip(toks, 2, "IF EXISTS"), _END_OF_LIST)]
    if "CASCADE" in _words(toks) or kind in ("OWNED", "EXTENSION"):
        return _unknown("DROP %s removes dependent objects (triggers, columns, views) and locks their tables" % kind)
    return []


def _lock_table(toks: list[_Tok]) -> list[dict[str, Any]]:
    """``LOCK [TABLE] [ONLY] name [*] [, ...] [IN mode MODE] [NOWAIT]`` (default ACCESS EXCLUSIVE)."""
    words = _words(toks)
    mode, end = ACCESS_EXCLUSIVE, len(toks)
    if "IN" in words and "MODE" in words[words.index("IN"):]:
        end = words.index("IN")
        mode = " ".join(words[end + 1:words.index("MODE", end)])
        if mode not in LOCK_MODES:
            return _unknown("LOCK TABLE in an unknown mode: %s" % mode)
    return [_lock(n, mode, "LOCK TABLE") for n in _names_list(toks[:end], _skip(toks, 1, "TABLE"), ("NOWAIT",))]


def _maintenance(toks: list[_Tok], mode: str, label: str) -> list[dict[str, Any]]:
    """ANALYZE / VACUUM [options] [table [(columns)], ...]; no table means every table."""
    i = 1
    while i < len(toks) and (toks[i].up in ("VERBOSE", "FULL", "FREEZE", "ANALYZE", "ANALYSE", "SKIP_LOCKED")
                             or i == 1 and toks[i].is_op("(")):
        end = _close_paren(toks, i) if toks[i].is_op("(") else i + 1
        if "FULL" in _words(toks[i:end]):
            mode, label = ACCESS_EXCLUSIVE, "VACUUM FULL rewrites the table"
        i = end
    names = _names_list(toks, i)
    return [_lock(n, mode, label) for n in names] or [_lock(ANY_RELATION, mode, "%s of every table" % label)]


def _vacuum(toks: list[_Tok]) -> list[dict[str, Any]]:
    return _maintenance(toks, SHARE_UPDATE_EXCLUSIVE, "VACUUM (cannot run inside a transaction)")


def _analyze(toks: list[_Tok]) -> list[dict[str, Any]]:
    return _maintenance(toks, SHARE_UPDATE_EXCLUSIVE, "ANALYZE")


def _reindex(toks: list[_Tok]) -> list[dict[str, Any]]:
    i = _close_paren(toks, 1) if len(toks) > 1 and toks[1].is_op("(") else 1
    kind = toks[i].up if i < len(toks) else ""
    concurrently = "CONCURRENTLY" in _words(toks[i:i + 2])
    name, _end = _read_name(toks, _skip(toks, i + 1, "CONCURRENTLY"))
    if concurrently:
        return [_lock(name or ANY_RELATION, SHARE_UPDATE_EXCLUSIVE, "REINDEX CONCURRENTLY")]
    if kind == "TABLE":
        return [_lock(name or "?", SHARE, "REINDEX TABLE: writes wait; each of its indexes ACCESS EXCLUSIVE")]
    if kind == "INDEX":
        return [_lock(name or "?", ACCESS_EXCLUSIVE, "index being rebuilt; its table is locked SHARE")]
    return [_lock(ANY_RELATION, SHARE, "REINDEX %s: every table SHARE, every index ACCESS EXCLUSIVE" % kind)]


def _truncate(toks: list[_Tok]) -> list[dict[str, Any]]:
    note = "TRUNCATE" + (" CASCADE: every table referencing it too" if "CASCADE" in _words(toks) else "")
    names = _names_list(toks, _skip(toks, 1, "TABLE"), ("RESTART", "CONTINUE") + _END_OF_LIST)
    return [_lock(n, ACCESS_EXCLUSIVE, note) for n in names]


def _cluster(toks: list[_Tok]) -> list[dict[str, Any]]:
    names = _names_list(toks, _skip(toks, 1, "VERBOSE"))
    if names:
        return [_lock(names[0], ACCESS_EXCLUSIVE, "CLUSTER rewrites the table")]
    return [_lock(ANY_RELATION, ACCESS_EXCLUSIVE, "CLUSTER of every clustered table")]


def _refresh(toks: list[_Tok]) -> list[dict[str, Any]]:
    concurrently = "CONCURRENTLY" in _words(toks)
    name, _end = _read_name(toks, _skip(toks, 1, "MATERIALIZED", "VIEW", "CONCURRENTLY"))
    return [_lock(name or "?", EXCLUSIVE if concurrently else ACCESS_EXCLUSIVE,
                  "and ACCESS SHARE on the tables its query reads")]


def _comment(toks: list[_Tok]) -> list[dict[str, Any]]:
    """COMMENT ON a relation or column: SHARE UPDATE EXCLUSIVE; on a table's constraint or trigger: ACCESS SHARE."""
    i = _skip(toks, 2, "MATERIALIZED", "FOREIGN")
    kind = toks[i].up if i < len(toks) else ""
    if kind in ("TABLE", "VIEW", "SEQUENCE", "INDEX", "COLUMN"):
        parts, _end = _read_parts(toks, i + 1)
        if kind == "COLUMN":
            parts = parts[:-1]
        return [_lock(_render(parts), SHARE_UPDATE_EXCLUSIVE, "COMMENT ON %s" % kind)] if parts else []
    if kind in ("CONSTRAINT", "TRIGGER", "POLICY", "RULE"):
        return _on_table(toks, i, ACCESS_SHARE, "COMMENT ON %s" % kind)
    return []


def _copy(toks: list[_Tok]) -> list[dict[str, Any]]:
    if len(toks) > 1 and toks[1].is_op("("):
        return _query_locks(toks, 1)
    name, i = _read_name(toks, 1)
    if "FROM" in _words(toks[i:]):
        return [dict(_lock(name or "?", ROW_EXCLUSIVE, "COPY FROM"), written={"columns": None, "delete": False})]
    return [_lock(name or "?", ACCESS_SHARE, "COPY TO")]


def _procedural(_toks: list[_Tok]) -> list[dict[str, Any]]:
    return _unknown(_PROCEDURAL)


def _explain(toks: list[_Tok]) -> list[dict[str, Any]]:
    if len(toks) > 1 and toks[1].is_op("("):
        i = _close_paren(toks, 1)
    else:
        i = _skip(toks, 1, "ANALYZE", "ANALYSE", "VERBOSE")
    return _dispatch(toks[i:]) if i < len(toks) else []


_HANDLERS = {
    "ALTER": _alter, "CREATE": _create, "DROP": _drop, "LOCK": _lock_table, "REINDEX": _reindex,
    "COMMENT": _comment, "COPY": _copy, "TRUNCATE": _truncate, "ANALYZE": _analyze, "ANALYSE": _analyze,
    "VACUUM": _vacuum, "CLUSTER": _cluster, "REFRESH": _refresh, "DO": _procedural, "CALL": _procedural,
    "EXPLAIN": _explain,
}
_QUERIES = ("SELECT", "WITH", "VALUES", "INSERT", "UPDATE", "DELETE", "MERGE", "TABLE")
_NO_LOCK = ("SET", "RESET", "SHOW", "GRANT", "REVOKE", "NOTIFY", "LISTEN", "UNLISTEN", "DISCARD", "DEALLOCATE",
            "SECURITY", "CHECKPOINT", "LOAD", "SAVEPOINT", "RELEASE", "BEGIN", "START", "COMMIT", "END",
            "ROLLBACK", "ABORT")


def _dispatch(toks: list[_Tok]) -> list[dict[str, Any]]:
    head = toks[0].up
    if head in _HANDLERS:
        return _HANDLERS[head](toks)
    if head == "TABLE":
        return [_lock(n, ACCESS_SHARE, "") for n in _names_list(toks, 1)[:1]]
    if head in _QUERIES or toks[0].is_op("("):
        return _query_locks(toks)
    if head in _NO_LOCK:
        return []
    return _unknown("%s is not known to the lock analysis" % (head or toks[0].text))


# -- public API -------------------------------------------------------------------

def _normalize(name: str) -> str:
    return name[len("public."):] if name.startswith("public.") else name


def _fk_of_element(elem: list[_Tok], table: str) -> dict[str, Any] | None:
    """The foreign key a column or table-constraint definition declares, if any."""
    words = _words(elem)
    if "REFERENCES" not in words:
        return None
    at = words.index("REFERENCES")
    referenced, _end = _read_name(elem, at + 1)
    i = 2 if words[0] == "CONSTRAINT" else 0
    if words[i:i + 2] == ["FOREIGN", "KEY"] and i + 2 < len(elem):
        columns = _names_list(elem[i + 3:_close_paren(elem, i + 2) - 1], 0)
    elif words[0] in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "EXCLUDE", "LIKE"):
        return None
    else:
        columns = [n for n in [_read_name(elem, 0)[0]] if n]
    delete_action = words[words.index("DELETE", at) + 1] if "DELETE" in words[at:] and \
        words.index("DELETE", at) + 1 < len(words) else ""
    return {"table": table, "columns": sorted(columns), "references": referenced or "?",
            "on_delete_writes": delete_action in ("CASCADE", "SET")}


def foreign_keys(stmt_text: str) -> list[dict[str, Any]]:
    """The foreign keys this statement declares (CREATE TABLE ..., ALTER TABLE ... ADD ...):
    ``[{table, columns, references, on_delete_writes}]``."""
    toks = tokenize(stmt_text)
    words = _words(toks[:4])
    if words[:1] == ["CREATE"] and "TABLE" in words:
        name, i = _read_name(toks, _skip(toks, words.index("TABLE") + 1, "IF NOT EXISTS"))
        elements = _split_top(toks[i + 1:_close_paren(toks, i) - 1], 0) if i < len(toks) and toks[i].is_op("(") \
            else []
    elif words[:2] == ["ALTER", "TABLE"]:
        name, i = _read_name(toks, _skip(toks, 2, "IF EXISTS", "ONLY"))
        elements = [cmd[_skip(cmd, 1, "COLUMN", "IF NOT EXISTS"):] for cmd in _split_top(toks, i)
                    if cmd[0].up == "ADD"]
    else:
        return []
    found = [_fk_of_element(elem, name) for elem in elements if elem and name]
    return [fk for fk in found if fk]


def _fk_locks(item: dict[str, Any], refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The locks foreign keys add to a write or a DROP TABLE of ``item['relation']``."""
    table, write, out = item["relation"], item.get("written"), []
    for fk in refs:
        if item.get("dropped") and table in (fk["table"], fk["references"]):
            other = fk["references"] if fk["table"] == table else fk["table"]
            out.append(_lock(other, ACCESS_EXCLUSIVE, "linked by foreign key to the dropped table %s" % table))
        elif write and fk["table"] == table and (write["columns"] is None or not fk["columns"]
                                                 or set(fk["columns"]) & write["columns"]):
            out.append(_lock(fk["references"], ROW_SHARE, "foreign-key checks of the rows written to %s" % table))
        elif write and write["delete"] and fk["references"] == table:
            mode = ROW_EXCLUSIVE if fk["on_delete_writes"] else ROW_SHARE
            out.append(_lock(fk["table"], mode, "ON DELETE of its foreign key to %s" % table))
    return [lock for lock in out if lock["relation"] != table]


def statement_locks(stmt_text: str, created_in_file: Iterable[str] = (),
                    references: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The table-level locks one statement takes: ``[{relation, mode, note, created_in_file}]``.

    ``mode`` is a PostgreSQL lock mode (``LOCK_MODES``) or ``"unknown"``; then
    ``relation`` is ``"*"`` and ``note`` says why. One entry per relation, with
    the strongest mode the statement takes on it. Relations in
    ``created_in_file`` (created earlier in the same migration) are marked:
    no other session can be queued on them. ``references`` are the foreign
    keys declared before (``foreign_keys`` / ``file_foreign_keys``): writes
    then show the locks of the foreign-key checks, and DROP TABLE the tables
    it is linked to.
    """
    toks = tokenize(stmt_text)
    if not toks:
        return []
    created = {_normalize(name) for name in created_in_file}
    refs = list(references)
    locks = _dispatch(toks)
    locks = _merge(locks + [extra for item in locks for extra in _fk_locks(item, refs)])
    for item in locks:
        item.pop("written", None)
        item.pop("dropped", None)
        item["created_in_file"] = item["relation"] in created
        if item["created_in_file"]:
            item["note"] = "; ".join(n for n in (NEW_NOTE, item["note"]) if n)
    return locks


def relations_created(stmt_text: str) -> set[str]:
    """The relation this statement certainly creates (not with IF NOT EXISTS or OR REPLACE)."""
    toks = tokenize(stmt_text)
    if _words(toks[:1]) != ["CREATE"]:
        return set()
    i = _skip(toks, 1, "GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED", "UNIQUE", "MATERIALIZED")
    if _words(toks[i:i + 1]) not in (["TABLE"], ["VIEW"], ["SEQUENCE"], ["INDEX"]):
        return set()
    i = _skip(toks, i + 1, "CONCURRENTLY")
    if _words(toks[i:i + 1]) in (["IF"], ["ON"]):
        return set()
    name, _end = _read_name(toks, i)
    return {name} if name else set()


def summary(stmt_text: str, width: int = 60) -> str:
    """The statement's first words, up to its first parenthesis, for a listing."""
    words: list[str] = []
    for tok in tokenize(stmt_text)[:12]:
        if tok.is_op("(") or tok.is_op(";"):
            break
        text = {"ident": '"%s"' % tok.text, "str": "'...'"}.get(tok.kind, tok.text)
        if words and (tok.is_op(".") or tok.is_op(",") or words[-1].endswith(".")):
            words[-1] += text
        else:
            words.append(text)
    head = " ".join(words)
    return head if len(head) <= width else head[:width - 3].rstrip() + "..."


def file_foreign_keys(statements: Iterable[Any], references: Iterable[dict[str, Any]] = ()
                      ) -> list[dict[str, Any]]:
    """``references`` plus the foreign keys declared by ``statements`` (objects with ``text``),
    minus those of the tables they drop. Feed it the migrations that ran
    before a file, and pass the result to ``file_locks``."""
    found = list(references)
    for stmt in statements:
        found = _after_statement(found, stmt.text)
    return found


def _after_statement(refs: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    dropped = {item["relation"] for item in _dispatch(tokenize(text) or [_Tok("word", "SELECT")])
               if item.get("dropped")}
    kept = [fk for fk in refs if fk["table"] not in dropped and fk["references"] not in dropped]
    return kept + foreign_keys(text)


def file_locks(statements: Iterable[Any], created_in_file: Iterable[str] = (),
               references: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per statement (objects with ``number``, ``line``, ``text``): ``{number, line, summary, locks}``.

    Walks the file in order, so each statement knows the relations created
    and the foreign keys declared before it; ``created_in_file`` and
    ``references`` (``file_foreign_keys`` of the earlier migrations) seed them.
    """
    created = {_normalize(name) for name in created_in_file}
    refs = list(references)
    out = []
    for stmt in statements:
        out.append({"number": stmt.number, "line": stmt.line, "summary": summary(stmt.text),
                    "locks": statement_locks(stmt.text, created, refs)})
        created |= relations_created(stmt.text)
        refs = _after_statement(refs, stmt.text)
    return out


def strongest_locks(per_statement: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Relation -> the strongest mode the file takes on it, for relations that existed before it.

    Strongest first. Relations created in the migration and ``unknown``
    entries are left out: see ``unknown_statements`` for the latter.
    """
    strongest: dict[str, str] = {}
    for stmt in per_statement:
        for item in stmt["locks"]:
            if item.get("created_in_file") or item["mode"] == UNKNOWN:
                continue
            strongest[item["relation"]] = _stronger(strongest.get(item["relation"], item["mode"]), item["mode"])
    return dict(sorted(strongest.items(), key=lambda kv: (-LOCK_MODES.index(kv[1]), kv[0])))


def unknown_statements(per_statement: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements whose locks cannot be told from their text (DO blocks, ...)."""
    return [stmt for stmt in per_statement if any(item["mode"] == UNKNOWN for item in stmt["locks"])]


def describe_mode(mode: str) -> str:
    """What a lock mode makes other sessions wait for."""
    return BLOCKS.get(mode, BLOCKS[UNKNOWN])


__all__ = ["LOCK_MODES", "BLOCKS", "UNKNOWN", "ANY_RELATION", "NEW_NOTE", "statement_locks", "relations_created",
           "foreign_keys", "file_foreign_keys", "file_locks", "strongest_locks", "unknown_statements",
           "describe_mode", "summary", "tokenize"]
