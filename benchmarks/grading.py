"""Grading throughput: submitted notebooks graded per minute by ``asclab grade``, one at a time and with
``--jobs N``.

    python benchmarks/grading.py                       # 4 students hand in notebook 02; 1 job, then 2 jobs
    python benchmarks/grading.py --students 6 --jobs 1 2 --notebook 01

The class is ``--students`` copies of one solution notebook of the workbook (a flat folder,
``student<k>_<notebook>.ipynb``), graded in the smoke profile against ``reference/smoke.json``. A first,
untimed grading of one copy makes the smoke dataset and its cached log-mels, so that every timed run finds
them. Each row is one ``asclab.course.grading.grade`` call: its wall time, notebooks per minute and the
speed-up over the first row. Every kernel runs one torch thread (``ASCLAB_THREADS=1``, grading's default),
so the grades do not depend on the number of jobs: the last column says whether the table (grades.csv) is
the one of the first row.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

from asclab.course.grading import grade
from asclab.course.notebooks import list_notebooks, notebooks_dir, select_notebooks


def make_class(folder: Path, notebook: Path, students: int) -> Path:
    """``students`` copies of ``notebook`` in a flat folder, as a learning platform exports them."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(1, students + 1):
        shutil.copy(notebook, folder / f"student{k}_{notebook.name}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4, help="submitted notebooks (default 4)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="job counts to time (default 1 2)")
    parser.add_argument("--notebook", default="02", help="which lesson they hand in (default 02)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one cell may run")
    args = parser.parse_args()
    os.environ.setdefault("ASCLAB_PROGRESS", "0")
    notebook = select_notebooks(list_notebooks(notebooks_dir()), [args.notebook])[0]
    work = Path(tempfile.mkdtemp(prefix="asclab-bench-grading-"))
    print(f"grading {args.students} copies of {notebook.name} (smoke profile) on {os.cpu_count()} core(s)")
    with contextlib.redirect_stdout(io.StringIO()):     # grade's own summary lines
        grade(make_class(work / "warm-up", notebook, 1), out_dir=work / "warm-up-grades", jobs=1,
              timeout=args.timeout, progress=False)
    subs = make_class(work / "class", notebook, args.students)
    rows, first = [], None
    for jobs in args.jobs:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            report = grade(subs, out_dir=work / f"jobs{jobs}", jobs=jobs, timeout=args.timeout,
                           progress=False)
        seconds = time.perf_counter() - start
        table = report.csv_path.read_text()
        first = first or (seconds, table)
        rows.append((jobs, args.students, seconds, 60 * args.students / seconds, first[0] / seconds,
                     "yes" if table == first[1] else "NO"))
    print()
    print("| jobs | notebooks | wall time (s) | notebooks per minute | speed-up | same grades |")
    print("|---:|---:|---:|---:|---:|---|")
    for jobs, n, seconds, per_minute, speedup, same in rows:
        print(f"| {jobs} | {n} | {seconds:.1f} | {per_minute:.2f} | {speedup:.2f}x | {same} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
