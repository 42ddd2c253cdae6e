# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""knowledgehub.migration.pg_rollback runs with live progress on the controller (docs/progress.md)."""

from __future__ import annotations

from ansible_collections.knowledgehub.migration.plugins.plugin_utils._progress_action import ProgressAction


class ActionModule(ProgressAction):
    """The pg_rollback module, its progress printed every knowledgehub_progress_interval seconds while it runs."""
