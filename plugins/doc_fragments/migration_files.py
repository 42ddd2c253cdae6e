# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What the modules that read the migration files (pg_migrate, pg_preflight) share: the files from the controller.
    DOCUMENTATION = r'''
options:
  migrations_dir:
    description:
      - Directory on the managed host that holds the C(NNN_name.sql) migration files (and their revert files).
      - One of O(migrations_dir) and O(migrations_source) is required.
    type: path
  migrations_source:
    description:
      - A directory on the controller that holds the migration files, in place of O(migrations_dir). The
        collection's action plugin reads its C(.sql) files there (not its subdirectories) and hands them to the
        module, which writes them into a private temporary directory on the host (mode 0700) for its run and
        removes it at the end. No copy is left on the host and the role needs no staging tasks. A relative path is
        resolved as Ansible resolves one.
      - With O(lint=true) and no O(lint_source), squawk lints the same files on the controller.
    type: path
    version_added: 2.0.0
  _migration_files:
    description:
      - Internal, set by the collection's action plugin from O(migrations_source) (each file's bytes). Do not set
        it.
    type: dict
'''
