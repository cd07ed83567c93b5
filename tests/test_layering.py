"""The package's one-way layering (docs/architecture.md), checked on every import statement.

errors -> config -> registry -> {losses, encoders, models, data, metrics} -> engine ->
{compare, report} -> commands.  Every ``import`` in ``zoo/`` -- at module level or inside a
function -- may only point to its own part or to a lower layer, and the parts of one layer may
not import each other in a circle.  A new top-level module must be given a layer here.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "zoo"

#: part of zoo (a top-level module or subpackage) -> layer; lower layers never import higher ones
LAYERS = {
    # 0: leaves that import nothing of zoo but errors
    "errors": 0, "version": 0, "offline": 0, "atomic": 0, "stats": 0, "hub": 0,
    # 1: configuration files, their trust, weight files
    "config": 1, "trust": 1, "checkpoint": 1, "tf_checkpoint": 1, "schema": 1,
    # 2: the registry and plugin loading
    "specs": 2, "hookspecs": 2, "importing": 2, "plugins": 2, "registry": 2,
    # 3: the components
    "losses": 3, "encoders": 3, "models": 3, "data": 3, "metrics": 3, "recipes": 3,
    # 4: training and evaluation
    "engine": 4,
    # 5: what uses the engine
    "compare": 5, "report": 5,
    # 6: the command line
    "commands": 6, "cli": 6, "__main__": 6,
    # 7: the package's public API (zoo/__init__.py)
    "zoo": 7,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    pieces = module.split(".")
    if len(pieces) == 1:
        return "zoo"
    if (PACKAGE / f"{pieces[1]}.py").is_file() or (PACKAGE / pieces[1]).is_dir():
        return pieces[1]
    return "zoo"  # a name re-exported by zoo/__init__.py


def _imports(path: Path):
    """(imported module or module.name, line) for every import statement of ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pieces = package.split(".")
                base = ".".join(pieces[:len(pieces) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _graph():
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_name(path))
        for target, line in _imports(path):
            if target != "zoo" and not target.startswith("zoo."):
                continue
            part = _part(target)
            if part != source:
                edges[source].add(part)
                where[(source, part)].append(f"{path.relative_to(PACKAGE.parent)}:{line} "
                                             f"imports {target}")
    return edges, where


def test_every_part_has_a_layer():
    parts = {_part(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert parts <= set(LAYERS), f"give these parts a layer: {sorted(parts - set(LAYERS))}"


def test_imports_point_down_only():
    edges, where = _graph()
    upward = [line for (a, b), lines in where.items() if LAYERS[b] > LAYERS[a] for line in lines]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_cycle_between_parts():
    edges, where = _graph()
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in seen:
                found = visit(nxt)
                if found:
                    return found
        seen[node] = 2
        stack.pop()
        return None

    for start in sorted(edges):
        if start not in seen:
            cycle = visit(start)
            assert cycle is None, "import cycle: " + " -> ".join(cycle) + "\n" + "\n".join(
                line for a, b in zip(cycle, cycle[1:]) for line in where[(a, b)])
