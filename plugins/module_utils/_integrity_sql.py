# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What migration files promise about rows and objects, read from their statements (no database).

``constraint_steps`` walks the pending files in run order and lists each constraint
that PostgreSQL will check against the rows already there: ``ALTER TABLE ... ADD
[CONSTRAINT x] FOREIGN KEY / CHECK / UNIQUE / PRIMARY KEY``, ``ALTER COLUMN ... SET
NOT NULL``, ``CREATE UNIQUE INDEX`` and ``VALIDATE CONSTRAINT`` (of a constraint added
earlier in the run, whose definition it then carries). Each step knows whether its
table or columns are created earlier in the run (then no existing row is concerned)
and whether it is added ``NOT VALID``.

``created_objects`` lists what a file creates (tables, views, indexes, sequences,
functions, types, columns added) minus what it drops or renames later, for the
baseline check. Statements are read with the collection's lexer and splitter
(``_sqllex``, ``_migrations.MigrationFile.statements``) and the lock analysis's name
readers (``_locks_names``).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.knowledgehub.migration.plugins.module_utils._errors import Failure
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_names import (
    close_paren,
    names_list,
    read_name,
    skip_words,
    split_top,
    words_of,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import Token, tokenize
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqlsplit import split_sql

_RELATIONS = {"TABLE": "table", "VIEW": "view", "MATERIALIZED": "materialized view", "SEQUENCE": "sequence",
              "INDEX": "index", "UNIQUE": "index"}
_PREFIXES = ("OR REPLACE", "GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED", "RECURSIVE")


def statements_of(migration: Any) -> list[Any]:
    """The file's statements (split once by MigrationFile); [] when it cannot be split (the gate says why)."""
    try:
        return migration.statements() if hasattr(migration, "statements") else split_sql(migration.sql)
    except Failure:
        return []


def _inside(toks: list[Token], i: int, text: str) -> tuple[str, int]:
    """The text between the parenthesis opening at ``i`` and its match, and the index after it."""
    end = close_paren(toks, i)
    if end - 1 <= i + 1:
        return "", end
    return text[toks[i + 1].start:toks[end - 2].end], end


def _columns(toks: list[Token], i: int) -> tuple[list[str], int]:
    """The column names of ``( a, b )`` at ``i``."""
    if i >= len(toks) or not toks[i].is_op("("):
        return [], i
    end = close_paren(toks, i)
    return names_list(toks[i + 1:end - 1], 0), end


def _constraint(cmd: list[Token], text: str, table: str) -> dict[str, Any] | None:
    """``ADD [CONSTRAINT name] FOREIGN KEY|CHECK|UNIQUE|PRIMARY KEY ...`` (a column added: None)."""
    if len(cmd) > 3 and cmd[1].up == "CONSTRAINT":
        name, i = (cmd[2].text.lower() if cmd[2].kind == "word" else cmd[2].text), 3
    else:
        name, i = "", 1
    kind = cmd[i].up if i < len(cmd) else ""
    step: dict[str, Any] = {"table": table, "name": name, "not_valid": words_of(cmd[-2:]) == ["NOT", "VALID"]}
    if kind == "FOREIGN":
        columns, j = _columns(cmd, i + 2)
        words = words_of(cmd)
        at = words.index("REFERENCES") if "REFERENCES" in words else -1
        if at < 0:
            return None
        references, k = read_name(cmd, at + 1)
        ref_columns, _k = _columns(cmd, k)
        step.update(kind="foreign key", columns=columns, references=references, ref_columns=ref_columns)
    elif kind == "CHECK" and i + 1 < len(cmd):
        step.update(kind="check", expr=_inside(cmd, i + 1, text)[0])
    elif kind in ("UNIQUE", "PRIMARY"):
        j = skip_words(cmd, i + 1, "KEY", "NULLS NOT DISTINCT", "NULLS DISTINCT")
        if words_of(cmd[j:j + 2]) == ["USING", "INDEX"]:
            return None  # the index exists already: its rows were checked when it was built
        columns, _j = _columns(cmd, j)
        step.update(kind="primary key" if kind == "PRIMARY" else "unique", columns=columns, where="",
                    nulls_distinct=kind != "PRIMARY" and "NOT" not in words_of(cmd[i:j]))
    else:
        return None
    return step


def _alter_table(toks: list[Token], text: str) -> tuple[str | None, list[dict[str, Any]], list[str]]:
    """The table, the constraint steps and the columns an ALTER TABLE adds."""
    i = skip_words(toks, 2, "IF EXISTS", "ONLY")
    table, i = read_name(toks, i)
    steps: list[dict[str, Any]] = []
    added: list[str] = []
    if not table:
        return None, steps, added
    for cmd in split_top(toks, i):
        head = words_of(cmd[:2])
        if head[:1] == ["ADD"] and len(cmd) > 1:
            is_column = cmd[1].up == "COLUMN" or cmd[1].up not in ("CONSTRAINT", "FOREIGN", "CHECK", "UNIQUE",
                                                                   "PRIMARY", "EXCLUDE")
            if is_column:
                column, _j = read_name(cmd, skip_words(cmd, 1, "COLUMN", "IF NOT EXISTS"))
                added += [column] if column else []
                continue
            step = _constraint(cmd, text, table)
            steps += [step] if step else []
        elif head[:1] == ["ALTER"] and words_of(cmd[-3:]) == ["SET", "NOT", "NULL"]:
            column, _j = read_name(cmd, skip_words(cmd, 1, "COLUMN"))
            steps.append({"table": table, "kind": "not null", "columns": [column], "name": "",
                          "not_valid": False})
        elif head == ["VALIDATE", "CONSTRAINT"] and len(cmd) > 2:
            name = cmd[2].text.lower() if cmd[2].kind == "word" else cmd[2].text
            steps.append({"table": table, "kind": "validate", "name": name, "not_valid": False})
    return table, steps, added


def _unique_index(toks: list[Token], text: str) -> dict[str, Any] | None:
    """``CREATE UNIQUE INDEX [CONCURRENTLY] [[IF NOT EXISTS] name] ON [ONLY] t [USING m] (elements) ... WHERE``."""
    words = words_of(toks)
    if "ON" not in words:
        return None
    i = skip_words(toks, words.index("ON") + 1, "ONLY")
    table, i = read_name(toks, i)
    if words_of(toks[i:i + 1]) == ["USING"]:
        i += 2
    if not table or i >= len(toks) or not toks[i].is_op("("):
        return None
    inner, end = _inside(toks, i, text)
    name, _j = read_name(toks, skip_words(toks, 3, "CONCURRENTLY", "IF NOT EXISTS"))
    where = ""
    rest = words_of(toks[end:])
    if "WHERE" in rest:
        where = text[toks[end + rest.index("WHERE") + 1].start:toks[-1].end].rstrip(";").strip()
    elements = [inner[part[0].start:part[-1].end] for part in split_top(tokenize(inner), 0)]
    return {"table": table, "kind": "unique index", "name": name if name != table else "", "columns": elements,
            "where": where, "nulls_distinct": "NOT" not in words_of(toks[end:end + 4]), "not_valid": False}


def _created_relation(toks: list[Token]) -> tuple[str, str | None]:
    """``(kind, name)`` of a CREATE TABLE/VIEW/SEQUENCE/INDEX statement, ("", None) for others."""
    i = skip_words(toks, 1, *_PREFIXES)
    kind = toks[i].up if i < len(toks) else ""
    if kind not in _RELATIONS:
        return "", None
    j = skip_words(toks, i, "UNIQUE", "MATERIALIZED", "TABLE", "VIEW", "SEQUENCE", "INDEX", "CONCURRENTLY",
                   "IF NOT EXISTS")
    if words_of(toks[j:j + 1]) == ["ON"]:
        return _RELATIONS[kind], None  # an index without a name
    name, _end = read_name(toks, j)
    return _RELATIONS[kind], name


def constraint_steps(files: list[Any]) -> list[dict[str, Any]]:
    """The constraints the files (in run order) check against existing rows, each with where it is
    (``file``, ``line``), and what the run creates before it (``new_table``, ``new_columns``: origins)."""
    tables: dict[str, str] = {}
    columns: dict[tuple[str, str], str] = {}
    added_in_run: dict[tuple[str, str], dict[str, Any]] = {}
    steps: list[dict[str, Any]] = []
    for migration in files:
        for stmt in statements_of(migration):
            head = stmt.words[:2]
            if head[:1] != ("CREATE",) and head != ("ALTER", "TABLE"):
                continue
            toks = tokenize(stmt.text)
            where = "%s line %d" % (migration.filename, stmt.line)
            found: list[dict[str, Any]] = []
            if head == ("ALTER", "TABLE"):
                table, found, added = _alter_table(toks, stmt.text)
                for column in added:
                    columns.setdefault((table, column.lower()), where)
            elif "UNIQUE" in stmt.words[:3] and "INDEX" in stmt.words[:4]:
                found = [step for step in [_unique_index(toks, stmt.text)] if step]
            if head[:1] == ("CREATE",):
                kind, name = _created_relation(toks)
                if kind == "table" and name:
                    tables.setdefault(name, where)
            for step in found:
                step.update(file=migration.filename, line=stmt.line, statement=stmt.number)
                step["new_table"] = tables.get(step["table"])
                used = step.get("columns") or [t.text.lower() for t in tokenize(step.get("expr") or "")
                                               if t.kind in ("word", "ident")]
                step["new_columns"] = {c: columns[(step["table"], c.lower())] for c in used
                                       if (step["table"], c.lower()) in columns}
                if step["kind"] == "validate":
                    earlier = added_in_run.get((step["table"], step["name"]))
                    step["added"] = earlier
                elif step["name"]:
                    added_in_run[(step["table"], step["name"])] = dict(step)
                steps.append(step)
    return steps


def _function_name(toks: list[Token]) -> str | None:
    i = skip_words(toks, 1, "OR REPLACE")
    if words_of(toks[i:i + 1]) not in (["FUNCTION"], ["PROCEDURE"]):
        return None
    return read_name(toks, i + 1)[0]


def created_objects(files: list[Any]) -> dict[str, list[dict[str, str]]]:
    """Per file (in order), what it leaves in the database: ``[{kind, name[, table]}]`` for the tables, views,
    materialized views, sequences, indexes, functions, types and columns it creates, minus those it or a later
    file of ``files`` drops or renames."""
    objects: dict[tuple[str, str], dict[str, str]] = {}
    for migration in files:
        for stmt in statements_of(migration):
            if stmt.words[:1] in (("CREATE",), ("ALTER",), ("DROP",)):
                _objects_of(tokenize(stmt.text), stmt, migration.filename, objects)
    out: dict[str, list[dict[str, str]]] = {m.filename: [] for m in files}
    for item in objects.values():
        out[item.pop("file")].append(item)
    return out


def _objects_of(toks: list[Token], stmt: Any, filename: str, objects: dict[tuple[str, str], dict[str, str]]) -> None:
    head = stmt.words[:2]
    if head[:1] == ("CREATE",):
        kind, name = _created_relation(toks)
        function = None if kind else _function_name(toks)
        if words_of(toks[1:2]) == ["TYPE"]:
            kind, name = "type", read_name(toks, 2)[0]
        elif function:
            kind, name = "function", function
        if kind and name:
            objects[(kind, name)] = {"kind": kind, "name": name, "file": filename}
    elif head == ("ALTER", "TABLE"):
        table, _steps, added = _alter_table(toks, stmt.text)
        for column in added:
            objects[("column", "%s.%s" % (table, column))] = {"kind": "column", "name": column,
                                                              "table": table or "", "file": filename}
        for cmd in split_top(toks, skip_words(toks, 2, "IF EXISTS", "ONLY") + 1):
            if words_of(cmd[:1]) == ["DROP"] and words_of(cmd[1:2]) != ["CONSTRAINT"]:
                column, _end = read_name(cmd, skip_words(cmd, 1, "COLUMN", "IF EXISTS"))
                objects.pop(("column", "%s.%s" % (table, column)), None)
        words = words_of(toks)
        if table and "RENAME" in words and words[words.index("RENAME") + 1:][:1] == ["TO"]:
            new, _end = read_name(toks, words.index("RENAME") + 2)
            old = objects.pop(("table", table), None)
            if old and new:
                objects[("table", new)] = dict(old, name=new)
    elif head[:1] == ("DROP",) and len(head) > 1:
        kind = "materialized view" if head[1] == "MATERIALIZED" else _RELATIONS.get(head[1], "")
        if head[1] in ("FUNCTION", "PROCEDURE", "TYPE"):
            kind = "function" if head[1] != "TYPE" else "type"
        for name in names_list(toks, skip_words(toks, 2, "VIEW", "CONCURRENTLY", "IF EXISTS"),
                               ("CASCADE", "RESTRICT")) if kind else []:
            objects.pop((kind, name), None)


__all__ = ["constraint_steps", "created_objects", "statements_of"]
