# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_report.copy_to_controller: the report files the module returned, written on the controller and checked."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._report import copy_to_controller
from ansible_collections.knowledgehub.migration.plugins.module_utils._report_store import ReportError


def entry(name: str, text: str, sha256: str | None = None) -> dict:
    return {"path": "/var/backups/knowledgehub-reports/" + name, "text": text,
            "sha256": sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()}


def test_the_copies_are_private_and_exact(tmp_path):
    target = tmp_path / "reports" / "staging"
    text = "# Migration Log\n\nDatabase größe: 1.4 GiB\n"
    copies = copy_to_controller(str(target), {"markdown": entry("r.md", text), "json": entry("r.json", "{}\n")})
    assert copies == {"markdown": str(target / "r.md"), "json": str(target / "r.json")}
    assert (target / "r.md").read_bytes() == text.encode("utf-8")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in copies.values())


def test_a_copy_that_differs_from_the_host_file_is_an_error(tmp_path):
    with pytest.raises(ReportError) as caught:
        copy_to_controller(str(tmp_path), {"json": entry("r.json", "{}\n", sha256="0" * 64)})
    assert "differs from /var/backups/knowledgehub-reports/r.json on the host" in caught.value.message


def test_a_directory_that_cannot_be_made_is_an_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ReportError) as caught:
        copy_to_controller(str(tmp_path / "file" / "staging"), {"json": entry("r.json", "{}\n")})
    assert str(tmp_path / "file") in caught.value.message
