# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Class: a ledger that can be wrong.

The ledger (and what is derived from it: a backup's manifest, a recovery point) must say what
the database holds: versions ordered as the runner orders them (numbers, not strings), and a
baseline recorded whole or not at all.
"""

from __future__ import annotations

import json

from support.database import app_connection, recovery_points
from support.modules import backup, failed, migrate, ok

RUN_ID = "6f1c1d52-7a43-4f7e-9d55-0d1a4c6f1b07"


def _with_short_version(migrations_copy, version: str = "7") -> None:
    (migrations_copy / ("%s_seven.sql" % version)).write_text(
        "CREATE TABLE IF NOT EXISTS ledger_probe (id int);\n", encoding="utf-8")


def test_a_short_version_after_padded_ones_is_the_last_in_the_manifest(legacy_db, migrations_copy, backup_dir):
    _with_short_version(migrations_copy)
    applied = ok(migrate(legacy_db, migrations_dir=migrations_copy, baseline_version="003"))
    assert [m["version"] for m in applied["applied"]][-1] == "7"
    result = ok(backup(legacy_db, backup_dir, label="kh"))
    assert result["ledger_version"] == "7"
    with open(result["manifest"], encoding="utf-8") as handle:
        assert json.load(handle)["ledger"]["last_applied_version"] == "7"


def test_a_short_version_is_the_recovery_points_ledger_version(legacy_db, migrations_copy, backup_dir):
    _with_short_version(migrations_copy)
    ok(migrate(legacy_db, migrations_dir=migrations_copy, baseline_version="003"))
    ok(backup(legacy_db, backup_dir, label="kh", run_id=RUN_ID, purpose="after_data"))
    assert [p["ledger_version"] for p in recovery_points(legacy_db)] == ["7"]


def test_a_clone_recovery_point_orders_versions_as_the_runner(legacy_db, migrations_copy, backup_dir, createdb):
    _with_short_version(migrations_copy, "10")
    ok(migrate(legacy_db, migrations_dir=migrations_copy, baseline_version="003"))
    point = ok(backup(legacy_db, backup_dir, format="clone", label="rp", run_id=RUN_ID, purpose="after_data"))
    assert point["ledger_version"] == "10"


def test_a_baseline_cut_short_records_nothing_and_the_rerun_adopts_the_database(legacy_db):
    from ansible_collections.knowledgehub.migration.plugins.module_utils._ledger import (  # pylint: disable=import-outside-toplevel
        Ledger)
    conn = app_connection(legacy_db)
    conn.autocommit = True
    try:
        Ledger(conn, "public", "migration_log").create()  # an empty ledger: no history yet
        with conn.cursor() as cur:
            cur.execute("""
                CREATE FUNCTION refuse_003() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.version = '003' AND NEW.status = 'baseline' THEN
                        RAISE EXCEPTION 'refusing the baseline row of 003';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_003 BEFORE INSERT ON migration_log
                    FOR EACH ROW EXECUTE FUNCTION refuse_003();""")
        message = failed(migrate(legacy_db, baseline_version="003"))
        assert "Recording the baseline (001, 002, 003)" in message and "Nothing was recorded" in message
        assert legacy_db.ledger() == [], "a baseline cut short left rows: %s" % legacy_db.ledger()
        with conn.cursor() as cur:
            cur.execute("DROP TRIGGER refuse_003 ON migration_log; DROP FUNCTION refuse_003()")
    finally:
        conn.close()
    rerun = ok(migrate(legacy_db, baseline_version="003"))
    assert [m["version"] for m in rerun["baselined"]] == ["001", "002", "003"]
    assert [m["version"] for m in rerun["applied"]] == ["004", "005", "006"]
