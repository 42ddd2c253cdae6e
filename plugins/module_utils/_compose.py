# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A docker compose project on the managed host, driven through the compose CLI.

Only argument lists, never a shell. The project is addressed by its directory (and,
optionally, its compose files and project name), exactly as an operator would from a
terminal, so what the collection does can be repeated by hand: every result carries
the command line.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import RUNNERS
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import CommandResult, ProcessError, spawn
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import connection_argument_spec

DEFAULT_COMMAND = ("docker", "compose")


def compose_argument_spec() -> dict[str, Any]:
    """The options that address the compose project (documented in the ``compose`` doc fragment)."""
    return dict(
        project_dir=dict(type="path"),
        compose_files=dict(type="list", elements="path"),
        project_name=dict(type="str"),
        compose_command=dict(type="list", elements="str", default=list(DEFAULT_COMMAND)),
        db_service=dict(type="str", default="db"),
    )


def client_argument_spec() -> dict[str, Any]:
    """The options of a module that runs the PostgreSQL client programs: the connection, the compose project, where
    the programs run (the ``compose.runner`` doc fragment) and from which bin directory (each module documents
    ``pg_bin_dir``: which programs it runs)."""
    spec = connection_argument_spec()
    spec.update(compose_argument_spec())
    spec.update(runner=dict(type="str", default="auto", choices=list(RUNNERS)), pg_bin_dir=dict(type="path"))
    return spec


class ComposeError(Failure):
    """A compose command failed, or the project is not what the caller expects."""


def parse_ps(text: str) -> list[dict[str, Any]]:
    """``docker compose ps --format json``: a JSON array (compose < 2.21) or one object per line."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [row for row in rows if isinstance(row, dict)]


def service_state(rows: list[dict[str, Any]], service: str) -> dict[str, str]:
    """State and health of ``service`` from parsed ps rows ('' when it has no container or no healthcheck)."""
    for row in rows:
        if row.get("Service") == service:
            return {"state": str(row.get("State") or "").lower(), "health": str(row.get("Health") or "").lower()}
    return {"state": "", "health": ""}


def is_ready(state: dict[str, str], checked: bool = False) -> bool:
    """Running, and healthy when the service has a healthcheck. With ``checked`` (the service is known to have one),
    only healthy counts: a container just restarted by its restart policy shows no health yet."""
    return state["state"] == "running" and state["health"] in (("healthy",) if checked else ("", "healthy"))


def healthchecked(config: dict[str, Any]) -> list[str]:
    """The services of ``config --format json`` that have a healthcheck (not disabled)."""
    return sorted(name for name, spec in (config.get("services") or {}).items()
                  if isinstance((spec or {}).get("healthcheck"), dict) and not spec["healthcheck"].get("disable")
                  and spec["healthcheck"].get("test") not in (None, ["NONE"]))


def volume_mount(config: dict[str, Any], service: str, volume: str) -> dict[str, str]:
    """Where the named ``volume`` is mounted in ``service`` and its engine-level name, from ``config --format json``.

    Raises ComposeError naming what the project does have.
    """
    services = config.get("services") or {}
    if service not in services:
        raise ComposeError("The compose project has no service %r; its services are: %s."
                           % (service, ", ".join(sorted(services)) or "none"))
    mounts = services[service].get("volumes") or []
    named = [m for m in mounts if isinstance(m, dict) and m.get("type") == "volume"]
    for mount in named:
        if mount.get("source") == volume:
            declared = (config.get("volumes") or {}).get(volume) or {}
            return {"volume": volume, "name": str(declared.get("name") or volume), "target": str(mount["target"])}
    raise ComposeError("Service %r does not mount a named volume %r; its named volumes are: %s."
                       % (service, volume, ", ".join(str(m.get("source")) for m in named) or "none"))


def dependents(config: dict[str, Any], service: str, volume: str | None = None) -> list[str]:
    """The services to stop with ``service`` (from ``config --format json``): those that depend on it, directly or
    through others, and those that mount the same named ``volume``; the farthest first, the order to stop them in."""
    services = config.get("services") or {}

    def needs(name: str) -> list[str]:
        found = (services.get(name) or {}).get("depends_on") or {}
        return [str(n) for n in found] if isinstance(found, (dict, list)) else []

    depth = {service: 0}
    for _round in range(len(services)):  # longest path to ``service``; a cycle cannot make it loop forever
        grown = False
        for name in sorted(services):
            best = max([depth[n] + 1 for n in needs(name) if n in depth] or [0])
            if name != service and best and depth.get(name, 0) < best:
                depth[name] = best
                grown = True
        if not grown:
            break
    for name, spec in sorted(services.items()):
        mounts = [m for m in (spec or {}).get("volumes") or [] if isinstance(m, dict) and m.get("type") == "volume"]
        if volume and name not in depth and any(m.get("source") == volume for m in mounts):
            depth[name] = 1
    return sorted((n for n in depth if n != service), key=lambda n: (-depth[n], n))


class Project:
    """One compose project: ``docker compose --project-directory DIR [-f FILE]... [-p NAME] ...``."""

    def __init__(self, project_dir: str, command: list[str] | None = None, files: list[str] | None = None,
                 project_name: str | None = None, env: dict[str, str] | None = None) -> None:
        if not os.path.isdir(project_dir):
            raise ComposeError("The compose project directory %s does not exist. Set project_dir to the directory "
                               "holding the application's compose file." % project_dir)
        self.project_dir = project_dir
        self.command = list(command or DEFAULT_COMMAND)
        self.files = list(files or [])
        self.project_name = project_name
        self.env = dict(env if env is not None else os.environ)
        self.env["LC_ALL"] = "C"

    @classmethod
    def from_params(cls, params: dict[str, Any], env: dict[str, str] | None = None) -> "Project":
        """The project the module's compose options (``compose_argument_spec``) address."""
        return cls(params.get("project_dir") or "", params.get("compose_command"), params.get("compose_files"),
                   params.get("project_name"), env=env)

    def argv(self, *args: str) -> list[str]:
        argv = self.command + ["--project-directory", self.project_dir]
        for name in self.files:
            argv += ["--file", name]
        if self.project_name:
            argv += ["--project-name", self.project_name]
        return argv + list(args)

    def run(self, *args: str, timeout: float = 300, stdout: IO[bytes] | None = None,
            stdin: IO[bytes] | None = None, check: bool = True) -> CommandResult:
        """Run a compose command. Its stdout goes to ``stdout`` when given (a binary file, which is flushed,
        fsynced and closed), else it is returned as text."""
        argv = self.argv(*args)
        try:
            running = spawn(argv, self.env, stdin=stdin, stdout=stdout, cwd=self.project_dir, umask=-1,
                            hint=" Install the docker CLI with its compose plugin, or set compose_command.")
        except ProcessError as exc:
            raise ComposeError(exc.message) from None
        try:
            done = running.wait(timeout)
        except ProcessError:
            raise ComposeError("`%s` did not finish within %s seconds and was stopped."
                               % (" ".join(argv), timeout)) from None
        if check and done.rc != 0:
            raise ComposeError("`%s` failed (exit %d): %s" % (" ".join(argv), done.rc, done.stderr.strip()[-1500:]),
                               {"cmd": argv, "rc": done.rc})
        return done

    def config(self) -> dict[str, Any]:
        text = self.run("config", "--format", "json", timeout=60).stdout
        try:
            return json.loads(text)
        except ValueError:
            raise ComposeError("`docker compose config --format json` in %s did not print JSON; a compose v2 CLI "
                               "is needed." % self.project_dir) from None

    def state(self, service: str) -> dict[str, str]:
        return service_state(parse_ps(self.run("ps", "--all", "--format", "json", timeout=60).stdout), service)

    def stop(self, services: list[str], timeout: int = 30) -> float:
        return self.run("stop", "--timeout", str(timeout), *services, timeout=timeout + 60).seconds

    def start(self, services: list[str]) -> float:
        return self.run("start", *services, timeout=120).seconds

    def stop_first(self, service: str, others: list[str], running: list[str], timeout: int = 30) -> list[str]:
        """Stop the running ``others`` in their order, then ``service``: the order in which a service's volume is
        taken (compose_backup) or put back (compose_restore). Returns the services in the order stopped."""
        order = [s for s in others if s in running and s != service] + [service]
        self.stop(order, timeout)
        return order

    def start_again(self, service: str, others: list[str], running: list[str], timeout: float,
                    checked: tuple[str, ...] | list[str] = ()) -> dict[str, float]:
        """Start what ``stop_first`` stopped, only what was ``running`` before: ``service`` first, waited for, then
        the others in the reverse order, each waited for (those in ``checked`` until healthy). The monotonic times at
        which ``service`` was ready (or not started) and at which all were."""
        if service in running:
            self.start([service])
            self.wait_ready(service, timeout, service in checked)
        marks = {"service": time.monotonic()}
        again = [s for s in reversed(others) if s in running and s != service]
        if again:
            self.start(again)
            for name in again:
                self.wait_ready(name, timeout, name in checked)
        marks["all"] = time.monotonic()
        return marks

    def wait_ready(self, service: str, timeout: float, checked: bool = False) -> float:
        """Seconds until ``service`` is running (and healthy, when it has a healthcheck: ``checked`` says it has one);
        ComposeError after timeout."""
        started = time.monotonic()
        state = {"state": "", "health": ""}
        while time.monotonic() - started < timeout:
            state = self.state(service)
            if is_ready(state, checked):
                return time.monotonic() - started
            time.sleep(0.2)
        raise ComposeError("Service %s was not ready within %d s (state %r, health %r). Look at `%s` and start it "
                           "with `%s`." % (service, timeout, state["state"], state["health"],
                                           " ".join(self.argv("logs", "--tail", "50", service)),
                                           " ".join(self.argv("start", service))))
