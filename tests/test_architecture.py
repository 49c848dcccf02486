"""The layering rule of docs/ARCHITECTURE.md, read from the imports of every module of dualkd_lib.

The method at the bottom; ``train/`` and ``predict`` above it; ``recipe/`` above those;
``deploy/``, ``teaching/`` and ``course/`` above that; ``cli`` on top. Nothing imports upward,
and ``teaching/`` never imports ``course/``. Function-level imports count as much as the ones
at the top of a file. An import under ``if TYPE_CHECKING:`` (a type name only, never run) counts for
the layers but not as a circle: ``recipe.runs`` names the ``Context`` type whose methods call it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dualkd_lib"

#: Layer of each part of the package (the method is 0, everything not listed).
LAYERS: dict[str, int] = {
    "dualkd_lib.train": 1,
    "dualkd_lib.predict": 1,
    "dualkd_lib.recipe": 2,
    "dualkd_lib.deploy": 3,
    "dualkd_lib.teaching": 3,
    "dualkd_lib.course": 3,
    "dualkd_lib.cli": 4,
}
#: The one upward import the rule allows: the presets assemble every run's settings, and a run's
#: settings (a frozen dataclass with no behaviour) live beside the loop that reads them.
ALLOWED_UPWARD: set[tuple[str, str]] = {("dualkd_lib.config", "dualkd_lib.train.config")}
#: Imports that are never allowed, whatever the layers say.
FORBIDDEN: tuple[tuple[str, str], ...] = (("dualkd_lib.teaching", "dualkd_lib.course"),)


def layer(module: str) -> int:
    for prefix, value in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return value
    return 0


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str, root: Path) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The import nodes inside ``if TYPE_CHECKING:`` blocks (never run)."""
    nodes: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes.update(n for stmt in node.body for n in ast.walk(stmt))
    return nodes


def imported_modules(source: str, root: Path = PACKAGE, *, run_time_only: bool = False) -> set[str]:
    """Every ``dualkd_lib`` module that ``source`` imports, at any depth of the file
    (``run_time_only``: without the imports under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()
    tree = ast.parse(source)
    skip = _type_checking_only(tree) if run_time_only else set()
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "dualkd_lib")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dualkd_lib":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _is_module(candidate, root) else node.module)
    return found


def violations(root: Path = PACKAGE) -> list[str]:
    """Each import of the tree under ``root`` that breaks the layering rule, as a readable line."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        for target in sorted(imported_modules(path.read_text(encoding="utf-8"), root)):
            if target == "dualkd_lib" or (here, target) in ALLOWED_UPWARD:
                continue
            if layer(target) > layer(here):
                problems.append(f"{here} (layer {layer(here)}) imports {target} (layer {layer(target)}): upward")
            for low, high in FORBIDDEN:
                if (here == low or here.startswith(low + ".")) and (target == high or target.startswith(high + ".")):
                    problems.append(f"{here} imports {target}: {low} never imports {high}")
    return problems


def test_no_module_imports_upward() -> None:
    assert violations() == []


def import_cycles(root: Path = PACKAGE) -> list[list[str]]:
    """Circles of imports between the package's modules (function-level imports included, type-checking
    ones not)."""
    graph = {module_name(p, root): {m for m in imported_modules(p.read_text(encoding="utf-8"), root,
                                                                run_time_only=True)
                                    if m != module_name(p, root)} for p in root.rglob("*.py")}
    cycles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    return cycles


def test_no_two_modules_import_each_other() -> None:
    """Not even through a function-level import: each module can be read before the ones that use it."""
    assert import_cycles() == []


def test_every_module_has_a_layer_and_the_top_layers_exist() -> None:
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    assert {"dualkd_lib.cli", "dualkd_lib.recipe.context", "dualkd_lib.train.loop", "dualkd_lib.teaching.setup",
            "dualkd_lib.course.build", "dualkd_lib.deploy.export", "dualkd_lib.distill"} <= modules
    assert layer("dualkd_lib.distill") == 0 and layer("dualkd_lib.train.step") == 1
    assert layer("dualkd_lib.recipe.context") == 2 and layer("dualkd_lib.cli") == 4


@pytest.mark.parametrize(
    ("where", "source", "expected"),
    [
        ("models.py", "def f():\n    from dualkd_lib.recipe import context\n", "upward"),
        ("models.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dualkd_lib.recipe import context\n",
         "upward"),
        ("train/step.py", "from dualkd_lib.teaching.plots import plot_logmel\n", "upward"),
        ("teaching/plots2.py", "import dualkd_lib.course.build\n", "never imports"),
        ("recipe/x.py", "from dualkd_lib import models, train\nfrom dualkd_lib.train import loop\n", None),
    ],
)
def test_the_checker_catches_an_upward_import(tmp_path: Path, where: str, source: str, expected: str | None) -> None:
    """The rule is not vacuous: a copy of the tree with one bad import fails it."""
    import shutil

    root = tmp_path / "dualkd_lib"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("resources", "__pycache__"))
    (root / where).write_text(source, encoding="utf-8")
    found = violations(root)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


def test_no_module_outside_course_and_recipe_is_much_longer_than_500_lines() -> None:
    """The ceiling of issue #12, as a record: the modules still over it are listed here by name."""
    still_long: set[str] = set()
    long = set()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path).removeprefix("dualkd_lib.")
        if name.split(".")[0] in ("course", "recipe"):
            continue
        if len(path.read_text(encoding="utf-8").splitlines()) > 550:
            long.add(name)
    assert long <= still_long, f"new long modules: {sorted(long - still_long)}"


def test_the_cycle_check_finds_a_function_level_circle(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "dualkd_lib"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("resources", "__pycache__"))
    setup = root / "teaching" / "setup.py"
    setup.write_text(setup.read_text(encoding="utf-8") + "\n\ndef f():\n    from dualkd_lib.teaching import doctor\n",
                     encoding="utf-8")
    assert import_cycles(root) == [["dualkd_lib.teaching.doctor", "dualkd_lib.teaching.setup",
                                    "dualkd_lib.teaching.doctor"]]


def _dualkd_names_used(tree: ast.AST) -> tuple[list[tuple[int, str, str]], dict[str, str]]:
    """``(line, module, name)`` of every ``from dualkd_lib... import name``, and the module aliases bound."""
    imports, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dualkd_lib":
            for alias in node.names:
                imports.append((node.lineno, node.module, alias.name))
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return imports, aliases


def test_every_dualkd_import_and_module_attribute_resolves() -> None:
    """Library, notebooks, benchmarks and tests: each imported name exists, and so does each
    ``module.attribute`` used on an imported dualkd_lib module (function-level code included, which
    tests may never run)."""
    import importlib

    def resolve(dotted: str):
        module, _, name = dotted.rpartition(".")
        try:
            return importlib.import_module(dotted)
        except ImportError:
            return getattr(importlib.import_module(module), name, None) if module else None

    repo = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(repo / "notebooks" / "src").glob("*.py"), *(repo / "benchmarks").glob("*.py"),
             *(repo / "tests").rglob("*.py")]
    missing = []
    for path in files:
        imports, aliases = _dualkd_names_used(ast.parse(path.read_text(encoding="utf-8")))
        for line, module, name in imports:
            if resolve(f"{module}.{name}") is None:
                missing.append(f"{path.relative_to(repo)}:{line}: {module} has no {name}")
        modules = {alias: obj for alias, dotted in aliases.items()
                   if (obj := resolve(dotted)) is not None and type(obj).__name__ == "module"}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                module = modules[node.value.id]
                if not hasattr(module, node.attr) and resolve(f"{module.__name__}.{node.attr}") is None:
                    missing.append(f"{path.relative_to(repo)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert missing == []


#: Test files about the project as a whole, not about one module.
WHOLE_PROJECT_TESTS = {
    "test_architecture.py": "the layering rule and the tree itself",
    "test_environment.py": "the lock, pyproject.toml, environment.yml and the Makefile",
    "course/test_notebooks.py": "the notebooks run top to bottom",
    "course/test_browser.py": "the notebooks in JupyterLab in a real browser",
    "course/test_instructor_guide.py": "docs/INSTRUCTOR.md against the notebooks and the records",
    "recipe/test_desed_end_to_end.py": "the real-DESED path through every part, on a fake DESED folder",
}


def test_the_tests_mirror_the_package_one_file_per_module() -> None:
    """``tests/<path>/test_<name>.py`` holds the tests of ``dualkd_lib/<path>/<name>.py``: no test file names a
    missing module, and no module is without its test file."""
    tests = PACKAGE.parent / "tests"
    orphans = []
    for path in sorted(tests.rglob("test_*.py")):
        rel = path.relative_to(tests)
        if rel.as_posix() in WHOLE_PROJECT_TESTS:
            continue
        module = PACKAGE / rel.parent / (rel.name.removeprefix("test_"))
        if not module.is_file():
            orphans.append(f"{rel.as_posix()}: no dualkd_lib/{rel.parent.as_posix() + '/' if rel.parent.parts else ''}"
                           f"{module.name}")
    assert orphans == []
    assert all((tests / name).is_file() for name in WHOLE_PROJECT_TESTS)
    untested = [path.relative_to(PACKAGE).as_posix() for path in sorted(PACKAGE.rglob("*.py"))
                if path.name not in ("__init__.py", "__main__.py")
                and not (tests / path.relative_to(PACKAGE).parent / f"test_{path.name}").is_file()]
    assert untested == [], "every module has its test file"
