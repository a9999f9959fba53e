"""CP-Mobile: the receptive-field-regularized, mobile-style student of cpjku_dcase23, and the DCASE2024
baseline as a configuration of the same blocks.

Layout (``shared/reference/architectures.md``, CP-Mobile section), for a ``[B, 1, 256, 64]`` log-mel batch:

    stem   Conv3x3/2 (1->8) BN ReLU, Conv3x3/2 (8->32) BN ReLU          [B, 1, 256, 64] -> [B, 32, 64, 16]
    s1     b1 (32->32), b2 (32->32, stride (2,2)), b3 (32->32)          -> [B, 32, 32, 8]
    s2     b4 (32->72, stride (2,1)), b5 (72->72)                         -> [B, 72, 16, 8]
    s3     b6 (72->168)                                                   -> [B, 168, 16, 8]
    head   Conv1x1 (168->10) BN, global average pool                     -> [B, 10]

Every block is an inverted bottleneck (1x1 expand, 3x3 depthwise, 1x1 project), a shortcut when the width is
unchanged, a quantization-friendly add, GRN (global response normalization) and a ReLU.

The model is ready for eager-mode INT8 quantization (``torch.ao.quantization``): Quant/DeQuant stubs at the
input and output, residual adds through ``FloatFunctional``, ReLUs as separate modules inside
``Sequential(conv, bn, relu)`` triples so that ``fuse_model()`` can fuse them, and a GRN that dequantizes its
input, computes in float and requantizes its output (its own ``DeQuantStub``/``QuantStub`` pair).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional
from torch.ao.quantization import DeQuantStub, QuantStub, fuse_modules, fuse_modules_qat

from asclab.models.init import init_mobilenet_weights, make_divisible

Stride = tuple[int, int]

# cpjku_dcase23 get_model defaults: (freq, time) strides of the blocks that downsample
CP_MOBILE_STRIDES: dict[str, Stride] = {"b2": (2, 2), "b4": (2, 1)}
# CPJKU/dcase2024_task1_baseline models/baseline.py defaults
BASELINE_STRIDES: dict[str, Stride] = {"b2": (1, 1), "b3": (1, 2), "b4": (2, 1)}


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 1, stride: Stride | int = 1,
            groups: int = 1, relu: bool = True) -> nn.Sequential:
    """``Sequential(Conv2d, BatchNorm2d[, ReLU])``: indices 0, 1 (and 2) are what ``fuse_model`` fuses.

    The conv has no bias (the BN that follows has one) and 'same' padding for odd kernels.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class GRN(nn.Module):
    """Global response normalization (ConvNeXt-V2), with one scalar gamma and beta as in CP-Mobile.

    For each channel take the L2 norm of its F x T map, divide by the mean of these norms over the channels,
    then ``x <- gamma * (x * n) + beta + x``. gamma and beta start at 0, so a fresh GRN is the identity.

    Quantization: norms and divisions have no INT8 kernels, so GRN dequantizes its input, computes in float
    and requantizes its output. In a float model both stubs are identities; after ``prepare_qat`` the output
    stub fake-quantizes (and learns the output scale); after ``convert`` they become
    ``DeQuantize``/``Quantize``.
    """

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1))
        self.beta = nn.Parameter(torch.zeros(1))
        self.dequant = DeQuantStub()
        self.quant = QuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dequant(x)
        norms = torch.norm(x, p=2, dim=(2, 3), keepdim=True)                  # [B, C, 1, 1]
        relative = norms / (norms.mean(dim=1, keepdim=True) + self.eps)      # [B, C, 1, 1]
        x = self.gamma * (x * relative) + self.beta + x
        return self.quant(x)


class CPMobileBlock(nn.Module):
    """Inverted bottleneck: expand 1x1, depthwise 3x3 (carries the stride), project 1x1, shortcut, GRN, ReLU.

    The shortcut exists only when the width is unchanged: the identity for stride (1, 1), else a 3x3 average
    pool with the block's stride (padding 1) so that the shapes match.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion_rate: float, stride: Stride = (1, 1),
                 use_grn: bool = True):
        super().__init__()
        stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        expanded = make_divisible(in_channels * expansion_rate, 8)
        # [B, C, F, T] -> [B, E, F, T]
        self.expand = conv_bn(in_channels, expanded, 1)
        self.depthwise = conv_bn(expanded, expanded, 3, stride=stride, groups=expanded)  # -> [B, E, F/s, T/s]
        self.project = conv_bn(expanded, out_channels, 1, relu=False)                 # -> [B, C', F/s, T/s]
        if in_channels != out_channels:
            self.shortcut = None
        elif stride == (1, 1):
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.AvgPool2d(kernel_size=3, stride=stride, padding=1)
        # a requantizing add after convert; only where there is a shortcut, so that every observer sees data
        self.skip_add = FloatFunctional() if self.shortcut is not None else None
        self.grn = GRN() if use_grn else nn.Identity()
        self.relu = nn.ReLU()
        self.expanded_channels = expanded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        if self.shortcut is not None:
            y = self.skip_add.add(y, self.shortcut(x))
        return self.relu(self.grn(y))

    def fuse(self, qat: bool) -> None:
        fuse = fuse_modules_qat if qat else fuse_modules
        groups = [["expand.0", "expand.1", "expand.2"], ["depthwise.0", "depthwise.1", "depthwise.2"],
                  ["project.0", "project.1"]]
        fuse(self, groups, inplace=True)


class CPMobile(nn.Module):
    """CP-Mobile (cpjku_dcase23 ``cp_mobile_clean.py``), written from the description in
    ``shared/reference/architectures.md``.

    With the defaults (32 / 2.3 / 3, blocks (3, 2, 1), GRN) it has 126,952 parameters and needs 28,893,268
    MACs for one ``[1, 1, 256, 64]`` input (torchinfo ``total_mult_adds``, the DCASE rule).

    Args:
        base_channels: width of the stem output and of stage s1's input.
        channels_multiplier: stage s(i+1) is ``make_divisible(base * multiplier**i, 8)`` wide (i = 0, 1, ...),
            so 32 / 2.3 gives widths [32, 72, 168].
        expansion_rate: a block expands to ``make_divisible(in * expansion_rate, 8)`` channels.
        n_classes: number of logits.
        in_channels: input channels (1 for a log-mel spectrogram).
        n_blocks: blocks per stage; blocks are numbered b1, b2, ... across stages.
        strides: ``{"b2": (2, 2), ...}`` (frequency, time) strides; blocks not named use (1, 1).
            ``None`` means CP-Mobile's ``{"b2": (2, 2), "b4": (2, 1)}``.
        use_grn: GRN after every block (CP-Mobile) or not (the DCASE2024 baseline).
    """

    def __init__(self, base_channels: int = 32, channels_multiplier: float = 2.3, expansion_rate: float = 3,
                 n_classes: int = 10, in_channels: int = 1, n_blocks: Sequence[int] = (3, 2, 1),
                 strides: Mapping[str, Stride] | None = None, use_grn: bool = True):
        super().__init__()
        strides = dict(CP_MOBILE_STRIDES if strides is None else strides)
        n_blocks = tuple(n_blocks)
        total_blocks = sum(n_blocks)
        unknown = sorted(set(strides) - {f"b{i + 1}" for i in range(total_blocks)})
        if unknown:
            raise ValueError(
                f"strides name blocks {unknown} that do not exist: expected keys b1..b{total_blocks}"
            )
        self.config = dict(base_channels=base_channels, channels_multiplier=channels_multiplier,
                           expansion_rate=expansion_rate, n_classes=n_classes, in_channels=in_channels,
                           n_blocks=n_blocks, strides={k: tuple(v) for k, v in strides.items()},
                           use_grn=use_grn)
        self.channels_per_stage = [base_channels] + [
            make_divisible(base_channels * channels_multiplier ** stage, 8) for stage in range(len(n_blocks))
        ]
        self.quant = QuantStub()
        # two stride-2 convs: [B, 1, F, T] -> [B, base/4, F/2, T/2] -> [B, base, F/4, T/4]
        self.stem = nn.Sequential(
            conv_bn(in_channels, base_channels // 4, 3, stride=2),
            conv_bn(base_channels // 4, base_channels, 3, stride=2),
        )
        self.stages = nn.Sequential()
        block_id = 0
        for stage_id, count in enumerate(n_blocks):
            stage = nn.Sequential()
            width_in, width_out = self.channels_per_stage[stage_id], self.channels_per_stage[stage_id + 1]
            for _ in range(count):
                block_id += 1
                name = f"b{block_id}"
                stage.add_module(name, CPMobileBlock(width_in, width_out, expansion_rate,
                                                     stride=tuple(strides.get(name, (1, 1))),
                                                     use_grn=use_grn))
                width_in = width_out
            self.stages.add_module(f"s{stage_id + 1}", stage)
        self.embedding_dim = self.channels_per_stage[-1]
        # [B, D, F', T'] -> [B, n_classes, F', T'] -> [B, n_classes, 1, 1]
        self.head = nn.Sequential(
            nn.Conv2d(self.embedding_dim, n_classes, kernel_size=1, bias=False),
            nn.BatchNorm2d(n_classes),
            nn.AdaptiveAvgPool2d(1),
        )
        self.dequant = DeQuantStub()
        self.dequant_embedding = DeQuantStub()
        self.n_classes = n_classes
        self._init_weights()

    def _init_weights(self) -> None:
        init_mobilenet_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map: ``[B, 1, F, T] -> [B, embedding_dim, F/8, T/8]`` (CP-Mobile strides)."""
        return self.stages(self.stem(self.quant(x)))

    def _logits(self, feature_map: torch.Tensor) -> torch.Tensor:
        logits = self.dequant(self.head(feature_map))   # [B, n_classes, 1, 1]
        return logits.flatten(1)                        # [B, n_classes]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self.features(x))

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, n_classes], embedding [B, embedding_dim])``; the embedding is the globally pooled
        output of the last stage (float, also in a converted INT8 model)."""
        feature_map = self.features(x)
        embedding = self.dequant_embedding(feature_map).mean(dim=(2, 3))
        return self._logits(feature_map), embedding

    def fuse_model(self) -> None:
        """Fuse every conv-BN(-ReLU) triple in place, before quantization.

        In eval mode this uses ``fuse_modules``: BN is folded into the conv (a ``Conv2d`` with bias, or a
        ``ConvReLU2d``), the outputs stay equal, and ``prepare_qat`` later swaps in QAT convs. In train mode
        it uses ``fuse_modules_qat``: ``ConvBn2d``/``ConvBnReLU2d`` modules that keep BN statistics updating
        during QAT. The fused modules' slots in each ``Sequential`` become ``Identity``.
        """
        qat = self.training
        fuse = fuse_modules_qat if qat else fuse_modules
        for conv in self.stem:
            fuse(conv, [["0", "1", "2"]], inplace=True)
        for stage in self.stages:
            for block in stage:
                block.fuse(qat)
        fuse(self.head, [["0", "1"]], inplace=True)


def cp_mobile(n_classes: int = 10, **kwargs) -> CPMobile:
    """The cpjku_dcase23 student: 126,952 parameters, 28,893,268 MACs on ``[1, 1, 256, 64]``."""
    return CPMobile(n_classes=n_classes, **kwargs)


def baseline(n_classes: int = 10) -> CPMobile:
    """The DCASE2024 Task 1 baseline (``CPJKU/dcase2024_task1_baseline``) as a CP-Mobile configuration:
    no GRN, multiplier 1.8, expansion 2.1 (widths [32, 56, 104], expanded 64/120), strides b2=(1,1),
    b3=(1,2), b4=(2,1). 61,148 parameters; 29,419,156 MACs on ``[1, 1, 256, 65]`` (its hop 500 front-end),
    26,954,388 on ``[1, 1, 256, 64]``."""
    return CPMobile(base_channels=32, channels_multiplier=1.8, expansion_rate=2.1, n_classes=n_classes,
                    n_blocks=(3, 2, 1), strides=BASELINE_STRIDES, use_grn=False)
