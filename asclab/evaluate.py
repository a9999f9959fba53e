"""Evaluation: predictions, the DCASE macro class-wise accuracy, per-device results and confusion matrices.

The headline metric of DCASE2024 Task 1 is the *macro* class-wise accuracy: the accuracy of every scene
class on its own, then the plain mean over classes. With unbalanced classes it differs from the micro
accuracy (correct clips / all clips), which lets a frequent class dominate.

All metric functions accept torch tensors, numpy arrays or lists. ``y_pred`` may be class indices ``[N]``
or scores ``[N, C]`` (logits or probabilities; the arg-max is taken).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asclab import storage
from asclab.data import COARSE, DEVICE_GROUPS, FINE_TO_COARSE, SCENES
from asclab.models.hierarchy import fine_logits

__all__ = [
    "predict", "macro_class_accuracy", "per_class_accuracy", "accuracy", "accuracy_by",
    "per_device_group_accuracy", "coarse_accuracy", "confusion_matrix", "coarse_confusion",
    "within_between_errors", "evaluate", "export_logits", "load_logits",
]


# --- predictions -----------------------------------------------------------------------------------

def _model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@torch.no_grad()
def predict(model: torch.nn.Module, feature_set, normalizer, batch_size: int = 64,
            device=None) -> torch.Tensor:
    """Fine logits ``[N, 10]`` (float32, on the CPU) for every clip of ``feature_set``, in its order.

    The model runs in eval mode (BatchNorm uses its running statistics, no dropout) without gradients;
    its previous train/eval mode is restored afterwards. Each batch is normalised on the CPU with
    ``normalizer`` (``None``: the features are used as they are) and then moved to ``device``
    (default: where the model's parameters are).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, len(feature_set), batch_size):
            x = feature_set.x[start:start + batch_size]            # [B, 1, F, T]
            if normalizer is not None:
                x = normalizer(x)
            logits = fine_logits(model(x.to(device)))              # [B, 10]; TwoBranch: (fine, coarse)
            outputs.append(logits.float().cpu())
    finally:
        model.train(was_training)
    if not outputs:
        return torch.zeros(0, 0)
    return torch.cat(outputs)


# --- metrics -----------------------------------------------------------------------------------------

def _labels(y) -> np.ndarray:
    """Class indices as a 1-D int64 array; scores ``[N, C]`` become their arg-max."""
    if torch.is_tensor(y):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"expected class indices [N] or scores [N, C], got an array of shape {y.shape}")
    return y.astype(np.int64)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]} predictions")
    return t, p


def per_class_accuracy(y_true, y_pred, n_classes: int = 10) -> list[float]:
    """Accuracy of each class on its own clips (recall); ``nan`` for a class with no clips in ``y_true``."""
    t, p = _pair(y_true, y_pred)
    result = []
    for c in range(n_classes):
        mask = t == c
        result.append(float((p[mask] == c).mean()) if mask.any() else math.nan)
    return result


def macro_class_accuracy(y_true, y_pred, n_classes: int = 10) -> float:
    """The DCASE metric: the mean over classes of the per-class accuracy.

    Classes absent from ``y_true`` are left out of the mean (their accuracy is undefined, and counting
    them as 0 or 1 would move the number for no reason). A prediction of an absent class still counts
    as an error for the true class. ``nan`` when ``y_true`` is empty.
    """
    per_class = [a for a in per_class_accuracy(y_true, y_pred, n_classes) if not math.isnan(a)]
    return float(np.mean(per_class)) if per_class else math.nan


def accuracy(y_true, y_pred) -> float:
    """Micro accuracy: correct clips / all clips (``nan`` when empty)."""
    t, p = _pair(y_true, y_pred)
    return float((t == p).mean()) if t.size else math.nan


def accuracy_by(y_true, y_pred, keys: Sequence[str], macro: bool = True,
                n_classes: int = 10) -> dict[str, float]:
    """Accuracy within each value of ``keys`` (e.g. the recording device of every clip).

    ``macro=True`` (default) uses the macro class-wise accuracy inside every group, like the headline
    metric; ``macro=False`` the micro accuracy. Keys appear in sorted order; only keys present are listed.
    """
    t, p = _pair(y_true, y_pred)
    keys = np.asarray(list(keys), dtype=object)
    if keys.shape[0] != t.shape[0]:
        raise ValueError(f"got {keys.shape[0]} keys for {t.shape[0]} labels: expected one key per clip")
    result = {}
    for k in sorted(set(keys.tolist())):
        mask = keys == k
        result[k] = macro_class_accuracy(t[mask], p[mask], n_classes) if macro else accuracy(t[mask], p[mask])
    return result


def per_device_group_accuracy(y_true, y_pred, devices: Sequence[str], macro: bool = True,
                              n_classes: int = 10) -> dict[str, float]:
    """Accuracy on the real (a, b, c), seen simulated (s1-s3) and unseen simulated (s4-s6) devices.

    The clips of all devices in a group are pooled, then scored as in ``accuracy_by``. Groups without
    clips are left out.
    """
    group_of = {d: g for g, ds in DEVICE_GROUPS.items() for d in ds}
    unknown = sorted(set(devices) - set(group_of))
    if unknown:
        raise ValueError(f"unknown device(s) {unknown}: expected names from {sorted(group_of)}")
    groups = [group_of[d] for d in devices]
    by_group = accuracy_by(y_true, y_pred, groups, macro=macro, n_classes=n_classes)
    return {g: by_group[g] for g in DEVICE_GROUPS if g in by_group}


def coarse_accuracy(y_coarse, y_pred, macro: bool = True) -> float:
    """Accuracy on the 3 coarse groups (indoor, outdoor, transportation) of fine predictions.

    Each fine prediction is mapped to its coarse group with ``FINE_TO_COARSE``; a metro clip predicted
    as tram is then correct. ``macro=True`` averages over coarse classes, as the fine metric does.
    """
    fine_to_coarse = np.asarray(FINE_TO_COARSE)
    t, p = _pair(y_coarse, y_pred)
    p = fine_to_coarse[p]
    return macro_class_accuracy(t, p, len(COARSE)) if macro else accuracy(t, p)


def confusion_matrix(y_true, y_pred, n: int = 10) -> np.ndarray:
    """Counts ``[n, n]`` (int64): row = true class, column = predicted class."""
    t, p = _pair(y_true, y_pred)
    if t.size and (t.min() < 0 or p.min() < 0 or t.max() >= n or p.max() >= n):
        raise ValueError(f"class indices must lie in 0..{n - 1}")
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def coarse_confusion(cm) -> np.ndarray:
    """The 3x3 coarse confusion matrix from a 10x10 fine one: sum the blocks of each pair of groups."""
    cm = np.asarray(cm)
    n_fine = len(FINE_TO_COARSE)
    if cm.shape != (n_fine, n_fine):
        raise ValueError(f"expected a {n_fine}x{n_fine} fine confusion matrix, got shape {cm.shape}")
    onehot = np.eye(len(COARSE), dtype=cm.dtype)[list(FINE_TO_COARSE)]   # [10, 3]
    return onehot.T @ cm @ onehot                                         # [3, 3]


def within_between_errors(cm) -> tuple[int, int]:
    """Split the errors of a 10x10 confusion matrix: ``(within, between)``.

    ``within``: a clip confused with another scene of its own coarse group (metro for tram).
    ``between``: a clip confused with a scene of another group (metro for park). A hierarchical loss
    should shrink the second number more than the first.
    """
    cm = np.asarray(cm)
    coarse = np.asarray(FINE_TO_COARSE)
    if cm.shape != (coarse.size, coarse.size):
        raise ValueError(
            f"expected a {coarse.size}x{coarse.size} fine confusion matrix, got shape {cm.shape}"
        )
    same_group = coarse[:, None] == coarse[None, :]
    off_diagonal = ~np.eye(coarse.size, dtype=bool)
    return int(cm[same_group & off_diagonal].sum()), int(cm[~same_group].sum())


def _none_if_nan(v: float) -> float | None:
    return None if math.isnan(v) else v


def evaluate(logits, feature_set) -> dict[str, Any]:
    """The full report for logits ``[N, 10]`` on ``feature_set``, ready for ``storage.write_json``.

    Keys: ``macro_acc`` (the DCASE metric), ``acc`` (micro), ``per_class`` (scene -> accuracy, ``None`` for
    scenes without clips), ``per_device``, ``per_group`` (real / seen / unseen), ``coarse_acc``,
    ``confusion`` and ``coarse_confusion`` (lists of lists, rows = true), ``errors_within_group``,
    ``errors_between_groups``, ``n``. Accuracies are fractions in [0, 1].
    """
    y_pred = _labels(logits)
    y_true = _labels(feature_set.y)
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"got predictions for {y_pred.shape[0]} clips but the feature set has {y_true.shape[0]}"
        )
    n_classes = len(SCENES)
    cm = confusion_matrix(y_true, y_pred, n_classes)
    within, between = within_between_errors(cm)
    per_class = per_class_accuracy(y_true, y_pred, n_classes)
    return {
        "macro_acc": _none_if_nan(macro_class_accuracy(y_true, y_pred, n_classes)),
        "acc": _none_if_nan(accuracy(y_true, y_pred)),
        "per_class": {s: _none_if_nan(a) for s, a in zip(SCENES, per_class, strict=True)},
        "per_device": {d: _none_if_nan(a) for d, a in
                       accuracy_by(y_true, y_pred, list(feature_set.devices), n_classes=n_classes).items()},
        "per_group": {g: _none_if_nan(a) for g, a in
                      per_device_group_accuracy(y_true, y_pred, list(feature_set.devices),
                                                n_classes=n_classes).items()},
        "coarse_acc": _none_if_nan(coarse_accuracy(feature_set.y_coarse, y_pred)),
        "confusion": cm.tolist(),
        "coarse_confusion": coarse_confusion(cm).tolist(),
        "errors_within_group": within,
        "errors_between_groups": between,
        "n": int(y_true.size),
    }


COLLAPSE_SHARE = 0.5   # a model that sends more than half of the test clips to one class has collapsed


def collapse_share(report_or_confusion) -> tuple[float, int]:
    """(largest share of clips predicted as one class, that class) from a report or a confusion matrix."""
    cm = report_or_confusion["confusion"] if isinstance(report_or_confusion, dict) else report_or_confusion
    predicted = np.asarray(cm).sum(axis=0)            # column sums: clips predicted as each class
    if predicted.sum() == 0:
        raise ValueError("the confusion matrix is empty: no clips were evaluated")
    top = int(predicted.argmax())
    return float(predicted[top] / predicted.sum()), top


def is_collapsed(report_or_confusion, share: float = COLLAPSE_SHARE) -> bool:
    """Whether more than ``share`` of the clips go to one class (the model has stopped discriminating)."""
    return collapse_share(report_or_confusion)[0] > share


def collapse_warnings(reports: dict, share: float = COLLAPSE_SHARE) -> list[str]:
    """One sentence per collapsed model among ``{name: report}``; an empty list when none collapsed."""
    out = []
    for name, report in reports.items():
        frac, top = collapse_share(report)
        if frac > share:
            out.append(
                f"{name} has collapsed: {100 * frac:.0f} % of the test clips are predicted as "
                f"{SCENES[top]} (more than {100 * share:.0f} %); its accuracy says little about the method"
            )
    return out


# --- logits on disk ------------------------------------------------------------------------------------

_LOGIT_KEYS = ("logits", "y", "y_coarse", "filenames", "devices")


def export_logits(path: str | Path, logits: torch.Tensor, feature_set) -> Path:
    """Save logits ``[N, C]`` with the labels, file names and devices of their clips (atomic write).

    The file holds only tensors and lists of strings, so ``load_logits`` reads it with ``weights_only``.
    """
    logits = torch.as_tensor(logits).detach().float().cpu()
    if logits.ndim != 2 or logits.shape[0] != len(feature_set):
        raise ValueError(f"expected logits [N={len(feature_set)}, C], got shape {tuple(logits.shape)}")
    payload = {
        "logits": logits.contiguous(),
        "y": torch.as_tensor(feature_set.y).long().cpu(),
        "y_coarse": torch.as_tensor(feature_set.y_coarse).long().cpu(),
        "filenames": [str(f) for f in feature_set.filenames],
        "devices": [str(d) for d in feature_set.devices],
    }
    return storage.atomic_torch_save(payload, path)


def load_logits(path: str | Path) -> dict[str, Any]:
    """Read a file written by ``export_logits``: a dict with ``logits``, ``y``, ``y_coarse``,
    ``filenames``, ``devices``."""
    payload = storage.load_checkpoint(path)
    missing = [k for k in _LOGIT_KEYS if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise ValueError(f"{path} is not a logits file written by asclab.evaluate.export_logits "
                         f"(missing {', '.join(missing)}); re-export it")
    return payload


def nearest_centroid_accuracy(train_set, test_set) -> float:
    """Macro class accuracy of a nearest-class-centroid classifier on the mean log-mel spectrum.

    Each clip becomes the mean of its log-mel over time (one number per mel band); a test clip gets the class
    whose training mean is nearest (Euclidean). This is the "is the task trivial?" baseline: a clip's average
    spectrum carries the class only weakly, so it stays far below a CNN that sees the time-frequency
    patterns. Works on ``asclab.features.FeatureSet`` (or anything with ``x`` [N, 1, F, T] and ``y`` [N]).
    """
    def spectra(fs):
        x = np.asarray(fs.x, dtype=np.float32)
        return x.reshape(x.shape[0], -1, x.shape[-1]).mean(axis=-1), np.asarray(fs.y)   # [N, F], [N]

    xtr, ytr = spectra(train_set)
    xte, yte = spectra(test_set)
    classes = np.unique(ytr)
    centroids = np.stack([xtr[ytr == c].mean(axis=0) for c in classes])                 # [K, F]
    dist = ((xte ** 2).sum(1)[:, None] - 2 * xte @ centroids.T + (centroids ** 2).sum(1)[None, :])   # [N, K]
    pred = classes[dist.argmin(axis=1)]
    return float(np.mean([np.mean(pred[yte == c] == c) for c in np.unique(yte)]))
