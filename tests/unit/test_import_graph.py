"""The import graph of ``src/greenscore``: no cycles, and dependencies that point down only.

Every ``import`` and ``from ... import`` statement is read with :mod:`ast` — at module
level and inside functions alike — and resolved to the module it loads (``from a.b import
c`` is ``a.b.c`` when that is a module, else ``a.b``; relative imports are resolved too).
Imports under ``if TYPE_CHECKING:`` never run, so they do not make cycles; they still
count for the layer rules (a bottom layer should not even name an upper layer's types).

Rules:

- no cycle among modules (a cycle hidden inside a function is still a cycle);
- no module of ``store`` imports ``security``, ``serving`` or ``privacy`` (the store knows
  tables and databases, not who reads them);
- the bottom layer — ``version``, ``errors``, ``config``, ``logging``, ``json_document``,
  ``store``, ``data`` and ``evaluation`` — imports nothing but itself: never ``commands``, ``workflows``,
  ``serving``, ``federated``, ``models``, ``explain``, ``fairness``, ``privacy`` or any
  other capability above it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src"
PACKAGE = "greenscore"
BOTTOM = frozenset(
    {"version", "errors", "config", "logging", "json_document", "store", "data", "evaluation"}
)
NOT_FROM_STORE = frozenset({"security", "serving", "privacy"})


@dataclass(frozen=True)
class Edge:
    """One import: from which module, to which, where, and whether it runs."""

    source: str
    target: str
    line: int
    runtime: bool


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's ``__init__``)."""
    found = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, package)
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest module that ``name`` starts with (an attribute path resolves to its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _edges(module: str) -> Iterator[Edge]:
    path, package = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin
                for a in node.names
            ]
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                resolved = _resolve(target)
                if resolved is not None and resolved != module:
                    yield Edge(module, resolved, node.lineno, id(node) not in typing_only)


EDGES = [edge for module in sorted(MODULES) for edge in _edges(module)]


def _layer(module: str) -> str:
    """The top-level part of a module under the package (``store`` for greenscore.store.x)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.target, set())
        if edge.runtime:
            graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(cycle: list[str], edges: list[Edge]) -> str:
    members = set(cycle)
    arrows = sorted(
        {
            f"{e.source} -> {e.target} (line {e.line})"
            for e in edges
            if e.runtime and e.source in members and e.target in members
        }
    )
    return "; ".join(arrows)


def _store_violations(edges: list[Edge]) -> list[str]:
    return [
        f"{e.source} imports {e.target} (line {e.line})"
        for e in edges
        if _layer(e.source) == "store" and _layer(e.target) in NOT_FROM_STORE
    ]


def _layer_violations(edges: list[Edge]) -> list[str]:
    return [
        f"{e.source} imports {e.target} (line {e.line})"
        for e in edges
        if _layer(e.source) in BOTTOM and _layer(e.target) not in BOTTOM
    ]


# ---------------------------------------------------------------- the rules
def test_the_walk_reads_the_whole_package() -> None:
    assert len(MODULES) > 200
    assert {"greenscore.store.database", "greenscore.cli", "greenscore.serving.app"} <= set(MODULES)
    # Function-level imports are edges too (the CLI imports its workflows inside commands).
    assert any(e.source == "greenscore.commands.train" and e.runtime for e in EDGES)


def test_there_is_no_import_cycle() -> None:
    cycles = _cycles(EDGES)
    assert cycles == [], "\n".join(_describe(c, EDGES) for c in cycles)


def test_the_store_imports_no_capability_that_uses_it() -> None:
    assert _store_violations(EDGES) == []


def test_the_bottom_layer_imports_nothing_above_it() -> None:
    assert _layer_violations(EDGES) == []


def test_each_rule_catches_what_it_is_for() -> None:
    def edge(source: str, target: str, runtime: bool = True) -> Edge:
        return Edge(f"greenscore.{source}", f"greenscore.{target}", 1, runtime)

    inside_functions = [edge("a.x", "b.y"), edge("b.y", "c.z"), edge("c.z", "a.x")]
    assert _cycles(inside_functions) == [["greenscore.a.x", "greenscore.b.y", "greenscore.c.z"]]
    assert _cycles([edge("a.x", "b.y"), edge("b.y", "a.x", runtime=False)]) == []
    assert _store_violations([edge("store.predictions", "security.audit")]) == [
        "greenscore.store.predictions imports greenscore.security.audit (line 1)"
    ]
    assert _store_violations([edge("store.predictions", "config")]) == []
    assert _layer_violations([edge("data.io", "workflows.train", runtime=False)]) != []
    assert _layer_violations([edge("data.io", "evaluation.metrics")]) == []


@pytest.mark.parametrize(
    ("statement", "target", "runtime"),
    [
        ("from greenscore.security.audit import record_event", "greenscore.security.audit", True),
        ("from greenscore.security import audit", "greenscore.security.audit", True),
        ("from ..security import audit", "greenscore.security.audit", True),
        ("from . import database", "greenscore.store.database", True),
        ("import greenscore.serving.app", "greenscore.serving.app", True),
        ("def f():\n    from greenscore.privacy import sealed", "greenscore.privacy.sealed", True),
        ("if TYPE_CHECKING:\n    from greenscore.config import Settings", "greenscore.config",
         False),
    ],
)  # fmt: skip
def test_the_walk_resolves_each_form_of_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statement: str, target: str, runtime: bool
) -> None:
    path = tmp_path / "x.py"
    path.write_text(statement + "\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "greenscore.store.x", (path, False))
    (found,) = [e for e in _edges("greenscore.store.x") if e.target == target]
    assert found.runtime is runtime
