"""The old name of the grader, and ``python -m asclab.grade ...``, which now runs
``asclab grade-reference ...``.

Grading lives in :mod:`asclab.course`: ``grading`` (:func:`grade`), ``reference`` (:func:`build_reference`),
``bands``, ``submissions``, ``outcomes``, ``table`` and ``reports``. This module re-exports the public names
that scripts written against ``asclab.grade`` use.
"""
import sys

from asclab.cli import main as cli_main
from asclab.course.bands import DEFAULT_EXCLUDE, BandRule, bands_from_runs, flatten_metrics, in_band
from asclab.course.grading import grade, grade_notebook
from asclab.course.outcomes import NotebookOutcome, read_exercise_log, verdicts_from_notebook
from asclab.course.reference import build_reference, load_reference, reference_path
from asclab.course.reports import GradeReport, write_report
from asclab.course.submissions import find_submissions, identify_notebook

__all__ = [
    "DEFAULT_EXCLUDE", "BandRule", "GradeReport", "NotebookOutcome", "bands_from_runs", "build_reference",
    "find_submissions", "flatten_metrics", "grade", "grade_notebook", "identify_notebook", "in_band",
    "load_reference", "main", "read_exercise_log", "reference_path", "verdicts_from_notebook", "write_report",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m asclab.grade --profile smoke --seeds 0 1 2`` is ``asclab grade-reference ...``."""
    return cli_main(["grade-reference", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
