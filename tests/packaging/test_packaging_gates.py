# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packaging gates of ``make lint`` (tools/packaging.py) pass on this checkout and catch what they guard.

galaxy-importer (Galaxy's own import checks, without containers) accepts a role with its README and refuses one
without (the whole collection's import is `make lint`'s galaxy-import, run before pytest in `make test`).
``ansible-builder create`` must make a build context holding what the execution environment promises, and the
check must name what a definition without the PostgreSQL client lacks.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from support.packaging import stage_tree
from support.paths import REPO

sys.path.insert(0, os.path.join(REPO, "tools"))
import packaging as gates  # noqa: E402  pylint: disable=wrong-import-position  # tools/packaging.py


def _small_collection(dest):
    """This collection with its metadata and the app_service role only: galaxy-importer judges it in seconds."""
    tree = stage_tree(dest)
    for name in os.listdir(tree):
        if name not in ("galaxy.yml", "README.md", "COPYING", "CHANGELOG.rst", "changelogs", "meta", "roles"):
            path = os.path.join(tree, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    for role in os.listdir(os.path.join(tree, "roles")):
        if role != "app_service":
            shutil.rmtree(os.path.join(tree, "roles", role))
    return tree


def test_galaxy_importer_accepts_a_role_with_readme(tmp_path):
    """The whole collection is judged by `make lint` (galaxy-import), which runs before pytest in `make test`."""
    log = gates.galaxy_import(str(tmp_path / "work"), repo=_small_collection(str(tmp_path / "tree")))
    assert "Loading role app_service" in log


def test_galaxy_importer_refuses_a_role_without_readme(tmp_path):
    tree = _small_collection(str(tmp_path / "tree"))
    os.remove(os.path.join(tree, "roles", "app_service", "README.md"))
    with pytest.raises(gates.PackagingError, match="No role readme found"):
        gates.galaxy_import(str(tmp_path / "work"), repo=tree)


def test_execution_environment_context_has_what_it_promises(tmp_path):
    context = str(tmp_path / "context")
    checked = gates.ee_context(context, str(tmp_path / "work"))
    assert len(checked) == len(gates.EE_EXPECTED)
    with open(os.path.join(context, "Containerfile"), encoding="utf-8") as handle:
        assert "module enable postgresql:15" in handle.read()
    assert os.path.isfile(os.path.join(context, "_build", "collections", gates.EE_TARBALL))


def test_execution_environment_check_names_what_is_missing(tmp_path):
    tree = stage_tree(str(tmp_path / "tree"))
    bindep = os.path.join(tree, "execution-environment", "bindep.txt")
    with open(bindep, encoding="utf-8") as handle:
        kept = [line for line in handle if not line.startswith("postgresql ")]
    with open(bindep, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
    with pytest.raises(gates.PackagingError, match="the PostgreSQL client programs"):
        gates.ee_context(str(tmp_path / "context"), str(tmp_path / "work"), repo=tree)
