"""The library's shape: no import cycles among its modules, and Streamlit only in the UI layer."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = REPO_ROOT / "digitlab"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def library_graph() -> dict[str, set[str]]:
    """digitlab/*.py module -> the digitlab/*.py modules it imports."""
    modules = {f"digitlab.{path.stem}" for path in LIBRARY.glob("*.py") if path.stem != "__init__"}
    return {f"digitlab.{path.stem}": {name for name in imported_modules(path) if name in modules} - {f"digitlab.{path.stem}"}
            for path in LIBRARY.glob("*.py") if path.stem != "__init__"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting, done = [], set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return visiting[visiting.index(node):] + [node]
        if node in done:
            return None
        visiting.append(node)
        for neighbour in sorted(graph.get(node, ())):
            cycle = visit(neighbour)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_find_cycle_reports_a_cycle_it_is_given():
    """Test that the cycle finder itself sees a cycle (so the next test can fail)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_modules_import_each_other_without_cycles():
    """Test that no chain of imports among digitlab/*.py, function-level ones included, comes back on itself."""
    assert find_cycle(library_graph()) is None


def test_only_the_ui_layer_and_pages_import_streamlit():
    """Test that the library below digitlab/ui/ never imports Streamlit, so the CLI and training stay light."""
    offenders = [str(path.relative_to(REPO_ROOT)) for path in LIBRARY.rglob("*.py")
                 if "ui" not in path.relative_to(LIBRARY).parts
                 and any(name == "streamlit" or name.startswith("streamlit.") for name in imported_modules(path))]
    assert offenders == []
    # The scan does see Streamlit where it is imported.
    assert "streamlit" in imported_modules(LIBRARY / "ui" / "sidebar.py")
