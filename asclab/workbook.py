"""The papermill runner: execute the notebooks headless, in order, and collect their numbers in one table.

``asclab run --profile demo`` calls :func:`run_notebooks`. Each notebook gets its parameters injected by
papermill (in a cell right after the one tagged ``parameters``): ``PROFILE``, ``OUT_DIR``,
``INTERACTIVE=False`` and whatever ``-p key=value`` overrides were given. A notebook that fails does not
stop the others; the summary names the failing cell and the exception. Every notebook's
``OUT_DIR/metrics.json`` ends up in ``<run dir>/results.json`` and ``<run dir>/results.md``.
"""
from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asclab.storage import atomic_write_text, write_json

# "01_features.ipynb", "07_quantization.ipynb": two digits, an underscore, a lower-case topic
NOTEBOOK_NAME = re.compile(r"^(\d{2})_([a-z0-9][a-z0-9_]*)\.ipynb$")

# parameters that the runner sets itself; an override of these would silently disagree with the run dir
_RUNNER_PARAMETERS = {"PROFILE": "--profile", "OUT_DIR": "--out"}


# --- finding notebooks -----------------------------------------------------------------------------------
def notebooks_dir() -> Path:
    """The workbook's ``notebooks/`` folder, beside the ``asclab`` package in the repository."""
    import asclab

    return Path(asclab.__file__).resolve().parent.parent / "notebooks"


def repo_root() -> Path:
    """The workbook's root folder (the one holding ``notebooks/`` and ``figures/``)."""
    return notebooks_dir().parent


# the one profile whose figures make the committed gallery in the repository's figures/
GALLERY_PROFILE = "demo"


def figures_dir(profile: str | None = None, out_dir: str | Path | None = None) -> Path:
    """Where a notebook saves its PNGs; a notebook calls ``workbook.figures_dir(PROFILE, OUT_DIR)``.

    1. ``$ASCLAB_FIGURES`` when it is set: grading and reference runs (:func:`figures_to`), the tests, and
       :func:`run_notebooks` for any profile but demo (``<run dir>/figures``).
    2. The demo profile: the repository's ``figures/``, the committed gallery of the demo run.
    3. Any other profile: ``<out_dir>/figures``, beside the notebook's own outputs (without ``out_dir``:
       ``runs/figures-<profile>`` under the working directory). A smoke or paper run never writes the gallery.

    ``profile=None`` (a notebook that does not pass its parameters) reads ``PROFILE`` and ``OUT_DIR`` from the
    kernel's namespace (``__main__``), where the parameters cell put them; with no ``PROFILE`` there either
    (a plain script), the caller gets the gallery.
    """
    if os.environ.get("ASCLAB_FIGURES"):
        return Path(os.environ["ASCLAB_FIGURES"])
    if profile is None:
        profile, out_dir = _notebook_parameters(out_dir)
    if profile is None or profile == GALLERY_PROFILE:
        return repo_root() / "figures"
    if out_dir is not None:
        return Path(out_dir) / "figures"
    return Path.cwd() / "runs" / f"figures-{profile}"


def _notebook_parameters(out_dir):
    """``(PROFILE, OUT_DIR)`` of the notebook whose kernel this is (None for what it does not define)."""
    import sys

    main = sys.modules.get("__main__")
    profile = getattr(main, "PROFILE", None)
    if out_dir is None:
        out_dir = getattr(main, "OUT_DIR", None)
    return (profile if isinstance(profile, str) else None,
            out_dir if isinstance(out_dir, (str, os.PathLike)) else None)


def collect_metrics(run_dir: str | Path) -> dict[str, dict]:
    """The ``metrics.json`` of every notebook folder in a run directory: ``{"03_dymn_finetuning": {...}}``.

    Notebook 06 builds the reproduction tables from these files instead of recomputing anything.
    """
    import json

    found = {}
    for path in sorted(Path(run_dir).glob("[0-9][0-9]_*/metrics.json")):
        try:
            found[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); re-run notebook {path.parent.name}") from e
    return found


def list_notebooks(nb_dir: str | Path | None = None) -> list[Path]:
    """The lesson notebooks in ``nb_dir`` (``NN_topic.ipynb``), in lesson order."""
    nb_dir = Path(nb_dir).resolve() if nb_dir is not None else notebooks_dir()
    if not nb_dir.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {nb_dir}: expected the workbook's notebooks/ directory")
    return sorted(p for p in nb_dir.iterdir() if p.is_file() and NOTEBOOK_NAME.match(p.name))


def select_notebooks(available: list[Path], wanted: list[str | Path] | None) -> list[Path]:
    """Pick notebooks by number (``"03"`` or ``3``), stem (``"03_dymn"``), file name or path; keep lesson order."""
    if not wanted:
        return list(available)
    chosen: list[Path] = []
    for w in wanted:
        key = str(w)
        if key.endswith(".ipynb") or "/" in key:
            key = Path(key).stem
        if key.isdigit():
            key = f"{int(key):02d}"
        hits = [p for p in available if p.stem == key or NOTEBOOK_NAME.match(p.name).group(1) == key]
        if not hits:
            names = ", ".join(p.stem for p in available) or "none"
            raise ValueError(f"no notebook matches {w!r}: expected a number such as 01 or one of: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return [p for p in available if p in chosen]


# --- parameters ---------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """A ``-p`` value as Python: ``3`` -> 3, ``0.5`` -> 0.5, ``true``/``True`` -> True, ``None``/``null`` -> None,
    ``[1, 2]`` -> a list; anything else stays the string it was (``demo``, ``/data/tau22``)."""
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
        raise ValueError(f"bad parameter {text!r}: expected key=value with a Python name as key, e.g. -p SEED=1")
    return key, parse_value(value)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Many ``key=value`` strings into one dict (a later key wins)."""
    return dict(parse_override(item) for item in items or [])


# --- results ------------------------------------------------------------------------------------------
@dataclass
class NotebookResult:
    name: str                          # the notebook's stem, e.g. "01_features"
    input: Path                        # the notebook that was run
    output: Path                       # the executed copy, with outputs
    out_dir: Path                      # the notebook's OUT_DIR
    status: str = "pending"            # "ok" or "failed"
    seconds: float = 0.0
    metrics: dict | None = None        # OUT_DIR/metrics.json, if the notebook wrote one
    failure: dict | None = None        # where and why it failed (see _failure_from_exception)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def failure_text(self) -> str:
        """One line: ``cell 3 (In [2]): ZeroDivisionError: division by zero``."""
        if not self.failure:
            return ""
        f = self.failure
        where = []
        if f.get("cell_number") is not None:
            where.append(f"cell {f['cell_number']}")
        if f.get("exec_count") is not None:
            where.append(f"(In [{f['exec_count']}])")
        head = " ".join(where)
        what = f"{f.get('ename', 'Error')}: {f.get('evalue', '')}".rstrip(": ")
        return f"{head}: {what}" if head else what

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "input": str(self.input),
            "output": str(self.output),
            "out_dir": str(self.out_dir),
            "metrics": self.metrics,
            "failure": self.failure,
            "notes": self.notes,
        }


@dataclass
class RunSummary:
    profile: str
    run_dir: Path
    results: list[NotebookResult]
    parameters: dict
    started: str
    cwd: Path
    figures: Path | None = None        # where the notebooks' figures went (see ``run_figures_dir``)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[NotebookResult]:
        return [r for r in self.results if not r.ok]

    @property
    def results_json(self) -> Path:
        return self.run_dir / "results.json"

    @property
    def results_md(self) -> Path:
        return self.run_dir / "results.md"

    @property
    def figures_dir(self) -> Path:
        return self.figures if self.figures is not None else run_figures_dir(self.profile, self.run_dir)

    def __getitem__(self, name: str) -> NotebookResult:
        for r in self.results:
            if r.name == name or r.name.split("_", 1)[0] == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict:
        return {
            "profile": self.profile,
            "started": self.started,
            "run_dir": str(self.run_dir),
            "parameters": self.parameters,
            "ok": self.ok,
            "notebooks": {r.name: r.to_json() for r in self.results},
        }


def headline_metrics(metrics: dict | None) -> dict[str, float]:
    """The top-level numbers of a metrics dict (nested tables and booleans are left to results.json)."""
    if not isinstance(metrics, dict):
        return {}
    return {
        k: v for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _format_number(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    return f"{v:.4g}"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_table(summary: RunSummary) -> str:
    """The run as a markdown table: notebook, status, seconds, headline metrics, failure cell."""
    lines = [
        f"# asclab run: profile `{summary.profile}`, started {summary.started}",
        "",
        "| notebook | status | seconds | metrics | failure |",
        "|---|---|---:|---|---|",
    ]
    for r in summary.results:
        numbers = ", ".join(f"{k}={_format_number(v)}" for k, v in headline_metrics(r.metrics).items())
        if r.ok and r.metrics is None:
            numbers = "(no metrics.json)"
        lines.append(
            f"| {_md_cell(r.name)} | {r.status} | {r.seconds:.1f} | {_md_cell(numbers)} "
            f"| {_md_cell(r.failure_text())} |"
        )
    n_failed = len(summary.failures)
    lines += ["", f"{len(summary.results) - n_failed} ok, {n_failed} failed."]
    return "\n".join(lines) + "\n"


def write_results(summary: RunSummary) -> None:
    write_json(summary.results_json, summary.to_json())
    atomic_write_text(summary.results_md, results_table(summary))


# --- failures -----------------------------------------------------------------------------------------
def _shift_for_injected_cell(input_path: Path, cell_index: int | None) -> int | None:
    """Papermill's cell index counts the injected-parameters cell; the student's notebook does not have it."""
    if cell_index is None:
        return None
    try:
        import nbformat

        nb = nbformat.read(str(input_path), as_version=4)
    except Exception:
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
    try:
        import nbformat

        nb = nbformat.read(str(output_path), as_version=4)
    except Exception:
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


def _short(text: Any, limit: int = 500) -> str:
    text = str(text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failure_from_exception(exc: BaseException, input_path: Path, output_path: Path) -> dict:
    from papermill.exceptions import PapermillExecutionError

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
        "evalue": _short(evalue),
        "cell_index": cell_index,                 # 0-based, in the executed notebook (with the injected cell)
        "exec_count": exec_count,                 # the "In [n]" of the failing cell
        "cell_number": None if source_index is None else source_index + 1,  # 1-based, in the input notebook
    }
    if source:
        failure["source"] = _short(source, 300)
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
    import papermill

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
    caller wins over both (see :func:`figures_dir`).
    """
    from asclab.profiles import get as get_profile

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
    with headless_threads(), _run_figures(profile, run_dir):
        for i, nb_path in enumerate(selected, 1):
            print(f"[{i}/{len(selected)}] {nb_path.name}", flush=True)
            parameters = {**shared, "OUT_DIR": str(run_dir / nb_path.stem)}
            result = run_notebook(
                nb_path, run_dir / nb_path.name, parameters,
                kernel=kernel, progress=progress, cell_timeout=cell_timeout, cwd=cwd,
            )
            summary.results.append(result)
            line = f"[{i}/{len(selected)}] {nb_path.stem}: {result.status} in {result.seconds:.1f} s"
            if not result.ok:
                line += f": {result.failure_text()}"
            print(line, flush=True)
            write_results(summary)  # after every notebook, so an interrupted run keeps what it finished
    _print_where(summary)
    return summary


@contextlib.contextmanager
def _environ(name: str, value: str):
    """Set the environment variable ``name`` inside the ``with`` (the kernels inherit it), then restore it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def headless_threads():
    """Let the kernels use every core (``ASCLAB_THREADS``) unless the caller chose a number.

    Interactive notebooks use one thread on a 2-core laptop (``asclab.experiment.configure_threads``): the
    browser and Jupyter share the cores, and two torch threads slow down 3-10x when a core is busy. A
    headless run has the machine to itself: two threads train CP-Mobile about 1.9x faster there.
    """
    if os.environ.get("ASCLAB_THREADS"):
        return contextlib.nullcontext()
    return _environ("ASCLAB_THREADS", str(os.cpu_count() or 1))


def run_figures_dir(profile: str, run_dir: str | Path) -> Path:
    """Where a run's figures go: ``$ASCLAB_FIGURES`` if set, the gallery for demo, else ``<run dir>/figures``.
    """
    if os.environ.get("ASCLAB_FIGURES"):
        return Path(os.environ["ASCLAB_FIGURES"])
    return figures_dir(GALLERY_PROFILE) if profile == GALLERY_PROFILE else Path(run_dir) / "figures"


def _run_figures(profile: str, run_dir: Path):
    """Inside a run of any profile but demo, send the kernels' figures to ``<run dir>/figures``.

    The notebooks would put them beside their own ``OUT_DIR`` anyway; this keeps one folder per run, and
    keeps the gallery safe from a notebook that does not pass its profile to :func:`figures_dir`.
    """
    if os.environ.get("ASCLAB_FIGURES") or profile == GALLERY_PROFILE:
        return contextlib.nullcontext()
    return figures_to(Path(run_dir) / "figures")


@contextlib.contextmanager
def figures_to(path):
    """Send the notebooks' figures to ``path`` (``ASCLAB_FIGURES``) inside the ``with``, then restore.

    Grading and reference runs use it so that students' and reference runs never overwrite the workbook's
    own ``figures/``.
    """
    with _environ("ASCLAB_FIGURES", str(path)):
        yield Path(path)


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
