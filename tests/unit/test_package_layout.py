"""The library's shape: sub-packages in layers, imports that only run downhill, no cycles, Streamlit only in ui/.

The layers, lowest first (a package may import its own layer and those below it, never above):

    config < store < serving < datasets < evaluation < explain < bank < training < cli, bench, ui

On top, ui/ (Streamlit) is imported only by app.py, pages/ and the one CLI module that hands the
pages' own code to the benchmarks (so a benchmark times what users meet); bench/ is imported only
by the CLI and never imports ui/. Function-level imports count as much as those at the top.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = REPO_ROOT / "digitlab"
LAYERS = ("config", "store", "serving", "datasets", "evaluation", "explain", "bank", "training")
TOP = ("cli", "bench", "ui")
UI_IMPORTERS = {"digitlab.cli.bench"}  # the CLI's bench command hands the pages' code to the benchmarks
HEAVY_FOR_SERVING = ("tensorflow", "keras")  # serving loads these lazily, for the Keras fallback only
LONG_MODULE_LINES = 300
LONG_MODULE_REASON = "one module because"  # what a long module's docstring says to explain itself


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


def module_level_imports(path: Path) -> set[str]:
    """The modules a file imports when it is itself imported (not those inside functions or classes)."""
    names = set()
    pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # never runs
            pending += [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)]
    return names


def module_name(path: Path, library: Path) -> str:
    parts = list(path.relative_to(library.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_graph(library: Path = LIBRARY) -> dict[str, set[str]]:
    """digitlab module -> the digitlab modules it imports (a package's __init__ counts as the package)."""
    paths = {module_name(path, library): path for path in library.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        graph[name] = {imported for imported in imported_modules(path) if imported in paths} - {name}
    return graph


def package_of(module: str) -> str:
    """digitlab.store.registry -> store; digitlab.ui.figures.numbers -> ui; digitlab.__main__ -> __main__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "digitlab"


def import_allowed(importer: str, imported: str) -> bool:
    """Whether the layering rule lets `importer` import `imported` (both dotted digitlab module names)."""
    source, target = package_of(importer), package_of(imported)
    if source == target or target == "digitlab":
        return True
    if source in ("__main__", "digitlab"):
        return target == "cli" or source == "digitlab"
    if target == "ui":
        return importer in UI_IMPORTERS
    if target == "bench":
        return source == "cli"
    if target == "cli":
        return False  # the CLI is an entry point: only __main__ calls it
    if source in TOP:
        return True  # the top imports any layer below it
    return source in LAYERS and target in LAYERS and LAYERS.index(target) <= LAYERS.index(source)


def layering_violations(library: Path = LIBRARY) -> list[str]:
    """Every import that runs uphill, and every module-level TensorFlow/Keras or training import in serving."""
    problems = [f"{importer} imports {imported}"
                for importer, imported_set in sorted(library_graph(library).items())
                for imported in sorted(imported_set) if not import_allowed(importer, imported)]
    for path in sorted((library / "serving").rglob("*.py")):
        heavy = sorted(name for name in module_level_imports(path)
                       if name.split(".")[0] in HEAVY_FOR_SERVING)
        if heavy:
            problems.append(f"{module_name(path, library)} imports {', '.join(heavy)} at module level")
    return problems


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


def test_no_chain_of_imports_comes_back_on_itself_ui_included():
    """Test that no chain of imports among digitlab's modules, ui/ and function-level ones included, is a cycle."""
    assert find_cycle(library_graph()) is None


def test_imports_run_downhill_through_the_layers():
    """Test that no module imports a layer above its own, ui/ or bench/ included."""
    assert layering_violations() == []


def test_a_planted_uphill_import_fails_the_layering_check(tmp_path):
    """Test that the layering check fails on a copy of the library with one uphill import planted in it."""
    copy = tmp_path / "digitlab"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert layering_violations(copy) == []
    registry = copy / "store" / "registry.py"
    registry.write_text(registry.read_text() + "\n\ndef planted():\n    from digitlab.ui.sidebar import model_sidebar\n")
    benchmark = next((copy / "bench").glob("*.py"))
    benchmark.write_text(benchmark.read_text() + "\nimport digitlab.ui.canvas\n")
    predictor = copy / "serving" / "predictor.py"
    predictor.write_text("import tensorflow as tf\n" + predictor.read_text())
    problems = layering_violations(copy)
    assert "digitlab.store.registry imports digitlab.ui.sidebar" in problems
    assert f"digitlab.bench.{benchmark.stem} imports digitlab.ui.canvas" in problems
    assert "digitlab.serving.predictor imports tensorflow at module level" in problems


def test_a_planted_cycle_among_ui_modules_is_found(tmp_path):
    """Test that the cycle check sees a cycle planted between two ui/ modules."""
    copy = tmp_path / "digitlab"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "ui" / "planted_a.py").write_text("def a():\n    from digitlab.ui.planted_b import b\n")
    (copy / "ui" / "planted_b.py").write_text("from digitlab.ui.planted_a import a\n")
    assert find_cycle(library_graph(copy)) is not None


def test_the_library_root_holds_only_the_package_and_its_entry_point():
    """Test that every module lives in a sub-package whose name says what it owns."""
    assert sorted(path.name for path in LIBRARY.glob("*.py")) == ["__init__.py", "__main__.py"]
    # Alembic's migration scripts are loaded by Alembic from their folder, not imported as a package.
    for folder in sorted(path for path in LIBRARY.rglob("*") if path.is_dir() and path.name != "__pycache__"
                         and any(path.glob("*.py")) and "migrations" not in path.relative_to(LIBRARY).parts[:-1]
                         and path.name != "versions"):
        init = folder / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), f"{folder} says what it owns"


def test_long_modules_say_why_they_are_one_module():
    """Test that a module over 300 lines explains in its docstring why it is not split."""
    unexplained = []
    for path in sorted(LIBRARY.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG_MODULE_LINES and LONG_MODULE_REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{path.relative_to(REPO_ROOT)} ({text.count(chr(10))} lines)")
    assert unexplained == []


def test_only_the_ui_layer_and_pages_import_streamlit():
    """Test that the library below digitlab/ui/ never imports Streamlit, so the CLI and training stay light.

    ui/figures/ builds plotly figures and pictures only, so the benchmarks and tests can build them too.
    """
    offenders = [str(path.relative_to(REPO_ROOT)) for path in LIBRARY.rglob("*.py")
                 if ("ui" not in path.relative_to(LIBRARY).parts or "figures" in path.relative_to(LIBRARY).parts)
                 and any(name == "streamlit" or name.startswith("streamlit.") for name in imported_modules(path))]
    assert offenders == []
    # The scan does see Streamlit where it is imported.
    assert "streamlit" in imported_modules(LIBRARY / "ui" / "sidebar.py")
