# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bottom layer: every external program (pg_dump, pg_restore, psql, docker compose, squawk) runs here.

Rules kept here, so no caller can break them:

* Argument lists, never a shell; stdin closed unless a file is given.
* stdout and stderr go to private temporary files, not pipes: a chatty program can
  never block on a full pipe, and an archive written to stdout is never read back
  into memory.
* A command that outlives its timeout is stopped (by its own pid) and reported.
* A command never outlives the module: on Linux it is killed when the module dies (kill -9 included).
* Success is the exit code AND no error line on stderr (``check``): a program that
  prints "error:" and exits 0 has failed.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, mask


class ProcessError(Failure):
    """A program is missing, could not be started, timed out, or failed."""


@dataclass
class CommandResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout[-4000:], "stderr": self.stderr[-4000:],
                "seconds": round(self.seconds, 3)}


class Running:
    """A started command; stdout and stderr go to private temporary files, not pipes."""

    def __init__(self, argv: list[str], proc: subprocess.Popen, out: Any, err: Any, started: float,
                 capture_out: bool = True) -> None:
        self.argv = argv
        self.proc = proc
        self._out = out
        self._err = err
        self._started = started
        self._capture_out = capture_out  # False: stdout is the caller's file, never read back into memory

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None, tick: Callable[["Running"], None] | None = None) -> CommandResult:
        """Wait for the command's end; ``tick(self)`` (if given) is called about every second meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                rc = self.proc.wait(timeout=left if tick is None else min(1.0, 1.0 if left is None else left))
                break
            except subprocess.TimeoutExpired:
                if deadline is None or time.monotonic() < deadline:
                    tick(self)  # type: ignore[misc]  # only a tick makes the wait end early
                    continue
                self.stop()
                raise ProcessError("`%s` did not finish within %s seconds and was stopped."
                                   % (" ".join(self.argv), timeout), {"cmd": self.argv}) from None
        return self._result(rc)

    def stop(self) -> None:
        """End the command (our own child, by its pid) and collect it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._result(self.proc.returncode)

    def _result(self, rc: int) -> CommandResult:
        outputs = []
        for handle in (self._out, self._err):
            if handle.closed:
                outputs.append("")
                continue
            if handle is self._out and not self._capture_out:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                outputs.append("")
                continue
            handle.seek(0)
            outputs.append(handle.read().decode("utf-8", "replace"))
            handle.close()
        return CommandResult(self.argv, rc, outputs[0], outputs[1], time.monotonic() - self._started)


def spawn(argv: list[str], env: dict[str, str] | None = None, stdin: Any = None, stdout: Any = None,
          cwd: str | None = None, umask: int = 0o077, hint: str = "") -> Running:
    """Start ``argv`` without a shell. stdin is closed unless a file is given. stdout goes to ``stdout`` (a binary
    file, then flushed, fsynced and closed when the command is collected, never read back) or to a private
    temporary file that is returned as text; stderr always to one. ProcessError (ending with ``hint``) when the
    program cannot be started. ``umask=-1`` keeps the caller's umask.

    On Linux the child dies with the module (SIGKILL when its parent goes, kill -9 included): a killed
    module leaves no pg_dump running on, with the password in its environment. The kernel sends the signal
    when the THREAD that started the child ends, so a child is waited for by the thread that started it
    (the verification thread of a dump runs ``pg_restore --list`` to its end, then ends)."""
    err = tempfile.TemporaryFile()
    out = stdout if stdout is not None else tempfile.TemporaryFile()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=out,
                                stderr=err, env=env, cwd=cwd, close_fds=True, umask=umask,
                                preexec_fn=_die_with_parent(os.getpid()))
    except (OSError, subprocess.SubprocessError) as exc:
        out.close()
        err.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ProcessError("Cannot run %s: %s.%s" % (argv[0], reason, hint), {"cmd": argv}) from None
    return Running(argv, proc, out, err, started, capture_out=stdout is None)


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive SIGKILL when its parent dies (Linux prctl), or None elsewhere.

    It runs in the child between fork and exec: only a libc call and two system calls, no allocation
    that could wait for a lock another thread held at the fork. If the parent is already gone when it
    runs (the signal would never come), the child ends at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    kill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)  # pylint: disable=protected-access

    return preexec


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None, cwd: str | None = None,
        hint: str = "") -> CommandResult:
    """Run ``argv`` to its end (see ``spawn``) and return its result, whatever its exit code."""
    return spawn(argv, env, cwd=cwd, hint=hint).wait(timeout)


_ERROR_LINE = re.compile(r"(^|:\s)(error|fatal|panic):", re.IGNORECASE | re.MULTILINE)


def check(result: CommandResult, what: str, secret: str | None = None) -> list[str]:
    """Raise ProcessError unless ``result`` succeeded; return its stderr lines (warnings) otherwise.

    Success needs exit code 0 and no error line on stderr. ``secret`` is masked in what is reported.
    """
    stderr = mask(result.stderr, secret)
    lines = [line for line in stderr.splitlines() if line.strip()]
    if result.rc != 0 or _ERROR_LINE.search(stderr):
        shown = "\n".join(lines[-15:]) or "(no message)"
        raise ProcessError("%s failed (exit code %d): %s" % (what, result.rc, shown),
                           {"cmd": result.argv, "rc": result.rc, "stderr": "\n".join(lines[-50:])})
    return lines
