# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup snapshot_tables on a real PostgreSQL 15: the pre-migration snapshot read beside pg_dump, in the dump's
own exported snapshot. With the application writing throughout, the snapshot holds exactly the backup's rows;
pg_validate compares a migrated database with it; a rerun keeps the first one; bad options change nothing."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import threading
import time

import pytest

from support.backups import manifest_of, nothing_recorded
from support.database import app_connection, superuser_connection
from support.modules import backup, failed, migrate, ok, run_module, start_module
from support.paths import MIGRATIONS

pytestmark = pytest.mark.legacy_chunks(400)

RUN_ID = "6d0e2b9a-4c1f-4e8a-b3d5-71a9c2e4f0b8"
TABLES = ["ai_memories", "documents", "chunks"]


class Writer(threading.Thread):
    """The application inserting documents, one committed row at a time, until stopped."""

    def __init__(self, db) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        conn = app_connection(self.db, "kh-test-writer")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT min(id) FROM sources")
            source = cur.fetchone()[0]
            while not self.stop.is_set():
                cur.execute("INSERT INTO documents (source_id, title, uri) VALUES (%s, 'written during the backup', "
                            "'kh-writer://' || gen_random_uuid())", (source,))
                self.written += 1
        conn.close()


def sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_the_snapshot_holds_exactly_the_backups_rows_while_the_application_writes(legacy_db, tmp_path):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    writer = Writer(legacy_db)
    writer.start()
    try:
        result = ok(backup(legacy_db, str(backup_dir), run_id=RUN_ID, purpose="before", snapshot_tables=TABLES,
                           snapshot_dir=str(reports)))
    finally:
        writer.stop.set()
        writer.join()
    snap = result["snapshot"]
    path = reports / ("%s.snapshot.json" % RUN_ID)
    assert snap["action"] == "write" and snap["path"] == str(path) and snap["removed"] == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(reports).st_mode) == 0o700
    with open(path, encoding="utf-8") as handle:
        content = json.load(handle)
    assert content["backup_id"] == result["backup_id"] and content["run_id"] == RUN_ID
    assert set(content["horizon"]) >= {"xmin", "xid", "database_oid"}
    # the application wrote during the backup, and the snapshot holds the backup's rows, no more, no fewer
    counts = manifest_of(result)["row_counts"]
    now = int(legacy_db.sql("SELECT count(*) FROM documents"))
    assert writer.written > 0 and now > counts["public.documents"]
    assert snap["tables"] == {"public." + t: counts["public." + t] for t in TABLES}
    assert len(content["tables"]["public.documents"]["hashes"]) == counts["public.documents"]

    # pg_validate compares the migrated database with it: every row preserved, the rows written after it added
    ok(migrate(legacy_db, baseline_version="003"))
    compared = ok(run_module("pg_validate", dict(legacy_db.params, migrations_dir=MIGRATIONS, phase="all",
                                                 snapshot="compare", backup_dir=str(reports), run_id=RUN_ID)))
    assert compared["data_preserved_percent"] == 100
    assert compared["snapshot_comparison"]["totals"]["added"] == now - counts["public.documents"]


def test_a_rerun_keeps_the_first_snapshot_and_still_backs_up(legacy_db, tmp_path):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    first = ok(backup(legacy_db, str(backup_dir), run_id=RUN_ID, snapshot_tables=TABLES, snapshot_dir=str(reports)))
    digest = sha256(first["snapshot"]["path"])
    legacy_db.sql("DELETE FROM chunks WHERE id = (SELECT min(id) FROM chunks)")
    second = ok(backup(legacy_db, str(backup_dir), run_id=RUN_ID, snapshot_tables=TABLES, snapshot_dir=str(reports)))
    assert second["backup_id"] != first["backup_id"]
    assert second["snapshot"]["action"] == "keep" and second["snapshot"]["rows"] == first["snapshot"]["rows"]
    assert sha256(first["snapshot"]["path"]) == digest
    third = ok(backup(legacy_db, str(backup_dir), run_id=RUN_ID, snapshot_tables=TABLES, snapshot_dir=str(reports),
                      snapshot_overwrite=True))
    assert third["snapshot"]["action"] == "write" and third["snapshot"]["rows"] == first["snapshot"]["rows"] - 1


def test_check_mode_plans_the_snapshot_and_writes_nothing(legacy_db, tmp_path):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    planned = ok(backup(legacy_db, str(backup_dir), check_mode=True, run_id=RUN_ID, snapshot_tables=TABLES,
                        snapshot_dir=str(reports)))
    assert planned["snapshot"]["action"] == "write" and planned["snapshot"]["rows_estimated"] >= 0
    assert planned["snapshot"]["tables"] == ["public." + t for t in TABLES]
    assert not reports.exists() and not backup_dir.exists()


@pytest.mark.parametrize("options, says", [
    (dict(scope="schema-only"), "scope=full"),
    (dict(format="clone"), "a clone has none"),
    (dict(run_id=None), "snapshot needs run_id"),
    (dict(snapshot_tables=["ai_memories", "no_such_table"]), "no_such_table"),
    (dict(snapshot_keep_last=-1), "snapshot_keep_last=-1"),
])
def test_a_snapshot_that_cannot_be_taken_as_asked_writes_nothing(legacy_db, tmp_path, options, says):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    args = dict(run_id=RUN_ID, snapshot_tables=TABLES, snapshot_dir=str(reports), record_recovery_point=False)
    args.update(options)
    message = failed(backup(legacy_db, str(backup_dir), **{k: v for k, v in args.items() if v is not None}))
    assert says in message and "Traceback" not in message
    nothing_recorded(str(backup_dir))
    assert not reports.exists()
    assert legacy_db.sql("SELECT count(*) FROM pg_database WHERE datname LIKE %s" % (
        "'%s\\_rp\\_%%'" % legacy_db.name)) == "0"


def test_a_snapshot_that_cannot_be_read_fails_and_keeps_the_verified_backup(legacy_db, tmp_path):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    # a table the application role may not read (the superuser's): pg_dump of documents alone succeeds
    legacy_db.sql("CREATE TABLE kh_private (id int PRIMARY KEY); REVOKE ALL ON kh_private FROM PUBLIC")
    result = backup(legacy_db, str(backup_dir), run_id=RUN_ID, tables=["documents"], snapshot_dir=str(reports),
                    snapshot_tables=["documents", "kh_private"])
    message = failed(result)
    assert "is verified and recorded, but the snapshot of public.documents, public.kh_private could not be taken" \
        in message and "permission denied" in message and "Traceback" not in message
    kept = [n for n in os.listdir(backup_dir) if n.endswith(".manifest.json")]
    assert len(kept) == 1 and result["backup_id"] in kept[0]
    assert manifest_of(dict(manifest=str(backup_dir / kept[0])))["verified"] is True
    assert not (reports / ("%s.snapshot.json" % RUN_ID)).exists()


def test_a_snapshot_file_that_cannot_be_written_fails_and_keeps_the_verified_backup(legacy_db, tmp_path):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    reports.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    (reports / ("%s.snapshot.json" % RUN_ID)).symlink_to(elsewhere)
    result = backup(legacy_db, str(backup_dir), run_id=RUN_ID, snapshot_tables=TABLES, snapshot_dir=str(reports),
                    snapshot_overwrite=True)
    message = failed(result)
    assert "is verified and recorded, but the snapshot of public.ai_memories" in message
    assert "is a symbolic link" in message and "Nothing was written" not in message, message
    assert elsewhere.read_text() == "{}"  # never written through the link
    assert manifest_of(dict(manifest=str(backup_dir / (result["backup_id"] + ".manifest.json"))))["verified"] is True


def test_a_backup_killed_while_its_snapshot_is_read_leaves_no_snapshot_and_the_next_run_takes_it(
        legacy_db, tmp_path, cluster):
    backup_dir, reports = tmp_path / "backups", tmp_path / "reports"
    tables = ["kh_large"] + TABLES
    # a table whose read takes a second or so (not dumped: tables=documents), so the module is killed while it reads
    # it (the snapshot's first cursor, kh_snapshot_0)
    legacy_db.sql("CREATE TABLE kh_large (id int PRIMARY KEY, v text); INSERT INTO kh_large SELECT i, md5(i::text) "
                  "FROM generate_series(1, 1500000) i; ANALYZE kh_large; GRANT SELECT ON kh_large TO knowledgehub")
    observer = superuser_connection(cluster, legacy_db.name)
    observer.autocommit = True
    proc = start_module("pg_backup", dict(legacy_db.params, backup_dir=str(backup_dir), run_id=RUN_ID,
                                          tables=["documents"], snapshot_tables=tables, snapshot_dir=str(reports)))
    reading, deadline = 0, time.monotonic() + 60
    with observer.cursor() as cur:
        while not reading and time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'knowledgehub.migration pg_backup snapshot' AND query LIKE '%kh\\_snapshot\\_0%'")
            reading = cur.fetchone()[0]
            time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert reading, "the module was not seen reading kh_large"
    assert not reports.exists() or os.listdir(reports) == []  # no snapshot file, no temporary one
    with observer.cursor() as cur:  # the killed module's sessions end with it
        left, deadline = 1, time.monotonic() + 30
        while left and time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                        "'knowledgehub.migration pg_backup%'")
            left = cur.fetchone()[0]
            time.sleep(0.1)
    observer.close()
    assert left == 0
    again = ok(backup(legacy_db, str(backup_dir), run_id=RUN_ID, tables=["documents"], snapshot_tables=tables,
                      snapshot_dir=str(reports)))
    assert again["snapshot"]["action"] == "write" and again["snapshot"]["tables"]["public.kh_large"] == 1500000
