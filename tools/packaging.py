# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging gates of the collection (``make lint``) and the execution environment's build context.

    python tools/packaging.py galaxy-import        build the collection, run galaxy-importer on the tarball
    python tools/packaging.py ee-context [DIR]     the execution environment's build context (ansible-builder
                                                   create) with the collection built from this checkout, checked;
                                                   kept in DIR when given, else made in a temporary directory
    python tools/packaging.py version              galaxy.yml's version against changelogs/changelog.yaml and
                                                   the pending fragments (a breaking change needs a major bump)

Both exit non-zero with the reason on stderr when a check fails. The tools (ansible-galaxy, galaxy-importer,
ansible-builder) are the venv's, found next to this Python first.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORTER_CFG = os.path.join(REPO, "tools", "galaxy-importer.cfg")
# The name execution-environment.yml gives the collection's tarball (additional_build_files, requirements.yml).
EE_TARBALL = "knowledgehub-migration.tar.gz"

# galaxy-importer reports problems as log lines starting with these (its own and ansible-lint's findings).
IMPORTER_PROBLEM = re.compile(r"^(ERROR|WARNING|CRITICAL)\b")


class PackagingError(Exception):
    """A packaging check failed; the message says which and why."""


def tool(name: str) -> str:
    """The venv's ``name`` (next to this Python), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if not found:
        raise PackagingError("%s not found next to %s nor on PATH (make venv)." % (name, sys.executable))
    return found


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run argv, output captured as text."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(kwargs.pop("env", {}))
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                          env=env, **kwargs)


def galaxy_version(repo: str = REPO) -> str:
    """The version in galaxy.yml."""
    with open(os.path.join(repo, "galaxy.yml"), encoding="utf-8") as handle:
        return str(yaml.safe_load(handle)["version"])


def build(out_dir: str, repo: str = REPO) -> str:
    """Build the collection from the checkout repo into out_dir; returns the tarball's path."""
    result = run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", out_dir, repo],
                 cwd=repo)
    tarballs = glob.glob(os.path.join(out_dir, "knowledgehub-migration-*.tar.gz"))
    if result.returncode != 0 or len(tarballs) != 1:
        raise PackagingError("ansible-galaxy collection build failed:\n" + result.stdout)
    return tarballs[0]


def galaxy_import(work_dir: str, repo: str = REPO) -> str:
    """galaxy-importer's verdict on the collection built from repo: its log when it accepted it with no error or
    warning (PackagingError otherwise)."""
    tarball = build(work_dir, repo)
    tmp_root = os.path.join(work_dir, "importer")
    os.mkdir(tmp_root)
    result = run([sys.executable, "-m", "galaxy_importer.main", tarball], cwd=work_dir,
                 env={"GALAXY_IMPORTER_CONFIG": IMPORTER_CFG, "GALAXY_IMPORTER_TMP_ROOT_DIR": tmp_root,
                      "ANSIBLE_LOCAL_TEMP": os.path.join(work_dir, "ansible-tmp")})
    problems = [line for line in result.stdout.splitlines() if IMPORTER_PROBLEM.match(line)]
    if result.returncode != 0 or problems or "Importer processing completed successfully" not in result.stdout:
        raise PackagingError("galaxy-importer did not accept %s (exit %d):\n%s" % (
            os.path.basename(tarball), result.returncode, "\n".join(problems) or result.stdout[-4000:]))
    return result.stdout


def _version(text: str) -> tuple[int, int, int]:
    """'2.0.0' -> (2, 0, 0); pre-release and build parts are ignored."""
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", str(text))
    if not match:
        raise PackagingError("%r is not a semantic version (MAJOR.MINOR.PATCH)." % (text,))
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


# Fragment sections that need a new major version, and those that need at least a new minor one.
MAJOR_SECTIONS = ("breaking_changes", "removed_features")
MINOR_SECTIONS = ("major_changes", "minor_changes", "deprecated_features")


def version_problems(repo: str = REPO) -> list[str]:
    """What is wrong with galaxy.yml's version, given the releases in changelog.yaml and the pending fragments.

    galaxy.yml may equal the latest release (fragments added since go to the next one, whose version is chosen at
    its release) or be above it; above it, the step must be as large as the pending fragments need: a breaking
    change or a removal a new major version, a feature a new minor one.
    """
    version = _version(galaxy_version(repo))
    with open(os.path.join(repo, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        releases = sorted((_version(v) for v in (yaml.safe_load(handle) or {}).get("releases") or {}), reverse=True)
    if not releases:
        return []
    latest = releases[0]
    shown = "%d.%d.%d" % version
    if version < latest:
        return ["galaxy.yml's version %s is below the latest release %d.%d.%d in changelogs/changelog.yaml."
                % ((shown,) + latest)]
    if version == latest:
        return []
    sections = set()
    for path in sorted(glob.glob(os.path.join(repo, "changelogs", "fragments", "*.y*ml"))):
        with open(path, encoding="utf-8") as handle:
            sections.update(yaml.safe_load(handle) or {})
    if sections & set(MAJOR_SECTIONS) and version[0] == latest[0]:
        return ["The pending fragments hold %s: galaxy.yml's %s must be a new major version after %d.%d.%d."
                % ((", ".join(sorted(sections & set(MAJOR_SECTIONS))), shown) + latest)]
    if sections & set(MINOR_SECTIONS) and version[:2] == latest[:2]:
        return ["The pending fragments hold %s: galaxy.yml's %s must be at least a new minor version after "
                "%d.%d.%d." % ((", ".join(sorted(sections & set(MINOR_SECTIONS))), shown) + latest)]
    return []


# What the execution environment's build context must hold: (file in the context, pattern, why).
EE_EXPECTED = [
    ("Containerfile", r'EE_BASE_IMAGE="quay\.io/centos/centos:stream9"', "the base image"),
    ("Containerfile", r"ansible-core==2\.19\.\d+", "ansible-core 2.19"),
    ("Containerfile", r"ansible-runner==\d", "ansible-runner (AWX runs jobs with it)"),
    ("Containerfile", r"module enable postgresql:15", "the PostgreSQL 15 stream enabled before bindep installs"),
    ("Containerfile", r"ansible-galaxy collection install .*-r requirements\.yml", "the collections installed"),
    ("Containerfile", r"install-from-bindep", "the system packages installed"),
    ("_build/requirements.yml", r"/build/collections/%s" % re.escape(EE_TARBALL), "this collection"),
    ("_build/requirements.yml", r"community\.postgresql", "community.postgresql"),
    ("_build/requirements.txt", r"(?m)^psycopg2-binary==", "psycopg2"),
    ("_build/bindep.txt", r"(?m)^postgresql \[platform:rpm\]", "the PostgreSQL client programs"),
    ("_build/bindep.txt", r"(?m)^openssh-clients ", "the ssh client"),
]


def ee_context(context_dir: str, work_dir: str, repo: str = REPO) -> list[str]:
    """ansible-builder create of repo's execution-environment/ with the collection built from repo; checked.

    Returns what was checked. The definition is copied to work_dir with the tarball beside it, so the checkout
    is left as it was.
    """
    definition_dir = os.path.join(work_dir, "execution-environment")
    shutil.copytree(os.path.join(repo, "execution-environment"), definition_dir,
                    ignore=shutil.ignore_patterns("*.tar.gz"))
    shutil.copy(build(work_dir, repo), os.path.join(definition_dir, EE_TARBALL))
    result = run([tool("ansible-builder"), "create", "--file",
                  os.path.join(definition_dir, "execution-environment.yml"), "--context", context_dir,
                  "--output-filename", "Containerfile"], cwd=work_dir)
    if result.returncode != 0:
        raise PackagingError("ansible-builder create failed (exit %d):\n%s" % (result.returncode, result.stdout))
    checked = []
    missing = []
    for name, pattern, why in EE_EXPECTED:
        path = os.path.join(context_dir, name)
        text = ""
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        if re.search(pattern, text):
            checked.append(why)
        else:
            missing.append("%s: no %r (%s)" % (name, pattern, why))
    built = os.path.join(context_dir, "_build", "collections", EE_TARBALL)
    if not os.path.isfile(built):
        missing.append("_build/collections/%s: the collection's tarball is not in the context" % EE_TARBALL)
    if missing:
        raise PackagingError("The execution environment's build context lacks:\n  " + "\n  ".join(missing))
    return checked


def main(argv: list[str]) -> int:
    """Command line: galaxy-import | ee-context [DIR]."""
    if not argv or argv[0] not in ("galaxy-import", "ee-context", "version"):
        sys.stderr.write(__doc__)
        return 2
    work_dir = tempfile.mkdtemp(prefix="kh-packaging-")
    try:
        if argv[0] == "version":
            problems = version_problems()
            if problems:
                raise PackagingError("\n".join(problems))
            print("galaxy.yml version %s: consistent with changelogs/" % galaxy_version())
        elif argv[0] == "galaxy-import":
            galaxy_import(work_dir)
            print("galaxy-importer: knowledgehub.migration %s accepted (no error, no warning)" % galaxy_version())
        else:
            keep = os.path.abspath(argv[1]) if len(argv) > 1 else None
            context = keep or os.path.join(work_dir, "context")
            if keep and os.path.exists(keep):
                shutil.rmtree(keep)
            checked = ee_context(context, work_dir)
            print("ansible-builder create: the context has %s" % ", ".join(checked))
            if keep:
                print("build it with: podman build -f %s/Containerfile -t knowledgehub-migration-ee:%s %s"
                      % (keep, galaxy_version(), keep))
    except PackagingError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
