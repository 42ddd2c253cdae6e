# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command line: ``python3 tests/compose/hosts up|down|status`` (and the health-ticker that ``up`` starts)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __doc__ as PACKAGE_DOC
from .deployment import down, up
from .host import Host
from .podman import health_ticker
from .process import HostsError, log
from .workdir import DEFAULT_HOSTS, HERE, Workdir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=PACKAGE_DOC.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="set up the machine and bring the hosts up (idempotent)")
    p_up.add_argument("--hosts", default=",".join(DEFAULT_HOSTS), help="comma-separated host names")
    venv_python = HERE.parents[2] / ".venv" / "bin" / "python"
    p_up.add_argument("--python", default=str(venv_python) if venv_python.exists() else sys.executable,
                      help="ansible_python_interpreter of the inventory (default: the repository's .venv, "
                           "which has psycopg2, else this interpreter)")
    p_down = sub.add_parser("down", help="tear the hosts down (images and tools stay cached)")
    p_down.add_argument("--purge", action="store_true", help="also remove the work directory and the images")
    sub.add_parser("status", help="show the hosts and their compose services")
    p_tick = sub.add_parser("health-ticker")  # started by `up`, one per host
    p_tick.add_argument("home", help="the host's directory in the work directory")
    args = parser.parse_args(argv)
    workdir = Workdir()
    try:
        if args.command == "up":
            up([h for h in args.hosts.split(",") if h], workdir, args.python)
        elif args.command == "down":
            start = time.monotonic()
            down(workdir=workdir, purge=args.purge)
            log("down in %.1fs" % (time.monotonic() - start))
        elif args.command == "status":
            for name in workdir.host_names():
                print(Host(name, workdir).status())
        else:
            home = Path(args.home)
            health_ticker(Host(home.name, Workdir(home.parent.parent)).socket)
    except HostsError as exc:
        print("compose-hosts: %s" % exc, file=sys.stderr)
        return 1
    return 0
