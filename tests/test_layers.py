"""The package's floors: every import (function-level and type-only ones included) points down
or sideways, and no two modules or packages import each other, directly or through others.

The floors are the table in docs/architecture.md ("Who may import whom"); a test here checks
that the table and :data:`FLOORS` agree, so the docs cannot drift from what is enforced.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "edgeinfer"

# Floor number -> the modules (``name``) and packages (``name/``) on it, ground floor first.
FLOORS: dict[int, tuple[str, ...]] = {
    0: ("errors", "fileio", "host", "progress", "serde", "tensors"),
    1: ("config", "model", "preprocess", "source", "engine"),
    2: ("data/",),
    3: ("zoo/", "calibration/"),
    4: ("passes/",),
    5: ("backends/",),
    6: ("builder",),
    7: ("bench/", "evaluate/", "profile/", "prune/"),
    8: ("search/",),
    9: ("report/",),
    10: ("api", "cli/", "ros/"),
    11: ("__init__", "__main__"),
}
FLOOR_OF = {unit: floor for floor, units in FLOORS.items() for unit in units}


def _unit(module: str) -> str:
    """``edgeinfer.search.phases`` -> ``search/``; ``edgeinfer.model`` -> ``model``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1] + "/" if (PACKAGE / parts[1]).is_dir() else parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every ``edgeinfer`` module imported by ``path`` (anywhere in it) with the line."""
    out = []
    module = _module_name(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "edgeinfer":
                out.extend((f"edgeinfer.{a.name}", node.lineno) for a in node.names)
            elif target.startswith("edgeinfer."):
                out.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names if a.name.startswith("edgeinfer."))
    return out


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        src = _unit(_module_name(path))
        for target, line in _imports(path):
            dst = _unit(target)
            if dst != src:
                edges[(src, dst)].append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def test_every_module_has_a_floor() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(FLOOR_OF))
    assert not missing, f"give these a floor in FLOORS and docs/architecture.md: {missing}"


def test_imports_only_point_down() -> None:
    upward = [
        f"{src} (floor {FLOOR_OF[src]}) imports {dst} (floor {FLOOR_OF[dst]}) at {where[0]}"
        for (src, dst), where in sorted(_edges().items())
        if src in FLOOR_OF and dst in FLOOR_OF and FLOOR_OF[dst] > FLOOR_OF[src]
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_cycles_between_modules_and_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in _edges():
        graph[src].add(dst)
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_no_cycles_inside_packages() -> None:
    """Inside a package, modules may import each other only one way."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        src = _module_name(path)
        for target, _ in _imports(path):
            same_unit = target != src and _unit(target) == _unit(src)
            own_package = target.count(".") == src.count(".") - 1
            if same_unit and path.name != "__init__.py" and not own_package:
                graph[src].add(target)
    pairs = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a in graph.get(b, ()))
    assert not pairs, "modules importing each other:\n" + "\n".join(pairs)


def _docs_table() -> dict[int, set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Who may import whom", 1)[1].split("\n## ", 1)[0]
    floors: dict[int, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if m:
            floors[int(m.group(1))] = set(re.findall(r"`([^`]+)`", m.group(2)))
    return floors


def test_docs_table_matches_the_enforced_floors() -> None:
    docs = _docs_table()
    assert docs == {f: set(u) for f, u in FLOORS.items()}


@pytest.mark.parametrize(
    ("module", "unit"),
    [("edgeinfer.search.phases", "search/"), ("edgeinfer.model", "model"), ("edgeinfer", "__init__")],
)
def test_unit_names(module: str, unit: str) -> None:
    assert _unit(module) == unit
