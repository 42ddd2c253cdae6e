# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the monitor of a pg_migrate run does with a sample: the thresholds, the policy, the hysteresis.

Pure (samples in, decisions out), so every rule is unit-tested without a
database or a clock. The thresholds are the runbook's alerts: CPU above
``monitor_max_cpu`` percent, memory above ``monitor_max_memory`` percent, a
session waiting for a lock longer than ``monitor_max_lock_wait`` seconds.

* ``warn``: each time a figure rises above its threshold, a warning (one per
  crossing, not one per sample).
* ``pause``: the throttle is held while a figure is above its threshold, as
  gh-ost and pt-online-schema-change throttle on load; a batched migration
  waits between its batches. It is released when every figure is back at or
  below 90 % of its threshold (hysteresis: a load hovering at the threshold
  does not toggle it every sample), or after ``monitor_max_pause`` seconds.
  Then the migration goes on: the pause is a throttle, not a gate. A paused
  005 keeps its change capture on the application's tables and its queue
  grows, so an endless pause costs the application more than the batches
  do; who wants a stop chooses ``abort``. The throttle is taken again only
  after the load has come down below the resume level once.
* ``abort``: the first figure above its threshold stops the migration.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError

POLICIES = ("warn", "pause", "abort")
# metric -> (option, unit, what it is)
THRESHOLDS = {
    "cpu_percent": ("monitor_max_cpu", "%", "CPU"),
    "memory_percent": ("monitor_max_memory", "%", "memory"),
    "lock_wait_s": ("monitor_max_lock_wait", " s", "lock wait"),
}
RESUME_FACTOR = 0.9  # the throttle is released at or below 90 % of each threshold
PEAKS = ("cpu_percent", "memory_percent", "io_read_bps", "io_write_bps", "lock_wait_s", "blocked_sessions",
         "long_queries", "new_errors")
SETTINGS = {"monitor_interval": 5.0, "monitor_max_cpu": 80.0, "monitor_max_memory": 90.0,
            "monitor_max_lock_wait": 10.0, "monitor_max_pause": 300.0, "monitor_long_query_seconds": 60.0}


def monitor_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The monitor's options, checked (OptionError names the first wrong one)."""
    out: dict[str, Any] = {}
    for name, default in SETTINGS.items():
        value = params.get(name)
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise OptionError("%s=%r must be a number of 0 or more." % (name, value))
        if name in ("monitor_max_cpu", "monitor_max_memory") and value > 100:
            raise OptionError("%s=%s is a percentage: give 0 to 100 (100 never fires)." % (name, value))
        out[name] = float(value)
    policy = params.get("monitor_policy") or "warn"
    if policy not in POLICIES:
        raise OptionError("monitor_policy=%r: choose one of %s." % (policy, ", ".join(POLICIES)))
    out["monitor_policy"] = policy
    return out


def reachable(blockers: dict[int, list[int]], root: int | None) -> list[int]:
    """The sessions waiting, directly or through others, for ``root``: ``blockers`` maps each waiting pid to
    the pids it waits for (pg_blocking_pids)."""
    if root is None:
        return []
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, held in blockers.items() if pid not in found and frontier & set(held)}
        found |= frontier
    found.discard(root)
    return sorted(found)


def number(value: Any) -> Any:
    """A figure as a message shows it: 80 rather than 80.0, one decimal otherwise."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 1)
    return value


def figure(metric: str, value: Any) -> str:
    return "%s%s" % (number(value), THRESHOLDS[metric][1] if metric in THRESHOLDS else "")


class Policy:
    """The state of the monitor's policy over a run: which figures are above their threshold, whether the
    throttle is held and for how long, the warnings, the abort."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.policy = settings["monitor_policy"]
        self.limits = {metric: settings[option] for metric, (option, _u, _w) in THRESHOLDS.items()}
        self.max_pause = settings["monitor_max_pause"]
        self.over: dict[str, Any] = {}
        self.paused_since: float | None = None
        self.armed = True
        self.pauses = 0
        self.paused_seconds = 0.0
        self.abort_reason: str | None = None
        self.warnings: list[str] = []

    def _above(self, sample: dict[str, Any]) -> dict[str, Any]:
        return {m: sample[m] for m, limit in self.limits.items() if sample.get(m) is not None and sample[m] > limit}

    def _calm(self, sample: dict[str, Any]) -> bool:
        """Every figure at or below its resume level (90 % of its threshold)."""
        return all(sample.get(m) is None or sample[m] <= limit * RESUME_FACTOR for m, limit in self.limits.items())

    def describe(self, over: dict[str, Any], sample: dict[str, Any] | None = None) -> str:
        """``over`` in words; a lock wait names the session (the sample's ``longest_wait``)."""
        return ", ".join("%s %s above %s=%s%s" % (
            THRESHOLDS[m][2], figure(m, v), THRESHOLDS[m][0], number(self.limits[m]),
            " (%s)" % sample["longest_wait"] if m == "lock_wait_s" and (sample or {}).get("longest_wait") else "")
            for m, v in over.items())

    def decide(self, sample: dict[str, Any], now: float, where: str = "") -> str:
        """Take one sample at monotonic time ``now``; returns the action: none, pause, resume or abort."""
        over = self._above(sample)
        rising = {m: v for m, v in over.items() if m not in self.over}
        self.over = over
        at = " (at +%ss%s)" % (round(sample.get("t", 0), 1), ", " + where if where else "")
        if rising:
            self.warnings.append("%s%s." % (self.describe(rising, sample), at))
        if self.abort_reason:
            return "none"
        if self.policy == "abort" and over:
            self.abort_reason = "%s%s" % (self.describe(over, sample), at)
            return "abort"
        if self.policy != "pause":
            return "none"
        calm = self._calm(sample)
        if self.paused_since is None:
            if calm:
                self.armed = True
            if over and self.armed:
                self.paused_since = now
                self.pauses += 1
                return "pause"
            return "none"
        if calm:
            self._release(now)
            return "resume"
        if now - self.paused_since >= self.max_pause:
            self._release(now)
            self.armed = False
            self.warnings.append("Throttle released after monitor_max_pause %ss with %s: the migration goes on; "
                                 "it is throttled again once the load has come down%s."
                                 % (number(self.max_pause), self.describe(over) or "the load still high", at))
            return "resume"
        return "none"

    def _release(self, now: float) -> None:
        if self.paused_since is not None:
            self.paused_seconds += max(0.0, now - self.paused_since)
            self.paused_since = None

    def finish(self, now: float) -> None:
        """The run ended: a pause still running counts until now."""
        self._release(now)

    @property
    def paused(self) -> bool:
        return self.paused_since is not None


def peaks(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest value of each figure over the samples (None when never measured)."""
    out: dict[str, Any] = {}
    for key in PEAKS:
        values = [s[key] for s in samples if s.get(key) is not None]
        out[key] = max(values) if values else None
    return out


def cut_timeline(samples: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` samples for the result: those where something happened (an action, a warning) first,
    then evenly spread ones, in time order."""
    if len(samples) <= limit:
        return list(samples)
    marked = [i for i, s in enumerate(samples) if s.get("action") not in (None, "none") or s.get("warned")]
    chosen = set(marked[:limit])
    need = limit - len(chosen)
    rest = [i for i in range(len(samples)) if i not in chosen]
    chosen.update(rest[k * len(rest) // need] for k in range(need))
    return [samples[i] for i in sorted(chosen)]


__all__ = ["POLICIES", "THRESHOLDS", "RESUME_FACTOR", "PEAKS", "Policy", "monitor_settings", "reachable", "peaks",
           "cut_timeline", "figure", "number"]
