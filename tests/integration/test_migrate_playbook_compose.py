# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/migrate.yml on a real docker-compose host, as an operator runs it: every backup (configuration,
data volume, recovery points), then the migration.

The hosts are built by tests/compose/hosts (podman behind the docker CLI, one network namespace each).
"""

from __future__ import annotations

import os
import re

from support.compose import ready
from support.playbooks import MIGRATE_PLAYBOOK, ansible


def test_migrate_playbook_on_a_compose_host_takes_every_backup_and_migrates(compose_hosts, staging, tmp_path):
    """ansible-playbook playbooks/migrate.yml -l staging, as an operator runs it, on a real compose host."""
    backup_dir = tmp_path / "backups"
    proc = ansible("ansible-playbook", compose_hosts.inventory, MIGRATE_PLAYBOOK,
                   "-l", "staging", "-e", "backup_dir=%s" % backup_dir,
                   "-e", '{"migrate_config_paths": ["compose.yml", ".env", "config"], "migrate_volume": "postgres_data"}')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "kh-test-only-password" not in proc.stdout
    assert staging.psql("SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM migration_log") == \
        "001:baseline,002:baseline,003:baseline,004:applied,005:applied,006:applied"
    points = staging.psql("SELECT string_agg(purpose || ':' || ledger_version, ',' ORDER BY id) "
                          "FROM migration_log_recovery_point")
    assert points == "before:003,after_schema:004,after_data:006"  # the data phase: 005 and 006
    names = os.listdir(backup_dir)
    assert len([n for n in names if n.startswith("knowledgehub-config_") and n.endswith(".tar.gz")]) == 1
    assert len([n for n in names if n.startswith("knowledgehub-volume_") and n.endswith(".tar.gz")]) == 1
    assert re.search(r"volume: knowledgehub-volume_\S+ \(database down\s+\d+\.\d\s+s\)", proc.stdout), \
        proc.stdout[-3000:]
    assert ready(staging, "db") and ready(staging, "api")
