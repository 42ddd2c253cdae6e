# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Split a SQL script into statements the way PostgreSQL's own lexer sees them.

A semicolon ends a statement only outside string literals (standard, E'' and
dollar-quoted), quoted identifiers, comments (``--`` and nested ``/* */``) and
SQL-standard function bodies (``BEGIN ATOMIC ... END``). Each statement keeps
the line it starts on, so an error can name the exact place in the file. The
tokens come from the collection's one lexer (``_sqllex``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import (
    COMMENT,
    DOLLAR_TAG,
    IDENT,
    WORD,
    Token,
    tokens,
)

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


class SqlSplitError(Failure):
    """The script cannot be split: an unterminated literal, identifier or comment (``details["line"]``)."""

    @property
    def line(self) -> int:
        return int(self.details["line"])


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text, its 1-based number and first line."""

    number: int
    line: int
    text: str

    @cached_property
    def words(self) -> tuple[str, ...]:
        """The leading keywords, upper-cased, with comments skipped (read once per statement)."""
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
    for tok in tokens(text, comments=True):
        if len(words) >= limit:
            break
        if tok.kind == COMMENT:
            if not tok.closed:
                raise _unterminated(text, tok, 1)
            continue
        if tok.kind != WORD:
            break
        words.append(tok.up)
    return tuple(words)


def _unterminated(script: str, tok: Token, line: int) -> SqlSplitError:
    if tok.kind == COMMENT:
        what = "/* comment"
    elif tok.kind == IDENT:
        what = "quoted identifier"
    elif script[tok.start] == "$":
        what = "dollar-quoted string %s" % DOLLAR_TAG.match(script, tok.start).group(0)
    else:
        what = "string literal"
    return SqlSplitError("unterminated %s" % what, {"line": line})


class _Splitter:
    """The statements of one script, cut at the semicolons that end a statement."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.statements: list[Statement] = []
        self.start: int | None = None  # where the current statement starts, at its first token
        self.start_line = 0
        self.words: list[str] = []  # its first words, to see CREATE FUNCTION ... BEGIN ATOMIC
        self.atomic_depth = 0  # > 0 inside a BEGIN ATOMIC body, where semicolons do not end the statement

    def finish(self, end: int) -> None:
        text = self.script[self.start:end].strip()
        if text:  # every statement that holds a token counts: "(SELECT 1)", "\\set x" (refused later), "'x'"
            self.statements.append(Statement(len(self.statements) + 1, self.start_line, text))
        self.start = None
        self.words = []
        self.atomic_depth = 0

    def word(self, tok: Token) -> None:
        word = tok.up
        if len(self.words) < 6:
            self.words.append(word)
        if self.atomic_depth == 0 and word == "ATOMIC" and _is_routine(self.words) \
                and _previous_word(self.script, tok.start) == "BEGIN":
            self.atomic_depth = 1
        elif self.atomic_depth and word in ("CASE", "BEGIN"):
            self.atomic_depth += 1
        elif self.atomic_depth and word == "END":
            self.atomic_depth -= 1

    def run(self) -> list[Statement]:
        line, counted = 1, 0  # the line of position ``counted``
        for tok in tokens(self.script, comments=True):
            line += self.script.count("\n", counted, tok.start)
            counted = tok.start
            if not tok.closed:
                raise _unterminated(self.script, tok, line)
            if tok.kind == COMMENT:
                continue
            if self.start is None:
                self.start, self.start_line = tok.start, line
            if tok.is_op(";") and self.atomic_depth == 0:
                self.finish(tok.start)
            elif tok.kind == WORD:
                self.word(tok)
        if self.start is not None:
            self.finish(len(self.script))
        return self.statements


def split_sql(script: str) -> list[Statement]:
    """Split ``script`` into statements; empty statements and bare comments are dropped."""
    return _Splitter(script).run()


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
