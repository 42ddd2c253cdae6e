# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What the modules that make backups (pg_backup, compose_backup) share: each run makes a new one.
    DOCUMENTATION = r'''
attributes:
  diff_mode:
    support: none
    description: Nothing to diff; the result describes the backup.
  idempotent:
    support: none
    description: Every run makes a new backup (retention removes old ones).
'''
