# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""knowledgehub.migration.pg_preflight: its lint on the controller (docs/lint.md), live progress (docs/progress.md)."""

from __future__ import annotations

from ansible_collections.knowledgehub.migration.plugins.plugin_utils._lint_action import LintingAction


class ActionModule(LintingAction):
    """The pg_preflight module: squawk on the controller when lint_source is given; its progress printed every
    knowledgehub_progress_interval seconds while it runs."""
