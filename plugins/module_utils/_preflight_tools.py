# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The programs and libraries the run needs, found the way the run finds them, with their versions.

pg_dump, pg_restore and psql come from ``_clients.select_client``, with the same options as pg_backup
(``runner``: the host's client, or the one inside the compose ``db`` service), so the gate sees the programs
the backups and restores will use. psycopg2 is the module's own import. squawk is looked up as the lint gate
looks it up (``_lint.find_squawk``) and asked for its version, only when the lint is on and did not already run on
the controller (``_lint_handoff``: then the check reports the controller's squawk, and the host needs none).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._clients import select_client
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import ComposeError
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint import (
    LintError,
    find_squawk,
    squawk_version,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._lint_handoff import CONTROLLER, handed_of
from ansible_collections.knowledgehub.migration.plugins.module_utils._preflight import FAIL, PASS, make_check
from ansible_collections.knowledgehub.migration.plugins.module_utils._process import ProcessError
from ansible_collections.knowledgehub.migration.plugins.module_utils._target import psycopg2

PROGRAMS = ("pg_dump", "pg_restore", "psql")
MIN_PSYCOPG2 = (2, 8)  # psycopg2.errors and psycopg2.sql, which this collection imports


def _install_hint(major: str) -> str:
    return ("Install the PostgreSQL %s client on the host (Debian/Ubuntu: apt-get install postgresql-client-%s; "
            "RHEL: dnf install postgresql%s), point pg_bin_dir at its bin directory, or set runner=compose with "
            "project_dir so the db service's own client programs run." % (major, major, major))


def client_programs_check(job: Any) -> dict[str, Any]:
    """pg_dump (at least the server's major version), pg_restore and psql from the same bin directory, where the
    backups and restores will run them."""
    major = str(job.server_num // 10000) if job.server_num >= 100000 else "9.6"
    runner = job.params.get("runner") or "auto"
    threshold = {"pg_dump_major_at_least": major, "programs": list(PROGRAMS)}
    with job.target.client_env() as env:
        try:
            client = select_client(job.params, job.target, job.server_num, env)
        except (ProcessError, ComposeError) as exc:
            return make_check("client_programs", FAIL, {"runner": runner, "pg_dump": None}, threshold,
                              "No usable pg_dump (runner=%s): %s %s" % (runner, exc.message, _install_hint(major)))
        observed: dict[str, Any] = {"runner": client.executor.name, "bin_dir": client.bin_dir,
                                    "pg_dump": client.version}
        missing = []
        for name in PROGRAMS[1:]:
            try:
                observed[name] = client.check_program(name, env)
            except ProcessError as exc:
                observed[name] = None
                missing.append("%s: %s" % (name, exc.message))
    if missing:
        return make_check("client_programs", FAIL, observed, threshold,
                          "Missing or unusable beside pg_dump %s in %s (%s): %s. %s" % (
                              client.version, client.bin_dir, client.executor.name, " ".join(missing),
                              _install_hint(major)), missing)
    return make_check("client_programs", PASS, observed, threshold,
                      "pg_dump %s, pg_restore %s and psql %s in %s (%s)." % (
                          observed["pg_dump"], observed["pg_restore"], observed["psql"], client.bin_dir,
                          client.executor.name))


def version_tuple(text: str) -> tuple[int, ...]:
    """``2.9.13 (dt dec pq3 ext lo64)`` -> (2, 9, 13)."""
    parts = []
    for piece in (text or "").strip().split(" ")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def psycopg2_check(_job: Any) -> dict[str, Any]:
    """The PostgreSQL driver of the module's Python on the managed host."""
    version = getattr(psycopg2, "__version__", "") if psycopg2 is not None else ""
    shown = version.split(" ")[0] if version else None
    wanted = ".".join(str(n) for n in MIN_PSYCOPG2)
    if not version:
        return make_check("psycopg2", FAIL, None, wanted,
                          "psycopg2 is not importable by the module's Python: install psycopg2 (pip install "
                          "psycopg2-binary, pinned in requirements.txt) for ansible_python_interpreter.")
    if version_tuple(version) < MIN_PSYCOPG2:
        return make_check("psycopg2", FAIL, shown, wanted,
                          "psycopg2 %s is older than %s: upgrade it (pip install -U psycopg2-binary)." % (shown, wanted))
    return make_check("psycopg2", PASS, shown, wanted, "psycopg2 %s." % shown)


def squawk_check(job: Any) -> dict[str, Any]:
    """The lint gate's squawk, when the lint is on: found, runnable, a 2.x version the gate reads."""
    if not job.params.get("lint", True):
        return make_check("squawk", PASS, "lint off", None, "lint=false: squawk is not needed.")
    try:
        handed = handed_of(job.params)
    except LintError as exc:
        return make_check("squawk", FAIL, {"ran_on": CONTROLLER, "version": None}, "2.x", exc.message)
    if handed:
        return make_check("squawk", PASS, {"ran_on": handed.ran_on, "path": handed.squawk,
                                           "version": handed.squawk_version}, "2.x",
                          "squawk %s ran on the controller (%s); this host needs none." % (
                              handed.squawk_version, handed.squawk))
    explicit = job.params.get("squawk_path")
    squawk = find_squawk(explicit)
    if not squawk:
        return make_check("squawk", FAIL, None, "2.x",
                          "squawk is not installed: not next to the module's Python nor on PATH. Install squawk-cli "
                          "(pip install squawk-cli==2.70.0, pinned in requirements.txt), set squawk_path, or run "
                          "with lint=false (the lint gate is then skipped).")
    try:
        version = squawk_version(squawk)
    except LintError as exc:
        return make_check("squawk", FAIL, {"path": squawk, "version": None}, "2.x",
                          "squawk at %s cannot be used: %s Install squawk-cli 2.x (pip install squawk-cli==2.70.0) "
                          "or correct squawk_path." % (squawk, exc.message))
    return make_check("squawk", PASS, {"path": squawk, "version": version}, "2.x", "squawk %s (%s)." % (
        version, squawk))


__all__ = ["PROGRAMS", "MIN_PSYCOPG2", "client_programs_check", "version_tuple", "psycopg2_check", "squawk_check"]
