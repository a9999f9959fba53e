"""What caching the teacher logits saves: a distillation epoch with cached logits against teachers run on the fly.

    python benchmarks/distill.py                  # the demo profile's split 100 (1800 clips), 1 torch thread
    python benchmarks/distill.py --limit 480      # a quick look on the first 480 clips
    python benchmarks/distill.py --threads 2

The student is CP-Mobile 32/2.3/3, trained for one epoch by ``asclab.train.train_model`` as notebook 05 does
(batch size 48, the student recipe's augmentation without mixing, label weight 1 - KD weight, no test set).
The KD term reaches the loop through ``extra_loss`` in two ways:

* **cached**: ``asclab.distill.make_kd_hook`` over a precomputed ``[N, 10]`` tensor: the ensemble of the
  teachers' logits, computed once by ``asclab.distill.cached_teacher_logits``;
* **on the fly**: the hook normalises the batch's clips and runs the teachers (DyMN width 0.2 and 0.4, the
  demo profile's stand-ins for the paper's model1/model2) in eval mode without gradients, averages their
  logits and applies the same KD loss. Both variants see the same clips, so their KD targets agree.

Columns: ``epoch s`` (wall time of ``train_model``), ``KD hook s`` (time inside ``extra_loss``, i.e. the
cost of the teacher side), ``hook %`` and ``clips/s``. Below the table: the one-off cost of computing and
caching the teachers' logits, reading them back, and the time over a run of ``--epochs`` epochs.

Teacher weights are random: a forward pass costs the same whatever the weights. The data are the demo
synthetic dataset (``asclab.experiment.Workspace.open("demo")``, generated on first use); if that fails,
random tensors of the demo size stand in and the title says so.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch

from demo_data import DEMO_TRAIN_CLIPS, demo_train_set

TEACHER_WIDTHS = (0.2, 0.4)


def timed(hook):
    """Wrap an extra_loss hook so that the seconds spent inside it add up in ``wrapper.seconds``."""
    def wrapper(fine_logits, batch_index, perm=None, lam=1.0):
        start = time.perf_counter()
        loss = hook(fine_logits, batch_index, perm, lam)
        wrapper.seconds += time.perf_counter() - start
        return loss

    wrapper.seconds = 0.0
    return wrapper


def teachers_on_the_fly_hook(teachers, train_set, normalizer, temperature: float, weight: float):
    """The KD hook without a cache: every batch runs every teacher (eval mode, no gradients)."""
    from asclab.distill import ensemble_logits, kd_loss, soft_targets

    def extra_loss(fine_logits, batch_index, perm=None, lam=1.0):
        with torch.no_grad():
            x = normalizer(train_set.x[batch_index])                        # [B, 1, F, T]
            logits = ensemble_logits([t(x) for t in teachers])              # [B, 10]
        target = soft_targets(logits, temperature)
        if perm is not None:
            target = lam * target + (1.0 - lam) * target[perm]
        return weight * kd_loss(fine_logits, None, temperature, teacher_probs=target)

    return extra_loss


def one_epoch(train_set, normalizer, cfg, hook) -> tuple[float, float]:
    """(wall seconds of one train_model epoch of a fresh CP-Mobile, seconds inside the hook)."""
    from asclab.models.cpmobile import CPMobile
    from asclab.train import train_model

    torch.manual_seed(0)
    student = CPMobile(32, 2.3, 3, 10)
    hook = timed(hook)
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        train_model(student, train_set, cfg, out_dir, normalizer, extra_loss=hook)
        wall = time.perf_counter() - start
    return wall, hook.seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady under load)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N clips only")
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=10, help="run length for the totals (demo profile: 10)")
    parser.add_argument("--teacher-batch-size", type=int, default=256,
                        help="batch size of the one-off teacher pass (cached_teacher_logits' default: 256)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from asclab import profiles
    from asclab.augment import AugmentConfig
    from asclab.distill import cached_teacher_logits, ensemble_logits, make_kd_hook
    from asclab.features import Normalizer
    from asclab.models.dymn import DyMN
    from asclab.train import TrainConfig

    demo = profiles.get("demo")
    temperature, weight = demo.kd_temperature, demo.kd_weight
    train_set, source = demo_train_set(args.limit)
    normalizer = Normalizer().fit(train_set.x)
    teachers = []
    for width in TEACHER_WIDTHS:
        torch.manual_seed(1)
        teachers.append(DyMN(width_mult=width, num_classes=10).eval())

    # the one-off cost: every teacher over every clip, written to the cache; then a read from the cache
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        per_teacher = [cached_teacher_logits(t, train_set, normalizer, cache_dir, batch_size=args.teacher_batch_size)
                       for t in teachers]
        compute_s = time.perf_counter() - start
        start = time.perf_counter()
        again = [cached_teacher_logits(t, train_set, normalizer, cache_dir) for t in teachers]
        read_s = time.perf_counter() - start
    assert all(torch.equal(a, b) for a, b in zip(per_teacher, again))
    teacher_logits = ensemble_logits(per_teacher)                          # [N, 10]

    # both hooks give the same targets: compare on the first batch
    first = torch.arange(min(args.batch_size, len(train_set)))
    with torch.no_grad():
        live = ensemble_logits([t(normalizer(train_set.x[first])) for t in teachers])
    target_gap = (live - teacher_logits[first]).abs().max().item()

    n = len(train_set)
    cfg = TrainConfig(epochs=1, lr=demo.student_lr, batch_size=args.batch_size, augment=AugmentConfig(mix=None),
                      label_weight=1.0 - weight, seed=0, progress=False, device="cpu", eval_every=0)
    cached_hook = make_kd_hook(teacher_logits, temperature, weight)
    live_hook = teachers_on_the_fly_hook(teachers, train_set, normalizer, temperature, weight)
    # warm-up (untimed): the first steps of a process pay for allocations and kernel selection
    warm = train_set.subset(slice(0, min(2 * args.batch_size, n)))
    for hook in (cached_hook, live_hook):
        one_epoch(warm, normalizer, cfg, hook)       # warm is a prefix: its indices are valid for both hooks
    cached_s, cached_hook_s = one_epoch(train_set, normalizer, cfg, cached_hook)
    live_s, live_hook_s = one_epoch(train_set, normalizer, cfg, live_hook)

    print(f"Distillation epoch: cached teacher logits vs teachers on the fly -- data: {source}")
    print(f"{n} clips, CP-Mobile 32/2.3/3 student, batch size {args.batch_size}, CPU, {torch.get_num_threads()} "
          f"torch thread(s); teachers DyMN width {' + '.join(str(w) for w in TEACHER_WIDTHS)} (ensemble mean), "
          f"T={temperature:g}, KD weight {weight:g}")
    header = f"{'KD targets':<44} {'epoch s':>8} {'KD hook s':>10} {'hook %':>7} {'clips/s':>8}"
    print(header)
    print("-" * len(header))
    for name, wall, hook_s in (("cached teacher logits ([N, 10] tensor)", cached_s, cached_hook_s),
                               ("teachers on the fly (eval, no_grad)", live_s, live_hook_s)):
        print(f"{name:<44} {wall:>8.1f} {hook_s:>10.2f} {100 * hook_s / wall:>7.1f} {n / wall:>8.1f}")
    print()
    print(f"one-off: compute and cache both teachers' logits   {compute_s:8.1f} s  ({n / compute_s:.0f} clips/s, "
          f"batch {args.teacher_batch_size})")
    print(f"         read them back from the cache             {read_s:8.3f} s")
    print(f"         max |cached - on-the-fly| teacher logit    {target_gap:8.2e}  (same KD targets)")
    cached_total = compute_s + args.epochs * cached_s
    live_total = args.epochs * live_s
    print(f"over {args.epochs} epochs: cached {cached_total:.0f} s (one-off included), on the fly {live_total:.0f} s: "
          f"{live_total / cached_total:.2f}x faster with the cache")
    saved = live_s - cached_s
    met = cached_hook_s < 0.05 * max(live_hook_s, 1e-9)
    print(f"target: caching removes the teachers' cost from every epoch after the first "
          f"({live_hook_s:.1f} s of teacher time per epoch on the fly, {cached_hook_s:.2f} s cached; "
          f"{saved:.1f} s saved per epoch): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
