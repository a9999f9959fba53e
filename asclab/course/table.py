"""The grade table: a row per student, a column per notebook, exercise and banded metric (pure).

Per notebook the columns are

* a status column named after the notebook: ``ok``, ``crashed: <Error> in cell N``, ``timeout``,
  ``invalid notebook`` (not a readable notebook), ``missing`` (another student submitted it, this one did
  not), or ``grader error: ...`` (the grader itself failed, e.g. no kernel);
* one column per exercise: ``pass`` or ``fail`` (the check's message is in the details), ``missing`` when
  the notebook ran to the end but recorded no verdict for it, or the notebook's status when it stopped
  before the check;
* one column per banded metric (``<notebook>:<dotted.path>``): ``pass`` inside the band, ``fail`` outside it
  (or not a finite number), ``missing`` when the notebook ran but did not write it, the notebook's status when
  it stopped before writing ``metrics.json``; with no band for that notebook (no reference file, or a
  reference without it) a single ``<notebook>:metrics`` column says ``no reference``, and nothing is counted.

The exercises of a notebook are those the reference lists for it plus every one any student's run recorded.
``passed`` / ``total`` count the exercise and metric columns only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from asclab.course.bands import flatten_metrics, in_band
from asclab.course.exercises import exercise_order
from asclab.course.outcomes import NotebookOutcome, missing

COUNTED = ("exercise", "metric")


@dataclass(frozen=True)
class Column:
    label: str                 # the header in grades.csv
    kind: str                  # "notebook" | "exercise" | "metric" | "reference"
    notebook: str              # the notebook stem
    key: str = ""              # the exercise name or the metric path
    band: dict | None = None   # for metric columns

    @property
    def counted(self) -> bool:
        return self.kind in COUNTED


@dataclass
class GradeRow:
    student: str
    cells: dict[str, str]                    # column label -> "pass", "fail", "crashed: ...", ...
    passed: int
    total: int
    notes: list[str] = field(default_factory=list)
    notebooks: dict[str, NotebookOutcome] = field(default_factory=dict)

    @property
    def score(self) -> str:
        return f"{self.passed}/{self.total}"

    def __getitem__(self, label: str) -> str:
        return self.cells[label]

    def to_json(self) -> dict:
        return {"student": self.student, "cells": self.cells, "passed": self.passed, "total": self.total,
                "notes": self.notes, "notebooks": {k: v.to_json() for k, v in self.notebooks.items()}}


Outcomes = dict[str, dict[str, NotebookOutcome]]   # student -> notebook stem -> outcome


def _exercises_per_notebook(outcomes: Outcomes, stems: list[str], reference: dict | None) -> dict[str, list]:
    """Per notebook, the reference's exercises, then any other one a student's run recorded."""
    exercises: dict[str, list[str]] = {}
    for stem in stems:
        names = list((reference or {}).get("exercises", {}).get(stem, []))
        seen = set()
        for per_student in outcomes.values():
            o = per_student.get(stem)
            if o is not None:
                seen.update(o.exercise_verdicts())
        names += sorted(seen - set(names), key=exercise_order)
        exercises[stem] = names
    return exercises


def build_columns(outcomes: Outcomes, reference: dict | None) -> list[Column]:
    """The table's columns: per notebook (sorted), its status, its exercises, then its banded metrics."""
    stems = sorted({stem for per_student in outcomes.values() for stem in per_student})
    exercises = _exercises_per_notebook(outcomes, stems, reference)
    counts: dict[str, int] = {}
    for names in exercises.values():
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    columns: list[Column] = []
    for stem in stems:
        columns.append(Column(stem, "notebook", stem))
        for name in exercises[stem]:
            columns.append(Column(name if counts[name] == 1 else f"{stem}:{name}", "exercise", stem, name))
        bands = (reference or {}).get("metrics", {}).get(stem) or {}
        if bands:
            columns += [Column(f"{stem}:{path}", "metric", stem, path, band) for path, band in bands.items()]
        else:
            columns.append(Column(f"{stem}:metrics", "reference", stem))
    return columns


def _notebook_cell(o: NotebookOutcome, notes: list[str]) -> str:
    if o.status != "ok" or o.detail:
        detail = f" ({o.detail})" if o.detail and o.detail != o.text else ""
        notes.append(f"{o.stem}: {o.text}{detail}")
    if o.identified:
        notes.append(f"{o.stem}: {o.path.name if o.path else 'the file'} was recognised {o.identified}")
    return o.text


def _exercise_cell(o: NotebookOutcome, name: str, notes: list[str]) -> str:
    entry = o.exercise_verdicts().get(name)
    if isinstance(entry, dict):
        if entry.get("passed") is True:
            return "pass"
        notes.append(f"{o.stem}: {name}: {entry.get('message') or 'failed'}")
        return "fail"
    if o.status != "ok":
        return o.text       # the notebook stopped (or never ran) before this check
    if o.metrics is None:
        notes.append(f"{o.stem}: {name}: missing (the notebook wrote no metrics.json)")
    else:
        notes.append(f"{o.stem}: {name}: missing (no verdict in metrics.json: was the check cell removed?)")
    return "missing"


def _metric_cell(o: NotebookOutcome, column: Column, notes: list[str]) -> str:
    if o.status != "ok" and not isinstance(o.metrics, dict):
        return o.text       # never produced: it fails with the notebook's status
    flat = flatten_metrics(o.metrics) if isinstance(o.metrics, dict) else {}
    if column.key not in flat:
        notes.append(f"{o.stem}: {column.key}: missing from metrics.json")
        return "missing"
    value, band = flat[column.key], column.band
    if in_band(value, band):
        return "pass"
    notes.append(f"{o.stem}: {column.key} = {value:.4g}, outside the reference band "
                 f"[{band['low']:.4g}, {band['high']:.4g}]")
    return "fail"


def build_rows(outcomes: Outcomes, columns: list[Column],
               notes: dict[str, list[str]] | None = None) -> list[GradeRow]:
    """One row per student (sorted by name) with a cell per column; see the module docstring. ``notes`` adds
    lines to a student's details (their files that were not graded)."""
    rows = []
    counted = [c.label for c in columns if c.counted]
    for student in sorted(outcomes):
        cells: dict[str, str] = {}
        row_notes: list[str] = list((notes or {}).get(student, []))
        notebooks: dict[str, NotebookOutcome] = {}
        for column in columns:
            o = outcomes[student].get(column.notebook) or missing(column.notebook)
            notebooks[column.notebook] = o
            if column.kind == "notebook":
                cells[column.label] = _notebook_cell(o, row_notes)
            elif column.kind == "reference":
                cells[column.label] = "no reference"
            elif column.kind == "exercise":
                cells[column.label] = _exercise_cell(o, column.key, row_notes)
            else:
                cells[column.label] = _metric_cell(o, column, row_notes)
        passed = sum(cells[label] == "pass" for label in counted)
        rows.append(GradeRow(student, cells, passed, len(counted), row_notes, notebooks))
    return rows
