# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds and runs pg_dump, pg_restore and psql command lines.

Rules kept here, so no caller can break them:

* Commands are argument lists run without a shell, each program writing to a
  file it names itself (``--file``): no pipe, no compressor after pg_dump, so
  its exit code and stderr are always the ones checked.
* The password never appears in an argument. It is written to a libpq passfile
  (mode 0600 in a private 0700 temporary directory, removed afterwards) named by
  PGPASSFILE in the child's environment. With no password given, libpq's own
  lookup (PGPASSWORD, PGPASSFILE, ~/.pgpass) applies, as for psycopg2.
* The client programs come from one bin directory whose pg_dump major version is
  at least the server's (an older pg_dump cannot dump a newer server correctly).

Where the programs run is an ``Executor``. ``HostExecutor`` runs them on the
managed host. ``ComposeExecutor`` runs them inside the compose ``db`` service
(``docker compose exec -T db ...``), for hosts whose only client recent enough is
the server's own: there the programs cannot see the host's files, so a host file
they would write (``--file``) becomes their stdout and the archive they would read
becomes their stdin, both opened by this module on the host; the password goes
with ``-e PGPASSWORD``, whose value the docker CLI takes from its own environment,
never from an argument.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

# Where distributions install versioned PostgreSQL client programs.
CLIENT_DIR_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")

FORMATS = ("custom", "directory", "plain")
SCOPES = ("full", "schema-only", "data-only")

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_COMPRESSION = re.compile(r"^(?:(gzip|lz4|zstd|none)(?::(\d+))?|(\d))$")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_SETTING_VALUE = re.compile(r"^[A-Za-z0-9_.:+-]+$")
# pg_restore --list: "215; 1259 16390 TABLE public chunks knowledgehub"
_TOC_LINE = re.compile(r"^(\d+);\s+(\d+)\s+(\d+)\s+(.*)$")


class ClientError(Exception):
    """A PostgreSQL client program is missing, too old, or failed."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


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


def server_version_text(num: int) -> str:
    if num >= 100000:
        return "%d.%d" % (num // 10000, num % 10000)
    return "%d.%d.%d" % (num // 10000, (num // 100) % 100, num % 100)


# -- executors -----------------------------------------------------------------


@dataclass
class CommandResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout[-4000:], "stderr": self.stderr[-4000:],
                "seconds": round(self.seconds, 3)}


class Running:
    """A started command; stdout and stderr go to private temporary files, not pipes."""

    def __init__(self, argv: list[str], proc: subprocess.Popen, out: Any, err: Any, started: float,
                 capture_out: bool = True) -> None:
        self.argv = argv
        self.proc = proc
        self._out = out
        self._err = err
        self._started = started
        self._capture_out = capture_out  # False: stdout is the archive itself, never read back into memory

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> CommandResult:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ClientError("%s did not finish within %s seconds and was stopped."
                              % (os.path.basename(self.argv[0]), timeout)) from None
        return self._result(rc)

    def stop(self) -> None:
        """End the command (our own child, by its pid) and collect it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._result(self.proc.returncode)

    def _result(self, rc: int) -> CommandResult:
        outputs = []
        for handle in (self._out, self._err):
            if handle.closed:
                outputs.append("")
                continue
            if handle is self._out and not self._capture_out:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                outputs.append("")
                continue
            handle.seek(0)
            outputs.append(handle.read().decode("utf-8", "replace"))
            handle.close()
        return CommandResult(self.argv, rc, outputs[0], outputs[1], time.monotonic() - self._started)


class Executor:
    """Where the client programs run: HostExecutor or ComposeExecutor."""

    name = "abstract"

    def start(self, argv: list[str], env: dict[str, str]) -> Running:
        raise NotImplementedError

    def run(self, argv: list[str], env: dict[str, str], timeout: float | None = None) -> CommandResult:
        return self.start(argv, env).wait(timeout)

    def describe(self, argv: list[str]) -> list[str]:
        """The command line as it really runs, for results and manifests."""
        return list(argv)

    def is_executable(self, path: str) -> bool:
        raise NotImplementedError


def spawn(argv: list[str], env: dict[str, str], stdin: Any = None, stdout: Any = None, cwd: str | None = None,
          umask: int = 0o077, hint: str = "") -> Running:
    """Start ``argv`` without a shell. stdin is closed unless a file is given. stdout goes to ``stdout`` (a binary
    file, then flushed, fsynced and closed when the command is collected, never read back) or to a private
    temporary file that is returned as text; stderr always to one. ClientError (ending with ``hint``) when the
    program cannot be started."""
    err = tempfile.TemporaryFile()
    out = stdout if stdout is not None else tempfile.TemporaryFile()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=out,
                                stderr=err, env=env, cwd=cwd, close_fds=True, umask=umask)
    except OSError as exc:
        out.close()
        err.close()
        raise ClientError("Cannot run %s: %s.%s" % (argv[0], exc.strerror or exc, hint)) from None
    return Running(argv, proc, out, err, started, capture_out=stdout is None)


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

    def __init__(self, project: Any, service: str, password: str = "") -> None:
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
        except ClientError as exc:
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


RUNNERS = ("auto", "host", "compose")


def select_client(params: dict[str, Any], server_num: int, creds: "Credentials") -> Client:
    """The client per ``runner``: host, compose (in the db service), or auto (host if recent enough, else compose).

    With auto, a host without a client at least as new as the server falls back to the db service's own
    client; when neither qualifies the error names both.
    """
    runner = params.get("runner") or "host"
    if runner not in RUNNERS:
        raise ClientError("runner=%r is not one of %s." % (runner, ", ".join(RUNNERS)))
    if runner in ("host", "auto"):
        try:
            return choose_client(HostExecutor(), server_num, creds.env, params.get("pg_bin_dir"))
        except ClientError as exc:
            if runner == "host" or not params.get("project_dir"):
                raise
            host_error = exc
    else:
        host_error = None
    from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import ComposeError, Project
    try:
        project = Project(params["project_dir"] or "", params.get("compose_command"), params.get("compose_files"),
                          params.get("project_name"), env=creds.env)
        executor = ComposeExecutor(project, params.get("db_service") or "db", creds.password)
        return choose_client(executor, server_num, creds.env, params.get("pg_bin_dir") if runner == "compose"
                             else None)
    except (ClientError, ComposeError) as exc:
        if host_error is None:
            raise ClientError("In the %s service: %s" % (params.get("db_service") or "db", exc)) from None
        raise ClientError("No usable client on the host or in the %s service. On the host: %s In the service: %s"
                          % (params.get("db_service") or "db", host_error, exc), host_error.details) from None


def client_params(params: dict[str, Any], client: Client, conn: Any) -> dict[str, Any]:
    """Connection options for the client programs: inside the db service they reach the server through its own
    unix socket and port (what is published on the host may not exist in the container)."""
    if client.executor.name != "compose":
        return params
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('port'), current_setting('unix_socket_directories')")
        port, sockets = cur.fetchone()
    local = dict(params, login_port=int(port), login_unix_socket=None, ca_cert=None, ssl_cert=None, ssl_key=None)
    directory = next((d.strip() for d in sockets.split(",") if d.strip().startswith("/")), "")
    local["login_host"] = directory or "127.0.0.1"
    return local


# -- connection and password ---------------------------------------------------


def _conninfo_value(value: Any) -> str:
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(params: dict[str, Any], dbname: str | None = None, application: str = "") -> str:
    """A libpq connection string for ``--dbname``, built from the module's options, without any password."""
    parts = {"dbname": dbname or params["login_db"], "user": params["login_user"], "port": params["login_port"],
             "sslmode": params.get("ssl_mode") or "prefer", "connect_timeout": params.get("connect_timeout") or 10}
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        parts["host"] = host
    for option, keyword in (("ca_cert", "sslrootcert"), ("ssl_cert", "sslcert"), ("ssl_key", "sslkey")):
        if params.get(option):
            parts[keyword] = params[option]
    if application:
        parts["application_name"] = application
    for key, value in (params.get("connect_params") or {}).items():
        if key.lower() != "password":
            parts[key] = value
    return " ".join("%s=%s" % (key, _conninfo_value(value)) for key, value in parts.items())


def password_of(params: dict[str, Any]) -> str:
    return params.get("login_password") or (params.get("connect_params") or {}).get("password") or ""


def _passfile_escape(password: str) -> str:
    return password.replace("\\", "\\\\").replace(":", "\\:")


class Credentials:
    """The child environment for a set of commands; holds the temporary passfile.

    Use as a context manager: the passfile and its directory are removed on exit.
    """

    def __init__(self, params: dict[str, Any], settings: dict[str, str] | None = None) -> None:
        self.password = password_of(params)
        self.settings = settings or {}
        self.tmpdir: str | None = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> "Credentials":
        env = dict(os.environ)
        env["LC_ALL"] = "C"  # messages in English, so errors read the same everywhere
        env.pop("PGOPTIONS", None)
        if self.password:
            self.tmpdir = tempfile.mkdtemp(prefix="kh-pgpass-")  # mode 0700
            path = os.path.join(self.tmpdir, "pgpass")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("*:*:*:*:%s\n" % _passfile_escape(self.password))
            env["PGPASSFILE"] = path
            env.pop("PGPASSWORD", None)  # it would take precedence over the passfile
        if self.settings:
            env["PGOPTIONS"] = pgoptions(self.settings)
        self.env = env
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def scrub(self, text: str) -> str:
        """``text`` with the password masked (libpq does not echo it; this is a second guard)."""
        if self.password and text:
            return text.replace(self.password, "********")
        return text


def pgoptions(settings: dict[str, str]) -> str:
    """PGOPTIONS for session settings, each validated (PGOPTIONS splits on spaces)."""
    parts = []
    for name, value in settings.items():
        value = str(value)
        if not _SETTING_NAME.match(name) or not _SETTING_VALUE.match(value):
            raise ClientError("Session setting %s=%r is not a plain PostgreSQL setting name and value "
                              "(letters, digits, _ . : + - only)." % (name, value))
        parts.append("-c %s=%s" % (name, value))
    return " ".join(parts)


# -- argument lists --------------------------------------------------------------


def compression_args(client: Client, fmt: str, compression: str) -> tuple[list[str], str]:
    """pg_dump's compression arguments and their canonical name ('gzip:1', 'lz4', 'none').

    ``auto``: nothing for plain; gzip level 1 for custom/directory with pg_dump 15
    (CPU-cheap: -Z1 costs a fraction of the default level 6), lz4 with pg_dump 16 or newer.
    """
    compression = (compression or "auto").strip().lower()
    if fmt == "plain":
        if compression not in ("auto", "none", "0", "gzip:0"):
            raise ClientError("format=plain is written uncompressed so that psql can restore it directly (and no "
                              "compressor sits after pg_dump); use format custom or directory to compress.")
        return [], "none"
    if compression == "auto":
        compression = "lz4" if client.major >= 16 else "gzip:1"
    match = _COMPRESSION.match(compression)
    if not match:
        raise ClientError("compression=%r is not one of auto, none, 0-9 (gzip level), gzip[:1-9], lz4[:level], "
                          "zstd[:level]." % compression)
    method, level, bare = match.group(1), match.group(2), match.group(3)
    if bare is not None:
        method, level = ("none", None) if bare == "0" else ("gzip", bare)
    if method == "gzip" and level == "0":
        method, level = "none", None
    if method == "gzip" and level is None:
        level = "1"
    name = method if level is None or method == "none" else "%s:%s" % (method, level)
    if client.major >= 16:
        return ["--compress=%s" % name], name
    if method in ("lz4", "zstd"):
        raise ClientError("compression=%s needs pg_dump 16 or newer; the chosen pg_dump is %s (%s). Use gzip:1 "
                          "or none." % (method, client.version, client.bin_dir))
    return ["--compress=%s" % ("0" if method == "none" else level)], name


def table_pattern(schema: str, name: str) -> str:
    """An exact pg_dump --table pattern: inside double quotes nothing is a wildcard."""
    return '"%s"."%s"' % (schema.replace('"', '""'), name.replace('"', '""'))


def dump_argv(client: Client, dsn: str, path: str, fmt: str, scope: str, tables: list[tuple[str, str]],
              compression: list[str], jobs: int = 1, snapshot: str | None = None,
              lock_wait_timeout: str | None = None) -> list[str]:
    argv = [client.program("pg_dump"), "--dbname=%s" % dsn, "--no-password", "--format=%s" % fmt, "--file=%s" % path]
    argv += compression
    if fmt == "directory" and jobs > 1:
        argv.append("--jobs=%d" % jobs)
    if scope == "schema-only":
        argv.append("--schema-only")
    elif scope == "data-only":
        argv.append("--data-only")
    if tables:
        argv.append("--strict-names")
        argv += ["--table=%s" % table_pattern(s, n) for s, n in tables]
    if snapshot:
        argv.append("--snapshot=%s" % snapshot)
    if lock_wait_timeout:
        argv.append("--lock-wait-timeout=%s" % lock_wait_timeout)
    return argv


def list_argv(client: Client, archive: str) -> list[str]:
    return [client.program("pg_restore"), "--list", archive]


def read_all_argv(client: Client, archive: str) -> list[str]:
    """pg_restore reading every entry, data included, into nothing: proves each block decompresses."""
    return [client.program("pg_restore"), "--file=%s" % os.devnull, archive]


def restore_argv(client: Client, dsn: str, archive: str, jobs: int = 1, clean: bool = False,
                 single_transaction: bool = False, no_owner: bool = False) -> list[str]:
    argv = [client.program("pg_restore"), "--dbname=%s" % dsn, "--no-password", "--exit-on-error"]
    if clean:
        argv += ["--clean", "--if-exists"]
    if single_transaction:
        argv.append("--single-transaction")
    elif jobs > 1:
        argv.append("--jobs=%d" % jobs)
    if no_owner:
        argv.append("--no-owner")
    argv.append(archive)
    return argv


def script_argv(client: Client, archive: str, list_file: str, out: str) -> list[str]:
    """pg_restore writing the SQL of the entries in ``list_file`` (in that order) to ``out``."""
    return [client.program("pg_restore"), "--use-list=%s" % list_file, "--file=%s" % out, archive]


def psql_argv(client: Client, dsn: str, files: list[str]) -> list[str]:
    """psql running ``files`` in one transaction, stopping at the first error."""
    argv = [client.program("psql"), "--no-psqlrc", "--dbname=%s" % dsn, "--no-password", "--set=ON_ERROR_STOP=1",
            "--single-transaction", "--quiet", "--output=%s" % os.devnull]
    argv += ["--file=%s" % f for f in files]
    return argv


# -- running and checking ---------------------------------------------------------

_ERROR_LINE = re.compile(r"(^|:\s)(error|fatal|panic):", re.IGNORECASE | re.MULTILINE)


def check(result: CommandResult, what: str, creds: Credentials | None = None) -> list[str]:
    """Raise ClientError unless ``result`` succeeded; return its stderr lines (warnings) otherwise.

    Success needs exit code 0 and no error line on stderr.
    """
    stderr = creds.scrub(result.stderr) if creds else result.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    if result.rc != 0 or _ERROR_LINE.search(stderr):
        shown = "\n".join(lines[-15:]) or "(no message)"
        raise ClientError("%s failed (exit code %d): %s" % (what, result.rc, shown),
                          {"cmd": result.argv, "rc": result.rc, "stderr": "\n".join(lines[-50:])})
    return lines


def run_checked(client: Client, argv: list[str], creds: Credentials, what: str,
                timeout: float | None = None) -> tuple[CommandResult, list[str]]:
    result = client.executor.run(argv, creds.env, timeout=timeout)
    return result, check(result, what, creds)


# -- archive table of contents ------------------------------------------------------


@dataclass
class TocEntry:
    dump_id: int
    line: str
    rest: str

    def is_(self, desc: str, schema: str, name: str) -> bool:
        prefix = "%s %s %s" % (desc, schema, name)
        return self.rest == prefix or self.rest.startswith(prefix + " ")


def parse_toc(text: str) -> list[TocEntry]:
    entries = []
    for line in text.splitlines():
        match = _TOC_LINE.match(line)
        if match:
            entries.append(TocEntry(int(match.group(1)), line, match.group(4)))
    return entries


def toc_has(entries: list[TocEntry], desc: str, schema: str, name: str) -> TocEntry | None:
    for entry in entries:
        if entry.is_(desc, schema, name):
            return entry
    return None


def iter_files(path: str) -> Iterator[str]:
    """The archive's files: itself, or a directory archive's files by name."""
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            yield os.path.join(path, name)
    else:
        yield path
