"""The one-way house (issue 12): every import of every module under ``casework/`` keeps to the
layers, there are no import cycles, no casework imports hide inside functions, and no module
grows past 900 lines.

The layers, lowest first (see ``casework/__init__.py`` and ``../shared/DESIGN.md``)::

    base < model < store < ingest
           model < analysis < present < notebook < run
           model < synth                  (synth: only base and model)
    training on top

``casework/__init__.py`` and ``casework/_legacy.py`` are the package root and the shim for the
old flat paths: exempt from the layer rule (``_legacy`` imports lazily, by name), not from
cycles. The source is read with :mod:`ast`, never imported, so the test works even when a
module is broken half-way through a move. Each rule is its own test so a failure names one
rule and lists every offending line.
"""

from __future__ import annotations

import ast
import functools
import itertools
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "casework"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE
PROJECT_DIR = PACKAGE_DIR.parent
MAX_LINES = 900
ROOT = "root"  # casework/__init__.py and casework/_legacy.py
ROOT_MODULES = {PACKAGE, f"{PACKAGE}._legacy"}

#: layer -> the layers its modules may import (itself included).
ALLOWED: dict[str, frozenset[str]] = {
    "base": frozenset({"base"}),
    "model": frozenset({"base", "model"}),
    "store": frozenset({"base", "model", "store"}),
    "ingest": frozenset({"base", "model", "store", "ingest"}),
    "analysis": frozenset({"base", "model", "analysis"}),
    "present": frozenset({"base", "model", "analysis", "present"}),
    "notebook": frozenset({"base", "model", "store", "analysis", "present", "notebook"}),
    "run": frozenset({"base", "model", "store", "ingest", "analysis", "present", "notebook",
                      "run", "synth"}),
    "synth": frozenset({"base", "model", "synth"}),
    "training": frozenset({"base", "model", "store", "ingest", "analysis", "present",
                           "notebook", "run", "synth", "training"}),
}
LAYERS = tuple(ALLOWED)


@dataclass(frozen=True)
class Import:
    """One imported name: who imports what, where, and how."""

    module: str          # importing module, e.g. "casework.analysis.compare"
    path: Path
    line: int
    end_line: int
    written: str         # as in the source, e.g. "from casework.present import plotting"
    top: str             # first component of the absolute module imported ("pandas")
    target: str | None   # casework module it resolves to (None: not casework, or unresolved)
    in_function: bool
    type_checking: bool  # under `if TYPE_CHECKING:` (not executed at run time)

    @property
    def is_casework(self) -> bool:
        return self.top == PACKAGE

    def where(self) -> str:
        return f"{self.path.relative_to(PROJECT_DIR)}:{self.line}"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    text: str


def _module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


@functools.cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        name, is_package = _module_name(path)
        text = path.read_text(encoding="utf-8")
        found[name] = Module(name, path, is_package, ast.parse(text, str(path)), text)
    return found


def layer_of(module: str) -> str | None:
    """``casework.analysis.topics.recurring`` -> ``"analysis"``; root modules -> ``ROOT``;
    a module outside every layer -> ``None``."""
    if module in ROOT_MODULES:
        return ROOT
    first = module.split(".")[1]
    return first if first in ALLOWED else None


@functools.cache
def _defined_names(module: str) -> frozenset[str] | None:
    """Names bound at the top of a module (None: anything goes, e.g. ``__getattr__``)."""
    names: set[str] = set()

    def bind(target):
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(a.asname or a.name.split(".")[0] for a in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in getattr(node, "targets", None) or [node.target]:
                    bind(target)
            elif isinstance(node, (ast.For, ast.With)):
                bind(node.target if isinstance(node, ast.For) else node)
            for field in ("body", "orelse", "finalbody", "handlers"):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(getattr(node, field, []))

    visit(modules()[module].tree.body)
    return None if {"*", "__getattr__"} & names else frozenset(names)


def _resolve_from(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_of(mod: Module) -> list[Import]:
    known = modules()
    out: list[Import] = []

    def add(node, written, absolute, target, in_function, type_checking):
        if absolute.split(".")[0] != PACKAGE or target not in known:
            target = None
        out.append(Import(mod.name, mod.path, node.lineno, node.end_lineno or node.lineno,
                          written, absolute.split(".")[0], target, in_function, type_checking))

    def visit(node, in_function, type_checking):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, f"import {alias.name}", alias.name, alias.name,
                    in_function, type_checking)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(mod, node)
            dots = "." * node.level
            for alias in node.names:
                written = f"from {dots}{node.module or ''} import {alias.name}"
                candidate = f"{base}.{alias.name}"
                if candidate in known:
                    target = candidate
                elif base in known and (alias.name == "*" or (
                        (names := _defined_names(base)) is None or alias.name in names)):
                    target = base
                else:
                    target = None  # an old flat path, or a name the package does not define
                add(node, written, base, target, in_function, type_checking)
        for child in ast.iter_child_nodes(node):
            visit(child,
                  in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda)),
                  type_checking or (isinstance(node, ast.If) and _is_type_checking(node.test)
                                    and child in node.body))

    visit(mod.tree, False, False)
    return out


@functools.cache
def all_imports() -> tuple[Import, ...]:
    return tuple(i for mod in modules().values() for i in _imports_of(mod))


def _check(title: str, lines: list[str]) -> None:
    """Fail with one readable list (no assertion-rewrite repr) when there are offences."""
    if lines:
        pytest.fail(f"{title} ({len(lines)}):\n  " + "\n  ".join(sorted(set(lines))),
                    pytrace=False)


# --------------------------------------------------------------------------------------------
# the rules
# --------------------------------------------------------------------------------------------


def test_the_walk_finds_the_package():
    assert f"{PACKAGE}.base.config" in modules()
    assert len(all_imports()) > 100


def test_every_module_lives_in_a_layer():
    stray = [f"{m.path.relative_to(PROJECT_DIR)}" for m in modules().values()
             if layer_of(m.name) is None]
    _check(
        f"modules outside the layers {', '.join(LAYERS)} (move them into one)", stray)


def test_every_casework_import_names_a_real_module_or_name():
    bad = [f"{i.where()}  {i.written}" for i in all_imports()
           if i.is_casework and i.target is None and i.module not in ROOT_MODULES]
    _check(
        "casework imports that name no module (an old flat path forwarded by "
        "casework._legacy? use the new path) or a name the package does not define", bad)


def test_no_module_imports_a_layer_it_may_not():
    bad = []
    for i in all_imports():
        src = layer_of(i.module)
        if i.target is None or src in (ROOT, None):
            continue
        dst = layer_of(i.target)
        if dst in (ROOT, None) or dst in ALLOWED[src]:
            continue
        kind = "  [in a function]" if i.in_function else ""
        bad.append(f"{i.where()}  {src} -> {dst}: {i.written}{kind}")
    _check(
        "imports across the layers (allowed: "
        + "; ".join(f"{k} -> {', '.join(sorted(v - {k})) or 'nothing'}"
                    for k, v in ALLOWED.items()) + ")", bad)


def _graph() -> dict[str, dict[str, Import]]:
    """Module-level import edges between casework modules (first import line per edge)."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules()}
    for i in all_imports():
        if i.target and not i.in_function and not i.type_checking and i.target != i.module:
            graph[i.module].setdefault(i.target, i)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def shortest_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    inside = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in inside:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle in component {component}")  # pragma: no cover


def test_no_import_cycles():
    graph = _graph()
    messages = []
    for component in strongly_connected(graph):
        cycle = shortest_cycle(graph, component)
        steps = "\n      ".join(
            f"{a} -> {b}  ({graph[a][b].where()}: {graph[a][b].written})"
            for a, b in itertools.pairwise(cycle))
        messages.append(f"{len(component)} modules tangled: {', '.join(component)}\n"
                        f"    e.g. the cycle\n      {steps}")
    _check("import cycles among casework modules", messages)


def test_no_casework_imports_inside_functions():
    bad = [f"{i.where()}  {i.written}" for i in all_imports()
           if i.in_function and i.is_casework and i.module not in ROOT_MODULES]
    _check(
        "casework imports inside function bodies (move them to the top of the module; "
        "if that makes a cycle, the code is in the wrong layer)", bad)


def _comment_lines(mod: Module) -> tuple[set[int], set[int]]:
    """Lines that carry a comment, and lines that are nothing but a comment."""
    with_comment = set()
    for tok in tokenize.generate_tokens(iter(mod.text.splitlines(keepends=True)).__next__):
        if tok.type == tokenize.COMMENT:
            with_comment.add(tok.start[0])
    lines = mod.text.splitlines()
    only = {n for n in with_comment if lines[n - 1].lstrip().startswith("#")}
    return with_comment, only


def test_function_level_third_party_imports_say_why():
    mods = modules()
    comments = {name: _comment_lines(mod) for name, mod in mods.items()}
    bad = []
    for i in all_imports():
        if (not i.in_function or i.is_casework or not i.top
                or i.top in sys.stdlib_module_names):
            continue
        with_comment, only = comments[i.module]
        if (i.line - 1) in only or any(n in with_comment
                                       for n in range(i.line, i.end_line + 1)):
            continue
        bad.append(f"{i.where()}  {i.written}")
    _check(
        "third-party imports inside functions without a one-line reason (a # comment on the "
        "line or the line above, e.g. '# heavy: only the PDF export needs it'), or move them "
        "to the top", bad)


def test_no_module_is_longer_than_the_limit():
    long = [f"{m.path.relative_to(PROJECT_DIR)}: {len(m.text.splitlines())} lines"
            for m in modules().values() if len(m.text.splitlines()) > MAX_LINES]
    _check(f"modules over {MAX_LINES} lines (split them by concern)", long)


# --------------------------------------------------------------------------------------------
# the checker checks itself on small made-up packages
# --------------------------------------------------------------------------------------------


def test_cycle_search_finds_a_three_module_cycle_and_ignores_a_chain():
    def edge(a, b):
        return Import(a, PACKAGE_DIR / "x.py", 1, 1, f"import {b}", PACKAGE, b, False, False)

    graph = {"a": {}, "b": {}, "c": {}, "d": {}}
    for a, b in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]:
        graph[a][b] = edge(a, b)
    (component,) = strongly_connected(graph)
    assert component == ["a", "b", "c"]
    assert shortest_cycle(graph, component) == ["a", "b", "c", "a"]
    del graph["c"]["a"]
    assert strongly_connected(graph) == []


def test_relative_imports_resolve_against_the_package():
    tree = ast.parse("from . import recurring\nfrom ..stats import x\nfrom .. import stats\n")
    mod = Module(f"{PACKAGE}.analysis.topics", PACKAGE_DIR / "analysis/topics/__init__.py",
                 True, tree, "")
    resolved = [_resolve_from(mod, node) for node in tree.body]
    assert resolved == [f"{PACKAGE}.analysis.topics", f"{PACKAGE}.analysis.stats",
                        f"{PACKAGE}.analysis"]
    leaf = Module(f"{PACKAGE}.analysis.topics.recurring", PACKAGE_DIR / "x.py", False, tree, "")
    assert [_resolve_from(leaf, n) for n in tree.body] == resolved
