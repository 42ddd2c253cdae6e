# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: archives and manifests handed to compose_restore that would write outside where they belong.

A hostile archive comes with a manifest that matches it (sha256, size, the files it lists): the integrity
check passes, so only the member checks stand between it and the file system. Every member must be a plain
relative path, a file, a directory or a link; a link must lead inside the tree, also through the archive's
other links; nothing may be written through a link, and only into the project directory. Anything else is
refused naming the member, before anything is written. And a configuration restore killed while it writes is
finished by the next run, each file whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import tarfile
import time

import pytest

from support.modules import failed, ok, run_module, start_module


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "srv" / "knowledgehub"
    (root / "config").mkdir(parents=True)
    (root / "compose.yml").write_text("services: {}\n")
    (root / ".env").write_text("POSTGRES_PASSWORD=kept-out-of-output\n")
    (root / "config" / "api.yml").write_text("search: {}\n")
    return root


@pytest.fixture
def victim(tmp_path):
    """What a hostile archive aims at, outside the project."""
    path = tmp_path / "victim"
    path.mkdir()
    (path / "precious").write_text("keep me")
    return path


def snapshot(*roots):
    found = {}
    for root in roots:
        for base, dirs, files in os.walk(root):
            for name in sorted(dirs + files):
                path = os.path.join(base, name)
                found[path] = os.readlink(path) if os.path.islink(path) else (
                    open(path, "rb").read() if os.path.isfile(path) else "dir")
    return found


def config_backup(project, backup_dir) -> dict:
    return ok(run_module("compose_backup", dict(backup_dir=str(backup_dir), project_dir=str(project), label="kh",
                                                paths=["compose.yml", ".env", "config"])))


def hostile(made, members, backup_id="kh-config_29991231T000000Z", **manifest_changes) -> str:
    """A copy of ``made`` with ``members`` added ((name, type, extra)), under a manifest that matches it."""
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    archive = os.path.join(os.path.dirname(made["manifest"]), backup_id + ".tar.gz")
    files = dict(manifest["files"])
    with tarfile.open(made["path"]) as source, tarfile.open(archive, "w:gz") as out:
        for member in source:
            out.addfile(member, source.extractfile(member) if member.isreg() else None)
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = extra.encode()
                info.size = len(data)
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            else:
                info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "lnk": tarfile.LNKTYPE,
                             "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
                info.linkname = extra or ""
            out.addfile(info, io.BytesIO(data) if data is not None else None)
    with open(archive, "rb") as handle:
        data = handle.read()
    manifest.update(backup_id=backup_id, files=files, **manifest_changes)
    manifest["archive"].update(name=os.path.basename(archive), sha256=hashlib.sha256(data).hexdigest(),
                               size_bytes=len(data))
    path = os.path.join(os.path.dirname(made["manifest"]), backup_id + ".manifest.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    return path


def restore(manifest, project, **options):
    return run_module("compose_restore", dict(manifest=manifest, project_dir=str(project), **options))


@pytest.mark.parametrize("members, said", [
    ([("ABSOLUTE/precious", "file", "overwritten")], "not a plain relative path"),
    ([("../../victim/precious", "file", "overwritten")], "not a plain relative path"),
    ([("config/out", "sym", "ABSOLUTE")], "absolute path"),
    ([("config/out", "sym", "../../../victim")], "leads outside"),
    ([("config/out", "sym", "ABSOLUTE"), ("config/out/precious", "file", "overwritten")], "a link in the archive"),
    ([("config/here", "sym", "."), ("config/here/api.yml", "file", "overwritten")], "a link in the archive"),
    ([("config/a", "dir", None), ("config/a/up", "sym", "../.."), ("config/m", "sym", "a/up/../victim")],
     "leads outside"),
    ([("config/passwd", "lnk", "/etc/passwd")], "hard link"),
    ([("config/null", "chr", None)], "is a device"),
    ([("config/pipe", "fifo", None)], "is a fifo"),
    ([("config/new\nline", "file", "x")], "not a plain relative path"),
])
def test_a_hostile_member_is_refused_before_anything_is_written(tmp_path, project, victim, members, said):
    made = config_backup(project, tmp_path / "backups")
    members = [(n.replace("ABSOLUTE", str(victim)), k, (e or "").replace("ABSOLUTE", str(victim)) or e)
               for n, k, e in members]
    (project / "config" / "api.yml").write_text("changed\n")
    before = snapshot(project, victim)
    result = restore(hostile(made, members), project)
    msg = failed(result)
    assert said in msg and "never restored" in msg and "Nothing was changed" in msg
    assert snapshot(project, victim) == before
    assert "kept-out-of-output" not in result["_stdout"] + result["_stderr"]


def test_a_manifest_that_claims_a_path_outside_the_project_is_refused(tmp_path, project, victim):
    made = config_backup(project, tmp_path / "backups")
    before = snapshot(project, victim)
    name = str(victim / "precious").lstrip("/")
    manifest = hostile(made, [(name, "file", "overwritten")],
                       paths=[str(project / "compose.yml"), str(victim / "precious")])
    msg = failed(restore(manifest, project))
    assert "backed up from outside the project directory" in msg and str(victim / "precious") in msg
    assert snapshot(project, victim) == before


def test_an_archive_name_leading_out_of_the_backup_dir_is_never_followed(tmp_path, project):
    made = config_backup(project, tmp_path / "backups")
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    os.rename(made["path"], tmp_path / "outside.tar.gz")
    manifest["archive"]["name"] = "../outside.tar.gz"
    with open(made["manifest"], "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    msg = failed(restore(made["manifest"], project))
    assert "archive.name" in msg and "never followed" in msg


def test_a_database_dump_manifest_is_refused_by_kind(tmp_path, project):
    made = config_backup(project, tmp_path / "backups")
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    manifest.update(kind="dump", scope="full", database={"name": "knowledgehub"}, row_counts={}, verification={})
    with open(made["manifest"], "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    msg = failed(restore(made["manifest"], project))
    assert "restore it with knowledgehub.migration.pg_restore" in msg
    msg = failed(run_module("compose_restore", dict(backup_dir=str(tmp_path / "backups"), label="kh", kind="config",
                                                    project_dir=str(project))))
    assert "No verified config archive labelled kh" in msg


def test_a_config_restore_killed_while_it_writes_is_finished_by_the_next_run(tmp_path, project):
    big = project / "config" / "big.bin"
    big.write_bytes(b"\0" * (400 * 1024 * 1024))  # long enough to be caught while it is written back
    made = config_backup(project, tmp_path / "backups")
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    big.write_bytes(b"changed")
    proc = start_module("compose_restore", dict(manifest=made["manifest"], project_dir=str(project)))
    try:
        deadline = time.monotonic() + 120
        while not [n for n in os.listdir(project / "config") if n.startswith(".big.bin.kh-restore-")]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert big.read_bytes() == b"changed"  # the file being written is whole: the old one
    rerun = ok(restore(made["manifest"], project))
    settled = rerun["settled"][0]
    assert settled["kind"] == "config" and settled["temporary_files"] and settled["step"] == "writing"
    assert not [n for n in os.listdir(project / "config") if ".kh-restore-" in n]
    assert os.path.getsize(big) == 400 * 1024 * 1024 and (project / ".env").read_text().endswith("kept-out-of-output\n")
    kept = [n for n in os.listdir(project / "config") if n.startswith("big.bin.pre-restore-")]
    assert len(kept) == 1 and (project / "config" / kept[0]).read_bytes() == b"changed"
