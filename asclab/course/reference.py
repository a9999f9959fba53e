"""The reference file the grader compares students' numbers with: ``reference/<profile>.json`` at the
repository root, its shape, reading it, and building it from runs of the solution notebooks.

::

    {
      "profile": "smoke",
      "command": "asclab grade-reference --profile smoke --seeds 0 1 2",   # how to regenerate this file
      "seeds": [0, 1, 2],
      "rule": "...the band rule in words...",
      "tolerance": {"k": 3.0, "abs_floor": 0.01, "rel_floor": 0.02},
      "metrics": {"03_dymn_finetuning": {"macro_acc": {"low": 0.21, "high": 0.43, "mean": 0.32,
                                                        "std": 0.03, "n": 3}}},
      "exercises": {"02_augmentations": ["mixup", "fmix_threshold"]}
    }

Only ``metrics`` (with ``low`` and ``high`` per band) is required; ``exercises`` is optional. Metric paths
are the dotted paths of :func:`asclab.course.bands.flatten_metrics` (``per_device.s4``). A band may be
edited or deleted by hand: the grader compares exactly the bands it finds. :func:`build_reference`
(``asclab grade-reference``) writes the file by running the solution notebooks for several seeds; the rule
is :class:`asclab.course.bands.BandRule`.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from asclab.course.bands import DEFAULT_EXCLUDE, DEFAULT_RULE, BandRule, bands_from_runs, flatten_metrics
from asclab.course.exercises import exercise_order
from asclab.course.figures import figures_to
from asclab.course.notebooks import repo_root
from asclab.course.results import RunSummary
from asclab.course.runner import run_notebooks
from asclab.storage import read_json, write_json


def reference_path(profile: str) -> Path:
    """``<repository>/reference/<profile>.json``."""
    return repo_root() / "reference" / f"{profile}.json"


def regenerate_command(profile: str, seeds, notebooks=None, extra_exclude=()) -> str:
    """The command that builds this reference again, as the file records it."""
    command = f"asclab grade-reference --profile {profile} --seeds {' '.join(str(s) for s in seeds)}"
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
                isinstance(band.get(k), numbers.Real) and not isinstance(band.get(k), bool)
                for k in ("low", "high"))
            if not ok or band["low"] > band["high"]:
                raise ValueError(f"{where}: the band of {stem}:{path} must be "
                                 f"{{\"low\": x, \"high\": y}} with "
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
    return validate_reference(read_json(path), str(path)), str(path)


def build_reference(profile: str, seeds=(0, 1, 2), nb_dir: str | Path | None = None,
                    out: str | Path | None = None, tolerance: BandRule = DEFAULT_RULE,
                    notebooks: list | None = None, runs_dir: str | Path | None = None,
                    cell_timeout: float | None = None, exclude=DEFAULT_EXCLUDE,
                    progress: bool = True) -> dict:
    """Run the workbook's (solution) notebooks once per seed and write ``reference/<profile>.json``.

    Each seed is one :func:`asclab.course.runner.run_notebooks` call with ``overrides={"SEED": seed}``;
    every numeric metric of every notebook (:func:`flatten_metrics`, minus ``exclude``) gets a band by
    ``tolerance`` (:class:`BandRule`), and the exercises each notebook checks are listed. A notebook that
    fails, or a solution that fails its own exercise check, is a RuntimeError: a reference comes from a
    clean run. Returns the reference dict.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("build_reference needs at least one seed (three or more give meaningful bands)")
    runs: dict[str, list[dict[str, float]]] = {}
    exercises: dict[str, list[str]] = {}
    runs_dir = Path(runs_dir) if runs_dir is not None else repo_root() / "runs" / "reference"
    for seed in seeds:
        with figures_to(runs_dir / f"figures-{profile}-seed{seed}"):   # keep the workbook's figures/
            summary = run_notebooks(profile=profile, overrides={"SEED": seed}, notebooks=notebooks,
                                    out_dir=runs_dir, nb_dir=nb_dir, progress=progress,
                                    cell_timeout=cell_timeout)
        _collect_seed(seed, summary, runs, exercises)
    reference = {
        "profile": profile,
        "command": regenerate_command(profile, seeds, notebooks,
                                      [p for p in exclude if p not in DEFAULT_EXCLUDE]),
        "seeds": seeds,
        "created": datetime.now().isoformat(timespec="seconds"),
        "rule": tolerance.describe(),
        "tolerance": asdict(tolerance),
        "exclude": list(exclude),
        "metrics": {stem: bands_from_runs(per_seed, tolerance, exclude)
                    for stem, per_seed in sorted(runs.items())},
        "exercises": {stem: names for stem, names in sorted(exercises.items()) if names},
    }
    write_json(Path(out) if out is not None else reference_path(profile), reference)
    return reference


def _collect_seed(seed: int, summary: RunSummary, runs: dict[str, list[dict[str, float]]],
                  exercises: dict[str, list[str]]) -> None:
    """Add one seed's flat metrics to ``runs`` and its checked exercises to ``exercises``; RuntimeError when
    a notebook failed or a solution failed its own check."""
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
        exercises[r.name] = sorted(set(exercises.get(r.name, [])) | set(recorded), key=exercise_order)
