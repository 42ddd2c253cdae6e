# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Split a SQL script into statements the way PostgreSQL's own lexer sees them.

A semicolon ends a statement only outside string literals (standard, E'' and
dollar-quoted), quoted identifiers, comments (``--`` and nested ``/* */``) and
SQL-standard function bodies (``BEGIN ATOMIC ... END``). Each statement keeps
the line it starts on, so an error can name the exact place in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_WORD = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*")

# Statements that control the transaction: a migration file that runs inside the
# runner's transaction must not contain them, or it would commit half a file.
TRANSACTION_CONTROL = (
    ("BEGIN",), ("START", "TRANSACTION"), ("COMMIT",), ("END",), ("ROLLBACK",),
    ("ABORT",), ("SAVEPOINT",), ("RELEASE",), ("PREPARE", "TRANSACTION"),
)

# Statements PostgreSQL refuses to run inside a transaction block.
NON_TRANSACTIONAL = (
    ("CREATE", "INDEX", "CONCURRENTLY"), ("CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"),
    ("DROP", "INDEX", "CONCURRENTLY"), ("VACUUM",),
    ("CREATE", "DATABASE"), ("DROP", "DATABASE"), ("ALTER", "SYSTEM"),
    ("CREATE", "TABLESPACE"), ("DROP", "TABLESPACE"),
)


_CONCURRENT_INDEX = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)\s+ON\b", re.IGNORECASE)


class SqlSplitError(ValueError):
    """The script cannot be split: an unterminated literal, identifier or comment."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text, its 1-based number and first line."""

    number: int
    line: int
    text: str

    @property
    def words(self) -> tuple[str, ...]:
        """The leading keywords, upper-cased, with comments skipped."""
        return leading_words(self.text)

    def starts_with(self, *prefixes: tuple[str, ...]) -> bool:
        words = self.words
        return any(words[:len(p)] == p for p in prefixes)

    @property
    def is_transaction_control(self) -> bool:
        words = self.words
        if words[:2] == ("BEGIN", "ATOMIC"):
            return False
        return self.starts_with(*TRANSACTION_CONTROL)

    @property
    def needs_no_transaction(self) -> bool:
        words = self.words
        if words[:1] == ("REINDEX",):
            # REINDEX ... CONCURRENTLY, and REINDEX SYSTEM / DATABASE, refuse a transaction block.
            return any(w in ("CONCURRENTLY", "SYSTEM", "DATABASE") for w in words[1:4])
        if words[:2] == ("ALTER", "TABLE"):
            return "DETACH" in words and "CONCURRENTLY" in self.text.upper()
        return self.starts_with(*NON_TRANSACTIONAL)

    @property
    def concurrent_index_name(self) -> str | None:
        """The index a CREATE INDEX CONCURRENTLY builds (as written, quotes kept), else None."""
        match = _CONCURRENT_INDEX.match(self.text)
        return match.group("name") if match else None


def leading_words(text: str, limit: int = 8) -> tuple[str, ...]:
    """The first ``limit`` bare words of a statement, upper-cased, comments skipped."""
    words: list[str] = []
    pos = 0
    length = len(text)
    while pos < length and len(words) < limit:
        char = text[pos]
        if char.isspace():
            pos += 1
        elif text.startswith("--", pos):
            newline = text.find("\n", pos)
            pos = length if newline < 0 else newline + 1
        elif text.startswith("/*", pos):
            pos = _skip_block_comment(text, pos, 1)
        else:
            match = _WORD.match(text, pos)
            if not match:
                break
            words.append(match.group(0).upper())
            pos = match.end()
    return tuple(words)


def _skip_block_comment(text: str, pos: int, line: int) -> int:
    """Return the index after the (nested) block comment that starts at ``pos``."""
    depth = 0
    length = len(text)
    while pos < length:
        if text.startswith("/*", pos):
            depth += 1
            pos += 2
        elif text.startswith("*/", pos):
            depth -= 1
            pos += 2
            if depth == 0:
                return pos
        else:
            pos += 1
    raise SqlSplitError("unterminated /* comment", line)


def _skip_quoted(text: str, pos: int, quote: str, backslash_escapes: bool, line: int) -> int:
    """Return the index after the literal or identifier that opens at ``pos``."""
    pos += 1
    length = len(text)
    while pos < length:
        char = text[pos]
        if backslash_escapes and char == "\\":
            pos += 2
            continue
        if char == quote:
            if pos + 1 < length and text[pos + 1] == quote:
                pos += 2
                continue
            return pos + 1
        pos += 1
    kind = "quoted identifier" if quote == '"' else "string literal"
    raise SqlSplitError("unterminated %s" % kind, line)


def split_sql(script: str) -> list[Statement]:
    """Split ``script`` into statements; empty statements and bare comments are dropped."""
    statements: list[Statement] = []
    length = len(script)
    pos = 0
    start = 0
    line = 1
    start_line: int | None = None
    atomic_depth = 0
    words: list[str] = []

    def finish(end: int) -> None:
        nonlocal start_line, words, atomic_depth
        text = script[start:end].strip()
        if text and leading_words(text, 1):
            statements.append(Statement(len(statements) + 1, start_line or line, text))
        start_line = None
        words = []
        atomic_depth = 0

    while pos < length:
        char = script[pos]
        if char == "\n":
            line += 1
            pos += 1
            continue
        if char.isspace():
            pos += 1
            continue
        if script.startswith("--", pos):
            newline = script.find("\n", pos)
            pos = length if newline < 0 else newline
            continue
        if script.startswith("/*", pos):
            end = _skip_block_comment(script, pos, line)
            line += script.count("\n", pos, end)
            pos = end
            continue
        if start_line is None:
            start_line = line
            start = pos
        if char == ";" and atomic_depth == 0:
            finish(pos)
            pos += 1
            start = pos
            continue
        if char == "'" or char == '"':
            escapes = char == "'" and _is_escape_string_prefix(script, pos)
            end = _skip_quoted(script, pos, char, escapes, line)
            line += script.count("\n", pos, end)
            pos = end
            continue
        if char == "$":
            match = _DOLLAR_TAG.match(script, pos)
            if match and not (pos > 0 and (script[pos - 1].isalnum() or script[pos - 1] == "_")):
                tag = match.group(0)
                close = script.find(tag, match.end())
                if close < 0:
                    raise SqlSplitError("unterminated dollar-quoted string %s" % tag, line)
                end = close + len(tag)
                line += script.count("\n", pos, end)
                pos = end
                continue
        match = _WORD.match(script, pos)
        if match:
            word = match.group(0).upper()
            if len(words) < 6:
                words.append(word)
            if atomic_depth == 0 and word == "ATOMIC" and _is_routine(words) and _previous_word(script, pos) == "BEGIN":
                atomic_depth = 1
            elif atomic_depth and word in ("CASE", "BEGIN"):
                atomic_depth += 1
            elif atomic_depth and word == "END":
                atomic_depth -= 1
            pos = match.end()
            continue
        pos += 1
    if start_line is not None:
        finish(length)
    return statements


def _is_escape_string_prefix(script: str, pos: int) -> bool:
    """True when the quote at ``pos`` opens an E'...' string (backslash escapes)."""
    if pos == 0 or script[pos - 1] not in "eE":
        return False
    return pos < 2 or not (script[pos - 2].isalnum() or script[pos - 2] in "_$")


def _is_routine(words: list[str]) -> bool:
    """True when the statement so far is CREATE [OR REPLACE] FUNCTION/PROCEDURE."""
    body = words[1:]
    if body[:2] == ["OR", "REPLACE"]:
        body = body[2:]
    return words[:1] == ["CREATE"] and body[:1] in (["FUNCTION"], ["PROCEDURE"])


def _previous_word(script: str, pos: int) -> str:
    """The bare word that ends just before ``pos`` (whitespace skipped)."""
    end = pos
    while end > 0 and script[end - 1].isspace():
        end -= 1
    begin = end
    while begin > 0 and (script[begin - 1].isalnum() or script[begin - 1] == "_"):
        begin -= 1
    return script[begin:end].upper()
