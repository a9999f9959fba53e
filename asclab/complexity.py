"""Model complexity the DCASE2024 Task 1 way: parameters, MACs, parameter memory, and a verdict.

The rules (``shared/reference/dcase2024_task1.md``, ``cp_mobile.json`` "mac_counting_rule"):

* **MACs** are torchinfo's ``summary(model, input_size).total_mult_adds`` for ONE clip, ``[1, 1, 256, 64]``
  (the DCASE baseline's ``helpers/nessi.py``). torchinfo counts, per leaf module, every parameter named
  weight/bias: a conv's numel times its output pixels, anything else (BatchNorm, Linear) its numel once.
  ReLU, pooling, additions and GRN count 0. Limit: 30,000,000.
* **Parameter memory** is the number of parameters times the precision they are stored in. Limit: 128,000
  bytes. :func:`max_bits` is the highest precision a parameter count allows.

How INT8 models are counted (an eager-mode model after ``torch.ao.quantization.convert``): its conv weights
live in packed parameters, not in ``model.parameters()``, so :func:`count_params` unpacks them and counts
every weight and bias element of the quantized convs/linears, plus the float parameters that remain (GRN's
gamma/beta). :func:`param_bytes` then follows the DCASE rule "parameters x declared precision" at 8 bits, i.e.
1 byte per parameter. Quantization metadata (per-channel scales and zero points, activation scales) is not a
parameter and is not counted. PyTorch itself stores the biases and GRN scalars in float32; the rule ignores
that, as the challenge did. A converted model has had BN folded into its convs, so it has fewer parameters
than the float model (124,862 vs 126,952 for CP-Mobile 32/2.3/3): both are under 128,000 bytes at 8 bits.

torchinfo cannot count a converted model's MACs (its convs have no weight parameters), so
``measure(int8_model, macs_from=float_model)`` takes them from the float model it came from.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn

MAX_PARAM_BYTES = 128_000
MAX_MACS = 30_000_000
DCASE_LIMITS = MappingProxyType({"bytes": MAX_PARAM_BYTES, "macs": MAX_MACS})
DEFAULT_INPUT_SIZE = (1, 1, 256, 64)  # one 1-s clip at hop 505: shared/reference/preprocessing.json


def _quantized_weight_modules(model: nn.Module) -> list[nn.Module]:
    """Modules whose weights are packed INT8 parameters (converted convs/linears expose ``weight()`` as a
    method instead of a Parameter)."""
    found = []
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if callable(weight) and not isinstance(weight, torch.Tensor):
            found.append(module)
    return found


def is_quantized(model: nn.Module) -> bool:
    """True for a converted (INT8) eager-mode model: one with packed quantized weights."""
    return bool(_quantized_weight_modules(model))


def count_params(model: nn.Module) -> int:
    """Number of parameters (torchinfo's ``total_params``: BN weights and biases included, running statistics
    excluded). For a converted INT8 model the packed weights and biases are unpacked and counted too."""
    total = sum(p.numel() for p in model.parameters())
    for module in _quantized_weight_modules(model):
        total += module.weight().numel()
        bias = module.bias() if callable(getattr(module, "bias", None)) else None
        if bias is not None:
            total += bias.numel()
    return total


def default_bits(model: nn.Module) -> int:
    """The precision a model's parameters are stored in: 8 for a converted INT8 model, else the widest float
    parameter dtype (32 for a float32 model, 16 after ``.half()``)."""
    if is_quantized(model):
        return 8
    sizes = [p.element_size() for p in model.parameters()]
    return 8 * max(sizes) if sizes else 32


def param_bytes(model: nn.Module, bits: int | None = None) -> int:
    """Parameter memory in bytes: ``count_params(model) * bits / 8``, rounded up.

    ``bits=None`` uses :func:`default_bits` (8 for a converted INT8 model, 32 for a float32 model); pass
    ``bits=8`` or ``16`` to ask what a float model would need once quantized or halved.
    """
    bits = default_bits(model) if bits is None else bits
    return math.ceil(count_params(model) * bits / 8)


def count_macs(model: nn.Module, input_size=DEFAULT_INPUT_SIZE) -> int:
    """DCASE MACs: torchinfo ``total_mult_adds`` for ``input_size`` (one clip), in eval mode, on a CPU deep
    copy so that neither hooks nor mode changes leak into ``model``.

    Raises ValueError for a converted INT8 model: count the float model it came from instead.
    """
    import torchinfo  # imported here: it is only needed for counting

    if is_quantized(model):
        raise ValueError(
            "torchinfo cannot count MACs of a converted INT8 model (its convs hold packed weights): "
            "count the float model it came from, e.g. measure(int8_model, macs_from=float_model)"
        )
    probe = copy.deepcopy(model).cpu().eval()
    stats = torchinfo.summary(probe, input_size=tuple(input_size), verbose=0, device="cpu", mode="eval")
    return int(stats.total_mult_adds)


def max_bits(params: int) -> int:
    """The highest precision (bits per parameter) that keeps ``params`` within 128,000 bytes: the DCASE rule
    ``int(128000 / params * 8)``. 61,148 params (the baseline) -> 16; 126,952 (CP-Mobile) -> 8."""
    if params <= 0:
        raise ValueError(f"params must be positive, got {params}")
    return int(MAX_PARAM_BYTES / params * 8)


@dataclass
class Complexity:
    params: int
    macs: int
    bytes: int
    bits: int

    def fits_memory(self) -> bool:
        return self.bytes <= MAX_PARAM_BYTES

    def fits_macs(self) -> bool:
        return self.macs <= MAX_MACS

    def fits(self) -> bool:
        """Both DCASE2024 limits hold: parameter bytes <= 128,000 and MACs <= 30,000,000."""
        return self.fits_memory() and self.fits_macs()

    def report(self) -> str:
        """A short plain-text table with a verdict ("OK" or "over") per limit."""
        def verdict(ok: bool) -> str:
            return "OK" if ok else "over"

        rows = [
            ("parameters", f"{self.params:,}", "", ""),
            (
                f"memory ({self.bits}-bit)",
                f"{self.bytes:,} B",
                f"{MAX_PARAM_BYTES:,} B",
                verdict(self.fits_memory()),
            ),
            ("MACs", f"{self.macs:,}", f"{MAX_MACS:,}", verdict(self.fits_macs())),
        ]
        header = ("quantity", "value", "limit", "verdict")
        widths = [max(len(row[i]) for row in rows + [header]) for i in range(4)]
        lines = [f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}"]
        lines.append("-" * len(lines[0]))
        for name, value, limit, ok in rows:
            lines.append(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {limit:>{widths[2]}}  {ok}".rstrip())
        fit_bits = max_bits(self.params) if self.params > 0 else 0
        lines.append(f"highest precision within {MAX_PARAM_BYTES:,} B: {fit_bits} bit"
                     + ("" if fit_bits >= 8 else " (too many parameters even for INT8)"))
        lines.append(f"verdict: {'fits' if self.fits() else 'does not fit'} the DCASE2024 Task 1 limits")
        return "\n".join(lines)


def measure(model: nn.Module, input_size=DEFAULT_INPUT_SIZE, bits: int | None = None,
            macs_from: nn.Module | None = None) -> Complexity:
    """Parameters, DCASE MACs and parameter bytes of ``model`` as a :class:`Complexity`.

    ``bits=None`` uses the model's own precision (:func:`default_bits`). ``macs_from`` counts the MACs on
    another model, the float model, which a converted INT8 model needs (torchinfo cannot count it).
    """
    bits = default_bits(model) if bits is None else bits
    macs = count_macs(macs_from if macs_from is not None else model, input_size)
    return Complexity(params=count_params(model), macs=macs, bytes=param_bytes(model, bits), bits=bits)
