"""Hierarchical (coarse-to-fine) learning: the 10 scenes fall into 3 groups (indoor, outdoor, transportation).

Two ways to teach a model the grouping, as in the paper:

* **one branch (OB)**: keep one 10-way head; the coarse probabilities are the sums of the fine softmax
  probabilities within each group, and a second loss term asks them to predict the group.
* **two branches (TB)**: a shared trunk with two heads, a fine one (10) and a coarse one (3), each with its
  own cross-entropy (:class:`TwoBranch`).

Coarse targets always come from fine ones through ``asclab.data.FINE_TO_COARSE``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from asclab.data import COARSE, FINE_TO_COARSE

Output = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
Mode = Literal["none", "ob", "tb"]
MODES: tuple[str, ...] = ("none", "ob", "tb")
LOG_EPS = 1e-12  # floor for log(coarse probability)


def fine_logits(output: Output) -> torch.Tensor:
    """The fine logits ``[B, 10]`` of a model output, whether it is a tensor or a ``(fine, coarse)`` tuple."""
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


def coarse_targets(y_fine: torch.Tensor) -> torch.Tensor:
    """Fine class indices ``[B]`` -> coarse group indices ``[B]`` (``FINE_TO_COARSE``)."""
    table = torch.tensor(FINE_TO_COARSE, dtype=torch.long, device=y_fine.device)
    return table[y_fine]


def _group_matrix(n_fine: int, device, dtype) -> torch.Tensor:
    """``[n_fine, n_coarse]`` one-hot matrix: entry (f, g) is 1 when fine class f belongs to group g."""
    if n_fine != len(FINE_TO_COARSE):
        raise ValueError(f"fine logits have {n_fine} classes: expected {len(FINE_TO_COARSE)} "
                         "(asclab.data.SCENES) to group them into coarse classes")
    matrix = torch.zeros(n_fine, len(COARSE), device=device, dtype=dtype)
    matrix[torch.arange(n_fine), torch.tensor(FINE_TO_COARSE)] = 1.0
    return matrix


def coarse_probs(fine_logits: torch.Tensor) -> torch.Tensor:
    """Coarse probabilities ``[B, 3]``: the fine softmax probabilities summed within each group.

    ``[B, 10] -> softmax -> [B, 10] @ [10, 3] -> [B, 3]``; each row sums to 1.
    """
    probs = fine_logits.softmax(dim=1)
    return probs @ _group_matrix(fine_logits.shape[1], probs.device, probs.dtype)


def ob_loss(fine_logits: torch.Tensor, y_fine: torch.Tensor, y_coarse: torch.Tensor | None = None,
            weight: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """One-branch loss: ``CE(fine_logits, y_fine) + weight * NLL(log coarse_probs(fine_logits), y_coarse)``.

    The coarse probabilities are clamped at ``LOG_EPS`` before the log. ``y_coarse=None`` derives the coarse
    targets from ``y_fine``. ``reduction`` is passed to both terms ("mean" or "none").
    """
    fine_part, coarse_part = _ob_parts(fine_logits, y_fine, y_coarse, reduction)
    return fine_part + weight * coarse_part


def tb_loss(output: tuple[torch.Tensor, torch.Tensor], y_fine: torch.Tensor,
            y_coarse: torch.Tensor | None = None, weight: float = 1.0,
            reduction: str = "mean") -> torch.Tensor:
    """Two-branch loss: ``CE(fine, y_fine) + weight * CE(coarse, y_coarse)`` for
    ``output = (fine, coarse)``."""
    fine_part, coarse_part = _tb_parts(output, y_fine, y_coarse, reduction)
    return fine_part + weight * coarse_part


def _ob_parts(fine: torch.Tensor, y_fine, y_coarse, reduction):
    y_coarse = coarse_targets(y_fine) if y_coarse is None else y_coarse
    log_coarse = coarse_probs(fine).clamp_min(LOG_EPS).log()
    return (F.cross_entropy(fine, y_fine, reduction=reduction),
            F.nll_loss(log_coarse, y_coarse, reduction=reduction))


def _tb_parts(output, y_fine, y_coarse, reduction):
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise ValueError(
            "the two-branch loss expects the output (fine [B,10], coarse [B,3]) of a TwoBranch "
            f"model, got {type(output).__name__}: wrap the backbone in TwoBranch or use mode 'ob'"
        )
    fine, coarse = output
    y_coarse = coarse_targets(y_fine) if y_coarse is None else y_coarse
    return (F.cross_entropy(fine, y_fine, reduction=reduction),
            F.cross_entropy(coarse, y_coarse, reduction=reduction))


def _per_sample_parts(output: Output, y: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(fine, coarse)`` loss terms ``[B]`` for fine targets ``y``; coarse is 0 for mode
    'none'."""
    if mode == "none":
        fine = F.cross_entropy(fine_logits(output), y, reduction="none")
        return fine, torch.zeros_like(fine)
    if mode == "ob":
        return _ob_parts(fine_logits(output), y, None, "none")
    if mode == "tb":
        return _tb_parts(output, y, None, "none")
    raise ValueError(f"unknown hierarchy mode {mode!r}: expected one of {', '.join(MODES)}")


def hierarchical_loss(output: Output, y_a: torch.Tensor, y_b: torch.Tensor | None = None,
                      lam: float | torch.Tensor = 1.0, mode: Mode = "none", weight: float = 1.0,
                      parts: bool = False):
    """The training loss for mixed targets (mixup, FMix): ``lam * L(y_a) + (1 - lam) * L(y_b)``, averaged.

    ``L`` is cross-entropy on the fine logits (mode "none"), the one-branch loss (mode "ob") or the two-branch
    loss (mode "tb"), with coarse targets derived from the fine ones. ``output`` is the model output: a tensor
    for "none"/"ob" (a ``(fine, coarse)`` tuple is accepted and its coarse part ignored), a ``(fine, coarse)``
    tuple for "tb". ``lam`` is a float or a per-sample tensor ``[B]``; ``y_b=None`` means unmixed targets.

    With ``parts=True`` returns ``(loss, {"fine": float, "coarse": float, "total": float})``, where "fine" and
    "coarse" are the mixed, unweighted terms and ``total = fine + weight * coarse``, for logging.
    """
    fine_a, coarse_a = _per_sample_parts(output, y_a, mode)
    if y_b is None:
        fine, coarse = fine_a, coarse_a
    else:
        fine_b, coarse_b = _per_sample_parts(output, y_b, mode)
        if isinstance(lam, torch.Tensor):
            lam = lam.to(fine_a.dtype).reshape(-1) if lam.numel() > 1 else lam.to(fine_a.dtype).reshape(())
        fine = lam * fine_a + (1 - lam) * fine_b
        coarse = lam * coarse_a + (1 - lam) * coarse_b
    fine, coarse = fine.mean(), coarse.mean()
    loss = fine + weight * coarse
    if parts:
        return loss, {"fine": fine.item(), "coarse": coarse.item(), "total": loss.item()}
    return loss


class TwoBranch(nn.Module):
    """A shared trunk (the backbone, with its own fine head) plus a coarse head on the backbone's embedding.

    ``forward(x) -> (fine [B, n_fine], coarse [B, n_coarse])``. The coarse head is a Linear layer, or a small
    MLP (Linear, ReLU, Linear) when ``hidden`` is given. The backbone must provide
    ``forward_with_embedding(x) -> (logits, embedding)`` and ``embedding_dim`` (the asclab model contract).
    """

    def __init__(self, backbone: nn.Module, n_coarse: int = len(COARSE), hidden: int | None = None):
        super().__init__()
        if not hasattr(backbone, "forward_with_embedding") or not hasattr(backbone, "embedding_dim"):
            raise ValueError(
                f"{type(backbone).__name__} has no forward_with_embedding/embedding_dim: TwoBranch "
                "needs a backbone that follows the asclab model contract (CPMobile, DyMN)"
            )
        self.backbone = backbone
        self.embedding_dim = backbone.embedding_dim
        d = self.embedding_dim
        if hidden is None:
            self.coarse_head = nn.Linear(d, n_coarse)
        else:
            self.coarse_head = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_coarse))
        for module in self.coarse_head.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward_with_embedding(self, x: torch.Tensor):
        """``((fine [B, n_fine], coarse [B, n_coarse]), embedding [B, embedding_dim])``."""
        fine, embedding = self.backbone.forward_with_embedding(x)
        return (fine, self.coarse_head(embedding)), embedding

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_with_embedding(x)[0]
