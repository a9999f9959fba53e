"""Knowledge distillation: cached teacher logits, ensembles, and the KD loss (Hinton et al., 2015).

The seed system averages the logits of fine-tuned DyMN teachers and trains a CP-Mobile student from
scratch on a mix of the label loss and the KD loss. Teacher logits are computed once per teacher, split
and feature setting, in eval mode without augmentation, and read from disk in every later epoch.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from asclab import storage
from asclab.evaluate import predict

# Defaults, and why:
# - temperature 2: soft enough to expose the teachers' similarity structure (metro vs tram) without
#   flattening it into noise; the CP-Mobile KD recipes of the DCASE 2023/2024 top systems use 1-3.
# - kd_weight: 0.5 here (half the signal from each) and in the paper profile (the report gives none); 0.9 in
#   the synthetic profiles, whose pre-trained teachers lead the labels-only student by 10-20 points (see
#   asclab/profiles.py). CPJKU's DCASE 2023 CP-Mobile distillation gives the labels only 0.02.
DEFAULT_TEMPERATURE = 2.0
DEFAULT_KD_WEIGHT = 0.5


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
            temperature: float = DEFAULT_TEMPERATURE,
            teacher_probs: torch.Tensor | None = None) -> torch.Tensor:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch.

    The T² factor keeps the gradient scale independent of T. The teacher side is detached: gradients
    reach only the student. ``teacher_probs`` ([B, C], already softened) may replace ``teacher_logits``,
    e.g. for mixed targets.
    """
    if teacher_probs is None:
        teacher_probs = F.softmax(teacher_logits.detach().float() / temperature, dim=-1)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    return F.kl_div(log_student, teacher_probs.detach(), reduction="batchmean") * temperature ** 2


def soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The softened teacher distribution softmax(z / T): [N, C] -> [N, C]."""
    return F.softmax(teacher_logits.float() / temperature, dim=-1)


def ensemble_logits(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """An ensemble's logits: the mean of its teachers' logits ([K] x [N, C] -> [N, C])."""
    if len(logits) == 0:
        raise ValueError("an ensemble needs at least one teacher's logits")
    shapes = {tuple(t.shape) for t in logits}
    if len(shapes) != 1:
        raise ValueError(f"teacher logits must share one shape to be averaged, got {sorted(shapes)}")
    return torch.stack([t.float() for t in logits]).mean(dim=0)


def teacher_agreement(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Pairwise top-1 agreement between teachers: [K, K] fractions of clips with the same predicted class."""
    preds = torch.stack([t.argmax(dim=-1) for t in logits])  # [K, N]
    return (preds[:, None, :] == preds[None, :, :]).float().mean(dim=-1)


def make_kd_hook(teacher_logits: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE,
                 weight: float = DEFAULT_KD_WEIGHT) -> Callable:
    """The KD term that ``asclab.train.train_model`` adds to the label loss: ``extra_loss``.

    ``teacher_logits`` is [N, C], aligned with the training set. The trainer calls the returned
    ``kd_term(student_logits, batch_index, perm, lam)`` once per batch with the dataset indices of the batch
    and, when the batch was mixed, the partner permutation and λ; it returns ``weight`` x :func:`kd_loss`
    against the batch's soft labels. Notebook 05 writes the same function in a cell: keep the two alike
    (tests/test_experiment.py checks that they give the same loss and the same run key).
    """
    T, alpha = temperature, weight
    teacher_probs = soft_targets(teacher_logits, T)                          # [N, C], softened once

    def kd_term(student_logits, batch_index, perm=None, lam=1.0):
        target = teacher_probs[batch_index].to(student_logits.device)       # the batch's soft labels [B, C]
        if perm is not None:                                                 # mixed inputs, mixed targets
            target = lam * target + (1.0 - lam) * target[perm.to(target.device)]
        return alpha * kd_loss(student_logits, None, T, teacher_probs=target)

    return kd_term


# --- the teacher-logit cache --------------------------------------------------------------------------

def _tensor_digest(t: torch.Tensor) -> str:
    # a copy: .numpy() marks the storage it shares as not resizable, and QAT observers resize theirs
    return hashlib.sha256(t.detach().cpu().clone().numpy().tobytes()).hexdigest()[:16]


def state_digest(model: torch.nn.Module) -> str:
    """A digest of a model's weights and buffers: any change of the teacher changes its cache key."""
    h = hashlib.sha256()
    for name, value in model.state_dict().items():
        h.update(name.encode())
        if torch.is_tensor(value):
            h.update(_tensor_digest(value).encode())
    return h.hexdigest()[:16]


def logits_key(model: torch.nn.Module, feature_set, normalizer, feature_key: str = "") -> str:
    """The cache key: the teacher's weights, which clips, the feature settings and the normalizer."""
    files = hashlib.sha256("\n".join(feature_set.filenames).encode()).hexdigest()[:16]
    norm = storage.content_key(normalizer.state_dict()) if hasattr(normalizer, "state_dict") else ""
    feature_key = feature_key or getattr(feature_set, "key", "")   # the front-end settings and data behind x
    return storage.content_key("teacher-logits-v1", state_digest(model), files, feature_key, norm)


def cached_teacher_logits(model: torch.nn.Module, feature_set, normalizer, cache_dir: str | Path,
                          feature_key: str = "", batch_size: int = 64, device=None) -> torch.Tensor:
    """Teacher logits for ``feature_set`` ([N, 10]), computed once in eval mode and then read from disk."""
    key = logits_key(model, feature_set, normalizer, feature_key)
    path = Path(cache_dir) / f"logits-{key}.pt"
    if path.is_file():
        payload = storage.load_checkpoint(path)
        if payload.get("key") == key and payload["logits"].shape[0] == len(feature_set):
            return payload["logits"]
    logits = predict(model, feature_set, normalizer, batch_size=batch_size, device=device).float().cpu()
    storage.atomic_torch_save({"key": key, "logits": logits, "filenames": list(feature_set.filenames)}, path)
    return logits
