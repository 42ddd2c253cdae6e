# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What compose_restore checks before anything is touched: member names and links, the journal, the services
stopped with the database, the volume's inspection (pure parts, on real tar files)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import dependents, healthchecked, is_ready
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_checks import (
    RestoreError,
    journal_problems,
    link_problem,
    new_token,
    read_journal,
    resolve,
    safe_name,
    scan_members,
    write_journal,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_volume import parse_inspect


@pytest.mark.parametrize("name, expected", [
    ("./PG_VERSION", "PG_VERSION"), ("./", ""), (".", ""), ("base/1/123", "base/1/123"), ("a//b/./c", "a/b/c"),
    (".env", ".env"), ("/etc/passwd", None), ("../x", None), ("a/../../x", None), ("a/..", None),
    ("a\nb", None), ("a\\b", None), ("a\x00b", None), ("", None),
])
def test_member_names_are_plain_relative_paths(name, expected):
    assert safe_name(name) == expected


def test_links_are_followed_through_the_archives_own_links():
    links = {"a/b/l": "../..", "deep": "a/b/c"}
    assert resolve("a/b/x", {}) == "a/b/x"
    assert resolve("deep/../../..", links) == ""  # deep is a/b/c: three levels up is the root, still inside
    assert resolve("a/b/l/..", links) is None  # l is the root; its parent is outside, lexically it looked inside
    assert resolve("a/b/l/x", links) == "x"
    assert resolve("loop", {"loop": "loop"}) is None
    assert link_problem("config/current.yml", "api.yml", {}) is None
    assert link_problem("config/shared", "../shared", {}) is None
    assert "absolute" in link_problem("pg_tblspc/16385", "/mnt/ts", {})
    assert "outside" in link_problem("m", "a/b/l/../x", links)
    assert "outside" in link_problem("config/x", "../../etc", {})


def tar_with(path, *members, gz=True):
    """A tar file of ``members``: (name, type, extra) with type file/dir/sym/lnk/chr/fifo."""
    with tarfile.open(str(path), "w:gz" if gz else "w") as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = extra.encode() if isinstance(extra, str) else (extra or b"")
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "lnk":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


def test_a_sound_volume_archive_is_scanned_with_its_pg_version(tmp_path):
    path = tar_with(tmp_path / "v.tar.gz", ("./", "dir", None), ("./PG_VERSION", "file", "15\n"),
                    ("./base", "dir", None), ("./base/1", "file", "x" * 100), ("./base/2", "lnk", "./base/1"),
                    ("./.hidden", "file", ""))
    scan = scan_members(path, "volume")
    assert scan["pg_version"] == "15" and scan["entries"] == 6 and scan["bytes"] == 3 + 100
    assert scan["members"]["base/2"]["hardlink"] == "base/1"


@pytest.mark.parametrize("member, said", [
    (("/etc/cron.d/x", "file", "boom"), "not a plain relative path"),
    (("../outside", "file", "boom"), "not a plain relative path"),
    (("./base/../../x", "file", "boom"), "not a plain relative path"),
    (("./evil", "sym", "/etc"), "absolute path /etc"),
    (("./evil", "sym", "../../etc"), "leads outside"),
    (("./dev", "chr", None), "is a device"),
    (("./pipe", "fifo", None), "is a fifo"),
    (("./hard", "lnk", "/etc/passwd"), "hard link"),
    (("./hard", "lnk", "nothing/before"), "hard link"),
    (("./.kh-pre-restore-20261125T031500Z/PG_VERSION", "file", "15"), "keeps for its own entries"),
    (("./bad\nname", "file", ""), "not a plain relative path"),
])
def test_a_hostile_member_is_refused_naming_it(tmp_path, member, said):
    path = tar_with(tmp_path / "v.tar.gz", ("./", "dir", None), ("./PG_VERSION", "file", "15\n"), member)
    with pytest.raises(RestoreError, match="never restored") as caught:
        scan_members(path, "volume")
    assert said in caught.value.message and "Nothing was changed" in caught.value.message


def test_a_member_under_a_link_member_is_refused(tmp_path):
    # A link inside the tree that a later member writes through; the link alone would pass.
    path = tar_with(tmp_path / "c.tar.gz", ("config", "dir", None), ("config/to_etc", "sym", "."),
                    ("config/to_etc/passwd", "file", "x"))
    with pytest.raises(RestoreError, match=r"config/to_etc/passwd is under config/to_etc, a link"):
        scan_members(path, "config", {"config/to_etc/passwd": {"sha256": "", "size": 1}})


def test_a_chain_of_links_that_leads_out_is_refused(tmp_path):
    path = tar_with(tmp_path / "c.tar.gz", ("a/b", "dir", None), ("a/b/l", "sym", "../.."), ("m", "sym", "a/b/l/../x"))
    with pytest.raises(RestoreError, match=r"m is a link to a/b/l/\.\./x, which leads outside"):
        scan_members(path, "config", {})


def test_config_members_must_be_what_the_manifest_lists(tmp_path):
    path = tar_with(tmp_path / "c.tar.gz", ("compose.yml", "file", "services: {}\n"))
    scan = scan_members(path, "config", {"compose.yml": {"sha256": _sha(b"services: {}\n"), "size": 13}})
    assert scan["members"]["compose.yml"]["type"] == "file"
    with pytest.raises(RestoreError, match="compose.yml differs from what the manifest lists"):
        scan_members(path, "config", {"compose.yml": {"sha256": "0" * 64, "size": 13}})
    with pytest.raises(RestoreError, match=r"\.env is listed in the manifest but missing"):
        scan_members(path, "config", {"compose.yml": {"sha256": _sha(b"services: {}\n"), "size": 13},
                                      ".env": {"sha256": "0" * 64, "size": 1}})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_truncated_archive_cannot_be_read(tmp_path):
    path = tar_with(tmp_path / "v.tar.gz", ("./PG_VERSION", "file", "15\n"), ("./big", "file", "y" * 200000))
    with open(path, "r+b") as handle:
        handle.truncate(200)
    with pytest.raises(RestoreError, match="Cannot read the archive"):
        scan_members(path, "volume")


def test_the_journal_is_checked_before_it_is_trusted(tmp_path):
    good = {"kind": "volume", "token": "20261125T031500Z", "project_dir": "/srv/kh", "backup_id": "x", "step": "",
            "service": "db", "volume": {"volume": "postgres_data"}, "others": ["api"], "running": ["api", "db"]}
    assert journal_problems(good) == []
    assert journal_problems(dict(good, token="../../x"))
    assert journal_problems(dict(good, others="api; rm -rf /"))
    assert journal_problems(dict(good, kind="dump"))
    assert journal_problems({"kind": "config", "token": "20261125T031500Z", "project_dir": "/p", "backup_id": "x",
                             "step": "writing", "changes": [{"path": "relative"}]})
    write_journal(str(tmp_path), dict(good), "swapping")
    assert read_journal(str(tmp_path))["step"] == "swapping"
    (tmp_path / "compose-restore.journal.json").write_text(json.dumps(dict(good, token="x")))
    with pytest.raises(RestoreError, match="not one this tool wrote"):
        read_journal(str(tmp_path))
    (tmp_path / "compose-restore.journal.json").write_text("{")
    with pytest.raises(RestoreError, match="cannot be read"):
        read_journal(str(tmp_path))
    assert read_journal(str(tmp_path / "none")) is None


def test_tokens_do_not_collide():
    first = new_token([])
    assert new_token([".kh-pre-restore-" + first]) != first


def test_the_services_stopped_with_the_database_are_its_dependents_farthest_first():
    config = {"services": {
        "db": {"volumes": [{"type": "volume", "source": "postgres_data", "target": "/var/lib/postgresql/data"}]},
        "api": {"depends_on": {"db": {"condition": "service_healthy"}}},
        "worker": {"depends_on": ["api"]},
        "backup": {"volumes": [{"type": "volume", "source": "postgres_data", "target": "/data"}]},
        "web": {"depends_on": {"static": {}}}, "static": {},
        "a": {"depends_on": ["b"]}, "b": {"depends_on": ["a", "db"]}}}
    order = dependents(config, "db", "postgres_data")
    assert set(order) == {"api", "worker", "backup", "a", "b"}
    assert order.index("worker") < order.index("api")  # a cycle (a, b) ends, both stopped
    assert dependents({"services": {"db": {}, "api": {"depends_on": {"db": {}}}}}, "db") == ["api"]


def test_the_volume_inspection_is_parsed():
    out = ("/dev/vda  264212084 41554820 64836092      40% /var/lib/postgresql/data\npg_version=15\n"
           "own=.kh-pre-restore-20261125T031500Z\nown=.kh-restore.lock\n")
    assert parse_inspect(out) == {"free_bytes": 64836092 * 1024, "pg_version": "15",
                                  "own": [".kh-pre-restore-20261125T031500Z", ".kh-restore.lock"]}
    assert parse_inspect("overlay 1 1 1 1% /\npg_version=\n")["pg_version"] is None


def test_a_service_known_to_have_a_healthcheck_is_ready_only_when_healthy():
    # A container just restarted by its restart policy (a server crashing on a restored volume) shows no health
    # yet: for a service with a healthcheck that is not ready.
    assert is_ready({"state": "running", "health": ""}) and not is_ready({"state": "running", "health": ""}, True)
    assert is_ready({"state": "running", "health": "healthy"}, True)
    assert not is_ready({"state": "running", "health": "starting"}, True)
    config = {"services": {"db": {"healthcheck": {"test": ["CMD", "pg_isready"]}}, "api": {},
                           "off": {"healthcheck": {"disable": True}}, "none": {"healthcheck": {"test": ["NONE"]}}}}
    assert healthchecked(config) == ["db"]
