# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One docker-compose host: a network namespace with sshd, a podman service, the health ticker and the project."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .images import image_store
from .podman import podman_api
from .process import HostsError, Timings, log, pid_alive, read_pid, run, stop_pids
from .workdir import DB_PORT, DEFAULT_WORKDIR, HERE, NETNS_PREFIX, PROJECT_NAME, PROJECT_SOURCE, SYSTEM_PATH, Workdir


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
            "# sshd of compose host %s (network namespace %s), written by tests/compose/hosts" % (
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
            # `python3 tests/compose/hosts health-ticker HOME`: the package run as a script (see __main__.py)
            proc = subprocess.Popen([sys.executable, str(HERE), "health-ticker", str(self.home)],
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
