# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real docker-compose hosts for the tests, on a machine with the docker CLI but no Docker engine.

Each host ("staging", "production" by default) is a loopback-only network
namespace ``kh-<name>`` (see ``Host.netns``) with

* an sshd on 127.0.0.1:22 (Ansible reaches it with ``ProxyCommand ip netns exec
  kh-<name> nc 127.0.0.1 22``),
* its own rootful podman API service (own storage, own run directories, own
  mount namespace) that the docker CLI and the compose v2 plugin talk to through
  ``DOCKER_HOST=unix://.../podman.sock``,
* a copy of ``tests/compose/project`` deployed with ``docker compose up -d``: the
  ``db`` service (PostgreSQL 15 on 127.0.0.1:5433) and the ``api`` service, both
  with ``network_mode: host``, i.e. inside the host's namespace only,
* a health ticker: podman 4.3 runs healthchecks from systemd timers, which do
  not exist here, so a small process of ours runs each container's healthcheck
  through the podman API at the container's interval.

Nothing is pulled from a container registry: a Debian 12 base image is made with
debootstrap and a postgres:15 stand-in (``tests/compose/image``) is built from it.
The compose plugin (and, when the machine has none, the docker CLI) comes from
Debian trixie's packages, downloaded with a private apt configuration into the
work directory and unpacked there; the system's apt configuration is not changed.

Usage (as root; the package runs as a script, or with ``python3 -m hosts`` from tests/compose)::

    python3 tests/compose/hosts up [--hosts staging,production] [--python PATH]
    python3 tests/compose/hosts status
    python3 tests/compose/hosts down [--purge]

The work directory is ``/tmp/knowledgehub-compose`` unless ``KH_COMPOSE_WORKDIR``
names another one. ``up`` is idempotent: the images (in the machine's podman
storage, which the hosts use as a read-only image store), the compose plugin and
the keys are kept between runs, and running hosts are left alone.

The package, by job: ``process`` (commands, our processes by pid, stopping them),
``workdir`` (the work directory and shared settings), ``images`` (Debian packages,
images, the docker CLI and the compose plugin), ``podman`` (the podman API, the health
ticker), ``host`` (one host), ``inventory`` (ssh keys, the Ansible inventory),
``deployment`` (``up``, ``down``, ``leftovers``) and ``cli`` (the command line).
"""

from __future__ import annotations

from .deployment import Deployment, down, leftovers, up
from .host import Host
from .process import HostsError, Timings
from .workdir import DEFAULT_HOSTS, DEFAULT_WORKDIR, Workdir

__all__ = ["DEFAULT_HOSTS", "DEFAULT_WORKDIR", "Deployment", "Host", "HostsError", "Timings", "Workdir", "down",
           "leftovers", "up"]
