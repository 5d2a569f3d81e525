"""The import graph: the layers ``reftrack_cli -> workers -> service -> analysis`` import only downwards,
``analysis`` imports nothing of the project, and no two subpackages (or modules) of ``service`` import each
other, directly or around a longer loop.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import itertools
from collections import deque

import grimp
import pytest

LAYERS = ("reftrack_cli", "workers", "service", "analysis")  # highest first
PROJECT = frozenset({*LAYERS, "migrations", "tests", "bench"})

# Package cycles known today, each named by the exact set of packages in it. Removing one from the code
# makes the check fail until it is removed here too, so this list only shrinks.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*LAYERS, include_external_packages=True, cache_dir=None)


def _show_imports(graph: grimp.ImportGraph, importer: str, imported: str) -> list[str]:
    """The import statements by which package ``importer`` imports package ``imported``, as ``module:line``."""
    lines = []
    for module in sorted(graph.find_matching_modules(f"{importer}.**") | {importer}):
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if target == imported or target.startswith(imported + "."):
                for detail in graph.get_import_details(importer=module, imported=target):
                    lines.append(f"    {module}:{detail['line_number']}  {detail['line_contents']}")
    return lines


def _chain_text(graph: grimp.ImportGraph, chain: tuple[str, ...]) -> str:
    text = [" -> ".join(chain)]
    for importer, imported in itertools.pairwise(chain):
        for detail in graph.get_import_details(importer=importer, imported=imported):
            text.append(f"    {importer}:{detail['line_number']}  {detail['line_contents']}")
    return "\n".join(text)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [(LAYERS[j], LAYERS[i]) for i in range(len(LAYERS)) for j in range(i + 1, len(LAYERS))],
)
def test_no_layer_imports_a_higher_one(graph: grimp.ImportGraph, lower: str, higher: str) -> None:
    # when
    chain = graph.find_shortest_chain(importer=lower, imported=higher, as_packages=True)

    # then
    assert chain is None, f"{lower} must not import {higher}:\n{_chain_text(graph, chain)}"


def test_analysis_imports_nothing_of_the_project(graph: grimp.ImportGraph) -> None:
    # when
    offending = [
        f"{module} imports {imported}"
        for module in sorted(graph.find_matching_modules("analysis.**") | {"analysis"})
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if imported.split(".")[0] in PROJECT - {"analysis"}
    ]

    # then
    assert offending == []


def _package_edges(graph: grimp.ImportGraph, children: list[str]) -> dict[str, set[str]]:
    return {
        a: {b for b in children if b != a and graph.direct_import_exists(importer=a, imported=b, as_packages=True)}
        for a in children
    }


def _strongly_connected(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's strongly connected components with more than one member: each holds at least one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _shortest_cycle(edges: dict[str, set[str]], members: frozenset[str], start: str) -> list[str]:
    """A shortest loop through ``start``, by breadth-first search inside its component."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(edges[node] & members):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # a component of two or more always has one


def _describe(graph: grimp.ImportGraph, edges: dict[str, set[str]], members: frozenset[str]) -> str:
    """The component and, for each package in it outside the known cycles, a shortest loop through it."""
    known = frozenset().union(*(cycle for cycle in KNOWN_CYCLES if cycle <= members))
    text = [f"cycle among {', '.join(sorted(members))}:"]
    shown: set[tuple[str, ...]] = set()
    for start in sorted(members - known) or [min(members)]:
        cycle = _shortest_cycle(edges, members, start)
        if tuple(cycle) in shown:
            continue
        shown.add(tuple(cycle))
        text.append("  " + " -> ".join(cycle))
        for importer, imported in itertools.pairwise(cycle):
            text.append(f"  {importer} imports {imported}:")
            text.extend(_show_imports(graph, importer, imported))
    return "\n".join(text)


def test_no_cycle_between_service_subpackages(graph: grimp.ImportGraph) -> None:
    # given
    children = sorted(graph.find_children("service"))
    edges = _package_edges(graph, children)

    # when
    cycles = _strongly_connected(edges)

    # then
    new = [_describe(graph, edges, members) for members in cycles if members not in KNOWN_CYCLES]
    assert new == [], "\n\n".join(new)
    gone = sorted(sorted(members) for members in KNOWN_CYCLES - set(cycles))
    assert gone == [], f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"
