"""Throughput of the model families on CPU: forward (eval, no grad) and forward+backward (train mode,
cross-entropy on random labels, no optimizer step), in samples per second, on [48, 1, 256, 64] log-mels.

    python benchmarks/models.py                    # every model
    python benchmarks/models.py --only dymn        # names containing "dymn"
    python benchmarks/models.py --batch 16 --iters 3 --threads 2

The numbers size the training budgets of the profiles (a DyMN teacher's fwd+bwd speed sets how many
epochs the demo profile can afford). They depend on the machine and its load: compare rows from one run.
On a small machine shared with other jobs, ``--threads 1`` is often several times faster than the
default: torch's worker threads wait on each other when a core is taken away.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _cpmobile() -> nn.Module:
    from asclab.models.cpmobile import CPMobile
    return CPMobile(32, 2.3, 3, 10)


def _baseline() -> nn.Module:
    from asclab.models.cpmobile import baseline
    return baseline()


def _dymn(width: float) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from asclab.models.dymn import DyMN
        return DyMN(width_mult=width, num_classes=10)
    return build


# (name, builder, timed iterations): wide models get fewer iterations on a slow CPU
MODELS: list[tuple[str, Callable[[], nn.Module], int]] = [
    ("cp-mobile 32/2.3/3", _cpmobile, 5),
    ("dcase2024 baseline", _baseline, 5),
    ("dymn w=0.1", _dymn(0.1), 3),
    ("dymn w=0.2", _dymn(0.2), 3),
    ("dymn w=0.4", _dymn(0.4), 2),
    ("dymn w=1.0", _dymn(1.0), 1),
    ("dymn w=2.0", _dymn(2.0), 1),
]


def _logits(out) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out  # a TwoBranch model returns (fine, coarse)


def seconds_per_call(fn: Callable[[], None], iters: int, warmup: int = 1) -> float:
    for _ in range(warmup):  # the first call builds the conv kernels' plans
        fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def throughput(model: nn.Module, x: torch.Tensor, iters: int, warmup: int = 1) -> tuple[float, float]:
    """(forward samples/s, forward+backward samples/s) for the batch ``x``."""
    y = torch.randint(0, 10, (x.shape[0],))

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(_logits(model(x)), y).backward()

    model.eval()
    fwd = seconds_per_call(forward, iters, warmup)
    model.train()
    fwd_bwd = seconds_per_call(forward_backward, iters, warmup)
    return x.shape[0] / fwd, x.shape[0] / fwd_bwd


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--iters", type=int, default=None, help="timed iterations (default: per model)")
    parser.add_argument("--only", default="", help="run only models whose name contains this text")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, 256, 64)  # [B, 1, F, T]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {tuple(x.shape)}")
    header = f"{'model':<20} {'params':>12} {'fwd samples/s':>14} {'fwd+bwd samples/s':>18}"
    print(header)
    print("-" * len(header))
    for name, build, iters in MODELS:
        if args.only not in name:
            continue
        try:
            model = build()
        except (ImportError, AttributeError) as e:  # another family not written yet
            print(f"{name:<20} {'not available':>12}   ({type(e).__name__}: {e})")
            continue
        params = sum(p.numel() for p in model.parameters())
        fwd, fwd_bwd = throughput(model, x, args.iters or iters)
        print(f"{name:<20} {params:>12,} {fwd:>14.1f} {fwd_bwd:>18.1f}", flush=True)


if __name__ == "__main__":
    main()
