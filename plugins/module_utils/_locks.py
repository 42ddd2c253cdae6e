# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The table-level locks a statement takes, read from its text (check mode runs nothing).

An operator deciding when to run a migration needs to know which tables the
application will wait on, and how badly: ACCESS EXCLUSIVE stops even SELECT,
SHARE stops writers, SHARE UPDATE EXCLUSIVE only stops other DDL. The modes
follow PostgreSQL 15 (explicit-locking.html and each command's page) and were
checked against pg_locks on a PostgreSQL 15 server. Inside the runner's
transaction every lock is held until the file commits, so the strongest lock
per table over the whole file (``strongest_locks``) is the number that matters.

This is a careful tokenizer, not a SQL parser: it knows the common DDL and DML
forms and says ``unknown`` rather than guess (procedural code, statements it
does not recognise). Unqualified names are reported as written (schema public
is assumed; ``public.x`` is reported as ``x``).
"""

from __future__ import annotations

from typing import Any, Iterable

from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_ddl import (
    alter,
    comment,
    create,
    drop,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_dml import (
    analyze,
    cluster,
    copy,
    lock_table,
    query_locks,
    refresh,
    reindex,
    truncate,
    vacuum,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_modes import (
    ACCESS_EXCLUSIVE,
    ACCESS_SHARE,
    ANY_RELATION,
    BLOCKS,
    LOCK_MODES,
    NEW_NOTE,
    ROW_EXCLUSIVE,
    ROW_SHARE,
    UNKNOWN,
    describe_mode,
    lock_on,
    merge,
    stronger,
    unknown_locks,
)
from ansible_collections.knowledgehub.migration.plugins.module_utils._locks_names import (
    close_paren, names_list, read_name, skip_words, split_top, words_of)
from ansible_collections.knowledgehub.migration.plugins.module_utils._sqllex import Token, tokenize

# -- dispatch: the handler of each statement ------------------------------------

_PROCEDURAL = "procedural code: the locks it takes are known only when it runs"


def _procedural(_toks: list[Token]) -> list[dict[str, Any]]:
    return unknown_locks(_PROCEDURAL)


def _explain(toks: list[Token]) -> list[dict[str, Any]]:
    if len(toks) > 1 and toks[1].is_op("("):
        i = close_paren(toks, 1)
    else:
        i = skip_words(toks, 1, "ANALYZE", "ANALYSE", "VERBOSE")
    return _dispatch(toks[i:]) if i < len(toks) else []


_HANDLERS = {
    "ALTER": alter, "CREATE": create, "DROP": drop, "LOCK": lock_table, "REINDEX": reindex,
    "COMMENT": comment, "COPY": copy, "TRUNCATE": truncate, "ANALYZE": analyze, "ANALYSE": analyze,
    "VACUUM": vacuum, "CLUSTER": cluster, "REFRESH": refresh, "DO": _procedural, "CALL": _procedural,
    "EXPLAIN": _explain,
}
_QUERIES = ("SELECT", "WITH", "VALUES", "INSERT", "UPDATE", "DELETE", "MERGE", "TABLE")
_NO_LOCK = ("SET", "RESET", "SHOW", "GRANT", "REVOKE", "NOTIFY", "LISTEN", "UNLISTEN", "DISCARD", "DEALLOCATE",
            "SECURITY", "CHECKPOINT", "LOAD", "SAVEPOINT", "RELEASE", "BEGIN", "START", "COMMIT", "END",
            "ROLLBACK", "ABORT")


def _dispatch(toks: list[Token]) -> list[dict[str, Any]]:
    head = toks[0].up
    if head in _HANDLERS:
        return _HANDLERS[head](toks)
    if head == "TABLE":
        return [lock_on(n, ACCESS_SHARE, "") for n in names_list(toks, 1)[:1]]
    if head in _QUERIES or toks[0].is_op("("):
        return query_locks(toks)
    if head in _NO_LOCK:
        return []
    return unknown_locks("%s is not known to the lock analysis" % (head or toks[0].text))


# -- public API -------------------------------------------------------------------

def _normalize(name: str) -> str:
    return name[len("public."):] if name.startswith("public.") else name


def _fk_of_element(elem: list[Token], table: str) -> dict[str, Any] | None:
    """The foreign key a column or table-constraint definition declares, if any."""
    words = words_of(elem)
    if "REFERENCES" not in words:
        return None
    at = words.index("REFERENCES")
    referenced, _end = read_name(elem, at + 1)
    i = 2 if words[0] == "CONSTRAINT" else 0
    if words[i:i + 2] == ["FOREIGN", "KEY"] and i + 2 < len(elem):
        columns = names_list(elem[i + 3:close_paren(elem, i + 2) - 1], 0)
    elif words[0] in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "EXCLUDE", "LIKE"):
        return None
    else:
        columns = [n for n in [read_name(elem, 0)[0]] if n]
    delete_action = words[words.index("DELETE", at) + 1] if "DELETE" in words[at:] and \
        words.index("DELETE", at) + 1 < len(words) else ""
    return {"table": table, "columns": sorted(columns), "references": referenced or "?",
            "on_delete_writes": delete_action in ("CASCADE", "SET")}


def foreign_keys(stmt_text: str) -> list[dict[str, Any]]:
    """The foreign keys this statement declares (CREATE TABLE ..., ALTER TABLE ... ADD ...):
    ``[{table, columns, references, on_delete_writes}]``."""
    return _foreign_keys(tokenize(stmt_text))


def _foreign_keys(toks: list[Token]) -> list[dict[str, Any]]:
    words = words_of(toks[:4])
    if words[:1] == ["CREATE"] and "TABLE" in words:
        name, i = read_name(toks, skip_words(toks, words.index("TABLE") + 1, "IF NOT EXISTS"))
        elements = split_top(toks[i + 1:close_paren(toks, i) - 1], 0) if i < len(toks) and toks[i].is_op("(") \
            else []
    elif words[:2] == ["ALTER", "TABLE"]:
        name, i = read_name(toks, skip_words(toks, 2, "IF EXISTS", "ONLY"))
        elements = [cmd[skip_words(cmd, 1, "COLUMN", "IF NOT EXISTS"):] for cmd in split_top(toks, i)
                    if cmd[0].up == "ADD"]
    else:
        return []
    found = [_fk_of_element(elem, name) for elem in elements if elem and name]
    return [fk for fk in found if fk]


def _fk_locks(item: dict[str, Any], refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The locks foreign keys add to a write or a DROP TABLE of ``item['relation']``."""
    table, write, out = item["relation"], item.get("written"), []
    for fk in refs:
        if item.get("dropped") and table in (fk["table"], fk["references"]):
            other = fk["references"] if fk["table"] == table else fk["table"]
            out.append(lock_on(other, ACCESS_EXCLUSIVE, "linked by foreign key to the dropped table %s" % table))
        elif write and fk["table"] == table and (write["columns"] is None or not fk["columns"]
                                                 or set(fk["columns"]) & write["columns"]):
            out.append(lock_on(fk["references"], ROW_SHARE, "foreign-key checks of the rows written to %s" % table))
        elif write and write["delete"] and fk["references"] == table:
            mode = ROW_EXCLUSIVE if fk["on_delete_writes"] else ROW_SHARE
            out.append(lock_on(fk["table"], mode, "ON DELETE of its foreign key to %s" % table))
    return [lock for lock in out if lock["relation"] != table]


def statement_locks(stmt_text: str, created_in_file: Iterable[str] = (),
                    references: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The table-level locks one statement takes: ``[{relation, mode, note, created_in_file}]``.

    ``mode`` is a PostgreSQL lock mode (``LOCK_MODES``) or ``"unknown"``; then
    ``relation`` is ``"*"`` and ``note`` says why. One entry per relation, with
    the strongest mode the statement takes on it. Relations in
    ``created_in_file`` (created earlier in the same migration) are marked:
    no other session can be queued on them. ``references`` are the foreign
    keys declared before (``foreign_keys`` / ``file_foreign_keys``): writes
    then show the locks of the foreign-key checks, and DROP TABLE the tables
    it is linked to.
    """
    created = {_normalize(name) for name in created_in_file}
    return _statement_locks(tokenize(stmt_text), created, list(references))[0]


def _statement_locks(toks: list[Token], created: set[str], refs: list[dict[str, Any]]
                     ) -> tuple[list[dict[str, Any]], set[str]]:
    """The locks of one tokenized statement, and the relations it drops (for the foreign keys that go with
    them). The statement is read once: a file of 200,000 statements is lexed 200,000 times, not a million."""
    if not toks:
        return [], set()
    locks = _dispatch(toks)
    dropped = {item["relation"] for item in locks if item.get("dropped")}
    locks = merge(locks + [extra for item in locks for extra in _fk_locks(item, refs)])
    for item in locks:
        item.pop("written", None)
        item.pop("dropped", None)
        item["created_in_file"] = item["relation"] in created
        if item["created_in_file"]:
            item["note"] = "; ".join(n for n in (NEW_NOTE, item["note"]) if n)
    return locks, dropped


def relations_created(stmt_text: str) -> set[str]:
    """The relation this statement certainly creates (not with IF NOT EXISTS or OR REPLACE)."""
    return _relations_created(tokenize(stmt_text))


def _relations_created(toks: list[Token]) -> set[str]:
    if words_of(toks[:1]) != ["CREATE"]:
        return set()
    i = skip_words(toks, 1, "GLOBAL", "LOCAL", "TEMPORARY", "TEMP", "UNLOGGED", "UNIQUE", "MATERIALIZED")
    if words_of(toks[i:i + 1]) not in (["TABLE"], ["VIEW"], ["SEQUENCE"], ["INDEX"]):
        return set()
    i = skip_words(toks, i + 1, "CONCURRENTLY")
    if words_of(toks[i:i + 1]) in (["IF"], ["ON"]):
        return set()
    name, _end = read_name(toks, i)
    return {name} if name else set()


def summary(stmt_text: str, width: int = 60) -> str:
    """The statement's first words, up to its first parenthesis, for a listing."""
    return _summary(tokenize(stmt_text), width)


def _summary(toks: list[Token], width: int = 60) -> str:
    words: list[str] = []
    for tok in toks[:12]:
        if tok.is_op("(") or tok.is_op(";"):
            break
        text = {"ident": '"%s"' % tok.text, "str": "'...'"}.get(tok.kind, tok.text)
        if words and (tok.is_op(".") or tok.is_op(",") or words[-1].endswith(".")):
            words[-1] += text
        else:
            words.append(text)
    head = " ".join(words)
    return head if len(head) <= width else head[:width - 3].rstrip() + "..."


def file_foreign_keys(statements: Iterable[Any], references: Iterable[dict[str, Any]] = ()
                      ) -> list[dict[str, Any]]:
    """``references`` plus the foreign keys declared by ``statements`` (objects with ``text``),
    minus those of the tables they drop. Feed it the migrations that ran
    before a file, and pass the result to ``file_locks``."""
    found = list(references)
    for stmt in statements:
        toks = tokenize(stmt.text)
        found = _after_statement(found, toks, _statement_locks(toks, set(), [])[1])
    return found


def _after_statement(refs: list[dict[str, Any]], toks: list[Token], dropped: set[str]) -> list[dict[str, Any]]:
    """The foreign keys known after a statement that drops ``dropped`` and may declare new ones."""
    kept = [fk for fk in refs if fk["table"] not in dropped and fk["references"] not in dropped] if dropped \
        else refs
    declared = _foreign_keys(toks) if "REFERENCES" in {tok.up for tok in toks} else []
    return kept + declared if declared else kept


def file_locks(statements: Iterable[Any], created_in_file: Iterable[str] = (),
               references: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per statement (objects with ``number``, ``line``, ``text``): ``{number, line, summary, locks}``.

    Walks the file in order, so each statement knows the relations created
    and the foreign keys declared before it; ``created_in_file`` and
    ``references`` (``file_foreign_keys`` of the earlier migrations) seed them.
    Each statement is tokenized once, so the work grows linearly with the file.
    """
    created = {_normalize(name) for name in created_in_file}
    refs = list(references)
    out = []
    for stmt in statements:
        toks = tokenize(stmt.text)
        locks, dropped = _statement_locks(toks, created, refs)
        out.append({"number": stmt.number, "line": stmt.line, "summary": _summary(toks), "locks": locks})
        created |= {_normalize(name) for name in _relations_created(toks)}
        refs = _after_statement(refs, toks, dropped)
    return out


def strongest_locks(per_statement: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Relation -> the strongest mode the file takes on it, for relations that existed before it.

    Strongest first. Relations created in the migration and ``unknown``
    entries are left out: see ``unknown_statements`` for the latter.
    """
    strongest: dict[str, str] = {}
    for stmt in per_statement:
        for item in stmt["locks"]:
            if item.get("created_in_file") or item["mode"] == UNKNOWN:
                continue
            strongest[item["relation"]] = stronger(strongest.get(item["relation"], item["mode"]), item["mode"])
    return dict(sorted(strongest.items(), key=lambda kv: (-LOCK_MODES.index(kv[1]), kv[0])))


def plan_locks(plan: Any) -> dict[str, Any]:
    """Per pending file of a plan (``_plan.Plan``): ``{strongest, statements}``, the locks each statement would take,
    knowing the foreign keys the files before it declare (nothing is run)."""
    references: list[dict[str, Any]] = []
    for migration in plan.present + plan.baseline:
        references = file_foreign_keys(migration.statements(), references)
    locks = {}
    for migration in plan.pending:
        statements = migration.statements()
        per_statement = file_locks(statements, references=references)
        locks[migration.filename] = {"strongest": strongest_locks(per_statement), "statements": per_statement}
        references = file_foreign_keys(statements, references)
    return locks


def unknown_statements(per_statement: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements whose locks cannot be told from their text (DO blocks, ...)."""
    return [stmt for stmt in per_statement if any(item["mode"] == UNKNOWN for item in stmt["locks"])]


__all__ = ["LOCK_MODES", "BLOCKS", "UNKNOWN", "ANY_RELATION", "NEW_NOTE", "statement_locks", "relations_created",
           "foreign_keys", "file_foreign_keys", "file_locks", "strongest_locks", "plan_locks", "unknown_statements",
           "describe_mode", "summary", "tokenize"]
