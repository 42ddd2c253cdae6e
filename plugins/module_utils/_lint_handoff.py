# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lint gate's squawk run on the controller, its findings handed to the module on the managed host.

What squawk says is a function of the files and the server's major version alone, so it needs no managed host.
The action plugins of pg_migrate and pg_preflight (``plugin_utils/_lint_action.py``) call ``collect`` on the
controller: squawk, found next to the controller's Python or on its PATH, reads every migration file of the task's
``lint_source``, and its raw findings go to the module, with each file's sha256, in the private option
``_lint_findings``. On the host, ``Handed`` gives those findings to ``_lint.lint_files`` in place of a squawk run,
after checking that each pending file is, byte for byte, one the controller linted and that the server's major
version is the one it was linted for; otherwise LintError, and nothing runs. The rest stays on the host as before:
the classification by rule (levels, accept, squawk-ignore comments) and the live judgement (``_lint_live``), which
needs the database's row counts. squawk still runs one way only: ``_lint.squawk_findings``.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import (
    LintError,
    find_squawk,
    normalize_pg_version,
    require_executable,
    squawk_findings,
    squawk_version,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._migrations import discover

OPTION = "_lint_findings"
CONTROLLER = "controller"
FORMAT = 1
DEFAULT_PG_VERSION = "15"  # the PostgreSQL this collection migrates; knowledgehub_lint_pg_version overrides it
_KEPT = ("line", "column", "rule_name", "message", "help")  # what _lint reads of a raw finding


def collect(source: str, pg_version: Any = DEFAULT_PG_VERSION, squawk: str | None = None) -> dict[str, Any]:
    """On the controller: squawk's raw findings for every migration file in ``source``, with each file's sha256.

    Raises LintError (what, where, what to do) when the files cannot be read or squawk cannot answer."""
    version = normalize_pg_version(pg_version)
    try:
        files, _ignored = discover(source)
    except Failure as exc:
        raise LintError("lint_source on the controller: %s" % exc.message.replace("on this host", "on the controller")) \
            from None
    try:
        binary = require_executable(find_squawk(squawk))
    except LintError as exc:
        raise LintError("The lint gate runs on the controller, and %s (the controller's Python environment needs "
                        "squawk-cli: pip install squawk-cli==2.70.0, or the execution environment of this "
                        "collection)." % exc.message.rstrip(".")) from None
    handed: dict[str, Any] = {"format": FORMAT, "ran_on": CONTROLLER, "source": os.path.abspath(source),
                              "squawk": binary, "squawk_version": squawk_version(binary), "pg_version": version,
                              "files": {}}
    for migration in files:
        found = squawk_findings(binary, migration, version)
        handed["files"][migration.filename] = {
            "sha256": migration.checksum, "findings": [{key: item.get(key) for key in _KEPT} for item in found]}
    return handed


def _major(version: str) -> str:
    return version.split(".")[0]


class Handed:
    """The findings the controller's squawk made, as ``_lint.lint_files`` takes them (``handed=``)."""

    def __init__(self, data: Any) -> None:
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or data.get("format") != FORMAT or not all(
                isinstance(entry, dict) and isinstance(entry.get("findings"), list) and entry.get("sha256")
                for entry in files.values()):
            raise LintError("%s is not what this collection's action plugin hands over: it is internal, set by the "
                            "pg_migrate and pg_preflight action plugins from lint_source; do not set it." % OPTION)
        self.files: dict[str, dict[str, Any]] = files
        self.ran_on = str(data.get("ran_on") or CONTROLLER)
        self.source = str(data.get("source") or "")
        self.squawk = str(data.get("squawk") or "")
        self.squawk_version = str(data.get("squawk_version") or "")
        self.pg_version = normalize_pg_version(data.get("pg_version") or DEFAULT_PG_VERSION)

    def check_version(self, server_version: str) -> str:
        """The version squawk ran for; LintError when the server's major version is another."""
        if _major(server_version) != _major(self.pg_version):
            raise LintError("squawk ran on the controller for PostgreSQL %s, but this server is PostgreSQL %s: set "
                            "knowledgehub_lint_pg_version=%s for this host and rerun." % (
                                self.pg_version, server_version, _major(server_version)))
        return self.pg_version

    def findings_for(self, migration: Any) -> list[dict]:
        """squawk's raw findings for ``migration``, when it is the very file the controller linted."""
        entry = self.files.get(migration.filename)
        if entry is None:
            raise LintError("%s is pending on the host but was not linted on the controller: it is not among the "
                            "files of lint_source %s. Stage exactly the files lint_source holds (the migrate and "
                            "preflight roles do), or give the directory they come from as lint_source."
                            % (migration.filename, self.source))
        if entry["sha256"] != migration.checksum:
            raise LintError("%s on the host (sha256 %s) is not the file linted on the controller (sha256 %s, in %s): "
                            "the staged copy differs from lint_source. Stage the files again from lint_source "
                            "(or give the directory they come from as lint_source)."
                            % (migration.filename, migration.checksum, entry["sha256"], self.source))
        return list(entry["findings"])


def handed_of(params: dict[str, Any]) -> Handed | None:
    """The controller's findings the action plugin handed to the module; None: lint on the host as before."""
    data = params.get(OPTION)
    return Handed(data) if data else None


__all__ = ["OPTION", "CONTROLLER", "FORMAT", "DEFAULT_PG_VERSION", "collect", "Handed", "handed_of"]
