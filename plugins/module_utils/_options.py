# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option checks shared by the modules: durations, counts, labels, run ids.

Each check raises ``OptionError`` naming the option, the value and what is accepted,
before anything is done.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import OptionError

# A PostgreSQL duration as its settings accept it: 500ms, 10s, 2min, 1h, 0 (a bare number is the setting's unit).
_DURATION = re.compile(r"^(\d+)\s*(us|ms|s|min|h|d)?$")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_SETTING_VALUE = re.compile(r"^[A-Za-z0-9_.:+-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

# Where the PostgreSQL client programs run (documented in the compose.runner doc fragment).
RUNNERS = ("auto", "host", "compose")


def is_duration(value: Any) -> bool:
    """True for a PostgreSQL duration such as 10s, 500ms, 2min or 0."""
    return bool(_DURATION.match(str(value if value is not None else "").strip()))


def check_duration(option: str, value: Any) -> str:
    """``value`` as a PostgreSQL duration string; OptionError otherwise."""
    if not is_duration(value):
        raise OptionError("%s=%r is not a PostgreSQL duration (examples: 10s, 500ms, 2min, 0)." % (option, value))
    return str(value).strip()


def seconds(option: str, value: Any) -> float:
    """A wait given in seconds (60) or as a duration (60s, 2min), in seconds."""
    if isinstance(value, bool):
        raise OptionError("%s=%r is not a number of seconds or a duration (examples: 60, 60s, 2min)."
                          % (option, value))
    if isinstance(value, (int, float)):
        if value < 0:
            raise OptionError("%s=%s must not be negative." % (option, value))
        return float(value)
    match = _DURATION.match(str(value or "").strip())
    if not match:
        raise OptionError("%s=%r is not a number of seconds or a duration (examples: 60, 60s, 2min)."
                          % (option, value))
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def check_non_negative(params: dict[str, Any], *names: str) -> None:
    for name in names:
        value = params.get(name)
        if value is not None and value < 0:
            raise OptionError("%s=%s must not be negative." % (name, value))


def check_label(label: str) -> str:
    if not _LABEL.match(label or ""):
        raise OptionError("label=%r must start with a letter or digit and hold only letters, digits, '_', '.' "
                          "and '-' (it names the backup files)." % label)
    return label


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def check_run_id(value: Any) -> str | None:
    """A run id as the ledger stores it (a UUID, normalised), or None."""
    if value in (None, ""):
        return None
    if not is_uuid(value):
        raise OptionError("run_id=%r is not a UUID (the ledger's run_id column is one)." % value)
    return str(uuid.UUID(str(value)))


def pgoptions(settings: dict[str, Any], option: str = "session_settings") -> str:
    """PGOPTIONS for session settings, each checked (PGOPTIONS splits on spaces)."""
    parts = []
    for name, value in settings.items():
        value = str(value)
        if not _SETTING_NAME.match(name) or not _SETTING_VALUE.match(value):
            raise OptionError("%s: %s=%r is not a plain PostgreSQL setting name and value (letters, digits, "
                              "_ . : + - only)." % (option, name, value))
        parts.append("-c %s=%s" % (name, value))
    return " ".join(parts)
