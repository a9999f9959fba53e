"""CPU latency of INT8 CP-Mobile against float CP-Mobile, at batch 1 and batch 48.

    python benchmarks/quantize.py                 # 1 torch thread, 30 runs at batch 1, 10 at batch 48
    python benchmarks/quantize.py --threads 2
    python benchmarks/quantize.py --runs-1 100 --runs-48 20

Three models of the same CP-Mobile 32/2.3/3 (random weights: latency does not depend on the values):

* **float**: the float32 model in eval mode (BatchNorm not folded, as the notebooks evaluate it);
* **INT8 (PTQ)**: ``asclab.quantize.ptq`` calibrated on a few batches of random log-mel-sized clips;
* **INT8 (QAT)**: ``asclab.quantize.prepare_qat``, a few training-mode forward passes so that the observers
  see data, ``freeze``, ``convert`` (the path of notebook 06, without the training).

Each cell is the median wall time of one forward pass under ``torch.no_grad()`` over the repeated runs,
after warm-up runs; the models take turns run by run, so that load from other processes hits them alike.
``p10``/``p90`` show the spread, ``speed-up`` is float median / INT8 median.
Engine: ``torch.backends.quantized.engine = "x86"`` (FBGEMM/oneDNN kernels), as ``asclab.quantize`` sets it.
Target: INT8 at least 1.5x faster than float at batch 48.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

TARGET_SPEEDUP = 1.5


def random_set(n: int, seed: int = 0):
    from asclab.features import FeatureSet

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    return FeatureSet(x=torch.randn(n, 1, 256, 64, generator=g) * 2.0 - 4.0, y=y,
                      y_coarse=torch.zeros(n, dtype=torch.long), devices=["a"] * n,
                      filenames=[f"audio/{i}.wav" for i in range(n)], cities=["x"] * n, locations=["x"] * n)


def latencies(models: dict, x: torch.Tensor, runs: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per forward pass of every model, ``runs`` times after ``warmup`` untimed passes.

    The models take turns run by run, so that a burst of load from other processes hits all of them alike.
    """
    times = {name: [] for name in models}
    with torch.no_grad():
        for i in range(warmup + runs):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    times[name].append(elapsed)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def build_models(calibration_batches: int):
    from asclab import quantize
    from asclab.features import Normalizer
    from asclab.models.cpmobile import CPMobile

    torch.manual_seed(0)
    float_model = CPMobile(32, 2.3, 3, 10).eval()
    calibration = random_set(48 * calibration_batches)
    normalizer = Normalizer().fit(calibration.x)
    ptq_int8 = quantize.ptq(float_model, calibration, normalizer, n_batches=calibration_batches, batch_size=48)
    qat = quantize.prepare_qat(float_model)
    with torch.no_grad(), quantize.quiet():
        for chunk in calibration.x.split(48):
            qat(normalizer(chunk))                     # observers learn their ranges; BN statistics move too
    qat_int8 = quantize.convert(quantize.freeze(qat))
    return {"float": float_model, "INT8 (PTQ)": ptq_int8, "INT8 (QAT)": qat_int8}, normalizer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--runs-1", type=int, default=30, help="timed runs at batch 1")
    parser.add_argument("--runs-48", type=int, default=10, help="timed runs at batch 48")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--calibration-batches", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from asclab import complexity, quantize

    models, normalizer = build_models(args.calibration_batches)
    inputs = {1: normalizer(random_set(1, seed=1).x), 48: normalizer(random_set(48, seed=2).x)}
    runs = {1: args.runs_1, 48: args.runs_48}

    results: dict[tuple[str, int], list[float]] = {}
    with quantize.quiet():
        for batch, x in inputs.items():
            for name, t in latencies(models, x, runs[batch], args.warmup).items():
                results[name, batch] = t

    print(f"CP-Mobile 32/2.3/3 inference latency, float32 vs INT8 -- CPU, {torch.get_num_threads()} torch thread(s), "
          f"quantized engine {torch.backends.quantized.engine}, torch {torch.__version__}")
    print(f"median over {args.runs_1} runs at batch 1 and {args.runs_48} at batch 48, after {args.warmup} warm-up runs; "
          f"random weights and inputs")
    header = (f"{'model':<12} {'param bytes':>12} {'batch':>6} {'median ms':>10} {'p10 ms':>8} {'p90 ms':>8} "
              f"{'ms/clip':>8} {'speed-up':>9}")
    print(header)
    print("-" * len(header))
    speedups = {}
    for batch in inputs:
        float_median = statistics.median(results["float", batch])
        for name, model in models.items():
            t = results[name, batch]
            median = statistics.median(t)
            speedup = float_median / median
            speedups[name, batch] = speedup
            print(f"{name:<12} {complexity.param_bytes(model):>12,} {batch:>6} {1e3 * median:>10.2f} "
                  f"{1e3 * percentile(t, 0.1):>8.2f} {1e3 * percentile(t, 0.9):>8.2f} {1e3 * median / batch:>8.2f} "
                  f"{speedup:>8.2f}x")
    worst = min(speedups[name, 48] for name in models if name != "float")
    print(f"target: INT8 >= {TARGET_SPEEDUP}x faster than float at batch 48: slowest INT8 is {worst:.2f}x: "
          f"{'met' if worst >= TARGET_SPEEDUP else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
