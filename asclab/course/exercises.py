"""The six exercises: each one's cases, its check, and the registry that names them.

Each exercise asks the student to write one small function. ``check_<name>(student_fn, metrics=None)``
runs it on fixed-seed random inputs and on edge cases, compares it with asclab's own implementation, prints
a one-line verdict and returns a :class:`asclab.course.checks.CheckResult` (the harness, and where the
verdict is recorded, are in :mod:`asclab.course.checks`). The notebooks call them as
``asclab.exercises.check_mixup(mixup, metrics)``.

The functions the students write (the notebooks' stubs must use exactly these signatures):

==================  =========================================================  ============================
exercise            student function                                           compared with
==================  =========================================================  ============================
``mixup``           ``mixup(x, y, lam, perm) -> (x_mixed, y_a, y_b)``          ``asclab.augment.mixup``
``fmix_threshold``  ``fmix_threshold(image, lam) -> mask``                     ``asclab.augment.fmix_mask``
``coarse_probs``    ``coarse_probs(fine_logits) -> coarse [B, 3]``             ``asclab.models.hierarchy``
``macro_accuracy``  ``macro_accuracy(y_true, y_pred, n_classes=10) -> float``  ``asclab.evaluate``
``kd_loss``         ``kd_loss(student_logits, teacher_logits, T) -> scalar``   ``asclab.distill.kd_loss``
``fake_quantize``   ``fake_quantize(x, bits) -> x_hat``                        ``asclab.quantize``
==================  =========================================================  ============================

* ``mixup``: ``x`` [B, 1, F, T] float, ``y`` [B] int64, ``lam`` a float in [0, 1], ``perm`` [B] int64 (a
  permutation of the batch). ``x_mixed = lam * x + (1 - lam) * x[perm]``, ``y_a = y``, ``y_b = y[perm]``.
  No randomness: λ and the permutation are given, so the answer is exact.
* ``fmix_threshold``: ``image`` [F, T] float (FMix's smooth random image), ``lam`` in [0, 1]. The mask is 1 on
  the ``round(lam * F * T)`` largest cells and 0 elsewhere (``torch.topk``); its mean is λ to within one cell.
  Any dtype of 0s and 1s (bool, float) is accepted; with equal values any choice among them is accepted.
* ``coarse_probs``: fine logits [B, 10] -> [B, 3]: softmax over the 10 classes, then the sum of the
  probabilities within each group of ``asclab.data.FINE_TO_COARSE`` (column order ``asclab.data.COARSE``).
* ``macro_accuracy``: ``y_true``, ``y_pred`` 1-D int64 NumPy arrays. The mean over the classes present in
  ``y_true`` of each class's accuracy (classes absent from ``y_true`` are left out).
* ``kd_loss``: ``student_logits``, ``teacher_logits`` [B, C] float, ``T`` a float.
  ``T² · KL(softmax(teacher / T) ‖ softmax(student / T))``, summed over classes and averaged over the batch
  (``F.kl_div(..., reduction="batchmean")``); a scalar tensor that back-propagates to ``student_logits``.
* ``fake_quantize``: ``x`` any float tensor, ``bits`` >= 2. Symmetric, per tensor:
  ``scale = max|x| / (2^(bits-1) - 1)`` (1 when ``x`` is all zeros), ``x_hat = clamp(round(x / scale),
  -(2^(bits-1) - 1), 2^(bits-1) - 1) * scale``; return only ``x_hat``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from asclab import augment
from asclab.course.checks import (
    Case,
    CheckResult,
    as_tensor,
    call_student,
    describe,
    report,
    run_check,
    shape_text,
    some_ints,
    some_values,
)
from asclab.data import COARSE, FINE_TO_COARSE
from asclab.distill import kd_loss
from asclab.evaluate import macro_class_accuracy
from asclab.models.hierarchy import coarse_probs
from asclab.quantize import fake_quantize


# --- mixup --------------------------------------------------------------------------------------------
def _mixup_case(description: str, x, y, lam: float, perm, expected) -> Case:
    x_exp, ya_exp, yb_exp = expected

    def run(fn):
        x_in, y_in, perm_in = x.clone(), y.clone(), perm.clone()
        out = call_student(fn, x_in, y_in, lam, perm_in)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            return f"expected 3 values (x_mixed, y_a, y_b), got {describe(out)}"
        if not (torch.equal(x_in, x) and torch.equal(y_in, y) and torch.equal(perm_in, perm)):
            return "your function changed its inputs in place: build a new tensor instead"
        xm, ya, yb = (as_tensor(v) for v in out)
        if xm.shape != x.shape:
            return f"expected x_mixed of shape {shape_text(x)}, got {shape_text(xm)}"
        for label, got in (("y_a", ya), ("y_b", yb)):
            if got.shape != y.shape:
                return f"expected {label} of shape {shape_text(y)}, got {shape_text(got)}"
        ya, yb = ya.to(torch.int64), yb.to(torch.int64)
        if torch.equal(ya, yb_exp) and torch.equal(yb, ya_exp) and not torch.equal(ya_exp, yb_exp):
            return ("y_a and y_b are swapped: y_a are the labels of x itself (weight λ), "
                    "y_b those of the partners x[perm] (weight 1−λ)")
        if not torch.equal(ya, ya_exp):
            return f"expected y_a = y = {some_ints(ya_exp)}, got {some_ints(ya)}"
        if not torch.equal(yb, yb_exp):
            return f"expected y_b = y[perm] = {some_ints(yb_exp)}, got {some_ints(yb)}"
        xm = xm.to(x.dtype)
        if torch.allclose(xm, x_exp, rtol=1e-5, atol=1e-5):
            return None
        swapped = (1.0 - lam) * x + lam * x[perm]
        if torch.allclose(xm, swapped, rtol=1e-5, atol=1e-5):
            return "λ is on the wrong side: x_mixed = λ·x + (1−λ)·x[perm] (λ weighs the sample itself)"
        err = float((xm - x_exp).abs().max())
        return f"x_mixed differs from λ·x + (1−λ)·x[perm] by up to {err:.3g}"

    return Case(description, run)


def _mixup_cases() -> list[Case]:
    def formula(x, y, lam, perm):
        return lam * x + (1.0 - lam) * x[perm], y, y[perm]

    cases = []
    for seed, batch in ((12, 8), (18, 8)):  # λ and perm drawn by asclab.augment.mixup itself
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, 1, 256, 64, generator=g)
        y = torch.randint(0, 10, (batch,), generator=g)
        x_ref, ya_ref, yb_ref, lam, perm = augment.mixup(x, y, g, alpha=0.3, return_perm=True)
        cases.append(_mixup_case(f"a batch of {batch} mixed by asclab.augment.mixup (λ={lam:.3f})",
                                 x, y, lam, perm, (x_ref, ya_ref, yb_ref)))
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 1, 16, 8, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    reverse = torch.tensor([5, 4, 3, 2, 1, 0])
    for lam in (0.3, 0.0, 1.0):  # λ below 0.5 shows which side λ is on; 0 and 1 are the ends
        cases.append(_mixup_case(f"λ={lam:g} on a batch of 6 with perm={reverse.tolist()}",
                                 x, y, lam, reverse, formula(x, y, lam, reverse)))
    same = torch.full((4,), 7)
    perm = torch.tensor([2, 0, 3, 1])
    cases.append(_mixup_case("λ=0.6 on a single-class batch (all labels 7)", x[:4], same, 0.6, perm,
                             formula(x[:4], same, 0.6, perm)))
    one = torch.tensor([0])
    cases.append(_mixup_case("λ=0.8 on a batch of one clip", x[:1], y[:1], 0.8, one,
                             formula(x[:1], y[:1], 0.8, one)))
    return cases


def check_mixup(student_fn, metrics: dict | None = None) -> CheckResult:
    """Check ``mixup(x, y, lam, perm) -> (x_mixed, y_a, y_b)`` against ``asclab.augment.mixup``."""
    return run_check("mixup", student_fn, _mixup_cases, "batches mixed by asclab.augment.mixup, λ=0.3, 0 "
                      "and 1, a single-class batch, a batch of one", metrics)


# --- FMix threshold -----------------------------------------------------------------------------------
def _fmix_case(description: str, image, lam: float) -> Case:
    def run(fn):
        out = call_student(fn, image.clone(), lam)
        if out is None or isinstance(out, (tuple, list)):
            return f"expected one mask tensor, got {describe(out)}"
        mask = as_tensor(out)
        if mask.shape != image.shape:
            return f"expected a mask of shape [F, T] = {shape_text(image)}, got {shape_text(mask)}"
        mask = mask.to(torch.float64)
        odd = mask[(mask != 0) & (mask != 1)]
        if odd.numel():
            return f"expected only 0s and 1s, got values such as {float(odd[0]):.3g}"
        n = image.numel()
        k = int(mask.sum())
        target = lam * n
        allowed = sorted({min(max(math.floor(target), 0), n), min(max(math.ceil(target), 0), n)})
        if k not in allowed:
            counts = " or ".join(str(a) for a in allowed)
            hint = ""
            if lam != 0.5 and abs(k - (1.0 - lam) * n) < 1:
                hint = ": that is 1−λ, but the 1s should cover a fraction λ of the image"
            return (f"expected mean {lam:.3f} ({counts} of {n} cells set to 1), "
                    f"got mean {k / n:.3f} ({k} cells){hint}")
        if 0 < k < n:
            ones, zeros = image[mask == 1], image[mask == 0]
            lowest_one, highest_zero = float(ones.min()), float(zeros.max())
            if lowest_one < highest_zero:
                if float(ones.max()) <= float(zeros.min()):
                    return f"you kept the {k} smallest cells; FMix sets the {k} largest cells to 1"
                return (f"the 1s must be the {k} largest cells of the image, but a cell of value "
                        f"{lowest_one:.3f} is 1 while a larger one ({highest_zero:.3f}) is 0")
        return None

    return Case(description, run)


def _fmix_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3)
    image = torch.randn(256, 64, generator=g)
    cases = [_fmix_case(f"λ={lam:g} on a 256×64 image", image, lam) for lam in (0.3, 0.25, 0.7, 0.0, 1.0)]
    cases.append(_fmix_case("λ=0.5 on a 5×7 image", torch.randn(5, 7, generator=g), 0.5))
    ties = torch.randint(0, 4, (16, 16), generator=g).to(torch.float32)
    cases.append(_fmix_case("λ=0.4 on a 16×16 image with many equal values (ties)", ties, 0.4))
    # a real FMix mask from asclab, as the image (with a little noise): its own top cells are the mask
    mask = augment.fmix_mask((256, 64), 0.35, generator=g)
    noisy = mask + 0.01 * torch.randn(mask.shape, generator=g)
    cases.append(_fmix_case(f"λ={float(mask.mean()):.3f} on an image made from an asclab.augment.fmix_mask "
                            "mask", noisy, float(mask.mean())))
    return cases


def check_fmix_threshold(student_fn, metrics: dict | None = None) -> CheckResult:
    """Check ``fmix_threshold(image [F, T], lam) -> mask``: the top ``round(λ·F·T)`` cells are 1."""
    return run_check("fmix_threshold", student_fn, _fmix_cases, "λ from 0 to 1, odd image sizes, ties, an "
                      "asclab.augment.fmix_mask mask", metrics)


# --- coarse probabilities (one branch) ----------------------------------------------------------------
def _coarse_case(description: str, logits) -> Case:
    expected = coarse_probs(logits)

    def run(fn):
        out = call_student(fn, logits.clone())
        if out is None or isinstance(out, (tuple, list)):
            return f"expected one tensor [B, 3], got {describe(out)}"
        got = as_tensor(out).to(expected.dtype)
        if got.shape != expected.shape:
            return (f"expected shape {shape_text(expected)} (batch × {len(COARSE)} groups), "
                    f"got {shape_text(got)}")
        if torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            return None
        if not torch.isfinite(got).all():
            return ("got nan or inf: exp() of large logits overflows; use torch.softmax, which subtracts "
                    "the row maximum first")
        groups = torch.zeros(logits.shape[1], len(COARSE))
        groups[torch.arange(logits.shape[1]), torch.tensor(FINE_TO_COARSE)] = 1.0
        if torch.allclose(got, torch.softmax(logits @ groups, dim=1), rtol=1e-4, atol=1e-5):
            return ("you summed the logits within each group and then took the softmax; take the softmax "
                    "of the 10 fine logits first, then sum the probabilities within each group")
        sums = got.sum(dim=1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
            return (f"each row should sum to 1 (probabilities of 3 groups), got row sums "
                    f"{some_values(sums)}: sum the softmax probabilities, not the logits")
        for order in ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
            if torch.allclose(got, expected[:, list(order)], rtol=1e-4, atol=1e-5):
                return ("the groups are in the wrong order: column g must be the group asclab.data.COARSE[g] "
                        f"{COARSE}")
        row = int((got - expected).abs().amax(dim=1).argmax())
        return (f"expected {some_values(expected[row])} in row {row}, got {some_values(got[row])} "
                "(group the classes with asclab.data.FINE_TO_COARSE)")

    return Case(description, run)


def _coarse_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    confident = torch.randn(6, 10, generator=g)
    confident[torch.arange(6), torch.tensor([0, 1, 4, 6, 8, 9])] += 20.0
    return [
        _coarse_case("random logits for a batch of 16", 3.0 * torch.randn(16, 10, generator=g)),
        _coarse_case("a batch of one clip", torch.randn(1, 10, generator=g)),
        _coarse_case("all-zero logits (every class equally likely)", torch.zeros(4, 10)),
        _coarse_case("confident logits (one class +20 per row)", confident),
        _coarse_case("very large logits (about ±100)", 100.0 * torch.randn(5, 10, generator=g)),
    ]


def check_coarse_probs(student_fn, metrics: dict | None = None) -> CheckResult:
    """Check ``coarse_probs(fine_logits [B, 10]) -> [B, 3]`` against
    ``asclab.models.hierarchy.coarse_probs``."""
    return run_check("coarse_probs", student_fn, _coarse_cases, "random, uniform, confident and very "
                      "large logits, a batch of one", metrics)


# --- macro class-wise accuracy ------------------------------------------------------------------------
def _macro_case(description: str, y_true, y_pred, n_classes: int | None = None) -> Case:
    n = 10 if n_classes is None else n_classes
    expected = macro_class_accuracy(y_true, y_pred, n)

    def run(fn):
        args = (y_true.copy(), y_pred.copy())
        out = call_student(fn, *args) if n_classes is None else call_student(fn, *args, n_classes=n_classes)
        try:
            got = float(out)
        except (TypeError, ValueError):
            return f"expected one number (a float), got {describe(out)}"
        if abs(got - expected) <= 1e-6:
            return None
        if math.isnan(got):
            return "got nan: classes with no clips in y_true have no accuracy; leave them out of the mean"
        present = [c for c in range(n) if (y_true == c).any()]
        per_class = [float((y_pred[y_true == c] == c).mean()) for c in present]
        micro = float((y_true == y_pred).mean())
        absent_as_zero = sum(per_class) / n
        precisions = [float((y_true[y_pred == c] == c).mean()) for c in range(n) if (y_pred == c).any()]
        if abs(got - micro) <= 1e-6:
            hint = (": that is the micro accuracy (correct clips / all clips); average the accuracies of the "
                    "classes instead, so that rare classes count as much as common ones")
        elif abs(got - absent_as_zero) <= 1e-6:
            hint = ": classes absent from y_true were counted as 0; leave them out of the mean"
        elif precisions and abs(got - float(np.mean(precisions))) <= 1e-6:
            hint = (": that is the mean precision (per predicted class); a class's accuracy divides by the "
                    "clips whose true label is that class")
        else:
            hint = ""
        return f"expected {expected:.4f}, got {got:.4f}{hint}"

    return Case(description, run)


def _macro_cases() -> list[Case]:
    rng = np.random.default_rng(5)

    def noisy(y_true, p_correct, n=10):
        right = rng.random(y_true.shape[0]) < p_correct
        return np.where(right, y_true, rng.integers(0, n, y_true.shape[0])).astype(np.int64)

    balanced = rng.permutation(np.repeat(np.arange(10), 20)).astype(np.int64)
    counts = [100, 2, 3, 5, 2, 10, 4, 2, 50, 6]
    unbalanced = rng.permutation(np.repeat(np.arange(10), counts)).astype(np.int64)
    p_right = np.where(np.isin(unbalanced, [0, 8]), 0.95, 0.3)
    unbalanced_pred = np.where(rng.random(unbalanced.shape[0]) < p_right, unbalanced,
                               (unbalanced + 1) % 10).astype(np.int64)
    absent = rng.choice(np.array([0, 3, 7]), 40).astype(np.int64)
    single = np.full(12, 4, dtype=np.int64)
    single_pred = single.copy()
    single_pred[[1, 5, 9]] = [2, 8, 0]
    coarse = rng.integers(0, 3, 60).astype(np.int64)
    return [
        _macro_case("200 clips, 20 per class", balanced, noisy(balanced, 0.7)),
        _macro_case(f"unbalanced classes (clips per class {counts})", unbalanced, unbalanced_pred),
        _macro_case("only classes 0, 3 and 7 present in y_true", absent, noisy(absent, 0.5)),
        _macro_case("a single class (all 12 clips are class 4)", single, single_pred),
        _macro_case("every prediction wrong", balanced, (balanced + 1) % 10),
        _macro_case("3 coarse classes (n_classes=3)", coarse, noisy(coarse, 0.6, 3), n_classes=3),
    ]


def check_macro_accuracy(student_fn, metrics: dict | None = None) -> CheckResult:
    """Check ``macro_accuracy(y_true, y_pred, n_classes=10) -> float`` against
    ``asclab.evaluate.macro_class_accuracy``."""
    return run_check("macro_accuracy", student_fn, _macro_cases, "balanced and unbalanced classes, absent "
                      "classes, a single class, all wrong, n_classes=3", metrics)


# --- knowledge-distillation loss ----------------------------------------------------------------------
def _kd_case(description: str, student_logits, teacher_logits, T: float, gradient: bool = False) -> Case:
    s_ref = student_logits.clone().requires_grad_(True)
    expected_t = kd_loss(s_ref, teacher_logits, T)
    expected_t.backward()
    expected, expected_grad = float(expected_t.detach()), s_ref.grad.clone()

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-4 * abs(b) + 1e-5

    def run(fn):
        s_in = student_logits.clone().requires_grad_(True)
        out = call_student(fn, s_in, teacher_logits.clone(), T)
        if not isinstance(out, torch.Tensor):
            return (f"expected a scalar torch tensor (so that loss.backward() works), got {describe(out)}")
        if out.numel() != 1:
            return (f"expected a single number (a scalar tensor), got shape {shape_text(out)}: "
                    "sum over the classes and average over the batch")
        got = float(out.detach())
        if not close(got, expected):
            hint = ""
            p_t = F.softmax(teacher_logits / T, dim=1)
            p_s = F.softmax(student_logits / T, dim=1)
            kl = (p_t * (p_t.clamp_min(1e-30).log() - p_s.log())).sum(dim=1)          # KL(t ‖ s) [B]
            reverse = (p_s * (p_s.log() - p_t.clamp_min(1e-30).log())).sum(dim=1)     # KL(s ‖ t) [B]
            batch, classes = student_logits.shape
            if T != 1 and close(got, expected / T**2):
                hint = ": the T² factor is missing (it keeps the gradients' size independent of T)"
            elif close(got, float(reverse.mean()) * T**2) or close(got, float(reverse.mean())):
                hint = (": the KL divergence is reversed; it is KL(teacher ‖ student) = "
                        "Σ p_teacher · (log p_teacher − log p_student)")
            elif close(got, expected / classes):
                hint = (": you averaged over classes too; sum over the classes and average over the batch "
                        "(F.kl_div(..., reduction='batchmean'))")
            elif batch > 1 and close(got, float(kl.sum()) * T**2):
                hint = ": average over the batch instead of summing (reduction='batchmean')"
            return f"expected {expected:.5g}, got {got:.5g}{hint}"
        if gradient:
            if not out.requires_grad:
                return ("the loss has no gradient: keep the computation in torch on student_logits "
                        "(no .item(), NumPy or .detach() on the student side)")
            out.backward()
            if s_in.grad is None or not torch.allclose(s_in.grad, expected_grad, rtol=1e-4, atol=1e-6):
                return "the value is right but the gradient with respect to student_logits is not"
        return None

    return Case(description, run)


def _kd_cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)

    def logits(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g)

    same = logits(4, 10, scale=2.0)
    return [
        _kd_case("random logits (batch 16, 10 classes, T=2)", logits(16, 10, scale=2.0),
                 logits(16, 10, scale=3.0), 2.0, gradient=True),
        _kd_case("T=1 (batch 8)", logits(8, 10), logits(8, 10, scale=2.0), 1.0),
        _kd_case("T=4 on a batch of one clip", logits(1, 10, scale=2.0), logits(1, 10, scale=2.0), 4.0),
        _kd_case("a confident teacher (logits ×10), T=2.5", logits(6, 10), logits(6, 10, scale=10.0), 2.5),
        _kd_case("identical student and teacher logits, T=3 (the loss is 0)", same, same.clone(), 3.0),
    ]


def check_kd_loss(student_fn, metrics: dict | None = None) -> CheckResult:
    """Check ``kd_loss(student_logits, teacher_logits, T) -> scalar`` against ``asclab.distill.kd_loss``."""
    return run_check("kd_loss", student_fn, _kd_cases, "T=1, 2, 2.5, 4, a confident teacher, identical "
                      "logits, a batch of one, the gradient", metrics)


# --- fake quantization --------------------------------------------------------------------------------
def _quant_case(description: str, x, bits: int) -> Case:
    expected, scale, _ = fake_quantize(x, bits, symmetric=True)
    qmax = 2 ** (bits - 1) - 1

    def run(fn):
        out = call_student(fn, x.clone(), bits)
        if isinstance(out, (tuple, list)):
            return (f"expected only x_hat (one tensor), got {describe(out)}: return just the fake-quantized "
                    "tensor")
        got = as_tensor(out).to(torch.float32)
        if got.shape != x.shape:
            return f"expected x_hat of shape {shape_text(x)} (the shape of x), got {shape_text(got)}"
        if not torch.isfinite(got).all():
            if not x.any():
                return ("got nan or inf: for an all-zero tensor max|x| is 0; use scale 1 (or return zeros) "
                        "so that you never divide by 0")
            return "got nan or inf"
        levels = x / scale
        # exactly between two levels, rounding may go either way (float error): those cells are not judged
        undecided = ((levels.abs() % 1.0) - 0.5).abs() < 1e-4
        wrong = ((got - expected).abs() > 1e-5 * scale + 1e-7) & ~undecided
        if not wrong.any():
            return None
        if torch.allclose(got, torch.floor(levels) * scale, atol=1e-5 * scale) or \
                torch.allclose(got, torch.trunc(levels) * scale, atol=1e-5 * scale):
            return "the values are rounded down: use torch.round (the nearest level), not floor() or int()"
        wide = float(x.abs().max()) / (2 ** (bits - 1))
        wide_levels = torch.round(x / wide) if wide > 0 else None
        if wide_levels is not None and any(
                torch.allclose(got, torch.clamp(wide_levels, -qmax - 1, top) * wide, atol=1e-5 * scale)
                for top in (qmax, qmax + 1)):
            return (f"the scale should be max|x| / (2^(bits−1) − 1) = max|x| / {qmax}, so that the largest "
                    f"value lands on the top level {qmax}")
        i = int(wrong.flatten().nonzero()[0])
        return (f"expected {float(expected.flatten()[i]):.5g} for x = {float(x.flatten()[i]):.5g}, got "
                f"{float(got.flatten()[i]):.5g} (scale = max|x| / {qmax} = {scale:.4g})")

    return Case(description, run)


def _quant_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    outlier = 0.1 * torch.randn(300, generator=g)
    outlier[17] = 5.0
    return [
        _quant_case("1000 random values, bits=8", torch.randn(1000, generator=g), 8),
        _quant_case("a conv weight [16, 8, 3, 3], bits=4", torch.randn(16, 8, 3, 3, generator=g), 4),
        _quant_case("500 random values, bits=2", torch.randn(500, generator=g), 2),
        _quant_case("an all-zero tensor, bits=8", torch.zeros(64), 8),
        _quant_case("small values with one outlier (5.0), bits=8", outlier, 8),
        _quant_case("only negative values, bits=3", -torch.rand(200, generator=g), 3),
    ]


def check_fake_quantize(student_fn, metrics: dict | None = None) -> CheckResult:
    """Check ``fake_quantize(x, bits) -> x_hat`` against
    ``asclab.quantize.fake_quantize(x, bits, symmetric=True)``."""
    return run_check("fake_quantize", student_fn, _quant_cases, "bits=2, 3, 4, 8, a conv weight, an "
                      "outlier, negative values, an all-zero tensor", metrics)


# --- the registry -------------------------------------------------------------------------------------
class Exercise(NamedTuple):
    check: Callable[..., CheckResult]
    description: str
    notebook: str          # the two-digit number of the notebook that holds the exercise


EXERCISES: dict[str, Exercise] = {
    "mixup": Exercise(check_mixup, "mixup(x, y, lam, perm) -> (x_mixed, y_a, y_b): mix a batch with its "
                                   "permutation", "02"),
    "fmix_threshold": Exercise(check_fmix_threshold, "fmix_threshold(image, lam) -> mask: the top λ·F·T "
                                                     "cells of a smooth image", "02"),
    "macro_accuracy": Exercise(check_macro_accuracy, "macro_accuracy(y_true, y_pred, n_classes=10) -> "
                                                     "float: the DCASE class-wise accuracy", "03"),
    "coarse_probs": Exercise(check_coarse_probs, "coarse_probs(fine_logits) -> [B, 3]: group probabilities "
                                                 "of the one-branch hierarchy", "04"),
    "kd_loss": Exercise(check_kd_loss, "kd_loss(student_logits, teacher_logits, T) -> scalar: "
                                       "T²·KL(teacher ‖ student)", "05"),
    "fake_quantize": Exercise(check_fake_quantize, "fake_quantize(x, bits) -> x_hat: symmetric per-tensor "
                                                   "fake quantization", "06"),
}


def check(name: str, student_fn, metrics: dict | None = None) -> CheckResult:
    """``check("mixup", mixup, metrics)``: the check of an exercise by name (an unknown name is a failed
    check)."""
    if name not in EXERCISES:
        return report(metrics, CheckResult(name, False, f"no exercise called {name!r}; known: "
                                                        f"{', '.join(EXERCISES)}"))
    return EXERCISES[name].check(student_fn, metrics)


def exercise_order(name: str) -> tuple:
    """A sort key: the exercises in :data:`EXERCISES` order (the lessons' order), unknown names after them."""
    names = list(EXERCISES)
    return (names.index(name) if name in names else len(names), name)
