"""No import circles inside socs_like and socs_like_agents.

A static walk of every import statement (module level and inside functions, where deferred
imports hide circles), so a circle fails here however lazily it is imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"socs_like": ROOT / "socs_like", "socs_like_agents": ROOT / "agents"}


def _modules() -> dict[str, Path]:
    """Every module of both packages by dotted name (a package by its own name)."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement may load, relative ones made absolute."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        # `from . import x` in a.b (a module) means a.x; in a.b (a package) it means a.b.x
        anchor = module.split(".")
        anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
        base = ".".join([*anchor, base] if base else anchor)
    yield base
    # `from pkg import name` loads pkg.name when that is a module
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, is_package):
                    # `import a.b.c` of a name that is no module: its nearest module
                    while name and name not in modules:
                        name = name.rpartition(".")[0]
                    if name and name != module:
                        edges.add(name)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def _without_packages(graph: dict[str, set[str]], modules: dict[str, Path]) -> None:
    """Drop the edges into a package's ``__init__`` from its own submodules.

    Importing ``a.b.c`` runs ``a/b/__init__.py`` first; an ``__init__`` that re-exports a
    submodule is the usual way to shape a package's public face, not a circle of design."""
    for module, edges in graph.items():
        for target in list(edges):
            if modules[target].name == "__init__.py" and module.startswith(f"{target}."):
                edges.discard(target)


def test_the_walk_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    tree = ast.parse("from . import x\nfrom ..y import z\nimport p.q")
    names = [n for node in tree.body for n in _imported(node, "s.t.u", False)]  # type: ignore[arg-type]
    assert names == ["s.t", "s.t.x", "s.y", "s.y.z", "p.q"]


def test_no_import_circles() -> None:
    modules = _modules()
    graph = _graph(modules)
    _without_packages(graph, modules)
    assert _circles(graph) == []
