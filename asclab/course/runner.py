"""The papermill runner: execute the notebooks headless, in order, and collect their numbers in one table.

``asclab run --profile demo`` calls :func:`run_notebooks`. Each notebook gets its parameters injected by
papermill (in a cell right after the one tagged ``parameters``): ``PROFILE``, ``OUT_DIR``,
``INTERACTIVE=False`` and whatever ``-p key=value`` overrides were given. A notebook that fails does not
stop the others; the summary names the failing cell and the exception. Every notebook's
``OUT_DIR/metrics.json`` ends up in ``<run dir>/results.json`` and ``<run dir>/results.md``
(:mod:`asclab.course.results`).
"""
from __future__ import annotations

import ast
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import papermill
from papermill.exceptions import PapermillExecutionError

from asclab.course.environment import headless_threads
from asclab.course.figures import run_figures, run_figures_dir
from asclab.course.notebooks import list_notebooks, notebooks_dir, read_notebook, select_notebooks
from asclab.course.results import NotebookResult, RunSummary, results_table, write_results
from asclab.course.text import shorten
from asclab.profiles import get as get_profile

# parameters that the runner sets itself; an override of these would silently disagree with the run dir
_RUNNER_PARAMETERS = {"PROFILE": "--profile", "OUT_DIR": "--out"}


# --- parameters ---------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """A ``-p`` value as Python: ``3`` -> 3, ``0.5`` -> 0.5, ``true``/``True`` -> True, ``None``/``null`` ->
    None, ``[1, 2]`` -> a list; anything else stays the string it was (``demo``, ``/data/tau22``)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return text


def parse_override(text: str) -> tuple[str, Any]:
    """``"EPOCHS=2"`` -> ``("EPOCHS", 2)``."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"bad parameter {text!r}: expected key=value with a Python name as key, "
                         "e.g. -p SEED=1")
    return key, parse_value(value)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Many ``key=value`` strings into one dict (a later key wins)."""
    return dict(parse_override(item) for item in items or [])


# --- failures -----------------------------------------------------------------------------------------
def _shift_for_injected_cell(input_path: Path, cell_index: int | None) -> int | None:
    """Papermill's cell index counts the injected-parameters cell; the student's notebook does not have it."""
    if cell_index is None:
        return None
    nb = read_notebook(input_path)
    if nb is None:
        return cell_index
    tags = [set(c.get("metadata", {}).get("tags", [])) for c in nb.cells]
    if any("injected-parameters" in t for t in tags):
        return cell_index  # papermill replaced an existing injected cell: indices line up
    param = next((i for i, t in enumerate(tags) if "parameters" in t), -1)
    injected_at = param + 1  # after the parameters cell, or at the top when there is none
    if cell_index == injected_at:
        return None  # the failure is in the injected cell itself
    return cell_index - 1 if cell_index > injected_at else cell_index


def _last_started_cell(output_path: Path) -> tuple[int | None, int | None]:
    """For timeouts and dead kernels: the index and execution count of the last cell papermill started."""
    nb = read_notebook(output_path)
    if nb is None:
        return None, None
    # the error banner papermill may have inserted at the top is not a cell of the executed notebook
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    last = None
    for i, cell in enumerate(cells):
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            last = i
    if last is None:
        return None, None
    return last, cells[last].get("execution_count")


def _failure_from_exception(exc: BaseException, input_path: Path, output_path: Path) -> dict:
    if isinstance(exc, PapermillExecutionError):
        cell_index, exec_count = exc.cell_index, exc.exec_count
        ename, evalue = exc.ename, exc.evalue
        source = exc.source
    else:
        # the kernel died, a cell ran past its timeout, or the file is not a notebook at all
        cell_index, exec_count = _last_started_cell(output_path)
        ename, evalue = type(exc).__name__, exc
        source = None
    source_index = _shift_for_injected_cell(input_path, cell_index)
    failure = {
        "ename": ename,
        "evalue": shorten(evalue, 500),
        "cell_index": cell_index,                 # 0-based, in the executed notebook (with the injected cell)
        "exec_count": exec_count,                 # the "In [n]" of the failing cell
        "cell_number": None if source_index is None else source_index + 1,  # 1-based, in the input notebook
    }
    if source:
        failure["source"] = shorten(source, 300)
    return failure


# --- running ------------------------------------------------------------------------------------------
def _new_run_dir(base: Path, profile: str) -> Path:
    """``base/<profile>-<YYYYmmdd-HHMMSS>``; a second run in the same second gets ``-2``, ``-3``, ..."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        run_dir = base / (f"{profile}-{stamp}" if n == 1 else f"{profile}-{stamp}-{n}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a new run folder under {base}")


def _read_metrics(out_dir: Path, result: NotebookResult) -> None:
    path = out_dir / "metrics.json"
    if not path.is_file():
        if result.ok:
            result.notes.append(f"no metrics.json in {out_dir}")
        return
    try:
        result.metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        result.notes.append(f"metrics.json could not be read: {e}")


def run_notebook(
    input_path: Path,
    output_path: Path,
    parameters: dict,
    kernel: str = "python3",
    progress: bool = True,
    cell_timeout: float | None = None,
    cwd: Path | None = None,
) -> NotebookResult:
    """Execute one notebook; never raises for a failure inside it (see ``NotebookResult.failure``)."""
    out_dir = Path(parameters["OUT_DIR"])
    result = NotebookResult(name=input_path.stem, input=input_path, output=output_path, out_dir=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(input_path),
            str(output_path),
            parameters=parameters,
            kernel_name=kernel,
            language="python",  # a notebook saved without kernelspec metadata still runs
            progress_bar=progress,
            cwd=str(cwd) if cwd is not None else None,
            execution_timeout=cell_timeout,
            # quiet the kernel's own start-up log (e.g. ipykernel's warning about local TCP sockets);
            # errors in cells still reach the executed notebook and the summary
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        result.status = "ok"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one broken notebook must not stop the workbook
        result.status = "failed"
        result.failure = _failure_from_exception(exc, input_path, output_path)
    result.seconds = time.perf_counter() - start
    _read_metrics(out_dir, result)
    return result


def run_notebooks(
    profile: str = "demo",
    overrides: dict | None = None,
    notebooks: list | None = None,
    out_dir: str | Path | None = None,
    nb_dir: str | Path | None = None,
    kernel: str = "python3",
    progress: bool = True,
    cell_timeout: float | None = None,
    cwd: str | Path | None = None,
) -> RunSummary:
    """Run the workbook's notebooks in order with papermill and collect their metrics.

    profile       smoke | demo | paper, injected as ``PROFILE``
    overrides     extra parameters (``asclab run -p SEED=1``), injected as they are
    notebooks     a subset by number or stem (``["01", "03"]``); default: all
    out_dir       where run folders go (default ``runs/``); this run writes ``<out_dir>/<profile>-<stamp>/``
    nb_dir        where the notebooks are (default: the repository's ``notebooks/``)
    cell_timeout  seconds one cell may run (default: no limit)
    cwd           the notebooks' working directory (default: the folder above ``nb_dir``, the repository root)

    Figures: a demo run writes the repository's ``figures/`` (the committed gallery); a run of any other
    profile writes ``<run dir>/figures`` (``$ASCLAB_FIGURES`` for the kernels); ``$ASCLAB_FIGURES`` set by the
    caller wins over both (see :func:`asclab.course.figures.figures_dir`).
    """
    get_profile(profile)  # an unknown profile is an error before any kernel starts
    overrides = dict(overrides or {})
    for key, flag in _RUNNER_PARAMETERS.items():
        if key in overrides:
            raise ValueError(f"-p {key}=... is set by the runner: use {flag} instead")
    nb_dir = Path(nb_dir) if nb_dir is not None else notebooks_dir()
    selected = select_notebooks(list_notebooks(nb_dir), notebooks)
    if not selected:
        raise FileNotFoundError(f"no NN_topic.ipynb notebooks in {nb_dir}")
    cwd = Path(cwd).resolve() if cwd is not None else nb_dir.resolve().parent
    run_dir = _new_run_dir(Path(out_dir if out_dir is not None else "runs").resolve(), profile)
    shared = {"PROFILE": profile, "INTERACTIVE": False, **overrides}
    summary = RunSummary(
        profile=profile, run_dir=run_dir, results=[], parameters=shared,
        started=datetime.now().isoformat(timespec="seconds"), cwd=cwd,
        figures=run_figures_dir(profile, run_dir),
    )
    print(f"asclab run: profile {profile}, {len(selected)} notebook(s), output in {run_dir}", flush=True)
    with headless_threads(), run_figures(profile, run_dir):
        _run_in_order(summary, selected, kernel=kernel, progress=progress, cell_timeout=cell_timeout)
    _print_where(summary)
    return summary


def _run_in_order(summary: RunSummary, selected: list[Path], **options) -> None:
    """Run each notebook into the summary's run folder, writing the results after every one of them."""
    for i, nb_path in enumerate(selected, 1):
        print(f"[{i}/{len(selected)}] {nb_path.name}", flush=True)
        parameters = {**summary.parameters, "OUT_DIR": str(summary.run_dir / nb_path.stem)}
        result = run_notebook(nb_path, summary.run_dir / nb_path.name, parameters, cwd=summary.cwd, **options)
        summary.results.append(result)
        line = f"[{i}/{len(selected)}] {nb_path.stem}: {result.status} in {result.seconds:.1f} s"
        if not result.ok:
            line += f": {result.failure_text()}"
        print(line, flush=True)
        write_results(summary)  # after every notebook, so an interrupted run keeps what it finished


def _print_where(summary: RunSummary) -> None:
    print()
    print(results_table(summary).split("\n", 2)[2].rstrip())
    print()
    print(f"executed notebooks: {summary.run_dir}")
    figures = summary.figures_dir
    print(f"figures:            {figures}" + ("" if figures.is_dir() else " (none written)"))
    print(f"results table:      {summary.results_md}")
    print(f"all metrics:        {summary.results_json}")
    for r in summary.failures:
        where = f"  (open {r.output})" if r.output.is_file() else ""
        print(f"FAILED {r.name}: {r.failure_text()}{where}")
