# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The application's compose services stopped, started or restarted, with a health wait and timings.

Through the compose CLI (``_compose.Project``: ``docker compose stop``/``start`` in the project
directory), the same way ``compose_backup`` stops and starts services around a volume archive:

- ``plan`` reads each service's state (``ps``; a service without a container is looked up in
  ``config``: unknown, or not deployed) and says what would be stopped or started. It changes
  nothing; it is all check mode does.
- ``apply`` stops or starts only what needs it, then, for a start, waits until every service is
  running, healthy when it has a compose healthcheck, and, with ``health_url``, until that URL
  answers 2xx from the host. Each moment is returned (``stopped_at``, ``started_at``,
  ``healthy_at``, UTC) with the seconds each step took; ``down_since`` (an earlier ``stopped_at``)
  gives the downtime across two calls.
- A service that never becomes healthy is left running (a half-started api is easier to look at
  than a stopped one), and the failure names it with its last healthcheck output and the tail of
  its log, bounded, with the project's secret values masked.

Only existing containers are started: a start never creates or recreates one (that is a deploy,
``docker compose up``), so the api comes back exactly as it was stopped.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import (
    ComposeError,
    Project,
    is_ready,
    parse_ps,
    service_state,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import MASK, Failure, OptionError
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError, run

STATES = ("started", "stopped", "restarted")
VERBS = {"started": "start", "stopped": "stop", "restarted": "restart"}
POLL_SECONDS = 0.5
LOG_LINES = 20
LINE_CHARS = 300
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


class ServiceError(Failure):
    """A compose service did not reach the state asked for (not stopped, not started, never healthy)."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment: datetime.datetime) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-11-30T21:28:41.544+00:00``."""
    return moment.isoformat(timespec="milliseconds")


def parse_stamp(option: str, value: str) -> datetime.datetime:
    """A timestamp as ``stamp`` writes it (any ISO 8601 form with a time zone). OptionError otherwise."""
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise OptionError("%s must be a timestamp with a time zone, as stopped_at returns it (for example "
                          "2026-11-30T21:28:41.544+00:00); got %r. Nothing was changed." % (option, value))
    return moment


def secret_values(config: dict[str, Any]) -> list[str]:
    """Values of the project's environment variables whose names say they are secret (PASSWORD, TOKEN...)."""
    found = set()
    for service in (config.get("services") or {}).values():
        environment = (service or {}).get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment if isinstance(item, str) and "=" in item)
        for name, value in environment.items():
            if value and _SECRET_NAME.search(str(name)) and len(str(value)) >= 4:
                found.add(str(value))
    return sorted(found, key=len, reverse=True)


def clean(text: str, secrets: list[str], lines: int = LOG_LINES) -> list[str]:
    """The last ``lines`` non-empty lines of ``text``: terminal codes removed, each cut at LINE_CHARS, secrets
    masked."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    kept = [_CONTROL.sub("", line).rstrip() for line in text.splitlines()]
    return [line[:LINE_CHARS] for line in kept if line.strip()][-lines:]


def shown_url(url: str) -> str:
    """``url`` without the password of its user information."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = "%s:%s@%s" % (parts.username, MASK, parts.netloc.rsplit("@", 1)[1])
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OptionError("health_url must be an http:// or https:// URL, got %r. Nothing was changed."
                          % shown_url(url))


def url_secrets(url: str | None) -> list[str]:
    """The password in ``url``'s user information, for the module's no_log values (it never reaches the output)."""
    password = urllib.parse.urlsplit(url or "").password
    return sorted({password, urllib.parse.unquote(password)}) if password else []


def probe(url: str, timeout: float) -> tuple[int | None, str]:
    """GET ``url`` from this host, without proxies (user information sent as basic authentication):
    (HTTP status, '') or (None, why it did not answer)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "knowledgehub-compose-service"}
    if parts.username is not None:
        pair = "%s:%s" % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=max(timeout, 0.1)) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, "HTTP %d %s" % (exc.code, exc.reason)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return None, str(reason)


def label(state: dict[str, str]) -> str:
    """``running (healthy)``, ``exited``, ``absent`` (no container)."""
    if not state["state"]:
        return "absent"
    return "%s (%s)" % (state["state"], state["health"]) if state["health"] else state["state"]


class ServiceJob(Job):
    """Stop, start or restart compose services; ``plan`` reads, ``apply`` acts and measures."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = params
        self.state = params.get("state") or "started"
        self.names = list(dict.fromkeys(params.get("services") or []))
        self.url = params.get("health_url") or ""
        self.timeout = float(params.get("health_timeout") or 0)
        self.project: Project | None = None
        self.down_since: datetime.datetime | None = None
        self.before: dict[str, dict[str, str]] = {}
        self.last: dict[str, dict[str, str]] = {}
        self.to_stop: list[str] = []
        self.to_start: list[str] = []
        self.present: set[str] = set()
        self.secrets: list[str] | None = None  # read from the project's configuration when a failure shows output
        self.commands: list[list[str]] = []
        self.result: dict[str, Any] = {"changed": False, "state": self.state, "services": {}}

    # -- reading -------------------------------------------------------------------

    def _ps(self) -> dict[str, dict[str, str]]:
        """State and health of the services and of the db service (one ``ps``); kept as ``last``, and the services
        that have a container as ``present``."""
        rows = parse_ps(self.project.run("ps", "--all", "--format", "json", timeout=60).stdout)
        self.present = {str(row.get("Service")) for row in rows}
        names = self.names + [self.p.get("db_service") or "db"]
        self.last = {name: service_state(rows, name) for name in names}
        return self.last

    def plan(self) -> dict[str, Any]:
        if not self.names:
            raise OptionError("services is empty: name the compose services to %s (for example [api]). Nothing was "
                              "changed." % VERBS[self.state])
        if self.url:
            check_url(self.url)
        if self.timeout <= 0 or (self.p.get("stop_timeout") or 0) < 0:
            raise OptionError("health_timeout must be above 0 and stop_timeout at least 0 seconds. Nothing was "
                              "changed.")
        down_since = self.p.get("down_since")
        self.down_since = parse_stamp("down_since", down_since) if down_since else None
        self.project = Project.from_params(self.p)
        states = self._ps()
        # A service with a container exists; only the others are looked up in the configuration (one compose
        # command fewer in the downtime when all have one).
        absent = [name for name in self.names if name not in self.present]
        if absent:
            known = sorted(self.project.config().get("services") or {})
            unknown = [name for name in absent if name not in known]
            if unknown:
                raise OptionError("The compose project in %s has no service %s; its services are: %s. Nothing was "
                                  "changed." % (self.project.project_dir, ", ".join(unknown),
                                                ", ".join(known) or "none"))
        self.before = {name: states[name] for name in self.names}
        running = [name for name in self.names if self.before[name]["state"] == "running"]
        if absent and self.state != "stopped":
            raise ServiceError("Service %s has no container in the project %s: it was never deployed or was removed "
                               "(docker compose down). This module starts existing containers only; deploy it with "
                               "`%s`. Nothing was changed." % (", ".join(absent), self.project.project_dir,
                                                               " ".join(self.project.argv("up", "-d", *absent))))
        if self.state == "stopped":
            self.to_stop, self.to_start = running, []
        elif self.state == "started":
            self.to_stop, self.to_start = [], [name for name in self.names if name not in running]
        else:
            self.to_stop, self.to_start = running, list(self.names)
        self.result.update(
            changed=bool(self.to_stop or self.to_start), would_stop=self.to_stop, would_start=self.to_start,
            db=dict(states[self.p.get("db_service") or "db"]),
            services={name: {"before": dict(self.before[name])} for name in self.names})
        return dict(self.result, services={k: dict(v) for k, v in self.result["services"].items()})

    # -- acting --------------------------------------------------------------------

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        self.result.pop("would_stop")
        self.result.pop("would_start")
        seconds: dict[str, float] = {}
        self.result["seconds"] = seconds
        if self.state in ("stopped", "restarted"):
            self._stop(seconds)
        if self.state in ("started", "restarted"):
            self._start(seconds)
        waited = self.state != "stopped" and "healthy_at" in self.result
        after = self.last if self.state == "stopped" or waited else self._ps()
        for name in self.names:
            self.result["services"][name]["after"] = after[name]
        self.result["db"] = after[self.p.get("db_service") or "db"]
        self.result["commands"] = self.commands
        return self.result

    def _stop(self, seconds: dict[str, float]) -> None:
        begun = utcnow()
        self.result["stopped_at"] = stamp(begun)
        if self.state == "restarted" and self.down_since is None:
            self.down_since = begun
        if self.to_stop:
            self.commands.append(self.project.argv("stop", "--timeout", str(int(self.p.get("stop_timeout") or 0)),
                                                   *self.to_stop))
            seconds["stop"] = round(self.project.stop(self.to_stop, int(self.p.get("stop_timeout") or 0)), 3)
        still = [name for name, state in self._ps().items() if name in self.names and state["state"] == "running"]
        if still:
            raise ServiceError("Service %s is still running after `%s`. Look at its logs with `%s`."
                               % (", ".join(still), " ".join(self.project.argv("stop", *self.to_stop)),
                                  " ".join(self.project.argv("logs", "--tail", "50", *still))))
        self.result["stopped"] = self.to_stop

    def _start(self, seconds: dict[str, float]) -> None:
        self.result["started_at"] = stamp(utcnow())
        if self.to_start:
            self.commands.append(self.project.argv("start", *self.to_start))
            seconds["start"] = round(self.project.start(self.to_start), 3)
        self.result["started"] = self.to_start
        if self.p.get("wait", True):
            seconds["wait"] = round(self._wait(), 3)
            healthy = utcnow()
            self.result["healthy_at"] = stamp(healthy)
            if self.down_since is not None:
                self.result["downtime_seconds"] = round((healthy - self.down_since).total_seconds(), 3)
                self.result["down_since"] = stamp(self.down_since)

    def _wait(self) -> float:
        """Seconds until every service is ready (and the URL answers); ServiceError naming the first that is not."""
        started = time.monotonic()
        deadline = started + self.timeout
        states: dict[str, dict[str, str]] = {}
        answer: tuple[int | None, str] = (None, "not asked yet")
        while True:
            states = self._ps()
            waiting = [name for name in self.names if not is_ready(states[name])]
            if not waiting and self.url:
                answer = probe(self.url, min(5.0, max(deadline - time.monotonic(), 0.5)))
                if answer[0] is not None and 200 <= answer[0] < 300:
                    self.result["health_url"] = {"url": shown_url(self.url), "status": answer[0]}
                    return time.monotonic() - started
            elif not waiting:
                return time.monotonic() - started
            if time.monotonic() + POLL_SECONDS > deadline:
                break
            time.sleep(POLL_SECONDS)
        service = waiting[0] if waiting else self.names[0]
        why = ("its state is %s" % label(states[service])) if waiting else \
            "it runs, but %s did not answer 2xx (%s)" % (shown_url(self.url), answer[1] or "HTTP %s" % answer[0])
        details = {"service": service, "state": states[service], "health_output": self._health_output(service),
                   "logs_tail": self._logs(service), "services": self.result["services"],
                   "seconds": self.result.get("seconds"), "commands": self.commands}
        for key in ("stopped_at", "started_at"):
            if key in self.result:
                details[key] = self.result[key]
        raise ServiceError(
            "Service %s was not healthy within %g s: %s. It was left running as it is. Last healthcheck "
            "output: %s. Last log lines: %s. See `%s`; stop it with `%s` if it must not run."
            % (service, self.timeout, why, " | ".join(details["health_output"]) or "none",
               " | ".join(details["logs_tail"][-5:]) or "none",
               " ".join(self.project.argv("logs", "--tail", "100", service)),
               " ".join(self.project.argv("stop", service))), details)

    # -- what a failure shows ------------------------------------------------------

    def _secrets(self) -> list[str] | None:
        """The values to mask in what a failure shows (``secret_values`` of the configuration); None when the
        configuration cannot be read, and then nothing of the service's output is shown."""
        if self.secrets is None:
            try:
                self.secrets = secret_values(self.project.config())
            except ComposeError:
                return None
        return self.secrets

    def _logs(self, service: str) -> list[str]:
        secrets = self._secrets()
        if secrets is None:
            return ["(not shown: the project's configuration, needed to mask its secrets, could not be read)"]
        try:
            done = self.project.run("logs", "--no-color", "--no-log-prefix", "--tail", str(LOG_LINES), service,
                                    timeout=30, check=False)
        except ComposeError as exc:
            return ["(logs not read: %s)" % exc.message[:LINE_CHARS]]
        return clean(done.stdout + "\n" + done.stderr if done.rc else done.stdout, secrets)

    def _health_output(self, service: str) -> list[str]:
        """The last healthcheck runs of the service's container (``docker inspect``; docker CLI only)."""
        secrets = self._secrets()
        if secrets is None or len(self.project.command) < 2 or self.project.command[-1] != "compose":
            return []
        try:
            ids = self.project.run("ps", "--all", "--quiet", service, timeout=30, check=False).stdout.split()
            if not ids:
                return []
            done = run(self.project.command[:-1] + ["inspect", "--format", "{{json .State.Health}}", ids[0]],
                       env=self.project.env, timeout=30)
            health = json.loads(done.stdout or "null") if done.rc == 0 else None
        except (ComposeError, ProcessError, ValueError):
            return []
        lines = []
        for entry in ((health or {}).get("Log") or [])[-3:]:
            output = " ".join(clean(str(entry.get("Output") or ""), secrets, 5)) or "(no output)"
            lines.append("exit %s: %s" % (entry.get("ExitCode"), output[:LINE_CHARS]))
        return lines
