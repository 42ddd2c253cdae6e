# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The changelog: antsibull-changelog accepts changelogs/, CHANGELOG.rst has every release, and galaxy.yml's
version is what the released and pending changes need (tools/packaging.py version_problems)."""

from __future__ import annotations

import os
import sys

import yaml

from support.packaging import VENV_BIN, run, stage_tree
from support.paths import REPO

sys.path.insert(0, os.path.join(REPO, "tools"))
import packaging as gates  # noqa: E402  pylint: disable=wrong-import-position  # tools/packaging.py


def _releases(repo):
    with open(os.path.join(repo, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        return (yaml.safe_load(handle) or {}).get("releases") or {}


def _write(path, data):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle)


def test_antsibull_changelog_lint_accepts_changelogs():
    result = run([os.path.join(VENV_BIN, "antsibull-changelog"), "lint"], cwd=REPO)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_changelog_has_every_release_and_the_current_version():
    releases = _releases(REPO)
    with open(os.path.join(REPO, "CHANGELOG.rst"), encoding="utf-8") as handle:
        text = handle.read()
    for version in releases:
        assert "\nv%s\n" % version in text, version
    assert gates.galaxy_version() in releases
    assert gates.version_problems() == []


def test_a_breaking_fragment_needs_a_new_major_version(tmp_path):
    tree = stage_tree(str(tmp_path / "tree"))
    latest = max(_releases(tree), key=gates._version)  # pylint: disable=protected-access
    major, minor = gates._version(latest)[:2]  # pylint: disable=protected-access
    _write(os.path.join(tree, "changelogs", "fragments", "zz-test-breaking.yml"),
           {"breaking_changes": ["pg_migrate - an option went away."]})
    with open(os.path.join(tree, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)

    galaxy["version"] = "%d.%d.0" % (major, minor + 1)
    _write(os.path.join(tree, "galaxy.yml"), galaxy)
    problems = gates.version_problems(tree)
    assert len(problems) == 1 and "must be a new major version" in problems[0], problems

    galaxy["version"] = "%d.0.0" % (major + 1)
    _write(os.path.join(tree, "galaxy.yml"), galaxy)
    assert gates.version_problems(tree) == []

    galaxy["version"] = "0.9.0"
    _write(os.path.join(tree, "galaxy.yml"), galaxy)
    assert "is below the latest release" in gates.version_problems(tree)[0]
