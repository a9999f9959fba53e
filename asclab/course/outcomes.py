"""What became of one submitted notebook, and the exercise verdicts that survive its crash.

Every check of :mod:`asclab.course.exercises` prints its verdict, records it in ``metrics["exercises"]``
and, because the grader sets ``$ASCLAB_EXERCISE_LOG``, appends it at once to
``<out_dir>/<student>/<notebook>/exercises.jsonl``. So a notebook that crashes or times out after its
exercises keeps their verdicts: the grader reads that log (or, when a kernel's older asclab wrote none, the
``✓ name: ...`` lines printed in the executed notebook).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asclab.course.exercises import EXERCISES
from asclab.course.notebooks import read_notebook
from asclab.course.results import NotebookResult

STATUS_TEXT = {"ok": "ok", "timeout": "timeout", "invalid": "invalid notebook", "missing": "missing"}
EXERCISE_LOG = "exercises.jsonl"     # in each graded notebook's folder (see the module docstring)

# a check's printed verdict: "✓ mixup: correct on all 6 cases (...)" (asclab.course.checks.CheckResult)
_VERDICT_LINE = re.compile(r"^([✓✗]) ([A-Za-z_][A-Za-z0-9_]*): (.*)$")


# --- exercise verdicts that survive a crash -----------------------------------------------------------
def _verdict(passed: Any, message: Any) -> dict:
    return {"passed": passed is True, "message": str(message or "")}


def read_exercise_log(path: str | Path) -> dict[str, dict]:
    """``{name: {"passed", "message"}}`` from an exercise log (one JSON line per check, the last one of a name
    wins); unreadable lines are ignored, a missing file is ``{}``."""
    verdicts: dict[str, dict] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return verdicts
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue      # a line cut short when the kernel was killed mid-write
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            verdicts[entry["name"]] = _verdict(entry.get("passed"), entry.get("message"))
    return verdicts


def verdicts_from_notebook(path: str | Path | None) -> dict[str, dict]:
    """The verdicts an executed notebook printed (``✓ mixup: ...`` lines of the known exercises), in order;
    ``{}`` when it cannot be read. The fallback for a kernel whose asclab writes no exercise log."""
    verdicts: dict[str, dict] = {}
    nb = read_notebook(path) if path is not None else None
    if nb is None:
        return verdicts
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") != "stream" or output.get("name") != "stdout":
                continue
            for line in str(output.get("text", "")).splitlines():
                m = _VERDICT_LINE.match(line.strip())
                if m and m.group(2) in EXERCISES:
                    verdicts[m.group(2)] = _verdict(m.group(1) == "✓", m.group(3))
    return verdicts


# --- one notebook's outcome ---------------------------------------------------------------------------
@dataclass
class NotebookOutcome:
    """What became of one submitted notebook."""
    stem: str
    status: str                    # "ok" | "crashed" | "timeout" | "invalid" | "missing" | "error"
    text: str                      # the table cell: "ok", "crashed: ZeroDivisionError in cell 3", ...
    metrics: dict | None = None    # its metrics.json, if it wrote one (a crash after writing it included)
    detail: str = ""               # the longer story: the failure line, why it is invalid, ...
    path: Path | None = None       # the submitted file
    executed: Path | None = None   # the executed copy
    seconds: float = 0.0
    verdicts: dict = field(default_factory=dict)   # the exercise log's verdicts, kept through a crash
    identified: str = ""           # how the grader knew which notebook the file is, when not by its name

    def exercise_verdicts(self) -> dict[str, dict]:
        """Every verdict this run produced: the exercise log's, then ``metrics["exercises"]`` on top."""
        merged = dict(self.verdicts)
        recorded = self.metrics.get("exercises") if isinstance(self.metrics, dict) else None
        if isinstance(recorded, dict):
            merged.update({str(k): v for k, v in recorded.items() if isinstance(v, dict)})
        return merged

    def to_json(self) -> dict:
        return {"status": self.status, "text": self.text, "detail": self.detail,
                "path": str(self.path) if self.path else None,
                "executed": str(self.executed) if self.executed else None, "seconds": round(self.seconds, 2),
                "identified": self.identified}


def missing(stem: str) -> NotebookOutcome:
    return NotebookOutcome(stem, "missing", STATUS_TEXT["missing"], detail="not submitted")


def outcome_from_result(result: NotebookResult) -> NotebookOutcome:
    """A :class:`asclab.course.results.NotebookResult` as an outcome: ok, timeout, crashed, or a grader error.

    The metrics of a notebook that stopped are kept when it wrote ``metrics.json`` before it stopped."""
    outcome = NotebookOutcome(result.name, "ok", "ok", path=result.input, executed=result.output,
                              seconds=result.seconds)
    outcome.metrics = result.metrics if isinstance(result.metrics, dict) else None
    if result.ok:
        if outcome.metrics is None:
            outcome.detail = "; ".join(result.notes) or "no metrics.json"
        return outcome
    failure = result.failure or {}
    ename = str(failure.get("ename") or "Error")
    outcome.detail = result.failure_text()
    if "timeout" in ename.lower():
        outcome.status, outcome.text = "timeout", STATUS_TEXT["timeout"]
    elif ename in ("NoSuchKernel", "FileNotFoundError") and failure.get("cell_index") is None:
        outcome.status, outcome.text = "error", f"grader error: {ename}"   # not the student's doing
        outcome.metrics = None
    else:
        where = f" in cell {failure['cell_number']}" if failure.get("cell_number") is not None else ""
        outcome.status, outcome.text = "crashed", f"crashed: {ename}{where}"
    return outcome
