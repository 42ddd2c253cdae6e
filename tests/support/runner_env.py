# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A job as AWX runs it: ansible-runner on a private data directory, in a controller of its own.

* ``controller_venv()``: a virtualenv holding only ansible-core, ansible-runner, psycopg2 and squawk at the pins of
  requirements.txt / constraints.txt (what execution-environment/ installs), no ``ansible`` package and so no
  bundled collection; made once and kept under tests/output/awx/ (``make clean`` removes it);
* ``project_checkout()``: a ``git clone`` of this repository with the working tree's changes laid over it, as an
  AWX project sync checks the project out;
* ``install_collections()``: what the project sync does next: ``ansible-galaxy collection install -r
  collections/requirements.yml`` into the job's collections path, offline: the dependencies galaxy.yml declares
  come as tarballs of the trees the ``ansible`` package of the test venv bundles (the Galaxy server's part);
* ``PrivateDataDir``: project/, inventory/hosts, env/extravars, env/envvars and, for a database password, the
  file AWX writes for a custom credential type's extra_vars injector (env/, mode 0400, passed as ``-e @file``);
* ``RunnerJob``: ``ansible-runner run`` of the controller venv and what it left in artifacts/<ident>/;
* ``Listener``: a loopback port that counts the connections made to it (a host or a database that a refused run
  must not reach).
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading

import yaml

from support.paths import REPO

OUTPUT = os.path.join(REPO, "tests", "output", "awx")
# The controller's packages: the names execution-environment/ installs, at the repository's pins.
CONTROLLER_PACKAGES = ("ansible-core", "ansible-runner", "psycopg2-binary", "squawk-cli")  # squawk: the lint gate runs here


def pins(*names: str) -> list[str]:
    """``name==version`` of each name, from requirements.txt and constraints.txt."""
    found: dict[str, str] = {}
    for path in ("requirements.txt", "constraints.txt"):
        with open(os.path.join(REPO, path), encoding="utf-8") as handle:
            for line in handle:
                match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
                if match:
                    found.setdefault(match.group(1).lower(), match.group(0))
    missing = [n for n in names if n.lower() not in found]
    assert not missing, "no pin for %s in requirements.txt / constraints.txt" % ", ".join(missing)
    return [found[n.lower()] for n in names]


def controller_venv() -> str:
    """The controller's virtualenv (its directory), made on first use and reused while the pins stay the same."""
    requirements = pins(*CONTROLLER_PACKAGES)
    key = hashlib.sha256(("%s %s" % (sys.version, " ".join(requirements))).encode()).hexdigest()[:12]
    venv = os.path.join(OUTPUT, "controller-%s" % key)
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker at a time; the others wait and reuse it
        if not os.path.exists(os.path.join(venv, ".complete")):
            shutil.rmtree(venv, ignore_errors=True)
            # the interpreter of the test venv's base: a plain python3 of the same version
            subprocess.run([sys._base_executable, "-m", "venv", venv],  # pylint: disable=protected-access
                           check=True, capture_output=True, text=True)
            pip = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
                                  *requirements], capture_output=True, text=True, timeout=900, check=False)
            assert pip.returncode == 0, "pip install %s failed:\n%s" % (" ".join(requirements), pip.stderr[-3000:])
            with open(os.path.join(venv, ".complete"), "w", encoding="utf-8") as handle:
                handle.write(" ".join(requirements) + "\n")
    return venv


def project_checkout(dest: str) -> str:
    """``git clone`` of this repository into ``dest``, then the working tree's changes (modified, new and deleted
    files, git's ignore rules applied) laid over it: the project as it stands, checked out as AWX checks it out."""
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", REPO, dest], check=True, capture_output=True)

    def listed(*options: str) -> list[str]:
        out = subprocess.run(["git", "ls-files", "-z", *options], cwd=REPO, check=True, capture_output=True).stdout
        return [p for p in out.decode().split("\0") if p]

    deleted = set(listed("--deleted"))
    for path in deleted:
        if os.path.lexists(os.path.join(dest, path)):
            os.remove(os.path.join(dest, path))
    for path in listed("--modified", "--others", "--exclude-standard"):
        if path in deleted or not os.path.isfile(os.path.join(REPO, path)):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, path)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), os.path.join(dest, path))
    return dest


def bundled_collection_tarball(name: str, dest_dir: str) -> str:
    """A collection artifact of the tree the ``ansible`` package bundles: what Galaxy would serve, offline.

    The bundled tree lacks some files its FILES.json lists (CI configuration, tests), so the artifact gets a
    FILES.json of the files it holds, with their checksums, and a MANIFEST.json that names that FILES.json's
    checksum, as ``ansible-galaxy collection build`` writes them."""
    namespace, collection = name.split(".")
    tree = os.path.join(sysconfig.get_paths()["purelib"], "ansible_collections", namespace, collection)
    assert os.path.isfile(os.path.join(tree, "MANIFEST.json")), "%s is not bundled in %s" % (name, tree)
    with open(os.path.join(tree, "MANIFEST.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    path = os.path.join(dest_dir, "%s-%s-%s.tar.gz" % (namespace, collection, manifest["collection_info"]["version"]))
    if os.path.exists(path):
        return path
    entries = [{"name": ".", "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1}]
    members: list[tuple[str, str]] = []
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for entry in dirs:
            relative = os.path.relpath(os.path.join(root, entry), tree)
            entries.append({"name": relative, "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1})
            members.append((os.path.join(root, entry), relative))
        for entry in sorted(files):
            relative = os.path.relpath(os.path.join(root, entry), tree)
            if relative in ("MANIFEST.json", "FILES.json") or entry.endswith(".pyc"):
                continue
            with open(os.path.join(root, entry), "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            entries.append({"name": relative, "ftype": "file", "chksum_type": "sha256", "chksum_sha256": digest,
                            "format": 1})
            members.append((os.path.join(root, entry), relative))
    files_json = json.dumps({"files": entries, "format": 1}).encode()
    manifest["file_manifest_file"] = dict(manifest["file_manifest_file"], chksum_sha256=hashlib.sha256(
        files_json).hexdigest())
    partial = "%s.%d" % (path, os.getpid())
    with tarfile.open(partial, "w:gz") as tar:
        for member, data in (("MANIFEST.json", json.dumps(manifest).encode()), ("FILES.json", files_json)):
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for source, relative in members:
            tar.add(source, arcname=relative, recursive=False)
    os.replace(partial, path)
    return path


def install_collections(venv: str, project: str, dest: str) -> str:
    """The project sync's collection install into ``dest`` (the job's collections path): first the dependencies
    galaxy.yml declares, from tarballs of the bundled trees, then collections/requirements.yml offline, from the
    project's root. Returns ``dest``."""
    galaxy = os.path.join(venv, "bin", "ansible-galaxy")
    env = clean_env(venv)
    with open(os.path.join(project, "galaxy.yml"), encoding="utf-8") as handle:
        dependencies = sorted((yaml.safe_load(handle) or {}).get("dependencies") or {})
    tarballs = os.path.join(OUTPUT, "tarballs")
    os.makedirs(tarballs, exist_ok=True)
    for name in dependencies:
        run = subprocess.run([galaxy, "collection", "install", "--offline", "-p", dest,
                              bundled_collection_tarball(name, tarballs)],
                             cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, "installing %s failed:\n%s%s" % (name, run.stdout, run.stderr)
    requirements = os.path.join(project, "collections", "requirements.yml")
    assert os.path.isfile(requirements), "the project has no collections/requirements.yml"
    run = subprocess.run([galaxy, "collection", "install", "--offline", "-p", dest, "-r", requirements],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, "ansible-galaxy collection install -r failed:\n%s%s" % (run.stdout, run.stderr)
    return dest


def clean_env(venv: str) -> dict[str, str]:
    """The environment of a controller process: this one's, less every ANSIBLE_* and the test venv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV", "PG"))}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(sys.prefix)]
    env["PATH"] = os.pathsep.join([os.path.join(venv, "bin"), *path])
    return env


class PrivateDataDir:
    """An ansible-runner private data directory laid out as AWX lays one out for a job."""

    def __init__(self, root: str, venv: str, project: str, collections: str) -> None:
        self.root, self.venv, self.collections = root, venv, collections
        for sub in ("inventory", "env"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        shutil.copytree(project, os.path.join(root, "project"), symlinks=True)
        self.cmdline: list[str] = []

    def inventory(self, content: dict) -> None:
        self._write("inventory/hosts", yaml.safe_dump(content))

    def extravars(self, values: dict) -> None:
        """env/extravars: the job template's extra variables and survey answers (flat)."""
        self._write("env/extravars", yaml.safe_dump(values))

    def envvars(self, values: dict) -> None:
        self._write("env/envvars", yaml.safe_dump(values))

    def credential_extra_vars(self, values: dict) -> str:
        """What AWX does with a custom credential type's ``extra_vars`` injector: the values in a file of its own
        in env/ (mkstemp, mode 0400), given to ansible-playbook as ``-e @file`` on the command line."""
        handle, path = tempfile.mkstemp(dir=os.path.join(self.root, "env"))
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(yaml.safe_dump(values))
        os.chmod(path, 0o400)
        self.cmdline += ["-e", "@%s" % path]
        return path

    def _write(self, relative: str, text: str) -> None:
        with open(os.path.join(self.root, relative), "w", encoding="utf-8") as handle:
            handle.write(text)

    def run(self, playbook: str, ident: str, *cmdline: str, limit: str | None = None,
            timeout: float = 1500) -> "RunnerJob":
        """``ansible-runner run`` of the controller venv: ``playbook`` relative to project/."""
        argv = [os.path.join(self.venv, "bin", "ansible-runner"), "run", self.root, "-p", playbook, "--ident", ident]
        if limit:
            argv += ["--limit", limit]
        args = [*self.cmdline, *cmdline]
        if args:
            argv += ["--cmdline", " ".join(args)]
        env = dict(clean_env(self.venv), ANSIBLE_COLLECTIONS_PATH=self.collections, ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return RunnerJob(os.path.join(self.root, "artifacts", ident), proc)


class RunnerJob:
    """What ansible-runner left of a job: status, rc, stdout, the job events."""

    def __init__(self, artifacts: str, proc: subprocess.CompletedProcess) -> None:
        self.artifacts, self.proc = artifacts, proc

    def _read(self, name: str) -> str:
        path = os.path.join(self.artifacts, name)
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    @property
    def status(self) -> str:
        return self._read("status").strip()

    @property
    def rc(self) -> int | None:
        text = self._read("rc").strip()
        return int(text) if text else None

    @property
    def stdout(self) -> str:
        return self._read("stdout")

    def events(self) -> list[dict]:
        events = []
        for path in sorted(glob.glob(os.path.join(self.artifacts, "job_events", "*.json"))):
            with open(path, encoding="utf-8") as handle:
                events.append(json.load(handle))
        return sorted(events, key=lambda e: e.get("counter", 0))

    def stats(self) -> dict:
        """The set_stats data of the run: the playbook_on_stats event's artifact_data (what AWX keeps as the job's
        artifacts and hands to the next workflow node)."""
        found = [e for e in self.events() if e.get("event") == "playbook_on_stats"]
        assert found, "no playbook_on_stats event in %s" % self.artifacts
        return found[-1].get("event_data", {}).get("artifact_data") or {}

    def files_containing(self, secret: str) -> list[str]:
        """Every file under artifacts/<ident>/ (job events, stdout, command ...) that holds ``secret``."""
        hits = []
        for root, _dirs, files in os.walk(self.artifacts):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as handle:
                    if secret.encode() in handle.read():
                        hits.append(os.path.relpath(path, self.artifacts))
        return hits

    def explain(self) -> str:
        return "status=%s rc=%s\n%s\n%s" % (self.status, self.rc, self.stdout[-5000:], self.proc.stderr[-2000:])


class Listener:
    """A loopback TCP port that counts the connections made to it (and closes each at once)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:  # closed
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
