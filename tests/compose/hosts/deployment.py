# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hosts together: ``up`` (the machine once, then each host), ``down``, and what ``down`` left behind."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .host import Host
from .images import (BASE_IMAGE, POSTGRES_IMAGE, ensure_apt_packages, ensure_base_image, ensure_compose_plugin,
                     ensure_docker_cli, ensure_postgres_image, write_containers_conf)
from .inventory import close_ssh_masters, ensure_ssh_keys, write_inventory
from .process import HostsError, Timings, log, run
from .workdir import DEFAULT_HOSTS, Workdir


@dataclass
class Deployment:
    """The hosts brought up by ``up``: by name, with the inventory and the time each step took."""

    hosts: dict[str, Host]
    inventory: Path
    timings: dict[str, float]
    seconds: float

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts.values())


def up(names: Sequence[str] = DEFAULT_HOSTS, workdir: Workdir | None = None,
       python: str | None = None) -> Deployment:
    """Set up the machine (once) and bring the named hosts up; idempotent. Needs root."""
    workdir = workdir or Workdir()
    if os.geteuid() != 0:
        raise HostsError("the compose hosts need root (network namespaces, rootful podman)")
    timings = Timings()
    start = time.monotonic()
    with workdir.locked():
        with timings.step("apt packages"):
            installed = ensure_apt_packages()
            if installed:
                log("installed: " + " ".join(installed))
        with timings.step("containers.conf"):
            write_containers_conf(workdir)
        with timings.step("base image"):
            ensure_base_image(workdir)
        with timings.step("postgres image"):
            ensure_postgres_image(workdir)
        with timings.step("docker CLI + compose plugin"):
            ensure_docker_cli(workdir)
            ensure_compose_plugin(workdir)
        with timings.step("ssh keys"):
            ensure_ssh_keys(workdir, names)
        hosts = [Host(name, workdir) for name in names]
        with timings.step("hosts"), concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            for future in [pool.submit(host.up, timings) for host in hosts]:
                future.result()
        inventory = write_inventory(workdir, hosts, python or sys.executable)
        for host in hosts:
            host.inventory = inventory
    seconds = time.monotonic() - start
    log("%d host(s) up in %.1fs; inventory: %s" % (len(hosts), seconds, inventory))
    return Deployment({h.name: h for h in hosts}, inventory, timings.steps, seconds)


def down(names: Sequence[str] | None = None, workdir: Workdir | None = None, purge: bool = False) -> dict[str, float]:
    """Tear the hosts down (all with state in the work directory by default); ``purge`` also drops the caches."""
    workdir = workdir or Workdir()
    timings = Timings()
    if not workdir.root.exists():
        return timings.steps
    with workdir.locked():
        with timings.step("ssh masters"):
            close_ssh_masters(workdir)
        for name in names or workdir.host_names():
            Host(name, workdir).down(timings)
        if purge:
            with timings.step("purge"):
                shutil.rmtree(workdir.root / "hosts", ignore_errors=True)
                for image in (POSTGRES_IMAGE, BASE_IMAGE):
                    run(["podman", "rmi", "-f", image], check=False, env=workdir.podman_env())
    if purge:
        shutil.rmtree(workdir.root, ignore_errors=True)
    return timings.steps


def leftovers(names: Sequence[str], workdir: Workdir | None = None) -> list[str]:
    """What of the named hosts still exists after ``down``: namespaces, and processes naming a host's directory."""
    workdir = workdir or Workdir()
    found = ["netns " + h.netns for h in (Host(n, workdir) for n in names) if h.netns_exists()]
    homes = [str(Host(n, workdir).home) for n in names]
    masters = "%s/cp-" % workdir.ssh_dir
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
                if masters in cmdline or any(home + "/" in cmdline or home + " " in cmdline for home in homes):
                    found.append("pid %s: %s" % (entry, cmdline[:200]))
    return found
