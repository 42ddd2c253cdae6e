# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What the modules that make backups (pg_backup, compose_backup) share: each run makes a new one, in a backup
    # directory that is never a link and never wider than 0700.
    DOCUMENTATION = r'''
options:
  backup_dir:
    description:
      - Directory on the managed host for the archives and their manifests. Created mode 0700 when missing.
      - A symbolic link (as its last component) is refused, changing nothing; give the real path. An existing
        directory whose mode is wider than 0700 is set to 0700, and the module says so (a warning and
        C(backup_dir_mode) in the result).
    type: path
    required: true
attributes:
  diff_mode:
    support: none
    description: Nothing to diff; the result describes the backup.
  idempotent:
    support: none
    description: Every run makes a new backup (retention removes old ones).
'''

    # The migration ledger as the database modules that back up and restore read it (pg_backup, pg_restore).
    LEDGER = r'''
options:
  ledger_table:
    description:
      - The migration ledger table. M(knowledgehub.migration.pg_backup) records its last applied version and its
        identity, the run id and start of its first row, in the manifest. M(knowledgehub.migration.pg_restore)
        compares that identity with the one of O(login_db)'s ledger before it restores.
    type: str
    default: migration_log
  ledger_schema:
    description:
      - Schema of O(ledger_table).
    type: str
    default: public
'''
