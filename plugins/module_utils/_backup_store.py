# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup directory: backup ids, private files, free space, recovery points (manifests: ``_manifests``).

Every kind of backup (a dump, a clone, a configuration or volume archive) lives in
one directory (0700, never a symbolic link; one that is wider is tightened, and that
is said) as its archive (0600) and a JSON manifest beside it
(``<backup_id>.manifest.json``). An archive is written as ``<name>.partial`` and
renamed once verified; only then is its manifest written, atomically. While it is
written, its process holds ``.writing-<name>.partial`` locked (``writing``): the next
backup removes the partial archives of processes gone (``sweep_partials``). So a backup
is a manifest saying ``verified: true``: retention and restores count nothing else,
and a backup used up by a restore (``consumed_at``) no longer counts either.

A verified backup of a migration run is also recorded as a recovery point of that
run, in the table beside the ledger (``record_recovery_point``): after the
manifest, never before, never for a failed backup.
"""

from __future__ import annotations

import datetime
import fcntl
import getpass
import json
import os
import re
import shutil
import socket
import stat
from contextlib import contextmanager
from typing import Any, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import LedgerError
from ansible_collections.knowledgehub.migration.plugins.module_utils._recovery_points import (
    RecoveryPoints,
    recovery_point_row,
    recovery_point_table,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import is_uuid
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import ConnectionFailure, Target, psycopg2

PARTIAL_SUFFIX = ".partial"
FAILED_SUFFIX = ".failed"
# Dump size per byte of table data (heap + TOAST), measured on KnowledgeHub data
# (bench/README.md): real[] embeddings grow ~2.5x as text, prose shrinks a little.
# Rounded up: the estimate errs on the side of asking for more room.
SIZE_FACTORS = {"none": 1.8, "gzip": 0.8, "lz4": 1.0, "zstd": 0.7}
SCHEMA_BYTES = 1024 * 1024
RESERVE_FRACTION = 0.10
RESERVE_MIN = 16 * 1024 * 1024


class BackupError(Failure):
    """A backup (or a restore's check of one) failed; nothing that fails on the way counts as a backup."""


# -- small helpers -----------------------------------------------------------------


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def human(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(num) < 1024 or unit == "TiB":
            return "%.1f %s" % (num, unit) if unit != "B" else "%d B" % num
        num /= 1024.0
    return "%d B" % num  # pragma: no cover


def who() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname()}


# -- size and space -----------------------------------------------------------------


def estimate_size(data_bytes: int, n_tables: int, scope: str, compression: str) -> int:
    """Expected archive size from the size of the table data in scope and the compression method."""
    schema = SCHEMA_BYTES + 4096 * n_tables
    if scope == "schema-only":
        return schema
    method = compression.split(":")[0] if compression else "none"
    return int(data_bytes * SIZE_FACTORS.get(method, SIZE_FACTORS["none"])) + schema


def existing_parent(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def df_available(line: str) -> int | None:
    """The available bytes of a data line of ``df -P -k`` (Filesystem, 1024-blocks, Used, Available, ...), else
    None (the header, or any other line)."""
    fields = line.split()
    return int(fields[3]) * 1024 if len(fields) >= 6 and fields[3].isdigit() else None


def space_verdict(path: str, estimated: int, free: int | None = None, keep_free: int = 0) -> dict[str, Any]:
    """Free space where ``path`` is (or would be created) against what the backup needs: the estimate plus the
    larger of the reserve and ``keep_free`` (what must stay free after it). ``free``, when given, is the free space
    measured there by other means (inside a container, where ``path`` is)."""
    where = existing_parent(path) if free is None else path
    if free is None:
        stat = os.statvfs(where)
        free = stat.f_bavail * stat.f_frsize
    reserve = max(int(estimated * RESERVE_FRACTION), RESERVE_MIN)
    required = estimated + max(reserve, keep_free)
    margin = "reserve" if reserve >= keep_free else "%s kept free" % human(keep_free)
    return {"filesystem_path": where, "free_bytes": free, "estimated_bytes": estimated,
            "required_free_bytes": required, "ok": free >= required,
            "summary": "needs %s (estimate %s + %s), %s free on %s"
                       % (human(required), human(estimated), margin, human(free), where)}


# -- files ----------------------------------------------------------------------------


def write_json_atomic(path: str, data: dict[str, Any], compact: bool = False) -> int:
    """Write ``data`` as JSON to ``path``: a private temporary file beside it (mode 0600, never through a link),
    fsynced, renamed into place, the directory fsynced; returns the file's size. ``compact``: no indentation."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, ".%s.tmp" % os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # json.dumps, not json.dump: one call of the C encoder instead of the Python one chunk by chunk (half the
            # time for a snapshot of 330,000 row digests)
            if compact:
                handle.write(json.dumps(data, separators=(",", ":"), sort_keys=True, default=str))
            else:
                handle.write(json.dumps(data, indent=2, sort_keys=True, default=str))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
    return os.path.getsize(path)


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ``.writing-<archive>.partial``: held locked (flock) by the process writing that archive, for as long as it writes.
WRITING_PREFIX = ".writing-"


@contextmanager
def writing(partial: str) -> Iterator[None]:
    """Hold a lock beside the archive ``partial`` while it is written. The kernel drops the lock when the process
    ends, killed with -9 too, so ``sweep_partials`` tells an archive nobody writes any more from one still written."""
    lock = os.path.join(os.path.dirname(partial), WRITING_PREFIX + os.path.basename(partial))
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            os.unlink(lock)
        finally:
            os.close(fd)


def sweep_partials(backup_dir: str) -> list[str]:
    """Remove what a backup killed while it wrote left in ``backup_dir``: each ``*.partial`` archive (file or
    directory) whose writer no longer holds its lock (``writing``), and such locks. An archive still being written
    (by another run) is left alone. Returns the paths removed."""
    removed = []
    for entry in sorted(os.scandir(backup_dir), key=lambda e: e.name):
        name = entry.name
        if name.startswith(WRITING_PREFIX) and name.endswith(PARTIAL_SUFFIX):
            partial, lock = os.path.join(backup_dir, name[len(WRITING_PREFIX):]), entry.path
        elif name.endswith(PARTIAL_SUFFIX) and not name.startswith("."):
            partial, lock = entry.path, os.path.join(backup_dir, WRITING_PREFIX + name)
            if os.path.lexists(lock):
                continue  # judged with its lock, above or below
        else:
            continue
        try:
            fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            fd = None  # a partial without a lock: its writer finished meanwhile (then it is gone) or is long dead
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # still being written
            for path in (partial, lock):
                if os.path.lexists(path) and (path != lock or fd is not None):
                    remove_path(path)
                    removed.append(path)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def sweep(backup_dir: str, result: dict[str, Any]) -> None:
    """``sweep_partials``, said in ``result`` (``swept`` and a warning) when it removed anything."""
    swept = sweep_partials(backup_dir)
    if swept:
        result["swept"] = swept
        result.setdefault("warnings", []).append(
            "Removed what a backup killed while it wrote left in %s: %s." % (backup_dir, ", ".join(
                os.path.basename(p) for p in swept)))


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def check_backup_dir(path: str) -> str:
    """``backup_dir`` made absolute, refused when it is a symbolic link (its last component) or not a directory:
    a backup is never written through a link, and a link's target's mode is never changed."""
    path = os.path.abspath(path)
    if os.path.islink(path):
        raise BackupError("backup_dir %s is a symbolic link (to %s): backups are never written through a link, "
                          "nor is its target's mode changed: give the real path (backup_dir: %s). Nothing was "
                          "changed." % (path, os.readlink(path), os.path.realpath(path)))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise BackupError("backup_dir %s is not a directory: give a directory (it is created, mode 0700, when "
                          "missing). Nothing was changed." % path)
    return path


def ensure_private_dir(path: str) -> dict[str, str] | None:
    """Create ``path`` (and parents) mode 0700, or tighten an existing one whose mode is wider than 0700.

    Returns {"path", "old", "new"} when an existing directory's mode was changed (the caller says so), else None.
    A link is refused (``check_backup_dir``), and the mode is changed through a descriptor opened without
    following links, so a link put in its place meanwhile is never followed either.
    """
    path = check_backup_dir(path)
    try:
        os.makedirs(path, mode=0o700)
        return None
    except FileExistsError:
        pass
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        old = stat.S_IMODE(os.fstat(fd).st_mode)
        if not old & 0o077:
            return None
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return {"path": path, "old": "%04o" % old, "new": "0700"}


def private_dir(path: str, result: dict[str, Any]) -> None:
    """``ensure_private_dir``; a mode that was tightened is said in ``result`` (``backup_dir_mode`` and a warning)."""
    change = ensure_private_dir(path)
    if change:
        result["backup_dir_mode"] = change
        result.setdefault("warnings", []).append(
            "backup_dir %(path)s had mode %(old)s, wider than 0700: it is now %(new)s (backups hold the database's "
            "data; only their owner may read them)." % change)


def make_private(path: str) -> None:
    """Files 0600, directories 0700, throughout an archive."""
    if os.path.isdir(path):
        os.chmod(path, 0o700)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
            for name in files:
                os.chmod(os.path.join(root, name), 0o600)
    else:
        os.chmod(path, 0o600)


def new_backup_id(backup_dir: str, label: str, now: datetime.datetime) -> str:
    """``<label>_<UTC second>``, or with ``_<n>`` after the highest number of that second still in the directory: a
    gap left by retention within the same second is never filled, so an id once recorded is not handed out again."""
    base = "%s_%s" % (label, now.strftime("%Y%m%dT%H%M%SZ"))
    numbers = _numbers_taken(backup_dir, base)
    return base if not numbers else "%s_%d" % (base, max(numbers) + 1)


def _numbers_taken(backup_dir: str, base: str) -> list[int]:
    """The numbers of the ids of ``base``'s second present in ``backup_dir`` (the base itself is 1)."""
    if not os.path.isdir(backup_dir):
        return []
    numbers = []
    pattern = re.compile(r"^%s(?:_(\d+))?\." % re.escape(base))
    for name in os.listdir(backup_dir):
        match = pattern.match(name)
        if match:
            numbers.append(int(match.group(1) or 1))
    return numbers


# -- recovery points -------------------------------------------------------------------------


def wants_recovery_point(params: dict[str, Any]) -> bool:
    """record_recovery_point, which defaults to "when run_id is set"."""
    flag = params.get("record_recovery_point")
    return bool(params.get("run_id")) if flag is None else bool(flag)


def check_recovery_point_options(params: dict[str, Any]) -> None:
    """Before anything is written: a recovery point needs a run id that the ledger can hold (a UUID)."""
    if not wants_recovery_point(params):
        return
    run_id = params.get("run_id")
    if not run_id:
        raise BackupError("record_recovery_point=true needs run_id: a recovery point is recorded against a "
                          "migration run. Nothing was written.")
    if not is_uuid(run_id):
        raise BackupError("run_id=%r is not a UUID, so the backup cannot be recorded as a recovery point of that "
                          "run (the ledger's run ids are UUIDs). Give pg_migrate's run_id, or set "
                          "record_recovery_point=false to note it in the manifest only. Nothing was written."
                          % run_id)
    try:
        recovery_point_table(params["ledger_table"])
    except LedgerError as exc:
        raise BackupError("%s Nothing was written." % exc) from None


def record_recovery_point(params: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """After a verified backup (never before, never for a failed one): record it as a recovery point of
    ``run_id`` beside the ledger, and stamp removed_at on the rows of the backups retention just removed.

    ``record_recovery_point=false`` writes nothing to the database at all.
    """
    out: dict[str, Any] = {"recovery_point": None, "recovery_point_id": None, "removed_recovery_points": []}
    if params.get("record_recovery_point") is False:
        return out
    wanted = wants_recovery_point(params)
    removed = result.get("removed") or []
    if not wanted and not removed:
        return out
    try:
        conn = Target.from_params(params).connect("pg_backup recovery point", autocommit=True)
    except ConnectionFailure as exc:
        raise _not_recorded(params, result, exc.message) from None
    try:
        points = RecoveryPoints(conn, params["ledger_schema"], params["ledger_table"])
        if wanted:
            row = points.record(recovery_point_row(result, params["run_id"], params.get("purpose")))
            out.update(recovery_point=row, recovery_point_id=row["id"])
        out["removed_recovery_points"] = points.mark_removed(removed, result["kind"], result["label"])
    except (psycopg2.Error, LedgerError) as exc:
        raise _not_recorded(params, result, first_line(exc)) from None
    finally:
        conn.close()
    return out


def _not_recorded(params: dict[str, Any], result: dict[str, Any], why: str) -> BackupError:
    where = result.get("path") or result.get("database")
    return BackupError(
        "Backup %s is verified and kept (%s, manifest %s), but recording it in %s.%s failed: %s. The migration "
        "must not go on without its recovery point on record: fix the cause and take the backup again."
        % (result.get("backup_id"), where, result.get("manifest"), params["ledger_schema"],
           params["ledger_table"] + "_recovery_point", why),
        {"backup_id": result.get("backup_id"), "path": result.get("path"), "manifest": result.get("manifest")})
