"""The house: lessons import course_utils only, the course's machinery lives in course_tools, and no import circles.

A newcomer opens course_utils/ to read a helper a lesson used; the sync, the rehearsal, the stand-ins and the mirror's
download are not there. These tests keep it so (issue 23).
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("course_utils", "course_tools")
LONGER_THAN_300 = {  # module -> its one concern, which the README's layout section names
    "course_utils.merge": "the streaming LoRA merge and its logit check (lesson 08, `python -m course_utils.merge`)",
    "course_utils.llamafy": "EXAONE -> Llama conversion (lesson 07, `python -m course_utils.llamafy`)",
    "course_tools.standins": "random-weight stand-ins of each real model, tokenizer included",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, at the top or inside a function, relative imports resolved."""
    package = module_name(path, root).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path, root)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return found


def course_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for package in PACKAGES for p in sorted((root / package).glob("*.py"))}


def notebook_sources() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_no_notebook_imports_the_course_machinery():
    offenders = [p.name for p in notebook_sources() if any(m.split(".")[0] == "course_tools" for m in imported_modules(p))]
    assert not offenders, f"{offenders} import course_tools: lessons import course_utils only"


def test_lesson_helpers_never_reach_into_the_machinery():
    offenders = {name: sorted(m for m in imported_modules(path) if m.startswith("course_tools"))
                 for name, path in course_modules().items() if name.startswith("course_utils")}
    assert not {k: v for k, v in offenders.items() if v}


def import_circles(root: Path = ROOT) -> list[list[str]]:
    """Every circle of imports among the course's modules (function-level imports count too)."""
    modules = course_modules(root)
    graph = {name: sorted({m for m in imported_modules(path, root) if m in modules and m != name})
             for name, path in modules.items()}
    state, circles = {}, []

    def visit(name, trail):
        state[name] = "open"
        for dep in graph[name]:
            if state.get(dep) == "open":
                circles.append(trail[trail.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, trail + [dep])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])
    return circles


def test_no_two_modules_import_each_other_in_a_circle():
    circles = import_circles()
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_circle_check_finds_a_made_up_circle(tmp_path):
    (tmp_path / "course_utils").mkdir()
    (tmp_path / "course_utils" / "a.py").write_text("from .b import x\n")
    (tmp_path / "course_utils" / "b.py").write_text("def f():\n    from course_utils.a import y\n")
    assert import_circles(tmp_path) == [["course_utils.a", "course_utils.b", "course_utils.a"]]


def imports_to_resolve() -> list[tuple[str, str, str]]:
    """(file, module, name) for every `from course_utils... import name` in notebooks, recipes and benchmarks."""
    files = notebook_sources() + sorted((ROOT / "recipes").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    wanted = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # every branch, GPU-only ones included
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                wanted += [(str(path.relative_to(ROOT)), node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                wanted += [(str(path.relative_to(ROOT)), a.name, "") for a in node.names if a.name.split(".")[0] in PACKAGES]
    return wanted


def test_every_course_import_in_notebooks_recipes_and_benchmarks_resolves():
    wanted = imports_to_resolve()
    assert len(wanted) > 100  # the scan found the notebooks' imports
    missing = []
    for file, module, name in wanted:
        try:
            loaded = importlib.import_module(module)
        except ImportError as error:
            missing.append(f"{file}: {module} ({error})")
            continue
        if name and not hasattr(loaded, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{file}: {module}.{name}")
    assert not missing, missing


def test_modules_stay_small_or_name_their_one_concern():
    long = {name: len(path.read_text().splitlines()) for name, path in course_modules().items()
            if len(path.read_text().splitlines()) > 300}
    assert set(long) <= set(LONGER_THAN_300), f"over 300 lines without a named concern: {long}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(name.split(".")[1] in readme for name in long)  # the layout section names each


def test_every_module_states_its_concern_in_its_first_line():
    silent = [name for name, path in course_modules().items() if not (ast.get_docstring(ast.parse(path.read_text())) or "").strip()]
    assert not silent


STDLIB_MODULES = {"os", "sys", "subprocess", "json", "re", "math", "time", "shutil", "gc", "random", "dataclasses",
                  "importlib", "tempfile", "pathlib", "itertools", "collections", "functools", "statistics"}


def test_every_notebook_imports_the_modules_it_uses():
    """The first cell once imported os, subprocess and sys for everyone; lesson 07 kept using sys and subprocess after
    the first cell shrank to 4 lines (NameError in CI). Each notebook imports what it uses, at first use."""
    missing = {}
    for path in notebook_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {node.value.id for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in STDLIB_MODULES}
        imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        if used - imported:
            missing[path.name] = sorted(used - imported)
    assert not missing, missing
