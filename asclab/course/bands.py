"""Reference bands: a notebook's numbers under dotted paths, how wide a band is, and whether a value is in it.

Pure functions: the reference file that holds the bands is :mod:`asclab.course.reference`.
"""
from __future__ import annotations

import fnmatch
import math
import numbers
import statistics
from dataclasses import dataclass
from typing import Any

# numbers that differ from run to run for reasons other than the student's code: never banded by default
RUN_NOISE: tuple[str, ...] = ("seed", "*.seed", "*seconds*", "*time*", "*elapsed*", "*duration*")
# configuration the notebook was given, not an outcome it measured: a band on it would test the profile
CONFIGURATION: tuple[str, ...] = (
    "split", "*.split", "splits", "quantized_split", "hl_weight", "kd_temperature", "kd_weight", "qat_lr",
    "qat_epochs", "*.width", "frames", "n_clips.*",
)
DEFAULT_EXCLUDE: tuple[str, ...] = RUN_NOISE + CONFIGURATION


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
        return (f"low = min - m, high = max + m over the seeds, "
                f"m = max({self.k:g} * std, {self.abs_floor:g}, "
                f"{self.rel_floor:g} * |mean|), std with ddof=1")


DEFAULT_RULE = BandRule()


def bands_from_runs(runs: list[dict[str, float]], tolerance: BandRule = DEFAULT_RULE,
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
    """True when ``value`` is a finite number with ``low <= value <= high``.

    The edges get a tolerance of 1e-9: a band's ``mean - 0.01`` and a measured 0.09 differ in the last bit.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return False
    return float(band["low"]) - 1e-9 <= float(value) <= float(band["high"]) + 1e-9
