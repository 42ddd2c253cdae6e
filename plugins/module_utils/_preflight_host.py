# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The managed host's room for the migration: free disk where the backups go, available memory, CPU load.

What is measured is the host the module runs on: on a docker-compose host, the one whose
disk, memory and CPUs the ``db`` container shares. The files of /proc are parsed from their
text (``parse_meminfo``, ``parse_loadavg``), so the decisions are tested without a host.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    estimate_size,
    existing_parent,
    human,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import (
    FAIL,
    MIB,
    PASS,
    above,
    at_least,
    make_check,
    mb,
)

MEMINFO = "/proc/meminfo"
LOADAVG = "/proc/loadavg"

# pg_backup's own reserve on top of its estimate (``_backup_store.space_verdict``): a dump that fits only
# without it is refused by pg_backup, so the gate asks for the same.
RESERVE_FRACTION = 0.10
RESERVE_MIN = 16 * MIB


# -- /proc, from text ----------------------------------------------------------------


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` -> {field: bytes}; the kB unit is converted, lines that are not ``Name: N [kB]`` skipped."""
    found: dict[str, int] = {}
    for line in (text or "").splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts or not parts[0].isdigit():
            continue
        found[name.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return found


def parse_loadavg(text: str) -> tuple[float, float, float] | None:
    """``/proc/loadavg`` -> its 1, 5 and 15 minute load averages, or None when the text is not one."""
    parts = (text or "").split()
    try:
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return None


def read_text(path: str) -> str | None:
    """A small file's text, or None when it cannot be read (not Linux, no /proc in a jail)."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read(65536)
    except OSError:
        return None


# -- memory ----------------------------------------------------------------------------


def memory_check(meminfo_text: str | None, min_free_memory_mb: int) -> dict[str, Any]:
    """MemAvailable (what the kernel can hand out without swapping) against ``min_free_memory_mb``."""
    available = parse_meminfo(meminfo_text or "").get("MemAvailable")
    observed = mb(available)
    status = at_least(observed, min_free_memory_mb)
    if observed is None:
        message = ("Cannot read MemAvailable from %s on this host (not Linux, or a kernel older than 3.14); "
                   "check the free memory by hand (runbook: 1 GB)." % MEMINFO)
    elif status == PASS:
        message = "%d MB of memory available (at least %d MB needed)." % (observed, min_free_memory_mb)
    else:
        message = ("Only %d MB of memory available, %d MB needed: index builds and the data migration would push "
                   "the host into swap. Stop what does not need to run during the migration, or wait for a "
                   "quieter moment." % (observed, min_free_memory_mb))
    return make_check("free_memory", status, observed, min_free_memory_mb, message)


# -- CPU --------------------------------------------------------------------------------


def cpu_percent(loadavg: tuple[float, float, float] | None, cpus: int | None) -> float | None:
    """The 1-minute load average per CPU, as a percent (100 = every CPU busy, on average)."""
    if loadavg is None or not cpus:
        return None
    return round(loadavg[0] / cpus * 100.0, 1)


def cpu_check(loadavg_text: str | None, cpus: int | None, max_cpu_percent: float,
              max_cpu_percent_fail: float | None) -> dict[str, Any]:
    """The 1-minute load average per CPU against ``max_cpu_percent`` (warn) and ``max_cpu_percent_fail`` (fail)."""
    loadavg = parse_loadavg(loadavg_text or "")
    percent = cpu_percent(loadavg, cpus)
    status = above(percent, max_cpu_percent, max_cpu_percent_fail)
    observed = None if percent is None else {"percent": percent, "load_1m": loadavg[0], "cpus": cpus}
    threshold = {"warn_above": max_cpu_percent, "fail_above": max_cpu_percent_fail}
    if percent is None:
        message = "Cannot read the load average from %s on this host; check the CPU load by hand." % LOADAVG
    elif status == PASS:
        message = "CPU load %.1f%% (1-minute load %.2f on %d CPUs), at most %s%% wanted." % (
            percent, loadavg[0], cpus, max_cpu_percent)
    else:
        message = ("CPU load %.1f%% (1-minute load %.2f on %d CPUs) is above %s%%: the migration's index builds "
                   "and data copy will be slower and the application slower still. Run it when the host is "
                   "quieter, or find what keeps the CPUs busy (top)." % (
                       percent, loadavg[0], cpus, max_cpu_percent_fail if status == FAIL else max_cpu_percent))
    return make_check("cpu_load", status, observed, threshold, message)


def cpu_count() -> int | None:
    """The CPUs the load average is spread over (the whole host's: the load average is the whole host's)."""
    return os.cpu_count()


# -- disk ---------------------------------------------------------------------------------


def backup_estimate(data_bytes: int | None, n_tables: int, backup_format: str, compression: str) -> int | None:
    """The size one pg_backup dump will have, by pg_backup's own estimate (``_backup_store.estimate_size``).

    ``auto`` compression is gzip level 1 with pg_dump 15 and lz4 with 16 or newer: the larger of the two
    factors (lz4's) is taken, as the pg_dump that will run is not known here.
    """
    if data_bytes is None:
        return None
    method = "none" if backup_format == "plain" else ("lz4" if compression in ("", "auto") else compression)
    return estimate_size(data_bytes, n_tables, "full", method)


def free_bytes(path: str) -> tuple[str, int]:
    """The free space (for an unprivileged user) of the file system ``path`` is, or would be created, on."""
    where = existing_parent(path)
    stat = os.statvfs(where)
    return where, stat.f_bavail * stat.f_frsize


def disk_decision(free: int, min_free_disk_mb: int, estimate: int | None, backups: int) -> tuple[str, int]:
    """(status, required bytes): the required free space is the larger of ``min_free_disk_mb`` and what
    ``backups`` dumps of ``estimate`` bytes need with pg_backup's reserve."""
    required = min_free_disk_mb * MIB
    if estimate is not None:
        needed = estimate * max(1, backups)
        required = max(required, needed + max(int(needed * RESERVE_FRACTION), RESERVE_MIN))
    return (PASS if free >= required else FAIL), required


def disk_check(backup_dir: str, min_free_disk_mb: int, estimate: int | None, backups: int,
               database_size: int | None, estimate_note: str = "") -> dict[str, Any]:
    """Free space where the backups go against max(``min_free_disk_mb``, the backups' estimate + reserve)."""
    where, free = free_bytes(backup_dir)
    status, required = disk_decision(free, min_free_disk_mb, estimate, backups)
    observed = {"free_mb": mb(free), "path": where, "backup_estimate_mb": mb(estimate),
                "database_size_mb": mb(database_size)}
    threshold = {"min_free_mb": mb(required)}
    basis = ("%d backup(s) of about %s each (pg_backup's estimate, with its reserve) or %d MB, the larger"
             % (backups, human(estimate), min_free_disk_mb) if estimate is not None
             else "%d MB (the backup's size could not be estimated%s)" % (min_free_disk_mb, estimate_note))
    where_text = where if where == os.path.abspath(backup_dir) else "%s (backup_dir %s does not exist yet)" % (
        where, backup_dir)
    if status == PASS:
        message = "%s free on %s; needed: %s." % (human(free), where_text, basis)
    else:
        message = ("Only %s free on %s, but %s needed: %s. Free some space there, point backup_dir at a larger "
                   "file system, or use a more compressed backup format."
                   % (human(free), where_text, human(required), basis))
    details = [estimate_note.strip("; ")] if estimate_note and estimate is not None else None
    return make_check("free_disk", status, observed, threshold, message, details)


__all__ = ["MEMINFO", "LOADAVG", "parse_meminfo", "parse_loadavg", "read_text", "memory_check", "cpu_percent",
           "cpu_check", "cpu_count", "backup_estimate", "free_bytes", "disk_decision", "disk_check"]
