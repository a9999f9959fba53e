"""Pre-training a DyMN on the synthetic event corpus, the way EfficientAT pre-trains on AudioSet.

``pretrain(cfg, out_dir)`` trains ``DyMN(width, num_classes=len(events))`` with multi-label binary
cross-entropy on the event labels of ``asclab.events``: Mixup on inputs and targets, frequency masking, Adam
with a warm-up and cosine decay, and the Dy-Conv temperature annealed from 30 to 1 over the first part of the
run (EfficientAT trains its DyMNs down to temperature 1, which is where fine-tuning starts). It checkpoints
after every epoch and resumes from the last one; at the end it recomputes the BatchNorm statistics
(``torch.optim.swa_utils.update_bn``), measures the held-out mAP and writes

* ``<name>.pt``: the state dict in EfficientAT's layout (``classifier.5`` has one output per event), fp16;
* ``<name>.json``: the model card (recipe, corpus seed, steps, wall time, held-out mAP, sha256 of the .pt).

``asclab pretrain --width 0.2`` runs it from the command line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from asclab import storage
from asclab.augment import freq_mask, sample_beta
from asclab.features import Normalizer
from asclab.models import pretrained
from asclab.models.dymn import DyMN
from asclab.synth import events
from asclab.train import lr_factor, progress_enabled, resolve_device

CHECKPOINT_FORMAT = "asclab-pretrain-v1"


@dataclass(frozen=True)
class PretrainConfig:
    """The pre-training recipe; every field goes into the model card."""
    width: float = 0.2
    corpus_seed: int = 1                 # the corpus's seed (scene datasets use their own seeds: no overlap)
    recordings: int = 3000               # 10-s recordings, ten 1-s clips each
    eval_share: float = 0.1              # recordings held out for the mAP
    epochs: int = 6
    batch_size: int = 64
    lr: float = 2e-3
    warmup_epochs: float = 0.5
    mixup_alpha: float = 0.3             # EfficientAT's AudioSet recipe mixes inputs and targets
    freq_mask_width: int = 32
    # Dy-Conv temperature reaches 1 after this many epochs (0: stays at 1)
    temperature_epochs: float = 3.0
    seed: int = 0
    # continue from this pre-trained checkpoint (a .pt path) instead of random
    init: str | None = None

    def name(self) -> str:
        """``dymn02_synth`` for width 0.2: EfficientAT's naming with the corpus in place of ``as``."""
        return f"dymn{round(self.width * 10):02d}_synth"


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Macro mAP: average precision per class (classes with at least one positive), then the mean."""
    scores, targets = scores.float(), targets.bool()
    aps = []
    for c in range(scores.shape[1]):
        t = targets[:, c]
        if t.sum() == 0:
            continue
        order = torch.argsort(scores[:, c], descending=True)
        hits = t[order].float()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append(float((precision * hits).sum() / hits.sum()))
    return float(np.mean(aps)) if aps else float("nan")


def _set_temperature(model: DyMN, epoch: float, cfg: PretrainConfig) -> float:
    """Anneal the Dy-Conv temperature linearly from 30 to 1 over ``temperature_epochs`` (0: always 1)."""
    t = 1.0 if cfg.temperature_epochs <= 0 else max(1.0, 30.0 - 29.0 * epoch / cfg.temperature_epochs)
    model.set_temperature(t)
    return t


def _predict(
    model: nn.Module, x: torch.Tensor, norm: Normalizer, device, batch_size: int = 256
) -> torch.Tensor:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(torch.sigmoid(model(norm(x[i:i + batch_size].float()).to(device))).cpu())
    return torch.cat(out)


def _recalibrate_bn(model: nn.Module, x: torch.Tensor, norm: Normalizer, device, batches: int = 60,
                    batch_size: int = 64) -> None:
    """Recompute the BatchNorm running statistics of the final weights over training batches."""
    gen = torch.Generator().manual_seed(0)
    index = torch.randperm(len(x), generator=gen)[:batches * batch_size]
    loader = [norm(x[index[i:i + batch_size]].float()).to(device) for i in range(0, len(index), batch_size)]
    torch.optim.swa_utils.update_bn(loader, model)


def _epoch(model, x, y, norm, optimizer, scheduler, gen, cfg, device, bar) -> float:
    """One pass over the training clips: normalise, Mixup and frequency masking, BCE, Adam step."""
    model.train()
    order = torch.randperm(len(x), generator=gen)
    losses = []
    for start in range(0, len(x) - cfg.batch_size + 1, cfg.batch_size):    # the last partial batch is dropped
        index = order[start:start + cfg.batch_size]
        xb, yb = norm(x[index].float()), y[index].float()                  # [B, 1, 256, 64], [B, E]
        lam = torch.from_numpy(sample_beta(cfg.mixup_alpha, len(index), gen)).float()
        lam = torch.maximum(lam, 1 - lam)                                  # [B]: the clip itself dominates
        perm = torch.randperm(len(index), generator=gen)
        xb = lam.view(-1, 1, 1, 1) * xb + (1 - lam.view(-1, 1, 1, 1)) * xb[perm]
        yb = lam.view(-1, 1) * yb + (1 - lam.view(-1, 1)) * yb[perm]
        xb = freq_mask(xb, gen, max_width=cfg.freq_mask_width)
        loss = F.binary_cross_entropy_with_logits(model(xb.to(device)), yb.to(device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the pre-training loss became {loss.item()}: lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return float(np.mean(losses))


def _resume(ckpt: Path, cfg: PretrainConfig, model, optimizer, scheduler, gen) -> tuple[list, int, float]:
    """Restore an interrupted run from its last epoch; returns (history, epochs done, seconds spent)."""
    state = storage.load_checkpoint(ckpt)
    if state.get("format") != CHECKPOINT_FORMAT or state.get("config") != dataclasses.asdict(cfg):
        raise ValueError(f"{ckpt} belongs to another pre-training recipe: delete it, or use another out_dir")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    gen.set_state(state["generator"])
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    return state["history"], state["epoch"], state["seconds"]


def pretrain(cfg: PretrainConfig, out_dir: str | os.PathLike, progress: bool | None = None,
             device: str = "auto", command: str = "") -> dict:
    """Pre-train (or resume) a DyMN on the event corpus; write ``<name>.pt`` and ``<name>.json``; return
    the card."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    corpus = events.build_corpus(
        cfg.corpus_seed, cfg.recordings, cfg.eval_share, progress=progress_enabled(progress)
    )
    x_train, y_train = corpus.part("train")
    x_eval, y_eval = corpus.part("eval")
    norm = Normalizer().fit(x_train.float())
    device = resolve_device(device)
    torch.manual_seed(cfg.seed)
    model = DyMN(width_mult=cfg.width, num_classes=len(corpus.events)).to(device)
    earlier = _load_init(model, cfg) if cfg.init else None
    steps_per_epoch = len(x_train) // cfg.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch), "cosine"))
    gen = torch.Generator().manual_seed(cfg.seed)
    history, start_epoch, seconds_before = [], 0, 0.0
    ckpt = out_dir / f"{cfg.name()}.checkpoint.pt"
    if ckpt.is_file():
        history, start_epoch, seconds_before = _resume(ckpt, cfg, model, optimizer, scheduler, gen)
    bar = None
    if progress_enabled(progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch, unit="batch",
                   desc=f"pre-training {cfg.name()}")
    try:
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            _set_temperature(model, epoch, cfg)
            loss = _epoch(model, x_train, y_train, norm, optimizer, scheduler, gen, cfg, device, bar)
            history.append({"epoch": epoch + 1, "loss": loss, "temperature": model.temperature,
                            "seconds": time.perf_counter() - t0})
            storage.atomic_torch_save({
                "format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(cfg), "epoch": epoch + 1,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": gen.get_state(), "history": history,
                "torch_rng": torch.get_rng_state(),          # dropout: a resumed run continues bit for bit
                "seconds": seconds_before + time.perf_counter() - started}, ckpt)
    finally:
        if bar is not None:
            bar.close()
    model.set_temperature(1.0)
    _recalibrate_bn(model, x_train, norm, device)
    eval_map = mean_average_precision(_predict(model, x_eval, norm, device), y_eval)
    card = write_checkpoint(model, cfg, out_dir, corpus, history, eval_map, norm,
                            seconds_before + time.perf_counter() - started, command, earlier)
    ckpt.unlink(missing_ok=True)
    return card


def resolve_init(name_or_path: str) -> Path:
    """A shipped checkpoint's name (``dymn02_synth``) or a path -> the .pt file to continue from."""
    if name_or_path in pretrained.SHIPPED:
        return pretrained.expected_path(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint {name_or_path!r}: give a shipped name ({', '.join(pretrained.SHIPPED)}) "
            "or the path of a .pt written by asclab pretrain"
        )
    return path


def _load_init(model: DyMN, cfg: PretrainConfig) -> dict:
    """Load the checkpoint ``cfg.init`` (strictly, head included) and return what its card says of it."""
    path = resolve_init(cfg.init)
    state = storage.load_checkpoint(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{path} does not fit a width-{cfg.width} DyMN with {model.num_classes} event outputs: "
            f"continue from a checkpoint of the same width made by asclab pretrain ({e})"
        ) from None
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "steps": card.get("steps", 0), "wall_seconds": card.get("wall_seconds", 0.0),
            "eval_mAP": card.get("eval_mAP"), "recipe": card.get("recipe"), "command": card.get("command"),
            "earlier": card.get("init")}


def write_checkpoint(model: DyMN, cfg: PretrainConfig, out_dir: Path, corpus, history, eval_map: float, norm,
                     seconds: float, command: str = "", earlier: dict | None = None) -> dict:
    """Save the fp16 state dict (EfficientAT layout) and its model card; return the card."""
    state = {
        k: (v.half() if v.is_floating_point() else v).cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    path = storage.atomic_torch_save(state, out_dir / f"{cfg.name()}.pt")
    card = {
        "name": cfg.name(), "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "architecture": {"family": "DyMN", "width_mult": cfg.width, "num_classes": len(corpus.events),
                         "temperature": 1.0, "layout": "EfficientAT state dict (asclab.models.dymn.DyMN)"},
        "parameters": sum(p.numel() for p in model.parameters()),
        "storage": "float16 (load_state_dict casts to float32)",
        "corpus": {"module": "asclab.events", "seed": corpus.seed,
                   "recordings": int(corpus.recording.max()) + 1,
                   "train_clips": int((corpus.recording < corpus.eval_from).sum()),
                   "eval_clips": int((corpus.recording >= corpus.eval_from).sum()),
                   "events": list(corpus.events)},
        "recipe": dataclasses.asdict(cfg),
        "steps": len(history) * ((int((corpus.recording < corpus.eval_from).sum())) // cfg.batch_size)
        + (earlier["steps"] if earlier else 0),
        "continued_from": earlier,                   # None: this run started from random weights
        "history": history,
        "eval_mAP": eval_map,
        "input_normalization": "per mel bin, fitted on the corpus; "
                               "fine-tuning fits its own on the scene split",
        "wall_seconds": round(seconds + (earlier["wall_seconds"] if earlier else 0.0), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "command": command,
        "made": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    storage.atomic_write_text(out_dir / f"{cfg.name()}.json", json.dumps(card, indent=1) + "\n")
    return card
