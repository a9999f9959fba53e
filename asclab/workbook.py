"""The notebooks' name for the runner's helpers: ``workbook.figures_dir(PROFILE, OUT_DIR)`` and
``workbook.collect_metrics(run_dir)``.

The runner lives in :mod:`asclab.course`: finding the notebooks (``notebooks``), where figures go
(``figures``), the kernels' environment (``environment``), a run's results (``results``) and the papermill
runner itself (``runner``). This module re-exports their public names so that the lessons and scripts
written against ``asclab.workbook`` keep working.
"""
from asclab.course.environment import headless_threads
from asclab.course.figures import GALLERY_PROFILE, figures_dir, figures_to, run_figures_dir
from asclab.course.notebooks import NOTEBOOK_NAME, list_notebooks, notebooks_dir, repo_root, select_notebooks
from asclab.course.results import (
    NotebookResult,
    RunSummary,
    collect_metrics,
    headline_metrics,
    results_table,
    write_results,
)
from asclab.course.runner import parse_override, parse_overrides, parse_value, run_notebook, run_notebooks

__all__ = [
    "GALLERY_PROFILE", "NOTEBOOK_NAME", "NotebookResult", "RunSummary", "collect_metrics", "figures_dir",
    "figures_to", "headless_threads", "headline_metrics", "list_notebooks", "notebooks_dir", "parse_override",
    "parse_overrides", "parse_value", "repo_root", "results_table", "run_figures_dir", "run_notebook",
    "run_notebooks", "select_notebooks", "write_results",
]
