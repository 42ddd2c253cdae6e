# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compose_restore on real files, no engine: the configuration restore end to end, and the volume's in-volume
steps run by sh on a scratch directory standing for the volume, killed before each of their renames."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._files_backup import FilesBackup
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore import FilesRestore
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_checks import RestoreError
from ansible_collections.knowledgehub.migration.plugins.module_utils._files_restore_volume import SCRIPT


def run_job(job, check_mode=False):
    """The job as _module.execute runs it: its plan, applied unless in check mode."""
    try:
        plan = job.plan()
        return plan if check_mode else job.apply(plan)
    finally:
        job.close()


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "srv" / "knowledgehub"
    (root / "config" / "nested").mkdir(parents=True)
    (root / "compose.yml").write_text("services: {}\n")
    (root / ".env").write_text("POSTGRES_PASSWORD=s3cret-test-value\n")
    (root / "config" / "api.yml").write_text("search:\n  hybrid_weight: 0.6\n")
    (root / "config" / "nested" / "prompts.txt").write_text("x" * 100000)
    os.symlink("api.yml", root / "config" / "current.yml")
    os.chmod(root / ".env", 0o600)
    return root


@pytest.fixture
def made(tmp_path, project):
    """A configuration backup of the project, as compose_backup makes it."""
    return run_job(FilesBackup(dict(backup_dir=str(tmp_path / "backups"), label="kh", project_dir=str(project),
                                    paths=["compose.yml", ".env", "config"], compression="gzip", keep_last=0,
                                    check_free_space=True)))


def restore(made, project, check_mode=False, **extra):
    params = dict(manifest=made["manifest"], project_dir=str(project), label="kh", restart_services=[],
                  check_free_space=True, drop_previous=False, allow_other_project=False)
    params.update(extra)
    return run_job(FilesRestore(params, check_mode), check_mode)


def tree(root):
    """Every file and link under ``root``: {relative path: content or '-> target'}, with modes of files."""
    found = {}
    for base, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    found[rel] = (handle.read(), oct(os.stat(path).st_mode & 0o777))
    return found


def test_config_restore_puts_files_back_and_keeps_the_replaced_ones(made, project):
    original = tree(project)
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    (project / "config" / "api.yml").unlink()
    os.chmod(project / "compose.yml", 0o666)
    (project / "config" / "extra.yml").write_text("not in the backup\n")
    result = restore(made, project)
    replaced = sorted(result["files"]["replaced"])
    assert result["changed"] and replaced == [str(project / ".env"), str(project / "compose.yml")]
    assert result["files"]["created"] == [str(project / "config" / "api.yml")]
    kept = {k["path"]: k["kept"] for k in result["kept_files"]}
    assert open(kept[str(project / ".env")]).read() == "POSTGRES_PASSWORD=changed\n"
    now = tree(project)
    for name, value in original.items():
        assert now[name] == value, name
    assert now["config/extra.yml"][0] == b"not in the backup\n"  # what the archive does not hold is left alone
    assert not os.path.exists(result["journal"])
    assert not [n for n in now if ".kh-restore-" in n]  # no temporary file left
    again = restore(made, project)
    assert again["changed"] is False and not again["files"]["replaced"] and not again["files"]["created"]
    assert "s3cret-test-value" not in json.dumps(result)


def test_config_restore_in_check_mode_writes_nothing(made, project, tmp_path):
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    before = tree(project)
    listing = sorted(os.listdir(tmp_path / "backups"))
    result = restore(made, project, check_mode=True)
    assert result["changed"] is False and result["files"]["replaced"] == [str(project / ".env")]
    assert result["kept_files"][0]["kept"].startswith(str(project / ".env") + ".pre-restore-")
    assert tree(project) == before and sorted(os.listdir(tmp_path / "backups")) == listing


def test_drop_previous_removes_the_kept_files(made, project):
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    result = restore(made, project, drop_previous=True)
    assert result["dropped_previous"] and result["kept_files"] == []
    assert not [n for n in os.listdir(project) if ".pre-restore-" in n]


def test_paths_choose_what_is_put_back(made, project):
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    (project / "config" / "api.yml").write_text("changed\n")
    result = restore(made, project, paths=["config/api.yml"])
    assert result["files"]["replaced"] == [str(project / "config" / "api.yml")]
    assert (project / ".env").read_text() == "POSTGRES_PASSWORD=changed\n"
    with pytest.raises(RestoreError, match="select nothing"):
        restore(made, project, paths=["secrets.yml"])
    with pytest.raises(RestoreError, match="no '..'"):
        restore(made, project, paths=["../etc/passwd"])


def test_a_failure_midway_returns_every_file_already_put_back(made, project, tmp_path):
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    (project / "config" / "api.yml").write_text("changed\n")
    (project / "config" / "nested" / "prompts.txt").write_text("changed\n")
    before = tree(project)
    job = FilesRestore(dict(manifest=made["manifest"], project_dir=str(project), label="kh", restart_services=[]))
    try:
        plan = job.plan()
        shutil.rmtree(project / "config" / "nested")  # after the plan: the last file's directory is gone
        before.pop("config/nested/prompts.txt")
        with pytest.raises(RestoreError, match=r"failed: .*The 2 file\(s\) already put back were returned"):
            job.apply(plan)
    finally:
        job.close()
    assert tree(project) == before
    assert not os.path.exists(tmp_path / "backups" / "compose-restore.journal.json")


def test_a_link_on_the_way_out_of_the_project_is_refused(made, project, tmp_path):
    one_file = run_job(FilesBackup(dict(backup_dir=str(tmp_path / "b2"), label="kh", project_dir=str(project),
                                        paths=["config/api.yml"], compression="gzip")))  # no member for config/
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.rmtree(project / "config")
    os.symlink(str(outside), project / "config")
    with pytest.raises(RestoreError, match="config: it is not a directory") as caught:
        restore(made, project)
    assert "Nothing was changed" in caught.value.message and os.listdir(outside) == []
    with pytest.raises(RestoreError, match=r"config/api\.yml: a link on the way leads out of the project"):
        restore(one_file, project)
    assert os.listdir(outside) == []


def test_a_path_backed_up_from_outside_the_project_is_not_put_back(tmp_path, project):
    other = tmp_path / "etc-kh"
    other.mkdir()
    (other / "x.yml").write_text("x\n")
    made = run_job(FilesBackup(dict(backup_dir=str(tmp_path / "b2"), label="kh", project_dir=str(project),
                                    paths=["compose.yml", str(other)], compression="none")))
    with pytest.raises(RestoreError, match="backed up from outside the project directory"):
        restore(made, project)
    assert restore(made, project, paths=["compose.yml"])["files"]["unchanged"] == [str(project / "compose.yml")]


def test_another_projects_backup_is_refused_unless_allowed(made, project, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(project, other, symlinks=True)
    with pytest.raises(RestoreError, match="not of this compose project: project_dir is"):
        restore(made, other)
    result = restore(made, other, allow_other_project=True)
    assert result["project"]["override"] and any("another project" in w for w in result["warnings"])


def test_a_manifest_of_another_kind_is_refused(made, project, tmp_path):
    with pytest.raises(RestoreError, match="of a config archive, not of a volume one"):
        restore(made, project, kind="volume")
    dump = tmp_path / "backups" / "kh_20261125T031500Z.manifest.json"
    with open(made["manifest"], encoding="utf-8") as handle:
        data = json.load(handle)
    data.update(kind="dump", backup_id=dump.name.split(".")[0], scope="full", database={"name": "kh"},
                row_counts={}, verification={})
    dump.write_text(json.dumps(data))
    with pytest.raises(RestoreError, match="restore it with knowledgehub.migration.pg_restore"):
        restore(dict(made, manifest=str(dump)), project)


def test_a_second_run_while_one_holds_the_lock_fails_at_once(made, project):
    first = FilesRestore(dict(manifest=made["manifest"], project_dir=str(project), label="kh"))
    try:
        first.plan()
        with pytest.raises(RestoreError, match=r"Another compose_restore run \(pid %d\)" % os.getpid()):
            restore(made, project)
    finally:
        first.close()
    assert restore(made, project)["changed"] is False


# -- the in-volume steps, on a scratch directory ------------------------------------------------------------

OLD = {"PG_VERSION": "15\n", "global/pg_control": "old control", "base/1/1259": "old catalog",
       "postgresql.conf": "old conf", ".hidden": "old hidden"}
NEW = {"PG_VERSION": "15\n", "global/pg_control": "new control", "base/1/1259": "new catalog",
       "base/2/16384": "new table", "pg_hba.conf": "new hba"}
TOKEN = "20261125T031500Z"


def fill(root, files):
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def content(root):
    """The files at the volume's top, without this tool's own entries."""
    found = {}
    for base, dirs, files in os.walk(root):
        if base == str(root):
            dirs[:] = [d for d in dirs if not d.startswith(".kh-")]
        for name in files:
            rel = os.path.relpath(os.path.join(base, name), root)
            if not rel.startswith(".kh-"):
                with open(os.path.join(base, name), encoding="utf-8") as handle:
                    found[rel] = handle.read()
    return found


def step(root, mode, kill_after=None, stdin=None, gz=False, bindir=None):
    """One step of the script; with ``kill_after``, the script is SIGKILLed before its (kill_after+1)-th rename."""
    env = dict(os.environ)
    if kill_after is not None:
        env.update(PATH="%s:%s" % (bindir, env["PATH"]), KH_MOVES=str(kill_after), KH_COUNT=str(bindir / "count"))
        (bindir / "count").write_text("0")
    return subprocess.run(["sh", "-c", SCRIPT, "kh-restore", mode, str(root), TOKEN] + (["z"] if gz else []),
                          stdin=stdin, capture_output=True, text=True, env=env, check=False, timeout=60)


@pytest.fixture
def killer(tmp_path):
    """A bin directory whose mv counts the renames and kills the script (kill -9 of its shell) before one."""
    bindir = tmp_path / "killer"
    bindir.mkdir()
    (bindir / "mv").write_text('#!/bin/sh\nn=$(($(cat "$KH_COUNT") + 1)); echo "$n" > "$KH_COUNT"\n'
                               'if [ "$n" -gt "$KH_MOVES" ]; then kill -9 "$PPID"; exit 137; fi\n'
                               'exec %s "$@"\n' % shutil.which("mv"))
    os.chmod(bindir / "mv", 0o755)
    return bindir


@pytest.fixture
def volume(tmp_path):
    """A scratch volume with the old content, and the archive of the new one."""
    new = tmp_path / "new"
    fill(new, NEW)
    archive = tmp_path / "new.tar.gz"
    with tarfile.open(str(archive), "w:gz") as tar:
        tar.add(str(new), arcname=".")
    root = tmp_path / "volume"
    fill(root, OLD)
    return root, archive


def extracted(root, archive):
    with open(archive, "rb") as handle:
        done = step(root, "extract", stdin=handle, gz=True)
    assert done.returncode == 0 and done.stdout.strip() == "pg_version=15", done.stderr


def startable(root):
    return os.path.exists(os.path.join(root, "global", "pg_control")) and os.path.exists(
        os.path.join(root, "PG_VERSION"))


def test_the_steps_put_the_new_content_in_and_keep_the_old(volume):
    root, archive = volume
    extracted(root, archive)
    assert content(root) == OLD  # extracted beside it, hidden: the live content is untouched
    assert step(root, "swap").returncode == 0
    assert content(root) == NEW and content(root / (".kh-pre-restore-" + TOKEN)) == OLD
    assert sorted(n for n in os.listdir(root) if n.startswith(".kh-")) == [".kh-pre-restore-" + TOKEN,
                                                                           ".kh-restore.lock"]
    assert step(root, "swap").returncode == 0 and content(root) == NEW  # finished already: nothing to do
    assert step(root, "undo").returncode == 0 and content(root) == OLD
    assert sorted(n for n in os.listdir(root) if n.startswith(".kh-")) == [".kh-restore.lock"]


def test_a_truncated_archive_never_becomes_ready(volume):
    root, archive = volume
    data = archive.read_bytes()
    archive.write_bytes(data[:len(data) // 2])
    with open(archive, "rb") as handle:
        assert step(root, "extract", stdin=handle, gz=True).returncode != 0
    assert not os.path.exists(root / (".kh-restore-%s.ready" % TOKEN))
    assert step(root, "swap").returncode != 0 and content(root) == OLD


def test_a_kill_before_any_rename_of_swap_or_undo_can_be_finished_or_undone(volume, killer, tmp_path):
    root, archive = volume
    extracted(root, archive)
    ready = tmp_path / "ready-state"
    shutil.copytree(root, ready, symlinks=True)
    renames = 0
    while True:  # every point at which swap can be killed
        shutil.rmtree(root)
        shutil.copytree(ready, root, symlinks=True)
        killed = step(root, "swap", kill_after=renames, bindir=killer).returncode == -9
        if startable(root):  # PostgreSQL could start here only on a whole content
            assert content(root) in (OLD, NEW), renames
        interrupted = tmp_path / "interrupted"
        shutil.rmtree(interrupted, ignore_errors=True)
        shutil.copytree(root, interrupted, symlinks=True)
        assert step(root, "swap").returncode == 0 and content(root) == NEW, renames  # the next run finishes
        assert content(root / (".kh-pre-restore-" + TOKEN)) == OLD, renames
        assert step(interrupted, "undo").returncode == 0 and content(interrupted) == OLD, renames  # or undoes
        assert [n for n in os.listdir(interrupted) if n.startswith(".kh-")] == [".kh-restore.lock"], renames
        if not killed:
            break
        renames += 1
    assert renames >= len(OLD) + len(NEW) - 2  # the top-level entries, each moved once, then the directories
    undo_points = 0
    while True:  # every point at which undo of a finished swap can be killed
        shutil.rmtree(root)
        shutil.copytree(ready, root, symlinks=True)
        assert step(root, "swap").returncode == 0
        killed = step(root, "undo", kill_after=undo_points, bindir=killer).returncode == -9
        if startable(root):
            assert content(root) in (OLD, NEW), undo_points
        assert step(root, "undo").returncode == 0 and content(root) == OLD, undo_points
        if not killed:
            break
        undo_points += 1
    assert undo_points >= len(OLD) + len(NEW) - 2


def test_a_killed_config_restore_is_settled_only_with_its_own_project(made, project, tmp_path):
    """The journal a killed run left names temporary files: only the project it names is settled, by a run with
    that project; any other run refuses (the journal never makes a run touch another directory)."""
    (project / ".env").write_text("POSTGRES_PASSWORD=changed\n")
    token = "20261125T031500Z"
    temporary = project / ("..env.kh-restore-%s.tmp" % token)  # as the killed run named it: "." + name
    temporary.write_text("half written")
    journal = {"kind": "config", "token": token, "backup_id": made["backup_id"], "project_dir": str(project),
               "step": "writing", "changes": [{"path": str(project / ".env"), "action": "replace"}]}
    other = tmp_path / "other"
    shutil.copytree(project, other, symlinks=True)
    (tmp_path / "backups" / "compose-restore.journal.json").write_text(json.dumps(journal))
    with pytest.raises(RestoreError, match="interrupted configuration restore into %s" % project):
        restore(made, other, allow_other_project=True)
    assert temporary.exists()
    result = restore(made, project)
    assert result["settled"][0]["temporary_files"] == [str(temporary)] and not temporary.exists()
    assert (project / ".env").read_text() == "POSTGRES_PASSWORD=s3cret-test-value\n"
