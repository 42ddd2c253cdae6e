# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An AWX project of this repository works from a plain clone, with ansible-core and the declared collections.

What an AWX project sync does, step by step, without AWX: a ``git clone`` (no ``make``, no .collections link),
``ansible-galaxy collection install -r collections/requirements.yml -p <requirements_collections>`` from the
project's root, then jobs run with that path as the collections path. The execution environment has
ansible-core only: the ``ansible`` package's bundled collections are hidden, and community.postgresql is put in
the requirements path beforehand as the Galaxy server would have delivered it (there is no Galaxy here), so the
install must find it satisfied. Every shipped playbook must then load (``--syntax-check``), from the project and
as a collection playbook (knowledgehub.migration.migrate ...).
"""

from __future__ import annotations

import glob
import json
import os

from types import SimpleNamespace

import pytest
import yaml

from support.packaging import core_env, install_bundled, plain_clone, run

PLAYBOOKS = ("migrate", "preflight", "recover", "rollback", "validate")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The clone, its requirements_collections after the project sync's install, and the install's output."""
    tmp = str(tmp_path_factory.mktemp("awx"))
    clone = plain_clone(tmp)
    requirements = os.path.join(tmp, "requirements_collections")
    install_bundled(requirements, "community.postgresql")
    result = run(["ansible-galaxy", "collection", "install", "-r", "collections/requirements.yml",
                  "-p", requirements], cwd=clone, env=core_env(requirements))
    return SimpleNamespace(clone=clone, requirements=requirements, install=result)


def test_plain_clone_has_no_collection_link(project):
    assert not os.path.lexists(os.path.join(project.clone, ".collections"))
    assert os.path.isfile(os.path.join(project.clone, "collections", "requirements.yml"))


def test_project_sync_installs_this_checkout_as_the_collection(project):
    result = project.install
    assert result.returncode == 0, result.stdout
    installed = os.path.join(project.requirements, "ansible_collections", "knowledgehub", "migration")
    with open(os.path.join(installed, "MANIFEST.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)["collection_info"]
    with open(os.path.join(project.clone, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert manifest["version"] == galaxy["version"]
    assert "community.postgresql" in manifest["dependencies"]
    # the dependency was already there: nothing fetched from a Galaxy server
    assert "community.postgresql:" in result.stdout and "already installed" in result.stdout, result.stdout


def test_installed_collection_holds_the_collection_only(project):
    installed = os.path.join(project.requirements, "ansible_collections", "knowledgehub", "migration")
    top = set(os.listdir(installed))
    for needed in ("plugins", "roles", "playbooks", "meta", "migrations", "README.md", "COPYING",
                   "CHANGELOG.rst", "changelogs"):
        assert needed in top, needed
    for left_out in ("Makefile", "bench", "tools", "molecule", "tests", "constraints.txt", "requirements.txt",
                     "inventories", "execution-environment", "collections", "ansible.cfg", ".ci", ".venv",
                     ".collections", ".demo", ".git"):
        assert left_out not in top, left_out
    assert "fragments" not in os.listdir(os.path.join(installed, "changelogs"))
    for role in glob.glob(os.path.join(installed, "roles", "*")):
        assert os.path.isfile(os.path.join(role, "README.md")), role


def test_project_playbooks_load_with_core_and_declared_collections(project):
    result = run(["ansible-playbook", "-i", "localhost,", "--syntax-check"]
                 + ["playbooks/%s.yml" % name for name in PLAYBOOKS], cwd=project.clone,
                 env=core_env(project.requirements))
    assert result.returncode == 0, result.stdout
    for name in PLAYBOOKS:
        assert "playbook: playbooks/%s.yml" % name in result.stdout


def test_collection_playbooks_load_by_name(project):
    result = run(["ansible-playbook", "-i", "localhost,", "--syntax-check"]
                 + ["knowledgehub.migration.%s" % name for name in PLAYBOOKS], cwd=project.clone,
                 env=core_env(project.requirements))
    assert result.returncode == 0, result.stdout
    for name in PLAYBOOKS:
        assert "ansible_collections/knowledgehub/migration/playbooks/%s.yml" % name in result.stdout


def test_without_the_declared_dependency_the_playbook_does_not_load(project, tmp_path):
    """The environment really is ansible-core only: community.postgresql comes from the requirements path."""
    only_this = os.path.join(str(tmp_path), "ansible_collections", "knowledgehub")
    os.makedirs(only_this)
    os.symlink(os.path.join(project.requirements, "ansible_collections", "knowledgehub", "migration"),
               os.path.join(only_this, "migration"))
    result = run(["ansible-playbook", "-i", "localhost,", "--syntax-check", "playbooks/migrate.yml"],
                 cwd=project.clone, env=core_env(str(tmp_path)))
    assert result.returncode != 0
    assert "community.postgresql" in result.stdout, result.stdout
