# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading relation names and clauses from a statement's tokens, for the lock analysis.

Unqualified names are reported as written (schema public is assumed;
``public.x`` is reported as ``x``); unquoted parts fold to lower case.
"""

from __future__ import annotations

import re

from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import Token

# These end a list of relations (DROP ... CASCADE, TRUNCATE ... RESTRICT).
END_OF_LIST = ("CASCADE", "RESTRICT")


def render_name(parts: list[str]) -> str:
    """``["public", "t"]`` -> ``t``; a part that needs quotes keeps them."""
    if len(parts) == 2 and parts[0] == "public":
        parts = parts[1:]
    return ".".join(p if re.fullmatch(r"[a-z_][a-z0-9_$]*", p) else '"%s"' % p.replace('"', '""') for p in parts)


def read_parts(toks: list[Token], i: int) -> tuple[list[str], int]:
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


def read_name(toks: list[Token], i: int) -> tuple[str | None, int]:
    """The rendered name at ``i`` (see ``render_name``), or None."""
    parts, i = read_parts(toks, i)
    return (render_name(parts), i) if parts else (None, i)


def skip_words(toks: list[Token], i: int, *words: str) -> int:
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


def close_paren(toks: list[Token], i: int) -> int:
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


def split_top(toks: list[Token], start: int) -> list[list[Token]]:
    """``toks[start:]`` split on commas outside parentheses."""
    parts: list[list[Token]] = [[]]
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


def names_list(toks: list[Token], start: int, stop_words: tuple[str, ...] = ()) -> list[str]:
    """The relation names of a comma-separated list (``a, b (cols), ONLY c *``)."""
    names = []
    for part in split_top(toks, start):
        i = skip_words(part, 0, "ONLY", "TABLE")
        if i < len(part) and part[i].up in stop_words:
            continue
        name, _end = read_name(part, i)
        if name:
            names.append(name)
    return names


def words_of(toks: list[Token]) -> list[str]:
    return [t.up for t in toks]
