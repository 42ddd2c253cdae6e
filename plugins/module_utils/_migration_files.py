# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration files handed from the controller to pg_migrate and pg_preflight, in place of a staged copy.

On the controller (the modules' action plugin, ``plugin_utils/_lint_action``), ``collect`` reads the ``.sql`` files
directly inside ``migrations_source`` as bytes (base64, so that a file's sha256 on the host is the one on the
controller, whatever its encoding) into the private option ``_migration_files``. On the host, ``unpacked`` writes
them into a private temporary directory (0700, files 0600) for the module's run, which reads them as it reads any
``migrations_dir``, and removes the directory when the module ends. The directory's name carries the module's pid:
after a kill -9 the next hand-over on the host removes the directories of processes no longer running (the SQL files
hold no secret meanwhile).

One module run, one transfer: the role needs no staging directory, archive or copy tasks.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure

SOURCE = "migrations_source"
OPTION = "_migration_files"
PREFIX = "knowledgehub-migrations-"


class MigrationFilesError(Failure):
    """The handed-over migration files cannot be read or written as asked."""


def collect(directory: str) -> dict[str, str]:
    """{name: base64 of the bytes} of every ``.sql`` regular file directly inside ``directory`` (on the controller)."""
    if not os.path.isdir(directory):
        raise MigrationFilesError("%s=%s is not a directory on the controller: give the directory that holds the "
                                  "NNN_name.sql files." % (SOURCE, directory))
    out: dict[str, str] = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith(".sql") and os.path.isfile(path):
            try:
                with open(path, "rb") as handle:
                    out[name] = base64.b64encode(handle.read()).decode("ascii")
            except OSError as exc:
                raise MigrationFilesError("Cannot read %s on the controller: %s." % (path, exc.strerror)) from None
    if not out:
        raise MigrationFilesError("%s=%s holds no .sql file (expected names like 004_hybrid_rag_schema.sql)."
                                  % (SOURCE, directory))
    return out


def require_source(params: dict[str, Any]) -> None:
    """A module that reads migration files needs them from one side or the other."""
    if not params.get("migrations_dir") and params.get(OPTION) is None:
        raise MigrationFilesError("No migration files given: set migrations_dir (a directory on the managed host) or "
                                  "%s (a directory on the controller, handed over by the collection's action "
                                  "plugin). Nothing was run." % SOURCE)


def sweep() -> list[str]:
    """Remove the directories of earlier hand-overs whose module process is gone (killed before it could remove its
    own); returns them. A running process's directory, or one of another user, is left."""
    removed: list[str] = []
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return removed  # no temporary directory to look in: making one says why
    for name in names:
        pid = name[len(PREFIX):].split("-", 1)[0]
        path = os.path.join(base, name)
        if not name.startswith(PREFIX) or not pid.isdigit() or os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running (or a process of another user)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        if os.stat(path).st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextmanager
def unpacked(handed: Any) -> Iterator[str]:
    """The handed files in a private temporary directory on the host, removed when the block ends."""
    if not isinstance(handed, dict) or not handed:
        raise MigrationFilesError("%s is set only by the collection's action plugin from %s; do not set it."
                                  % (OPTION, SOURCE))
    sweep()
    try:
        directory = tempfile.mkdtemp(prefix="%s%d-" % (PREFIX, os.getpid()))
    except OSError as exc:
        raise MigrationFilesError("Cannot make a private directory for the migration files in %s on this host: %s. "
                                  "Nothing was run." % (tempfile.gettempdir(), exc.strerror)) from None
    try:
        for name, content in handed.items():
            if not isinstance(name, str) or not name.endswith(".sql") or os.path.basename(name) != name \
                    or name.startswith("."):
                raise MigrationFilesError("%s: %r is not a file name of a migration directory; do not set %s."
                                          % (OPTION, name, OPTION))
            try:
                raw = base64.b64decode(str(content), validate=True)
            except (binascii.Error, ValueError):
                raise MigrationFilesError("%s: the content of %s is not base64; do not set %s."
                                          % (OPTION, name, OPTION)) from None
            try:
                descriptor = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(raw)
            except OSError as exc:
                raise MigrationFilesError("Cannot write %s into %s on this host: %s. Nothing was run."
                                          % (name, directory, exc.strerror)) from None
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
