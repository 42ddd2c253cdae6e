# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one SQL lexer of the collection: tokens with their positions, as PostgreSQL's scanner cuts them.

The statement splitter (``_sqlsplit``) and the lock analysis (``_locks``) both read SQL
through ``tokens``, so what is a string, a quoted identifier or a comment is decided
in one place:

* comments: ``--`` to the end of the line, and ``/* */``, which nest;
* string literals: standard ``'...'`` (``''`` is a quote), ``E'...'`` (backslash
  escapes; the ``E`` is a word token right before the literal) and dollar quoting
  ``$tag$...$tag$``;
* quoted identifiers ``"..."`` (``""`` is a quote);
* words (keywords and bare identifiers, ``$`` allowed after the first character),
  numbers, and operators (never containing ``--`` or ``/*``, which start comments);
  any other character is a one-character operator token (``(``, ``,``, ``;``, ``$1`` ...).

The lexer never fails: an unterminated literal, identifier or comment runs to the end
of the text and comes out with ``closed=False``; the caller decides whether that is
an error (the splitter says so, the lock analysis reads what there is).
"""

from __future__ import annotations

import functools
import re
from typing import Iterator, NamedTuple

WORD = "word"
IDENT = "ident"  # a quoted identifier; its text is the name without quotes
STRING = "str"  # a literal; its text is the content, between the quotes or dollar tags
NUMBER = "num"
OP = "op"
COMMENT = "comment"

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+")
_OPERATOR = re.compile(r"(?:[+*<>=~!@#%^&|`?:]|-(?!-)|/(?!\*))+")
DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_QUOTED = {
    "'": re.compile(r"(?:[^']|'')*"),
    '"': re.compile(r'(?:[^"]|"")*'),
}
_ESCAPED = re.compile(r"(?:[^'\\]|\\.|'')*", re.DOTALL)
_ESCAPE_PAIR = re.compile(r"\\.|''", re.DOTALL)
_IDENT_CHARS = "_$"


class Token(NamedTuple):
    """One token: its kind, its text (see the kinds above) and where it is (``text[start:end]``)."""

    kind: str
    text: str
    start: int = 0
    end: int = 0
    closed: bool = True  # False: an unterminated literal, identifier or comment (it runs to the end)

    @property
    def up(self) -> str:
        """A word upper-cased, '' for any other token."""
        return self.text.upper() if self.kind == WORD else ""

    def is_op(self, chars: str) -> bool:
        return self.kind == OP and self.text == chars


def _block_comment_end(text: str, pos: int) -> int:
    """Index after the (nested) block comment opening at ``pos``, or -1 when it is not closed."""
    depth = 0
    for mark in _COMMENT_MARK.finditer(text, pos):
        depth += 1 if mark.group(0) == "/*" else -1
        if depth == 0:
            return mark.end()
    return -1


def _opens_escape_string(text: str, pos: int, prev: Token | None) -> bool:
    """True when the quote at ``pos`` opens an E'...' string: a lone E (or e) right before it."""
    if prev is None or prev.kind != WORD or prev.end != pos or prev.text not in ("E", "e"):
        return False
    before = prev.start - 1
    return before < 0 or not (text[before].isalnum() or text[before] in _IDENT_CHARS)


def _quoted(text: str, pos: int, quote: str, escapes: bool) -> Token:
    """The literal or quoted identifier opening at ``pos``."""
    body = (_ESCAPED if escapes else _QUOTED[quote]).match(text, pos + 1)
    closed = text.startswith(quote, body.end())
    raw = text[pos + 1:body.end()] if closed else text[pos + 1:]
    if escapes:
        content = _ESCAPE_PAIR.sub(lambda m: m.group(0) if m.group(0)[0] == "\\" else "'", raw)
    else:
        content = raw.replace(quote * 2, quote)
    return Token(IDENT if quote == '"' else STRING, content, pos, body.end() + 1 if closed else len(text), closed)


def _dollar_quoted(text: str, pos: int) -> Token | None:
    """The dollar-quoted string opening at ``pos``; None when ``$`` does not open one here."""
    if pos > 0 and (text[pos - 1].isalnum() or text[pos - 1] == "_"):
        return None
    tag = DOLLAR_TAG.match(text, pos)
    if not tag:
        return None
    close = text.find(tag.group(0), tag.end())
    if close < 0:
        return Token(STRING, text[tag.end():], pos, len(text), False)
    return Token(STRING, text[tag.end():close], pos, close + len(tag.group(0)))


def _token_at(text: str, pos: int, prev: Token | None) -> Token:
    char = text[pos]
    if text.startswith("--", pos):
        newline = text.find("\n", pos)
        end = len(text) if newline < 0 else newline
        return Token(COMMENT, text[pos:end], pos, end)
    if text.startswith("/*", pos):
        end = _block_comment_end(text, pos)
        return Token(COMMENT, text[pos:end if end >= 0 else len(text)], pos, end if end >= 0 else len(text), end >= 0)
    if char in "'\"":
        return _quoted(text, pos, char, char == "'" and _opens_escape_string(text, pos, prev))
    if char == "$":
        dollar = _dollar_quoted(text, pos)
        if dollar is not None:
            return dollar
    for kind, pattern in ((WORD, _WORD), (NUMBER, _NUMBER), (OP, _OPERATOR)):
        match = pattern.match(text, pos)
        if match:
            return Token(kind, match.group(0), pos, match.end())
    return Token(OP, char, pos, pos + 1)


def tokens(text: str, comments: bool = False) -> Iterator[Token]:
    """The tokens of ``text`` in order; comments only when ``comments`` is true. Whitespace is never a token."""
    pos = 0
    length = len(text)
    prev: Token | None = None
    while pos < length:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
            if pos >= length:
                return
        prev = _token_at(text, pos, prev)
        pos = prev.end
        if comments or prev.kind != COMMENT:
            yield prev


def tokenize(text: str) -> list[Token]:
    """Every token of ``text`` but the comments. The lock analysis, the lint and the pre-flight each read a statement
    several times: it is lexed once (tokens are immutable, each caller gets a list of its own)."""
    return list(_lexed(text))


@functools.lru_cache(maxsize=2048)
def _lexed(text: str) -> tuple[Token, ...]:
    return tuple(tokens(text))
