# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What the modules that lint the migration files (pg_migrate, pg_preflight) share: squawk on the controller.
    DOCUMENTATION = r'''
options:
  lint_source:
    description:
      - A directory on the controller holding the migration files that were copied into O(migrations_dir) (with
        O(migrations_source), that directory is linted and this is not needed). With O(lint=true), squawk lints them
        on the controller, where the collection's action plugin runs, and the
        managed host needs no squawk. Every pending file must then be, byte for byte (sha256), one of those files,
        else the module fails and runs nothing. The findings are judged against the live database on the host as
        without it.
      - Read by the action plugin, not passed to the module. The controller's squawk is the one next to the
        controller's Python, then on its E(PATH). It lints for the PostgreSQL major version of the variable
        C(knowledgehub_lint_pg_version) (default 15); the module refuses a server of another major version.
      - Without it, squawk lints on the managed host (O(squawk_path)).
    type: path
  _lint_findings:
    description:
      - Internal, set by the collection's action plugin from O(lint_source) (squawk's findings made on the
        controller and each file's sha256). Do not set it.
    type: dict
'''
