"""A run's results: what became of each notebook, the run's ``results.json`` and ``results.md``, and the
``metrics.json`` files a run folder holds."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from asclab.course.figures import run_figures_dir
from asclab.course.text import md_cell
from asclab.storage import atomic_write_text, write_json


@dataclass
class NotebookResult:
    name: str                          # the notebook's stem, e.g. "01_features"
    input: Path                        # the notebook that was run
    output: Path                       # the executed copy, with outputs
    out_dir: Path                      # the notebook's OUT_DIR
    status: str = "pending"            # "ok" or "failed"
    seconds: float = 0.0
    metrics: dict | None = None        # OUT_DIR/metrics.json, if the notebook wrote one
    failure: dict | None = None        # where and why it failed (see asclab.course.runner)
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
            f"| {md_cell(r.name)} | {r.status} | {r.seconds:.1f} | {md_cell(numbers)} "
            f"| {md_cell(r.failure_text())} |"
        )
    n_failed = len(summary.failures)
    lines += ["", f"{len(summary.results) - n_failed} ok, {n_failed} failed."]
    return "\n".join(lines) + "\n"


def write_results(summary: RunSummary) -> None:
    write_json(summary.results_json, summary.to_json())
    atomic_write_text(summary.results_md, results_table(summary))


def collect_metrics(run_dir: str | Path) -> dict[str, dict]:
    """The ``metrics.json`` of every notebook folder in a run directory: ``{"03_dymn_finetuning": {...}}``.

    Notebook 06 builds the reproduction tables from these files instead of recomputing anything.
    """
    found = {}
    for path in sorted(Path(run_dir).glob("[0-9][0-9]_*/metrics.json")):
        try:
            found[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); re-run notebook {path.parent.name}") from e
    return found
