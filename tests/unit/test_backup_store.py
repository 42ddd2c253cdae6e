# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_backup and _restore without a database: estimates, checksums, plain dump scans, manifests, retention."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _backup, _restore

NOW = datetime.datetime(2026, 11, 24, 21, 33, 0, tzinfo=datetime.timezone.utc)


def test_estimate_by_compression_and_scope():
    gib = 1024 ** 3
    assert _backup.estimate_size(gib, 7, "full", "none") == int(gib * 1.8) + 1024 * 1024 + 7 * 4096
    assert _backup.estimate_size(gib, 7, "full", "gzip:1") == int(gib * 0.8) + 1024 * 1024 + 7 * 4096
    assert _backup.estimate_size(gib, 7, "schema-only", "gzip:1") == 1024 * 1024 + 7 * 4096


def test_space_verdict_reports_the_numbers(tmp_path):
    verdict = _backup.space_verdict(str(tmp_path / "not" / "yet"), 1000)
    assert verdict["filesystem_path"] == str(tmp_path)
    assert verdict["required_free_bytes"] == 1000 + 16 * 1024 * 1024
    assert verdict["ok"] is (verdict["free_bytes"] >= verdict["required_free_bytes"])
    huge = _backup.space_verdict(str(tmp_path), 10 ** 18)
    assert huge["ok"] is False and "needs" in huge["summary"] and "free on %s" % tmp_path in huge["summary"]


PLAIN = (b"--\n-- PostgreSQL database dump\n--\n\n"
         b"--\n-- Name: chunks; Type: TABLE; Schema: public; Owner: knowledgehub\n--\n\nCREATE TABLE public.chunks ();\n"
         b"--\n-- Data for Name: chunks; Type: TABLE DATA; Schema: public; Owner: knowledgehub\n--\n\n"
         b"COPY public.chunks (id) FROM stdin;\n" + b"".join(b"%d\n" % i for i in range(5000)) + b"\\.\n\n"
         b"--\n-- Name: chunks_id_seq; Type: SEQUENCE SET; Schema: public; Owner: knowledgehub\n--\n\n"
         b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n")


@pytest.mark.parametrize("block", [7, 64, 8 * 1024 * 1024])
def test_plain_scan_finds_entries_across_block_boundaries(tmp_path, monkeypatch, block):
    monkeypatch.setattr(_backup, "_BLOCK", block)
    path = tmp_path / "x.sql"
    path.write_bytes(PLAIN)
    scan = _backup.scan_plain(str(path))
    assert scan["entries"] == [("TABLE", "public", "chunks"), ("TABLE DATA", "public", "chunks"),
                               ("SEQUENCE SET", "public", "chunks_id_seq")]
    assert scan["sha256"] == hashlib.sha256(PLAIN).hexdigest() and scan["size_bytes"] == len(PLAIN)
    assert scan["complete"] is True
    path.write_bytes(PLAIN[:len(PLAIN) // 2])
    assert _backup.scan_plain(str(path))["complete"] is False


def test_plain_scan_with_every_block_boundary(tmp_path, monkeypatch):
    path = tmp_path / "x.sql"
    path.write_bytes(PLAIN[:200] + PLAIN[-400:])
    expected = [("TABLE", "public", "chunks"), ("SEQUENCE SET", "public", "chunks_id_seq")]
    for block in range(1, 620):
        monkeypatch.setattr(_backup, "_BLOCK", block)
        scan = _backup.scan_plain(str(path))
        assert (scan["entries"], scan["complete"]) == (expected, True), block


def test_expected_entries_follow_the_scope():
    tables = [_backup.TableInfo(1, "public", "chunks", "r", 10), _backup.TableInfo(2, "public", "events", "p", 0)]
    assert _backup.expected_entries("full", tables) == [
        ("TABLE", "public", "chunks"), ("TABLE DATA", "public", "chunks"), ("TABLE", "public", "events")]
    assert _backup.expected_entries("data-only", tables) == [("TABLE DATA", "public", "chunks")]
    assert _backup.expected_entries("schema-only", tables) == [
        ("TABLE", "public", "chunks"), ("TABLE", "public", "events")]
    with pytest.raises(_backup.BackupError, match="lacks 1 of the 2 table entries it must hold: TABLE DATA public.x"):
        _backup.verify_entries(lambda d, s, n: n != "x", [("TABLE", "public", "x"), ("TABLE DATA", "public", "x")][1:]
                               + [("TABLE", "public", "y")], "/b/a.dump")


def test_directory_digest_and_private_modes(tmp_path):
    archive = tmp_path / "a.dir"
    archive.mkdir()
    (archive / "toc.dat").write_bytes(b"toc")
    (archive / "3470.dat.gz").write_bytes(b"data")
    os.chmod(archive / "toc.dat", 0o644)
    _backup.make_private(str(archive))
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(archive / "toc.dat").st_mode) == 0o600
    digest = _backup.archive_digest(str(archive))
    assert digest["size_bytes"] == 7 and set(digest["files"]) == {"toc.dat", "3470.dat.gz"}
    listing = "%s  3470.dat.gz\n%s  toc.dat\n" % (hashlib.sha256(b"data").hexdigest(), hashlib.sha256(b"toc").hexdigest())
    assert digest["sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    entries = [type("E", (), {"rest": "TABLE DATA public chunks kh", "dump_id": 3470})(),
               type("E", (), {"rest": "TABLE DATA public documents kh", "dump_id": 3471})()]
    with pytest.raises(_backup.BackupError, match="lacks data files: 3471.dat"):
        _backup.verify_directory_files(entries, str(archive))


def test_manifest_is_written_atomically_and_privately(tmp_path):
    path = str(tmp_path / "x.manifest.json")
    _backup.write_json_atomic(path, {"manifest_version": 1, "when": NOW})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert _backup.load_manifest(path)["when"] == "2026-11-24 21:33:00+00:00"
    assert os.listdir(str(tmp_path)) == ["x.manifest.json"]
    (tmp_path / "other.manifest.json").write_text('{"something": "else"}', encoding="utf-8")
    with pytest.raises(_backup.BackupError, match="is not a manifest of this collection"):
        _backup.load_manifest(str(tmp_path / "other.manifest.json"))


def test_backup_ids_never_collide(tmp_path):
    first = _backup.new_backup_id(str(tmp_path), "kh", NOW)
    assert first == "kh_20261124T213300Z"
    (tmp_path / (first + ".dump.partial")).write_bytes(b"")
    assert _backup.new_backup_id(str(tmp_path), "kh", NOW) == "kh_20261124T213300Z_2"
    with pytest.raises(_backup.BackupError, match="label="):
        _backup.check_label("../etc")


def make_backup(directory, label: str, minute: int, verified: bool = True, kind: str = "dump", consumed: bool = False):
    backup_id = "%s_202611242%d00Z" % (label, minute)
    archive = os.path.join(directory, backup_id + ".dump")
    with open(archive, "wb") as handle:
        handle.write(b"x")
    manifest = {"manifest_version": 1, "backup_id": backup_id, "label": label, "kind": kind, "verified": verified,
                "created_at": "2026-11-24T2%d:00:00+00:00" % minute, "archive": {"name": backup_id + ".dump"}}
    if consumed:
        manifest["consumed_at"] = "2026-11-25T00:00:00+00:00"
    with open(_backup.manifest_path(directory, backup_id), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    return backup_id


def test_retention_counts_only_good_backups_of_the_label_and_kind(tmp_path):
    directory = str(tmp_path)
    ids = [make_backup(directory, "kh", m) for m in (1, 2, 3, 4)]
    unverified = make_backup(directory, "kh", 5, verified=False)
    other = make_backup(directory, "other", 0)
    consumed = make_backup(directory, "kh", 0, consumed=True)
    clone = make_backup(directory, "kh", 6, kind="clone")
    assert [pm[1]["backup_id"] for pm in _backup.good_backups(directory, "kh", "dump")] == ids[::-1]
    removed = _backup.apply_retention(directory, "kh", "dump", 2)
    assert removed == [ids[1], ids[0]]
    left = sorted(os.listdir(directory))
    for backup_id in (ids[2], ids[3], unverified, other, consumed, clone):
        assert backup_id + ".dump" in left and backup_id + ".manifest.json" in left
    for backup_id in ids[:2]:
        assert backup_id + ".dump" not in left and backup_id + ".manifest.json" not in left
    assert _backup.apply_retention(directory, "kh", "dump", 0) == []
    dropped = []
    assert _backup.apply_retention(directory, "kh", "clone", 1, drop_clone=dropped.append) == []


def test_row_count_comparison_and_data_tables():
    assert _restore.compare_counts({"public.a": 3, "public.b": 1}, {"public.a": 3, "public.b": None}) == [
        "public.b: missing rows, the backup has 1"]
    assert _restore.compare_counts({"public.a": 3}, {"public.a": 2}) == ["public.a: 2 rows, the backup has 3"]
    manifest = {"verification": {"entries": [["TABLE", "public", "a"], ["TABLE DATA", "public", "a"]]},
                "row_counts": {"public.a": 1}}
    assert _restore.data_tables(manifest) == [("public", "a")]
    assert _restore.data_tables({"row_counts": {"s.t": 1}}) == [("s", "t")]
