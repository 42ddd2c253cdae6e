# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""compose_restore on real docker-compose hosts: the postgres_data volume put back from a compose_backup archive
(rows written after the backup gone, every earlier row identical, db and api running, the replaced content kept),
archives refused before anything stops, a kill -9 at each step then a rerun, check mode, and the configuration
put back through Ansible.

The hosts are built by tests/compose/hosts (podman behind the docker CLI, one network namespace each). Modules
run inside the host's namespace, as Ansible runs them there, with the host's docker environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from ansible_collections.knowledgehub.migration.plugins.module_utils._archive import sha256_file

from support.compose import ready, run_on
from support.modules import failed, module_command, ok
from support.playbooks import ansible

TARGET = "/var/lib/postgresql/data"
AFTER = "written after the backup"


def checksums(host) -> dict[str, str]:
    """Row count and an md5 of every row, per table of the public schema: the database's whole content."""
    tables = host.psql("SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables "
                       "WHERE schemaname = 'public'").split()
    return {t: host.psql("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                         "FROM public.%s t" % t) for t in tables}


def write_after_backup(host) -> None:
    """Rows added, a row changed, rows removed: what a restore of the earlier backup must undo."""
    host.psql("INSERT INTO chunks (document_id, chunk_index, content, token_count) SELECT document_id, "
              "chunk_index + 100000, '%s', 4 FROM chunks ORDER BY id LIMIT 40 ON CONFLICT DO NOTHING" % AFTER)
    host.psql("UPDATE documents SET title = title || ' (edited)' WHERE id = (SELECT min(id::text)::uuid "
              "FROM documents)")
    host.psql("DELETE FROM ai_memories WHERE id IN (SELECT id FROM ai_memories ORDER BY id LIMIT 5)")


def started_at(host) -> str:
    """When the db's server started: the same value before and after means it was never stopped."""
    return host.psql("SELECT pg_postmaster_start_time()")


def volume_entries(host) -> list[str]:
    """The volume's top-level names (through the running db service)."""
    return sorted(host.compose("exec", "-T", "db", "ls", "-A", TARGET).stdout.split())


def own_entries(host) -> list[str]:
    return [n for n in volume_entries(host) if n.startswith(".kh-")]


def restore(host, check_mode=False, **args) -> dict:
    return run_on(host, "compose_restore", dict(project_dir=str(host.project_dir), **args), check_mode=check_mode)


def all_ready(host, timeout=120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(host, "db") and ready(host, "api"):
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def volume_backup(production, tmp_path_factory):
    """One compose_backup of production's postgres_data volume, and the database's content when it was taken."""
    backup_dir = tmp_path_factory.mktemp("volume-backups")
    made = ok(run_on(production, "compose_backup", dict(
        backup_dir=str(backup_dir), project_dir=str(production.project_dir), volume="postgres_data",
        stop_services=["api"])))
    return {"made": made, "dir": str(backup_dir), "content": checksums(production)}


def copy_backup(volume_backup, directory, backup_id=None, rewrite=None) -> str:
    """The backup copied into ``directory`` (a new backup id with ``rewrite``, a function that rewrites the tar's
    members); its manifest's path. A rewritten archive gets a manifest that matches it, sha256 and size."""
    made = volume_backup["made"]
    with open(made["manifest"], encoding="utf-8") as handle:
        manifest = json.load(handle)
    backup_id = backup_id or manifest["backup_id"]
    archive = os.path.join(directory, backup_id + ".tar.gz")
    if rewrite is None:
        shutil.copyfile(made["path"], archive)
    else:
        with tarfile.open(made["path"]) as source, tarfile.open(archive, "w:gz") as out:
            rewrite(source, out)
    sha, size = sha256_file(archive)
    manifest.update(backup_id=backup_id)
    manifest["archive"].update(name=os.path.basename(archive), sha256=sha, size_bytes=size)
    path = os.path.join(directory, backup_id + ".manifest.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    return path


def test_volume_restore_gives_back_the_backup_and_keeps_what_it_replaced(production, volume_backup):
    write_after_backup(production)
    written, earlier = checksums(production), own_entries(production)
    assert written != volume_backup["content"]
    result = ok(restore(production, manifest=volume_backup["made"]["manifest"]))
    assert result["changed"] and result["kind"] == "volume" and result["pg_version"] == "15"
    assert result["stopped_services"] == ["api", "db"] == result["started_services"]
    assert checksums(production) == volume_backup["content"]  # every earlier row identical, the later ones gone
    assert production.psql("SELECT count(*) FROM chunks WHERE content = '%s'" % AFTER) == "0"
    assert ready(production, "db") and ready(production, "api")
    assert 0 < result["durations_ms"]["swap"] < result["downtime_ms"] <= result["durations_ms"]["application_downtime"]
    assert result["durations_ms"]["extract"] > 0
    kept = result["previous_content"]
    assert kept["volume"] == "knowledgehub_postgres_data" and kept["path"] == TARGET + "/" + kept["name"]
    assert kept["name"] in volume_entries(production)
    # the replaced content is kept whole: the files of the data directory as they were before the restore
    listing = production.compose("exec", "-T", "db", "ls", "-A", kept["path"]).stdout.split()
    assert {"PG_VERSION", "global", "base", "pg_wal"} <= set(listing)
    assert not os.path.exists(result["journal"])
    added = {kept["name"], ".kh-restore.lock"} - set(earlier)
    assert sorted(set(own_entries(production)) - set(earlier)) == sorted(added)

    dropped = ok(restore(production, manifest=volume_backup["made"]["manifest"], drop_previous=True))
    assert dropped["dropped_previous"] and dropped["previous_content"] is None
    assert kept["name"] in dropped["kept_contents"]  # an earlier one is listed, never removed unasked
    assert kept["name"] in volume_entries(production)
    assert sorted(set(own_entries(production)) - set(earlier)) == sorted(added)  # the new one is gone
    assert checksums(production) == volume_backup["content"] and ready(production, "api")


def test_volume_restore_in_check_mode_touches_nothing(production, volume_backup):
    write_after_backup(production)
    written, since, entries = checksums(production), started_at(production), volume_entries(production)
    listing = sorted(os.listdir(volume_backup["dir"]))
    result = ok(restore(production, check_mode=True, backup_dir=volume_backup["dir"], kind="volume"))
    assert result["changed"] is False and result["would_stop"] == ["api", "db"]
    assert result["backup_id"] == volume_backup["made"]["backup_id"] and result["integrity"]["members"] > 500
    assert result["previous_content"]["name"].startswith(".kh-pre-restore-") and result["free_space"]["ok"]
    assert checksums(production) == written and started_at(production) == since
    assert volume_entries(production) == entries and sorted(os.listdir(volume_backup["dir"])) == listing


def test_a_corrupted_archive_is_refused_before_anything_stops(production, volume_backup, tmp_path):
    write_after_backup(production)
    written, since, entries = checksums(production), started_at(production), volume_entries(production)
    manifest = copy_backup(volume_backup, str(tmp_path))
    archive = manifest.replace(".manifest.json", ".tar.gz")
    with open(archive, "r+b") as handle:  # one byte changed, in the middle
        handle.seek(os.path.getsize(archive) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))
    msg = failed(restore(production, manifest=manifest))
    assert "does not match its manifest" in msg and "sha256" in msg and "Nothing was changed" in msg
    assert started_at(production) == since and ready(production, "api")
    assert checksums(production) == written and volume_entries(production) == entries
    assert not os.path.exists(os.path.join(str(tmp_path), "compose-restore.journal.json"))


def test_a_hostile_archive_with_a_matching_manifest_is_refused_before_anything_stops(
        production, volume_backup, tmp_path):
    since, entries = started_at(production), volume_entries(production)

    def with_a_link_out(source, out):
        for member in source:
            out.addfile(member, source.extractfile(member) if member.isreg() else None)
        link = tarfile.TarInfo("./pg_tblspc/evil")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc"
        out.addfile(link)

    manifest = copy_backup(volume_backup, str(tmp_path), "knowledgehub-volume_29991231T000000Z", with_a_link_out)
    msg = failed(restore(production, manifest=manifest))
    assert "pg_tblspc/evil is a link to ../../../../etc, which leads outside" in msg and "Nothing was changed" in msg
    assert started_at(production) == since and volume_entries(production) == entries


def test_a_database_that_does_not_come_up_on_the_restored_content_gets_the_old_one_back(
        production, volume_backup, tmp_path):
    write_after_backup(production)
    written, entries = checksums(production), volume_entries(production)

    def without_pg_control(source, out):
        for member in source:
            if member.name != "./global/pg_control":
                out.addfile(member, source.extractfile(member) if member.isreg() else None)

    manifest = copy_backup(volume_backup, str(tmp_path), "knowledgehub-volume_29991231T000001Z", without_pg_control)
    msg = failed(restore(production, manifest=manifest, ready_timeout=30, stop_timeout=10))
    assert "did not come up on the restored content" in msg
    assert "The old content was put back and the services that were running (api, db) were started again" in msg
    assert all_ready(production) and checksums(production) == written
    assert volume_entries(production) == entries  # no staging left, nothing kept: the content is the old one
    assert not os.path.exists(os.path.join(str(tmp_path), "compose-restore.journal.json"))


def start_on(host, name, args) -> subprocess.Popen:
    """A module started inside ``host``'s namespace (as run_on runs it), not waited for: to kill it."""
    argv, stdin, env = module_command(name, args)
    proc = subprocess.Popen(["nsenter", "--net=/run/netns/" + host.netns, "--", *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=host.env({"PYTHONPATH": env["PYTHONPATH"]}))
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None
    return proc


def journal_step(backup_dir: str) -> str | None:
    try:
        with open(os.path.join(backup_dir, "compose-restore.journal.json"), encoding="utf-8") as handle:
            return json.load(handle).get("step")
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("step, outcome", [("extracting", "undone"), ("stopping", "undone"),
                                           ("swapping", "restored"), ("starting", "restored")])
def test_a_kill_during_the_volume_restore_is_settled_by_the_next_run(production, volume_backup, step, outcome):
    write_after_backup(production)
    args = dict(project_dir=str(production.project_dir), manifest=volume_backup["made"]["manifest"])
    proc = start_on(production, "compose_restore", args)
    try:
        deadline = time.monotonic() + 300
        while journal_step(volume_backup["dir"]) != step:
            assert proc.poll() is None, "the restore ended before step %s: %s" % (step, proc.communicate())
            assert time.monotonic() < deadline, "no step %s" % step
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # kill -9: no cleanup of any kind
        proc.communicate(timeout=60)
    assert journal_step(volume_backup["dir"]) == step
    if step == "extracting":  # nothing was stopped yet: the extraction runs beside the live content
        assert ready(production, "db")
    rerun = ok(run_on(production, "compose_restore", args))
    settled = rerun["settled"][0]
    assert settled["step"] == step and settled["outcome"] == outcome and settled["backup_id"] == rerun["backup_id"]
    assert rerun.get("already_restored", False) is (outcome == "restored")
    # complete and reachable, the backup's content (the rerun restored it, or finished the killed run's swap)
    assert all_ready(production) and checksums(production) == volume_backup["content"]
    assert [n for n in own_entries(production) if n.startswith(".kh-restore-")] == []
    assert settled["previous_content"]["name"] in volume_entries(production) or outcome == "undone"
    assert journal_step(volume_backup["dir"]) is None


def test_configuration_restore_through_ansible_puts_files_back_and_keeps_the_replaced(compose_hosts, tmp_path):
    host = compose_hosts["production"]
    project = host.project_dir
    saved = tmp_path / "saved"
    shutil.copytree(project, saved, symlinks=True)
    backup_dir = tmp_path / "backups"
    playbook = tmp_path / "config.yml"
    playbook.write_text("""
- name: Back up, then put back the application configuration
  hosts: production
  gather_facts: false
  tasks:
    - name: Archive compose file, .env and config/
      knowledgehub.migration.compose_backup:
        backup_dir: %(dir)s
        project_dir: "{{ compose_project_dir }}"
        paths: [compose.yml, .env, config]
        label: kh-config
    - name: Break the configuration
      ansible.builtin.shell: "printf 'broken: true\\n' > config/api.yml && rm compose.yml"
      args:
        chdir: "{{ compose_project_dir }}"
      changed_when: true
    - name: Put it back and recreate the api with it
      knowledgehub.migration.compose_restore:
        backup_dir: %(dir)s
        label: kh-config
        kind: config
        project_dir: "{{ compose_project_dir }}"
        restart_services: [api]
      register: config_restore
    - name: Keep its result
      ansible.builtin.copy:
        content: "{{ config_restore | to_json }}"
        dest: %(result)s
        mode: "0600"
""" % {"dir": backup_dir, "result": tmp_path / "result.json"})
    try:
        proc = ansible("ansible-playbook", compose_hosts.inventory, str(playbook))
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert "kh-test-only-password" not in proc.stdout
        for name in ("compose.yml", ".env", "config/api.yml"):
            assert (project / name).read_bytes() == (saved / name).read_bytes(), name
        kept = [n for n in os.listdir(project / "config") if n.startswith("api.yml.pre-restore-")]
        assert len(kept) == 1 and (project / "config" / kept[0]).read_text() == "broken: true\n"
        result = json.loads((tmp_path / "result.json").read_text())
        assert result["restarted_services"] == ["api"] and result["files"]["created"] == [str(project / "compose.yml")]
        assert result["files"]["replaced"] == [str(project / "config" / "api.yml")]
        assert result["kept_files"] == [{"path": str(project / "config" / "api.yml"),
                                         "kept": str(project / "config" / kept[0])}]
        assert "restart_services could not be checked" in proc.stdout + proc.stderr
        served = host.run(["python3", "-c", "import urllib.request; print(urllib.request.urlopen("
                           "'http://127.0.0.1:8080/api.yml', timeout=5).read().decode(), end='')"]).stdout
        assert served == (saved / "config" / "api.yml").read_text()
        assert ready(host, "api") and ready(host, "db")
    finally:
        for name in ("compose.yml", ".env", "config/api.yml"):
            shutil.copyfile(saved / name, project / name)
        for name in os.listdir(project / "config"):
            if ".pre-restore-" in name:
                os.unlink(project / "config" / name)
        host.compose("up", "-d", "--wait")
