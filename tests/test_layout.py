"""The package's layout: imports go one way down the pipeline, with no cycles, and modules and
functions stay small.

The layer order itself is the import-linter contract in pyproject.toml (`lint-imports`, run by
.ci/run); this file adds what a layers contract cannot see: cycles between modules of one
package, including imports made inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the dev extra)")

PACKAGE = Path(__file__).resolve().parent.parent / "nndsl"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Modules and functions over the limits today, with the size each may not grow past. Splitting
# one removes its entry; the test fails when an entry is no longer needed, so the list only
# shrinks.
OVERSIZED_MODULES = {}
LONG_FUNCTIONS = {}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("nndsl")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def _sizes():
    modules, functions = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        modules[name] = text.count("\n")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key, size = f"{name}:{node.name}", node.end_lineno - node.lineno + 1
                functions[key] = max(size, functions.get(key, 0))  # the longest of a name
    return modules, functions


def test_modules_and_functions_stay_small():
    modules, functions = _sizes()
    too_big = {m: n for m, n in modules.items() if n > OVERSIZED_MODULES.get(m, MAX_MODULE_LINES)}
    too_long = {f: n for f, n in functions.items() if n > LONG_FUNCTIONS.get(f, MAX_FUNCTION_LINES)}
    assert too_big == {}, f"modules over {MAX_MODULE_LINES} lines: split them"
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines: split them"


def test_the_list_of_exceptions_only_shrinks():
    modules, functions = _sizes()
    stale = [m for m in OVERSIZED_MODULES if modules.get(m, 0) <= MAX_MODULE_LINES]
    stale += [f for f in LONG_FUNCTIONS if functions.get(f, 0) <= MAX_FUNCTION_LINES]
    assert stale == [], "these are within the limits now: remove their entries"
