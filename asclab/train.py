"""The training loop: a plain PyTorch loop with checkpoints, resume, a NaN guard and a history.

One function, :func:`train_model`, trains every model of the workbook: DyMN teachers (fine-tuned or from
scratch), CP-Mobile students (with the distillation loss plugged in through ``extra_loss``) and the
baseline. Every epoch it

1. shuffles the training clips with a seeded ``torch.randperm`` (the log-mels are already in memory,
   so there is no DataLoader and there are no worker processes),
2. per batch: normalises, augments (``AugmentConfig.apply``), runs forward and backward, steps Adam
   and the learning-rate schedule,
3. evaluates on the test set (every ``eval_every`` epochs and always after the last one),
4. writes an atomic checkpoint and ``history.json``.

Reproducibility. Everything random is seeded from ``TrainConfig.seed``: the shuffling and the augmentation
draw from their own ``torch.Generator`` and dropout from torch's global generator. The checkpoint keeps all
of their states, so a run interrupted after epoch k and resumed ends with the same weights, bit for bit,
as a run that was never interrupted (on the CPU; cuDNN kernels on a GPU are not bit-exact).

Files in ``out_dir``: ``checkpoint.pt`` (while training; removed at the end unless ``keep_checkpoint``),
``history.json``, ``model.pt`` (the final state dict), ``metrics.json`` (the final test report of
``asclab.evaluate.evaluate``) and, for runs started by :func:`run_or_load`, ``run.json``.

Progress bars (tqdm) are shown when ``TrainConfig.progress`` is True, or, with ``progress=None``, when
standard output is a terminal. The environment variable ``ASCLAB_PROGRESS=0`` silences them whatever the
config says (the notebook runner sets it so that headless papermill runs do not fill notebooks with bars);
``ASCLAB_PROGRESS=1`` turns them on where ``progress`` is None.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from asclab import storage
from asclab.evaluate import evaluate, predict
from asclab.models.hierarchy import fine_logits, hierarchical_loss

__all__ = [
    "TrainConfig", "TrainResult", "NonFiniteLossError", "Batch", "train_model", "train_step", "run_or_load",
    "load_finished_run", "per_split_table", "resolve_device", "lr_factor", "progress_enabled",
]

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
MODEL = "model.pt"
METRICS = "metrics.json"
RUN_INFO = "run.json"
_CHECKPOINT_FORMAT = "asclab-train-v1"
# The augmentation generator gets its own seed so that changing the batch size (more or fewer shuffles)
# and switching augmentation on or off never shift each other's random streams.
_AUGMENT_SEED_OFFSET = 1_000_003


class NonFiniteLossError(RuntimeError, FloatingPointError):
    """The loss (or the weights) became NaN or infinite; the last good checkpoint is left untouched."""


# --- configuration -------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Everything that decides what a training run computes (and a few things that only decide how).

    Schedules (``schedule``), stepped once per batch:

    * ``"cosine"``: a linear warm-up from ``lr / warmup_steps`` to ``lr`` over ``warmup_epochs`` epochs, then
      a cosine decay from ``lr`` towards 0 over the remaining steps;
    * ``"constant"``: the same warm-up, then ``lr`` throughout.

    ``hierarchy`` picks the loss: ``"none"`` (cross-entropy), ``"ob"`` (one-branch hierarchical loss) or
    ``"tb"`` (two-branch, for a ``TwoBranch`` model); ``hierarchy_weight`` is the weight ``w`` of the coarse
    term. ``label_weight`` scales that whole label loss (distillation gives the rest of the weight to the
    KD term through ``extra_loss``).

    ``device``, ``progress`` and ``eval_every`` do not change the trained weights and are left out of
    :meth:`key`.
    """
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 48                 # the paper's batch size
    weight_decay: float = 0.0
    warmup_epochs: float = 0
    schedule: str = "cosine"             # "cosine" (warm-up + cosine decay) or "constant" (warm-up + flat)
    augment: Any = None                  # asclab.augment.AugmentConfig, or None for no augmentation
    hierarchy: str = "none"              # "none" | "ob" | "tb"
    hierarchy_weight: float = 1.0
    label_weight: float = 1.0
    seed: int = 0
    device: str = "auto"                 # "auto": CUDA when present, else the CPU
    amp: bool = True                     # mixed precision (bf16, else fp16) on CUDA; ignored on the CPU
    progress: bool | None = None         # None: bars only on a terminal (see the module docstring)
    max_grad_norm: float | None = None   # clip the gradient norm (None: no clipping)
    temperature_schedule: bool = False   # DyMN from scratch: anneal the Dy-Conv softmax temperature per epoch
    eval_every: int = 1                  # test every k epochs (0: after the last epoch only)

    def __post_init__(self):
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.hierarchy not in ("none", "ob", "tb"):
            raise ValueError(f"hierarchy must be 'none', 'ob' or 'tb', got {self.hierarchy!r}")
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2 (BatchNorm needs 2 clips), got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs must lie in 0..epochs ({self.epochs}), got {self.warmup_epochs}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 (0: evaluate after the last epoch only), got {self.eval_every}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON values (the augmentation recipe becomes a dict)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["augment"] = _augment_dict(self.augment)
        return d

    def key(self) -> str:
        """A short hash of every field that changes the trained weights: the cache key of a run."""
        d = self.to_dict()
        for name in ("device", "progress", "eval_every"):
            d.pop(name)
        return storage.content_key("train-config-v1", d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def _augment_dict(augment) -> Any:
    if augment is None:
        return None
    if dataclasses.is_dataclass(augment):
        return {"type": type(augment).__name__, **dataclasses.asdict(augment)}
    return repr(augment)


# --- small helpers ----------------------------------------------------------------------------------------

def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): CUDA when available, else the CPU; otherwise the named device, checked."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(name)!r} was requested but CUDA is not available here: "
                         "use device='auto' or 'cpu'")
    return device


def progress_enabled(progress: bool | None) -> bool:
    """Whether to draw tqdm bars (see the module docstring for the rules)."""
    env = os.environ.get("ASCLAB_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if progress is not None:
        return bool(progress)
    if env in ("1", "true", "yes", "on"):
        return True
    return sys.stdout.isatty()


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str = "cosine") -> float:
    """The learning rate of batch ``step`` (0-based) as a fraction of the peak ``lr``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps                     # linear warm-up, never exactly 0
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), NumPy's and Python's global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Start and end of every batch of an epoch. The last, smaller batch is kept, unless it would hold a
    single clip: BatchNorm cannot normalise one clip in training mode, so that clip waits for the next epoch."""
    slices = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if len(slices) > 1 and slices[-1][1] - slices[-1][0] < 2:
        slices.pop()
    return slices


def _find_temperature_module(model: nn.Module) -> nn.Module | None:
    # the outermost module with update_temperature: DyMN itself, or a wrapper that forwards to it
    for module in model.modules():
        if callable(getattr(module, "update_temperature", None)):
            return module
    return None


def _amp_setup(cfg: TrainConfig, device: torch.device):
    """(autocast dtype or None, GradScaler or None): bf16 where the GPU has it, else fp16 with loss scaling."""
    if not cfg.amp or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def _all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


# --- random states, as plain tensors and lists (checkpoints load with weights_only=True) -------------------

def _rng_state(shuffle_gen: torch.Generator, augment_gen: torch.Generator) -> dict[str, Any]:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "shuffle": shuffle_gen.get_state(),
        "augment": augment_gen.get_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": list(py_state), "gauss_next": gauss_next},
    }


def _set_rng_state(state: dict[str, Any], shuffle_gen: torch.Generator, augment_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    shuffle_gen.set_state(state["shuffle"])
    augment_gen.set_state(state["augment"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


# --- one batch ----------------------------------------------------------------------------------------------

@dataclass
class Batch:
    """One training batch after augmentation, on the training device.

    ``index`` holds the dataset indices of the clips (on the CPU), ``perm`` the mixing partners
    (None when the batch was not mixed) and ``lam`` the mixing weight of ``y_a``.
    """
    x: torch.Tensor          # [B, 1, F, T]
    y_a: torch.Tensor        # [B]
    y_b: torch.Tensor        # [B]
    lam: float | torch.Tensor
    perm: torch.Tensor | None
    index: torch.Tensor      # [B]


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
               extra_loss: Callable | None = None, scaler=None, amp_dtype=None,
               where: str = "") -> float:
    """Forward, loss, NaN check, backward and optimizer step for one batch; returns the loss value."""
    with torch.autocast(batch.x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        output = model(batch.x)                    # [B, 10], or ([B, 10], [B, 3]) for a TwoBranch model
    if amp_dtype is not None:                      # the losses in float32, whatever precision the model ran in
        output = tuple(o.float() for o in output) if isinstance(output, (tuple, list)) else output.float()
    loss = cfg.label_weight * hierarchical_loss(output, batch.y_a, batch.y_b, batch.lam,
                                                cfg.hierarchy, cfg.hierarchy_weight)
    if extra_loss is not None:
        loss = loss + extra_loss(fine_logits(output), batch.index, batch.perm, batch.lam)
    value = float(loss.item())
    if not math.isfinite(value):
        # stop before backward(): the weights are still those of the last good step
        raise NonFiniteLossError(f"the training loss became {value} at {where}")
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if cfg.max_grad_norm is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
    return value


# --- the result ------------------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What a run leaves behind.

    ``metrics`` is the final test report (``asclab.evaluate.evaluate``; empty without a test set) and
    ``best`` the epoch with the highest test macro accuracy among the evaluated ones (for plots only:
    picking it would be selecting on the test set, so the final model is the one that is saved).
    ``timing`` adds up seconds spent on data (indexing, normalising), augmentation, the model (forward,
    backward, step), evaluation and checkpoints.
    """
    model: nn.Module
    history: list[dict]
    metrics: dict
    best: dict | None
    out_dir: Path
    timing: dict[str, float] = field(default_factory=dict)
    resumed_from: int | None = None       # epochs already done when this call started (None: a fresh run)
    loaded: bool = False                  # True when run_or_load found the finished run on disk

    @property
    def final_metrics(self) -> dict:
        return self.metrics

    @property
    def final_train_loss(self) -> float | None:
        return self.history[-1]["train_loss"] if self.history else None


def _best(history: list[dict]) -> dict | None:
    evaluated = [h for h in history if h.get("test_macro_acc") is not None]
    if not evaluated:
        return None
    top = max(evaluated, key=lambda h: h["test_macro_acc"])
    return {"epoch": top["epoch"], "macro_acc": top["test_macro_acc"]}


# --- the loop ------------------------------------------------------------------------------------------------------

def train_model(model: nn.Module, train_set, cfg: TrainConfig, out_dir: str | Path, normalizer,
                test_set=None, extra_loss: Callable | None = None, resume: bool = True,
                run_key: str | None = None, keep_checkpoint: bool = False,
                on_epoch_start: Callable | None = None, device: str | None = None) -> TrainResult:
    """Train ``model`` on ``train_set`` and return a :class:`TrainResult` (see the module docstring).

    ``normalizer`` is applied to every batch (None: none). ``extra_loss(fine_logits, batch_index, perm, lam)``
    is added to the loss of every batch: ``batch_index`` [B] holds the dataset indices of the batch (on the
    CPU), ``perm`` [B] the mixing partners or None, ``lam`` the mixing weight (distillation plugs in here).
    With ``resume=True`` an existing ``checkpoint.pt`` in ``out_dir`` written with the same ``run_key``
    (default ``cfg.key()``) is continued; one written with another key is an error. ``resume=False`` starts
    afresh and overwrites it. ``on_epoch_start(epoch, model)`` (0-based epoch) runs before every epoch, e.g.
    to freeze quantization observers; ``device`` overrides ``cfg.device``. The call seeds torch's, NumPy's and Python's global generators with ``cfg.seed``
    (a resumed run restores their states instead).
    """
    n = len(train_set)
    if n < 2:
        raise ValueError(f"the training set has {n} clip(s): at least 2 are needed (BatchNorm)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_key = run_key or cfg.key()
    device = resolve_device(cfg.device if device is None else device)
    model.to(device)

    slices = _batch_slices(n, cfg.batch_size)
    total_steps = cfg.epochs * len(slices)
    warmup_steps = round(cfg.warmup_epochs * len(slices))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def schedule(step: int) -> float:
        return lr_factor(step, total_steps, warmup_steps, cfg.schedule)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    amp_dtype, scaler = _amp_setup(cfg, device)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    augment_gen = torch.Generator().manual_seed(cfg.seed + _AUGMENT_SEED_OFFSET)
    seed_everything(cfg.seed)

    history: list[dict] = []
    start_epoch, resumed_from = 0, None
    ckpt_path = out_dir / CHECKPOINT
    if resume and ckpt_path.is_file():
        state = storage.load_checkpoint(ckpt_path)
        if state.get("format") != _CHECKPOINT_FORMAT or state.get("key") != run_key:
            raise ValueError(
                f"{ckpt_path} belongs to another run (key {state.get('key')!r}, this run's is {run_key!r}): "
                "use another out_dir, delete the checkpoint, or pass resume=False to start afresh"
            )
        if state.get("n_train") != n:
            raise ValueError(f"{ckpt_path} was written for a training set of {state.get('n_train')} clips, "
                             f"this one has {n}: use another out_dir or pass resume=False")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], shuffle_gen, augment_gen)
        history = list(state["history"])
        start_epoch = resumed_from = int(state["epoch"])

    temperature_module = _find_temperature_module(model) if cfg.temperature_schedule else None
    timing = dict.fromkeys(("data", "augment", "model", "eval", "checkpoint"), 0.0)
    report: dict = {}
    saved_epoch = start_epoch             # the epoch of the checkpoint on disk (0: none yet)
    bar = None
    if progress_enabled(cfg.progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=total_steps, initial=start_epoch * len(slices), unit="batch", leave=False)

    try:
        for epoch in range(start_epoch, cfg.epochs):
            epoch_start = time.perf_counter()
            model.train()
            if temperature_module is not None:
                # EfficientAT anneals 30 -> 1 over 30 epochs; a short run reaches 1 half-way instead, so the
                # Dy-Conv attention can become input-dependent within the budget
                temperature_module.update_temperature(epoch, T0_slope=29.0 / max(1.0, cfg.epochs / 2))
            if on_epoch_start is not None:
                on_epoch_start(epoch, model)
            if bar is not None:
                bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
            order = torch.randperm(n, generator=shuffle_gen)
            losses = []
            for step, (start, end) in enumerate(slices):
                t0 = time.perf_counter()
                index = order[start:end]
                x, y = train_set.x[index], train_set.y[index]          # [B, 1, F, T], [B]
                if normalizer is not None:
                    x = normalizer(x)
                t1 = time.perf_counter()
                # augmentation runs on the CPU with a CPU generator: the same draws on every device
                if cfg.augment is not None:
                    x, y_a, y_b, lam, perm = cfg.augment.apply(x, y, augment_gen)
                else:
                    y_a, y_b, lam, perm = y, y, 1.0, None
                t2 = time.perf_counter()
                batch = Batch(x.to(device), y_a.to(device), y_b.to(device),
                              lam.to(device) if torch.is_tensor(lam) else float(lam), perm, index)
                where = f"epoch {epoch + 1}/{cfg.epochs}, step {step + 1}/{len(slices)}"
                lr = optimizer.param_groups[0]["lr"]
                losses.append(train_step(model, batch, optimizer, cfg, extra_loss, scaler, amp_dtype, where))
                scheduler.step()
                t3 = time.perf_counter()
                timing["data"] += t1 - t0
                timing["augment"] += t2 - t1
                timing["model"] += t3 - t2
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses[-1]:.3f}")

            # lr: the learning rate of the epoch's last batch
            record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "lr": lr}
            last = epoch + 1 == cfg.epochs
            if test_set is not None and (last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)):
                t0 = time.perf_counter()
                report = evaluate(predict(model, test_set, normalizer, device=device), test_set)
                record["test_macro_acc"] = report["macro_acc"]
                timing["eval"] += time.perf_counter() - t0
            record["seconds"] = time.perf_counter() - epoch_start
            history.append(record)

            if not _all_finite(model):
                raise NonFiniteLossError(f"the weights became NaN or infinite during epoch {epoch + 1}/{cfg.epochs}")
            t0 = time.perf_counter()
            storage.atomic_torch_save({
                "format": _CHECKPOINT_FORMAT, "key": run_key, "epoch": epoch + 1, "n_train": n,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else {},
                "history": history, "rng": _rng_state(shuffle_gen, augment_gen),
            }, ckpt_path)
            saved_epoch = epoch + 1
            storage.write_json(out_dir / HISTORY, history)
            timing["checkpoint"] += time.perf_counter() - t0
    except NonFiniteLossError as e:
        kept = f"the checkpoint of epoch {saved_epoch} is kept at {ckpt_path}" if saved_epoch \
            else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"{e}; {kept}. Try a lower learning rate, max_grad_norm, or check the features for NaN"
        ) from None
    finally:
        if bar is not None:
            bar.close()

    if test_set is not None and not report:
        # the run had already finished before this call (resumed from its last checkpoint)
        t0 = time.perf_counter()
        report = evaluate(predict(model, test_set, normalizer, device=device), test_set)
        timing["eval"] += time.perf_counter() - t0
    storage.write_json(out_dir / HISTORY, history)
    storage.atomic_torch_save(_cpu_state_dict(model), out_dir / MODEL)
    storage.write_json(out_dir / METRICS, report)
    if not keep_checkpoint:
        ckpt_path.unlink(missing_ok=True)
    return TrainResult(model, history, report, _best(history), out_dir, timing, resumed_from)


# --- reuse finished runs ------------------------------------------------------------------------------------------

def load_finished_run(model: nn.Module, out_dir: str | Path, key: str, device: str = "auto") -> TrainResult | None:
    """The finished run in ``out_dir`` if its ``run.json`` says it finished with ``key``; else None.

    The weights in ``model.pt`` are loaded into ``model`` (which must have the run's architecture).
    """
    out_dir = Path(out_dir)
    info_path, model_path, metrics_path = out_dir / RUN_INFO, out_dir / MODEL, out_dir / METRICS
    if not (info_path.is_file() and model_path.is_file() and metrics_path.is_file()):
        return None
    info = storage.read_json(info_path)
    if info.get("key") != key or info.get("status") != "finished":
        return None
    model.load_state_dict(storage.load_checkpoint(model_path))
    model.to(resolve_device(device))
    history = storage.read_json(out_dir / HISTORY) if (out_dir / HISTORY).is_file() else []
    return TrainResult(model, history, storage.read_json(metrics_path), _best(history), out_dir, loaded=True)


def run_or_load(model: nn.Module, train_set, cfg: TrainConfig, out_dir: str | Path, normalizer,
                key: str | None = None, test_set=None, extra_loss: Callable | None = None,
                description: str = "", resume: bool = True, on_epoch_start: Callable | None = None,
                device: str | None = None) -> TrainResult:
    """Load the finished run in ``out_dir`` when it was trained with ``key``; otherwise train it.

    ``key`` must name everything that decides the result: the config (``cfg.key()``, the default), and
    whatever the config cannot see, such as the model, the data and the teachers. Notebooks share runs
    through this: notebook 05 reuses the teachers that notebook 03 trained. An interrupted run with the
    same key resumes from its checkpoint; files of a run with another key are replaced.
    ``on_epoch_start`` and ``device`` are passed to :func:`train_model`.
    """
    key = key or cfg.key()
    out_dir = Path(out_dir)
    device = cfg.device if device is None else device
    finished = load_finished_run(model, out_dir, key, device)
    if finished is not None:
        return finished
    info_path = out_dir / RUN_INFO
    if info_path.is_file() and storage.read_json(info_path).get("key") != key:
        for name in (CHECKPOINT, HISTORY, MODEL, METRICS):
            (out_dir / name).unlink(missing_ok=True)
    info = {"key": key, "config_key": cfg.key(), "description": description, "config": cfg.to_dict(),
            "status": "running"}
    storage.write_json(info_path, info)
    result = train_model(model, train_set, cfg, out_dir, normalizer, test_set=test_set,
                         extra_loss=extra_loss, resume=resume, run_key=key, on_epoch_start=on_epoch_start,
                         device=device)
    storage.write_json(info_path, {**info, "status": "finished", "best": result.best,
                                   "macro_acc": result.metrics.get("macro_acc")})
    return result


# --- tables ------------------------------------------------------------------------------------------------------

def _row_fields(row) -> tuple[str, int, float]:
    if isinstance(row, dict):
        name = row.get("config", row.get("name"))
        return name, int(row["split"]), row["macro_acc"]
    return row.name, int(row.split), row.macro_acc


def per_split_table(rows: Iterable | dict):
    """Macro accuracy in % per configuration (rows) and training split (columns), as in the paper's Table 1.

    ``rows``: records with a configuration name (``config`` or ``name``), a ``split`` (5, 10, 25, 50 or 100)
    and ``macro_acc`` as a fraction (dicts, or objects such as ``asclab.experiment.Run``), or a mapping
    ``{config: {split: macro_acc}}``. Repeated (config, split) pairs, e.g. several seeds, are averaged.
    Columns are the splits present (``"5%"`` ...) and ``"avg"``, the plain mean over the splits (the DCASE
    ranking score); ``avg`` is NaN for a configuration that misses a split, so that it is never compared
    with a mean over other splits.
    """
    import pandas as pd

    if isinstance(rows, dict):
        records = [(name, int(split), acc) for name, by_split in rows.items() for split, acc in by_split.items()]
    else:
        records = [_row_fields(r) for r in rows]
    if not records:
        return pd.DataFrame(columns=["avg"])
    frame = pd.DataFrame(records, columns=["config", "split", "macro_acc"])
    frame["macro_acc"] = frame["macro_acc"].astype(float) * 100.0
    order = list(dict.fromkeys(frame["config"]))
    table = frame.pivot_table(index="config", columns="split", values="macro_acc", aggfunc="mean", dropna=False)
    table = table.reindex(index=order, columns=sorted(frame["split"].unique()))
    table["avg"] = table.mean(axis=1, skipna=False)
    table.columns = [f"{c}%" if c != "avg" else c for c in table.columns]
    table.index.name = "configuration"
    return table
