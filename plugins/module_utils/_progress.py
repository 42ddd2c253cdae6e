# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress of a long step, written for the controller to read while the module runs (docs/progress.md).

The collection's action plugins (``plugins/action``) run a module in a thread on the controller and name a
file in the task's remote tmp directory in the module's environment (``KNOWLEDGEHUB_PROGRESS_FILE``). The
module appends one JSON line per report: ``{"at", "step", "elapsed", "done", "total", "unit", "note"}``; the
plugin reads what was appended every few seconds and prints a line. Without that variable (a module run by
``ansible -m``, by the tests, or with progress off) every call here does nothing.

The file holds step names and counts only: never an option, a connection string or a row. It lives in the
remote tmp directory, which Ansible removes at the task's end (a killed run leaves a few counts behind).

A migration's batches report through PostgreSQL NOTICEs (005's ``'%/% chunks'`` lines), which psycopg2
delivers only when a statement ends. ``watch_notices`` installs psycopg2's wait callback (its "green" mode:
the statement is sent and its results read in a poll loop, in the same thread) so each notice reaches
the reporter as it arrives; only while a progress file is given.
"""

from __future__ import annotations

import json
import os
import re
import select
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

ENV = "KNOWLEDGEHUB_PROGRESS_FILE"
MIN_GAP = 0.5  # seconds between two lines of the same step (a batch loop may report far more often)

# "12000/100000 chunks" in a NOTICE: done, total, unit
_FIGURES = re.compile(r"(\d[\d,]*)\s*/\s*(\d[\d,]*)\s+([A-Za-z_]+)")


class Reporter:
    """Appends progress lines to ``path``; with no path, a reporter that does nothing."""

    def __init__(self, path: str | None) -> None:
        self.path = path or None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._step: str | None = None
        self._step_started = time.monotonic()
        self._last = 0.0
        self._broken = False

    @property
    def enabled(self) -> bool:
        return self.path is not None and not self._broken

    def report(self, step: str, done: int | None = None, total: int | None = None, unit: str | None = None,
               note: str | None = None, force: bool = False) -> None:
        """One line: ``step`` (a new step restarts its clock), how far (``done`` of ``total`` ``unit``), a note.
        Lines of the same step closer than MIN_GAP are dropped unless ``force``. Never raises: progress must
        not fail the work it describes."""
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if step != self._step:
                self._step, self._step_started, force = step, now, True
            if not force and now - self._last < MIN_GAP:
                return
            self._last = now
            line = {"at": round(time.time(), 3), "step": step, "elapsed": round(now - self._step_started, 1),
                    "done": done, "total": total, "unit": unit, "note": note}
            self._write(json.dumps(line, sort_keys=True) + "\n")

    def _write(self, text: str) -> None:
        try:
            if self._fd is None:
                # 0644: no secret in it, and a become-root module's file stays readable by the connection user
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, text.encode("utf-8"))
        except OSError:
            self._broken = True  # the tmp directory went away: the work goes on without progress

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = None


_REPORTER: Reporter | None = None


def reporter() -> Reporter:
    """The module's reporter, from the environment the action plugin set (one per process)."""
    global _REPORTER  # pylint: disable=global-statement
    if _REPORTER is None:
        _REPORTER = Reporter(os.environ.get(ENV))
    return _REPORTER


def figures(notice: str) -> tuple[int, int, str] | None:
    """``(done, total, unit)`` from a progress NOTICE such as ``005 enhanced_chunks: 12000/100000 chunks (12%)``."""
    match = _FIGURES.search(notice)
    if not match:
        return None
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", "")), match.group(3)


def notice_label(notice: str) -> str:
    """What a NOTICE is about: its text before the first colon (``005 enhanced_chunks``), without the level."""
    text = re.sub(r"^(NOTICE|INFO|WARNING):\s*", "", notice.strip())
    return text.split(":", 1)[0].strip()[:60] if ":" in text else ""


# -- psycopg2's wait callback: notices while a statement runs -------------------------------------------------

_WATCHED: dict[int, Callable[[str | None], None]] = {}


def _wait(conn: Any) -> None:
    """psycopg2's wait callback (the loop of ``psycopg2.extras.wait_select``, with a timeout so a cancelled
    module still ends): each NOTICE that arrives on a watched connection goes to its handler at once."""
    from psycopg2 import OperationalError  # pylint: disable=import-outside-toplevel
    from psycopg2.extensions import POLL_OK, POLL_READ, POLL_WRITE  # pylint: disable=import-outside-toplevel

    handler = _WATCHED.get(id(conn))
    seen = len(conn.notices)
    if handler is not None:
        _call(handler, None)  # a statement starts
    while True:
        try:
            state = conn.poll()
        except KeyboardInterrupt:
            conn.cancel()
            continue
        if handler is not None and len(conn.notices) > seen:
            for notice in list(conn.notices)[seen:]:
                _call(handler, notice)
            seen = len(conn.notices)
        if state == POLL_OK:
            return
        if state == POLL_READ:
            select.select([conn.fileno()], [], [], 1.0)
        elif state == POLL_WRITE:
            select.select([], [conn.fileno()], [], 1.0)
        else:
            raise OperationalError("unexpected state from poll(): %r" % state)


def _call(handler: Callable[[str | None], None], notice: str | None) -> None:
    try:
        handler(notice)
    except Exception:  # pylint: disable=broad-except
        pass  # progress never fails the statement


def statements_handler(step: str, count: int, number: Callable[[], int]) -> Callable[[str | None], None]:
    """The handler of a migration file's connection: at each statement's start ``statement k of n``; at each
    progress NOTICE its figures (``12000/100000 chunks``) with its label and the statement."""
    report = reporter().report

    def handle(notice: str | None) -> None:
        current = number()
        where = "statement %d of %d" % (current, count) if current else "commit"
        if notice is None:  # the figures say which statement
            report(step, current or count, count, "statements")
            return
        found = figures(notice)
        if found:
            label = notice_label(notice)
            report(step, found[0], found[1], found[2], "%s, %s" % (label, where) if label else where)

    return handle


def path_size(path: str) -> int:
    """Bytes in a file, or in the files of a directory (a directory-format dump); 0 when it is not there yet."""
    try:
        if not os.path.isdir(path):
            return os.stat(path).st_size
        return sum(e.stat().st_size for e in os.scandir(path) if e.is_file(follow_symlinks=False))
    except OSError:
        return 0


def bytes_ticker(step: str, path: str, estimate: int | None, note: str | None = None) -> Callable[[Any], None] | None:
    """A ``tick`` for ``_process.Running.wait``: the bytes written to ``path`` so far, against ``estimate``.
    None when progress is off (the wait stays one blocking call)."""
    if not reporter().enabled:
        return None

    def tick(_running: Any) -> None:
        reporter().report(step, path_size(path), estimate or None, "bytes", note)

    return tick


def read_bytes(pid: int) -> int | None:
    """What process ``pid`` has read so far (``rchar`` of /proc/<pid>/io, Linux), or None."""
    try:
        with open("/proc/%d/io" % pid, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def reader_ticker(step: str, total: int | None, note: str | None = None) -> Callable[[Any], None] | None:
    """A ``tick`` for a program that reads an archive (pg_restore): the bytes it has read against the archive's
    size; elapsed time only where /proc cannot tell. None when progress is off."""
    if not reporter().enabled:
        return None

    def tick(running: Any) -> None:
        done = read_bytes(running.pid)
        if done is None:
            reporter().report(step, note=note)
        else:
            reporter().report(step, min(done, total) if total else done, total or None, "bytes", note)

    return tick


@contextmanager
def watch_notices(conn: Any, handler: Callable[[str | None], None]) -> Iterator[None]:
    """While the block runs, each NOTICE of ``conn`` goes to ``handler`` as it arrives (and None as each
    statement starts). Only when the module
    reports progress: otherwise psycopg2 stays in its ordinary blocking mode."""
    if not reporter().enabled:
        yield
        return
    from psycopg2.extensions import set_wait_callback  # pylint: disable=import-outside-toplevel

    set_wait_callback(_wait)  # process-wide and idempotent; other connections poll the same way, unwatched
    _WATCHED[id(conn)] = handler
    try:
        yield
    finally:
        _WATCHED.pop(id(conn), None)
