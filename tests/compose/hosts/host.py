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

Usage (as root)::

    python3 tests/compose/hosts.py up [--hosts staging,production] [--python PATH]
    python3 tests/compose/hosts.py status
    python3 tests/compose/hosts.py down [--purge]

The work directory is ``/tmp/knowledgehub-compose`` unless ``KH_COMPOSE_WORKDIR``
names another one. ``up`` is idempotent: the images (in the machine's podman
storage, which the hosts use as a read-only image store), the compose plugin and
the keys are kept between runs, and running hosts are left alone.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

HERE = Path(__file__).resolve().parent
IMAGE_SOURCE = HERE / "image"
PROJECT_SOURCE = HERE / "project"

DEFAULT_WORKDIR = "/tmp/knowledgehub-compose"
DEFAULT_HOSTS = ("staging", "production")
NETNS_PREFIX = "kh-"
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
PROJECT_NAME = "knowledgehub"
DB_PORT = 5433
PODMAN_API = "/v4.0.0/libpod"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# podman settings for this machine: runc with cgroupfs (no systemd), a file event log,
# and ulimits the sandbox allows (podman's defaults cannot be set without CAP_SYS_RESOURCE).
CONTAINERS_CONF = """\
# Written by tests/compose/hosts.py; every podman it starts reads it (CONTAINERS_CONF).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
conmon_env_vars = ["PATH={system_path}", "CONTAINERS_CONF={path}"]
"""


class HostsError(RuntimeError):
    """A step of setting up or tearing down the compose hosts failed."""


def log(message: str) -> None:
    """Progress output, one line per step."""
    print("[compose-hosts] " + message, flush=True)


def run(argv: Sequence[str], *, check: bool = True, input: str | bytes | None = None,  # noqa: A002
        env: dict[str, str] | None = None, cwd: Path | str | None = None, timeout: float = 900,
        text: bool = True) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; raise HostsError with its stderr when it fails and check is set."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=text, env=env, cwd=cwd,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        stderr = proc.stderr if text else proc.stderr.decode(errors="replace")
        raise HostsError("%s failed (exit %d): %s" % (shlex.join(argv), proc.returncode, stderr.strip()[-3000:]))
    return proc


class Timings:
    """Wall time of each step, printed as the step ends."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = time.monotonic() - start
            log("%-28s %6.1fs" % (name, self.steps[name]))


# ---------------------------------------------------------------- work directory

class Workdir:
    """The harness's files: tools, keys, per-host state. Survives ``down`` (a cache) unless purged."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get("KH_COMPOSE_WORKDIR") or DEFAULT_WORKDIR).resolve()

    @property
    def containers_conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def docker_config(self) -> Path:
        """DOCKER_CONFIG of every docker command: holds cli-plugins/docker-compose."""
        return self.root / "docker-config"

    @property
    def compose_plugin(self) -> Path:
        return self.docker_config / "cli-plugins" / "docker-compose"

    @property
    def bin_dir(self) -> Path:
        """Put first on the PATH of the hosts' commands; holds the docker CLI when the machine has none."""
        return self.root / "bin"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def host_key(self) -> Path:
        return self.ssh_dir / "host_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    def docker(self) -> str:
        """The docker CLI: the machine's, else the one unpacked into bin/."""
        local = self.bin_dir / "docker"
        if local.exists():
            return str(local)
        found = shutil.which("docker")
        if not found:
            raise HostsError("no docker CLI (run `hosts.py up` first)")
        return found

    def path(self, base: str | None = None) -> str:
        """PATH for commands on the hosts: bin/ (a docker CLI if the machine has none), then ``base``."""
        return "%s:%s" % (self.bin_dir, base or os.environ.get("PATH") or SYSTEM_PATH)

    def podman_env(self) -> dict[str, str]:
        return dict(os.environ, CONTAINERS_CONF=str(self.containers_conf))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise up/down of several processes on the same work directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def host_names(self) -> list[str]:
        """Hosts that have state in this work directory."""
        hosts_dir = self.root / "hosts"
        return sorted(p.name for p in hosts_dir.iterdir() if p.is_dir()) if hosts_dir.is_dir() else []


# ---------------------------------------------------------------- processes

def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and its command line contains ``marker``."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    return marker is None or marker in cmdline


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_pids(pids: Sequence[int | None], timeout: float = 10) -> list[int]:
    """SIGTERM each running process of ``pids``, SIGKILL what is left after ``timeout``.

    Returns the pids that were signalled. (conmon of a finished ``docker compose exec``
    catches SIGTERM and lingers: it is the usual reason for the SIGKILL.)
    """
    targets = [pid for pid in pids if pid and pid_alive(pid)]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in targets:
            _reap(pid)
        if not any(pid_alive(pid) for pid in targets):
            return targets
        time.sleep(0.1)
    for pid in targets:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    for pid in targets:
        _reap(pid)
    return targets


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a child of this process (started by ``up`` in the same process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# ---------------------------------------------------------------- podman API client

class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def podman_api(sock: Path, method: str, path: str, timeout: float = 60) -> tuple[int, object]:
    """Call the podman (libpod) REST API on ``sock``; returns (HTTP status, decoded JSON or None)."""
    conn = _UnixHTTPConnection(str(sock), timeout)
    try:
        conn.request(method, PODMAN_API + path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, None


# ---------------------------------------------------------------- one host

@dataclass
class Host:
    """One docker-compose host: a network namespace with sshd, a podman service and the compose project."""

    name: str
    workdir: Workdir
    inventory: Path | None = field(default=None, repr=False)

    @property
    def netns(self) -> str:
        """``kh-<name>``; with a work directory other than the default, ``kh-<hash of it>-<name>``, so that
        sessions with different work directories (KH_COMPOSE_WORKDIR) do not share namespaces."""
        if self.workdir.root == Path(DEFAULT_WORKDIR):
            return NETNS_PREFIX + self.name
        return "%s%s-%s" % (NETNS_PREFIX, hashlib.sha256(str(self.workdir.root).encode()).hexdigest()[:6], self.name)

    @property
    def home(self) -> Path:
        return self.workdir.root / "hosts" / self.name

    @property
    def project_dir(self) -> Path:
        """The deployed compose project (its directory name is the compose project name)."""
        return self.home / PROJECT_NAME

    @property
    def socket(self) -> Path:
        return self.home / "podman.sock"

    @property
    def docker_env(self) -> dict[str, str]:
        """What a docker command for this host needs: DOCKER_HOST and DOCKER_CONFIG."""
        return {"DOCKER_HOST": "unix://%s" % self.socket, "DOCKER_CONFIG": str(self.workdir.docker_config)}

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of commands on this host: ours, plus docker_env and the docker CLI first on PATH."""
        return dict(os.environ, **self.docker_env, PATH=self.workdir.path(), **(extra or {}))

    def run(self, argv: Sequence[str], *, check: bool = True, input: str | None = None,  # noqa: A002
            cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the host's network namespace with docker_env; output captured as text."""
        return run(["nsenter", "--net=/run/netns/" + self.netns, "--", *argv], check=check, input=input,
                   env=self.env(env), cwd=cwd or self.project_dir, timeout=timeout)

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        """``docker compose ARGS`` in the host's project directory."""
        return self.run([self.workdir.docker(), "compose", *args], check=check, timeout=timeout)

    # -- state files

    def _file(self, name: str) -> Path:
        return self.home / name

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.netns

    def netns_exists(self) -> bool:
        return self.netns_path.exists()

    def podman_pid(self) -> int | None:
        pid = read_pid(self._file("podman.pid"))
        return pid if pid_alive(pid, str(self.socket)) else None

    def sshd_pid(self) -> int | None:
        pid = read_pid(self._file("sshd.pid"))
        return pid if pid_alive(pid, str(self._file("sshd_config"))) else None

    def ticker_pid(self) -> int | None:
        pid = read_pid(self._file("health-ticker.pid"))
        return pid if pid_alive(pid, "health-ticker %s" % self.home) else None

    def processes_in_netns(self) -> list[int]:
        """Pids of every process in this host's network namespace (all started by the harness or its users)."""
        try:
            inode = os.stat(self.netns_path).st_ino
        except OSError:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                with contextlib.suppress(OSError):
                    if os.stat("/proc/%s/ns/net" % entry).st_ino == inode:
                        pids.append(int(entry))
        return pids

    # -- bring up

    def create_netns(self) -> None:
        if not self.netns_exists():
            run(["ip", "netns", "add", self.netns])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])

    def start_sshd(self) -> None:
        if self.sshd_pid():
            return
        wd = self.workdir
        config = self._file("sshd_config")
        config.write_text("\n".join([
            "# sshd of compose host %s (network namespace %s), written by tests/compose/hosts.py" % (
                self.name, self.netns),
            "ListenAddress 127.0.0.1:22",
            "HostKey %s" % wd.host_key,
            "PidFile %s" % self._file("sshd.pid"),
            "AuthorizedKeysFile %s" % (wd.ssh_dir / "authorized_keys"),
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "SetEnv DOCKER_HOST=unix://%s DOCKER_CONFIG=%s PATH=%s" % (self.socket, wd.docker_config,
                                                                       wd.path(SYSTEM_PATH)),
            "Subsystem sftp internal-sftp",
            "",
        ]), encoding="utf-8")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self._file("sshd.pid").unlink(missing_ok=True)
        run(["nsenter", "--net=" + str(self.netns_path), "--", "/usr/sbin/sshd", "-f", str(config),
             "-E", str(self._file("sshd.log"))])
        self._wait(lambda: self.sshd_pid() is not None and self.run(
            ["nc", "-z", "127.0.0.1", "22"], check=False, cwd="/").returncode == 0, "sshd", 20)

    def start_podman(self) -> bool:
        """Start the host's podman API service; False when it was already running."""
        if self.podman_pid():
            return False
        for name in ("run", "tmp", "netrun"):
            shutil.rmtree(self._file(name), ignore_errors=True)
            self._file(name).mkdir(parents=True)
        self._file("netconf").mkdir(exist_ok=True)
        self.socket.unlink(missing_ok=True)
        # The mount point of the private bind below (podman keeps network state there).
        Path("/run/containers/networks").mkdir(parents=True, exist_ok=True)
        # Own storage for containers and volumes; the machine's image store (where the images are
        # built) is a read-only additional image store: no copy of the 600 MB image per host.
        podman = ["podman", "--root", str(self._file("storage")), "--runroot", str(self._file("run")),
                  "--tmpdir", str(self._file("tmp")), "--network-config-dir", str(self._file("netconf")),
                  "--storage-driver", "overlay", "--storage-opt", "overlay.imagestore=%s" % image_store(self.workdir),
                  "system", "service", "--time=0", "unix://%s" % self.socket]
        # nsenter --net (not `ip netns exec`, which remounts /sys without the cgroup mounts runc needs);
        # a private mount namespace keeps the service's overlay mounts and network state its own.
        script = "mount --bind %s /run/containers/networks && exec %s" % (
            shlex.quote(str(self._file("netrun"))), shlex.join(podman))
        with open(self._file("podman.log"), "ab") as out:
            proc = subprocess.Popen(
                ["nsenter", "--net=" + str(self.netns_path), "--", "unshare", "--mount", "--propagation",
                 "private", "--", "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=self.workdir.podman_env(),
                start_new_session=True)
        self._file("podman.pid").write_text("%d\n" % proc.pid, encoding="utf-8")
        self._wait(lambda: self.socket.exists() and self._api_ok(), "podman service", 30,
                   lambda: proc.poll() is not None)
        return True

    def _api_ok(self) -> bool:
        try:
            return podman_api(self.socket, "GET", "/_ping", timeout=5)[0] == 200
        except OSError:
            return False

    def start_ticker(self) -> None:
        if self.ticker_pid():
            return
        with open(self._file("health-ticker.log"), "ab") as out:
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "health-ticker", str(self.home)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        self._file("health-ticker.pid").write_text("%d\n" % proc.pid, encoding="utf-8")

    def deploy(self) -> None:
        """Copy the compose project (first time only) and ``docker compose up -d --wait``."""
        if not self.project_dir.exists():
            shutil.copytree(PROJECT_SOURCE, self.project_dir)
        self.compose("up", "-d", "--wait", "--wait-timeout", "180", timeout=240)

    def _wait(self, ready, what: str, timeout: float, gave_up=None) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or (gave_up and gave_up()):
                logs = sorted(self.home.glob("*.log"))
                tails = "\n".join("--- %s\n%s" % (p, p.read_text(errors="replace")[-1500:]) for p in logs)
                raise HostsError("%s of host %s did not come up within %ds\n%s" % (what, self.name, timeout, tails))
            time.sleep(0.2)

    def up(self, timings: Timings) -> None:
        """Bring this host up (each step skipped when already done)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with timings.step("%s: netns + sshd" % self.name):
            self.create_netns()
            self.start_sshd()
        with timings.step("%s: podman service" % self.name):
            fresh = self.start_podman()
            self.start_ticker()
        if fresh and self.project_dir.exists():
            # Left over from a session that ended without `down`: start from an empty database.
            with timings.step("%s: stale project removed" % self.name):
                self.compose("down", "-v", "-t", "5", check=False)
                shutil.rmtree(self.project_dir)
        with timings.step("%s: compose up (healthy)" % self.name):
            self.deploy()

    # -- tear down

    def down(self, timings: Timings) -> None:
        """compose down -v, stop our processes by pid, delete the namespace and the run-time state."""
        with timings.step("%s: compose down" % self.name):
            if self.podman_pid() and self.project_dir.exists():
                self.compose("down", "-v", "-t", "5", check=False, timeout=120)
        with timings.step("%s: processes, netns" % self.name):
            stop_pids([self.ticker_pid(), self.sshd_pid(), self.podman_pid()])
            # Whatever is left in the namespace (`docker compose exec` helpers, ssh sessions, conmon of
            # containers that compose could not remove) was started by the harness or its users.
            for _attempt in range(3):
                pids = self.processes_in_netns()
                if not pids:
                    break
                stopped = stop_pids(pids, timeout=2)
                log("%s: stopped %d leftover process(es) in %s: %s" % (
                    self.name, len(stopped), self.netns, " ".join(map(str, stopped))))
            if self.netns_exists():
                run(["ip", "netns", "delete", self.netns], check=False)
            for name in ("run", "tmp", "netrun", "podman.sock", "podman.pid", "sshd.pid", "health-ticker.pid"):
                path = self._file(name)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            shutil.rmtree(self.project_dir, ignore_errors=True)

    def status(self) -> str:
        parts = ["netns %s" % ("up" if self.netns_exists() else "absent"),
                 "sshd %s" % (self.sshd_pid() or "-"), "podman %s" % (self.podman_pid() or "-"),
                 "health-ticker %s" % (self.ticker_pid() or "-")]
        lines = ["%s: %s" % (self.name, ", ".join(parts))]
        if self.podman_pid() and self.project_dir.exists():
            lines.append(self.compose("ps", "-a", check=False).stdout.rstrip())
        return "\n".join(lines)

    # -- helpers for tests

    def env_file(self) -> dict[str, str]:
        """KEY=VALUE pairs of the project's .env."""
        values = {}
        for line in (self.project_dir / ".env").read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
        return values

    @property
    def db_password(self) -> str:
        return self.env_file()["POSTGRES_PASSWORD"]

    @property
    def pgpassfile(self) -> Path:
        """A 0600 password file for the application role (libpq reads it: the password is never in argv)."""
        path = self._file("pgpass")
        env = self.env_file()
        escaped = env["POSTGRES_PASSWORD"].replace("\\", "\\\\").replace(":", "\\:")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("127.0.0.1:%d:*:%s:%s\n" % (DB_PORT, env["POSTGRES_USER"], escaped))
        return path

    def psql(self, sql: str | None = None, *, file: str | Path | None = None, db: str = "knowledgehub",
             variables: dict[str, str] | None = None, single_transaction: bool = False,
             timeout: float = 900) -> str:
        """Run SQL (or a psql script ``file``) with psql inside the host against 127.0.0.1:5433.

        Connects as the project's POSTGRES_USER, stops at the first error, and
        returns the unaligned, tuples-only output without its trailing newline.
        """
        psql_bin = "/usr/lib/postgresql/15/bin/psql"
        cmd = [psql_bin if os.path.exists(psql_bin) else "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", "127.0.0.1", "-p", str(DB_PORT), "-U", self.env_file()["POSTGRES_USER"], "-d", db]
        if single_transaction:
            cmd.append("-1")
        for key, value in (variables or {}).items():
            cmd += ["-v", "%s=%s" % (key, value)]
        cmd += ["-f", str(file)] if file is not None else ["-c", sql or ""]
        proc = self.run(cmd, check=False, cwd="/", timeout=timeout,
                        env={"PGPASSFILE": str(self.pgpassfile), "PGCONNECT_TIMEOUT": "10"})
        if proc.returncode != 0:
            raise HostsError("psql on %s failed (%d): %s" % (self.name, proc.returncode, proc.stderr.strip()))
        return proc.stdout.rstrip("\n")


# ---------------------------------------------------------------- shared steps

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
    workdir.inventory.write_text("# Written by tests/compose/hosts.py (JSON is YAML).\n"
                                 + json.dumps(inventory, indent=2) + "\n", encoding="utf-8")
    return workdir.inventory


def close_ssh_masters(workdir: Workdir) -> None:
    """Close the ssh ControlPersist masters of the inventory's ControlPath (they hold sessions on the hosts)."""
    for control in workdir.ssh_dir.glob("cp-*"):
        run(["ssh", "-o", "ControlPath=%s" % control, "-O", "exit", "compose-host"], check=False, timeout=30)


# ---------------------------------------------------------------- the deployment

@dataclass
class Deployment:
    """The hosts brought up by ``up``: by name, with the inventory and the time each step took."""

    hosts: dict[str, Host]
    inventory: Path
    timings: dict[str, float]
    seconds: float

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts.values())


def up(names: Sequence[str] = DEFAULT_HOSTS, workdir: Workdir | None = None,
       python: str | None = None) -> Deployment:
    """Set up the machine (once) and bring the named hosts up; idempotent. Needs root."""
    workdir = workdir or Workdir()
    if os.geteuid() != 0:
        raise HostsError("the compose hosts need root (network namespaces, rootful podman)")
    timings = Timings()
    start = time.monotonic()
    with workdir.locked():
        with timings.step("apt packages"):
            installed = ensure_apt_packages()
            if installed:
                log("installed: " + " ".join(installed))
        with timings.step("containers.conf"):
            write_containers_conf(workdir)
        with timings.step("base image"):
            ensure_base_image(workdir)
        with timings.step("postgres image"):
            ensure_postgres_image(workdir)
        with timings.step("docker CLI + compose plugin"):
            ensure_docker_cli(workdir)
            ensure_compose_plugin(workdir)
        with timings.step("ssh keys"):
            ensure_ssh_keys(workdir, names)
        hosts = [Host(name, workdir) for name in names]
        with timings.step("hosts"), concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            for future in [pool.submit(host.up, timings) for host in hosts]:
                future.result()
        inventory = write_inventory(workdir, hosts, python or sys.executable)
        for host in hosts:
            host.inventory = inventory
    seconds = time.monotonic() - start
    log("%d host(s) up in %.1fs; inventory: %s" % (len(hosts), seconds, inventory))
    return Deployment({h.name: h for h in hosts}, inventory, timings.steps, seconds)


def down(names: Sequence[str] | None = None, workdir: Workdir | None = None, purge: bool = False) -> dict[str, float]:
    """Tear the hosts down (all with state in the work directory by default); ``purge`` also drops the caches."""
    workdir = workdir or Workdir()
    timings = Timings()
    if not workdir.root.exists():
        return timings.steps
    with workdir.locked():
        with timings.step("ssh masters"):
            close_ssh_masters(workdir)
        for name in names or workdir.host_names():
            Host(name, workdir).down(timings)
        if purge:
            with timings.step("purge"):
                shutil.rmtree(workdir.root / "hosts", ignore_errors=True)
                for image in (POSTGRES_IMAGE, BASE_IMAGE):
                    run(["podman", "rmi", "-f", image], check=False, env=workdir.podman_env())
    if purge:
        shutil.rmtree(workdir.root, ignore_errors=True)
    return timings.steps


def leftovers(names: Sequence[str], workdir: Workdir | None = None) -> list[str]:
    """What of the named hosts still exists after ``down``: namespaces, and processes naming a host's directory."""
    workdir = workdir or Workdir()
    found = ["netns " + h.netns for h in (Host(n, workdir) for n in names) if h.netns_exists()]
    homes = [str(Host(n, workdir).home) for n in names]
    masters = "%s/cp-" % workdir.ssh_dir
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
                if masters in cmdline or any(home + "/" in cmdline or home + " " in cmdline for home in homes):
                    found.append("pid %s: %s" % (entry, cmdline[:200]))
    return found


# ---------------------------------------------------------------- health ticker

def health_ticker(host: Host, poll: float = 0.5) -> None:
    """Run each running container's healthcheck through the podman API at the container's interval.

    Stands in for the systemd timers podman 4.3 would use; exits when the
    podman service has been gone for 30 seconds.
    """
    last_run: dict[str, float] = {}
    unreachable_since: float | None = None
    while True:
        try:
            containers = podman_api(host.socket, "GET", "/containers/json")[1]
            unreachable_since = None
        except OSError:
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > 30:
                return
            time.sleep(poll)
            continue
        now = time.monotonic()
        for container in containers if isinstance(containers, list) else []:
            cid = container["Id"]
            with contextlib.suppress(OSError):
                info = podman_api(host.socket, "GET", "/containers/%s/json" % cid)[1]
                check = ((info or {}).get("Config") or {}).get("Healthcheck") if isinstance(info, dict) else None
                if not check or not check.get("Test") or check["Test"][0] == "NONE":
                    continue
                interval = (check.get("Interval") or 30_000_000_000) / 1e9
                key = "%s@%s" % (cid, info.get("State", {}).get("StartedAt"))
                if now - last_run.setdefault(key, now - interval + 1) >= interval:
                    last_run[key] = now
                    podman_api(host.socket, "GET", "/containers/%s/healthcheck" % cid,
                               timeout=(check.get("Timeout") or 30_000_000_000) / 1e9 + 10)
        time.sleep(poll)


# ---------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="set up the machine and bring the hosts up (idempotent)")
    p_up.add_argument("--hosts", default=",".join(DEFAULT_HOSTS), help="comma-separated host names")
    venv_python = HERE.parents[1] / ".venv" / "bin" / "python"
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
            health_ticker(Host(home.name, Workdir(home.parent.parent)))
    except HostsError as exc:
        print("compose-hosts: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
