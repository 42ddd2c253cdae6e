# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the adversarial suite: killing a module at a chosen step, as a crash or an operator's kill -9
would, and watching what it leaves; reading what a module warned of.

A module is started with ``start_module`` (or ``start_with_env``), the test waits for the step it wants to
interrupt (a database refusing connections, a session waiting for a lock, a child program running) and ends
it with ``kill_hard``: SIGKILL, no cleanup of any kind. ``sessions_gone`` then waits for the killed module's
sessions to leave the server, so that the next run meets what a crash really leaves behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pgsandbox  # tools/

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import write_json_atomic

from support.backups import manifest_of
from support.modules import module_command
from support.paths import REPO

APPLICATION = "knowledgehub.migration%"


def start_with_env(name: str, args: dict, env: dict) -> subprocess.Popen:
    """Start a module as start_module does, with extra environment variables (TMPDIR ...)."""
    argv, stdin, base_env = module_command(name, args)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(base_env, **env), cwd=REPO)
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None
    return proc


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 60, proc: subprocess.Popen | None = None):
    """Poll ``predicate`` until it returns something true; fail naming ``what`` (and the module's output when
    ``proc`` ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError("the module ended before %s: %s %s" % (what, out[-2000:], err[-2000:]))
        time.sleep(0.01)
    raise AssertionError("timed out waiting for %s" % what)


def kill_hard(proc: subprocess.Popen) -> None:
    """SIGKILL the module process (if it still runs): no finally, no atexit, no cleanup."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: {pid: command name}."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry)] = name
    return found


def probe(pid: int) -> bool:
    """``pid`` is a short-lived question to a client program (``--version``, ``--list``: the module asks them
    before the real run), or already gone: not the long-running child a test wants to catch."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return True
    return b"--version" in argv or b"--list" in argv or b"-V" in argv


def alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sessions_gone(cluster, timeout: float = 60) -> None:
    """Wait until no session of this collection is left on the server (a killed module's backends end once
    they notice their client is gone)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%s'" % APPLICATION
    wait_for(lambda: cluster.psql(query) == "0", "the killed module's sessions to end", timeout)


def waiting_on_lock(cluster, query_prefix: str) -> bool:
    """A session of this collection waits for a lock while running a statement starting with ``query_prefix``."""
    return cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%s' "
                        "AND wait_event_type = 'Lock' AND query LIKE '%s%%'" % (APPLICATION, query_prefix)) != "0"


def allows_connections(cluster, name: str) -> str:
    """pg_database.datallowconn of ``name``: 't', 'f', or '' when there is no such database."""
    return cluster.psql("SELECT datallowconn FROM pg_database WHERE datname = '%s'" % name)


def comment_of(cluster, name: str) -> str:
    return cluster.psql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '%s'" % name)


def slow_client_dir(tmp_path) -> str:
    """A pg_bin_dir whose pg_restore restores nothing and runs for 5 minutes (its version and table of contents
    are the real ones'): a stand-in for a long restore, to kill a module while its pg_restore runs."""
    bindir = tmp_path / "slow-bin"
    bindir.mkdir()
    for name in ("pg_dump", "psql"):
        os.symlink(os.path.join(pgsandbox.PG_BIN, name), str(bindir / name))
    script = bindir / "pg_restore"
    script.write_text('#!/bin/sh\ncase "$*" in *--version*|*--list*) exec %s "$@";; esac\nexec sleep 300\n'
                      % os.path.join(pgsandbox.PG_BIN, "pg_restore"))
    script.chmod(0o755)
    return str(bindir)


@contextmanager
def child_killed_with(proc: subprocess.Popen, name: str) -> Iterator[int]:
    """Wait for the module's child program ``name`` (its command name: "pg_dump", or "sleep" for the pg_restore of
    ``slow_client_dir``) and give its pid; after the block, kill the module and fail unless the child dies with it
    within 5 seconds. Whatever happens, neither is left running."""
    child = None
    try:
        child = wait_for(lambda: [p for p, n in children(proc.pid).items() if n == name and not probe(p)],
                         "%s to run" % name, proc=proc)[0]
        yield child
        kill_hard(proc)
        wait_for(lambda: not alive(child), "%s %d to die with its module" % (name, child), timeout=5)
    finally:
        kill_hard(proc)
        if child is not None and alive(child):
            os.kill(child, signal.SIGKILL)


def warned(result: dict, *words: str) -> bool:
    """One of the module's warnings holds every word (Ansible reports warnings as text or as event records)."""
    return any(all(word in str(warning) for word in words) for warning in result.get("warnings") or [])


def rewrite_manifest(path: str, change: Callable[[dict], object]) -> None:
    """Change a manifest as a hostile or careless hand would (``change`` edits its data in place)."""
    data = manifest_of({"manifest": path})
    change(data)
    write_json_atomic(path, data)
