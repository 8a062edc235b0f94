"""The layout shows the design: no module reaches into another package's private names.

A dotted import path component, or an imported name, that starts with a single ``_`` (not a dunder)
is private to the package that holds it. Only modules of that package, or of a package below it,
may import it: ``fusion_graph/graph/nodes/judge.py`` may import ``fusion_graph.graph._runtime``,
``fusion_graph/server/app.py`` may not, and nothing in ``fusion_graph`` may import
``tool_registry._anything`` (nor a third-party library's private module).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("fusion_graph", "tool_registry", "examples")


def _modules() -> list[Path]:
    return sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to the package itself)."""
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _holder(parts: list[str]) -> str:
    """The package that holds the thing named by ``parts[-1]``.

    ``parts[:-1]`` is the container: a package of this project if it is a folder here, else a
    module, whose package holds its private names too.
    """
    container = ".".join(parts[:-1])
    if container and not (ROOT / Path(*parts[:-1])).is_dir() and (ROOT / parts[0]).is_dir():
        return container.rpartition(".")[0]
    return container


def _imported_paths(path: Path, tree: ast.Module) -> list[tuple[int, list[str]]]:
    """Every imported dotted path (module parts plus the imported name), absolute, with its line."""
    package = _package_of(path)
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = base + (node.module.split(".") if node.module else [])
            else:
                module = (node.module or "").split(".")
            found += [(node.lineno, [*module, alias.name]) for alias in node.names if alias.name != "*"]
    return found


def private_imports(path: Path) -> list[str]:
    """The imports of private names from packages that are not this module's own or above it."""
    package = _package_of(path)
    problems = []
    for line, parts in _imported_paths(path, ast.parse(path.read_text(), str(path))):
        for i, part in enumerate(parts):
            if not _is_private(part):
                continue
            holder = _holder(parts[: i + 1])
            if not (package == holder or package.startswith(holder + ".")):
                name, where = ".".join(parts), path.relative_to(ROOT)
                problems.append(f"{where}:{line} imports {name} (private to {holder or 'its module'})")
            break  # what lies inside a private module is judged by that module's holder
    return problems


def test_the_rule_reads_ownership_from_the_package_tree() -> None:
    judge = ROOT / "fusion_graph" / "graph" / "nodes" / "judge.py"
    assert _package_of(judge) == "fusion_graph.graph.nodes"
    assert _holder(["fusion_graph", "graph", "_runtime"]) == "fusion_graph.graph"
    assert _holder(["fusion_graph", "graph", "build", "_private"]) == "fusion_graph.graph"
    assert _holder(["tool_registry", "_names"]) == "tool_registry"
    assert _holder(["mcp", "shared", "_httpx_utils"]) == "mcp.shared"
    assert _package_of(ROOT / "fusion_graph" / "server" / "__init__.py") == "fusion_graph.server"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_private_name_from_another_package(path: Path) -> None:
    assert private_imports(path) == []


@pytest.mark.parametrize(
    "path", [p for p in _modules() if p.parts[len(ROOT.parts)] == "tool_registry"], ids=lambda p: p.name
)
def test_tool_registry_never_imports_fusion_graph(path: Path) -> None:
    imported = [".".join(parts) for _, parts in _imported_paths(path, ast.parse(path.read_text()))]
    assert [name for name in imported if name.split(".")[0] == "fusion_graph"] == []


def test_importing_all_of_tool_registry_loads_no_fusion_graph_module() -> None:
    names = [_module_name(p) for p in _modules() if p.parts[len(ROOT.parts)] == "tool_registry"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'fusion_graph'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
