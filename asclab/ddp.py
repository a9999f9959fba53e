"""One run on several processes: what the training loop needs from ``torch.distributed`` under ``torchrun``.

``torchrun --nproc_per_node N -m asclab train-run ...`` starts N processes (ranks) with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; :func:`init_from_env` joins them into one process group (NCCL on
GPUs, gloo on the CPU) and gives every rank its own GPU. Outside torchrun every function here is the
single-process identity, so ``asclab.train`` calls them unconditionally.

How a global batch is split (the ``DistributedSampler`` rule with ``asclab.train``'s seed logic): every rank
draws the same seeded permutation and the same augmentation of the whole global batch, then trains on rows
``rank, rank + N, ...`` of it (:func:`rows`). DistributedDataParallel averages the gradients over the ranks;
each rank's loss is weighted by its share of the batch (:func:`reduce_loss`), so a step is the step of one
process on the whole batch. BatchNorm becomes ``SyncBatchNorm`` on GPUs (:func:`wrap`); PyTorch's
SyncBatchNorm has no CPU kernel, so on the CPU each rank normalises with the statistics of its own rows.
"""
from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["is_distributed", "rank", "world_size", "is_main", "init_from_env", "rows", "reduce_loss",
           "wrap", "barrier", "shutdown"]


def is_distributed() -> bool:
    """Whether this process is one rank of an initialised process group."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0, the one process that writes checkpoints, metrics and the run cache (always True alone)."""
    return rank() == 0


def init_from_env(device: str = "auto") -> str:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1; returns the device this rank trains on.

    ``device``: ``auto`` (CUDA when present), ``cpu`` or ``cuda``. On CUDA each rank takes GPU
    ``LOCAL_RANK`` and NCCL; on the CPU, gloo.
    """
    cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return "cuda" if cuda else "cpu"
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) here: start "
                             "torchrun with --nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(local)
    torch.distributed.init_process_group("nccl" if cuda else "gloo")
    return f"cuda:{torch.cuda.current_device()}" if cuda else "cpu"


def rows(n: int) -> slice:
    """This rank's rows of a global batch of ``n`` clips: ``rank, rank + world, ...`` (all of them alone)."""
    if n < world_size():
        raise ValueError(f"a batch of {n} clips cannot be split over {world_size()} processes: use a batch "
                         "size of at least the number of processes")
    return slice(rank(), None, world_size())


def reduce_loss(loss: torch.Tensor, share: float) -> tuple[torch.Tensor, float]:
    """``(loss to back-propagate, the global batch's loss value)`` for a rank holding ``share`` of the batch.

    DDP averages gradients over the ranks, so the loss is scaled by ``share * world``: the average is then
    the gradient of the whole batch's mean loss, even when the rows do not split evenly. The value is the
    same on every rank (a NaN on one rank stops them all, before any of them steps).
    """
    if not is_distributed():
        return loss, float(loss.item())
    value = torch.tensor([float(loss.item()) * share], dtype=torch.float64)
    torch.distributed.all_reduce(value)
    return loss * (share * world_size()), float(value.item())


def wrap(model: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """``(model, net)``: outside torchrun both are ``model``. Under torchrun ``model`` has SyncBatchNorm on
    GPUs (build the optimizer from it) and ``net`` is its DistributedDataParallel wrapper (train with it)."""
    if not is_distributed():
        return model, model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return model, nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier() -> None:
    if is_distributed():
        torch.distributed.barrier()


def shutdown() -> None:
    if is_distributed():
        torch.distributed.destroy_process_group()
