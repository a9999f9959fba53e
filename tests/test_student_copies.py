"""The committed notebooks and their student copies stay in sync.

Every exercise notebook (02 to 06) marks 1 to 3 solution regions; the generated copy holds the stub in place of
each region and is otherwise identical to the committed notebook; and a committed ``student/`` folder, if the
repository has one, is byte-identical to a fresh generation (regenerate it with ``make student-copy``).

The expected copy is rebuilt here with a regular expression, independently of ``asclab.course.student_copy``.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from asclab.course.notebooks import NOTEBOOK_NAME, list_notebooks, notebooks_dir
from asclab.course.student_copy import write_student_copies

EXERCISE_NOTEBOOKS = ("02", "03", "04", "05", "06")
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)
STUB = "\\1# YOUR CODE HERE\n\\1raise NotImplementedError()"

SOURCES = list_notebooks() if notebooks_dir().is_dir() else []


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    assert SOURCES, f"no NN_topic.ipynb notebooks in {notebooks_dir()}"
    out = tmp_path_factory.mktemp("student")
    written = write_student_copies(notebooks_dir(), out)
    assert [p.name for p in written] == [p.name for p in SOURCES]
    return out


def _regions(nb) -> int:
    return sum(len(REGION.findall(c.source)) for c in nb.cells if c.cell_type == "code")


def test_the_workbook_has_notebooks():
    assert SOURCES, f"no notebooks in {notebooks_dir()}: the student copies are made from them"


@pytest.mark.parametrize("number", EXERCISE_NOTEBOOKS)
def test_exercise_notebooks_have_one_to_three_solutions(number):
    found = [p for p in SOURCES if NOTEBOOK_NAME.match(p.name).group(1) == number]
    assert len(found) == 1, f"expected one notebook {number}_*.ipynb in {notebooks_dir()}, found {len(found)}"
    n = _regions(nbformat.read(str(found[0]), as_version=4))
    assert 1 <= n <= 3, f"{found[0].name}: expected 1 to 3 '### BEGIN SOLUTION' regions, found {n}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_copy_is_the_notebook_with_stubs(copies, source):
    original = nbformat.read(str(source), as_version=4)
    copy = nbformat.read(str(copies / source.name), as_version=4)
    assert copy.metadata == original.metadata
    assert len(copy.cells) == len(original.cells)
    for i, (a, b) in enumerate(zip(original.cells, copy.cells), 1):
        where = f"{source.name} cell {i}"
        assert b.cell_type == a.cell_type and b.metadata == a.metadata, where
        if a.cell_type != "code":
            assert b.source == a.source, where
            continue
        expected, n = REGION.subn(STUB, a.source)
        assert b.source == expected, f"{where}: the copy differs from the notebook outside the solution regions"
        assert "### BEGIN SOLUTION" not in b.source and "### END SOLUTION" not in b.source, where
        assert b.source.count("raise NotImplementedError()") == a.source.count("raise NotImplementedError()") + n
        assert b.outputs == [] and b.execution_count is None, where
