"""The demo profile's training split for the benchmarks, or random tensors of the same size if it is missing."""
from __future__ import annotations

import torch

DEMO_TRAIN_CLIPS = 18 * 10 * 10   # demo profile: 18 segments per class x 10 classes x 10 one-second clips


def demo_train_set(limit: int | None = None):
    """``(FeatureSet, description)``: the demo split 100 (generated and cached on first use)."""
    from asclab.features import FeatureSet

    try:
        from asclab.experiment import Workspace

        train_set = Workspace.open("demo").train_set(100)
        source = "demo synthetic dataset, split 100"
    except Exception as e:  # noqa: BLE001 - any failure: say why and time random tensors instead
        n = DEMO_TRAIN_CLIPS
        g = torch.Generator().manual_seed(0)
        train_set = FeatureSet(
            x=torch.randn(n, 1, 256, 64, generator=g), y=torch.arange(n) % 10,
            y_coarse=torch.zeros(n, dtype=torch.long), devices=["a"] * n,
            filenames=[f"audio/{i}.wav" for i in range(n)], cities=["x"] * n, locations=["x"] * n)
        source = f"RANDOM tensors of the demo size, {n}x[1,256,64] ({type(e).__name__}: {e})"
    if limit:
        train_set = train_set.subset(slice(0, limit))
    return train_set, source
