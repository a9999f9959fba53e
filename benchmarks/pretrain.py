"""Pre-training throughput: rendering the event corpus, and DyMN pre-training steps, on this machine.

    python benchmarks/pretrain.py                       # widths 0.1 and 0.2, 1 and 2 threads
    python benchmarks/pretrain.py --widths 0.2 --threads 1 --steps 10

Prints two tables: recordings per second of ``asclab.events.render_recording`` (one process; the corpus
builder runs two), and clips per second of one pre-training step (normalise, Mixup, frequency masking,
forward, multi-label BCE, backward, Adam) at batch 64. Multiply to size a run: e.g. 27,000 training clips x
6 epochs / (clips per second) is the wall time of ``asclab pretrain`` at that width.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from asclab import events
from asclab.augment import freq_mask
from asclab.models.dymn import DyMN


def render_rate(n: int) -> float:
    start = time.perf_counter()
    for index in range(n):
        events.render_recording(0, index)
    return n / (time.perf_counter() - start)


def step_rate(width: float, steps: int, batch: int) -> float:
    model = DyMN(width_mult=width, num_classes=len(events.EVENT_NAMES), temperature=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 256, 64)                       # [B, 1, F, T] normalised log-mels
    y = (torch.rand(batch, len(events.EVENT_NAMES)) < 0.07).float()

    def step():
        xb = freq_mask(0.7 * x + 0.3 * x.roll(1, 0), gen)
        loss = F.binary_cross_entropy_with_logits(model(xb), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()                                                     # warm-up: kernel plans
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--recordings", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(1)
    print(f"| corpus rendering | recordings/s (1 process) |\n|---|---|\n| render_recording | "
          f"{render_rate(args.recordings):.1f} |\n")
    print("| DyMN width | threads | pre-training clips/s (batch %d) |\n|---|---|---|" % args.batch)
    for width in args.widths:
        for threads in args.threads:
            torch.set_num_threads(threads)
            print(f"| {width} | {threads} | {step_rate(width, args.steps, args.batch):.0f} |")


if __name__ == "__main__":
    main()
