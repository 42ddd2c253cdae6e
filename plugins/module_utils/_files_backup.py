# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File-level backups of a compose application: its configuration and its data volume.

Two kinds, each a tar archive with a manifest beside it, in the same backup directory
and under the same rules as the database dumps (_backup_store.py): written as ``.partial``,
verified, made 0600, renamed, then the manifest; retention counts only verified ones.

- ``config``: named paths (the compose file, ``.env``, ``config/``...). Every file is
  hashed while it is archived, and the archive is read back and each member's hash
  compared, so the archive holds exactly the bytes that were read.
- ``volume``: a named volume of a compose service (``postgres_data`` of ``db``), taken
  consistently: the service (and, first, the services named to stop with it, such as
  ``api``) is stopped, ``tar`` runs in a one-off container of that service with the
  same mounts, and the services are started again at once, whatever happened. The
  downtime is measured from the stop until the service is ready again. Compression
  and verification happen after the restart, so they cost no downtime.

The plan (all that check mode does) resolves the paths, or finds the volume and
measures it, and checks the free space: it stops nothing and writes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import time
from contextlib import nullcontext
from typing import IO, Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import sha256_file
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    PARTIAL_SUFFIX,
    BackupError,
    check_backup_dir,
    new_backup_id,
    private_dir,
    remove_path,
    space_verdict,
    sweep,
    utcnow,
    writing,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import (
    ComposeError,
    Project,
    volume_mount,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import new_manifest, store
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_label

KINDS = ("config", "volume")
_COPY_BLOCK = 1024 * 1024


def resolve_paths(paths: list[str], project_dir: str | None) -> list[str]:
    """Absolute, normalised paths; relative ones are taken from ``project_dir``. All must exist.

    Raises BackupError listing every missing path (nothing is written before this check).
    """
    if not paths:
        raise BackupError("paths is empty: name the configuration files or directories to back up.")
    resolved, missing = [], []
    for path in paths:
        if not os.path.isabs(path):
            if not project_dir:
                raise BackupError("%s is a relative path; give an absolute path or set project_dir." % path)
            path = os.path.join(project_dir, path)
        path = os.path.normpath(path)
        if not os.path.lexists(path):
            missing.append(path)
        elif path not in resolved:
            resolved.append(path)
    if missing:
        raise BackupError("These paths to back up do not exist: %s. Correct paths (nothing was written)."
                          % ", ".join(missing), {"missing_paths": missing})
    return resolved


def arcname(path: str, project_dir: str | None) -> str:
    """The name inside the archive: relative to the project directory when under it, else the path without '/'."""
    if project_dir:
        base = os.path.normpath(project_dir)
        if path == base:
            return "."
        if path.startswith(base.rstrip("/") + "/"):
            return os.path.relpath(path, base)
    return path.lstrip("/")


def walk(paths: list[str]) -> tuple[list[str], list[str]]:
    """Every path to archive (directories before their contents, sorted) and the special files left out."""
    found: list[str] = []
    skipped: list[str] = []
    for top in paths:
        candidates = [top]
        if os.path.isdir(top) and not os.path.islink(top):
            for root, dirs, files in os.walk(top):
                dirs.sort()
                candidates += [os.path.join(root, d) for d in dirs] + [os.path.join(root, f) for f in sorted(files)]
        for path in candidates:
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
                if path not in found:
                    found.append(path)
            else:
                skipped.append(path)
    return found, skipped


class _HashingReader:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def write_config_tar(target: str, paths: list[str], project_dir: str | None, compress: bool) -> dict[str, Any]:
    """Archive ``paths`` into ``target``; returns {arcname: {"sha256", "size"}} of the regular files and counts."""
    files: dict[str, dict[str, Any]] = {}
    entries = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw:
        stream: Any = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if compress else raw
        with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in walk(paths)[0]:
                name = arcname(path, project_dir)
                info = tar.gettarinfo(path, arcname=name)
                if info.isreg():
                    with open(path, "rb") as handle:
                        reader = _HashingReader(handle)
                        tar.addfile(info, reader)
                    files[name] = {"sha256": reader.digest.hexdigest(), "size": info.size}
                else:
                    tar.addfile(info)
                entries += 1
        if compress:
            stream.close()
        raw.flush()
        os.fsync(raw.fileno())
    return {"files": files, "entries": entries}


def read_back(path: str, expected: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Read every member of a tar archive (gzip or not); with ``expected``, each regular file's sha256 must match.

    A truncated or corrupted archive raises BackupError.
    """
    seen: dict[str, str] = {}
    entries = 0
    total = 0
    pg_version = None
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                entries += 1
                if not member.isreg():
                    continue
                handle = tar.extractfile(member)
                if handle is None:  # pragma: no cover - regular members always have data
                    continue
                digest = hashlib.sha256()
                first = b""
                while True:
                    block = handle.read(_COPY_BLOCK)
                    if not block:
                        break
                    first = first or block[:64]
                    digest.update(block)
                total += member.size
                seen[member.name] = digest.hexdigest()
                if member.name in ("PG_VERSION", "./PG_VERSION"):
                    pg_version = first.decode("ascii", "replace").strip()
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise BackupError("The archive %s cannot be read back: %s. It was not recorded as a backup."
                          % (path, first_line(exc))) from None
    if expected is not None:
        wrong = sorted(name for name, facts in expected.items() if seen.get(name) != facts["sha256"])
        if wrong:
            raise BackupError("The archive %s does not hold the bytes that were read for: %s. It was not recorded "
                              "as a backup." % (path, ", ".join(wrong[:10])))
    return {"entries": entries, "bytes": total, "pg_version": pg_version, "files": seen}


def compress_file(source: str, target: str) -> None:
    """gzip level 1 of ``source`` into ``target`` (0600, fsynced)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as out:
            shutil.copyfileobj(src, out, _COPY_BLOCK)
        raw.flush()
        os.fsync(raw.fileno())


class FilesBackup(Job):
    """One config or volume backup: ``plan`` measures it and checks the space (stopping nothing), ``apply`` takes it."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = params
        self.label = params.get("label") or "knowledgehub"
        self.kind = "volume" if params.get("volume") else "config"
        self.compress = params.get("compression", "gzip") == "gzip"
        self.backup_dir = os.path.abspath(params["backup_dir"])
        self.result: dict[str, Any] = {"changed": False, "kind": self.kind, "warnings": []}
        self.s: dict[str, Any] = {}  # what the plan found: paths, or the project, its service and the volume

    # -- shared steps --------------------------------------------------------------

    def _names(self) -> tuple[str, str, str]:
        now = utcnow()
        backup_id = new_backup_id(self.backup_dir, "%s-%s" % (self.label, self.kind), now)
        final = os.path.join(self.backup_dir, backup_id + (".tar.gz" if self.compress else ".tar"))
        return backup_id, final, final + PARTIAL_SUFFIX

    def _space(self, estimated: int) -> None:
        verdict = space_verdict(self.backup_dir, estimated)
        self.result["free_space"] = verdict
        if self.p.get("check_free_space", True) and not verdict["ok"]:
            raise BackupError("Not enough free space for the %s backup: %s. Free space or choose another backup_dir; "
                              "nothing was written." % (self.kind, verdict["summary"]), {"free_space": verdict})

    def _record(self, backup_id: str, final: str, created: str, facts: dict[str, Any]) -> None:
        sha256, size = sha256_file(final)
        manifest = new_manifest(backup_id, self.label, self.kind, "tar.gz" if self.compress else "tar", created,
                                self.p, archive={"name": os.path.basename(final), "type": "file", "sha256": sha256,
                                                 "size_bytes": size}, **facts)
        path, removed = store(self.backup_dir, manifest, self.p.get("keep_last") or 0, warnings=self.result["warnings"])
        self.result.update(changed=True, backup_id=backup_id, path=final, manifest=path, sha256=sha256,
                           size_bytes=size, removed=removed)

    def plan(self) -> dict[str, Any]:
        check_label(self.label)
        check_backup_dir(self.backup_dir)
        if self.kind == "config":
            self._plan_config()
        else:
            self._plan_volume()
        return dict(self.result)

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        private_dir(self.backup_dir, self.result)
        sweep(self.backup_dir, self.result)
        created = utcnow().isoformat()
        if self.kind == "config":
            self._config(created)
        else:
            self._volume(created)
        return self.result

    # -- configuration ---------------------------------------------------------------

    def _plan_config(self) -> None:
        paths = resolve_paths(self.p.get("paths") or [], self.p.get("project_dir"))
        found, skipped = walk(paths)
        size = sum(os.lstat(p).st_size for p in found if os.path.isfile(p) and not os.path.islink(p))
        self.result.update(paths=paths, entries=len(found), skipped_special_files=skipped)
        if skipped:
            self.result["warnings"].append("Left out %d special files (sockets, devices, fifos): %s"
                                           % (len(skipped), ", ".join(skipped[:5])))
        self._space(size + 1024 * len(found))
        self.s["paths"] = paths

    def _config(self, created: str) -> None:
        project_dir, paths = self.p.get("project_dir"), self.s["paths"]
        backup_id, final, partial = self._names()
        with writing(partial):
            try:
                written = write_config_tar(partial, paths, project_dir, self.compress)
                check = read_back(partial, written["files"])
                os.replace(partial, final)
            except BaseException:
                remove_path(partial)
                raise
        self._record(backup_id, final, created, {
            "paths": paths, "project_dir": project_dir,
            "entries": written["entries"],
            "files": written["files"],
            "verification": {"read_back_entries": check["entries"], "files_compared": len(written["files"])},
        })
        self.result["files"] = len(written["files"])

    # -- the data volume --------------------------------------------------------------

    def _plan_volume(self) -> None:
        if not self.p.get("project_dir"):
            raise BackupError("A volume backup needs project_dir: the directory of the application's compose file.")
        project = Project.from_params(self.p)
        service = self.p.get("db_service") or "db"
        mount = volume_mount(project.config(), service, self.p["volume"])
        others = [s for s in (self.p.get("stop_services") or []) if s != service]
        before = {name: project.state(name) for name in others + [service]}
        running = [name for name in others + [service] if before[name]["state"] == "running"]
        used = self._volume_bytes(project, service, mount["target"], before[service]["state"] == "running")
        self.result.update(volume=mount, would_stop=running, volume_bytes=used)
        self._space(used * (2 if self.compress else 1))
        self.s.update(project=project, service=service, mount=mount, others=others, running=running)

    def _volume(self, created: str) -> None:
        project, service, mount, running = self.s["project"], self.s["service"], self.s["mount"], self.s["running"]
        backup_id, final, partial = self._names()
        # the tar before gzip: <backup_id>.tar.partial, a partial archive of its own (its own writing lock)
        raw = final[:-len(".gz")] + PARTIAL_SUFFIX if self.compress else partial
        with writing(partial), writing(raw) if raw != partial else nullcontext():
            try:
                timing = self._archive_stopped(project, service, self.s["others"], running, mount["target"], raw)
                if self.compress:
                    compress_file(raw, partial)
                    os.unlink(raw)
                check = read_back(partial)
                if check["entries"] == 0:
                    raise BackupError("The archive of volume %s is empty; it was not recorded as a backup."
                                      % mount["name"])
                os.replace(partial, final)
            except BaseException:
                for path in (raw, partial):
                    remove_path(path)
                raise
        self._record(backup_id, final, created, {
            "project_dir": self.p["project_dir"], "service": service, "volume": mount,
            "stopped_services": running, "durations_ms": timing,
            "entries": check["entries"], "content_bytes": check["bytes"], "pg_version": check["pg_version"],
            "verification": {"read_back_entries": check["entries"]},
        })
        self.result.update(stopped_services=running, entries=check["entries"], pg_version=check["pg_version"],
                           downtime_ms=timing["downtime"], durations_ms=timing)

    def _volume_bytes(self, project: Project, service: str, target: str, up: bool) -> int:
        """Bytes used in the volume (du inside the service's container, or a one-off one when it is stopped)."""
        args = ["exec", "-T", service, "du", "-sb", target] if up else \
            ["run", "--rm", "--no-deps", "-T", "--entrypoint", "du", service, "-sb", target]
        done = project.run(*args, timeout=600, check=False)
        try:
            return int(done.stdout.split()[0])
        except (IndexError, ValueError):
            raise BackupError("Cannot measure the volume at %s in service %s: %s" % (
                target, service, (done.stderr or done.stdout).strip()[-500:])) from None

    def _archive_stopped(self, project: Project, service: str, others: list[str], running: list[str],
                         target: str, raw: str) -> dict[str, int]:
        """Stop, tar, start: the services are started again whatever happens in between."""
        timeout = int(self.p.get("stop_timeout") or 30)
        started = time.monotonic()
        timing: dict[str, int] = {}
        error: BaseException | None = None
        try:
            project.stop_first(service, others, running, timeout)
            timing["stop"] = int((time.monotonic() - started) * 1000)
            state = project.state(service)
            if state["state"] == "running":
                raise BackupError("Service %s is still running after `docker compose stop`; the volume was not "
                                  "archived." % service)
            tar_started = time.monotonic()
            out = os.fdopen(os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
            done = project.run("run", "--rm", "--no-deps", "-T", "--entrypoint", "tar", service,
                               "--numeric-owner", "--exclude=./.kh-*", "-C", target, "-cf", "-", ".",
                               timeout=int(self.p.get("archive_timeout") or 3600), stdout=out, check=False)
            timing["archive"] = int((time.monotonic() - tar_started) * 1000)
            if done.rc != 0:
                raise BackupError("tar of the volume at %s in service %s failed (exit %d): %s. No backup was "
                                  "recorded." % (target, service, done.rc, done.stderr.strip()[-1000:]),
                                  {"cmd": done.argv})
        except BaseException as exc:
            error = exc
        finally:
            restart_started = time.monotonic()
            try:
                marks = project.start_again(service, others, running, int(self.p.get("ready_timeout") or 120))
                # not running before: nothing was taken away
                timing["downtime"] = int((marks["service"] - started) * 1000) if service in running else 0
                timing["start"] = int((marks["all"] - restart_started) * 1000)
                timing["application_downtime"] = int((marks["all"] - started) * 1000)
            except ComposeError as exc:
                raise BackupError("%s The services stopped for the volume backup (%s) did not all come back: start "
                                  "them now with `%s`.%s" % (
                                      exc, ", ".join(running), " ".join(project.argv("start", *running)),
                                      " The backup itself had failed first: %s" % error if error else ""),
                                  exc.details) from None
        if error is not None:
            raise error
        return timing
