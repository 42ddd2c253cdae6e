# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The locks of ALTER, CREATE, DROP and COMMENT ON, read from the statement's tokens.

DDL mostly takes ACCESS EXCLUSIVE on the relation it changes; the lighter
forms (SHARE UPDATE EXCLUSIVE for statistics, storage parameters, VALIDATE,
ATTACH PARTITION; SHARE ROW EXCLUSIVE for triggers and new foreign keys) and
the other tables a statement touches (referenced tables, partitions, parents,
the tables a view reads) are listed per command, after PostgreSQL 15.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_dml import (
    query_locks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import (
    ACCESS_EXCLUSIVE,
    ACCESS_SHARE,
    ANY_RELATION,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    lock_on,
    unknown_locks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_names import (
    END_OF_LIST,
    close_paren,
    names_list,
    read_name,
    read_parts,
    render_name,
    skip_words,
    split_top,
    words_of,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import Token

# The notes of the locks a new foreign key takes on its table and on the table it references: no row and no column
# of either changes (the post-run ANALYZE leaves such a table out).
REFERENCED = "referenced by a new foreign key"
ADD_FOREIGN_KEY = "ADD FOREIGN KEY: SHARE ROW EXCLUSIVE"
FOREIGN_KEY_ONLY = (REFERENCED, ADD_FOREIGN_KEY)

# -- ALTER TABLE ----------------------------------------------------------------

# Storage parameters whose SET/RESET takes only SHARE UPDATE EXCLUSIVE (others: ACCESS EXCLUSIVE).
_LIGHT_OPTIONS = ("fillfactor", "parallel_workers", "toast_tuple_target", "vacuum_index_cleanup", "vacuum_truncate",
                  "log_autovacuum_min_duration")


def _options_mode(toks: list[Token], i: int) -> str:
    """Lock for ``SET ( name = value, ... )`` / ``RESET ( name, ... )`` whose parenthesis is at ``i``."""
    for part in split_top(toks[i + 1:close_paren(toks, i) - 1], 0):
        name = ".".join(t.text.lower() for t in part[:3] if t.kind == "word")
        base = name[len("toast."):] if name.startswith("toast.") else name
        if not (base in _LIGHT_OPTIONS or base.startswith("autovacuum_")):
            return ACCESS_EXCLUSIVE
    return SHARE_UPDATE_EXCLUSIVE


def _references(toks: list[Token], own: str | None) -> list[dict[str, Any]]:
    """SHARE ROW EXCLUSIVE on every other table named after REFERENCES (a new foreign key)."""
    locks = []
    for i, tok in enumerate(toks):
        if tok.up == "REFERENCES":
            name, _end = read_name(toks, i + 1)
            if name and name != own:
                locks.append(lock_on(name, SHARE_ROW_EXCLUSIVE, REFERENCED))
    return locks


def _add_subcommand(cmd: list[Token], table: str) -> list[dict[str, Any]]:
    """``ADD [COLUMN] ...`` or ``ADD [CONSTRAINT name] CHECK|UNIQUE|PRIMARY KEY|EXCLUDE|FOREIGN KEY ...``."""
    i = 3 if cmd[1].up == "CONSTRAINT" else 1
    kind = cmd[i].up if i < len(cmd) else ""
    if kind == "FOREIGN":
        return [lock_on(table, SHARE_ROW_EXCLUSIVE, ADD_FOREIGN_KEY)] + _references(cmd, table)
    if kind in ("CHECK", "UNIQUE", "PRIMARY", "EXCLUDE"):
        return [lock_on(table, ACCESS_EXCLUSIVE, "ADD %s: ACCESS EXCLUSIVE" % kind)]
    return [lock_on(table, ACCESS_EXCLUSIVE, "ADD COLUMN: ACCESS EXCLUSIVE")] + _references(cmd, table)


def _alter_column_mode(cmd: list[Token]) -> str:
    """``ALTER [COLUMN] col ...``: statistics and per-column options are the light ones."""
    i = skip_words(cmd, 1, "COLUMN") + 1
    if words_of(cmd[i:i + 2]) == ["SET", "STATISTICS"]:
        return SHARE_UPDATE_EXCLUSIVE
    if words_of(cmd[i:i + 1]) in (["SET"], ["RESET"]) and i + 1 < len(cmd) and cmd[i + 1].is_op("("):
        return SHARE_UPDATE_EXCLUSIVE
    return ACCESS_EXCLUSIVE


def _partition_subcommand(cmd: list[Token], table: str) -> list[dict[str, Any]]:
    partition, _end = read_name(cmd, 2)
    if cmd[0].up == "ATTACH":
        return [lock_on(table, SHARE_UPDATE_EXCLUSIVE, "ATTACH PARTITION: SHARE UPDATE EXCLUSIVE"),
                lock_on(partition or "?", ACCESS_EXCLUSIVE, "attached partition (and the default partition, if any)")]
    mode = SHARE_UPDATE_EXCLUSIVE if "CONCURRENTLY" in words_of(cmd) else ACCESS_EXCLUSIVE
    return [lock_on(table, mode, "DETACH PARTITION: %s" % mode), lock_on(partition or "?", mode, "detached partition")]


def _inherit_subcommand(cmd: list[Token], table: str) -> list[dict[str, Any]]:
    dropping = cmd[0].up == "NO"
    parent, _end = read_name(cmd, 2 if dropping else 1)
    label = "NO INHERIT" if dropping else "INHERIT"
    return [lock_on(table, ACCESS_EXCLUSIVE, "%s: ACCESS EXCLUSIVE" % label),
            lock_on(parent or "?", ACCESS_SHARE if dropping else SHARE_UPDATE_EXCLUSIVE, "%s parent" % label)]


def _simple_subcommand(cmd: list[Token]) -> tuple[str, str]:
    """Mode and label of a sub-command that locks only the altered table."""
    words = words_of(cmd[:4])
    if words[0] == "ALTER" and words[1:2] != ["CONSTRAINT"]:
        return _alter_column_mode(cmd), "ALTER COLUMN"
    if words[:2] == ["VALIDATE", "CONSTRAINT"]:
        return SHARE_UPDATE_EXCLUSIVE, "VALIDATE CONSTRAINT (a foreign key's referenced table: ROW SHARE)"
    if words[0] in ("ENABLE", "DISABLE") and "TRIGGER" in words:
        return SHARE_ROW_EXCLUSIVE, "%s TRIGGER" % words[0]
    if words[:2] == ["CLUSTER", "ON"] or words[:3] == ["SET", "WITHOUT", "CLUSTER"]:
        return SHARE_UPDATE_EXCLUSIVE, " ".join(words[:3] if words[0] == "SET" else words[:2])
    if words[0] in ("SET", "RESET") and len(cmd) > 1 and cmd[1].is_op("("):
        return _options_mode(cmd, 1), "%s (storage parameters)" % words[0]
    if words[:2] == ["DROP", "CONSTRAINT"]:
        return ACCESS_EXCLUSIVE, "DROP CONSTRAINT (a foreign key's referenced table: ACCESS EXCLUSIVE too)"
    return ACCESS_EXCLUSIVE, " ".join(w for w in words[:2] if w)


def _alter_subcommand(cmd: list[Token], table: str) -> list[dict[str, Any]]:
    head = cmd[0].up
    if head == "ADD" and len(cmd) > 1:
        return _add_subcommand(cmd, table)
    if head in ("ATTACH", "DETACH"):
        return _partition_subcommand(cmd, table)
    if head == "INHERIT" or words_of(cmd[:2]) == ["NO", "INHERIT"]:
        return _inherit_subcommand(cmd, table)
    mode, label = _simple_subcommand(cmd)
    return [lock_on(table, mode, "%s: %s" % (label, mode))]


def _alter_table(toks: list[Token], start: int) -> list[dict[str, Any]]:
    """``ALTER TABLE [IF EXISTS] [ONLY] name sub-command [, ...]``: the strongest sub-command wins."""
    i = skip_words(toks, start, "IF EXISTS", "ONLY")
    if words_of(toks[i:i + 2]) == ["ALL", "IN"]:
        return [lock_on(ANY_RELATION, ACCESS_EXCLUSIVE, "every table in the tablespace")]
    table, i = read_name(toks, i)
    if table is None:
        return unknown_locks("ALTER TABLE without a table name")
    locks: list[dict[str, Any]] = []
    for cmd in split_top(toks, i):
        locks.extend(_alter_subcommand(cmd, table))
    return locks or [lock_on(table, ACCESS_EXCLUSIVE, "")]


def _alter_index(toks: list[Token]) -> list[dict[str, Any]]:
    """ALTER INDEX: RENAME and light storage parameters take SHARE UPDATE EXCLUSIVE on the index."""
    i = skip_words(toks, 2, "IF EXISTS")
    if words_of(toks[i:i + 2]) == ["ALL", "IN"]:
        return [lock_on(ANY_RELATION, ACCESS_EXCLUSIVE, "every index in the tablespace")]
    index, i = read_name(toks, i)
    mode = ACCESS_EXCLUSIVE
    if words_of(toks[i:i + 1]) == ["RENAME"]:
        mode = SHARE_UPDATE_EXCLUSIVE
    elif words_of(toks[i:i + 1]) in (["SET"], ["RESET"]) and i + 1 < len(toks) and toks[i + 1].is_op("("):
        mode = _options_mode(toks, i + 1)
    return [lock_on(index or "?", mode, "index")]


def _alter_domain(toks: list[Token]) -> list[dict[str, Any]]:
    words = words_of(toks)
    if "ADD" in words or "VALIDATE" in words or "NOT" in words and "SET" in words:
        return unknown_locks("checking a domain constraint locks every table with a column of the domain (SHARE)")
    return []


def alter(toks: list[Token]) -> list[dict[str, Any]]:
    words = words_of(toks[:3])
    kind = words[1] if len(words) > 1 else ""
    if kind == "TABLE" or words[1:3] == ["FOREIGN", "TABLE"]:
        return _alter_table(toks, 2 if kind == "TABLE" else 3)
    if kind == "INDEX":
        return _alter_index(toks)
    if kind in ("VIEW", "MATERIALIZED", "SEQUENCE"):
        name, _end = read_name(toks, skip_words(toks, 3 if kind == "MATERIALIZED" else 2, "IF EXISTS"))
        mode = SHARE_ROW_EXCLUSIVE if kind == "SEQUENCE" else ACCESS_EXCLUSIVE
        return [lock_on(name or "?", mode, "ALTER %s" % kind)]
    if kind == "POLICY":
        return on_table(toks, 2, ACCESS_EXCLUSIVE, "ALTER POLICY")
    if kind == "DOMAIN":
        return _alter_domain(toks)
    if kind in ("TYPE", "FUNCTION", "PROCEDURE", "ROUTINE", "SCHEMA", "ROLE", "USER", "GROUP", "DEFAULT",
                "DATABASE", "AGGREGATE", "OPERATOR", "COLLATION", "LANGUAGE"):
        return []
    return unknown_locks("ALTER %s is not known to the lock analysis" % kind)


# -- CREATE ---------------------------------------------------------------------

# Objects whose creation locks no relation.
_NO_RELATION_OBJECTS = ("SCHEMA", "SEQUENCE", "TYPE", "DOMAIN", "ROLE", "USER", "GROUP", "COLLATION",
                        "CONVERSION", "OPERATOR", "AGGREGATE", "CAST", "TEXT", "LANGUAGE", "ACCESS",
                        "PUBLICATION", "SUBSCRIPTION", "SERVER", "FOREIGN", "TABLESPACE", "DATABASE", "EVENT",
                        "TRANSFORM")


def _like_sources(body: list[Token]) -> list[dict[str, Any]]:
    locks = []
    for i, tok in enumerate(body):
        if tok.up == "LIKE" and i > 0 and (body[i - 1].is_op("(") or body[i - 1].is_op(",")):
            name, _end = read_name(body, i + 1)
            if name:
                locks.append(lock_on(name, ACCESS_SHARE, "LIKE source"))
    return locks


def _create_table(toks: list[Token], start: int) -> list[dict[str, Any]]:
    """A new table locks nothing that exists, except the tables it references, copies or extends."""
    if_not_exists = words_of(toks[start:start + 3]) == ["IF", "NOT", "EXISTS"]
    name, i = read_name(toks, skip_words(toks, start, "IF NOT EXISTS"))
    locks: list[dict[str, Any]] = []
    if words_of(toks[i:i + 2]) == ["PARTITION", "OF"]:
        parent, i = read_name(toks, i + 2)
        locks.append(lock_on(parent or "?", ACCESS_EXCLUSIVE, "partitioned table receiving a new partition"))
    if i < len(toks) and toks[i].is_op("("):
        end = close_paren(toks, i)
        locks += _references(toks[i:end], name) + _like_sources(toks[i:end])
        i = end
    if words_of(toks[i:i + 1]) == ["INHERITS"] and i + 1 < len(toks):
        locks += [lock_on(p, SHARE_UPDATE_EXCLUSIVE, "inheritance parent")
                  for p in names_list(toks[i + 2:close_paren(toks, i + 1) - 1], 0)]
    if words_of(toks[i:i + 2]) == ["AS", "TABLE"]:
        locks += [lock_on(n, ACCESS_SHARE, "read by CREATE TABLE AS") for n in names_list(toks, i + 2)[:1]]
    elif words_of(toks[i:i + 1]) == ["AS"]:
        locks += query_locks(toks, i + 1)
    if if_not_exists:
        for item in locks:
            item["note"] = "; ".join(n for n in (item["note"], "only if the table does not exist yet") if n)
    return locks


def _create_index(toks: list[Token], start: int) -> list[dict[str, Any]]:
    """``CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] name] ON [ONLY] table``."""
    concurrently = words_of(toks[start:start + 1]) == ["CONCURRENTLY"]
    for i in range(start, len(toks)):
        if toks[i].up == "ON":
            table, _end = read_name(toks, skip_words(toks, i + 1, "ONLY"))
            if concurrently:
                return [lock_on(table or "?", SHARE_UPDATE_EXCLUSIVE, "CREATE INDEX CONCURRENTLY: writes go on")]
            return [lock_on(table or "?", SHARE, "CREATE INDEX: writes wait until the index is built")]
    return unknown_locks("CREATE INDEX without ON table")


def _create_view(toks: list[Token], start: int, replace: bool) -> list[dict[str, Any]]:
    """A view's query is analysed at creation: ACCESS SHARE on every table it reads."""
    name, i = read_name(toks, skip_words(toks, start, "IF NOT EXISTS"))
    for j in range(i, len(toks)):
        if toks[j].up == "AS":
            locks = [dict(item, note="read by the view's query") for item in query_locks(toks, j + 1)]
            if replace and name:
                locks.append(lock_on(name, ACCESS_EXCLUSIVE, "the view it replaces, if it exists"))
            return locks
    return unknown_locks("view without AS query")


def on_table(toks: list[Token], start: int, mode: str, note: str) -> list[dict[str, Any]]:
    """Triggers, policies, and a table's constraints: the relation follows the first ON."""
    for i in range(start, len(toks)):
        if toks[i].up == "ON":
            table, _end = read_name(toks, skip_words(toks, i + 1, "ONLY", "TABLE"))
            if table:
                return [lock_on(table, mode, note)]
    return unknown_locks("%s without ON table" % note)


def _rule_table(toks: list[Token], mode: str, note: str) -> list[dict[str, Any]]:
    """``CREATE RULE name AS ON event TO table`` / ``DROP RULE name ON table``."""
    words = words_of(toks)
    if "TO" in words and toks[0].up == "CREATE":
        table, _end = read_name(toks, words.index("TO") + 1)
        return [lock_on(table or "?", mode, note)]
    return on_table(toks, 2, mode, note)


def _create_routine(toks: list[Token], start: int) -> list[dict[str, Any]]:
    """Creating a function locks nothing, unless a SQL-language body is analysed at creation."""
    words = words_of(toks[start:])
    sql_body = "ATOMIC" in words or any(
        w == "LANGUAGE" and toks[start + n + 1].text.lower() in ("sql", "'sql'") for n, w in enumerate(words[:-1]))
    if sql_body:
        return unknown_locks("a SQL-language body is checked at creation: ACCESS SHARE on the tables it reads")
    return []


def create(toks: list[Token]) -> list[dict[str, Any]]:
    i = skip_words(toks, 1, "OR REPLACE")
    replace = i > 1
    i = skip_words(toks, i, "GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED", "RECURSIVE")
    kind = toks[i].up if i < len(toks) else ""
    if kind == "TABLE":
        return _create_table(toks, i + 1)
    if kind in ("INDEX", "UNIQUE"):
        return _create_index(toks, skip_words(toks, i, "UNIQUE", "INDEX"))
    if kind in ("VIEW", "MATERIALIZED"):
        return _create_view(toks, i + (2 if kind == "MATERIALIZED" else 1), replace)
    if kind in ("TRIGGER", "CONSTRAINT"):
        return on_table(toks, i, SHARE_ROW_EXCLUSIVE, "CREATE TRIGGER: writes wait")
    if kind == "POLICY":
        return on_table(toks, i, ACCESS_EXCLUSIVE, "CREATE POLICY")
    if kind == "RULE":
        return _rule_table(toks, ACCESS_EXCLUSIVE, "CREATE RULE")
    if kind == "STATISTICS":
        words = words_of(toks)
        names = names_list(toks, words.index("FROM") + 1) if "FROM" in words else []
        return [lock_on(n, SHARE_UPDATE_EXCLUSIVE, "CREATE STATISTICS") for n in names[:1]]
    if kind in ("FUNCTION", "PROCEDURE"):
        return _create_routine(toks, i)
    if kind in ("EXTENSION",):
        return unknown_locks("CREATE EXTENSION runs the extension's install script")
    if kind in _NO_RELATION_OBJECTS:
        return []
    return unknown_locks("CREATE %s is not known to the lock analysis" % kind)


# -- DROP, COMMENT ON ------------------------------------------------------------

def _drop_relations(toks: list[Token], kind: str, start: int) -> list[dict[str, Any]]:
    notes = []
    if kind == "TABLE":
        notes.append("the tables linked to it by a foreign key are locked ACCESS EXCLUSIVE too")
    if "CASCADE" in words_of(toks):
        notes.append("CASCADE: the tables of dependent objects too")
    names = names_list(toks, skip_words(toks, start, "IF EXISTS"), END_OF_LIST)
    return [dict(lock_on(n, ACCESS_EXCLUSIVE, "; ".join(notes)), dropped=kind == "TABLE") for n in names]


def drop(toks: list[Token]) -> list[dict[str, Any]]:
    words = words_of(toks[:4])
    kind = words[1] if len(words) > 1 else ""
    if kind in ("TABLE", "VIEW", "SEQUENCE"):
        return _drop_relations(toks, kind, 2)
    if words[1:3] in (["MATERIALIZED", "VIEW"], ["FOREIGN", "TABLE"]):
        return _drop_relations(toks, words[2], 3)
    if kind == "INDEX":
        mode = SHARE_UPDATE_EXCLUSIVE if words[2:3] == ["CONCURRENTLY"] else ACCESS_EXCLUSIVE
        names = names_list(toks, skip_words(toks, 2, "CONCURRENTLY", "IF EXISTS"), END_OF_LIST)
        return [lock_on(n, mode, "index; its table is locked %s too" % mode) for n in names]
    if kind in ("TRIGGER", "POLICY"):
        return on_table(toks, 2, ACCESS_EXCLUSIVE, "DROP %s" % kind)
    if kind == "RULE":
        return _rule_table(toks, ACCESS_EXCLUSIVE, "DROP RULE")
    if kind == "SCHEMA" and "CASCADE" in words_of(toks):
        return [lock_on("%s.*" % n, ACCESS_EXCLUSIVE, "every relation in the schema (CASCADE)")
                for n in names_list(toks, skip_words(toks, 2, "IF EXISTS"), END_OF_LIST)]
    if "CASCADE" in words_of(toks) or kind in ("OWNED", "EXTENSION"):
        return unknown_locks("DROP %s removes dependent objects (triggers, columns, views) and locks their tables" % kind)
    return []


def comment(toks: list[Token]) -> list[dict[str, Any]]:
    """COMMENT ON a relation or column: SHARE UPDATE EXCLUSIVE; on a table's constraint or trigger: ACCESS SHARE."""
    i = skip_words(toks, 2, "MATERIALIZED", "FOREIGN")
    kind = toks[i].up if i < len(toks) else ""
    if kind in ("TABLE", "VIEW", "SEQUENCE", "INDEX", "COLUMN"):
        parts, _end = read_parts(toks, i + 1)
        if kind == "COLUMN":
            parts = parts[:-1]
        return [lock_on(render_name(parts), SHARE_UPDATE_EXCLUSIVE, "COMMENT ON %s" % kind)] if parts else []
    if kind in ("CONSTRAINT", "TRIGGER", "POLICY", "RULE"):
        return on_table(toks, i, ACCESS_SHARE, "COMMENT ON %s" % kind)
    return []
