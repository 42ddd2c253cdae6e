# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands and processes of the harness: run a command, find our processes by pid, stop them, time the steps."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator, Sequence


class HostsError(RuntimeError):
    """A step of setting up or tearing down the compose hosts failed."""


def log(message: str) -> None:
    """Progress output, one line per step."""
    print("[compose-hosts] " + message, flush=True)


def run(argv: Sequence[str], *, check: bool = True, input: str | bytes | None = None,  # noqa: A002
        env: dict[str, str] | None = None, cwd: Path | str | None = None, timeout: float = 900,
        text: bool = True) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; raise HostsError with its stderr when it fails and check is set."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=text, env=env, cwd=cwd,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        stderr = proc.stderr if text else proc.stderr.decode(errors="replace")
        raise HostsError("%s failed (exit %d): %s" % (shlex.join(argv), proc.returncode, stderr.strip()[-3000:]))
    return proc


class Timings:
    """Wall time of each step, printed as the step ends."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = time.monotonic() - start
            log("%-28s %6.1fs" % (name, self.steps[name]))


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and its command line contains ``marker``."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    return marker is None or marker in cmdline


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_pids(pids: Sequence[int | None], timeout: float = 10) -> list[int]:
    """SIGTERM each running process of ``pids``, SIGKILL what is left after ``timeout``.

    Returns the pids that were signalled. (conmon of a finished ``docker compose exec``
    catches SIGTERM and lingers: it is the usual reason for the SIGKILL.)
    """
    targets = [pid for pid in pids if pid and pid_alive(pid)]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in targets:
            _reap(pid)
        if not any(pid_alive(pid) for pid in targets):
            return targets
        time.sleep(0.1)
    for pid in targets:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    for pid in targets:
        _reap(pid)
    return targets


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a child of this process (started by ``up`` in the same process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
