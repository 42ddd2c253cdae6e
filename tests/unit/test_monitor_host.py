# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's reading of /proc: CPU, memory and disk figures from the kernel's text, pure."""

from __future__ import annotations

from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor_host import (
    HostSampler,
    busiest_disk,
    cpu_percent,
    memory_percent,
    parse_cpu,
    parse_diskstats,
    parse_meminfo,
)

STAT = """cpu  1000 0 500 8000 500 0 0 0 0 0
cpu0 500 0 250 4000 250 0 0 0 0 0
intr 12345
"""
STAT_LATER = """cpu  1600 0 700 8200 500 0 0 0 0 0
"""
MEMINFO = """MemTotal:       16000000 kB
MemFree:         1000000 kB
MemAvailable:    4000000 kB
Buffers:          100000 kB
Cached:          2000000 kB
HugePages_Total:       0
"""
DISKSTATS = """   7       0 loop0 900 0 90000 0 0 0 0 0 0 900 0 0 0 0 0 0 0
   8       0 sda 100 0 2000 50 200 0 4000 80 0 100 130 0 0 0 0 0 0
   8       1 sda1 100 0 2000 50 200 0 4000 80 0 100 130 0 0 0 0 0 0
 259       0 nvme0n1 10 0 100 5 10 0 100 5 0 10 10 0 0 0 0 0 0
 259       1 nvme0n1p1 10 0 100 5 10 0 100 5 0 10 10 0 0 0 0 0 0
"""
DISKSTATS_LATER = """   7       0 loop0 9000 0 900000 0 0 0 0 0 0 9000 0 0 0 0 0 0 0
   8       0 sda 150 0 4048 60 300 0 8096 90 0 600 700 0 0 0 0 0 0
 259       0 nvme0n1 20 0 300 6 20 0 300 6 0 20 20 0 0 0 0 0 0
"""


def test_cpu_is_the_busy_share_between_two_readings_with_iowait_as_idle():
    before, after = parse_cpu(STAT), parse_cpu(STAT_LATER)
    assert before == (10000, 8500) and after == (11000, 8700)
    # 1000 jiffies passed, 200 of them idle: 80 % busy
    assert cpu_percent(before, after) == 80.0


def test_cpu_without_two_readings_or_time_is_unknown():
    assert parse_cpu("intr 1\n") is None
    assert cpu_percent(None, (1, 1)) is None and cpu_percent((5, 1), (5, 1)) is None


def test_memory_in_use_is_measured_against_memavailable():
    info = parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 16000000 and info["HugePages_Total"] == 0
    assert memory_percent(info) == 75.0


def test_memory_before_memavailable_counts_free_buffers_and_cache():
    info = parse_meminfo(MEMINFO.replace("MemAvailable:    4000000 kB\n", ""))
    assert memory_percent(info) == round(100 * (1 - 3100000 / 16000000), 1)
    assert memory_percent({}) is None


def test_diskstats_keep_disks_and_leave_out_partitions_and_loop_devices():
    disks = parse_diskstats(DISKSTATS)
    assert disks == {"sda": (2000, 4000, 100), "nvme0n1": (100, 100, 10)}
    assert parse_diskstats("garbage\n 8 0 sda x y\n") == {}


def test_the_busiest_disk_gives_bytes_per_second_and_util():
    figures = busiest_disk(parse_diskstats(DISKSTATS), parse_diskstats(DISKSTATS_LATER), 2.0)
    # sda: 2048 sectors read and 4096 written in 2 s, busy 500 ms of 2000
    assert figures == {"io_device": "sda", "io_read_bps": 2048 * 512 // 2, "io_write_bps": 4096 * 512 // 2,
                       "io_util_percent": 25.0}
    assert busiest_disk({}, parse_diskstats(DISKSTATS), 2.0)["io_device"] is None
    assert busiest_disk(parse_diskstats(DISKSTATS), parse_diskstats(DISKSTATS_LATER), 0)["io_util_percent"] is None


def test_the_sampler_reads_a_proc_directory_and_compares_with_its_last_reading(tmp_path):
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "diskstats").write_text(DISKSTATS)
    sampler = HostSampler(str(tmp_path))
    first = sampler.sample(100.0)
    assert first["cpu_percent"] is None and first["memory_percent"] == 75.0 and first["io_device"] is None
    (tmp_path / "stat").write_text(STAT_LATER)
    (tmp_path / "diskstats").write_text(DISKSTATS_LATER)
    second = sampler.sample(102.0)
    assert second["cpu_percent"] == 80.0 and second["io_device"] == "sda" and second["io_util_percent"] == 25.0


def test_without_proc_every_figure_is_unknown(tmp_path):
    figures = HostSampler(str(tmp_path / "nothing")).sample(1.0)
    assert set(figures.values()) == {None}
