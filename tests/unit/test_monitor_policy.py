# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's policy: thresholds, warn/pause/abort, hysteresis, monitor_max_pause, and its small helpers."""

from __future__ import annotations

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor import throttle_key
from ansible_collections.knowledgehub.migration.plugins.module_utils._monitor_policy import (
    Policy,
    cut_timeline,
    monitor_settings,
    peaks,
    reachable,
)


def policy(name="pause", **overrides):
    return Policy(monitor_settings(dict({"monitor_policy": name}, **overrides)))


def sample(t, cpu=10.0, memory=50.0, lock=0.0, **extra):
    return dict({"t": t, "cpu_percent": cpu, "memory_percent": memory, "lock_wait_s": lock}, **extra)


def test_defaults_are_the_runbooks_thresholds():
    settings = monitor_settings({})
    assert settings == {"monitor_interval": 5.0, "monitor_max_cpu": 80.0, "monitor_max_memory": 90.0,
                        "monitor_max_lock_wait": 10.0, "monitor_max_pause": 300.0,
                        "monitor_long_query_seconds": 60.0, "monitor_policy": "warn"}


@pytest.mark.parametrize("params, words", [
    ({"monitor_max_cpu": 120}, "monitor_max_cpu=120 is a percentage"),
    ({"monitor_interval": -1}, "monitor_interval=-1 must be a number of 0 or more"),
    ({"monitor_max_lock_wait": True}, "monitor_max_lock_wait=True"),
    ({"monitor_policy": "stop"}, "monitor_policy='stop': choose one of warn, pause, abort"),
])
def test_bad_settings_are_named(params, words):
    with pytest.raises(OptionError) as err:
        monitor_settings(params)
    assert words in str(err.value)


def test_warn_warns_once_per_crossing_and_never_acts():
    rules = policy("warn")
    actions = [rules.decide(sample(t, cpu=cpu), t) for t, cpu in enumerate([50, 85, 90, 95, 40, 81])]
    assert actions == ["none"] * 6
    assert rules.warnings == ["CPU 85% above monitor_max_cpu=80 (at +1s).", "CPU 81% above monitor_max_cpu=80 (at +5s)."]
    assert rules.pauses == 0 and rules.abort_reason is None


def test_pause_holds_until_every_figure_is_below_ninety_percent_of_its_threshold():
    rules = policy()
    assert rules.decide(sample(0, cpu=85), 0.0) == "pause" and rules.paused
    # 79 and 75 are below the threshold but above the resume level (72): the throttle stays
    assert rules.decide(sample(1, cpu=79), 1.0) == "none"
    assert rules.decide(sample(2, cpu=75), 2.0) == "none" and rules.paused
    assert rules.decide(sample(3, cpu=72), 3.0) == "resume" and not rules.paused
    assert rules.pauses == 1 and rules.paused_seconds == 3.0
    assert rules.decide(sample(4, cpu=81), 4.0) == "pause" and rules.pauses == 2


def test_a_pause_needs_every_figure_calm_not_only_the_one_that_fired():
    rules = policy()
    assert rules.decide(sample(0, lock=12.0), 0.0) == "pause"
    assert rules.decide(sample(1, lock=0.0, memory=89.0), 1.0) == "none"  # memory above 81
    assert rules.decide(sample(2, lock=0.0, memory=60.0), 2.0) == "resume"


def test_after_max_pause_the_migration_goes_on_and_is_throttled_again_only_after_a_calm_sample():
    rules = policy(monitor_max_pause=10)
    assert rules.decide(sample(0, cpu=95), 0.0) == "pause"
    assert rules.decide(sample(5, cpu=95), 5.0) == "none"
    assert rules.decide(sample(10, cpu=95), 10.0) == "resume"
    assert "monitor_max_pause 10s" in rules.warnings[-1] and "the migration goes on" in rules.warnings[-1]
    assert rules.decide(sample(11, cpu=95), 11.0) == "none" and not rules.paused  # not re-armed
    assert rules.decide(sample(12, cpu=70), 12.0) == "none"  # calm: re-armed
    assert rules.decide(sample(13, cpu=95), 13.0) == "pause"
    rules.finish(15.0)
    assert rules.pauses == 2 and rules.paused_seconds == 12.0


def test_abort_fires_once_with_the_threshold_and_the_figure_and_the_waiting_session():
    rules = policy("abort", monitor_max_lock_wait=5)
    assert rules.decide(sample(1, lock=2.0), 1.0) == "none"
    longest = "pid 42 (application 'app') waiting for AccessShareLock on t, blocked by pid(s) 7"
    assert rules.decide(sample(2.5, lock=6.25, longest_wait=longest), 2.5, where="005_data_migration.sql") == "abort"
    assert rules.abort_reason == ("lock wait 6.2 s above monitor_max_lock_wait=5 (%s) "
                                  "(at +2.5s, 005_data_migration.sql)" % longest)
    assert rules.decide(sample(3, lock=9.0), 3.0) == "none"
    assert rules.pauses == 0


def test_unmeasured_figures_never_fire_and_count_as_calm():
    rules = policy(monitor_max_cpu=0)
    assert rules.decide(sample(0, cpu=None, memory=None), 0.0) == "none"
    assert rules.decide(sample(1, cpu=0.5), 1.0) == "pause"  # a threshold of 0: any use is above it


def test_sessions_waiting_for_the_migration_directly_or_through_others():
    blockers = {10: [1], 11: [10], 12: [99], 13: [11, 99], 1: [50]}
    assert reachable(blockers, 1) == [10, 11, 13]
    assert reachable(blockers, None) == [] and reachable({}, 1) == []
    assert reachable({2: [3], 3: [2]}, 2) == [3]  # a cycle (deadlock about to be detected) ends


def test_peaks_are_the_highest_measured_figures():
    samples = [{"cpu_percent": 10.0, "lock_wait_s": 0.0}, {"cpu_percent": 30.5, "lock_wait_s": 2.0},
               {"cpu_percent": None}]
    found = peaks(samples)
    assert found["cpu_percent"] == 30.5 and found["lock_wait_s"] == 2.0 and found["memory_percent"] is None


def test_timeline_keeps_the_samples_where_something_happened_then_spreads_the_rest():
    samples = [{"t": i, "action": "none"} for i in range(200)]
    samples[137]["action"] = "pause"
    samples[150]["warned"] = True
    cut = cut_timeline(samples, 50)
    times = [s["t"] for s in cut]
    assert len(cut) == 50 and 137 in times and 150 in times and times == sorted(times) and times[0] == 0
    assert cut_timeline(samples[:10], 50) == samples[:10]


def test_the_throttle_key_is_a_bigint_of_the_run():
    key = throttle_key("2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11")
    assert -2 ** 63 <= key < 2 ** 63
    assert key == throttle_key("2f1d7a4c-3d7e-4bb0-9d7f-6c1f0e4f3b11") != throttle_key("another run")
