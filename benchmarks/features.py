"""How much the feature cache saves: log-mel clips per second computed from the wavs vs served from the cache.

    python benchmarks/features.py                 # the demo synthetic dataset (generated if absent)
    python benchmarks/features.py --root DIR      # any TAU22-layout folder, e.g. the real download

Rows: "cold" reads wavs and computes log-mels with no cache (``compute_logmels``); "cache build" is the first
``load_features`` call (fingerprint + every clip of meta.csv + the atomic write); "from cache" is a later
``load_features`` call (fingerprint + read), for every clip and for the training split, with the values touched
so that the read really happens. The cache goes to a temporary folder, so the run never reuses an old cache.
If ``asclab.synthetic`` is not available, the data are random-noise wavs in the TAU22 layout (tests/tau_layout.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from asclab import data, features


def demo_dataset(clips_if_fallback: int) -> tuple[Path, str]:
    """The demo synthetic dataset, or (if asclab.synthetic is missing) noise wavs in the real layout."""
    try:
        from asclab import synthetic
    except ImportError:
        synthetic = None
    if synthetic is not None:
        root = Path(synthetic.default_root("demo", 0))
        if not (root / "meta.csv").is_file():
            print(f"generating the demo synthetic dataset at {root} ...", flush=True)
            synthetic.synthesize(root, "demo", 0)
        return root, "demo synthetic dataset"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tau_layout import make_tiny_tau22

    per_segment, scenes = 10, data.SCENES
    test_segments = 1
    train_segments = max(1, round(clips_if_fallback / (len(scenes) * per_segment)) - 3 * test_segments)
    root = Path(tempfile.gettempdir()) / f"asclab-bench-noise-{train_segments}"
    if not (root / "meta.csv").is_file():
        print(f"asclab.synthetic is not available: writing noise wavs in the TAU22 layout at {root} ...", flush=True)
        make_tiny_tau22(root, scenes=scenes, train_segments=train_segments, test_segments=test_segments,
                        sub_segments=per_segment, noise=0.3)
    return root, "random-noise wavs in the TAU22 layout (asclab.synthetic not available)"


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="a TAU22-layout folder (default: the demo synthetic dataset)")
    parser.add_argument("--cold-clips", type=int, default=1000, help="clips for the no-cache row (default 1000)")
    parser.add_argument("--fallback-clips", type=int, default=2400, help="clips of the noise fallback dataset")
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the from-cache rows (median)")
    args = parser.parse_args(argv)

    root, what = (Path(args.root), "TAU22 folder") if args.root else demo_dataset(args.fallback_clips)
    ds = data.TAU22(root)
    n = len(ds)
    train = ds.split(100)
    print(f"dataset: {what}, {n} clips at {ds.root}; torch threads: {torch.get_num_threads()}")

    cold_paths = [ds.wav_path(c) for c in ds.clips[: args.cold_clips]]
    t_cold, _ = timed(lambda: features.compute_logmels(cold_paths))
    with tempfile.TemporaryDirectory(prefix="asclab-bench-cache-") as cache:
        t_build, _ = timed(lambda: features.load_features(ds, cache_dir=cache))
        t_fp, _ = timed(lambda: features.cache_key(ds), args.repeat)
        t_all, fs = timed(lambda: float(features.load_features(ds, cache_dir=cache).x.sum()), args.repeat)
        t_train, _ = timed(lambda: float(features.load_features(ds, train, cache_dir=cache).x.sum()), args.repeat)
        size_mb = sum(f.stat().st_size for f in Path(cache).rglob("*")) / 1e6

    rows = [
        ("cold: wav -> log-mel, no cache", len(cold_paths), t_cold),
        ("cache build (all clips, first load)", n, t_build),
        ("from cache: all clips", n, t_all),
        ("from cache: split100 (gather)", len(train), t_train),
    ]
    cold_rate = len(cold_paths) / t_cold
    print(f"\nfeature cache on the {what} ({n} clips, cache {size_mb:.0f} MB, fingerprint {1e3 * t_fp:.0f} ms)")
    print(f"{'step':<40}{'clips':>8}{'seconds':>10}{'clips/s':>12}{'vs cold':>10}")
    print("-" * 80)
    for name, count, seconds in rows:
        rate = count / seconds
        print(f"{name:<40}{count:>8}{seconds:>10.3f}{rate:>12.0f}{rate / cold_rate:>9.1f}x")
    speedup = min(n / t_all, len(train) / t_train) / cold_rate
    print(f"\nspeed-up from the cache: {speedup:.0f}x (slower of the two from-cache rows; target >= 20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
