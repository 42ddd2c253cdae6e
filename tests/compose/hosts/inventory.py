# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How Ansible reaches the hosts: ssh keys, the inventory, the ssh masters it leaves behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

from .host import Host
from .process import run
from .workdir import DB_PORT, Workdir


def ensure_ssh_keys(workdir: Workdir, hosts: Sequence[str]) -> None:
    """A client key (authorised on every host), a host key shared by the hosts, a known_hosts naming them."""
    workdir.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key in (workdir.client_key, workdir.host_key):
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "knowledgehub-compose-test", "-f", str(key)])
    shutil.copyfile(str(workdir.client_key) + ".pub", workdir.ssh_dir / "authorized_keys")
    host_pub = " ".join(Path(str(workdir.host_key) + ".pub").read_text(encoding="utf-8").split()[:2])
    workdir.known_hosts.write_text("%s %s\n" % (",".join(hosts), host_pub), encoding="utf-8")


def write_inventory(workdir: Workdir, hosts: Sequence[Host], python: str) -> Path:
    """An Ansible inventory of the hosts (JSON, which is YAML): ssh through each namespace, db login vars."""
    entries = {}
    for host in hosts:
        env = host.env_file()
        ssh_args = ['-o ProxyCommand="ip netns exec %s nc 127.0.0.1 22"' % host.netns,
                    "-o UserKnownHostsFile=%s" % workdir.known_hosts, "-o StrictHostKeyChecking=yes",
                    "-o ControlPath=%s/cp-%%C" % workdir.ssh_dir]
        entries[host.name] = {
            "ansible_ssh_common_args": " ".join(ssh_args),
            "compose_project_dir": str(host.project_dir),
            "login_host": "127.0.0.1",
            "login_port": DB_PORT,
            "login_user": env["POSTGRES_USER"],
            "login_password": env["POSTGRES_PASSWORD"],
            "login_db": env["POSTGRES_DB"],
        }
    inventory = {"all": {
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(workdir.client_key),
                 "ansible_python_interpreter": python},
        "children": {"compose_hosts": {"hosts": entries}},
    }}
    workdir.inventory.write_text("# Written by tests/compose/hosts (JSON is YAML).\n"
                                 + json.dumps(inventory, indent=2) + "\n", encoding="utf-8")
    return workdir.inventory


def close_ssh_masters(workdir: Workdir) -> None:
    """Close the ssh ControlPersist masters of the inventory's ControlPath (they hold sessions on the hosts)."""
    for control in workdir.ssh_dir.glob("cp-*"):
        run(["ssh", "-o", "ControlPath=%s" % control, "-O", "exit", "compose-host"], check=False, timeout=30)
