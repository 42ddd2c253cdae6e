# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The podman (libpod) REST API of a host's podman service, and the health ticker that uses it."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from pathlib import Path

PODMAN_API = "/v4.0.0/libpod"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def podman_api(sock: Path, method: str, path: str, timeout: float = 60) -> tuple[int, object]:
    """Call the podman (libpod) REST API on ``sock``; returns (HTTP status, decoded JSON or None)."""
    conn = _UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request(method, PODMAN_API + path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, None


def health_ticker(sock: Path, poll: float = 0.5) -> None:
    """Run each running container's healthcheck through the podman API on ``sock`` at the container's interval.

    Stands in for the systemd timers podman 4.3 would use; exits when the
    podman service has been gone for 30 seconds.
    """
    last_run: dict[str, float] = {}
    unreachable_since: float | None = None
    while True:
        try:
            containers = podman_api(sock, "GET", "/containers/json")[1]
            unreachable_since = None
        except OSError:
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > 30:
                return
            time.sleep(poll)
            continue
        now = time.monotonic()
        for container in containers if isinstance(containers, list) else []:
            cid = container["Id"]
            with contextlib.suppress(OSError):
                info = podman_api(sock, "GET", "/containers/%s/json" % cid)[1]
                check = ((info or {}).get("Config") or {}).get("Healthcheck") if isinstance(info, dict) else None
                if not check or not check.get("Test") or check["Test"][0] == "NONE":
                    continue
                interval = (check.get("Interval") or 30_000_000_000) / 1e9
                key = "%s@%s" % (cid, info.get("State", {}).get("StartedAt"))
                if now - last_run.setdefault(key, now - interval + 1) >= interval:
                    last_run[key] = now
                    podman_api(sock, "GET", "/containers/%s/healthcheck" % cid,
                               timeout=(check.get("Timeout") or 30_000_000_000) / 1e9 + 10)
        time.sleep(poll)
