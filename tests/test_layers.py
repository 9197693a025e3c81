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


def _targets(node: ast.AST, path: Path) -> list[str]:
    """The ``edgeinfer`` modules one import statement of ``path`` imports."""
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative import: resolve against this module's package
            base = _module_name(path).split(".")
            if path.name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        if target == "edgeinfer":
            return [f"edgeinfer.{a.name}" for a in node.names]
        return [target] if target.startswith("edgeinfer.") else []
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("edgeinfer.")]
    return []


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every ``edgeinfer`` module imported by ``path`` (anywhere in it) with the line."""
    tree = ast.parse(path.read_text())
    return [(target, node.lineno) for node in ast.walk(tree) for target in _targets(node, path)]


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
            same_package = _unit(target) == _unit(src) and path.name != "__init__.py"
            own_package = target.count(".") == src.count(".") - 1
            if target != src and same_package and not own_package:
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


# -- own-module imports at top level ------------------------------------------------------------
# A function-level ``from edgeinfer... import`` is allowed only for the reasons below; every
# other import of an edgeinfer module sits at the top of its module (``if TYPE_CHECKING:``
# blocks are not function-level and stay as they are).

# Modules that import a heavy or optional package at import time: importers load them lazily.
LAZY_TARGETS: dict[str, str] = {
    "edgeinfer.zoo.archs": "imports torch",
    "edgeinfer.ros.node": "imports rclpy",
    "edgeinfer.prune.run": "imports torch and torch-pruning",
}
HEAVY_PACKAGES = ("torch", "openvino", "nncf", "rclpy", "matplotlib", "skimage", "sklearn")

# Importing modules whose function-level imports are deliberate, and why.
LAZY_IMPORTERS: dict[str, str] = {
    "edgeinfer": "lazy re-exports keep `import edgeinfer` free of numpy and onnx "
    "(tests/test_imports.py)",
    "edgeinfer.cli": "verbs import the library inside run() so `edgeinfer --help` and "
    "`import edgeinfer.cli` stay fast (the CLI's own helpers and edgeinfer.errors excepted)",
}


def _is_module(name: str) -> bool:
    rel = PACKAGE.joinpath(*name.split(".")[1:])
    return rel.is_dir() or rel.with_suffix(".py").is_file()


def _function_level_imports(path: Path) -> list[tuple[str, int]]:
    """``edgeinfer`` modules imported inside a function of ``path``, with the line
    (``from edgeinfer.zoo import archs`` imports ``edgeinfer.zoo.archs``)."""
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if in_function:
                for target in _targets(child, path):
                    names = [a.name for a in getattr(child, "names", [])]
                    subs = [f"{target}.{n}" for n in names if _is_module(f"{target}.{n}")]
                    out.extend((t, child.lineno) for t in subs or [target])
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return out


def _lazy_reason(importer: str, target: str) -> str | None:
    """Why ``importer`` may import ``target`` inside a function, or None."""
    if target in LAZY_TARGETS:
        return LAZY_TARGETS[target]
    if importer == "edgeinfer":
        return LAZY_IMPORTERS["edgeinfer"]
    if importer == "edgeinfer.cli" and target == "edgeinfer.cli.console":
        return "the console imports logging and typing; `import edgeinfer.cli` stays argparse-only"
    own = target == "edgeinfer.errors" or target.startswith("edgeinfer.cli.")
    if (importer == "edgeinfer.cli" or importer.startswith("edgeinfer.cli.")) and not own:
        return LAZY_IMPORTERS["edgeinfer.cli"]
    return None


def test_own_module_imports_are_at_top_level() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for target, line in _function_level_imports(path)
        if _lazy_reason(_module_name(path), target) is None
    ]
    assert not found, (
        "function-level imports of edgeinfer modules (move them to the top of the module, or "
        "give the reason in LAZY_TARGETS/LAZY_IMPORTERS):\n" + "\n".join(found)
    )


@pytest.mark.parametrize("module", sorted(LAZY_TARGETS))
def test_lazily_imported_modules_are_heavy(module: str) -> None:
    """Each module in LAZY_TARGETS really imports a heavy package when it is imported."""
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    top = [
        name
        for node in ast.parse(path.read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    ]
    assert any(name.split(".")[0] in HEAVY_PACKAGES for name in top), top


@pytest.mark.parametrize(
    ("importer", "target", "allowed"),
    [
        ("edgeinfer.data.datasets", "edgeinfer.data.folders", False),
        ("edgeinfer.zoo.export", "edgeinfer.zoo.archs", True),
        ("edgeinfer.cli.bench", "edgeinfer.builder", True),
        ("edgeinfer.cli.bench", "edgeinfer.cli.common", False),
        ("edgeinfer.cli.ros", "edgeinfer.errors", False),
        ("edgeinfer", "edgeinfer.builder", True),
    ],
)
def test_lazy_reasons(importer: str, target: str, allowed: bool) -> None:
    assert (_lazy_reason(importer, target) is not None) == allowed


@pytest.mark.parametrize(
    ("module", "unit"),
    [("edgeinfer.search.phases", "search/"), ("edgeinfer.model", "model"), ("edgeinfer", "__init__")],
)
def test_unit_names(module: str, unit: str) -> None:
    assert _unit(module) == unit
