"""Grade student submissions: run each submitted notebook headless, read its exercise verdicts, compare its
numbers with reference bands, and write one table with a row per student.

``asclab grade SUBMISSIONS --profile smoke`` calls :func:`grade`. Which files are graded, and as which
student's which lesson, is :mod:`asclab.course.submissions`; the bands are :mod:`asclab.course.reference`;
the table's columns and cells are :mod:`asclab.course.table`; its files are :mod:`asclab.course.reports`.

What happens to each notebook
-----------------------------
It is executed with papermill through :func:`asclab.course.runner.run_notebook` with the parameters
``PROFILE``, ``INTERACTIVE=False`` and ``OUT_DIR=<out_dir>/<student>/<notebook>/``; the executed copy and its
``metrics.json`` land in that folder, which is also the kernel's working directory. Every cell may run
``cell_timeout`` seconds (default: ``timeout``). Grading runs the students' code with your permissions: it
is not a sandbox.

Exercise verdicts and partial credit: the checks' verdicts reach ``exercises.jsonl`` in that folder as they
run (:mod:`asclab.course.outcomes`), so a notebook that crashes or times out after its exercises keeps
them. Its status column still says ``crashed`` or ``timeout``. Its metrics count only if its
``metrics.json`` was written before it stopped; a metric never produced fails.

In parallel
-----------
Every notebook is independent of every other, so :func:`grade` can run them at once: ``jobs=N`` on N local
processes (``concurrent.futures.ProcessPoolExecutor``), ``cluster=`` on a Dask distributed cluster, one task
per notebook (through ``Client.get_executor``, the same ``concurrent.futures`` interface). The table is built
from the outcomes in the students' order, whichever finished first, and every kernel runs with
``ASCLAB_THREADS=1`` unless the caller set it, so the grades do not depend on how many ran at once. A
notebook that crashes or hangs stops at its cell timeout in its own process; a grader that dies (a killed
worker) costs its notebook only, reported in that row. Each process grades one notebook at a time: the
kernel inherits the process's environment and working directory, which are set per notebook.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from tqdm.auto import tqdm

from asclab.course.checks import EXERCISE_LOG_ENV
from asclab.course.environment import environ
from asclab.course.figures import figures_to
from asclab.course.outcomes import (
    EXERCISE_LOG,
    STATUS_TEXT,
    NotebookOutcome,
    outcome_from_result,
    read_exercise_log,
    verdicts_from_notebook,
)
from asclab.course.reference import load_reference
from asclab.course.reports import GradeReport, write_report
from asclab.course.runner import run_notebook
from asclab.course.submissions import Submissions, find_submissions, known_notebooks, layouts_help
from asclab.course.table import Outcomes, build_columns, build_rows
from asclab.profiles import get as get_profile
from asclab.scale import dask_client


def _invalid_reason(path: Path) -> str | None:
    """Why a file is not a notebook papermill can run (None when it is one)."""
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as e:
        return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    return None


def grade_notebook(path: Path, out_dir: Path, profile: str, cell_timeout: float | None = None,
                   kernel: str = "python3", stem: str | None = None) -> NotebookOutcome:
    """Run one submitted notebook into ``out_dir/<stem>/`` and say what became of it (never raises for the
    notebook's own failures). ``stem`` is the notebook it is (default: the file's stem)."""
    path = Path(path)
    stem = stem or path.stem
    reason = _invalid_reason(path)
    if reason is not None:
        return NotebookOutcome(stem, "invalid", STATUS_TEXT["invalid"], detail=reason, path=path)
    folder = Path(out_dir) / stem
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / EXERCISE_LOG
    for earlier in (folder / "metrics.json", log):   # an earlier grading's files must not count
        earlier.unlink(missing_ok=True)
    parameters = {"PROFILE": profile, "INTERACTIVE": False, "OUT_DIR": str(folder)}
    # figures go to the student's folder, never into the workbook's figures/; verdicts go to the log
    with figures_to(folder / "figures"), environ(EXERCISE_LOG_ENV, str(log)):
        result = run_notebook(path, folder / f"{stem}.ipynb", parameters, kernel=kernel, progress=False,
                              cell_timeout=cell_timeout, cwd=folder)
    outcome = outcome_from_result(result)
    outcome.stem = stem
    outcome.verdicts = read_exercise_log(log) if log.is_file() else verdicts_from_notebook(result.output)
    return outcome


def grade(submissions_dir: str | Path, profile: str = "smoke", timeout: float | None = 600,
          out_dir: str | Path | None = None, cell_timeout: float | None = None, reference: Any = None,
          kernel: str = "python3", progress: bool = True, layout: str = "auto", jobs: int | None = 1,
          cluster: Any = None) -> GradeReport:
    """Grade every submission in ``submissions_dir``; write grades.csv, .md, .json and .html.

    profile       injected as ``PROFILE``; also picks ``reference/<profile>.json``
    timeout       seconds one cell may run (the CLI's ``--timeout``); None: no limit
    out_dir       where executed notebooks and the tables go (default ``runs/grade-<profile>-<time>/``)
    cell_timeout  overrides ``timeout`` when given
    reference     None (the profile's reference file), a path to one, or the reference dict itself
    layout        ``auto``, ``folders`` or ``flat`` (see :mod:`asclab.course.submissions`)
    jobs          notebooks run at once in local processes (1: one after the other, here; None: one per core)
    cluster       a Dask scheduler address (``tcp://host:8786``), a ``distributed.Client`` or a
                  ``LocalCluster``: every notebook is one task there (``jobs`` is then ignored). Its workers
                  need asclab installed and ``out_dir`` and the submissions on a shared file system.
    """
    get_profile(profile)  # an unknown profile is an error before any kernel starts
    jobs = _check_jobs(jobs)
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions_dir}: the layouts understood are "
                                f"{layouts_help()}")
    ref, ref_where = load_reference(reference, profile)
    if out_dir is None:
        out_dir = Path("runs") / f"grade-{profile}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out_dir = Path(out_dir).resolve()
    found = find_submissions(submissions_dir, layout, skip=out_dir, known=known_notebooks(ref))
    _warn_before_grading(found, ref, ref_where)
    limit = cell_timeout if cell_timeout is not None else timeout
    outcomes, errors = _grade_all(found, out_dir, profile, limit, kernel, progress, jobs, cluster)
    columns = build_columns(outcomes, ref)
    report = GradeReport(
        profile=profile, rows=build_rows(outcomes, columns, found.notes), columns=columns, out_dir=out_dir,
        csv_path=out_dir / "grades.csv", md_path=out_dir / "grades.md", json_path=out_dir / "grades.json",
        reference=ref_where, reference_found=ref is not None, errors=errors, skipped=found.skipped,
        layout=found.layout, html_path=out_dir / "grades.html", chart_path=out_dir / "grades_pass_rate.png",
    )
    write_report(report)
    _print_summary(report)
    return report


def _warn_before_grading(found: Submissions, ref: dict | None, ref_where: str) -> None:
    """On stderr: the files that will not be graded, and a missing reference."""
    for s in found.skipped:
        print(f"asclab grade: skipped {s}", file=sys.stderr)
    for student, notes in found.notes.items():
        for note in notes:
            print(f"asclab grade: {student}: {note}", file=sys.stderr)
    if ref is None:
        print(f"asclab grade: no reference at {ref_where}: metrics are reported as 'no reference', "
              "not compared", file=sys.stderr)


def _check_jobs(jobs: int | None) -> int:
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1 (notebooks run at once), got {jobs!r}")
    return jobs


# one notebook at a time per process: the kernel inherits this process's environment and working directory
_ONE_NOTEBOOK_PER_PROCESS = threading.Lock()


def grade_task(path: Path, out_dir: Path, profile: str, cell_timeout: float | None, kernel: str, stem: str,
               threads: str) -> NotebookOutcome:
    """:func:`grade_notebook` as one task of a pool or a Dask cluster, with ``threads`` torch threads for
    the kernel (the same in every mode, so that the grades do not depend on the mode)."""
    with _ONE_NOTEBOOK_PER_PROCESS, environ("ASCLAB_THREADS", threads):
        return grade_notebook(path, out_dir, profile, cell_timeout=cell_timeout, kernel=kernel, stem=stem)


Task = tuple[str, str, Path]       # (student, notebook stem, submitted file)


def _tasks(found: Submissions) -> list[Task]:
    return [(student, stem, path) for student in sorted(found.notebooks)
            for stem, path in sorted(found.notebooks[student].items())]


@contextlib.contextmanager
def _engine(jobs: int, cluster: Any) -> Iterator[concurrent.futures.Executor | None]:
    """The engine: a Dask cluster's executor, N local processes, or None (here, one after the other)."""
    if cluster is not None:
        with dask_client(cluster) as client:
            executor = client.get_executor(pure=False)
            try:
                yield executor
            finally:
                executor.shutdown(wait=False)
        return
    if jobs == 1:
        yield None
        return
    # spawn: a fresh interpreter per worker, never a fork of a process that runs threads (tqdm, Dask)
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _run(tasks: list[Task], executor, arguments: tuple) -> Iterator[tuple[Task, Any]]:
    """``(task, outcome or the exception that stopped its grader)`` for every task, as they finish."""
    out_dir, profile, cell_timeout, kernel, threads = arguments
    if executor is None:
        for task in tasks:
            student, stem, path = task
            try:
                yield task, grade_task(path, out_dir / student, profile, cell_timeout, kernel, stem, threads)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # the grader's own failure: report it, grade the others
                yield task, e
        return
    futures = {executor.submit(grade_task, path, out_dir / student, profile, cell_timeout, kernel, stem,
                               threads): (student, stem, path) for student, stem, path in tasks}
    try:
        for future in concurrent.futures.as_completed(futures):
            error = future.exception()
            yield futures[future], error if error is not None else future.result()
    finally:
        for future in futures:
            future.cancel()


def _grade_all(found: Submissions, out_dir: Path, profile: str, cell_timeout: float | None, kernel: str,
               progress: bool, jobs: int = 1, cluster: Any = None) -> tuple[Outcomes, list[str]]:
    """Every student's notebooks, one after the other or at once: ``(outcomes, the grader's own errors)``."""
    tasks = _tasks(found)
    outcomes: Outcomes = {student: {} for student in sorted(found.notebooks)}
    arguments = (out_dir, profile, cell_timeout, kernel, os.environ.get("ASCLAB_THREADS") or "1")
    with _engine(jobs, cluster) as executor, \
            tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress) as bar:
        for (student, stem, path), o in _run(tasks, executor, arguments):
            if isinstance(o, BaseException):
                o = NotebookOutcome(stem, "error", f"grader error: {type(o).__name__}", detail=str(o),
                                    path=path)
            o.identified = found.identified.get((student, stem), "")
            outcomes[student][stem] = o
            bar.update(1)
            bar.set_postfix_str(f"{student}: {path.name}")
    errors = [f"{student}: {path.name}: {o.text} ({o.detail})" for student, stem, path in tasks
              if (o := outcomes[student][stem]).status == "error"]
    return outcomes, errors


def _print_summary(report: GradeReport) -> None:
    print(f"graded {len(report.rows)} student(s) ({report.layout} layout): "
          + ", ".join(f"{r.student} {r.score}" for r in report.rows))
    print(f"grades table: {report.md_path}\ngrades csv:   {report.csv_path}\n"
          f"grades html:  {report.html_path}")
    for e in report.errors:
        print(f"GRADER ERROR {e}", file=sys.stderr)
