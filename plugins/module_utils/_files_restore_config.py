# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration files put back into the compose project from a compose_backup archive.

Only into the project directory: every archived path must have been inside the project
when it was backed up (``paths`` chooses among them), and every place a file is written
must still be inside it, no link on the way leading out. Each file is written whole to a
temporary file beside it (its bytes checked against the manifest's sha256, fsynced, the
archived mode, owner and time set), the file it replaces is kept as
``<path>.pre-restore-<token>`` (a hard link: no copy, no moment without the old one),
then the temporary file is renamed over it. A file that already holds the archived bytes
and mode is left alone, so a second run changes nothing. A failure the run sees puts
every file it had replaced back; a kill leaves each file whole (old or new), and the next
run removes the temporary files the journal names and says what was put back. Services
are recreated only when asked (``restart_services``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    fsync_dir,
    space_verdict,
    utcnow,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import ComposeError, Project, healthchecked
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure, first_line
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_backup import arcname
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_checks import (
    RestoreError,
    check_project,
    clear_journal,
    journal_path,
    new_token,
    safe_name,
    same_dir,
    write_journal,
)

KEPT_INFIX = ".pre-restore-"


def under(name: str, root: str) -> bool:
    """``name`` (an archive path) is ``root`` or inside it ('' is the archive's root, holding everything)."""
    return root in ("", ".") or name == root or name.startswith(root + "/")


def inside(directory: str, path: str) -> bool:
    base = os.path.realpath(directory)
    return os.path.realpath(path) == base or os.path.realpath(path).startswith(base.rstrip("/") + "/")


def temp_name(dest: str, token: str) -> str:
    return os.path.join(os.path.dirname(dest), ".%s.kh-restore-%s.tmp" % (os.path.basename(dest), token))


def action_for(dest: str, facts: dict[str, Any]) -> str:
    """What restoring ``facts`` at ``dest`` does: create, replace, unchanged, or a conflict (a sentence)."""
    if not os.path.lexists(dest):
        return "create"
    mode = os.lstat(dest).st_mode
    if facts["type"] == "dir":
        return "unchanged" if stat.S_ISDIR(mode) else "conflict: it is not a directory, the archive has one"
    if stat.S_ISDIR(mode):
        return "conflict: it is a directory, the archive has a %s" % facts["type"]
    if facts["type"] == "link":
        return "unchanged" if stat.S_ISLNK(mode) and os.readlink(dest) == facts["target"] else "replace"
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        return "conflict: it is a special file"
    if stat.S_ISREG(mode) and stat.S_IMODE(mode) == facts["mode"] and os.path.getsize(dest) == facts["size"]:
        digest = hashlib.sha256()
        with open(dest, "rb") as handle:
            for block in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(block)
        if digest.hexdigest() == facts["sha256"]:
            return "unchanged"
    return "replace"


class ConfigSteps:
    """The configuration restore of one run: ``plan`` decides file by file, ``apply`` writes, ``settle`` cleans
    what a killed run left."""

    def __init__(self, params: dict[str, Any], backup_dir: str, result: dict[str, Any]) -> None:
        self.p = params
        self.backup_dir = backup_dir
        self.result = result
        self.project_dir = os.path.normpath(os.path.abspath(params["project_dir"]))
        self.changes: list[dict[str, Any]] = []
        self.journal: dict[str, Any] = {}

    def plan(self, manifest: dict[str, Any], scan: dict[str, Any]) -> dict[str, Any]:
        if not os.path.isdir(self.project_dir):
            raise RestoreError("project_dir %s is not a directory. Nothing was changed." % self.project_dir)
        self.result["project"] = check_project(manifest, self.project_dir, bool(self.p.get("allow_other_project")),
                                               {}, self.result["warnings"])
        selected = self._select(manifest, scan["members"])
        conflicts = []
        for name, facts in selected:
            dest = os.path.join(self.project_dir, name)
            if not inside(self.project_dir, os.path.dirname(dest)):
                conflicts.append("%s: a link on the way leads out of the project directory (to %s)"
                                 % (dest, os.path.realpath(os.path.dirname(dest))))
                continue
            action = action_for(dest, facts)
            if action.startswith("conflict"):
                conflicts.append("%s: %s" % (dest, action[len("conflict: "):]))
            self.changes.append({"path": dest, "name": name, "action": action, "facts": facts})
        if conflicts:
            raise RestoreError("Cannot put back the configuration of backup %s: %s. Nothing was changed."
                               % (manifest["backup_id"], "; ".join(conflicts[:20])), {"conflicts": conflicts})
        writes = [c for c in self.changes if c["action"] in ("create", "replace")]
        verdict = space_verdict(self.project_dir, sum(c["facts"].get("size", 0) for c in writes) + 4096 * len(writes))
        self.result["free_space"] = verdict
        if self.p.get("check_free_space", True) and not verdict["ok"]:
            raise RestoreError("Not enough free space in %s for the restore: %s. Nothing was changed."
                               % (self.project_dir, verdict["summary"]), {"free_space": verdict})
        services = list(self.p.get("restart_services") or [])
        if services:
            try:
                known = Project.from_params(self.p).config().get("services") or {}
            except ComposeError as exc:  # the compose file itself may be what is put back
                known = None
                self.result["warnings"].append("restart_services could not be checked before the restore: %s"
                                               % exc.message)
            unknown = [s for s in services if known is not None and s not in known]
            if unknown:
                raise RestoreError("restart_services names services the project does not have: %s. Nothing was "
                                   "changed." % ", ".join(unknown))
        taken = [c["path"] for c in writes if c["action"] == "replace"]
        token = new_token([])
        while any(os.path.lexists(p + KEPT_INFIX + token) or os.path.lexists(temp_name(p, token)) for p in taken):
            token = new_token([token])
        self.journal = {"kind": "config", "token": token, "backup_id": manifest["backup_id"],
                        "project_dir": self.project_dir, "pid": os.getpid(),
                        "since": utcnow().isoformat(timespec="seconds"),
                        "changes": [{"path": c["path"], "action": c["action"]} for c in writes]}
        self.result.update(
            project_dir=self.project_dir, paths=sorted({n.split("/")[0] for n, _f in selected}),
            files={key: [c["path"] for c in self.changes if c["action"] == value] for key, value in
                   (("replaced", "replace"), ("created", "create"), ("unchanged", "unchanged"))},
            kept_files=[{"path": p, "kept": p + KEPT_INFIX + token} for p in taken],
            restart_services=services)
        return self.result

    def _select(self, manifest: dict[str, Any], members: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
        """The members to put back: those of ``paths`` (all by default), each of an archived path that was inside
        the project directory."""
        base = os.path.normpath(manifest["project_dir"])
        roots = []
        for path in manifest["paths"]:
            if isinstance(path, str):
                norm = os.path.normpath(path)
                roots.append((arcname(norm, base), norm == base or norm.startswith(base.rstrip("/") + "/"), norm))
        wanted = None
        if self.p.get("paths"):
            wanted = [safe_name(os.path.relpath(p, self.project_dir) if os.path.isabs(p) else p)
                      for p in self.p["paths"]]
            if None in wanted:
                raise RestoreError("paths must name archived paths inside the project directory (relative to it, "
                                   "no '..'): %s. Nothing was changed." % ", ".join(self.p["paths"]))
        selected, outside = [], []
        for name, facts in members.items():
            if wanted is not None and not any(under(name, w) or under(w, name) and facts["type"] == "dir"
                                              for w in wanted):
                continue
            root = max((r for r in roots if under(name, r[0])), key=lambda r: len(r[0]), default=None)
            if root is None or not root[1]:
                outside.append(root[2] if root else name)
                continue
            if name:
                selected.append((name, facts))
        if outside:
            raise RestoreError("The archive holds paths that were backed up from outside the project directory %s: "
                               "%s. compose_restore puts files back only into project_dir: choose the others with "
                               "paths. Nothing was changed." % (base, ", ".join(sorted(set(outside))[:10])))
        if wanted is not None and not [n for n, f in selected if any(under(n, w) for w in wanted)]:
            raise RestoreError("paths %s select nothing in backup %s, whose archived paths are: %s. Nothing was "
                               "changed." % (", ".join(self.p["paths"]), manifest["backup_id"],
                                             ", ".join(r[0] for r in roots)))
        return selected

    # -- writing ---------------------------------------------------------------------------------

    def apply(self, archive: str) -> dict[str, Any]:
        token = self.journal["token"]
        todo = {c["name"]: c for c in self.changes if c["action"] in ("create", "replace")}
        done: list[dict[str, Any]] = []
        if todo:
            write_journal(self.backup_dir, self.journal, "writing")
            try:
                with tarfile.open(archive, mode="r:*") as tar:
                    for member in tar:
                        change = todo.get(safe_name(member.name) or "")
                        if change is not None:
                            self._put(tar, member, change, token)
                            done.append(change)
                missing = sorted(set(todo) - {c["name"] for c in done})
                if missing:
                    raise RestoreError("the archive no longer holds %s" % ", ".join(missing[:10]))
            except BaseException as exc:  # pylint: disable=broad-except  # whatever it is, the old files go back
                self._undo(done, token)
                clear_journal(self.backup_dir)
                raise RestoreError("Putting back the configuration of backup %s failed: %s. The %d file(s) already "
                                   "put back were returned to what they were; nothing was changed."
                                   % (self.journal["backup_id"], exc.message if isinstance(exc, Failure)
                                      else first_line(exc), len(done))) from None
            clear_journal(self.backup_dir)
            self.result["changed"] = True
        if self.p.get("drop_previous"):
            for kept in self.result["kept_files"]:
                if os.path.lexists(kept["kept"]):
                    os.unlink(kept["kept"])
            self.result.update(kept_files=[], dropped_previous=True)
        self._restart()
        return self.result

    def _put(self, tar: tarfile.TarFile, member: tarfile.TarInfo, change: dict[str, Any], token: str) -> None:
        facts, dest = change["facts"], change["path"]
        if facts["type"] == "dir":
            os.mkdir(dest, facts["mode"])
            self._own(dest, facts)
            return
        tmp = temp_name(dest, token)
        if facts["type"] == "link":
            os.symlink(facts["target"], tmp)
        else:
            digest = hashlib.sha256()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                source = tar.extractfile(member)
                for block in iter(lambda: source.read(1024 * 1024) if source else b"", b""):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
                os.fchmod(out.fileno(), facts["mode"])
            if digest.hexdigest() != facts["sha256"]:
                os.unlink(tmp)
                raise RestoreError("%s does not hold the bytes its manifest lists" % change["name"])
            self._own(tmp, facts)
            os.utime(tmp, (facts["mtime"], facts["mtime"]))
        if change["action"] == "replace":
            keep(dest, dest + KEPT_INFIX + token)
        os.replace(tmp, dest)
        fsync_dir(os.path.dirname(dest))

    @staticmethod
    def _own(path: str, facts: dict[str, Any]) -> None:
        if os.geteuid() == 0:
            os.chown(path, facts["uid"], facts["gid"], follow_symlinks=False)

    def _undo(self, done: list[dict[str, Any]], token: str) -> None:
        """Every change of ``done`` undone, the last first: a replaced file gets its kept one back, a created one
        goes; the temporary file of the one that failed goes too."""
        for change in self.changes:
            if os.path.lexists(temp_name(change["path"], token)):
                os.unlink(temp_name(change["path"], token))
        for change in reversed(done):
            path = change["path"]
            if change["action"] == "replace":
                os.replace(path + KEPT_INFIX + token, path)
            elif change["facts"]["type"] == "dir":
                if not os.listdir(path):
                    os.rmdir(path)
            elif os.path.lexists(path):
                os.unlink(path)

    def _restart(self) -> None:
        """``docker compose up -d --no-deps --force-recreate`` of restart_services, so that a restored compose file,
        .env or mounted file takes effect; each waited for."""
        services = self.result.get("restart_services") or []
        if not services:
            return
        project = Project.from_params(self.p)
        project.run("up", "-d", "--no-deps", "--force-recreate", *services, timeout=600)
        checked = healthchecked(project.config())
        for name in services:
            project.wait_ready(name, int(self.p.get("ready_timeout") or 120), name in checked)
        self.result.update(changed=True, restarted_services=services)

    # -- what a killed run left ----------------------------------------------------------------------

    def settle(self, j: dict[str, Any], check_mode: bool) -> dict[str, Any]:
        """Remove the temporary files of a killed configuration restore; say what it had put back (each file whole:
        running the restore again finishes it)."""
        token = j["token"]
        if not same_dir(j["project_dir"], self.project_dir) or not all(
                c["path"].startswith(os.path.normpath(j["project_dir"]).rstrip("/") + "/") for c in j["changes"]):
            raise RestoreError("The journal %s is of an interrupted configuration restore into %s: settle it first by "
                               "running compose_restore with that project_dir. Nothing was changed."
                               % (journal_path(self.backup_dir), j["project_dir"]))
        put_back = [c["path"] for c in j["changes"] if
                    (c.get("action") == "replace" and os.path.lexists(c["path"] + KEPT_INFIX + token)) or
                    (c.get("action") == "create" and os.path.lexists(c["path"]))]
        temps = [temp_name(c["path"], token) for c in j["changes"] if os.path.lexists(temp_name(c["path"], token))]
        entry = {"backup_id": j["backup_id"], "kind": "config", "step": j["step"], "since": j.get("since"),
                 "left_by_pid": j.get("pid"), "put_back": put_back, "of": len(j["changes"]),
                 "kept_files": [p + KEPT_INFIX + token for p in put_back
                                if os.path.lexists(p + KEPT_INFIX + token)], "temporary_files": temps}
        if not check_mode:
            for path in temps:
                os.unlink(path)
            clear_journal(self.backup_dir)
        return entry


def keep(path: str, kept: str) -> None:
    """``path`` kept as ``kept``: a hard link (the same file, no copy), else a copy where links are not possible."""
    try:
        os.link(path, kept, follow_symlinks=False)
    except OSError:
        if os.path.islink(path):
            os.symlink(os.readlink(path), kept)
        else:
            shutil.copy2(path, kept, follow_symlinks=False)
