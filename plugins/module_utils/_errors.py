# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error base of the collection, and the small text helpers every error message uses.

Every failure a module reports is a ``Failure``: ``message`` says what failed, where and
what to do; ``details`` holds the facts that go into the failed result beside ``msg``
(the command line, the exit code, the ledger's state ...). Subclasses only name the
kind of failure so that a caller can catch one kind; none adds behaviour.
"""

from __future__ import annotations

from typing import Any

MASK = "********"


class Failure(Exception):
    """A failure with a message for the operator and the facts for the result."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class OptionError(Failure):
    """An option's value is wrong; nothing was done."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its class name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def mask(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` replaced by asterisks (a second guard: libpq does not echo passwords)."""
    if secret and text:
        return text.replace(secret, MASK)
    return text
