# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is inside an archive: its table of contents and its files.

"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator

# pg_restore --list: "215; 1259 16390 TABLE public chunks knowledgehub"
_TOC_LINE = re.compile(r"^(\d+);\s+(\d+)\s+(\d+)\s+(.*)$")


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
