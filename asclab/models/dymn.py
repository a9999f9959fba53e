"""DyMN, the dynamic MobileNet of EfficientAT (Schmid, Koutini, Widmer: "Dynamic Convolutional Neural
Networks as Efficient Pre-trained Audio Models", 2024): the teacher family of the workbook.

A DyMN is a MobileNetV3-Large whose 15 inverted-residual blocks are made input-dependent. Each block first
summarises its input into a small context (``ContextGen``), and that context drives three dynamic parts:

- ``DynamicConv``: every conv is a softmax-weighted mix of K kernels (paper Eq. 6), one mix per sample;
- ``DyReLU``: the activation after the depthwise conv is ``max(a1·x + b1, a2·x + b2)`` per channel
  (variant B);
- ``CoordAtt``: the block's feature map is rescaled by a frequency map and a time map.

The module and parameter names follow EfficientAT, so its released AudioSet checkpoints (``dymn04_as``,
``dymn10_as``, ``dymn20_as``) load strictly; see ``asclab.models.pretrained``.

The Dy-Conv softmax temperature is a setting, not a weight: it is not in the state dict. Training from
scratch starts at 30 and follows ``temperature_schedule``; after loading a pre-trained checkpoint it is 1.0
(``from_pretrained`` sets it), and fine-tuning keeps it there.

Looking inside (notebook 03)::

    with model.record() as rec:
        model(x)
    rec["layers.5"]["dyconv_attention"]["depth_conv"]   # [B, K], sums to 1 over K
    rec["layers.5"]["dyrelu"]["a1"]                      # [B, C_exp]  (also b1, a2, b2)
    rec["layers.5"]["coord_att"]["freq"]                 # [B, C_exp, F]  sigmoid(g_freq)
    rec["layers.5"]["coord_att"]["time"]                 # [B, C_exp, T]  sigmoid(g_time)
    rec["layers.5"]["context"]                           # [B, H]  the block's context vector
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from asclab.models.init import init_mobilenet_weights, make_divisible

__all__ = [
    "make_divisible",
    "BlockConfig",
    "BLOCK_SETTINGS",
    "block_configs",
    "temperature_schedule",
    "DynamicConv",
    "DyReLU",
    "CoordAtt",
    "ContextGen",
    "DynamicBlock",
    "DyMN",
]


@dataclass(frozen=True)
class BlockConfig:
    """One inverted-residual block, channel counts already scaled by the width multiplier."""
    in_channels: int
    kernel: int
    exp_channels: int
    out_channels: int
    activation: str  # static activation after the expansion conv: "relu" or "hardswish"
    stride: int


# MobileNetV3-Large at width 1.0: (in, kernel, expanded, out, activation, stride).
BLOCK_SETTINGS: tuple[tuple[int, int, int, int, str, int], ...] = (
    (16, 3, 16, 16, "relu", 1),
    (16, 3, 64, 24, "relu", 2),
    (24, 3, 72, 24, "relu", 1),
    (24, 5, 72, 40, "relu", 2),
    (40, 5, 120, 40, "relu", 1),
    (40, 5, 120, 40, "relu", 1),
    (40, 3, 240, 80, "hardswish", 2),
    (80, 3, 200, 80, "hardswish", 1),
    (80, 3, 184, 80, "hardswish", 1),
    (80, 3, 184, 80, "hardswish", 1),
    (80, 3, 480, 112, "hardswish", 1),
    (112, 3, 672, 112, "hardswish", 1),
    (112, 5, 672, 160, "hardswish", 2),
    (160, 5, 960, 160, "hardswish", 1),
    (160, 5, 960, 160, "hardswish", 1),
)


def block_configs(width_mult: float = 1.0) -> list[BlockConfig]:
    """The 15 blocks of a DyMN at ``width_mult``: every channel count is
    ``make_divisible(c · width_mult)``."""
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")

    def scale(c: int) -> int:
        return make_divisible(c * width_mult, 8)

    return [BlockConfig(scale(i), k, scale(e), scale(o), act, s) for i, k, e, o, act, s in BLOCK_SETTINGS]


def temperature_schedule(epoch: float, T_max: float = 30.0, T_min: float = 1.0,
                         T0_slope: float = 1.0, T1_slope: float = 0.02) -> float:
    """Dy-Conv softmax temperature for training from scratch (EfficientAT's ``update_params``).

    A steep line from ``T_max`` (slope ``T0_slope`` per epoch), then a shallow one (slope ``T1_slope``),
    never below ``T_min``:
    ``max(T_max − T0_slope·epoch, 1 + T1_slope·(T_max−1)/T0_slope − T1_slope·epoch, T_min)``.
    A model fine-tuned from a pre-trained checkpoint does not use this: its temperature stays at 1.0.
    """
    t0 = T_max - T0_slope * epoch
    t1 = 1 + T1_slope * (T_max - 1) / T0_slope - T1_slope * epoch
    return float(max(t0, t1, T_min))


def attention_spread(recorded: dict[str, dict]) -> float:
    """How much the Dy-Conv attention differs between the clips of one recorded batch (``DyMN.record``).

    Per block and dynamic conv, the largest difference between two clips in the weight of any kernel,
    ``max_k (max_b π_bk − min_b π_bk)``, averaged over all of them: 0 when every clip gets the same mix of
    kernels (a temperature far above 1 flattens every π to 1/K), up to 1 when clips pick different kernels.
    """
    spreads = [float((att.max(0).values - att.min(0).values).max())
               for entry in recorded.values() for att in entry["dyconv_attention"].values()]
    if not spreads:
        raise ValueError("nothing was recorded: run the model inside `with model.record() as rec:` first")
    return sum(spreads) / len(spreads)


def _record(module: nn.Module, value) -> None:
    """Store ``value`` where ``DyMN.record`` asked this module to put it (no-op when not recording)."""
    target = module._record_into
    if target is not None:
        dest, key = target
        dest[key] = value


def _detached(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().cpu()


class DynamicConv(nn.Module):
    """A conv whose kernel is, per sample, an attention-weighted sum of K kernels (Dy-Conv, paper Eq. 5-6).

    ``weight`` holds the K kernels as ``[1, 1, K, out·(in/groups)·k·k]`` (EfficientAT's layout; kernel i is
    ``weight[0, 0, i].view(out, in // groups, k, k)``). ``residuals`` maps the context ``h`` to K logits, and
    ``softmax(logits / temperature)`` gives the K attention weights. No bias.

    The whole batch runs as one grouped convolution: the batch is folded into the channel axis
    (``[B, C, F, T] -> [1, B·C, F, T]``) and each sample gets its own group of kernels.
    """

    def __init__(self, in_channels: int, out_channels: int, context_dim: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, groups: int = 1, k: int = 4, temperature: float = 30.0):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.groups = kernel_size, stride, padding, groups
        self.k = k
        self.temperature = float(temperature)
        self._record_into = None

        kernels = torch.empty(k, out_channels, in_channels // groups, kernel_size, kernel_size)
        for i in range(k):  # each candidate kernel gets its own kaiming-normal (fan_out) init
            nn.init.kaiming_normal_(kernels[i], mode="fan_out")
        self.weight = nn.Parameter(kernels.reshape(1, 1, k, -1))
        self.residuals = nn.Sequential(nn.Linear(context_dim, k))  # Eq. 6: context -> K attention logits

    def kernel_bank(self) -> torch.Tensor:
        """The K candidate kernels as ``[K, out, in/groups, k, k]``."""
        ks = self.kernel_size
        return self.weight.view(self.k, self.out_channels, self.in_channels // self.groups, ks, ks)

    def attention(self, h: torch.Tensor) -> torch.Tensor:
        """Attention over the K kernels: ``softmax(Linear(h) / temperature)``, ``[B, H] -> [B, K]``."""
        return F.softmax(self.residuals(h) / self.temperature, dim=-1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        att = self.attention(h)  # [B, K]
        _record(self, _detached(att))
        ks = self.kernel_size
        kernels = att @ self.weight.view(self.k, -1)  # [B, out·(in/groups)·k·k]
        kernels = kernels.view(b * self.out_channels, self.in_channels // self.groups, ks, ks)
        out = F.conv2d(x.reshape(1, b * c, f, t), kernels, stride=self.stride, padding=self.padding,
                       groups=self.groups * b)  # [1, B·out, F', T']
        return out.view(b, self.out_channels, out.shape[-2], out.shape[-1])

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, groups={self.groups}, k={self.k}, temperature={self.temperature:g}"
        )


class DyReLU(nn.Module):
    """Dynamic ReLU, variant B (one piecewise-linear function per channel, shared over frequency and time).

    ``θ = 2·sigmoid(Linear(h)) − 1`` gives 2M numbers per channel; with the constant buffers
    ``lambdas = [1]*M + [0.5]*M`` and ``init_v = [1, 0, ...]`` they become slopes ``a_m = λ_m·θ_m + v_m``
    and offsets ``b_m``; the output is ``max_m(a_m·x + b_m)``. For M=2: ``a1 = 1 + θ0, a2 = θ1,
    b1 = θ2/2, b2 = θ3/2``, so with θ = 0 it is a plain ReLU, ``max(x, 0)``.
    """

    def __init__(self, channels: int, context_dim: int, M: int = 2):
        super().__init__()
        self.channels, self.M = channels, M
        self._record_into = None
        self.register_buffer("lambdas", torch.tensor([1.0] * M + [0.5] * M))
        self.register_buffer("init_v", torch.tensor([1.0] + [0.0] * (2 * M - 1)))
        self.coef_net = nn.Sequential(nn.Linear(context_dim, 2 * M * channels))

    def coefficients(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slopes and offsets, each ``[B, C, M]``, from the context ``h`` ``[B, H]``."""
        theta = 2 * torch.sigmoid(self.coef_net(h)) - 1  # [B, 2M·C]
        coefs = theta.view(-1, self.channels, 2 * self.M) * self.lambdas + self.init_v  # [B, C, 2M]
        return coefs[..., :self.M], coefs[..., self.M:]

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        slopes, offsets = self.coefficients(h)
        if self._record_into is not None:
            rec = {f"a{m + 1}": _detached(slopes[..., m]) for m in range(self.M)}
            rec.update({f"b{m + 1}": _detached(offsets[..., m]) for m in range(self.M)})
            _record(self, rec)
        slopes, offsets = slopes[:, :, None, None, :], offsets[:, :, None, None, :]  # [B, C, 1, 1, M]
        out = x * slopes[..., 0] + offsets[..., 0]
        for m in range(1, self.M):  # running maximum: no [B, C, F, T, M] intermediate
            out = torch.maximum(out, x * slopes[..., m] + offsets[..., m])
        return out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, M={self.M}"


class CoordAtt(nn.Module):
    """Coordinate attention: ``x · sigmoid(g_freq) · sigmoid(g_time)``.

    ``g_freq`` is ``[B, C, F, 1]`` (one weight per channel and frequency band, broadcast over time) and
    ``g_time`` is ``[B, C, 1, T]``; both come from the block's ``ContextGen``. No parameters of its own.
    """

    def __init__(self):
        super().__init__()
        self._record_into = None

    def forward(self, x: torch.Tensor, g_freq: torch.Tensor, g_time: torch.Tensor) -> torch.Tensor:
        a_freq, a_time = torch.sigmoid(g_freq), torch.sigmoid(g_time)
        if self._record_into is not None:
            _record(self, {"freq": _detached(a_freq[..., 0]), "time": _detached(a_time[:, :, 0, :])})
        return x * a_freq * a_time


class ContextGen(nn.Module):
    """The block's context, computed from the block *input* (before expansion).

    1. Average over time -> one vector per frequency band ``[B, C_in, F, 1]``; over frequency -> one per
       frame.
    2. Both sequences, concatenated, go through a shared 1×1 conv ``C_in -> H`` + BN + Hardswish.
    3. ``h`` ``[B, H]``: the mean over all F+T positions; it drives Dy-Conv and Dy-ReLU.
    4. ``g_freq`` ``[B, C_exp, F', 1]`` and ``g_time`` ``[B, C_exp, 1, T']``: separate 1×1 convs
       ``H -> C_exp``, after an average pool along their own axis in stride-2 blocks (so they match the
       strided map).
    """

    def __init__(self, in_channels: int, context_dim: int, exp_channels: int, stride: int = 1):
        super().__init__()
        self.joint_conv = nn.Conv2d(in_channels, context_dim, kernel_size=1, bias=False)
        self.joint_norm = nn.BatchNorm2d(context_dim, eps=1e-3, momentum=0.01)
        self.joint_act = nn.Hardswish()
        self.conv_f = nn.Conv2d(context_dim, exp_channels, kernel_size=1)
        self.conv_t = nn.Conv2d(context_dim, exp_channels, kernel_size=1)
        if stride > 1:  # count_include_pad=True (the default) matches EfficientAT
            self.pool_f = nn.AvgPool2d(kernel_size=(3, 1), stride=(stride, 1), padding=(1, 0))
            self.pool_t = nn.AvgPool2d(kernel_size=(1, 3), stride=(1, stride), padding=(0, 1))
        else:
            self.pool_f = nn.Identity()
            self.pool_t = nn.Identity()
        self._record_into = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f, t = x.shape[2], x.shape[3]
        freq_seq = x.mean(dim=3, keepdim=True)                 # [B, C_in, F, 1]
        time_seq = x.mean(dim=2, keepdim=True).transpose(2, 3)  # [B, C_in, T, 1]
        seq = torch.cat([freq_seq, time_seq], dim=2)           # [B, C_in, F+T, 1]
        seq = self.joint_act(self.joint_norm(self.joint_conv(seq)))  # [B, H, F+T, 1]
        h = seq.mean(dim=(2, 3))                               # [B, H]
        _record(self, _detached(h))
        h_freq, h_time = torch.split(seq, [f, t], dim=2)
        g_freq = self.conv_f(self.pool_f(h_freq))                   # [B, C_exp, F', 1]
        g_time = self.conv_t(self.pool_t(h_time.transpose(2, 3)))   # [B, C_exp, 1, T']
        return h, g_freq, g_time


class DynamicBlock(nn.Module):
    """An inverted-residual block with Dy-Conv, Dy-ReLU and coordinate attention (EfficientAT's ``DY_Block``).

    context -> [expansion 1×1 Dy-Conv + BN + static act] -> depthwise k×k Dy-Conv + BN + Dy-ReLU
    -> coordinate attention -> projection 1×1 Dy-Conv + BN -> (+ input, when stride 1 and in == out).
    Blocks without expansion (expanded == input channels) have no ``exp_conv``.
    """

    def __init__(self, cfg: BlockConfig, context_dim: int, dyconv_k: int = 4, dyrelu_k: int = 2,
                 temperature: float = 30.0):
        super().__init__()
        self.cfg, self.context_dim = cfg, context_dim
        self.use_residual = cfg.stride == 1 and cfg.in_channels == cfg.out_channels

        def bn(c: int) -> nn.BatchNorm2d:
            return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

        # registration order = EfficientAT's state_dict order: exp, depth, ca, proj, context_gen
        if cfg.exp_channels != cfg.in_channels:
            self.exp_conv = DynamicConv(cfg.in_channels, cfg.exp_channels, context_dim, 1, k=dyconv_k,
                                        temperature=temperature)
            self.exp_norm = bn(cfg.exp_channels)
            self.exp_act = nn.ReLU() if cfg.activation == "relu" else nn.Hardswish()
        else:
            self.exp_conv = None
        self.depth_conv = DynamicConv(cfg.exp_channels, cfg.exp_channels, context_dim, cfg.kernel,
                                      stride=cfg.stride, padding=(cfg.kernel - 1) // 2,
                                      groups=cfg.exp_channels, k=dyconv_k, temperature=temperature)
        self.depth_norm = bn(cfg.exp_channels)
        self.depth_act = DyReLU(cfg.exp_channels, context_dim, M=dyrelu_k)
        self.ca = CoordAtt()
        self.proj_conv = DynamicConv(cfg.exp_channels, cfg.out_channels, context_dim, 1, k=dyconv_k,
                                     temperature=temperature)
        self.proj_norm = bn(cfg.out_channels)
        self.context_gen = ContextGen(cfg.in_channels, context_dim, cfg.exp_channels, stride=cfg.stride)

    def dynamic_convs(self) -> dict[str, DynamicConv]:
        names = ("exp_conv", "depth_conv", "proj_conv")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # h [B, H]; g_freq [B, C_exp, F', 1]; g_time [B, C_exp, 1, T']
        h, g_freq, g_time = self.context_gen(x)
        out = x
        if self.exp_conv is not None:
            out = self.exp_act(self.exp_norm(self.exp_conv(out, h)))  # [B, C_in, F, T] -> [B, C_exp, F, T]
        out = self.depth_act(self.depth_norm(self.depth_conv(out, h)), h)  # -> [B, C_exp, F', T']
        out = self.ca(out, g_freq, g_time)
        out = self.proj_norm(self.proj_conv(out, h))  # -> [B, C_out, F', T']
        if self.use_residual:
            out = out + x
        return out


class DyMN(nn.Module):
    """Dynamic MobileNet for log-mel input ``[B, 1, F, T]``: stem, 15 ``DynamicBlock``s, a 1×1 conv to
    ``6 × last block channels`` and an MLP head.

    ``forward(x) -> logits [B, num_classes]``; ``forward_with_embedding(x) -> (logits, embedding [B, D])``,
    where the embedding is the globally pooled output of the final 1×1 conv and ``D = embedding_dim``.

    ``temperature`` is the initial Dy-Conv softmax temperature: 30 for training from scratch (then follow
    ``update_temperature(epoch)``), 1.0 for a model loaded from a pre-trained checkpoint.
    """

    def __init__(self, width_mult: float = 1.0, num_classes: int = 527, dyconv_k: int = 4, dyrelu_k: int = 2,
                 context_ratio: int = 4, min_context: int = 32, max_context: int = 128,
                 temperature: float = 30.0, dropout: float = 0.2, in_channels: int = 1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.width_mult, self.num_classes, self.in_channels = width_mult, num_classes, in_channels
        cfgs = block_configs(width_mult)
        lo, hi = make_divisible(min_context * width_mult, 8), make_divisible(max_context * width_mult, 8)

        # `layers` is registered before the stem, as in EfficientAT, so state_dict keys follow its order
        self.layers = nn.ModuleList()
        self.in_c = nn.Sequential(
            nn.Conv2d(in_channels, cfgs[0].in_channels, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(cfgs[0].in_channels, eps=1e-3, momentum=0.01),
            nn.Hardswish(),
        )
        for cfg in cfgs:
            context_dim = min(max(make_divisible(cfg.exp_channels // context_ratio, 8), lo), hi)
            self.layers.append(DynamicBlock(cfg, context_dim, dyconv_k, dyrelu_k, temperature))

        last = cfgs[-1].out_channels
        self.embedding_dim = 6 * last
        self.out_c = nn.Sequential(
            nn.Conv2d(last, self.embedding_dim, kernel_size=1, bias=False),
            nn.BatchNorm2d(self.embedding_dim, eps=1e-3, momentum=0.01),
            nn.Hardswish(),
        )
        hidden = make_divisible(1280 * width_mult, 8)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Linear(self.embedding_dim, hidden),
            nn.Hardswish(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # Dy-Conv kernel banks are initialised in DynamicConv itself (kaiming-normal, fan_out, per kernel)
        init_mobilenet_weights(self)

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DyMN expects a log-mel batch [B, {self.in_channels}, F, T], got shape "
                             f"{tuple(x.shape)}; add the channel axis with x.unsqueeze(1)")
        x = self.in_c(x)  # [B, 1, F, T] -> [B, C0, F/2, T/2]
        for layer in self.layers:
            x = layer(x)
        x = self.out_c(x)  # [B, D, F/32, T/32]
        embedding = F.adaptive_avg_pool2d(x, 1).flatten(1)  # [B, D]
        logits = self.classifier(x)  # [B, num_classes]
        return logits, embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_embedding(x)[0]

    # ---- head ----------------------------------------------------------------------------------------
    def replace_classifier(self, num_classes: int) -> nn.Linear:
        """Swap the output layer (``classifier.5``) for a freshly initialised
        ``Linear(hidden, num_classes)``."""
        old = self.classifier[5]
        new = nn.Linear(old.in_features, num_classes)
        nn.init.normal_(new.weight, 0.0, 0.01)
        nn.init.zeros_(new.bias)
        new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        self.classifier[5] = new
        self.num_classes = num_classes
        return new

    # ---- temperature ---------------------------------------------------------------------------------
    def dynamic_convs(self) -> Iterator[DynamicConv]:
        return (m for m in self.modules() if isinstance(m, DynamicConv))

    @property
    def temperature(self) -> float:
        """The Dy-Conv softmax temperature (the same in every DynamicConv)."""
        return next(self.dynamic_convs()).temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self.set_temperature(value)

    def set_temperature(self, temperature: float) -> None:
        """Set the softmax temperature of every DynamicConv (1.0 after loading a pre-trained checkpoint)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        for conv in self.dynamic_convs():
            conv.temperature = float(temperature)

    def update_temperature(self, epoch: float, T_max: float = 30.0, T_min: float = 1.0,
                           T0_slope: float = 1.0, T1_slope: float = 0.02) -> float:
        """Set the temperature to ``temperature_schedule(epoch, ...)`` (training from scratch) and return
        it."""
        t = temperature_schedule(epoch, T_max=T_max, T_min=T_min, T0_slope=T0_slope, T1_slope=T1_slope)
        self.set_temperature(t)
        return t

    # ---- looking inside ------------------------------------------------------------------------------
    @contextmanager
    def record(self) -> Iterator[dict[str, dict]]:
        """Capture each block's dynamic quantities during the forward passes run inside the ``with``.

        Yields ``rec``; after ``model(x)``, ``rec["layers.i"]`` holds (detached, float32, CPU; the last
        forward pass wins):

        - ``"dyconv_attention"``: ``{"exp_conv"|"depth_conv"|"proj_conv": [B, K]}`` softmax weights
          (block 0 has no ``exp_conv``);
        - ``"dyrelu"``: ``{"a1", "b1", "a2", "b2"}``, each ``[B, C_exp]`` (``a{m}``/``b{m}`` for M pieces);
        - ``"coord_att"``: ``{"freq": [B, C_exp, F'], "time": [B, C_exp, T']}`` = sigmoid(g_freq),
          sigmoid(g_time);
        - ``"context"``: ``[B, H]`` the context vector ``h``.
        """
        rec: dict[str, dict] = {}
        hooked: list[nn.Module] = []
        for i, block in enumerate(self.layers):
            entry: dict = {"dyconv_attention": {}}
            rec[f"layers.{i}"] = entry
            for name, conv in block.dynamic_convs().items():
                conv._record_into = (entry["dyconv_attention"], name)
                hooked.append(conv)
            for module, key in ((block.depth_act, "dyrelu"), (block.ca, "coord_att"),
                                (block.context_gen, "context")):
                module._record_into = (entry, key)
                hooked.append(module)
        try:
            yield rec
        finally:
            for module in hooked:
                module._record_into = None
