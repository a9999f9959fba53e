"""Quantization: fake quantization, quantization-aware training (QAT), post-training quantization (PTQ), INT8.

Every ``torch.ao.quantization`` call of the workbook lives in this file. That API (eager mode, x86 engine:
per-channel INT8 weights, per-tensor INT8 activations) is deprecated upstream in favour of torchao's PT2E
flow, but it works in torch 2.11 and is the clearest one to teach. Its deprecation warnings say exactly
that, so ``quiet()`` silences them here instead of spilling them into every notebook; a later move to
PT2E touches only this file.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from asclab import storage
from asclab.models.cpmobile import CPMobile
from asclab.runs import run_or_load

ENGINE = "x86"


@contextlib.contextmanager
def quiet():
    """Silence torch.ao.quantization's deprecation and observer warnings (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
        warnings.filterwarnings("ignore", message=r".*quantiz.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"TypedStorage is deprecated", category=UserWarning)
        yield


def _ao():
    with quiet():
        from torch.ao import quantization as tq
        from torch.ao.nn.intrinsic import qat as nniqat
    torch.backends.quantized.engine = ENGINE
    return tq, nniqat


# --- what fake quantization does ----------------------------------------------------------------------

def fake_quantize(x: torch.Tensor, bits: int = 8, symmetric: bool = True) -> tuple[torch.Tensor, float, int]:
    """Round ``x`` to a ``bits``-bit integer grid and back: returns ``(x_hat, scale, zero_point)``.

    Symmetric (weights): scale = max|x| / (2^(b-1) - 1), zero point 0. Asymmetric (activations): the grid
    spans [min(x, 0), max(x, 0)] with 2^b levels. Values outside the grid are clamped; inside they are rounded
    to the nearest level, so the error is at most scale / 2.
    """
    if bits < 2:
        raise ValueError(f"bits must be at least 2, got {bits}")
    x = x.detach().float()
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        scale = float(x.abs().max()) / qmax or 1.0
        q = torch.clamp(torch.round(x / scale), -qmax, qmax)
        return q * scale, scale, 0
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    qmax = 2 ** bits - 1
    scale = (hi - lo) / qmax or 1.0
    zero_point = round(-lo / scale)
    q = torch.clamp(torch.round(x / scale) + zero_point, 0, qmax)
    return (q - zero_point) * scale, scale, zero_point


# --- the steps: fuse, qconfig, prepare, (train | calibrate), freeze, convert ------------------------------

def fuse_conv_bn(model: nn.Module, train: bool) -> nn.Module:
    """A copy of a float CP-Mobile on the CPU with every conv-BN(-ReLU) fused into one module.

    ``train=True`` (for QAT) gives ``ConvBn2d``/``ConvBnReLU2d`` modules whose BatchNorm keeps learning;
    ``train=False`` (for PTQ) folds BatchNorm into the convolution's weights and bias.
    """
    fused = copy.deepcopy(model).cpu().train(train)
    with quiet():
        fused.fuse_model()
    return fused


def set_qconfig(model: nn.Module, qat: bool) -> nn.Module:
    """Give ``model`` the x86 recipe, in place: per-channel INT8 weights and per-tensor INT8 activations,
    as fake quantization (``qat=True``) or as observers only (``qat=False``, PTQ)."""
    tq, _ = _ao()
    with quiet():
        model.qconfig = tq.get_default_qat_qconfig(ENGINE) if qat else tq.get_default_qconfig(ENGINE)
    return model


def insert_fake_quant(model: nn.Module) -> nn.Module:
    """torch's ``prepare_qat``, in place: QAT modules whose weights and outputs pass through fake
    quantization."""
    tq, _ = _ao()
    with quiet():
        tq.prepare_qat(model, inplace=True)
    return model


def insert_observers(model: nn.Module) -> nn.Module:
    """torch's ``prepare``, in place: observers that record activation ranges (PTQ, before calibration)."""
    tq, _ = _ao()
    with quiet():
        tq.prepare(model, inplace=True)
    return model


def calibrate(model: nn.Module, feature_set, normalizer, n_batches: int = 8, batch_size: int = 64,
              seed: int = 0) -> nn.Module:
    """Show a model with observers ``n_batches`` random training batches (no gradients), in place."""
    order = torch.randperm(len(feature_set), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad(), quiet():
        for chunk in order.split(batch_size)[:n_batches]:
            model(normalizer(feature_set.x[chunk]))           # [B, 1, F, T]
    return model


def freeze(model: nn.Module) -> nn.Module:
    """Freeze the observers (scales and zero points) and the BatchNorm statistics of a QAT model."""
    tq, nniqat = _ao()
    model.apply(tq.disable_observer)
    model.apply(nniqat.freeze_bn_stats)
    return model


def freeze_from(freeze_epoch: int) -> Callable:
    """The trainer's ``on_epoch_start`` callback for QAT: :func:`freeze` before every epoch from
    ``freeze_epoch`` (0-based) on. Notebook 06 writes the same function in a cell; they share run keys."""
    def freeze_late(epoch, model):
        if epoch >= freeze_epoch:
            freeze(model)
    return freeze_late


def convert(qat_model: nn.Module) -> nn.Module:
    """The INT8 model of a QAT (or calibrated) model: a converted copy, in eval mode, on the CPU.

    The copy is frozen first: converting runs each weight through its fake quantizer once more, and an
    observer still on would move the grid away from the one QAT trained against.
    """
    tq, _ = _ao()
    with quiet():
        return tq.convert(freeze(copy.deepcopy(qat_model).cpu().eval()), inplace=False)


# --- the steps in one call --------------------------------------------------------------------------------

def prepare_qat(model: nn.Module) -> nn.Module:
    """A copy of a float CP-Mobile ready for QAT: fused in train mode, x86 qconfig, fake quantization."""
    return insert_fake_quant(set_qconfig(fuse_conv_bn(model, train=True), qat=True))


def _prepare_static(model: nn.Module) -> nn.Module:
    """A fused copy in eval mode with observers inserted (post-training quantization, before calibration)."""
    return insert_observers(set_qconfig(fuse_conv_bn(model, train=False), qat=False))


def ptq(model: nn.Module, feature_set, normalizer, n_batches: int = 8, batch_size: int = 64,
        seed: int = 0) -> nn.Module:
    """Post-training quantization: fuse, observe ``n_batches`` random training batches, convert to INT8."""
    return convert(calibrate(_prepare_static(model), feature_set, normalizer, n_batches, batch_size, seed))


def qat_finetune(model: nn.Module, train_set, normalizer, cfg, out_dir, freeze_epoch: int,
                 extra_loss=None, test_set=None, key: str | None = None):
    """Quantization-aware training that continues distillation; returns ``(qat_model, int8_model, result)``.

    The observers and BatchNorm statistics are frozen from epoch ``freeze_epoch`` on, so the last epochs
    fine-tune the weights against fixed quantization grids, as the converted model will see them.
    """
    qat = prepare_qat(model)
    with quiet():
        result = run_or_load(qat, train_set, cfg, out_dir, normalizer,
                             key=key or storage.content_key(cfg.key()), test_set=test_set,
                             extra_loss=extra_loss, on_epoch_start=freeze_from(freeze_epoch),
                             description="quantization-aware training", device="cpu")
    qat_model = result.model
    # always: a run loaded from disk gets its observer flags back from the state dict, but not BN's freeze_bn
    freeze(qat_model)
    return qat_model, convert(qat_model), result


# --- saving and loading INT8 models without torch.jit ----------------------------------------------------

def int8_skeleton(float_model: nn.Module) -> nn.Module:
    """An INT8 model of the same architecture with placeholder weights: the target of ``load_int8``."""
    m = _prepare_static(float_model)
    with quiet():
        m(torch.zeros(1, 1, 256, 64))           # give observers a value so that convert has scales
    return convert(m)


def save_int8(model: nn.Module, path: str | Path, config: dict) -> Path:
    """Save an INT8 CP-Mobile as a plain state dict plus its constructor arguments (atomic, no pickled
    code)."""
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}
    if "strides" in cfg:
        cfg["strides"] = {k: list(v) for k, v in cfg["strides"].items()}
    return storage.atomic_torch_save({"format": "asclab-int8-v1", "engine": ENGINE, "config": cfg,
                                      "state_dict": model.state_dict()}, path)


def load_int8(path: str | Path) -> nn.Module:
    """Load a model saved by ``save_int8`` (``torch.load(weights_only=True)``, no torch.jit)."""
    with quiet():                       # unpickling INT8 tensors warns that TypedStorage is deprecated
        payload = storage.load_checkpoint(path)
    if not isinstance(payload, dict) or payload.get("format") != "asclab-int8-v1":
        raise ValueError(f"{path} is not an INT8 model saved by asclab.quantize.save_int8")
    cfg = dict(payload["config"])
    cfg["n_blocks"] = tuple(cfg["n_blocks"])
    cfg["strides"] = {k: tuple(v) for k, v in cfg["strides"].items()}
    model = int8_skeleton(CPMobile(**cfg))
    model.load_state_dict(payload["state_dict"])
    return model


def weight_values(model: nn.Module) -> torch.Tensor:
    """All conv weights of a float, QAT or INT8 model as one float vector (INT8 weights dequantized)."""
    values = []
    for m in model.modules():
        w = getattr(m, "weight", None)
        w = w() if callable(w) else w
        if isinstance(w, torch.Tensor) and w.dim() == 4:
            values.append((w.dequantize() if w.is_quantized else w.detach()).flatten())
    return torch.cat(values)
