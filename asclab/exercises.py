"""The notebooks' name for the exercise checks: ``asclab.exercises.check_mixup(mixup, metrics)``.

The checks live in :mod:`asclab.course.exercises` (the six exercises) and :mod:`asclab.course.checks` (the
harness and the verdict); the student copies in :mod:`asclab.course.student_copy`. This module re-exports
them so that the lessons, their student copies and submitted notebooks keep working.
"""
from asclab.course.checks import EXERCISE_LOG_ENV, CheckResult, record
from asclab.course.exercises import (
    EXERCISES,
    Exercise,
    check,
    check_coarse_probs,
    check_fake_quantize,
    check_fmix_threshold,
    check_kd_loss,
    check_macro_accuracy,
    check_mixup,
)
from asclab.course.student_copy import (
    BEGIN_MARKER,
    END_MARKER,
    STUB_LINES,
    solution_cells,
    student_notebook,
    student_source,
    write_student_copies,
)

__all__ = [
    "BEGIN_MARKER", "END_MARKER", "EXERCISES", "EXERCISE_LOG_ENV", "STUB_LINES", "CheckResult", "Exercise",
    "check", "check_coarse_probs", "check_fake_quantize", "check_fmix_threshold", "check_kd_loss",
    "check_macro_accuracy", "check_mixup", "record", "solution_cells", "student_notebook", "student_source",
    "write_student_copies",
]
