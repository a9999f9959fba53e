"""Every committed notebook is clean: valid, no outputs, a parameters cell, learning goals, NN_topic name.

The student copies and the papermill runner both rely on this shape (see STYLE.md: Notebook shape).
"""
from __future__ import annotations

import ast
import re

import nbformat
import pytest

from asclab.workbook import NOTEBOOK_NAME, notebooks_dir

REQUIRED_PARAMETERS = {"PROFILE", "SEED", "DATA_DIR", "OUT_DIR", "INTERACTIVE"}
NOTEBOOKS = sorted(notebooks_dir().glob("*.ipynb")) if notebooks_dir().is_dir() else []


def test_the_workbook_has_notebooks():
    assert NOTEBOOKS, f"no notebooks in {notebooks_dir()}: the workbook needs its NN_topic.ipynb lessons"


def _id(path):
    return path.name


@pytest.fixture(params=NOTEBOOKS, ids=_id)
def notebook(request):
    path = request.param
    nb = nbformat.read(str(path), as_version=4)
    return path, nb


def test_name_is_nn_topic(notebook):
    path, _ = notebook
    assert NOTEBOOK_NAME.match(path.name), f"{path.name}: expected NN_topic.ipynb, e.g. 03_dymn_finetuning.ipynb"


def test_valid_nbformat(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    assert nb.nbformat == 4, f"{path.name}: expected nbformat 4"


def test_no_outputs_or_execution_counts(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert not cell.get("outputs"), f"{path.name} cell {i + 1} has outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"{path.name} cell {i + 1} has an execution count"
    assert "papermill" not in nb.metadata, f"{path.name} is an executed papermill copy, not the source"


def test_parameters_cell(notebook):
    path, nb = notebook
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
    cell = tagged[0]
    assert cell.cell_type == "code"
    tree = ast.parse(cell.source)
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    missing = REQUIRED_PARAMETERS - assigned
    assert not missing, f"{path.name}: the parameters cell does not define {sorted(missing)}"
    # only plain values, so that papermill's injected cell can override each one
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell holds only assignments"
        try:
            ast.literal_eval(node.value)
        except ValueError:
            pytest.fail(f"{path.name}: parameter on line {node.lineno} is not a plain value "
                        f"({ast.unparse(node)}): papermill can only override literals")
    assert not any("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells)


def test_opens_with_learning_goals(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be markdown (title, learning goals)"
    text = first.source
    has_bullets = len(re.findall(r"^\s*[-*+] \S", text, flags=re.MULTILINE)) >= 2
    assert "learning goals" in text.lower() or has_bullets, f"{path.name}: the first cell states no learning goals"
