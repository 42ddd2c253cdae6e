# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packaging tests' helpers: a plain clone of this checkout, and ansible-core with only chosen collections.

``plain_clone`` is what an AWX project sync gets: the files git would commit now (tracked and untracked, not
ignored: no .venv, no .collections link, no .demo), committed in a scratch repository and ``git clone``d.

``core_env`` is the environment of an execution environment holding ansible-core and nothing else: the
collections bundled with the ``ansible`` package in the venv's site-packages are hidden
(``ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false``) and only the given collection paths are searched.
``install_bundled`` copies a bundled collection (community.postgresql ...) into such a path, as a Galaxy
server would have installed it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from support.paths import REPO

VENV_BIN = os.path.dirname(sys.executable)


def _bundled_root() -> str:
    """The ansible package's collections tree in this Python's site-packages."""
    import ansible_collections  # pylint: disable=import-outside-toplevel

    for path in ansible_collections.__path__:
        if os.path.isdir(os.path.join(path, "community", "postgresql")):
            return path
    raise RuntimeError("the ansible package's bundled collections are not installed in this venv")


def run(argv: list[str], cwd: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """argv in cwd, stdout and stderr together as text; never raises on a non-zero exit."""
    return subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)


def stage_tree(dest: str, repo: str = REPO) -> str:
    """Copy of what git would commit in repo now (tracked and untracked files, ignored ones left out) to dest."""
    listed = subprocess.run(["git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            stdout=subprocess.PIPE, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = os.path.join(repo, rel)
        if not os.path.lexists(src):
            continue  # deleted but still indexed
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    return dest


def plain_clone(tmp_path: str, repo: str = REPO) -> str:
    """A ``git clone`` of this checkout's current content (committed in a scratch repository first)."""
    origin = stage_tree(os.path.join(tmp_path, "origin"), repo)
    git = ["git", "-c", "user.name=packaging-test", "-c", "user.email=test@localhost", "-c", "commit.gpgsign=false"]
    for argv in (git + ["init", "-q"], git + ["add", "-A", "-f", "."], git + ["commit", "-q", "--no-verify", "-m",
                                                                              "snapshot"]):
        subprocess.run(argv, cwd=origin, check=True)
    clone = os.path.join(tmp_path, "project")
    subprocess.run(["git", "clone", "-q", origin, clone], check=True)
    return clone


def install_bundled(collections_path: str, fqcn: str) -> str:
    """The ansible package's copy of fqcn (namespace.name) into collections_path/ansible_collections/."""
    namespace, name = fqcn.split(".")
    dest = os.path.join(collections_path, "ansible_collections", namespace, name)
    shutil.copytree(os.path.join(_bundled_root(), namespace, name), dest,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def core_env(*collections_paths: str) -> dict:
    """Environment for ansible-* of the venv that sees only the collections under collections_paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(collections_paths),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    })
    return env
