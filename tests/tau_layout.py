"""A tiny dataset in the exact TAU22 development layout, for tests (and a benchmark fallback).

``make_tiny_tau22(root)`` writes ``root/audio/*.wav`` (1-s, mono, 44.1 kHz), a tab-separated ``meta.csv``
and the nested DCASE2024 split files in ``root/split_setup/`` (or ``root/``), just as the real download and
the baseline's split download leave them. Import it from a test with ``from tau_layout import make_tiny_tau22``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from asclab.data import SPLITS

CITIES = ("lisbon", "vienna")
TRAIN_DEVICES = ("a", "a", "b", "s1", "a", "c", "s2", "s3")   # cycled over a scene's training segments
TEST_DEVICES = ("a", "b", "s4")                                 # every test segment is recorded by each


@dataclass
class TinyTau22:
    """What ``make_tiny_tau22`` wrote."""
    root: Path
    meta: list[tuple[str, str, str, str]]                  # (filename, scene_label, identifier, source_label)
    splits: dict[str, list[str]] = field(default_factory=dict)  # "split5".."split100", "test" -> filenames

    def scene_of(self, filename: str) -> str:
        return next(row[1] for row in self.meta if row[0] == filename)


def write_tsv(path: Path, header: tuple[str, ...], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def tone(frequency: float, seed: int, sr: int = 44_100, seconds: float = 1.0, noise: float = 0.01) -> np.ndarray:
    """A sine plus a little noise, so that every mel bin varies a bit (float32, mono)."""
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(seed)
    x = 0.1 * np.sin(2 * math.pi * frequency * t) + noise * rng.standard_normal(t.shape)
    return x.astype(np.float32)


def make_tiny_tau22(root, scenes=("airport", "bus", "park"), train_segments: int = 5, test_segments: int = 1,
                    sub_segments: int = 2, split_dir: str = "split_setup", seed: int = 0,
                    noise: float = 0.01, subtype: str = "PCM_24") -> TinyTau22:
    """Write a tiny TAU22-layout dataset under ``root`` and return what it holds.

    Per scene: ``train_segments`` 10-s segments on cycled training devices, and ``test_segments`` segments
    recorded by each of TEST_DEVICES; every segment gives ``sub_segments`` 1-s clips. Split p holds the
    first ``max(1, int(train_segments * p / 100))`` training segments of every scene, so the splits nest
    (split5 <= split10 <= ... <= split100) and a segment never straddles two splits; test is disjoint.
    """
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    meta: list[tuple[str, str, str, str]] = []
    train_by_rank: dict[int, list[str]] = {}
    test: list[str] = []
    n = 0
    for s, scene in enumerate(scenes):
        for k in range(train_segments + test_segments):
            city = CITIES[k % len(CITIES)]
            location = str(1000 + 10 * s + k)
            segment = str(40000 + 100 * s + k)
            devices = (TRAIN_DEVICES[k % len(TRAIN_DEVICES)],) if k < train_segments else TEST_DEVICES
            for device in devices:
                for sub in range(sub_segments):
                    filename = f"audio/{scene}-{city}-{location}-{segment}-{sub}-{device}.wav"
                    frequency = 220.0 * (1 + s) + 35.0 * sub + 7.0 * k
                    sf.write(root / filename, tone(frequency, seed * 100_003 + n, noise=noise), 44_100,
                             subtype=subtype)
                    n += 1
                    meta.append((filename, scene, f"{city}-{location}", device))
                    if k < train_segments:
                        train_by_rank.setdefault(k, []).append(filename)
                    else:
                        test.append(filename)
    write_tsv(root / "meta.csv", ("filename", "scene_label", "identifier", "source_label"), meta)
    scene_of = {row[0]: row[1] for row in meta}
    out = root / split_dir if split_dir not in ("", ".") else root
    splits: dict[str, list[str]] = {}
    for p in SPLITS:
        keep = max(1, int(train_segments * p / 100))
        files = [f for rank in range(keep) for f in train_by_rank[rank]]
        splits[f"split{p}"] = files
        write_tsv(out / f"split{p}.csv", ("filename", "scene_label"), [(f, scene_of[f]) for f in files])
    splits["test"] = test
    write_tsv(out / "test.csv", ("filename", "scene_label"), [(f, scene_of[f]) for f in test])
    return TinyTau22(root=root, meta=meta, splits=splits)
