"""A tiny in-memory Workspace (no audio, no feature cache) and a counter of real training runs, shared by the
tests of run keys, the run cache and the reproduction. Import with ``from workspaces import ...``."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from asclab import profiles, runs
from asclab.data import FINE_TO_COARSE
from asclab.experiment import Workspace
from asclab.features import FeatureSet

N_TRAIN, N_TEST = 24, 10


class InMemoryDataset:
    """What Workspace needs of a dataset: a root with meta.csv, and the clips of each split."""

    def __init__(self, root: Path, filenames: list[str]):
        self.root = root
        (root / "meta.csv").write_text("filename\n" + "\n".join(filenames) + "\n")
        self._splits = {"train": filenames[:N_TRAIN], "test": filenames[N_TRAIN:]}

    def split(self, name):
        return [SimpleNamespace(filename=f) for f in self._splits["test" if name == "test" else "train"]]


def tiny_workspace(home: Path, profile: profiles.Profile, seed: int = 0) -> Workspace:
    """N_TRAIN + N_TEST random [1, 32, 16] log-mels, each class lifting one mel bin (so models can learn)."""
    n = N_TRAIN + N_TEST
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 32, 16, generator=torch.Generator().manual_seed(0))     # [N, 1, F, T]
    x[torch.arange(n), 0, 2 * y] += 2.0
    filenames = [f"audio/clip-{i}.wav" for i in range(n)]
    features = FeatureSet(x=x, y=y, y_coarse=torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()]),
                          devices=["a"] * n, filenames=filenames, cities=["lisbon"] * n, locations=["l"] * n)
    root = home / "data"
    root.mkdir(parents=True, exist_ok=True)
    return Workspace(profile, InMemoryDataset(root, filenames), features, seed=seed, home=home)


def count_training(monkeypatch) -> list[str]:
    """The folder names of the runs that ``run_or_load`` really trains (training still runs)."""
    calls, real = [], runs.train_model

    def counted(*args, **kwargs):
        calls.append(Path(args[3]).name)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "train_model", counted)
    return calls
