# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Free space on the database server's own volume, where a clone (CREATE DATABASE ... TEMPLATE) writes its copy.

A clone takes the database's size on the volume that holds the server's data directory, the one PostgreSQL also
writes its WAL to: a clone that fills it stops the server at its next WAL write, in the middle of a migration. So the
space is read before a clone, in the first of these ways that works:

* on this host, when the server's data directory is here: ``data_directory`` (visible to a superuser or a member of
  pg_read_all_settings) holds a ``postmaster.pid`` naming that directory and the server's port;
* through the compose project (``project_dir``), the server being its ``db_service``: ``df`` in that container, on
  ``data_directory`` or else ``$PGDATA``;
* else it is unknown, and said so.

The verdict asks for the database's size plus the larger of the backups' reserve (``_backup_store.space_verdict``)
and ``keep_free_mb``, what must stay free on the volume after the copy.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._backup_store import df_available, space_verdict
from ansible_collections.knowledgehub.migration.plugins.module_utils._compose import ComposeError, Project
from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import first_line

LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


def data_directory(cur: Any) -> str | None:
    """The server's data directory, or None when this role may not see it."""
    cur.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
    row = cur.fetchone()
    return row[0] if row and row[0] else None


def local_free(directory: str | None, port: int, host: str) -> int | None:
    """Free bytes of ``directory``'s filesystem when it is this server's data directory on this host (its
    postmaster.pid names it and the port), else None."""
    if not directory or (host not in LOCAL_HOSTS and not host.startswith("/")):
        return None
    try:
        with open(os.path.join(directory, "postmaster.pid"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 4 or lines[1] != directory or lines[3].strip() != str(port):
        return None
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def parse_df(text: str) -> int:
    """Available bytes from ``df -P -k``'s last line; ValueError when it is not a data line."""
    free = df_available(text.strip().splitlines()[-1]) if text.strip() else None
    if free is None:
        raise ValueError("no df data line in %r" % text[-300:])
    return free


def compose_free(params: dict[str, Any], directory: str | None) -> int:
    """Free bytes where the db service keeps its data, read with ``df`` in the container; raises ComposeError."""
    where = '"%s"' % directory if directory else '"${PGDATA:-/var/lib/postgresql/data}"'
    done = Project.from_params(params).run("exec", "-T", params.get("db_service") or "db", "sh", "-c",
                                           "df -P -k %s" % where, timeout=60)
    try:
        return parse_df(done.stdout)
    except ValueError:
        raise ComposeError("df in the %s service printed no free space: %r"
                           % (params.get("db_service") or "db", done.stdout[-300:])) from None


def clone_space(cur: Any, params: dict[str, Any], port: int, host: str, size: int) -> dict[str, Any]:
    """Whether a copy of ``size`` bytes fits on the server's volume: space_verdict's fields with ``measured``
    (how: local, compose) and ``keep_free_bytes``; ``ok`` is None (and ``summary`` says why) when not measured."""
    keep = max(0, int(params.get("keep_free_mb") or 0)) * 1024 * 1024
    directory = data_directory(cur)
    free, measured, why = local_free(directory, port, host), "local", ""
    if free is None and params.get("project_dir"):
        measured = "compose"
        try:
            free = compose_free(params, directory)
        except ComposeError as exc:
            why = "df in the %s service failed: %s" % (params.get("db_service") or "db", first_line(exc.message))
    if free is None:
        why = why or ("the server's data directory is %s (grant pg_read_all_settings, or give project_dir when the "
                      "server runs in the compose project)" % ("not on this host" if directory else "not visible to "
                                                               "this role"))
        return {"ok": None, "measured": None, "estimated_bytes": size, "keep_free_bytes": keep,
                "summary": "Free space on the database server's volume not read: %s" % why}
    verdict = space_verdict(directory or "the %s service's data directory" % (params.get("db_service") or "db"),
                            size, free=free, keep_free=keep)
    verdict.update(measured=measured, keep_free_bytes=keep)
    return verdict
