"""Student copies of the notebooks: every solution replaced by a stub, outputs cleared.

The notebooks mark each solution nbgrader-style::

    def mixup(x, y, lam, perm):
        ### BEGIN SOLUTION
        x_mixed = lam * x + (1 - lam) * x[perm]
        return x_mixed, y, y[perm]
        ### END SOLUTION

:func:`write_student_copies` (``asclab student-copy``) replaces every region, markers included, with
``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the marker's indentation, keeps everything
else, strips outputs and execution counts, and writes the notebooks to another folder.

Nothing here imports torch, so ``asclab student-copy`` starts at once.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from asclab.course.notebooks import list_notebooks
from asclab.storage import atomic_write_text

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()")

_BEGIN = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*$")
_END = re.compile(r"^([ \t]*)### END SOLUTION[ \t]*$")


def _solution_regions(lines: list[str]) -> list[tuple[int, int, str]]:
    """``(begin line, end line, indentation)`` of every solution region; ValueError for unmatched markers."""
    regions, begin, indent = [], None, ""
    for i, line in enumerate(lines):
        if m := _BEGIN.match(line):
            if begin is not None:
                raise ValueError(f"line {i + 1}: '{BEGIN_MARKER}' inside the region opened on line "
                                 f"{begin + 1}: close it with '{END_MARKER}' first")
            begin, indent = i, m.group(1)
        elif _END.match(line):
            if begin is None:
                raise ValueError(f"line {i + 1}: '{END_MARKER}' without a '{BEGIN_MARKER}' before it")
            regions.append((begin, i, indent))
            begin = None
    if begin is not None:
        raise ValueError(f"line {begin + 1}: '{BEGIN_MARKER}' without a matching '{END_MARKER}'")
    return regions


def student_source(cell_source: str) -> str:
    """A code cell's source with every solution region (markers included) replaced by the stub
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the BEGIN marker's indentation.

    Text outside the regions is kept exactly. Unmatched or nested markers raise ValueError.
    """
    lines = cell_source.split("\n")
    out, start = [], 0
    for begin, end, indent in _solution_regions(lines):
        out.extend(lines[start:begin])
        out.extend(indent + stub for stub in STUB_LINES)
        start = end + 1
    out.extend(lines[start:])
    return "\n".join(out)


def _read_notebook(nb):
    if isinstance(nb, (str, Path)):
        return nbformat.read(str(nb), as_version=4)
    return nb


def _has_marker(source: str) -> bool:
    return any(_BEGIN.match(line) or _END.match(line) for line in source.split("\n"))


def solution_cells(nb) -> list:
    """The code cells of a notebook (a NotebookNode or a path) that hold a solution marker."""
    nb = _read_notebook(nb)
    return [c for c in nb.cells if c.get("cell_type") == "code" and _has_marker(c.get("source", ""))]


def student_notebook(nb, name: str = "notebook"):
    """A student copy of a notebook (a NotebookNode or a path): regions stubbed, outputs and counts cleared.

    The input is not changed. ValueError names the notebook and the cell of an unmatched marker.
    """
    nb = copy.deepcopy(_read_notebook(nb))
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        try:
            cell.source = student_source(cell.get("source", ""))
        except ValueError as e:
            raise ValueError(f"{name}, cell {i + 1}: {e}") from None
        cell.outputs = []
        cell.execution_count = None
    return nb


def write_student_copies(nb_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student copy of every ``NN_topic.ipynb`` in ``nb_dir`` to ``out_dir`` (same names, atomic).

    Every notebook is converted before anything is written, so an unmatched marker (ValueError naming the
    notebook and the cell) leaves ``out_dir`` untouched. Returns the written paths in lesson order.
    """
    nb_dir, out_dir = Path(nb_dir), Path(out_dir)
    if out_dir.resolve() == nb_dir.resolve():
        raise ValueError(f"the student copies would overwrite the solutions in {nb_dir}: "
                         "choose another --out")
    sources = list_notebooks(nb_dir)
    if not sources:
        raise FileNotFoundError(f"no NN_topic.ipynb notebooks in {nb_dir}")
    copies = []
    for path in sources:
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as e:
            raise ValueError(f"{path.name} is not a readable notebook ({type(e).__name__}: {e})") from e
        text = nbformat.writes(student_notebook(nb, path.name))
        copies.append((out_dir / path.name, text if text.endswith("\n") else text + "\n"))
    for target, text in copies:
        atomic_write_text(target, text)
    return [target for target, _ in copies]
