# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is inside an archive: pg_restore's table of contents, the entries of a plain dump (read in blocks), the
entries a backup must hold, a directory archive's files and digest."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils import _archive, _backup_store, _catalog


def test_toc_parsing():
    listing = (";\n; Archive created at 2026-11-24\n;\n5; 2615 2200 SCHEMA - public knowledgehub\n"
               "220; 1259 16431 TABLE public chunks knowledgehub\n"
               "3470; 0 16431 TABLE DATA public chunks knowledgehub\n"
               "3471; 0 16500 TABLE DATA my schema odd name knowledgehub\n"
               "3500; 0 0 SEQUENCE SET public chunks_id_seq knowledgehub\n")
    entries = _archive.parse_toc(listing)
    assert [e.dump_id for e in entries] == [5, 220, 3470, 3471, 3500]
    assert _archive.toc_has(entries, "TABLE DATA", "public", "chunks").dump_id == 3470
    assert _archive.toc_has(entries, "TABLE", "public", "chunks").dump_id == 220
    assert _archive.toc_has(entries, "TABLE DATA", "my schema", "odd name").dump_id == 3471
    assert _archive.toc_has(entries, "TABLE DATA", "public", "chunk") is None
    assert _archive.toc_has(entries, "TABLE", "public", "chunks_id_seq") is None


PLAIN = (b"--\n-- PostgreSQL database dump\n--\n\n"
         b"--\n-- Name: chunks; Type: TABLE; Schema: public; Owner: knowledgehub\n--\n\nCREATE TABLE public.chunks ();\n"
         b"--\n-- Data for Name: chunks; Type: TABLE DATA; Schema: public; Owner: knowledgehub\n--\n\n"
         b"COPY public.chunks (id) FROM stdin;\n" + b"".join(b"%d\n" % i for i in range(5000)) + b"\\.\n\n"
         b"--\n-- Name: chunks_id_seq; Type: SEQUENCE SET; Schema: public; Owner: knowledgehub\n--\n\n"
         b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n")


@pytest.mark.parametrize("block", [7, 64, 8 * 1024 * 1024])
def test_plain_scan_finds_entries_across_block_boundaries(tmp_path, monkeypatch, block):
    monkeypatch.setattr(_archive, "_BLOCK", block)
    path = tmp_path / "x.sql"
    path.write_bytes(PLAIN)
    scan = _archive.scan_plain(str(path))
    assert scan["entries"] == [("TABLE", "public", "chunks"), ("TABLE DATA", "public", "chunks"),
                               ("SEQUENCE SET", "public", "chunks_id_seq")]
    assert scan["sha256"] == hashlib.sha256(PLAIN).hexdigest() and scan["size_bytes"] == len(PLAIN)
    assert scan["complete"] is True
    path.write_bytes(PLAIN[:len(PLAIN) // 2])
    assert _archive.scan_plain(str(path))["complete"] is False


def test_plain_scan_with_every_block_boundary(tmp_path, monkeypatch):
    path = tmp_path / "x.sql"
    path.write_bytes(PLAIN[:200] + PLAIN[-400:])
    expected = [("TABLE", "public", "chunks"), ("SEQUENCE SET", "public", "chunks_id_seq")]
    for block in range(1, 620):
        monkeypatch.setattr(_archive, "_BLOCK", block)
        scan = _archive.scan_plain(str(path))
        assert (scan["entries"], scan["complete"]) == (expected, True), block


def test_expected_entries_follow_the_scope():
    tables = [_catalog.TableInfo(1, "public", "chunks", "r", 10), _catalog.TableInfo(2, "public", "events", "p", 0)]
    assert _archive.expected_entries("full", tables) == [
        ("TABLE", "public", "chunks"), ("TABLE DATA", "public", "chunks"), ("TABLE", "public", "events")]
    assert _archive.expected_entries("data-only", tables) == [("TABLE DATA", "public", "chunks")]
    assert _archive.expected_entries("schema-only", tables) == [
        ("TABLE", "public", "chunks"), ("TABLE", "public", "events")]
    with pytest.raises(_backup_store.BackupError, match="lacks 1 of the 2 table entries it must hold: TABLE DATA public.x"):
        _archive.verify_entries(lambda d, s, n: n != "x", [("TABLE", "public", "x"), ("TABLE DATA", "public", "x")][1:]
                                + [("TABLE", "public", "y")], "/b/a.dump")


def test_directory_digest_and_private_modes(tmp_path):
    archive = tmp_path / "a.dir"
    archive.mkdir()
    (archive / "toc.dat").write_bytes(b"toc")
    (archive / "3470.dat.gz").write_bytes(b"data")
    os.chmod(archive / "toc.dat", 0o644)
    _backup_store.make_private(str(archive))
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(archive / "toc.dat").st_mode) == 0o600
    digest = _archive.archive_digest(str(archive))
    assert digest["size_bytes"] == 7 and set(digest["files"]) == {"toc.dat", "3470.dat.gz"}
    listing = "%s  3470.dat.gz\n%s  toc.dat\n" % (hashlib.sha256(b"data").hexdigest(), hashlib.sha256(b"toc").hexdigest())
    assert digest["sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    entries = [type("E", (), {"rest": "TABLE DATA public chunks kh", "dump_id": 3470})(),
               type("E", (), {"rest": "TABLE DATA public documents kh", "dump_id": 3471})()]
    with pytest.raises(_backup_store.BackupError, match="lacks data files: 3471.dat"):
        _archive.verify_directory_files(entries, str(archive))
