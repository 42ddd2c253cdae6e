# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The harness's work directory and the settings every part of it shares."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Iterator

from .process import HostsError

HERE = Path(__file__).resolve().parent  # tests/compose/hosts
COMPOSE_DIR = HERE.parent  # tests/compose
IMAGE_SOURCE = COMPOSE_DIR / "image"
PROJECT_SOURCE = COMPOSE_DIR / "project"

DEFAULT_WORKDIR = "/tmp/knowledgehub-compose"
DEFAULT_HOSTS = ("staging", "production")
NETNS_PREFIX = "kh-"

PROJECT_NAME = "knowledgehub"
DB_PORT = 5433
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Workdir:
    """The harness's files: tools, keys, per-host state. Survives ``down`` (a cache) unless purged."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get("KH_COMPOSE_WORKDIR") or DEFAULT_WORKDIR).resolve()
        self.containers_conf = self.root / "containers.conf"
        # DOCKER_CONFIG of every docker command: holds cli-plugins/docker-compose.
        self.docker_config = self.root / "docker-config"
        self.compose_plugin = self.docker_config / "cli-plugins" / "docker-compose"
        # Put first on the PATH of the hosts' commands; holds the docker CLI when the machine has none.
        self.bin_dir = self.root / "bin"
        self.ssh_dir = self.root / "ssh"
        self.client_key = self.ssh_dir / "id_ed25519"
        self.host_key = self.ssh_dir / "host_ed25519"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.inventory = self.root / "inventory.yml"

    def docker(self) -> str:
        """The docker CLI: the machine's, else the one unpacked into bin/."""
        local = self.bin_dir / "docker"
        if local.exists():
            return str(local)
        found = shutil.which("docker")
        if not found:
            raise HostsError("no docker CLI (run `python3 tests/compose/hosts up` first)")
        return found

    def path(self, base: str | None = None) -> str:
        """PATH for commands on the hosts: bin/ (a docker CLI if the machine has none), then ``base``."""
        return "%s:%s" % (self.bin_dir, base or os.environ.get("PATH") or SYSTEM_PATH)

    def podman_env(self) -> dict[str, str]:
        return dict(os.environ, CONTAINERS_CONF=str(self.containers_conf))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise up/down of several processes on the same work directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def host_names(self) -> list[str]:
        """Hosts that have state in this work directory."""
        hosts_dir = self.root / "hosts"
        return sorted(p.name for p in hosts_dir.iterdir() if p.is_dir()) if hosts_dir.is_dir() else []
