"""Where one training epoch spends its time: data, augmentation, model; samples per second and peak memory.

    python benchmarks/train.py                      # one epoch of the demo profile's split 100, both models
    python benchmarks/train.py --models cpmobile    # one model
    python benchmarks/train.py --limit 480          # a quick look on the first 480 clips

Each model trains in its own subprocess so that its peak memory (``ru_maxrss``) is its own. The epoch is
``asclab.train.train_model`` exactly as the notebooks call it (batch size 48, augmentation on, a checkpoint
at the end), without a test set. Columns:

* ``samples/s``: training clips / wall time of the epoch (checkpoint included);
* ``data %``: indexing the in-memory log-mels and normalising the batch; the target is < 10 %;
* ``augment %``: Freq-MixStyle, frequency masking and Mixup/FMix (``AugmentConfig.apply``);
* ``model %``: forward, loss, backward and the optimizer step;
* ``other %``: the checkpoint, history and the one-off set-up;
* ``data MB`` / ``peak MB``: resident memory after loading the features and at the end of the epoch.

The data are the demo synthetic dataset (``asclab.synthetic``, generated if absent) through
``asclab.features.load_features``. If that is not available, random tensors of the same size stand in,
and the table says so: the timing of an epoch does not depend on the values.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import torch

from demo_data import DEMO_TRAIN_CLIPS, demo_train_set

MODELS = {
    "cpmobile": ("CP-Mobile 32/2.3/3", "no mixing (student recipe)"),
    "dymn": ("DyMN width 0.2", "FMix (teacher recipe)"),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def build(name: str):
    if name == "cpmobile":
        from asclab.models.cpmobile import CPMobile
        return CPMobile(32, 2.3, 3, 10)
    if name == "dymn":
        from asclab.models.dymn import DyMN
        return DyMN(width_mult=0.2, num_classes=10)
    raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")


def run_one(name: str, limit: int | None, batch_size: int) -> dict:
    """One epoch of one model, in this process; returns the row as a dict."""
    from asclab.augment import AugmentConfig
    from asclab.features import Normalizer
    from asclab.train import TrainConfig, train_model

    train_set, source = demo_train_set(limit)
    normalizer = Normalizer().fit(train_set.x)
    data_mb = peak_rss_mb()
    torch.manual_seed(0)
    model = build(name)
    augment = AugmentConfig(mix="fmix") if name == "dymn" else AugmentConfig(mix=None)
    cfg = TrainConfig(epochs=1, lr=1e-3, batch_size=batch_size, augment=augment, seed=0, progress=False,
                      device="cpu")
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        result = train_model(model, train_set, cfg, out_dir, normalizer)
        wall = time.perf_counter() - start
    t = result.timing
    return {
        "model": MODELS[name][0], "augment": MODELS[name][1], "clips": len(train_set), "seconds": wall,
        "samples_per_s": len(train_set) / wall,
        "data_pct": 100 * t["data"] / wall, "augment_pct": 100 * t["augment"] / wall,
        "model_pct": 100 * t["model"] / wall,
        "other_pct": 100 * (wall - t["data"] - t["augment"] - t["model"]) / wall,
        "data_mb": data_mb, "peak_mb": peak_rss_mb(), "source": source, "threads": torch.get_num_threads(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--limit", type=int, default=None, help="train on the first N clips only")
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--one", choices=list(MODELS), help=argparse.SUPPRESS)   # the subprocess entry point
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(run_one(args.one, args.limit, args.batch_size)))
        return 0

    rows = []
    for name in args.models:
        cmd = [sys.executable, __file__, "--one", name, "--batch-size", str(args.batch_size)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"data: {rows[0]['source']}; one epoch, batch size {args.batch_size}, CPU, "
          f"{rows[0]['threads']} torch threads")
    header = (f"{'model':<20} {'augmentation':<27} {'clips':>6} {'s':>7} {'samples/s':>10} {'data %':>7} "
              f"{'augment %':>9} {'model %':>8} {'other %':>8} {'data MB':>8} {'peak MB':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:<20} {r['augment']:<27} {r['clips']:>6} {r['seconds']:>7.1f} {r['samples_per_s']:>10.1f} "
              f"{r['data_pct']:>7.1f} {r['augment_pct']:>9.1f} {r['model_pct']:>8.1f} {r['other_pct']:>8.1f} "
              f"{r['data_mb']:>8.0f} {r['peak_mb']:>8.0f}")
    worst = max(r["data_pct"] for r in rows)
    print(f"data loading: at most {worst:.1f} % of an epoch (target < 10 %): {'met' if worst < 10 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
