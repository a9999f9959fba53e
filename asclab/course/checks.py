"""What every exercise check shares: the verdict, where it is recorded, and the harness that runs the cases.

A check (:mod:`asclab.course.exercises`) runs the student's function on a list of :class:`Case` objects.
It never raises: an exception in the student's code (``NotImplementedError`` from the stub included) is a
failed check whose message says what went wrong and on which input. :func:`run_check` prints a one-line
verdict and records it with :func:`record`: with a ``metrics`` dict as
``metrics["exercises"][name] = {"passed": bool, "message": str}``, so it reaches the notebook's
``metrics.json`` and ``asclab grade`` can read it. When ``$ASCLAB_EXERCISE_LOG`` names a file
(``asclab grade`` sets it for every notebook it runs), each verdict is also appended to that file as one
JSON line the moment the check runs: a notebook that crashes or times out later, before it writes
``metrics.json``, keeps the verdicts of the checks it had passed.
"""
from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from asclab.course.text import shorten

# the file each verdict is appended to as it is reached (one JSON line each); asclab grade sets it
EXERCISE_LOG_ENV = "ASCLAB_EXERCISE_LOG"

# asclab's own frames are not the student's: the package folder, two levels above this file
_LIBRARY = str(Path(__file__).resolve().parents[1])


# --- results ------------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """The verdict of one check. ``failed_case`` names the input that failed (None when passed)."""
    name: str
    passed: bool
    message: str
    failed_case: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def verdict(self) -> str:
        """One line for the notebook: ``✓ mixup: ...`` or ``✗ mixup: ...``."""
        return f"{'✓' if self.passed else '✗'} {self.name}: {self.message}"

    def __str__(self) -> str:
        return self.verdict()

    def __repr__(self) -> str:  # short, because a notebook shows it under the printed verdict
        return f"<CheckResult {self.name}: {'passed' if self.passed else 'failed'}>"


def record(metrics: dict | None, result: CheckResult) -> None:
    """Put a verdict into a notebook's metrics dict, ``metrics["exercises"][name]``, and into the exercise
    log when ``$ASCLAB_EXERCISE_LOG`` is set (see the module docstring)."""
    verdict = {"passed": bool(result.passed), "message": result.message}
    if isinstance(metrics, dict):
        metrics.setdefault("exercises", {})[result.name] = verdict
    log = os.environ.get(EXERCISE_LOG_ENV)
    if log:
        try:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"name": result.name, **verdict}, ensure_ascii=False) + "\n")
        except OSError:
            pass  # the verdict is still printed (the grader can read it there) and in metrics


def report(metrics: dict | None, result: CheckResult) -> CheckResult:
    """Print the verdict and record it: what every check ends with."""
    print(result.verdict())
    record(metrics, result)
    return result


# --- the harness every check shares -------------------------------------------------------------------
class _StudentRaised(Exception):
    """The student's function raised; ``original`` is what it raised."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


@dataclass
class Case:
    description: str                        # the input, in words: "λ=0.3 on a 256×64 image"
    run: Callable[[Callable], str | None]   # calls the student's function; a problem sentence or None


def call_student(fn: Callable, *args, **kwargs):
    """Call the student's function; whatever it raises comes back wrapped, so a case can tell it apart."""
    try:
        return fn(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # SystemExit too: a student's sys.exit() must not end the notebook
        raise _StudentRaised(e) from e


def _where(exc: BaseException) -> str:
    """``" (line 4 of mixup)"``: the innermost frame of the student's own code, if there is one."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # [0] is call_student
    own = [f for f in frames if "site-packages" not in f.filename and "/lib/python" not in f.filename
           and not f.filename.startswith(_LIBRARY)]
    if not own:
        return ""
    frame = own[-1]
    return f" (line {frame.lineno} of {frame.name})"


def _raised_message(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return "not implemented yet: replace `raise NotImplementedError()` with your code"
    detail = shorten(exc, 200, one_line=True)
    return f"your function raised {type(exc).__name__}{': ' + detail if detail else ''}{_where(exc)}"


def _evaluate(name: str, student_fn, make_cases: Callable[[], list[Case]], covers: str) -> CheckResult:
    if not callable(student_fn):
        return CheckResult(name, False, f"expected a function, got {type(student_fn).__name__}")
    cases = make_cases()
    for case in cases:
        try:
            problem = case.run(student_fn)
        except _StudentRaised as e:
            if isinstance(e.original, NotImplementedError):  # the stub: no input is to blame
                return CheckResult(name, False, _raised_message(e.original), case.description)
            return CheckResult(name, False, f"{_raised_message(e.original)} for {case.description}",
                               case.description)
        except Exception as e:  # the student's result could not even be read (a wrong type, a wrong shape)
            problem = (f"could not compare your result with the expected one "
                       f"({type(e).__name__}: {shorten(e, 200, one_line=True)})")
        if problem:
            return CheckResult(name, False, f"{problem} for {case.description}", case.description)
    return CheckResult(name, True, f"correct on all {len(cases)} cases ({covers})")


def run_check(name: str, student_fn, make_cases: Callable[[], list[Case]], covers: str,
              metrics: dict | None) -> CheckResult:
    """Run the cases, print the verdict, record it in ``metrics``; ``covers`` sums the cases up in words."""
    try:
        result = _evaluate(name, student_fn, make_cases, covers)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a check never raises, whatever happens
        why = f"{type(e).__name__}: {shorten(e, 200, one_line=True)}"
        result = CheckResult(name, False, f"the check could not run ({why})")
    return report(metrics, result)


# --- how a check talks about values -------------------------------------------------------------------
def as_tensor(value) -> torch.Tensor:
    """A student's result as a detached CPU tensor (tensors, NumPy arrays, lists and numbers are accepted)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.as_tensor(value)


def describe(value) -> str:
    """What a returned value is, for a message: ``a tuple of 4 values``, ``a tensor of shape [8, 10]``."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} values"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    if value is None:
        return "None (did you forget `return`?)"
    return f"a {type(value).__name__}"


def shape_text(t) -> str:
    """``[8, 1, 256, 64]``."""
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def some_values(values, n: int = 4) -> str:
    """A few numbers of a tensor or array: ``[0.123, 0.456, ...]``."""
    flat = [float(v) for v in as_tensor(values).flatten()[: n + 1].tolist()]
    text = ", ".join(f"{v:.4g}" for v in flat[:n])
    return f"[{text}{', ...' if len(flat) > n else ''}]"


def some_ints(values, n: int = 10) -> str:
    """A few integers of a tensor or array: ``[3, 0, 7, ...]``."""
    flat = as_tensor(values).flatten().tolist()
    text = ", ".join(str(int(v)) for v in flat[:n])
    return f"[{text}{', ...' if len(flat) > n else ''}]"
