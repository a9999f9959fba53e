"""The training loop: one epoch a student can read, and the run around it (checkpoints, resume, NaN guard).

:func:`train_epoch` is the loop itself. For every batch it takes the next clips of a seeded shuffle (the
log-mels are already in memory, so there is no DataLoader and there are no worker processes), normalises
them, augments them (``AugmentConfig.apply``) and hands them to :func:`train_step`: forward, loss (the
label loss, plus ``extra_loss`` such as distillation), backward, and a step of Adam and of the
learning-rate schedule.

:func:`train_model` trains every model of the workbook with it: DyMN teachers (fine-tuned or from scratch),
CP-Mobile students (with the distillation loss plugged in through ``extra_loss``) and the baseline. Around
each epoch it

1. sets the Dy-Conv temperature and calls ``on_epoch_start`` (e.g. to freeze quantization observers),
2. runs :func:`train_epoch`,
3. evaluates on the test set (every ``eval_every`` epochs and always after the last one),
4. stops if a weight became NaN or infinite, else writes an atomic checkpoint and ``history.json``.

Reproducibility. Everything random is seeded from ``TrainConfig.seed``: the shuffling and the augmentation
draw from their own ``torch.Generator`` and dropout from torch's global generator. The checkpoint keeps all
of their states, so a run interrupted after epoch k and resumed ends with the same weights, bit for bit,
as a run that was never interrupted (on the CPU; cuDNN kernels on a GPU are not bit-exact).

Files in ``out_dir``: ``checkpoint.pt`` (while training; removed at the end unless ``keep_checkpoint``),
``history.json``, ``model.pt`` (the final state dict) and ``metrics.json`` (the final test report of
``asclab.evaluate.evaluate``). The run cache, ``asclab.runs``, adds ``run.json``; it uses this module,
never the other way round.

Progress bars (tqdm) are shown when ``TrainConfig.progress`` is True, or, with ``progress=None``, when
standard output is a terminal. The environment variable ``ASCLAB_PROGRESS=0`` silences them whatever the
config says (the notebook runner sets it so that headless papermill runs do not fill notebooks with bars);
``ASCLAB_PROGRESS=1`` turns them on where ``progress`` is None.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from asclab import ddp, storage
from asclab.evaluate import evaluate, predict
from asclab.models.hierarchy import fine_logits, hierarchical_loss

__all__ = [
    "TrainConfig", "TrainResult", "NonFiniteLossError", "Batch", "Generators", "Stopwatch", "train_model",
    "train_epoch", "train_step", "best_epoch", "resolve_device", "lr_factor", "progress_enabled",
]

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
MODEL = "model.pt"
METRICS = "metrics.json"
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
            raise ValueError("batch_size must be an integer >= 2 (BatchNorm needs 2 clips), "
                             f"got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs must lie in 0..epochs ({self.epochs}), got {self.warmup_epochs}")
        if self.eval_every < 0:
            raise ValueError("eval_every must be >= 0 (0: evaluate after the last epoch only), "
                             f"got {self.eval_every}")
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

    def replace(self, **changes) -> TrainConfig:
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
    single clip: BatchNorm cannot normalise one clip in training mode, so that clip waits for the next
    epoch."""
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
    """(autocast dtype or None, GradScaler or None): bf16 where the GPU has it, else fp16 with loss
    scaling."""
    if not cfg.amp or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def _all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class Generators(NamedTuple):
    """The run's own random streams: one shuffles the clips, one draws the augmentations."""
    shuffle: torch.Generator
    augment: torch.Generator

    @classmethod
    def seeded(cls, seed: int) -> Generators:
        return cls(torch.Generator().manual_seed(seed),
                   torch.Generator().manual_seed(seed + _AUGMENT_SEED_OFFSET))


class Stopwatch:
    """Adds up wall-clock seconds per phase: ``with stopwatch("model"): ...``; totals in ``seconds``."""

    def __init__(self, *phases: str):
        self.seconds: dict[str, float] = dict.fromkeys(phases, 0.0)

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


# --- random states, as plain tensors and lists (checkpoints load with weights_only=True) -------------------

def _rng_state(generators: Generators) -> dict[str, Any]:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "shuffle": generators.shuffle.get_state(),
        "augment": generators.augment.get_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": list(py_state), "gauss_next": gauss_next},
    }


def _set_rng_state(state: dict[str, Any], generators: Generators) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generators.shuffle.set_state(state["shuffle"])
    generators.augment.set_state(state["augment"])
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
    share: float = 1.0       # this process's share of the global batch (1 alone; 1/N per rank under torchrun)


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
               extra_loss: Callable | None = None, scaler=None, amp_dtype=None,
               where: str = "") -> float:
    """Forward, loss, NaN check, backward and optimizer step for one batch; returns the loss value."""
    with torch.autocast(batch.x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        output = model(batch.x)                    # [B, 10], or ([B, 10], [B, 3]) for a TwoBranch model
    if amp_dtype is not None:                      # losses in float32, whatever precision the model ran in
        output = tuple(o.float() for o in output) if isinstance(output, (tuple, list)) else output.float()
    loss = cfg.label_weight * hierarchical_loss(output, batch.y_a, batch.y_b, batch.lam,
                                                cfg.hierarchy, cfg.hierarchy_weight)
    if extra_loss is not None:
        loss = loss + extra_loss(fine_logits(output), batch.index, batch.perm, batch.lam)
    loss, value = ddp.reduce_loss(loss, batch.share)   # under torchrun: the global batch's loss on every rank
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


# --- one epoch ----------------------------------------------------------------------------------------------

def _this_ranks_batch(x, y_a, y_b, lam, perm, index, device) -> Batch:
    """The batch on ``device``; under torchrun only this rank's rows of it ([B] -> [B / ranks]), without
    Mixup's partner permutation (partners may sit on another rank)."""
    lam = lam.to(device) if torch.is_tensor(lam) else float(lam)
    r = ddp.rows(len(index))
    perm = perm if ddp.world_size() == 1 else None
    return Batch(x[r].to(device), y_a[r].to(device), y_b[r].to(device), lam, perm, index[r],
                 share=len(index[r]) / len(index))


def train_epoch(model: nn.Module, train_set, normalizer, optimizer: torch.optim.Optimizer, scheduler,
                cfg: TrainConfig, generators: Generators, extra_loss: Callable | None = None, *,
                epoch: int = 0, scaler=None, amp_dtype=None, stopwatch: Stopwatch | None = None,
                bar=None) -> list[float]:
    """One pass over ``train_set`` in a new random order, with the model in training mode; returns the loss
    of every batch. ``extra_loss``, ``scaler`` and ``amp_dtype`` go to :func:`train_step`. Under torchrun
    every rank draws the same global batch and trains on its rows of it (:mod:`asclab.ddp`)."""
    stopwatch = stopwatch or Stopwatch()
    device = next(model.parameters()).device
    batches = _batch_slices(len(train_set), cfg.batch_size)
    order = torch.randperm(len(train_set), generator=generators.shuffle)
    losses = []
    for step, (start, end) in enumerate(batches):
        with stopwatch("data"):
            index = order[start:end]
            x, y = train_set.x[index], train_set.y[index]                  # [B, 1, F, T], [B]
            if normalizer is not None:
                x = normalizer(x)
        with stopwatch("augment"):     # on the CPU with a CPU generator: the same draws on every device
            if cfg.augment is not None:
                x, y_a, y_b, lam, perm = cfg.augment.apply(x, y, generators.augment)
            else:
                y_a, y_b, lam, perm = y, y, 1.0, None
        with stopwatch("model"):       # forward, loss, backward, Adam, then the lr of the next batch
            batch = _this_ranks_batch(x, y_a, y_b, lam, perm, index, device)
            where = f"epoch {epoch + 1}/{cfg.epochs}, step {step + 1}/{len(batches)}"
            losses.append(train_step(model, batch, optimizer, cfg, extra_loss, scaler, amp_dtype, where))
            scheduler.step()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses


# --- the result ---------------------------------------------------------------------------------------------

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
    loaded: bool = False                  # True when asclab.runs.run_or_load found the finished run on disk

    @property
    def final_metrics(self) -> dict:
        return self.metrics

    @property
    def final_train_loss(self) -> float | None:
        return self.history[-1]["train_loss"] if self.history else None


def best_epoch(history: list[dict]) -> dict | None:
    """The evaluated epoch with the highest test macro accuracy: ``{"epoch", "macro_acc"}``, or None."""
    evaluated = [h for h in history if h.get("test_macro_acc") is not None]
    if not evaluated:
        return None
    top = max(evaluated, key=lambda h: h["test_macro_acc"])
    return {"epoch": top["epoch"], "macro_acc": top["test_macro_acc"]}


# --- around the epochs: set-up, checkpoints, the NaN guard, evaluation, progress, final files ---------------

@dataclass
class TrainingState:
    """Everything a checkpoint holds, so that a resumed run continues bit for bit; ``epoch`` counts the
    epochs finished and saved."""
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    generators: Generators
    amp_dtype: torch.dtype | None = None
    scaler: Any = None
    history: list[dict] = field(default_factory=list)
    epoch: int = 0


def _start(model: nn.Module, cfg: TrainConfig, n_train: int, device: torch.device) -> TrainingState:
    """A fresh run: Adam, the per-batch learning-rate schedule, AMP, the seeded generators, global seeds."""
    steps_per_epoch = len(_batch_slices(n_train, cfg.batch_size))
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def schedule(step: int) -> float:
        return lr_factor(step, total_steps, warmup_steps, cfg.schedule)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    amp_dtype, scaler = _amp_setup(cfg, device)
    generators = Generators.seeded(cfg.seed)
    seed_everything(cfg.seed)
    return TrainingState(model, optimizer, scheduler, generators, amp_dtype, scaler)


def _last_batch_lr(scheduler: torch.optim.lr_scheduler.LambdaLR) -> float:
    """The learning rate the last batch was trained with (the scheduler has already moved on by one)."""
    return scheduler.base_lrs[0] * scheduler.lr_lambdas[0](scheduler.last_epoch - 1)


def _save_checkpoint(state: TrainingState, path: Path, run_key: str, n_train: int) -> None:
    storage.atomic_torch_save({
        "format": _CHECKPOINT_FORMAT, "key": run_key, "epoch": state.epoch, "n_train": n_train,
        "model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict() if state.scaler else {},
        "history": state.history, "rng": _rng_state(state.generators),
    }, path)


def _resume(state: TrainingState, path: Path, run_key: str, n_train: int) -> int:
    """Load the checkpoint at ``path`` into ``state``; returns the epochs it had finished."""
    saved = storage.load_checkpoint(path)
    if saved.get("format") != _CHECKPOINT_FORMAT or saved.get("key") != run_key:
        raise ValueError(
            f"{path} belongs to another run (key {saved.get('key')!r}, this run's is {run_key!r}): "
            "use another out_dir, delete the checkpoint, or pass resume=False to start afresh"
        )
    if saved.get("n_train") != n_train:
        raise ValueError(f"{path} was written for a training set of {saved.get('n_train')} clips, "
                         f"this one has {n_train}: use another out_dir or pass resume=False")
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    if state.scaler is not None and saved.get("scaler"):
        state.scaler.load_state_dict(saved["scaler"])
    _set_rng_state(saved["rng"], state.generators)
    state.history = list(saved["history"])
    state.epoch = int(saved["epoch"])
    return state.epoch


def _check_weights(model: nn.Module, epoch: int, cfg: TrainConfig) -> None:
    """The NaN guard's second half: a finite loss can still leave non-finite weights (e.g. an overflow in
    a parameter the loss does not use); then the epoch is not saved."""
    if not _all_finite(model):
        raise NonFiniteLossError(f"the weights became NaN or infinite during epoch {epoch + 1}/{cfg.epochs}")


@contextlib.contextmanager
def _nan_guard(state: TrainingState, checkpoint: Path) -> Iterator[None]:
    """Completes a NonFiniteLossError with where the last good checkpoint is, and what to try."""
    try:
        yield
    except NonFiniteLossError as e:
        kept = f"the checkpoint of epoch {state.epoch} is kept at {checkpoint}" if state.epoch \
            else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"{e}; {kept}. Try a lower learning rate, max_grad_norm, or check the features for NaN"
        ) from None


def _check_distributed(cfg: TrainConfig, extra_loss: Callable | None, n_train: int) -> None:
    """Under torchrun a rank sees only its rows of a batch: every batch must give each rank a row, and a KD
    term cannot mix teacher targets with Mixup's or FMix's partners, which may sit on another rank."""
    world = ddp.world_size()
    smallest = min(end - start for start, end in _batch_slices(n_train, cfg.batch_size))
    if smallest < world:
        raise ValueError(f"the last batch holds {smallest} clip(s), fewer than the {world} processes: start "
                         f"torchrun with at most {smallest} processes, or use another batch size")
    if world > 1 and extra_loss is not None and getattr(cfg.augment, "mix", None):
        raise ValueError(f"under torchrun, an extra loss (distillation) cannot be combined with "
                         f"{cfg.augment.mix}: train this run in one process, or without mixing")


def _evaluation_due(cfg: TrainConfig, epoch: int) -> bool:
    return epoch + 1 == cfg.epochs or bool(cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)


def _test_report(model, test_set, normalizer, device, stopwatch: Stopwatch) -> dict:
    with stopwatch("eval"):
        return evaluate(predict(model, test_set, normalizer, device=device), test_set)


def _before_epoch(model: nn.Module, cfg: TrainConfig, epoch: int, on_epoch_start: Callable | None,
                  bar) -> None:
    model.train()
    temperature_module = _find_temperature_module(model) if cfg.temperature_schedule else None
    if temperature_module is not None:
        # EfficientAT anneals 30 -> 1 over 30 epochs; a short run reaches 1 half-way instead, so the
        # Dy-Conv attention can become input-dependent within the budget
        temperature_module.update_temperature(epoch, T0_slope=29.0 / max(1.0, cfg.epochs / 2))
    if on_epoch_start is not None:
        on_epoch_start(epoch, model)
    if bar is not None:
        bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")


@contextlib.contextmanager
def _progress_bar(cfg: TrainConfig, n_train: int, start_epoch: int) -> Iterator[Any]:
    """A tqdm bar over every batch of the run (None when bars are off), closed however the run ends."""
    if not progress_enabled(cfg.progress) or not ddp.is_main():
        yield None
        return
    steps = len(_batch_slices(n_train, cfg.batch_size))
    bar = tqdm(total=cfg.epochs * steps, initial=start_epoch * steps, unit="batch", leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _write_final_files(out_dir: Path, model: nn.Module, history: list[dict], report: dict,
                       keep_checkpoint: bool) -> None:
    storage.write_json(out_dir / HISTORY, history)
    storage.atomic_torch_save(_cpu_state_dict(model), out_dir / MODEL)
    storage.write_json(out_dir / METRICS, report)
    if not keep_checkpoint:
        (out_dir / CHECKPOINT).unlink(missing_ok=True)


# --- the run ------------------------------------------------------------------------------------------------

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
    to freeze quantization observers; ``device`` overrides ``cfg.device``. The call seeds torch's, NumPy's
    and Python's global generators with ``cfg.seed`` (a resumed run restores their states instead).
    """
    n = len(train_set)
    if n < 2:
        raise ValueError(f"the training set has {n} clip(s): at least 2 are needed (BatchNorm)")
    out_dir, run_key = Path(out_dir), run_key or cfg.key()
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device if device is None else device)
    _check_distributed(cfg, extra_loss, n)
    model, net = ddp.wrap(model.to(device), device)   # net: DistributedDataParallel under torchrun
    test_set = test_set if ddp.is_main() else None    # rank 0 alone evaluates and writes (see asclab.ddp)
    state = _start(model, cfg, n, device)
    checkpoint = out_dir / CHECKPOINT
    resumed_from = _resume(state, checkpoint, run_key, n) if resume and checkpoint.is_file() else None
    stopwatch, report = Stopwatch("data", "augment", "model", "eval", "checkpoint"), {}
    with _progress_bar(cfg, n, state.epoch) as bar, _nan_guard(state, checkpoint):
        for epoch in range(state.epoch, cfg.epochs):
            started = time.perf_counter()
            _before_epoch(model, cfg, epoch, on_epoch_start, bar)
            losses = train_epoch(net, train_set, normalizer, state.optimizer, state.scheduler, cfg,
                                 state.generators, extra_loss, epoch=epoch, scaler=state.scaler,
                                 amp_dtype=state.amp_dtype, stopwatch=stopwatch, bar=bar)
            record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                      "lr": _last_batch_lr(state.scheduler)}
            if test_set is not None and _evaluation_due(cfg, epoch):
                report = _test_report(model, test_set, normalizer, device, stopwatch)
                record["test_macro_acc"] = report["macro_acc"]
            record["seconds"] = time.perf_counter() - started
            state.history.append(record)
            _check_weights(model, epoch, cfg)
            state.epoch = epoch + 1
            with stopwatch("checkpoint"):
                if ddp.is_main():
                    _save_checkpoint(state, checkpoint, run_key, n)
                    storage.write_json(out_dir / HISTORY, state.history)
    if test_set is not None and not report:        # the run had finished before this call
        report = _test_report(model, test_set, normalizer, device, stopwatch)
    if ddp.is_main():
        _write_final_files(out_dir, model, state.history, report, keep_checkpoint)
    return TrainResult(model, state.history, report, best_epoch(state.history), out_dir, stopwatch.seconds,
                       resumed_from)
