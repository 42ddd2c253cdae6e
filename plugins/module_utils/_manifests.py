# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests: what a backup is, checked before anything trusts it; which backups count; retention.

A backup is its manifest (``<backup_id>.manifest.json`` in the backup directory) saying
``verified: true``. Every manifest is checked when it is loaded: the fields its kind needs
(dump, clone: pg_backup's; config, volume: compose_backup's) are there and of their type,
and every name it gives for a file (its backup id, its archive) is a plain name inside the
backup directory, never a path that leads out, nor a link that does. A manifest that fails is
never followed: looking through a directory it is skipped and said, asked for by name it is
refused, saying what is wrong. A restore considers dumps and clones only; retention only the
kind (and, for recovery points, the database) it was asked for.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import (
    BackupError,
    remove_path,
    utcnow,
    who,
    write_json_atomic,
)

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
RESTORABLE = ("dump", "clone")  # what pg_restore restores; compose_backup writes "config" and "volume"

# What every manifest holds, and what each kind's needs (dotted paths, types), checked when it is loaded.
COMMON_FIELDS: tuple[tuple[str, type], ...] = (("backup_id", str), ("label", str), ("kind", str), ("created_at", str))
_ARCHIVE = (("archive.name", str), ("archive.sha256", str), ("archive.size_bytes", int))
KIND_FIELDS: dict[str, tuple[tuple[str, type], ...]] = {
    "dump": (("format", str), ("scope", str)) + _ARCHIVE + (
        ("database.name", str), ("row_counts", dict), ("verification", dict)),
    "clone": (("format", str), ("clone.database", str), ("clone.source", str), ("database.name", str),
              ("row_counts", dict)),
    "config": _ARCHIVE,
    "volume": _ARCHIVE,
}


def new_manifest(backup_id: str, label: str, kind: str, fmt: str, created_at: str, params: dict[str, Any],
                 **facts: Any) -> dict[str, Any]:
    """A verified backup's manifest: what every kind records (completed now), then the kind's own ``facts``."""
    manifest = {"manifest_version": MANIFEST_VERSION, "backup_id": backup_id, "label": label, "kind": kind,
                "format": fmt, "created_at": created_at, "completed_at": utcnow().isoformat(), "verified": True,
                "run_id": params.get("run_id"), "purpose": params.get("purpose"), "executed": who()}
    manifest.update(facts)
    return manifest


def store(backup_dir: str, manifest: dict[str, Any], keep: int, drop_clone: Callable[[dict[str, Any]], None] | None = None,
          warnings: list[str] | None = None, source: str | None = None,
          result: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """Write the manifest of a verified backup, then apply retention; (manifest path, backup ids removed).

    Retention never removes a backup of the run this one belongs to, nor the point a recover of the run the
    database's ledger shows last would use (``protected``). With ``result``, what retention did (``retention``) and
    the free space left in ``backup_dir`` after it (``disk_free_bytes``) are put there."""
    path = manifest_path(backup_dir, manifest["backup_id"])
    write_json_atomic(path, manifest)
    outcome: dict[str, Any] = {}
    removed = apply_retention(backup_dir, manifest["label"], manifest["kind"], keep, drop_clone, warnings, source,
                              protect=manifest, outcome=outcome)
    if result is not None:
        result["retention"] = outcome
        result["disk_free_bytes"] = free_bytes(backup_dir)
    return path, removed


def free_bytes(path: str) -> int:
    """Free space for an unprivileged writer on the file system of ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def protected(rows: list[tuple[str, dict[str, Any]]], manifest: dict[str, Any] | None) -> dict[str, str]:
    """backup id -> why retention keeps it whatever keep_last says: every backup of the run ``manifest`` (the new
    backup) belongs to; and of the run the database's ledger shows last (the state a recover goes back from), the
    point a recover would use: its newest verified full "before" point, else its newest verified full point."""
    if not manifest:
        return {}
    keep: dict[str, str] = {}
    run_id = manifest.get("run_id")
    if run_id:
        for _path, other in rows:
            if other.get("run_id") == run_id:
                keep[other["backup_id"]] = "a recovery point of the current run %s" % run_id
    ledger_run = (manifest.get("ledger") or {}).get("latest_run_id") if isinstance(manifest.get("ledger"), dict) \
        else None
    if ledger_run and ledger_run != run_id:
        points = [m for _p, m in rows if m.get("run_id") == ledger_run and (m.get("scope") or "full") == "full"]
        chosen = [m for m in points if m.get("purpose") == "before"][:1] or points[:1]  # rows are newest first
        for other in chosen:
            keep[other["backup_id"]] = ("the point a recover of run %s, the last run in the ledger, would use"
                                        % ledger_run)
    return keep


def plain_name(value: Any) -> bool:
    """A file name that stays inside its directory: no separator, not '.' or '..', not hidden."""
    return isinstance(value, str) and value not in ("", ".", "..") and not value.startswith(".") and \
        not any(c in value for c in "/\\\0")


def _field(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def manifest_problems(data: dict[str, Any]) -> list[str]:
    """What a manifest lacks for its kind, or holds that must never be followed; [] when it is sound."""
    kind = data.get("kind")
    if kind not in KIND_FIELDS:
        return ["kind %r is not one of %s" % (kind, ", ".join(KIND_FIELDS))]
    problems = []
    for dotted, kind_of in COMMON_FIELDS + KIND_FIELDS[kind]:
        value = _field(data, dotted)
        if value is None:
            problems.append("no %s" % dotted)
        elif not isinstance(value, kind_of) or (kind_of is int and isinstance(value, bool)):
            problems.append("%s is not a %s" % (dotted, kind_of.__name__))
    for dotted in ("backup_id", "archive.name"):
        value = _field(data, dotted)
        if value is not None and not plain_name(value):
            problems.append("%s %r is not a plain file name inside the backup directory (no '/', no '..', not "
                            "hidden): a path outside the backup directory is never followed" % (dotted, value))
    counts = data.get("row_counts")
    if isinstance(counts, dict):
        problems += ["row_counts.%s is not a number" % k for k, v in counts.items()
                     if not isinstance(v, int) or isinstance(v, bool)]
        entries = _field(data, "verification.entries") or []
        problems += ["row_counts has no row count of %s.%s, whose rows it holds" % (e[1], e[2]) for e in entries
                     if isinstance(e, list) and len(e) == 3 and e[0] == "TABLE DATA" and "%s.%s" % (e[1], e[2])
                     not in counts]
    return problems


def load_manifest(path: str) -> dict[str, Any]:
    """A manifest of this collection, checked for the fields its kind needs; BackupError naming it otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError("Cannot read the backup manifest %s: %s." % (path, exc)) from None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise BackupError("%s is not a manifest of this collection (manifest_version %r)."
                          % (path, data.get("manifest_version") if isinstance(data, dict) else None))
    problems = manifest_problems(data)
    if problems:
        raise BackupError("The manifest %s is malformed: %s." % (path, "; ".join(problems)), {"manifest": path})
    return data


def manifest_path(backup_dir: str, backup_id: str) -> str:
    return os.path.join(backup_dir, backup_id + MANIFEST_SUFFIX)


def _inside(directory: str, path: str) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(directory).rstrip(os.sep) + os.sep)


def list_manifests(backup_dir: str, label: str | None = None,
                   warnings: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The sound manifests in ``backup_dir``. The others are skipped: with ``warnings``, each one whose name is
    of ``label`` (or any, without a label) is reported there by name."""
    found: list[tuple[str, dict[str, Any]]] = []
    if not os.path.isdir(backup_dir):
        return found
    for name in sorted(os.listdir(backup_dir)):
        if not name.endswith(MANIFEST_SUFFIX) or name.startswith("."):
            continue
        path = os.path.join(backup_dir, name)
        try:
            if os.path.islink(path) and not _inside(backup_dir, path):
                raise BackupError("it is a symbolic link leading outside the backup directory, never followed")
            found.append((path, load_manifest(path)))
        except BackupError as exc:
            if warnings is not None and (label is None or name.startswith((label + "_", label + "-"))):
                warnings.append("Skipped the manifest %s: %s" % (name, exc.message))
    return found


def is_good(manifest: dict[str, Any]) -> bool:
    return manifest.get("verified") is True and not manifest.get("consumed_at")


def good_backups(backup_dir: str, label: str, kind: str | tuple[str, ...] | None = None,
                 warnings: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Verified, unconsumed backups of ``label`` (and ``kind``, or one of the kinds), newest first."""
    kinds = (kind,) if isinstance(kind, str) else kind
    rows = [(p, m) for p, m in list_manifests(backup_dir, label, warnings)
            if m.get("label") == label and is_good(m) and (kinds is None or m.get("kind") in kinds)]
    rows.sort(key=lambda pm: (pm[1].get("created_at", ""), pm[1].get("backup_id", "")), reverse=True)
    return rows


def find_backup(manifest_file: str | None, backup_dir: str | None, label: str, kind: str | None,
                warnings: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The backup to restore: the one ``manifest_file`` names, or the newest good dump or clone (or ``kind``) of
    ``label`` in ``backup_dir``. A backup of another kind, not verified or used up is refused."""
    if manifest_file:
        path = os.path.abspath(manifest_file)
        manifest = load_manifest(path)
        if manifest["kind"] not in RESTORABLE:
            raise BackupError("The manifest %s is of a %s backup (compose_backup's): pg_restore restores dump and "
                              "clone backups." % (path, manifest["kind"]))
        if not is_good(manifest):
            state = "was consumed at %s" % manifest.get("consumed_at") if manifest.get("consumed_at") \
                else "is not verified"
            raise BackupError("Backup %s %s: it cannot be restored." % (manifest.get("backup_id"), state))
        return path, manifest
    found = good_backups(os.path.abspath(backup_dir or ""), label, kind or RESTORABLE, warnings)
    if not found:
        raise BackupError("No verified backup labelled %s in %s." % (label, backup_dir))
    return found[0]


def archive_path(manifest_file: str, manifest: dict[str, Any]) -> str:
    """The archive a manifest names: a plain name inside the manifest's directory, never a link leading out."""
    directory = os.path.dirname(manifest_file)
    name = manifest["archive"]["name"]
    path = os.path.join(directory, name)
    if not plain_name(name) or (os.path.islink(path) and not _inside(directory, path)):
        raise BackupError("The archive %r of the manifest %s leads outside the backup directory (%s): it is never "
                          "followed." % (name, manifest_file, os.path.realpath(path)))
    return path


def apply_retention(backup_dir: str, label: str, kind: str, keep: int,
                    drop_clone: Callable[[dict[str, Any]], None] | None = None, warnings: list[str] | None = None,
                    source: str | None = None, protect: dict[str, Any] | None = None,
                    outcome: dict[str, Any] | None = None) -> list[str]:
    """Keep the newest ``keep`` good backups of ``label``/``kind``; remove the rest. 0 keeps all. With ``source``,
    only the recovery points of that database count (another database's are never this one's to drop). With
    ``protect`` (the new backup's manifest), the backups ``protected`` names are kept whatever ``keep`` says.

    The manifest goes first, so an interrupted removal never leaves a manifest pointing at half an archive.
    A backup whose manifest names something it must not touch is left alone, said in ``warnings``.
    ``outcome`` receives keep_last, the removed ids and bytes, the backups kept and their bytes, and the protected
    ones kept beyond keep_last with the reason.
    """
    report: dict[str, Any] = {"keep_last": keep or 0, "removed": [], "removed_bytes": 0, "kept": 0, "kept_bytes": 0,
                              "protected": []}
    if outcome is not None:
        outcome.update(report)
        report = outcome
    rows = good_backups(backup_dir, label, kind, warnings)
    if source is not None:
        rows = [(p, m) for p, m in rows if (m.get("clone") or {}).get("source") == source]
    if not keep or keep < 1:
        report.update(kept=len(rows), kept_bytes=sum(_size(m) for _p, m in rows))
        return []
    removed = report["removed"]
    guarded = protected(rows, protect)
    for path, manifest in rows[keep:]:
        if manifest["backup_id"] in guarded:
            report["protected"].append({"backup_id": manifest["backup_id"], "reason": guarded[manifest["backup_id"]]})
            continue
        try:
            if manifest["kind"] == "clone":
                if drop_clone is None:
                    continue
                drop_clone(manifest)
                os.unlink(path)
            else:
                archive = archive_path(path, manifest)
                os.unlink(path)
                remove_path(archive)
        except BackupError as exc:
            if warnings is not None:
                warnings.append("Retention left the backup of %s alone: %s" % (os.path.basename(path), exc.message))
            continue
        removed.append(manifest["backup_id"])
        report["removed_bytes"] += _size(manifest)
    left = [m for _p, m in rows if m["backup_id"] not in removed]
    report.update(kept=len(left), kept_bytes=sum(_size(m) for m in left))
    return list(removed)


def _size(manifest: dict[str, Any]) -> int:
    """The bytes a backup holds, as its manifest records them (an archive, or a clone's database)."""
    for value in ((manifest.get("archive") or {}).get("size_bytes"), (manifest.get("clone") or {}).get("size_bytes"),
                  manifest.get("size_bytes")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0
