# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's load as the monitor of a pg_migrate run samples it: CPU, memory and disk I/O from /proc.

The parsers are pure (text in, numbers out) and unit-tested; ``HostSampler``
reads the files and keeps the previous reading, because CPU time and disk
counters are totals since boot: a load is the difference of two readings over
the time between them. On a compose host the module runs on the database's
machine, so these are the database server's figures; elsewhere they are the
figures of the machine the module runs on. Without /proc (not Linux) every
figure is None and no threshold on it can fire.
"""

from __future__ import annotations

import os
import re
from typing import Any

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's block size
# Devices that are not disks (loop, ram, zram, optical, floppy) and partitions (their disk is counted).
_NOT_A_DISK = re.compile(r"^(loop|ram|zram|sr|fd)\d*$")
_PARTITION = re.compile(r"^((sd|hd|vd|xvd)[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+|nbd\d+)p\d+)$")


def parse_cpu(text: str) -> tuple[int, int] | None:
    """/proc/stat: (total, idle) jiffies of all CPUs; idle counts iowait. None when there is no ``cpu`` line."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal (guest in user)
            values += [0] * (8 - len(values))
            return sum(values), values[3] + values[4]
    return None


def cpu_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Busy share of the CPU time between two readings, in percent (None without two readings or time)."""
    if before is None or after is None:
        return None
    total, idle = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return None
    return round(max(0.0, min(100.0, 100.0 * (total - idle) / total)), 1)


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo: the fields in kB."""
    out = {}
    for line in text.splitlines():
        name, _sep, rest = line.partition(":")
        value = rest.split()
        if value and value[0].isdigit():
            out[name.strip()] = int(value[0])
    return out


def memory_percent(meminfo: dict[str, int]) -> float | None:
    """Memory in use: 100 x (1 - MemAvailable / MemTotal). Kernels before 3.14 have no MemAvailable: then
    free + buffers + page cache is what is available."""
    total = meminfo.get("MemTotal")
    if not total:
        return None
    available = meminfo.get("MemAvailable")
    if available is None:
        available = sum(meminfo.get(k, 0) for k in ("MemFree", "Buffers", "Cached"))
    return round(max(0.0, min(100.0, 100.0 * (1 - float(available) / total))), 1)


def parse_diskstats(text: str) -> dict[str, tuple[int, int, int]]:
    """/proc/diskstats: per disk (sectors read, sectors written, milliseconds spent doing I/O); devices that are
    not disks and partitions are left out."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 14 or not all(f.isdigit() for f in fields[3:14]):
            continue
        name = fields[2]
        if _NOT_A_DISK.match(name) or _PARTITION.match(name):
            continue
        out[name] = (int(fields[5]), int(fields[9]), int(fields[12]))
    return out


def busiest_disk(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]],
                 seconds: float) -> dict[str, Any]:
    """The disk with the highest utilisation between two readings: its bytes read and written per second and its
    %util (the share of the time it was busy). Empty figures (None) without a disk or without time."""
    best: dict[str, Any] = {"io_device": None, "io_read_bps": None, "io_write_bps": None, "io_util_percent": None}
    if seconds <= 0:
        return best
    ranked = []
    for name, now in after.items():
        then = before.get(name)
        if then is None:
            continue
        read, write, busy = (max(0, a - b) for a, b in zip(now, then))
        util = min(100.0, 100.0 * busy / (seconds * 1000.0))
        ranked.append((util, read + write, name, read, write))
    if ranked:
        util, _total, name, read, write = max(ranked)
        best = {"io_device": name, "io_read_bps": int(read * SECTOR_BYTES / seconds),
                "io_write_bps": int(write * SECTOR_BYTES / seconds), "io_util_percent": round(util, 1)}
    return best


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


class HostSampler:
    """Reads /proc (``proc``, another root in tests) and returns the load since the previous reading."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self._cpu: tuple[int, int] | None = None
        self._disks: dict[str, tuple[int, int, int]] = {}
        self._at: float | None = None

    def sample(self, now: float) -> dict[str, Any]:
        """The figures at monotonic time ``now``: cpu_percent, memory_percent and the busiest disk's I/O (None
        where a file is missing, and CPU and I/O on the first call, which has nothing to compare with)."""
        stat, meminfo, diskstats = (_read(os.path.join(self.proc, name)) for name in ("stat", "meminfo", "diskstats"))
        cpu = parse_cpu(stat) if stat else None
        disks = parse_diskstats(diskstats) if diskstats else {}
        seconds = now - self._at if self._at is not None else 0.0
        out = {"cpu_percent": cpu_percent(self._cpu, cpu),
               "memory_percent": memory_percent(parse_meminfo(meminfo)) if meminfo else None}
        out.update(busiest_disk(self._disks, disks, seconds))
        self._cpu, self._disks, self._at = cpu, disks, now
        return out


__all__ = ["HostSampler", "busiest_disk", "cpu_percent", "memory_percent", "parse_cpu", "parse_diskstats",
           "parse_meminfo"]
