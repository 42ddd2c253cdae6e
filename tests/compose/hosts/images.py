# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the machine needs once for every host: Debian packages, podman's configuration, the base and postgres
images (built here, never pulled), the docker CLI and the compose v2 plugin."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from .process import HostsError, run
from .workdir import IMAGE_SOURCE, SYSTEM_PATH, Workdir

DEBIAN_MIRROR = os.environ.get("KH_DEBIAN_MIRROR", "http://deb.debian.org/debian")

# Debian 12 packages the hosts need (runc: crun 1.8 fails on this kind of machine).
APT_PACKAGES = ("podman", "runc", "debootstrap", "uidmap", "slirp4netns", "fuse-overlayfs",
                "openssh-server", "netcat-openbsd", "iproute2")
# Debian trixie packages unpacked into the work directory (compose v2; the CLI only if missing).
COMPOSE_PACKAGE = "docker-compose"
DOCKER_CLI_PACKAGE = "docker-cli"

BASE_IMAGE = "localhost/knowledgehub/debian:bookworm"
POSTGRES_IMAGE = "docker.io/library/postgres:15"
SOURCE_LABEL = "org.knowledgehub.compose.source"

# podman settings for this machine: runc with cgroupfs (no systemd), a file event log,
# and ulimits the sandbox allows (podman's defaults cannot be set without CAP_SYS_RESOURCE).
CONTAINERS_CONF = """\
# Written by tests/compose/hosts (images.py); every podman it starts reads it (CONTAINERS_CONF).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
conmon_env_vars = ["PATH={system_path}", "CONTAINERS_CONF={path}"]
"""


def ensure_apt_packages(packages: Sequence[str] = APT_PACKAGES) -> list[str]:
    """Install the Debian packages that are missing; returns what was installed."""
    missing = [p for p in packages if run(["dpkg-query", "-W", "-f=${Status}", p], check=False).stdout
               != "install ok installed"]
    if missing:
        if os.geteuid() != 0:
            raise HostsError("missing Debian packages (install them as root): " + " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], env=env)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    return missing


def write_containers_conf(workdir: Workdir) -> None:
    content = CONTAINERS_CONF.format(path=workdir.containers_conf, system_path=SYSTEM_PATH)
    if not workdir.containers_conf.exists() or workdir.containers_conf.read_text(encoding="utf-8") != content:
        workdir.containers_conf.write_text(content, encoding="utf-8")


def image_store(workdir: Workdir) -> str:
    """The graph root of the machine's podman storage (where ensure_postgres_image builds)."""
    return run(["podman", "info", "--format", "{{.Store.GraphRoot}}"], env=workdir.podman_env()).stdout.strip()


def _image_labels(workdir: Workdir, image: str) -> dict[str, str] | None:
    """The labels of ``image`` in the machine's podman storage, None when there is no such image."""
    proc = run(["podman", "image", "inspect", "--format", "{{json .Labels}}", image], check=False,
               env=workdir.podman_env())
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout or "null") or {}


def ensure_base_image(workdir: Workdir) -> None:
    """localhost/knowledgehub/debian:bookworm from debootstrap --variant=minbase, in the machine's podman storage."""
    if _image_labels(workdir, BASE_IMAGE) is not None:
        return
    rootfs = workdir.root / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    try:
        run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR])
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(["podman", "import", "-q", "--change", 'CMD ["/bin/bash"]', "-", BASE_IMAGE],
                                      stdin=tar.stdout, capture_output=True, text=True, env=workdir.podman_env(),
                                      check=False)
        if tar.returncode != 0 or imported.returncode != 0:
            raise HostsError("importing %s failed: %s" % (BASE_IMAGE, imported.stderr.strip()[-3000:]))
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def image_source_id(workdir: Workdir) -> str:
    """Digest of what the postgres image is built from: the Containerfile, the entrypoint and the base image."""
    digest = hashlib.sha256()
    for path in sorted(IMAGE_SOURCE.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    base = run(["podman", "image", "inspect", "--format", "{{.Id}}", BASE_IMAGE], env=workdir.podman_env())
    digest.update(base.stdout.strip().encode())
    return digest.hexdigest()[:16]


def ensure_postgres_image(workdir: Workdir) -> None:
    """docker.io/library/postgres:15, built from tests/compose/image; rebuilt when its sources change."""
    wanted = image_source_id(workdir)
    if (_image_labels(workdir, POSTGRES_IMAGE) or {}).get(SOURCE_LABEL) == wanted:
        return
    # --network host: only the build's apt-get reaches the Debian archive, as apt on the machine
    # does; the default bridge would put an address on the machine's own network namespace.
    run(["podman", "build", "-q", "--network", "host", "--build-arg", "BASE_IMAGE=" + BASE_IMAGE,
         "--label", "%s=%s" % (SOURCE_LABEL, wanted), "-t", POSTGRES_IMAGE, str(IMAGE_SOURCE)],
        env=workdir.podman_env(), timeout=1800)


def _apt_download(workdir: Workdir, package: str, dest: Path) -> Path:
    """Download a Debian trixie .deb with a private apt configuration (the system's is left alone)."""
    apt = workdir.root / "apt"
    sources = apt / "sources.list"
    options = ["-o", "Dir::Etc::SourceList=%s" % sources, "-o", "Dir::Etc::SourceParts=/dev/null",
               "-o", "Dir::State::Lists=%s" % (apt / "lists"), "-o", "Dir::Cache=%s" % (apt / "cache"),
               "-o", "APT::Sandbox::User=root", "-q"]
    if not (apt / "lists").is_dir() or not any((apt / "lists").glob("*Packages*")):
        for sub in ("lists/partial", "cache/archives/partial"):
            (apt / sub).mkdir(parents=True, exist_ok=True)
        sources.write_text("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n"
                           % DEBIAN_MIRROR, encoding="utf-8")
        run(["apt-get", *options, "update"])
    dest.mkdir(parents=True, exist_ok=True)
    run(["apt-get", *options, "download", package], cwd=dest)
    debs = sorted(dest.glob("%s_*.deb" % package))
    if not debs:
        raise HostsError("apt-get download %s left no .deb in %s" % (package, dest))
    return debs[-1]


def _unpack_binary(workdir: Workdir, package: str, member: str, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=workdir.root) as tmp:
        deb = _apt_download(workdir, package, Path(tmp) / "debs")
        run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(tmp) / "x" / member, target)
        target.chmod(0o755)


def ensure_docker_cli(workdir: Workdir) -> None:
    """Use the machine's docker CLI; without one, unpack Debian trixie's docker-cli into bin/."""
    if shutil.which("docker") or (workdir.bin_dir / "docker").exists():
        return
    _unpack_binary(workdir, DOCKER_CLI_PACKAGE, "usr/bin/docker", workdir.bin_dir / "docker")


def ensure_compose_plugin(workdir: Workdir) -> None:
    """Compose v2 as a docker CLI plugin in DOCKER_CONFIG/cli-plugins, from Debian trixie's docker-compose."""
    if not workdir.compose_plugin.exists():
        _unpack_binary(workdir, COMPOSE_PACKAGE, "usr/libexec/docker/cli-plugins/docker-compose",
                       workdir.compose_plugin)
    env = dict(os.environ, DOCKER_CONFIG=str(workdir.docker_config))
    version = run([workdir.docker(), "compose", "version", "--short"], env=env).stdout.strip()
    if not version.lstrip("v").startswith("2."):
        raise HostsError("docker compose is not compose v2: %s" % version)
