"""The package's import graph: every module imports on its own, no modules import each other in a circle, and
the old names the notebooks use (``asclab.exercises``, ``asclab.workbook``, ``asclab.grade``) still answer."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "asclab"
NOT_IMPORTED = {"asclab.__main__"}     # running it is the asclab command, not an import


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


# --- the static graph: what each module imports while it is imported --------------------------------------
def _import_time_nodes(body: list[ast.stmt]):
    """The import statements that run when a module is imported: module level, in ``if``/``try``/``with``
    blocks and class bodies, not in functions and not under ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                yield from _import_time_nodes(node.body)
            yield from _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _import_time_nodes(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from _import_time_nodes(node.body)


def _targets(node: ast.stmt, importer: str) -> set[str]:
    """The asclab modules one import statement loads (``from asclab import augment`` loads asclab.augment)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    base = node.module or ""
    if node.level:   # a relative import: count the dots up from the importer's package
        package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    found = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    if base in MODULES and len(found) < len(node.names):
        found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = set().union(*(_targets(n, name) for n in _import_time_nodes(tree.body))) - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert graph["asclab.course.grading"] >= {"asclab.course.runner", "asclab.course.table"}   # it reads them
    assert cycles(graph) == [], "modules that import each other, directly or around a circle"


def test_the_course_modules_import_only_downwards():
    """The order of asclab/course/__init__.py's table is the layering: a module imports only those above it."""
    listed = [line.split("``")[1] for line in (PACKAGE / "course" / "__init__.py").read_text().splitlines()
              if line.startswith("``") and line.split("``")[1].isidentifier()]
    course = {f"asclab.course.{n}" for n in listed}
    assert course == {m for m in MODULES if m.startswith("asclab.course.")}, "the table lists every module"
    graph = import_graph()
    for i, name in enumerate(listed):
        above = {f"asclab.course.{n}" for n in listed[:i]}
        below = (graph[f"asclab.course.{name}"] & course) - above
        assert not below, f"asclab.course.{name} imports {sorted(below)}, listed after it"


# --- the real thing: each module imported alone -----------------------------------------------------------
IMPORT_EACH = """
import importlib, json, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "asclab" or m.startswith("asclab.")]:
        del sys.modules[loaded]     # every asclab module afresh; torch and the rest stay loaded (speed)
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""


def test_every_module_imports_alone_in_a_fresh_interpreter():
    """A circle that the static graph cannot see (an import inside an ``exec``, say) fails here: each module
    is imported first, before any other asclab module, as ``python -c "import asclab.x"`` would."""
    names = sorted(set(MODULES) - NOT_IMPORTED)
    proc = subprocess.run([sys.executable, "-c", IMPORT_EACH, json.dumps(names)], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert failures == {}, "\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


# --- the old names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, names", [
    ("asclab.exercises", "asclab.course.exercises",
     ["check_mixup", "check_fmix_threshold", "check_macro_accuracy", "check_coarse_probs", "check_kd_loss",
      "check_fake_quantize", "check", "EXERCISES"]),
    ("asclab.exercises", "asclab.course.checks", ["CheckResult", "record", "EXERCISE_LOG_ENV"]),
    ("asclab.exercises", "asclab.course.student_copy", ["write_student_copies", "student_source"]),
    ("asclab.workbook", "asclab.course.figures", ["figures_dir", "figures_to"]),
    ("asclab.workbook", "asclab.course.results", ["collect_metrics", "NotebookResult"]),
    ("asclab.workbook", "asclab.course.runner", ["run_notebooks", "run_notebook", "parse_overrides"]),
    ("asclab.workbook", "asclab.course.notebooks", ["repo_root", "notebooks_dir", "list_notebooks"]),
    ("asclab.workbook", "asclab.course.environment", ["headless_threads"]),
    ("asclab.grade", "asclab.course.grading", ["grade"]),
    ("asclab.grade", "asclab.course.reference", ["build_reference", "load_reference"]),
    ("asclab.grade", "asclab.course.bands", ["BandRule", "bands_from_runs", "in_band", "flatten_metrics"]),
])
def test_old_module_names_re_export_the_new_ones(old, new, names):
    import importlib

    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), f"{old}.{name}"


def test_notebooks_use_only_names_the_old_modules_keep():
    """The lessons call ``asclab.exercises.check_*`` and ``workbook.figures_dir``/``collect_metrics``."""
    import re

    import asclab.exercises
    import asclab.workbook

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text(encoding="utf-8")
        for module, name in re.findall(r"\b(exercises|workbook)\.([A-Za-z_]\w*)", text):
            owner = asclab.exercises if module == "exercises" else asclab.workbook
            assert hasattr(owner, name), f"{path.name} calls asclab.{module}.{name}"
