# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compose_restore: a compose_backup archive put back, the data volume or the configuration.

Order of a restore: the backup found (its manifest named, or the newest verified one of a
label and kind) and checked for what its kind's restore needs -> one run at a time in the
backup directory (an flock) -> what a killed run left settled from its journal
(``_files_restore_volume`` finishes or undoes its step, ``_files_restore_config`` removes
its temporary files) -> the archive, a plain name beside its manifest, must match the
manifest's sha256 and size -> every member must be safe to restore
(``_files_restore_checks.scan_members``) -> the kind's plan: the backup must be of this
project, and the room must be there (check mode ends here, having touched nothing) -> the
kind's restore.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import check_archive
from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import check_backup_dir
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_checks import (
    RestoreError,
    RunLock,
    find_archive_backup,
    journal_path,
    read_journal,
    scan_members,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_config import ConfigSteps
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_volume import VolumeSteps
from ansible_collections.knowledgehub.migration.plugins.module_utils._manifests import archive_path
from ansible_collections.knowledgehub.migration.plugins.module_utils._module import Job
from ansible_collections.knowledgehub.migration.plugins.module_utils._options import check_label

FORMATS = {"tar.gz": True, "tar": False}  # archive format -> gzip


class FilesRestore(Job):
    """One restore of a config or volume archive: ``plan`` finds and checks it all (and settles a killed run's
    leftovers, the one write before the plan, never in check mode), ``apply`` restores."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False) -> None:
        self.p = params
        self.check_mode = check_mode
        self.result: dict[str, Any] = {"changed": False, "warnings": []}
        self.lock: RunLock | None = None
        self.steps: Any = None
        self.archive = ""
        self.manifest: dict[str, Any] = {}
        self.already = False

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @property
    def what(self) -> str:
        """What failures say this run was doing."""
        return "the %s restore" % (self.p.get("kind") or "compose archive")

    def _steps(self, kind: str, backup_dir: str) -> Any:
        return (VolumeSteps if kind == "volume" else ConfigSteps)(self.p, backup_dir, self.result)

    def plan(self) -> dict[str, Any]:
        label = self.p.get("label") or "knowledgehub"
        check_label(label)
        if not self.p.get("project_dir"):
            raise RestoreError("project_dir is needed: the compose project to restore into. Nothing was changed.")
        backup_dir = check_backup_dir(os.path.dirname(os.path.abspath(self.p["manifest"])) if self.p.get("manifest")
                                      else self.p.get("backup_dir") or "")
        if not os.path.isdir(backup_dir):
            raise RestoreError("backup_dir %s does not exist. Nothing was changed." % backup_dir)
        manifest_file, self.manifest = find_archive_backup(self.p.get("manifest"), backup_dir, label,
                                                           self.p.get("kind"), self.result["warnings"])
        kind = self.manifest["kind"]
        self.result.update(kind=kind, backup_id=self.manifest["backup_id"], manifest=manifest_file,
                           created_at=self.manifest["created_at"], journal=journal_path(backup_dir))
        if self.manifest.get("format") not in FORMATS:
            raise RestoreError("Backup %s has the format %r; compose_restore restores %s. Nothing was changed."
                               % (self.manifest["backup_id"], self.manifest.get("format"), ", ".join(FORMATS)))
        try:
            self.archive = archive_path(manifest_file, self.manifest)
        except Failure as exc:
            raise RestoreError("Cannot restore: %s Nothing was changed." % exc.message) from None
        self._settle(backup_dir)
        started = time.monotonic()
        digest, _scan = check_archive(self.archive, self.manifest)
        scan = scan_members(self.archive, kind, self.manifest["files"] if kind == "config" else None)
        self.result.update(archive=self.archive, integrity={
            "sha256": digest["sha256"], "size_bytes": digest["size_bytes"], "members": scan["entries"],
            "content_bytes": scan["bytes"], "ms": int((time.monotonic() - started) * 1000)})
        self.steps = self._steps(kind, backup_dir)
        self.steps.plan(self.manifest, scan)
        return dict(self.result)

    def _settle(self, backup_dir: str) -> None:
        """What a killed run left, settled (in check mode, said), before this run plans anything."""
        if not self.check_mode:
            self.lock = RunLock(backup_dir)
        journal = read_journal(backup_dir)
        if journal is None:
            return
        entry = self._steps(journal["kind"], backup_dir).settle(journal, self.check_mode)
        self.result["would_settle" if self.check_mode else "settled"] = [entry]
        self.result["warnings"].append(
            "%s interrupted restore of backup %s (%s, at step %s, since %s): %s." % (
                "Would settle an" if self.check_mode else "Settled an", entry["backup_id"], entry["kind"],
                entry["step"], entry.get("since"), entry.get("would") or _outcome(entry)))
        if self.check_mode:
            return
        self.result["changed"] = True
        if entry["kind"] == "volume" and entry["outcome"] == "restored" and \
                entry["backup_id"] == self.manifest["backup_id"] and self.manifest["kind"] == "volume":
            self.already = True  # the killed run had swapped it in; settling finished it

    def apply(self, plan: dict[str, Any]) -> dict[str, Any]:
        if self.already:
            entry = self.result["settled"][0]
            self.result.update(changed=True, already_restored=True, previous_content=entry["previous_content"])
            for key in ("would_stop", "kept_contents"):
                self.result.pop(key, None)
            return self.result
        if self.manifest["kind"] == "volume":
            return self.steps.apply(self.archive, FORMATS[self.manifest["format"]], self.manifest)
        return self.steps.apply(self.archive)


def _outcome(entry: dict[str, Any]) -> str:
    if entry["kind"] == "config":
        return "%d of its %d file(s) had been put back, each whole (kept: %s); run it again to finish" % (
            len(entry["put_back"]), entry["of"], ", ".join(entry["kept_files"]) or "none")
    if entry["outcome"] == "restored":
        kept = entry["previous_content"]
        return "the volume holds the backup's content, the replaced content is %s, and the services that were " \
               "running were started again" % ("kept as %s" % kept["path"] if kept else "dropped (drop_previous)")
    return "the volume holds its old content again (%s), and the services that were running were started again" % (
        entry.get("why") or "the restore had not swapped it in")
