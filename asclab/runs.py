"""The run cache: a finished training run is loaded, not trained again, when nothing that decides it changed.

:func:`run_key` names a run by everything that decides its weights: the run's name and split, every field of
its ``TrainConfig`` that changes training, the model's architecture, the data, and whatever else the caller
knows (the checkpoint it starts from, the teachers, the KD temperature and weight, ...). :func:`run_or_load`
trains with ``asclab.train.train_model`` unless ``out_dir`` holds a finished run with that key, and records
the key in ``run.json``. Notebooks share runs through it: notebook 05 reuses the teachers that notebook 03
fine-tuned. :func:`per_split_table` lays finished runs out as the paper's Table 1.

This module sits above ``asclab.train``: it uses the trainer; the trainer never imports it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from asclab import ddp, locks, storage
from asclab.train import (
    CHECKPOINT,
    HISTORY,
    METRICS,
    MODEL,
    TrainConfig,
    TrainResult,
    best_epoch,
    resolve_device,
    train_model,
)

__all__ = ["RUN_INFO", "architecture", "run_key", "load_finished_run", "run_or_load", "per_split_table"]

RUN_INFO = "run.json"
RUN_LOCK = "run.lock"              # held while a process trains the run (asclab.locks.claim)
_RUN_KEY_VERSION = "run-v3"      # v1 left the architecture out; v2 runs drew initial weights from the
                                 # global generator (v3: seeded per run, Workspace.init_seed)


# --- keys ------------------------------------------------------------------------------------------------

def architecture(model: nn.Module) -> dict[str, str]:
    """What a run key records of a model: its class, a digest of its layers as PyTorch prints them (every
    module with its settings: channels, strides, BatchNorm momentum, Dy-Conv temperature, ...) and a digest
    of the name, shape and dtype of every parameter and buffer. So a DyMN of another width, a TwoBranch
    wrapper or another number of classes is another architecture. Compute it before training: training can
    change settings that the print shows (e.g. the Dy-Conv temperature)."""
    state = model.state_dict()
    shapes = [[name, list(t.shape), str(t.dtype)] for name, t in state.items() if torch.is_tensor(t)]
    return {"class": type(model).__name__, "layers": storage.content_key(repr(model)),
            "state_dict": storage.content_key(shapes)}


def run_key(name: str, split: int | str, cfg: TrainConfig, model: nn.Module, data_key: str,
            **extra: Any) -> str:
    """The cache key of a training run (see the module docstring).

    ``extra`` holds what neither the config nor the model shows, as JSON values, e.g.
    ``pretrained_from="dymn01_synth"`` or ``kd_temperature=2.0, kd_weight=0.5, teachers=[...]``.
    """
    return storage.content_key(_RUN_KEY_VERSION, name, split, cfg.key(), architecture(model), data_key, extra)


# --- reuse finished runs ------------------------------------------------------------------------------------

def load_finished_run(model: nn.Module, out_dir: str | Path, key: str,
                      device: str = "auto") -> TrainResult | None:
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
    metrics = storage.read_json(metrics_path)
    return TrainResult(model, history, metrics, best_epoch(history), out_dir, loaded=True)


def run_or_load(model: nn.Module, train_set, cfg: TrainConfig, out_dir: str | Path, normalizer,
                key: str | None = None, test_set=None, extra_loss: Callable | None = None,
                description: str = "", resume: bool = True, on_epoch_start: Callable | None = None,
                device: str | None = None) -> TrainResult:
    """Load the finished run in ``out_dir`` when it was trained with ``key``; otherwise train it.

    ``key`` must name everything that decides the result: the config (``cfg.key()``, the default), and
    whatever the config cannot see, such as the model, the data and the teachers (:func:`run_key` builds
    such a key). An interrupted run with the same key resumes from its checkpoint; files of a run with
    another key are replaced. ``on_epoch_start`` and ``device`` are passed to ``train_model``.
    """
    key = key or cfg.key()
    out_dir = Path(out_dir)
    device = cfg.device if device is None else device
    finished = load_finished_run(model, out_dir, key, device)
    if finished is not None:
        return finished
    # one trainer per run folder: a second process waits for the first, then loads its run (asclab.locks);
    # under torchrun rank 0 claims and writes for all ranks
    main = ddp.is_main()
    with locks.claim(out_dir / RUN_LOCK) if main else contextlib.nullcontext():
        ddp.barrier()                 # the other ranks go on once rank 0 holds the claim
        finished = load_finished_run(model, out_dir, key, device)
        if finished is not None:
            return finished
        info_path = out_dir / RUN_INFO
        if main and info_path.is_file() and storage.read_json(info_path).get("key") != key:
            for name in (CHECKPOINT, HISTORY, MODEL, METRICS):
                (out_dir / name).unlink(missing_ok=True)
        info = {"key": key, "config_key": cfg.key(), "description": description, "config": cfg.to_dict(),
                "status": "running"}
        if main:
            storage.write_json(info_path, info)
        result = train_model(model, train_set, cfg, out_dir, normalizer, test_set=test_set,
                             extra_loss=extra_loss, resume=resume, run_key=key, on_epoch_start=on_epoch_start,
                             device=device)
        if main:
            storage.write_json(info_path, {**info, "status": "finished", "best": result.best,
                                           "macro_acc": result.metrics.get("macro_acc")})
    return result


# --- tables -------------------------------------------------------------------------------------------------

def _row_fields(row) -> tuple[str, int, float]:
    if isinstance(row, dict):
        name = row.get("config", row.get("name"))
        return name, int(row["split"]), row["macro_acc"]
    return row.name, int(row.split), row.macro_acc


def per_split_table(rows: Iterable | dict) -> pd.DataFrame:
    """Macro accuracy in % per configuration (rows) and training split (columns), as in the paper's Table 1.

    ``rows``: records with a configuration name (``config`` or ``name``), a ``split`` (5, 10, 25, 50 or 100)
    and ``macro_acc`` as a fraction (dicts, or objects such as ``asclab.experiment.Run``), or a mapping
    ``{config: {split: macro_acc}}``. Repeated (config, split) pairs, e.g. several seeds, are averaged.
    Columns are the splits present (``"5%"`` ...) and ``"avg"``, the plain mean over the splits (the DCASE
    ranking score); ``avg`` is NaN for a configuration that misses a split, so that it is never compared
    with a mean over other splits.
    """
    if isinstance(rows, dict):
        records = [(name, int(split), acc)
                   for name, by_split in rows.items() for split, acc in by_split.items()]
    else:
        records = [_row_fields(r) for r in rows]
    if not records:
        return pd.DataFrame(columns=["avg"])
    frame = pd.DataFrame(records, columns=["config", "split", "macro_acc"])
    frame["macro_acc"] = frame["macro_acc"].astype(float) * 100.0
    order = list(dict.fromkeys(frame["config"]))
    table = frame.pivot_table(index="config", columns="split", values="macro_acc", aggfunc="mean",
                              dropna=False)
    table = table.reindex(index=order, columns=sorted(frame["split"].unique()))
    table["avg"] = table.mean(axis=1, skipna=False)
    table.columns = [f"{c}%" if c != "avg" else c for c in table.columns]
    table.index.name = "configuration"
    return table
