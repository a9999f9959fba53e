"""Grade student submissions: run each submitted notebook headless, read its exercise verdicts, compare its
numbers with reference bands, and write one table with a row per student.

``asclab grade SUBMISSIONS --profile smoke`` calls :func:`grade`.

Submissions layout
------------------
One folder per student, named after the student, holding that student's notebooks::

    SUBMISSIONS/
        alice/02_augmentation.ipynb
        alice/03_dymn_finetuning.ipynb
        bob/02_augmentation.ipynb

Only ``*.ipynb`` files directly inside a student folder are graded. Hidden folders (``.ipynb_checkpoints``)
and the grading output folder are skipped; a notebook lying directly in ``SUBMISSIONS/`` is reported and
skipped (move it into a student folder). A notebook is identified by its file stem (``02_augmentation``):
keep the workbook's file names, or its numbers cannot be compared with the reference.

What happens to each notebook
-----------------------------
It is executed with papermill through :func:`asclab.workbook.run_notebook` with the parameters
``PROFILE``, ``INTERACTIVE=False`` and ``OUT_DIR=<out_dir>/<student>/<stem>/``; the executed copy and its
``metrics.json`` land in that folder, which is also the kernel's working directory. Every cell may run
``cell_timeout`` seconds (default: ``timeout``). The exercise checks (:mod:`asclab.exercises`) record their
verdicts in ``metrics["exercises"]``; every other number of ``metrics.json`` is compared with its band.
Grading runs the students' code with your permissions: it is not a sandbox.

The table (``grades.csv``, ``grades.md``, and everything in ``grades.json``)
---------------------------------------------------------------------------
One row per student. Per notebook there is

* a status column named after the notebook: ``ok``, ``crashed: <Error> in cell N``, ``timeout``,
  ``invalid notebook`` (not a readable notebook), ``missing`` (another student submitted it, this one did not),
  or ``grader error: ...`` (the grader itself failed, e.g. no kernel);
* one column per exercise: ``pass`` or ``fail`` (the check's message is in the details), ``missing`` when
  the notebook ran but recorded no verdict for it, or the notebook's status when it did not run to the end;
* one column per banded metric (``<stem>:<dotted.path>``): ``pass`` inside the band, ``fail`` outside it
  (or not a finite number), ``missing`` when absent; with no band for that notebook (no reference file, or
  a reference without it) a single ``<stem>:metrics`` column says ``no reference``, and nothing is counted.

The exercises of a notebook are those the reference lists for it plus every one any student's run recorded.
``passed`` / ``total`` count the exercise and metric columns only.

Reference bands: ``reference/<profile>.json`` at the repository root
--------------------------------------------------------------------
::

    {
      "profile": "smoke",
      "command": "python -m asclab.grade --profile smoke --seeds 0 1 2",   # how to regenerate this file
      "seeds": [0, 1, 2],
      "rule": "...the band rule in words...",
      "tolerance": {"k": 3.0, "abs_floor": 0.01, "rel_floor": 0.02},
      "metrics": {"03_dymn_finetuning": {"macro_acc": {"low": 0.21, "high": 0.43, "mean": 0.32,
                                                        "std": 0.03, "n": 3}}},
      "exercises": {"02_augmentation": ["mixup", "fmix_threshold"]}
    }

Only ``metrics`` (with ``low`` and ``high`` per band) is required; ``exercises`` is optional. Metric paths
are the dotted paths of :func:`flatten_metrics` (``per_device.s4``). A band may be edited or deleted by hand:
the grader compares exactly the bands it finds. :func:`build_reference` (``python -m asclab.grade``) writes
the file by running the solution notebooks for several seeds; the rule is :class:`BandRule`.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import math
import numbers
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asclab.storage import atomic_write_text, write_json

# numbers that differ from run to run for reasons other than the student's code: never banded by default
DEFAULT_EXCLUDE: tuple[str, ...] = ("seed", "*.seed", "*seconds*", "*time*", "*elapsed*", "*duration*")

STATUS_TEXT = {"ok": "ok", "timeout": "timeout", "invalid": "invalid notebook", "missing": "missing"}
COUNTED = ("exercise", "metric")


# --- metrics and bands (pure) -------------------------------------------------------------------------
def flatten_metrics(d: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a nested metrics dict under dotted paths: ``{"a": {"b": 0.5}} -> {"a.b": 0.5}``.

    Booleans, strings, None and lists (tables such as a confusion matrix or a loss history) are left out,
    so the ``exercises`` verdicts contribute nothing. NaN and inf are kept (a band then fails them).
    """
    flat: dict[str, float] = {}
    if not isinstance(d, dict):
        return flat
    for key, value in d.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, numbers.Real):
            flat[path] = float(value)
        elif isinstance(value, dict):
            flat.update(flatten_metrics(value, path))
    return flat


def _excluded(path: str, exclude) -> bool:
    return any(fnmatch.fnmatchcase(path.lower(), pattern.lower()) for pattern in exclude or ())


@dataclass(frozen=True)
class BandRule:
    """How wide a reference band is.

    Over the seeds' values of one metric: ``low = min - m``, ``high = max + m`` with
    ``m = max(k * std, abs_floor, rel_floor * |mean|)`` (``std`` the sample standard deviation, 0 for one
    seed). The spread seen over the seeds is kept whole and widened by ``k`` standard deviations; the two
    floors keep a metric that barely moved (a parameter count, an accuracy that saturated) from getting a
    band so narrow that a harmless difference in floating-point order fails it. Use three seeds or more.
    """
    k: float = 3.0
    abs_floor: float = 0.01
    rel_floor: float = 0.02

    def margin(self, mean: float, std: float) -> float:
        return max(self.k * std, self.abs_floor, self.rel_floor * abs(mean))

    def describe(self) -> str:
        return (f"low = min - m, high = max + m over the seeds, m = max({self.k:g} * std, {self.abs_floor:g}, "
                f"{self.rel_floor:g} * |mean|), std with ddof=1")


def bands_from_runs(runs: list[dict[str, float]], tolerance: BandRule = BandRule(),
                    exclude=DEFAULT_EXCLUDE) -> dict[str, dict]:
    """A band per metric from several runs' flat metrics (one dict per seed), by :class:`BandRule`.

    Only metrics present in every run with finite values are banded; paths matching an ``exclude`` pattern
    (fnmatch, case-insensitive, e.g. ``*seconds*``) are skipped. Returns
    ``{path: {"low", "high", "mean", "std", "n"}}`` in sorted path order.
    """
    if not runs:
        return {}
    common = set(runs[0]).intersection(*runs[1:])
    bands = {}
    for path in sorted(common):
        if _excluded(path, exclude):
            continue
        values = [float(run[path]) for run in runs]
        if not all(math.isfinite(v) for v in values):
            continue
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        margin = tolerance.margin(mean, std)
        bands[path] = {"low": min(values) - margin, "high": max(values) + margin, "mean": mean, "std": std,
                       "n": len(values)}
    return bands


def in_band(value: Any, band: dict) -> bool:
    """True when ``value`` is a finite number with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return False
    return float(band["low"]) <= float(value) <= float(band["high"])


# --- the reference file -------------------------------------------------------------------------------
def reference_path(profile: str) -> Path:
    """``<repository>/reference/<profile>.json``."""
    from asclab.workbook import repo_root

    return repo_root() / "reference" / f"{profile}.json"


def regenerate_command(profile: str, seeds, notebooks=None, extra_exclude=()) -> str:
    command = f"python -m asclab.grade --profile {profile} --seeds {' '.join(str(s) for s in seeds)}"
    if notebooks:
        command += " --notebooks " + " ".join(str(n) for n in notebooks)
    if extra_exclude:
        command += " --exclude " + " ".join(f"'{p}'" for p in extra_exclude)
    return command


def validate_reference(reference: Any, where: str = "the reference") -> dict:
    """Check a reference's shape (see the module docstring); ValueError says what is wrong and where."""
    if not isinstance(reference, dict) or not isinstance(reference.get("metrics"), dict):
        raise ValueError(f"{where} has no 'metrics' object: expected "
                         '{"metrics": {"<notebook stem>": {"<metric path>": {"low": x, "high": y}}}}')
    for stem, bands in reference["metrics"].items():
        if not isinstance(bands, dict):
            raise ValueError(f"{where}: metrics[{stem!r}] must map metric paths to bands")
        for path, band in bands.items():
            ok = isinstance(band, dict) and all(
                isinstance(band.get(k), numbers.Real) and not isinstance(band.get(k), bool) for k in ("low", "high"))
            if not ok or band["low"] > band["high"]:
                raise ValueError(f"{where}: the band of {stem}:{path} must be {{\"low\": x, \"high\": y}} with "
                                 f"x <= y, got {band!r}")
    exercises = reference.get("exercises", {})
    if not isinstance(exercises, dict) or not all(isinstance(v, list) for v in exercises.values()):
        raise ValueError(f"{where}: 'exercises' must map notebook stems to lists of exercise names")
    return reference


def load_reference(reference: Any, profile: str) -> tuple[dict | None, str]:
    """``(reference or None, where it came from)``. ``reference`` is None (the profile's file), a path, or a
    dict. A missing file is None (metrics are then reported as "no reference"); a broken one is ValueError."""
    if isinstance(reference, dict):
        return validate_reference(reference, "the reference dict"), "the reference dict"
    path = Path(reference) if reference is not None else reference_path(profile)
    if not path.is_file():
        return None, str(path)
    from asclab.storage import read_json

    return validate_reference(read_json(path), str(path)), str(path)


# --- grading one notebook -----------------------------------------------------------------------------
@dataclass
class NotebookOutcome:
    """What became of one submitted notebook."""
    stem: str
    status: str                    # "ok" | "crashed" | "timeout" | "invalid" | "missing" | "error"
    text: str                      # the table cell: "ok", "crashed: ZeroDivisionError in cell 3", "timeout", ...
    metrics: dict | None = None    # its metrics.json (status "ok" only)
    detail: str = ""               # the longer story: the failure line, why it is invalid, ...
    path: Path | None = None       # the submitted file
    executed: Path | None = None   # the executed copy
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"status": self.status, "text": self.text, "detail": self.detail,
                "path": str(self.path) if self.path else None,
                "executed": str(self.executed) if self.executed else None, "seconds": round(self.seconds, 2)}


def missing(stem: str) -> NotebookOutcome:
    return NotebookOutcome(stem, "missing", STATUS_TEXT["missing"], detail="not submitted")


def _invalid_reason(path: Path) -> str | None:
    """Why a file is not a notebook papermill can run (None when it is one)."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as e:
        return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    return None


def outcome_from_result(result) -> NotebookOutcome:
    """A :class:`asclab.workbook.NotebookResult` as an outcome: ok, timeout, crashed, or a grader error."""
    outcome = NotebookOutcome(result.name, "ok", "ok", path=result.input, executed=result.output,
                              seconds=result.seconds)
    if result.ok:
        outcome.metrics = result.metrics if isinstance(result.metrics, dict) else None
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
    else:
        where = f" in cell {failure['cell_number']}" if failure.get("cell_number") is not None else ""
        outcome.status, outcome.text = "crashed", f"crashed: {ename}{where}"
    return outcome


def grade_notebook(path: Path, out_dir: Path, profile: str, cell_timeout: float | None = None,
                   kernel: str = "python3") -> NotebookOutcome:
    """Run one submitted notebook into ``out_dir/<stem>/`` and say what became of it (never raises for the
    notebook's own failures)."""
    from asclab.workbook import figures_to, run_notebook

    path = Path(path)
    reason = _invalid_reason(path)
    if reason is not None:
        return NotebookOutcome(path.stem, "invalid", STATUS_TEXT["invalid"], detail=reason, path=path)
    folder = Path(out_dir) / path.stem
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").unlink(missing_ok=True)  # a metrics.json from an earlier grading must not count
    parameters = {"PROFILE": profile, "INTERACTIVE": False, "OUT_DIR": str(folder)}
    with figures_to(folder / "figures"):      # a submission never writes into the workbook's figures/
        result = run_notebook(path, folder / path.name, parameters, kernel=kernel, progress=False,
                              cell_timeout=cell_timeout, cwd=folder)
    return outcome_from_result(result)


# --- the table (pure) ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    label: str                 # the header in grades.csv / grades.md
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


def _exercise_order(name: str) -> tuple:
    from asclab.exercises import EXERCISES

    names = list(EXERCISES)
    return (names.index(name) if name in names else len(names), name)


def build_columns(outcomes: dict[str, dict[str, NotebookOutcome]], reference: dict | None) -> list[Column]:
    """The table's columns: per notebook (sorted), its status, its exercises, then its banded metrics."""
    stems = sorted({stem for per_student in outcomes.values() for stem in per_student})
    exercises: dict[str, list[str]] = {}
    for stem in stems:
        names = list((reference or {}).get("exercises", {}).get(stem, []))
        seen = set()
        for per_student in outcomes.values():
            o = per_student.get(stem)
            if o is not None and o.status == "ok" and isinstance(o.metrics, dict):
                recorded = o.metrics.get("exercises")
                if isinstance(recorded, dict):
                    seen.update(str(k) for k in recorded)
        names += sorted(seen - set(names), key=_exercise_order)
        exercises[stem] = names
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


def _exercise_cell(o: NotebookOutcome, name: str, notes: list[str]) -> str:
    if o.metrics is None:
        notes.append(f"{o.stem}: {name}: missing (the notebook wrote no metrics.json)")
        return "missing"
    entry = (o.metrics.get("exercises") or {}).get(name) if isinstance(o.metrics.get("exercises"), dict) else None
    if not isinstance(entry, dict):
        notes.append(f"{o.stem}: {name}: missing (no verdict in metrics.json: was the check cell removed?)")
        return "missing"
    if entry.get("passed") is True:
        return "pass"
    notes.append(f"{o.stem}: {name}: {entry.get('message', 'failed')}")
    return "fail"


def _metric_cell(o: NotebookOutcome, column: Column, notes: list[str]) -> str:
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


def build_rows(outcomes: dict[str, dict[str, NotebookOutcome]], columns: list[Column]) -> list[GradeRow]:
    """One row per student (sorted by name) with a cell per column; see the module docstring."""
    rows = []
    for student in sorted(outcomes):
        per_student = outcomes[student]
        cells: dict[str, str] = {}
        notes: list[str] = []
        notebooks: dict[str, NotebookOutcome] = {}
        for column in columns:
            o = per_student.get(column.notebook) or missing(column.notebook)
            notebooks[column.notebook] = o
            if column.kind == "notebook":
                cells[column.label] = o.text
                if o.status != "ok" or o.detail:
                    notes.append(f"{o.stem}: {o.text}" + (f" ({o.detail})" if o.detail and o.detail != o.text
                                                          else ""))
            elif column.kind == "reference":
                cells[column.label] = "no reference"
            elif o.status != "ok":
                cells[column.label] = o.text
            elif column.kind == "exercise":
                cells[column.label] = _exercise_cell(o, column.key, notes)
            else:
                cells[column.label] = _metric_cell(o, column, notes)
        counted = [c.label for c in columns if c.counted]
        passed = sum(cells[label] == "pass" for label in counted)
        rows.append(GradeRow(student, cells, passed, len(counted), notes, notebooks))
    return rows


# --- the report ---------------------------------------------------------------------------------------
@dataclass
class GradeReport:
    """The result of :func:`grade`.

    ``ok`` is True when grading completed: every submission was run and judged, whatever the students
    scored. It is False only when the grader itself failed on a submission (``errors``, e.g. no Jupyter
    kernel), which ``asclab grade`` turns into exit status 1.
    """
    profile: str
    rows: list[GradeRow]
    columns: list[Column]
    out_dir: Path
    csv_path: Path
    md_path: Path
    json_path: Path
    reference: str                      # where the reference came from (a path even when it was missing)
    reference_found: bool
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def row(self, student: str) -> GradeRow:
        for r in self.rows:
            if r.student == student:
                return r
        raise KeyError(student)

    def to_json(self) -> dict:
        return {"profile": self.profile, "ok": self.ok, "reference": self.reference,
                "reference_found": self.reference_found, "errors": self.errors, "skipped": self.skipped,
                "columns": [{"label": c.label, "kind": c.kind, "notebook": c.notebook, "key": c.key,
                             "band": c.band} for c in self.columns],
                "rows": [r.to_json() for r in self.rows]}


def grades_csv(columns: list[Column], rows: list[GradeRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *(c.label for c in columns), "passed", "total"])
    for r in rows:
        writer.writerow([r.student, *(r.cells[c.label] for c in columns), r.passed, r.total])
    return buf.getvalue()


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def grades_markdown(report: GradeReport) -> str:
    lines = [f"# asclab grades: profile `{report.profile}`", ""]
    if report.reference_found:
        lines.append(f"Metrics are compared with the bands in `{report.reference}`.")
    else:
        lines.append(f"No reference at `{report.reference}`: metrics were not compared (\"no reference\"), "
                     f"only the exercises count. Generate it with `{regenerate_command(report.profile, [0, 1, 2])}`.")
    lines += ["", "| student | " + " | ".join(_md(c.label) for c in report.columns) + " | score |",
              "|---|" + "---|" * len(report.columns) + "---:|"]
    for r in report.rows:
        lines.append(f"| {_md(r.student)} | " + " | ".join(_md(r.cells[c.label]) for c in report.columns)
                     + f" | {r.score} |")
    lines += ["", "Score: passed / (exercise and metric columns). A notebook that did not run to the end fails "
              "all its columns with its status (crashed, timeout, invalid notebook, missing)."]
    if report.errors:
        lines += ["", "## Grader errors", ""] + [f"- {_md(e)}" for e in report.errors]
    if report.skipped:
        lines += ["", "## Skipped", ""] + [f"- {_md(s)}" for s in report.skipped]
    lines += ["", "## Details", ""]
    for r in report.rows:
        lines.append(f"### {r.student}: {r.score}")
        lines += [f"- {_md(n)}" for n in r.notes] or ["- all passed"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: GradeReport) -> None:
    atomic_write_text(report.csv_path, grades_csv(report.columns, report.rows))
    atomic_write_text(report.md_path, grades_markdown(report))
    write_json(report.json_path, report.to_json())


# --- finding submissions and grading them -------------------------------------------------------------
def find_submissions(submissions_dir: Path, skip: Path | None = None) -> tuple[dict[str, list[Path]], list[str]]:
    """``({student: [notebooks]}, [skipped things])`` for the layout in the module docstring."""
    students: dict[str, list[Path]] = {}
    skipped: list[str] = []
    skip = skip.resolve() if skip is not None else None
    for entry in sorted(submissions_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if skip is not None and entry.resolve() == skip:
                continue
            students[entry.name] = sorted(p for p in entry.iterdir()
                                          if p.is_file() and p.suffix == ".ipynb" and not p.name.startswith("."))
        elif entry.suffix == ".ipynb":
            skipped.append(f"{entry.name}: a notebook directly in {submissions_dir}; put each student's "
                           f"notebooks in {submissions_dir}/<student>/")
    return students, skipped


def grade(submissions_dir: str | Path, profile: str = "smoke", timeout: float | None = 600,
          out_dir: str | Path | None = None, cell_timeout: float | None = None, reference: Any = None,
          kernel: str = "python3", progress: bool = True) -> GradeReport:
    """Grade every student folder in ``submissions_dir``; write grades.csv, grades.md and grades.json.

    profile       injected as ``PROFILE``; also picks ``reference/<profile>.json``
    timeout       seconds one cell may run (the CLI's ``--timeout``); None: no limit
    out_dir       where executed notebooks and the tables go (default ``runs/grade-<profile>-<time>/``)
    cell_timeout  overrides ``timeout`` when given
    reference     None (the profile's reference file), a path to one, or the reference dict itself
    """
    from asclab.profiles import get as get_profile

    get_profile(profile)  # an unknown profile is an error before any kernel starts
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}: expected SUBMISSIONS/<student>/*.ipynb")
    ref, ref_where = load_reference(reference, profile)
    if out_dir is None:
        out_dir = Path("runs") / f"grade-{profile}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out_dir = Path(out_dir).resolve()
    students, skipped = find_submissions(submissions_dir, skip=out_dir)
    for s in skipped:
        print(f"asclab grade: skipped {s}", file=sys.stderr)
    if not students:
        raise FileNotFoundError(f"no student folders in {submissions_dir}: expected one folder per student, "
                                "each holding that student's notebooks (SUBMISSIONS/<student>/*.ipynb)")
    limit = cell_timeout if cell_timeout is not None else timeout
    if ref is None:
        print(f"asclab grade: no reference at {ref_where}: metrics are reported as 'no reference', not compared",
              file=sys.stderr)

    from tqdm.auto import tqdm

    outcomes: dict[str, dict[str, NotebookOutcome]] = {}
    errors: list[str] = []
    bar = tqdm(sorted(students), desc="grading", unit="student", disable=not progress)
    for student in bar:
        outcomes[student] = {}
        for path in students[student]:
            bar.set_postfix_str(f"{student}/{path.name}")
            try:
                o = grade_notebook(path, out_dir / student, profile, cell_timeout=limit, kernel=kernel)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # the grader's own failure: report it, grade the others
                o = NotebookOutcome(path.stem, "error", f"grader error: {type(e).__name__}",
                                    detail=str(e), path=path)
            if o.status == "error":
                errors.append(f"{student}/{path.name}: {o.text} ({o.detail})")
            outcomes[student][o.stem] = o
    bar.close()

    columns = build_columns(outcomes, ref)
    report = GradeReport(
        profile=profile, rows=build_rows(outcomes, columns), columns=columns, out_dir=out_dir,
        csv_path=out_dir / "grades.csv", md_path=out_dir / "grades.md", json_path=out_dir / "grades.json",
        reference=ref_where, reference_found=ref is not None, errors=errors, skipped=skipped,
    )
    write_report(report)
    print(f"graded {len(report.rows)} student(s): " + ", ".join(f"{r.student} {r.score}" for r in report.rows))
    print(f"grades table: {report.md_path}\ngrades csv:   {report.csv_path}")
    for e in errors:
        print(f"GRADER ERROR {e}", file=sys.stderr)
    return report


# --- building the reference ---------------------------------------------------------------------------
def build_reference(profile: str, seeds=(0, 1, 2), nb_dir: str | Path | None = None,
                    out: str | Path | None = None, tolerance: BandRule = BandRule(),
                    notebooks: list | None = None, runs_dir: str | Path | None = None,
                    cell_timeout: float | None = None, exclude=DEFAULT_EXCLUDE, progress: bool = True) -> dict:
    """Run the workbook's (solution) notebooks once per seed and write ``reference/<profile>.json``.

    Each seed is one :func:`asclab.workbook.run_notebooks` call with ``overrides={"SEED": seed}``; every
    numeric metric of every notebook (:func:`flatten_metrics`, minus ``exclude``) gets a band by
    ``tolerance`` (:class:`BandRule`), and the exercises each notebook checks are listed. A notebook that
    fails, or a solution that fails its own exercise check, is a RuntimeError: a reference comes from a
    clean run. Returns the reference dict.
    """
    from asclab import workbook

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("build_reference needs at least one seed (three or more give meaningful bands)")
    runs: dict[str, list[dict[str, float]]] = {}
    exercises: dict[str, list[str]] = {}
    runs_dir = Path(runs_dir) if runs_dir is not None else workbook.repo_root() / "runs" / "reference"
    for seed in seeds:
        with workbook.figures_to(runs_dir / f"figures-{profile}-seed{seed}"):   # keep the workbook's figures/
            summary = workbook.run_notebooks(profile=profile, overrides={"SEED": seed}, notebooks=notebooks,
                                             out_dir=runs_dir, nb_dir=nb_dir, progress=progress,
                                             cell_timeout=cell_timeout)
        if not summary.ok:
            failed = "; ".join(f"{r.name}: {r.failure_text()}" for r in summary.failures)
            raise RuntimeError(f"seed {seed}: notebooks failed ({failed}); a reference needs a clean run "
                               f"(see {summary.results_md})")
        for r in summary.results:
            metrics = r.metrics if isinstance(r.metrics, dict) else {}
            recorded = metrics.get("exercises") if isinstance(metrics.get("exercises"), dict) else {}
            failing = [name for name, v in recorded.items() if not (isinstance(v, dict) and v.get("passed"))]
            if failing:
                raise RuntimeError(f"seed {seed}: {r.name}'s own solution fails its exercise check(s) "
                                   f"{', '.join(failing)}: fix the notebook before building a reference")
            runs.setdefault(r.name, []).append(flatten_metrics(metrics))
            exercises[r.name] = sorted(set(exercises.get(r.name, [])) | set(recorded), key=_exercise_order)
    reference = {
        "profile": profile,
        "command": regenerate_command(profile, seeds, notebooks,
                                      [p for p in exclude if p not in DEFAULT_EXCLUDE]),
        "seeds": seeds,
        "created": datetime.now().isoformat(timespec="seconds"),
        "rule": tolerance.describe(),
        "tolerance": asdict(tolerance),
        "exclude": list(exclude),
        "metrics": {stem: bands_from_runs(per_seed, tolerance, exclude) for stem, per_seed in sorted(runs.items())},
        "exercises": {stem: names for stem, names in sorted(exercises.items()) if names},
    }
    write_json(Path(out) if out is not None else reference_path(profile), reference)
    return reference


def main(argv: list[str] | None = None) -> int:
    """``python -m asclab.grade --profile smoke --seeds 0 1 2``: build a reference file."""
    parser = argparse.ArgumentParser(prog="python -m asclab.grade",
                                     description="Build reference/<profile>.json: run the solution notebooks for "
                                                 "several seeds and write a band per metric.")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--notebooks", nargs="+", metavar="N", help="only these notebooks, e.g. 02 03")
    parser.add_argument("--notebook-dir", metavar="DIR", help="default: the repository's notebooks/")
    parser.add_argument("--out", metavar="FILE", help="default: reference/<profile>.json in the repository")
    parser.add_argument("--timeout", type=float, metavar="S", help="seconds one cell may run")
    parser.add_argument("--k", type=float, default=BandRule.k)
    parser.add_argument("--abs-floor", type=float, default=BandRule.abs_floor)
    parser.add_argument("--rel-floor", type=float, default=BandRule.rel_floor)
    parser.add_argument("--exclude", nargs="+", default=[], metavar="PATTERN",
                        help="metric paths (fnmatch patterns, e.g. '*within group') to leave unbanded, besides "
                             f"the defaults {', '.join(DEFAULT_EXCLUDE)}")
    args = parser.parse_args(argv)
    reference = build_reference(args.profile, args.seeds, nb_dir=args.notebook_dir, out=args.out,
                                tolerance=BandRule(args.k, args.abs_floor, args.rel_floor),
                                notebooks=args.notebooks, cell_timeout=args.timeout,
                                exclude=DEFAULT_EXCLUDE + tuple(args.exclude))
    n = sum(len(b) for b in reference["metrics"].values())
    print(f"{n} bands over {len(reference['metrics'])} notebook(s) -> "
          f"{args.out or reference_path(args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
