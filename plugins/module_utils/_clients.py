# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which PostgreSQL client programs run, and where: on the host, or inside the compose ``db`` service.

The client programs come from one bin directory whose pg_dump major version is at
least the server's (an older pg_dump cannot dump a newer server correctly).

Where the programs run is an ``Executor``. ``HostExecutor`` runs them on the
managed host. ``ComposeExecutor`` runs them inside the compose ``db`` service
(``docker compose exec -T db ...``), for hosts whose only client recent enough is
the server's own: there the programs cannot see the host's files, so a host file
they would write (``--file``) becomes their stdout and the archive they would read
becomes their stdin, both opened by this module on the host; the password goes
with ``-e PGPASSWORD``, whose value the docker CLI takes from its own environment,
never from an argument. Both start their programs through ``_process.spawn``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import ComposeError, Project
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import RUNNERS
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import (
    CommandResult,
    ProcessError,
    Running,
    check,
    spawn,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import Target, server_version_text

# Where distributions install versioned PostgreSQL client programs.
CLIENT_DIR_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?")


class ClientError(ProcessError):
    """A PostgreSQL client program is missing, too old, or cannot run what is asked of it."""


# -- versions ------------------------------------------------------------------


def version_num(major: int, minor: int, patch: int = 0) -> int:
    """A client version as PostgreSQL's server_version_num does it (150018 for 15.18, 90624 for 9.6.24)."""
    if major >= 10:
        return major * 10000 + minor
    return major * 10000 + minor * 100 + patch


def major_of(num: int) -> str:
    """The major version of a version number: '15', or '9.6' before PostgreSQL 10."""
    if num >= 100000:
        return str(num // 10000)
    return "%d.%d" % (num // 10000, (num // 100) % 100)


def major_key(num: int) -> int:
    """Comparable major version: 15 -> 150000, 9.6 -> 90600."""
    return (num // 10000) * 10000 if num >= 100000 else (num // 100) * 100


def parse_version(text: str) -> tuple[int, str]:
    """``pg_dump (PostgreSQL) 15.18 (Debian ...)`` -> (150018, '15.18')."""
    match = _VERSION.search(text or "")
    if not match:
        raise ClientError("Cannot read a PostgreSQL version from %r." % (text or "").strip()[:200])
    major = int(match.group(1))
    minor = int(match.group(2) or 0)
    patch = int(match.group(3) or 0)
    shown = ".".join(g for g in match.groups() if g is not None)
    return version_num(major, minor, patch), shown


class Executor:
    """Where the client programs run: HostExecutor or ComposeExecutor."""

    name = "abstract"

    def start(self, argv: list[str], env: dict[str, str]) -> Running:
        raise NotImplementedError

    def run(self, argv: list[str], env: dict[str, str], timeout: float | None = None, tick: Any = None) -> CommandResult:
        return self.start(argv, env).wait(timeout, tick)

    def describe(self, argv: list[str]) -> list[str]:
        """The command line as it really runs, for results and manifests."""
        return list(argv)

    def is_executable(self, path: str) -> bool:
        raise NotImplementedError


class HostExecutor(Executor):
    """Runs the programs on the managed host: no shell, umask 077, stdin closed."""

    name = "host"

    def start(self, argv: list[str], env: dict[str, str]) -> Running:
        return spawn(argv, env)

    def is_executable(self, path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    def candidate_dirs(self) -> list[str]:
        return candidate_dirs()

    def fallback_dir(self) -> str | None:
        return path_dir()


DRAIN_STDIN = '"$0" "$@"; rc=$?; cat >/dev/null; exit $rc'


def container_command(argv: list[str]) -> tuple[list[str], str | None, str | None]:
    """A host command line as run inside the container: (argv, host file for stdin, host file for stdout).

    pg_dump's and pg_restore's ``--file=X`` (an output) becomes stdout to X; psql's ``--file=X`` (an input) and
    pg_restore's archive argument become stdin from X. ``--file=/dev/null`` stays as it is. What cannot be
    streamed (a directory archive, a second input, a list file, parallel jobs on stdin) raises ClientError.
    """
    program = os.path.basename(argv[0])
    out_argv: list[str] = [argv[0]]
    stdin: str | None = None
    stdout: str | None = None

    def take_input(path: str) -> None:
        nonlocal stdin
        if os.path.isdir(path):
            raise ClientError("%s cannot read the directory archive %s from inside the container; directory "
                              "archives need runner=host." % (program, path))
        if stdin is not None:
            raise ClientError("%s would read two host files (%s, %s) inside the container; use runner=host."
                              % (program, stdin, path))
        stdin = path

    for arg in argv[1:]:
        if arg.startswith("--file="):
            path = arg[len("--file="):]
            if path == os.devnull:
                out_argv.append(arg)
            elif program == "psql":
                take_input(path)
                out_argv.append("--file=-")
            else:
                stdout = path
        elif arg.startswith("--use-list="):
            raise ClientError("A restore of chosen entries (--use-list) needs runner=host.")
        elif arg.startswith("--jobs="):
            raise ClientError("%s reads the archive from its stdin inside the container, which allows no "
                              "parallel jobs; use jobs=1 or runner=host." % program)
        elif not arg.startswith("-") and program == "pg_restore":
            take_input(arg)
        else:
            out_argv.append(arg)
    if stdin is not None:
        # A program may stop reading early (pg_restore --list reads the table of contents only); the rest of the
        # stream must still be read, or the docker CLI fails writing it. Its exit code is kept.
        out_argv = ["sh", "-c", DRAIN_STDIN] + out_argv
    return out_argv, stdin, stdout


class ComposeExecutor(Executor):
    """Runs the programs in the compose service (``docker compose exec -T <service> ...``)."""

    name = "compose"

    def __init__(self, project: Project, service: str, password: str = "") -> None:
        self.project = project
        self.service = service
        self.password = password
        self._executable: dict[str, bool] = {}

    def exec_argv(self, argv: list[str], env: dict[str, str]) -> list[str]:
        flags = ["-e", "LC_ALL=C"]
        for name in ("PGPASSWORD", "PGOPTIONS"):
            if self._env(env).get(name):
                flags += ["-e", name]  # a name alone: the docker CLI takes the value from its environment
        return self.project.argv("exec", "-T", *flags, self.service, *argv)

    def _env(self, env: dict[str, str]) -> dict[str, str]:
        child = dict(self.project.env, **env)  # the docker CLI's environment (PATH, DOCKER_HOST...) plus ours
        child.pop("PGPASSFILE", None)  # a host path, meaningless in the container
        if self.password:
            child["PGPASSWORD"] = self.password
        return child

    def describe(self, argv: list[str]) -> list[str]:
        inner, stdin_path, stdout_path = container_command(argv)
        full = self.exec_argv(inner, {"PGPASSWORD": "x"} if self.password else {})
        return full + (["<", stdin_path] if stdin_path else []) + ([">", stdout_path] if stdout_path else [])

    def start(self, argv: list[str], env: dict[str, str]) -> Running:
        inner, stdin_path, stdout_path = container_command(argv)
        out = None
        if stdout_path:
            out = os.fdopen(os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        stdin = open(stdin_path, "rb") if stdin_path else None
        try:
            return spawn(self.exec_argv(inner, env), self._env(env), stdin=stdin, stdout=out,
                         cwd=self.project.project_dir,
                         hint=" Install the docker CLI with its compose plugin on the host.")
        finally:
            if stdin:
                stdin.close()

    def is_executable(self, path: str) -> bool:
        if path not in self._executable:
            done = self.run(["test", "-x", path], {}, timeout=60)
            self._executable[path] = done.rc == 0
        return self._executable[path]

    def candidate_dirs(self) -> list[str]:
        """The container's versioned bin directories, then its PATH's pg_dump directory."""
        script = "ls -d %s 2>/dev/null; command -v pg_dump || true" % " ".join(CLIENT_DIR_GLOBS)
        done = self.run(["sh", "-c", script], {}, timeout=60)
        if done.rc != 0 and not done.stdout.strip():
            raise ClientError("Cannot look for pg_dump inside the %s service: %s"
                              % (self.service, done.stderr.strip()[-500:] or "exit %d" % done.rc))
        dirs: list[str] = []
        for line in done.stdout.splitlines():
            line = line.strip()
            if not line.startswith("/"):
                continue
            directory = os.path.dirname(line) if line.endswith("/pg_dump") else line
            if directory not in dirs:
                dirs.append(directory)
        return dirs

    def fallback_dir(self) -> str | None:
        return None


# -- the client programs -------------------------------------------------------


@dataclass
class Client:
    """pg_dump, pg_restore and psql from one bin directory."""

    bin_dir: str
    version_num: int
    version: str
    executor: Executor
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def major(self) -> int:
        return self.version_num // 10000 if self.version_num >= 100000 else self.version_num // 100

    def program(self, name: str) -> str:
        path = os.path.join(self.bin_dir, name)
        if not self.executor.is_executable(path):
            raise ClientError("%s is not in %s (the directory whose pg_dump was chosen). Install the full "
                              "PostgreSQL client there or set pg_bin_dir." % (name, self.bin_dir))
        return path

    def check_program(self, name: str, env: dict[str, str]) -> str:
        """The version line of another program of this bin dir; it must be at least pg_dump's major."""
        num, text = program_version(self.executor, self.program(name), env)
        if major_key(num) < major_key(self.version_num):
            raise ClientError("%s in %s is %s, older than its pg_dump %s." % (name, self.bin_dir, text, self.version))
        self.versions[name] = text
        return text


def program_version(executor: Executor, path: str, env: dict[str, str]) -> tuple[int, str]:
    result = executor.run([path, "--version"], env, timeout=30)
    if result.rc != 0:
        raise ClientError("%s --version failed (exit %d): %s" % (path, result.rc, result.stderr.strip()[:500]))
    return parse_version(result.stdout)


def candidate_dirs() -> list[str]:
    """Versioned bin directories that may hold a pg_dump."""
    dirs: list[str] = []
    for pattern in CLIENT_DIR_GLOBS:
        dirs.extend(sorted(glob.glob(pattern)))
    return dirs


def path_dir() -> str | None:
    """The directory of the PATH's pg_dump (often a version-picking wrapper): the fallback."""
    on_path = shutil.which("pg_dump")
    return os.path.dirname(on_path) if on_path else None


def choose_client(executor: Executor, server_num: int, env: dict[str, str], pg_bin_dir: str | None = None) -> Client:
    """The client to use: ``pg_bin_dir``'s, or the oldest found whose major is at least the server's.

    The oldest sufficient one writes archives that the most pg_restore versions read.
    """
    server_text = server_version_text(server_num)
    dirs = [pg_bin_dir] if pg_bin_dir else executor.candidate_dirs()
    found: list[tuple[int, str, str]] = []
    problems: list[str] = []
    fallback = None if pg_bin_dir else executor.fallback_dir()
    for directory in dirs + [fallback]:  # in order of preference
        if directory is None or directory == fallback and (
                any(major_key(f[0]) >= major_key(server_num) for f in found)
                or os.path.realpath(directory) in {os.path.realpath(f[2]) for f in found}):
            continue
        path = os.path.join(directory, "pg_dump")
        if not executor.is_executable(path):
            problems.append("no pg_dump in %s" % directory)
            continue
        try:
            num, text = program_version(executor, path, env)
        except ProcessError as exc:
            problems.append(str(exc))
            continue
        found.append((num, text, directory))
    if pg_bin_dir and not found:
        raise ClientError("pg_bin_dir=%s holds no usable pg_dump (%s)." % (pg_bin_dir, "; ".join(problems)))
    usable = [f for f in found if major_key(f[0]) >= major_key(server_num)]
    usable.sort(key=lambda f: major_key(f[0]))  # stable: the preferred directory first within a major version
    if not usable:
        seen = ", ".join("%s (%s)" % (f[1], f[2]) for f in found) or "none"
        raise ClientError(
            "No pg_dump at least as new as the server: the server is PostgreSQL %s and pg_dump must be major "
            "version %s or newer, but found %s. An older pg_dump cannot dump a newer server correctly; install "
            "the PostgreSQL %s client (postgresql-client-%s) or point pg_bin_dir at one."
            % (server_text, major_of(server_num), seen, major_of(server_num), major_of(server_num)),
            {"server_version": server_text, "clients_found": [{"version": f[1], "bin_dir": f[2]} for f in found]})
    num, text, directory = usable[0]
    client = Client(directory, num, text, executor)
    client.versions["pg_dump"] = text
    return client


def select_client(params: dict[str, Any], target: Target, server_num: int, env: dict[str, str]) -> Client:
    """The client per ``runner``: host, compose (in the db service), or auto (host if recent enough, else compose).

    With auto, a host without a client at least as new as the server falls back to the db service's own
    client; when neither qualifies the error names both.
    """
    runner = params.get("runner") or "host"
    if runner not in RUNNERS:
        raise ClientError("runner=%r is not one of %s." % (runner, ", ".join(RUNNERS)))
    service = params.get("db_service") or "db"
    host_error = None
    if runner in ("host", "auto"):
        try:
            return choose_client(HostExecutor(), server_num, env, params.get("pg_bin_dir"))
        except ProcessError as exc:
            if runner == "host" or not params.get("project_dir"):
                raise
            host_error = exc
    try:
        executor = ComposeExecutor(Project.from_params(params, env), service, target.password)
        return choose_client(executor, server_num, env, params.get("pg_bin_dir") if runner == "compose" else None)
    except (ProcessError, ComposeError) as exc:
        if host_error is None:
            raise ClientError("In the %s service: %s" % (service, exc)) from None
        raise ClientError("No usable client on the host or in the %s service. On the host: %s In the service: %s"
                          % (service, host_error, exc), host_error.details) from None


def client_target(client: Client, target: Target, conn: Any) -> Target:
    """The target as the client programs reach it: inside the db service, through the server's own unix
    socket and port (what is published on the host may not exist in the container)."""
    if client.executor.name != "compose":
        return target
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('port'), current_setting('unix_socket_directories')")
        port, sockets = cur.fetchone()
    directory = next((d.strip() for d in sockets.split(",") if d.strip().startswith("/")), "")
    return target.in_service(int(port), directory)


def run_checked(client: Client, argv: list[str], env: dict[str, str], what: str, secret: str = "",
                timeout: float | None = None, tick: Any = None) -> tuple[CommandResult, list[str]]:
    """Run a client program to its end; ProcessError unless it succeeded (see ``_process.check``). ``tick``: see
    ``_process.Running.wait`` (progress)."""
    result = client.executor.run(argv, env, timeout=timeout, tick=tick)
    return result, check(result, what, secret)
