# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is inside an archive, and whether it is what it must be.

An archive of pg_dump is checked three ways: its table of contents (``pg_restore
--list``, or pg_dump's own entry headers in a plain dump) must hold every table
entry of the dumped scope; a directory archive must hold each data file its table
of contents names; and its sha256 and size, taken once when it is verified, must
still be what its manifest says when it is restored.
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import BackupError
from ansible_collections.knowledgehub.migration.plugins.module_utils._catalog import TableInfo
from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import Client, run_checked
from ansible_collections.knowledgehub.migration.plugins.module_utils._pgargs import list_argv

# pg_restore --list: "215; 1259 16390 TABLE public chunks knowledgehub"
_TOC_LINE = re.compile(r"^(\d+);\s+(\d+)\s+(\d+)\s+(.*)$")
_PLAIN_HEADER = re.compile(
    rb"-- (?:Data for )?Name: ([^;\n]*); Type: (TABLE DATA|TABLE|SEQUENCE SET); Schema: ([^;\n]*); Owner: ")
_PLAIN_COMPLETE = b"-- PostgreSQL database dump complete"
_HEADER_MAX = 1024  # longer than any header line (four names of at most 63 bytes each)
_BLOCK = 8 * 1024 * 1024


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


# -- checksums ----------------------------------------------------------------------------


def hashed_blocks(path: str, digest: Any) -> Iterator[bytes]:
    """The blocks of a file, in order, each fed to ``digest`` in a second thread (hashlib releases the GIL)
    while the next one is read and the caller looks at this one; ``digest`` is complete once they are all out."""
    hashing: Any = None
    with open(path, "rb") as handle, ThreadPoolExecutor(max_workers=1) as pool:
        while True:
            block = handle.read(_BLOCK)
            if not block:
                break
            if hashing is not None:
                hashing.result()  # blocks are hashed in order
            hashing = pool.submit(digest.update, block)
            yield block
        if hashing is not None:
            hashing.result()


def sha256_file(path: str) -> tuple[str, int]:
    """sha256 and size of a file; reading overlaps hashing, which halves the time on a large archive."""
    digest = hashlib.sha256()
    size = sum(len(block) for block in hashed_blocks(path, digest))
    return digest.hexdigest(), size


def archive_digest(path: str) -> dict[str, Any]:
    """sha256 and size of an archive; a directory archive gets one per file and one over their list."""
    if not os.path.isdir(path):
        sha, size = sha256_file(path)
        return {"sha256": sha, "size_bytes": size}
    files = {}
    for file_path in iter_files(path):
        sha, size = sha256_file(file_path)
        files[os.path.basename(file_path)] = {"sha256": sha, "size_bytes": size}
    listing = "".join("%s  %s\n" % (v["sha256"], k) for k, v in sorted(files.items()))
    return {"sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
            "size_bytes": sum(v["size_bytes"] for v in files.values()), "files": files}


def check_archive(path: str, manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The archive at ``path`` against its manifest's sha256 and size: (its digest, the scan of a plain dump, whose
    entries are then known). BackupError saying what differs when it was altered or damaged since it was verified."""
    recorded = manifest["archive"]
    if not os.path.exists(path):
        raise BackupError("Cannot restore backup %s: its archive %s is missing. Nothing was changed."
                          % (manifest["backup_id"], path))
    scan = None
    if manifest["format"] == "plain":
        scan = scan_plain(path)
        digest = {"sha256": scan["sha256"], "size_bytes": scan["size_bytes"]}
    else:
        digest = archive_digest(path)
    problems = []
    if digest["size_bytes"] != recorded["size_bytes"]:
        problems.append("its size is %d bytes, the manifest says %d (%s)" % (
            digest["size_bytes"], recorded["size_bytes"],
            "truncated" if digest["size_bytes"] < recorded["size_bytes"] else "grown"))
    if digest["sha256"] != recorded["sha256"]:
        problems.append("its sha256 is %s, the manifest says %s" % (digest["sha256"], recorded["sha256"]))
        for name, info in sorted((recorded.get("files") or {}).items()):
            if (digest.get("files") or {}).get(name) != info:
                problems.append("file %s differs or is missing" % name)
    if problems:
        raise BackupError("Cannot restore backup %s: the archive %s does not match its manifest: %s. It was altered "
                          "or damaged after it was verified; restore another backup. Nothing was changed."
                          % (manifest["backup_id"], path, "; ".join(problems)), {"archive": path})
    return digest, scan


# -- plain dumps -----------------------------------------------------------------------------


def _headers(buf: bytes, start: int, end: int, min_end: int, entries: list[tuple[str, str, str]]) -> None:
    """Append the pg_dump headers in ``buf`` whose newline is in [start, end) and that end after ``min_end``."""
    pos = buf.find(b"\n-- ", start, end)
    while pos != -1:
        match = _PLAIN_HEADER.match(buf, pos + 1)
        if match and match.end() > min_end:
            entries.append((match.group(2).decode(), match.group(3).decode("utf-8", "replace"),
                            match.group(1).decode("utf-8", "replace")))
        pos = buf.find(b"\n-- ", pos + 1, end)


def scan_plain(path: str) -> dict[str, Any]:
    """One pass over a plain dump: sha256, size, its entries (from pg_dump's headers), complete or not.

    The sha256 of each block runs in a second thread (hashlib releases the GIL) while this one looks
    for pg_dump's entry headers. Blocks are not joined (copying them costs as much as the search):
    a header cut by a block boundary is found in a small window across it.
    """
    digest = hashlib.sha256()
    size = 0
    entries: list[tuple[str, str, str]] = []
    previous = b"\n"  # the file starts as if after a newline
    tail = b""
    for block in hashed_blocks(path, digest):
        size += len(block)
        edge = previous[-_HEADER_MAX:]
        window = edge + block[:_HEADER_MAX]
        _headers(window, 0, len(edge) + 3, len(edge), entries)  # headers across the boundary
        _headers(block, 0, len(block), 0, entries)  # headers inside the block
        previous = _last(previous, block, _HEADER_MAX)
        tail = _last(tail, block, 4096)
    return {"sha256": digest.hexdigest(), "size_bytes": size, "entries": entries,
            "complete": _PLAIN_COMPLETE in tail}


def _last(before: bytes, block: bytes, count: int) -> bytes:
    """The last ``count`` bytes of ``before + block``, without copying a large block."""
    return block[-count:] if len(block) >= count else (before + block)[-count:]


# -- entries -----------------------------------------------------------------------------------


def expected_entries(scope: str, tables: list[TableInfo]) -> list[tuple[str, str, str]]:
    """The table entries an archive of ``scope`` over ``tables`` must hold."""
    expected = []
    for table in tables:
        if scope in ("full", "schema-only"):
            expected.append(("TABLE", table.schema, table.name))
        if scope in ("full", "data-only") and table.has_data:
            expected.append(("TABLE DATA", table.schema, table.name))
    return expected


def archive_entries(client: Client, env: dict[str, str], fmt: str, path: str, plain_scan: dict[str, Any] | None,
                    secret: str, operation: str) -> tuple[list[Any], Callable[[str, str, str], bool]]:
    """The archive's entries and a membership test; ``pg_restore --list`` for custom/directory. Failures name
    ``operation`` ("verify the backup of x", "restore backup y")."""
    if fmt == "plain":
        scan = plain_scan or scan_plain(path)
        present = set(scan["entries"])
        return scan["entries"], lambda desc, schema, name: (desc, schema, name) in present
    result, _warnings = run_checked(client, list_argv(client, path), env,
                                    "Cannot %s: pg_restore --list %s" % (operation, path), secret, timeout=600)
    entries = parse_toc(result.stdout)
    if not entries:
        raise BackupError("Cannot %s: pg_restore --list found no entries in %s: the archive is empty or unreadable."
                          % (operation, path))
    return entries, lambda desc, schema, name: toc_has(entries, desc, schema, name) is not None


def verify_entries(has: Callable[[str, str, str], bool], expected: list[tuple[str, str, str]], path: str,
                   operation: str = "verify the backup") -> None:
    missing = ["%s %s.%s" % e for e in expected if not has(*e)]
    if missing:
        raise BackupError("Cannot %s: the archive %s lacks %d of the %d table entries it must hold: %s."
                          % (operation, path, len(missing), len(expected), ", ".join(missing[:20])),
                          {"missing_entries": missing})


def verify_directory_files(entries: list[Any], path: str, operation: str = "verify the backup") -> None:
    """Each TABLE DATA entry of a directory archive has its data file."""
    names = set(os.listdir(path))
    if "toc.dat" not in names:
        raise BackupError("Cannot %s: the directory archive %s has no toc.dat." % (operation, path))
    missing = []
    for entry in entries:
        if entry.rest.startswith("TABLE DATA "):
            prefix = "%d.dat" % entry.dump_id
            if not any(n == prefix or n.startswith(prefix + ".") for n in names):
                missing.append("%s (%s)" % (prefix, entry.rest))
    if missing:
        raise BackupError("Cannot %s: the directory archive %s lacks data files: %s."
                          % (operation, path, ", ".join(missing[:20])))
