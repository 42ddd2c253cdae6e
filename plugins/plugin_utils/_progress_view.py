# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress line the controller prints while a module runs (docs/progress.md): pure, no Ansible.

Records are the JSON lines the module appends (``module_utils/_progress``): step, elapsed (seconds since the
step started, on the host's clock), done, total, unit, note. A line says what runs, how far it is (rows,
statements or bytes, with a percentage when the total is known), how long the step has run, an estimate of
what is left (from the rate since the step's first report of the same unit and total), and the task's time.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "knowledgehub progress"
UNEVEN = ("statements",)  # units of very different cost: one statement may take minutes, the next a millisecond


def clock(seconds: float) -> str:
    """0:07, 12:05, 1:02:03"""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "%d:%02d:%02d" % (hours, minutes, secs) if hours else "%d:%02d" % (minutes, secs)


def size(value: float) -> str:
    """Bytes for a person: 812 B, 4.2 MB, 1.3 GB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1000.0
    return "%d B" % value  # not reached


def parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The complete JSON lines of ``data`` and how many bytes they used (a line still being written stays for
    the next read)."""
    records = []
    used = data.rfind(b"\n") + 1
    for line in data[:used].decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), str):
            records.append(record)
    return records, used


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class ProgressView:
    """What the controller knows of one task's progress, and its line."""

    def __init__(self, host: str, action: str) -> None:
        self.host = host
        self.action = action
        self.last: dict[str, Any] | None = None
        self._first: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._last_read = 0.0

    def add(self, records: list[dict[str, Any]], task_seconds: float = 0.0) -> None:
        """Records read when the task had run ``task_seconds`` (the controller's clock)."""
        for record in records:
            key = (record.get("step"), record.get("unit"), record.get("total"))
            self._first.setdefault(key, record)
            self.last = record
            self._last_read = task_seconds

    def estimate(self) -> float | None:
        """Seconds left for the last record's step, from its rate since its first record of the same unit and
        total; None when the total is unknown, nothing moved yet, the figure went past the total, or the unit is
        uneven (statements)."""
        last = self.last
        if last is None or last.get("unit") in UNEVEN:
            return None
        done, total, at = _number(last.get("done")), _number(last.get("total")), _number(last.get("elapsed"))
        first = self._first.get((last.get("step"), last.get("unit"), last.get("total")), last)
        done0, at0 = _number(first.get("done")), _number(first.get("elapsed"))
        if None in (done, total, at, done0, at0) or done > total or at <= at0 or done <= done0:  # type: ignore
            return None
        rate = (done - done0) / (at - at0)  # type: ignore[operator]
        return (total - done) / rate  # type: ignore[operator]

    def figures(self) -> str:
        """``45,000/100,000 chunks (45%)``, ``1.2 GB of about 3.4 GB (35%)``, ``statement 3 of 9`` ..."""
        last = self.last or {}
        done, total, unit = _number(last.get("done")), _number(last.get("total")), last.get("unit") or ""
        if done is None:
            return ""
        if unit == "bytes":
            text = size(done) + (" of about %s" % size(total) if total else "")
        else:
            text = "{:,}".format(int(done)) + ("/{:,}".format(int(total)) if total is not None else "")
            text += " %s" % unit if unit else ""
        if total and done <= total:
            text += " (%d%%)" % int(100 * done / total)
        return text

    def line(self, task_seconds: float) -> str:
        """The line printed now: the task has run ``task_seconds`` on the controller's clock."""
        head = "%s [%s] %s" % (PREFIX, self.host, self.action)
        last = self.last
        if last is None:
            return "%s: running, %s so far" % (head, clock(task_seconds))
        parts = [part for part in (self.figures(), last.get("note") or "") if part]
        text = "%s: %s%s" % (head, last["step"], (": " + ", ".join(parts)) if parts else "")
        # the step has gone on since its last report was read (a step without figures reports once)
        since = max(0.0, task_seconds - self._last_read)
        timing = []
        if _number(last.get("elapsed")) is not None:
            timing.append("step %s" % clock(last["elapsed"] + since))
        left = self.estimate()
        if left is not None:
            timing.append("about %s left" % clock(max(0.0, left - since)))
        timing.append("task %s" % clock(task_seconds))
        return "%s | %s" % (text, ", ".join(timing))
