# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What compose_restore checks before anything is touched, and the journal that makes a kill harmless.

* The backup: a ``config`` or ``volume`` manifest of compose_backup, named or the newest verified one of a
  label and kind, loaded and checked as every manifest is (``_manifests``), with the facts its kind's restore
  needs. A dump or clone is pg_restore's, and is refused.
* Every member of its archive (``scan_members``), under the rules the manifests' own names follow: a plain
  relative path (not absolute, no ``..``, no control character), a file, a directory or a link, and a link
  that, followed through the archive's other links, stays inside the tree it is restored into. A member under
  a link member is refused (extracting it would write through the link), and so are devices and fifos. A
  volume's top level may not hold this tool's own names (``.kh-*``).
* One run at a time per backup directory (``RunLock``, an flock that a kill releases), and its journal
  (``compose-restore.journal.json`` in the backup directory), written before each step and settled by the
  next run: the journal says which step a killed run was at, so that run can finish or undo it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import tarfile
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    fsync_dir,
    utcnow,
    write_json_atomic,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import (
    good_backups,
    is_good,
    load_manifest,
)

KINDS = ("config", "volume")
OWN_PREFIX = ".kh-"  # the names this tool gives its own entries inside a volume
JOURNAL_NAME = "compose-restore.journal.json"
LOCK_NAME = "compose-restore.lock"
TOKEN = re.compile(r"^\d{8}T\d{6}Z(_\d{1,3})?$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_MAX_HOPS = 40
# The facts each kind's restore needs beyond what every manifest of its kind has (_manifests.KIND_FIELDS).
NEEDS: dict[str, tuple[tuple[str, type], ...]] = {
    "config": (("project_dir", str), ("paths", list), ("files", dict)),
    "volume": (("project_dir", str), ("service", str), ("volume.volume", str), ("volume.name", str),
               ("volume.target", str)),
}


class RestoreError(Failure):
    """A restore of a compose archive was refused or failed; the message says what was changed, if anything."""


# -- the backup ------------------------------------------------------------------------------------------


def _field(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def find_archive_backup(manifest_file: str | None, backup_dir: str | None, label: str, kind: str | None,
                        warnings: list[str]) -> tuple[str, dict[str, Any]]:
    """The backup to restore: the manifest named, or the newest verified one of ``label`` and ``kind`` in
    ``backup_dir``; of kind config or volume, verified, with what its restore needs."""
    if manifest_file:
        path = os.path.abspath(manifest_file)
        manifest = load_manifest(path)
        if manifest["kind"] not in KINDS:
            raise RestoreError("The manifest %s is of a %s backup (pg_backup's): restore it with "
                               "knowledgehub.migration.pg_restore. Nothing was changed." % (path, manifest["kind"]))
        if kind and manifest["kind"] != kind:
            raise RestoreError("The manifest %s is of a %s archive, not of a %s one (kind=%s). Nothing was changed."
                               % (path, manifest["kind"], kind, kind))
        if not is_good(manifest):
            raise RestoreError("Backup %s is not verified: it cannot be restored. Nothing was changed."
                               % manifest["backup_id"])
    else:
        if kind not in KINDS:
            raise RestoreError("kind is needed with backup_dir: config or volume. Nothing was changed.")
        found = good_backups(os.path.abspath(backup_dir or ""), label, kind, warnings)
        if not found:
            raise RestoreError("No verified %s archive labelled %s in %s. Nothing was changed."
                               % (kind, label, backup_dir))
        path, manifest = found[0]
    missing = []
    for dotted, kind_of in NEEDS[manifest["kind"]]:
        value = _field(manifest, dotted)
        if not isinstance(value, kind_of):
            missing.append("%s %s" % (dotted, "is missing" if value is None else "is not a %s" % kind_of.__name__))
    if missing:
        raise RestoreError("The manifest %s lacks what a %s restore needs: %s. Nothing was changed."
                           % (path, manifest["kind"], "; ".join(missing)), {"manifest": path})
    return path, manifest


def same_dir(one: str, other: str) -> bool:
    return os.path.normpath(os.path.abspath(one)) == os.path.normpath(os.path.abspath(other))


def check_project(manifest: dict[str, Any], project_dir: str, allow_other: bool, checks: dict[str, tuple[Any, Any]],
                  warnings: list[str]) -> dict[str, Any]:
    """The backup is of this project: its project directory and every fact in ``checks`` ({what: (the backup's,
    the project's)}) match. A mismatch is refused, unless ``allow_other`` (then it is said in a warning)."""
    checks = dict({"project_dir": (manifest["project_dir"], project_dir)}, **checks)
    differ = ["%s is %s in the backup, %s here" % (what, theirs, ours) for what, (theirs, ours) in checks.items()
              if (not same_dir(theirs, ours) if what == "project_dir" else theirs != ours)]
    identity = {"project_dir": project_dir, "backup_project_dir": manifest["project_dir"], "matches": not differ,
                "override": bool(differ and allow_other)}
    if differ and not allow_other:
        raise RestoreError("Backup %s is not of this compose project: %s. Restore a backup of this project, or set "
                           "allow_other_project=true if this is meant. Nothing was changed."
                           % (manifest["backup_id"], "; ".join(differ)), {"project": identity})
    if differ:
        warnings.append("Backup %s is of another project, restored because allow_other_project=true: %s."
                        % (manifest["backup_id"], "; ".join(differ)))
    return identity


# -- the members of the archive --------------------------------------------------------------------------


def safe_name(name: str) -> str | None:
    """A member's path relative to the tree it is restored into ('' for its root), or None when it is not a plain
    relative path: absolute, with a '..', a control character or a backslash."""
    if not isinstance(name, str) or not name or name.startswith("/") or _UNSAFE.search(name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def resolve(path: str, links: dict[str, str]) -> str | None:
    """Where ``path`` leads inside the tree when each link of ``links`` ({name: target}) on the way is followed,
    as the kernel would; None when it leads out of the tree (or loops)."""
    out: list[str] = []
    queue = path.split("/")
    hops = 0
    while queue:
        part = queue.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            hops += 1
            if hops > _MAX_HOPS or target.startswith("/") or _UNSAFE.search(target):
                return None
            out.pop()
            queue = target.split("/") + queue
    return "/".join(out)


def link_problem(name: str, target: str, links: dict[str, str]) -> str | None:
    """Why the link ``name`` -> ``target`` must not be restored, or None: it must lead inside the tree."""
    if not target or target.startswith("/"):
        return "%s is a link to the absolute path %s, outside the tree it is restored into" % (name, target)
    base = os.path.dirname(name)
    if resolve((base + "/" if base else "") + target, links) is None:
        return "%s is a link to %s, which leads outside the tree it is restored into" % (name, target)
    return None


def scan_members(path: str, kind: str, files: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every member of the archive at ``path`` checked (see the module's docstring); the regular files hashed and,
    with ``files`` (a config manifest's), compared with it. Returns the members by name, the total bytes and the
    archive's PG_VERSION. RestoreError listing the problems, when there is one."""
    members: dict[str, dict[str, Any]] = {}
    links: dict[str, str] = {}
    problems: list[str] = []
    total = 0
    pg_version = None
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                name = safe_name(member.name)
                if name is None:
                    problems.append("%r is not a plain relative path (absolute, '..', or a control character)"
                                    % member.name[:200])
                    continue
                if kind == "volume" and name.split("/", 1)[0].startswith(OWN_PREFIX):
                    problems.append("%s has a name this tool keeps for its own entries (%s*)" % (name, OWN_PREFIX))
                facts: dict[str, Any] = {"mode": member.mode & 0o7777, "uid": member.uid, "gid": member.gid,
                                         "mtime": member.mtime}
                if member.isreg():
                    facts.update(type="file", size=member.size)
                    total += member.size
                    if files is not None or name == "PG_VERSION":
                        digest, first = _digest(tar, member)
                        facts["sha256"] = digest
                        if name == "PG_VERSION":
                            pg_version = first.decode("ascii", "replace").strip()
                elif member.isdir():
                    facts["type"] = "dir"
                elif member.issym():
                    facts.update(type="link", target=member.linkname)
                    links[name] = member.linkname
                elif member.islnk():
                    target = safe_name(member.linkname)
                    if target is None or (members.get(target) or {}).get("type") != "file":
                        problems.append("%s is a hard link to %r, not to a file before it in the archive"
                                        % (name, member.linkname[:200]))
                        continue
                    facts = dict(members[target], mode=member.mode & 0o7777, hardlink=target)
                else:
                    problems.append("%s is a %s, not a file, directory or link" % (name, _type_name(member)))
                    continue
                members[name] = facts
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RestoreError("Cannot read the archive %s: %s. Nothing was changed." % (path, first_line(exc))) from None
    for name, facts in members.items():
        parts = name.split("/")
        under = ["/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in links]
        if under:
            problems.append("%s is under %s, a link in the archive: extracting it would write through the link"
                            % (name, under[0]))
        if facts["type"] == "link":
            problem = link_problem(name, facts["target"], links)
            if problem:
                problems.append(problem)
    if files is not None:
        problems += _against_manifest(members, files)
    if problems:
        raise RestoreError("The archive %s holds %d member(s) that are never restored: %s. Nothing was changed."
                           % (path, len(problems), "; ".join(problems[:20])), {"member_problems": problems[:50]})
    return {"members": members, "bytes": total, "pg_version": pg_version, "entries": len(members)}


def _digest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> tuple[str, bytes]:
    handle = tar.extractfile(member)
    digest = hashlib.sha256()
    first = b""
    while handle is not None:
        block = handle.read(1024 * 1024)
        if not block:
            break
        first = first or block[:64]
        digest.update(block)
    return digest.hexdigest(), first


def _type_name(member: tarfile.TarInfo) -> str:
    if member.ischr() or member.isblk():
        return "device"
    return "fifo" if member.isfifo() else "special member (type %r)" % member.type


def _against_manifest(members: dict[str, dict[str, Any]], files: dict[str, Any]) -> list[str]:
    """A config archive's regular files are those its manifest lists, byte for byte."""
    problems = []
    for name, facts in sorted(members.items()):
        if facts["type"] != "file" or facts.get("hardlink"):
            continue
        recorded = files.get(name)
        if not isinstance(recorded, dict) or recorded.get("sha256") != facts["sha256"] or \
                recorded.get("size") != facts["size"]:
            problems.append("%s differs from what the manifest lists for it" % name)
    problems += ["%s is listed in the manifest but missing from the archive" % name
                 for name in sorted(files) if safe_name(name) not in members]
    return problems


# -- one run at a time, and its journal -------------------------------------------------------------------


def new_token(taken: list[str]) -> str:
    """A name for this run's entries (the UTC time), not among ``taken``."""
    base = utcnow().strftime("%Y%m%dT%H%M%SZ")
    token, number = base, 1
    while any(token in name for name in taken):
        number += 1
        token = "%s_%d" % (base, number)
    return token


class RunLock:
    """An exclusive flock on ``compose-restore.lock`` in the backup directory, held for the run (a kill -9 releases
    it); a second run fails at once instead of racing the first."""

    def __init__(self, backup_dir: str) -> None:
        self.path = os.path.join(backup_dir, LOCK_NAME)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(self.fd, 64).decode("ascii", "replace").strip()
            os.close(self.fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise RestoreError("Another compose_restore run (pid %s) holds %s: wait for it to end. Nothing was "
                               "changed." % (holder or "unknown", self.path)) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, b"%d\n" % os.getpid())

    def release(self) -> None:
        os.close(self.fd)


def journal_path(backup_dir: str) -> str:
    return os.path.join(backup_dir, JOURNAL_NAME)


def read_journal(backup_dir: str) -> dict[str, Any] | None:
    """The journal a killed run left, checked before anything trusts it; None when there is none."""
    path = journal_path(backup_dir)
    if os.path.islink(path):
        raise RestoreError("The journal %s is a symbolic link: it is never followed. Remove it, then run again."
                           % path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RestoreError("The journal %s of an interrupted restore cannot be read (%s). Look at it, settle by hand "
                           "what it says, remove it, then run again." % (path, exc)) from None
    problems = journal_problems(data)
    if problems:
        raise RestoreError("The journal %s of an interrupted restore is not one this tool wrote: %s. Look at it, "
                           "settle by hand what it says, remove it, then run again." % (path, "; ".join(problems)))
    return data


def journal_problems(data: Any) -> list[str]:
    """What makes a journal untrustworthy; [] when every field the next run acts on is sound."""
    if not isinstance(data, dict):
        return ["it is not a JSON object"]
    problems = []
    if data.get("kind") not in KINDS:
        problems.append("kind %r is not config or volume" % data.get("kind"))
    if not isinstance(data.get("token"), str) or not TOKEN.match(data["token"]):
        problems.append("token %r is not a run's UTC time" % data.get("token"))
    for key in ("project_dir", "backup_id", "step"):
        if not isinstance(data.get(key), str):
            problems.append("no %s" % key)
    if data.get("kind") == "volume":
        if not all(isinstance(data.get(k), list) and all(isinstance(s, str) for s in data[k])
                   for k in ("others", "running")):
            problems.append("others and running are not lists of service names")
        if not isinstance(data.get("service"), str) or not isinstance(_field(data, "volume.volume"), str):
            problems.append("no service or volume")
    elif data.get("kind") == "config" and not (isinstance(data.get("changes"), list) and all(
            isinstance(c, dict) and isinstance(c.get("path"), str) and os.path.isabs(c["path"])
            for c in data["changes"])):
        problems.append("changes is not a list of absolute paths")
    return problems


def write_journal(backup_dir: str, data: dict[str, Any], step: str) -> None:
    """The journal, at ``step``, on disk (fsynced, renamed into place) before the step is taken."""
    data["step"] = step
    write_json_atomic(journal_path(backup_dir), data)


def clear_journal(backup_dir: str) -> None:
    path = journal_path(backup_dir)
    if os.path.lexists(path):
        os.unlink(path)
        fsync_dir(backup_dir)
