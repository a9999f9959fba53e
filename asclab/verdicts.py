"""Sentences about results, built from the run's numbers instead of written before the run.

A "What we saw" cell calls these functions with its metrics, so every claim follows the numbers: a gain is
called a gain only when the run shows one, a loss is called a loss, and a difference smaller than
``tolerance`` is reported as no difference. A claim that does not hold is not printed at all.

Accuracies are fractions in [0, 1]; differences are reported in percentage points. A sensible
``tolerance`` is one test clip, ``100 / n_test`` points: a smaller difference cannot be told apart on
that test set. It says nothing about seed-to-seed variation, which a single run cannot measure.
"""
from __future__ import annotations

from collections.abc import Iterable

from asclab.complexity import MAX_MACS, MAX_PARAM_BYTES
from asclab.evaluate import COLLAPSE_SHARE

DEFAULT_TOLERANCE = 0.05   # points: a difference that one decimal place shows as 0.0


def percent(fraction: float, digits: int = 1) -> str:
    """``0.7134`` -> ``"71.3 %"``."""
    return f"{100 * fraction:.{digits}f} %"


def points(delta: float, digits: int = 1) -> str:
    """The size of a difference in points, without its sign: ``2.14`` -> ``"2.1 points"``."""
    size = f"{abs(delta):.{digits}f}"
    return f"{size} point" if size == f"{1:.{digits}f}" else f"{size} points"


def sign(delta: float, tolerance: float = DEFAULT_TOLERANCE) -> int:
    """+1 above ``tolerance``, -1 below ``-tolerance``, 0 in between (no difference on this test set)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be at least 0 points, got {tolerance}")
    if delta > tolerance:
        return 1
    if delta < -tolerance:
        return -1
    return 0


def compare(name: str, value: float, other: str, other_value: float,
            tolerance: float = DEFAULT_TOLERANCE, digits: int = 1) -> str:
    """One sentence comparing two accuracies (fractions): above, below, or level within ``tolerance`` points.

    >>> compare("QAT INT8", 0.70, "the float student", 0.72)
    'QAT INT8 (70.0 %) is 2.0 points below the float student (72.0 %).'
    """
    delta = 100 * (value - other_value)
    a, b = f"{name} ({percent(value, digits)})", f"{other} ({percent(other_value, digits)})"
    direction = sign(delta, tolerance)
    if direction == 0:
        return f"{a} is level with {b}: they differ by less than {tolerance:.2g} points."
    return f"{a} is {points(delta, digits)} {'above' if direction > 0 else 'below'} {b}."


def quantization(float_acc: float, ptq_acc: float, qat_acc: float,
                 tolerance: float = DEFAULT_TOLERANCE, digits: int = 1,
                 collapsed: Iterable[str] = ()) -> list[str]:
    """What PTQ and QAT did to the float student's accuracy, and whether QAT recovered what PTQ lost.

    ``collapsed`` names those of the three models that predict (nearly) one class: the gaps are still
    stated, but no conclusion about quantization is drawn from them.
    """
    out = [compare("PTQ INT8", ptq_acc, "the float student", float_acc, tolerance, digits),
           compare("QAT INT8", qat_acc, "the float student", float_acc, tolerance, digits)]
    collapsed = list(collapsed)
    if collapsed:
        out.append(f"Read nothing about quantization into these gaps: {', '.join(collapsed)} "
                   f"{'has' if len(collapsed) == 1 else 'have'} collapsed onto one class.")
        return out
    ptq_loss = 100 * (float_acc - ptq_acc)
    qat_gain = 100 * (qat_acc - ptq_acc)
    qat_vs_float = 100 * (qat_acc - float_acc)
    if sign(ptq_loss, tolerance) <= 0:
        out.append("PTQ loses nothing here, so QAT has nothing to recover; "
                   + _relative("QAT", qat_gain, "PTQ", tolerance, digits) + ".")
    elif sign(qat_gain, tolerance) <= 0:
        out.append(f"QAT does not recover the {points(ptq_loss, digits)} that PTQ loses: "
                   + _relative("it", qat_gain, "PTQ", tolerance, digits) + ".")
    elif sign(qat_vs_float, tolerance) >= 0:
        out.append(f"QAT recovers all of the {points(ptq_loss, digits)} that PTQ loses.")
    else:
        out.append(f"QAT recovers {points(qat_gain, digits)} of the {points(ptq_loss, digits)} "
                   "that PTQ loses.")
    return out


def per_split(name: str, other: str, pairs: dict, tolerance: float = DEFAULT_TOLERANCE,
              digits: int = 1) -> str:
    """One line with the signed gap between two models at every split: ``{split: (value, other_value)}``.

    >>> per_split("QAT INT8", "PTQ INT8", {50: (0.61, 0.60), 100: (0.70, 0.72)})
    'QAT INT8 against PTQ INT8: +1.0 points at split 50, -2.0 points at split 100.'
    """
    if not pairs:
        raise ValueError("per_split needs at least one split")
    gaps = []
    for split, (value, other_value) in pairs.items():
        delta = 100 * (value - other_value)
        text = "level" if sign(delta, tolerance) == 0 else f"{delta:+.{digits}f} points"
        gaps.append(f"{text} at split {split}")
    return f"{name} against {other}: {', '.join(gaps)}."


def _relative(subject: str, delta: float, other: str, tolerance: float, digits: int) -> str:
    return f"{subject} is {_relative_phrase(delta, tolerance, digits)} {other}"


def int8_memory(float_params: int, int8_params: int, int8_bytes: int,
                limit: int = MAX_PARAM_BYTES) -> str:
    """How many bytes the INT8 model stores, why fewer than the float model has parameters, and the limit."""
    first = f"The INT8 student stores {int8_bytes:,} bytes of parameters"
    folded = float_params - int8_params
    if folded > 0:
        first += (f", not {float_params:,}: converting folds BatchNorm into the convolutions, which removes "
                  f"{folded:,} parameters")
    elif folded < 0:
        first += f", {-folded:,} parameters more than the float model's {float_params:,}"
    margin = limit - int8_bytes
    if margin >= 0:
        return f"{first}; that is {margin:,} bytes under the {limit:,}-byte limit."
    return f"{first}; that is {-margin:,} bytes over the {limit:,}-byte limit."


def dcase_limits(n_bytes: int, macs: int, byte_limit: int = MAX_PARAM_BYTES,
                 mac_limit: int = MAX_MACS) -> str:
    """Whether a model meets both DCASE2024 complexity limits, with both numbers."""
    memory_ok, macs_ok = n_bytes <= byte_limit, macs <= mac_limit
    numbers = f"{n_bytes:,} of {byte_limit:,} bytes and {macs:,} of {mac_limit:,} MACs"
    if memory_ok and macs_ok:
        return f"It meets both DCASE limits: {numbers}."
    broken = [name for name, ok in (("memory", memory_ok), ("MAC", macs_ok)) if not ok]
    return f"It breaks the {' and '.join(broken)} limit{'s' if len(broken) > 1 else ''}: {numbers}."


def device_groups(name: str, per_group: dict, tolerance: float = DEFAULT_TOLERANCE, digits: int = 1) -> str:
    """How a model does on the unseen devices compared with the real and the seen simulated ones.

    ``per_group`` is an evaluation report's ``per_group``: ``{"real": 0.6, "seen": 0.55, "unseen": 0.4}``.
    """
    unseen = per_group.get("unseen")
    if unseen is None:
        return f"The test set has no clips from unseen devices, so {name} is not tested on them."
    others = [f"{_relative_phrase(100 * (unseen - per_group[g]), tolerance, digits)} the {label} "
              f"({percent(per_group[g], digits)})"
              for g, label in (("real", "real devices"), ("seen", "seen simulated devices"))
              if per_group.get(g) is not None]
    head = f"On the unseen devices {name} reaches {percent(unseen, digits)}"
    return f"{head}, {' and '.join(others)}." if others else f"{head}."


def _relative_phrase(delta: float, tolerance: float, digits: int) -> str:
    direction = sign(delta, tolerance)
    if direction == 0:
        return "level with"
    return f"{points(delta, digits)} {'above' if direction > 0 else 'below'}"


def collapse(warnings: Iterable[str], n_models: int, share: float | None = None) -> list[str]:
    """The warnings of :func:`asclab.evaluate.collapse_warnings`, or one line saying that there are none."""
    warnings = list(warnings)
    if warnings:
        return warnings
    share = COLLAPSE_SHARE if share is None else share
    limit = f"more than {100 * share:.0f} % of the test clips to one class"
    if n_models == 1:
        return [f"The model shown does not send {limit}: it has not collapsed."]
    return [f"None of the {n_models} models shown sends {limit}: none has collapsed."]


def distillation(
    per_split: dict, system: str, tolerance: float = DEFAULT_TOLERANCE, digits: int = 1
) -> list[str]:
    """What the teachers and KD did, per split, and why KD can fail.

    ``per_split`` maps a split to the test macro accuracies (fractions) of ``"ensemble"`` (the averaged
    teachers), ``"kd"`` (the distilled student), ``"labels"`` (the same student on labels alone) and
    ``"baseline"`` (the DCASE2024 baseline).
    """
    if not per_split:
        raise ValueError("distillation needs the accuracies of at least one split")
    lead = {s: 100 * (v["ensemble"] - v["labels"]) for s, v in per_split.items()}
    gain = {s: 100 * (v["kd"] - v["labels"]) for s, v in per_split.items()}
    over_base = {s: 100 * (v["kd"] - v["baseline"]) for s, v in per_split.items()}
    out = [
        _everywhere("The teacher ensemble", "leads", "CP-Mobile on labels alone", lead, tolerance, digits),
        _everywhere(
            f"The {system} student (KD)", "beats", "CP-Mobile on labels alone", gain, tolerance, digits
        ),
        _everywhere(
            f"The {system} student (KD)", "beats", "the DCASE2024 baseline", over_base, tolerance, digits
        ),
    ]
    trailing = [s for s in per_split if sign(lead[s], tolerance) <= 0 and sign(gain[s], tolerance) < 0]
    if trailing:
        out.append(
            f"Where the teachers do not lead the student ({_splits(trailing)}), KD passes their mistakes on: "
            "distillation pays only when the teachers know more than the labels can teach."
        )
    regular = [s for s in per_split if sign(lead[s], tolerance) <= 0 < sign(gain[s], tolerance)]
    if regular:
        out.append(
            f"At {_splits(regular)} KD helps although the teachers do not lead: the soft targets act as a "
            "regulariser, like label smoothing."
        )
    return out


def _splits(splits) -> str:
    splits = [f"split {s}" for s in splits]
    return splits[0] if len(splits) == 1 else ", ".join(splits[:-1]) + " and " + splits[-1]


def _everywhere(subject: str, verb: str, other: str, deltas: dict, tolerance: float, digits: int) -> str:
    """``subject verb other`` at every split, at some, or at none, with the signed gap at each split."""
    gaps = ", ".join(f"{d:+.{digits}f} points at split {s}" for s, d in deltas.items())
    wins = [s for s, d in deltas.items() if sign(d, tolerance) > 0]
    if len(wins) == len(deltas):
        where = "at every split" if len(deltas) > 1 else f"at split {wins[0]}"
        return f"{subject} {verb} {other} {where} ({gaps})."
    if wins:
        return f"{subject} {verb} {other} only at {_splits(wins)} ({gaps})."
    return f"{subject} does not {verb.rstrip('s')} {other} at any split ({gaps})."
