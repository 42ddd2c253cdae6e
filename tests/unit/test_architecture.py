# -*- coding: utf-8 -*-
# Copyright: (c) 2026, KnowledgeHub migration maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of plugins/, read from the source (docs/architecture.md describes it).

* no import cycle among module_utils (lazy imports inside functions count);
* the connection options are read in one place (``_target.Target.from_params``);
* external programs start in one place (``_process``), never through a shell;
* one error base: every exception of the collection is a ``Failure`` and adds no behaviour;
* module_utils files stay small enough to read (data files excepted, by name).
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(REPO, "plugins")
UTILS = os.path.join(PLUGINS, "module_utils")
PREFIX = "ansible_collections.knowledgehub.migration.plugins.module_utils."

CONNECTION_OPTIONS = {"login_user", "login_password", "login_host", "login_unix_socket", "login_port", "login_db",
                      "ssl_mode", "ca_cert", "ssl_cert", "ssl_key", "connect_timeout", "connect_params"}
MAX_LINES = 400
DATA_FILES: dict[str, str] = {}  # file name -> why it may be longer (none today)


def _sources(folder: str) -> dict[str, ast.Module]:
    trees = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py") and name != "__init__.py":
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                trees[name[:-3]] = ast.parse(handle.read(), filename=name)
    return trees


UTIL_TREES = _sources(UTILS)
MODULE_TREES = _sources(os.path.join(PLUGINS, "modules"))


def _imports(tree: ast.Module) -> set[str]:
    """module_utils files imported anywhere in ``tree`` (module level or inside functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(PREFIX):
                found.add(node.module[len(PREFIX):])
            elif node.module == PREFIX.rstrip("."):
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name[len(PREFIX):] for a in node.names if a.name.startswith(PREFIX))
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as a path (first node repeated at the end), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_module_utils_import_graph_has_no_cycle():
    graph = {name: _imports(tree) for name, tree in UTIL_TREES.items()}
    unknown = {(name, dep) for name, deps in graph.items() for dep in deps if dep not in UTIL_TREES}
    assert not unknown, "imports of module_utils files that do not exist: %s" % sorted(unknown)
    assert find_cycle(graph) == []


def _code_strings(tree: ast.Module) -> list[tuple[int, str]]:
    """String constants of the code, without docstrings and the DOCUMENTATION / EXAMPLES / RETURN texts."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("DOCUMENTATION", "EXAMPLES",
                                                                                     "RETURN") for t in node.targets):
            skip.add(id(node.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip]


def _connection_option_readers(trees: dict[str, ast.Module]) -> list[str]:
    readers = []
    for name, tree in trees.items():
        for line, text in _code_strings(tree):
            if text in CONNECTION_OPTIONS:
                readers.append("%s.py:%d %r" % (name, line, text))
    return readers


def test_connection_options_are_read_in_one_place():
    readers = _connection_option_readers(dict(UTIL_TREES, **{"modules/" + k: v for k, v in MODULE_TREES.items()}))
    outside = [r for r in readers if not r.startswith("_target.py:")]
    assert outside == [], "connection options read outside _target.Target.from_params: %s" % outside
    assert readers, "the scan found no reader at all: it is broken"


def test_the_scan_finds_a_reader_outside_target():
    tree = ast.parse('def f(params):\n    """login_db in a docstring is fine"""\n    return params["login_db"]\n')
    assert _connection_option_readers({"_elsewhere": tree}) == ["_elsewhere.py:3 'login_db'"]


def test_programs_start_only_in_the_process_layer():
    starters = []
    for name, tree in dict(UTIL_TREES, **MODULE_TREES).items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m.split(".")[0] in ("subprocess", "pty") for m in modules) and name != "_process":
                    starters.append("%s.py:%d" % (name, node.lineno))
            if isinstance(node, ast.Attribute) and node.attr in ("run_command", "system", "popen") and \
                    isinstance(node.value, (ast.Name, ast.Attribute)):
                starters.append("%s.py:%d .%s" % (name, node.lineno, node.attr))
            if isinstance(node, ast.keyword) and node.arg == "shell" and getattr(node.value, "value", None) is True:
                starters.append("%s.py:%d shell=True" % (name, node.lineno))
    assert starters == [], "programs started outside _process: %s" % starters


def _classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [node for node in tree.body if isinstance(node, ast.ClassDef)]


def test_one_error_base():
    errors = {}  # class name -> (file, bases, defines __init__)
    for name, tree in UTIL_TREES.items():
        for cls in _classes(tree):
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "?") for b in cls.bases]
            errors[cls.name] = (name, bases, any(isinstance(n, ast.FunctionDef) and n.name == "__init__"
                                                 for n in cls.body))

    def is_failure(cls_name: str, seen: tuple = ()) -> bool:
        if cls_name == "Failure":
            return True
        if cls_name not in errors or cls_name in seen:
            return False
        return any(is_failure(b, seen + (cls_name,)) for b in errors[cls_name][1])

    exceptions = [c for c, (_file, bases, _init) in errors.items()
                  if any(b.endswith(("Exception", "Error")) or b == "Failure" for b in bases) or c.endswith("Error")]
    assert "Failure" in errors and errors["Failure"][0] == "_errors"
    not_failures = [c for c in exceptions if not is_failure(c)]
    assert not_failures == [], "exceptions that are not Failures: %s" % not_failures
    own_init = [c for c in exceptions if c != "Failure" and errors[c][2]]
    assert own_init == [], "Failure subclasses with their own __init__ (a second shape of error): %s" % own_init


@pytest.mark.parametrize("name", sorted(UTIL_TREES))
def test_module_utils_file_is_short(name):
    with open(os.path.join(UTILS, name + ".py"), encoding="utf-8") as handle:
        lines = len(handle.readlines())
    if name + ".py" in DATA_FILES:
        return
    assert lines <= MAX_LINES, "%s.py has %d lines (more than %d): split it by concern" % (name, lines, MAX_LINES)
