"""Batch augmentations on log-mel spectrograms ``[B, C, F, T]`` (``C`` is 1 in asclab).

The recipe follows the paper's training set-up: Freq-MixStyle and frequency masking on every batch, then
Mixup or FMix. Every function

* takes a ``torch.Generator`` (``generator``), so the same seed reproduces the same batch exactly;
* is the identity when its probability is 0, and then draws nothing from the generator;
* uses only differentiable torch ops on ``x``, so gradients reach the input.

Random numbers are drawn on the generator's device and moved to ``x``'s device, so a CPU generator works
for a batch on a GPU.

Beta sampling. ``torch.distributions.Beta`` cannot take a generator, so :func:`sample_beta` draws one
64-bit seed from the torch generator and samples with ``numpy.random.Generator.beta`` seeded by it. That is
exact (NumPy's Beta sampler), cheap for the few values a batch needs, and still fully determined by the
torch generator.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


# --- random draws from a torch.Generator --------------------------------------------------------------
def _check_batch(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a log-mel batch [B, C, F, T] (e.g. [B, 1, 256, 64]); got {shape}")


def _check_probability(p: float, name: str = "p") -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {p}")


def _check_alpha(alpha: float) -> None:
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 for Beta(alpha, alpha); got {alpha}")


def _uniform(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device)


def _coin(generator: torch.Generator, p: float) -> bool:
    """True with probability ``p``; draws one number only when the answer is not already certain."""
    if p >= 1.0:
        return True
    return bool(_uniform(generator, 1).item() < p)


def _permutation(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def sample_beta(alpha: float, size: int, generator: torch.Generator) -> np.ndarray:
    """``size`` draws from Beta(alpha, alpha), determined by ``generator`` (see the module docstring)."""
    _check_alpha(alpha)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    return np.random.default_rng(seed).beta(alpha, alpha, size=size)


# --- frequency masking --------------------------------------------------------------------------------
def freq_mask(x: torch.Tensor, generator: torch.Generator, p: float = 1.0, max_width: int = 48,
              n_masks: int = 1, mode: str = "zero") -> torch.Tensor:
    """Mask ``n_masks`` random bands of contiguous frequency bins in each sample.

    Each sample is masked with probability ``p``, independently of the others (torchaudio's
    ``FrequencyMasking(iid_masks=True)``). A band's width is uniform in ``0..max_width`` bins and its start
    uniform over the positions where it fits. ``mode="zero"`` writes 0 (the mean of a normalised log-mel),
    ``mode="mean"`` writes the sample's own mean. ``[B, C, F, T] -> [B, C, F, T]``.
    """
    _check_batch(x)
    _check_probability(p)
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean'; got {mode!r}")
    if max_width < 0 or n_masks < 0:
        raise ValueError(f"max_width and n_masks must be >= 0; got {max_width} and {n_masks}")
    if p == 0 or max_width == 0 or n_masks == 0:
        return x
    b, _, n_bins, _ = x.shape
    max_width = min(max_width, n_bins)
    draws = _uniform(generator, 3, b, n_masks).to(x.device)        # a fixed number of draws per call
    width = torch.floor(draws[0] * (max_width + 1))                  # [B, M] in 0..max_width
    start = torch.floor(draws[1] * (n_bins - width + 1))            # [B, M] in 0..F-width
    applied = draws[2, :, :1] < p                                    # [B, 1]: one coin per sample
    bins = torch.arange(n_bins, device=x.device).view(1, 1, n_bins)  # [1, 1, F]
    in_band = (bins >= start.unsqueeze(-1)) & (bins < (start + width).unsqueeze(-1))  # [B, M, F]
    masked = (in_band.any(dim=1) & applied).view(b, 1, n_bins, 1)   # [B, 1, F, 1]
    fill = x.mean(dim=(1, 2, 3), keepdim=True) if mode == "mean" else torch.zeros((), dtype=x.dtype,
                                                                                    device=x.device)
    return torch.where(masked, fill, x)


# --- Mixup and FMix -----------------------------------------------------------------------------------
def _draw_partners(x: torch.Tensor, generator: torch.Generator, alpha: float, p: float):
    """Mixup's and FMix's shared draw: with probability ``p`` a partner permutation and λ ~ Beta(α, α),
    folded to ``max(λ, 1 - λ)``; else ``(None, 1.0)`` without touching the generator."""
    _check_batch(x)
    _check_probability(p)
    _check_alpha(alpha)
    if not (p > 0 and _coin(generator, p)):
        return None, 1.0
    perm = _permutation(x.shape[0], generator, x.device)
    lam = float(sample_beta(alpha, 1, generator)[0])
    return perm, max(lam, 1.0 - lam)


def mixup(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, alpha: float = 0.3, p: float = 1.0,
          *, return_perm: bool = False):
    """Mixup (Zhang et al. 2018): ``x_mixed = lam * x + (1 - lam) * x[perm]``.

    One ``lam ~ Beta(alpha, alpha)`` per batch, folded to ``max(lam, 1 - lam)`` so that ``y_a`` is always the
    majority label (the pair is unordered, so this loses nothing). The batch is mixed with probability ``p``.
    Returns ``(x_mixed, y_a, y_b, lam)`` with ``y_a = y``, ``y_b = y[perm]`` and ``lam`` a float; train with
    :func:`mixed_cross_entropy`. With ``return_perm=True`` the permutation (``None`` if not mixed) is
    appended.
    """
    perm, lam = _draw_partners(x, generator, alpha, p)
    if perm is not None:
        x = lam * x + (1.0 - lam) * x[perm]
    y_b = y if perm is None else y[perm]
    out = (x, y, y_b, lam)
    return out + (perm,) if return_perm else out


def fmix_mask(shape: tuple[int, int], lam: float, decay_power: float = 3.0,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """A binary FMix mask ``[F, T]`` (Harris et al. 2020) with exactly ``round(lam * F * T)`` ones.

    1. sample a complex Gaussian spectrum on the (real-FFT half of the) ``F x T`` frequency grid,
    2. scale it by ``1 / |f| ** decay_power``: a larger decay power keeps only low frequencies,
    3. inverse FFT to a real, smooth image,
    4. set its ``round(lam * F * T)`` largest cells to 1 and the rest to 0, so ``mask.mean()`` is ``lam``
       to within half a cell.

    Returns a float32 tensor of 0s and 1s on the generator's device.
    """
    n_freq, n_time = int(shape[0]), int(shape[1])
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1]; got {lam}")
    dev = generator.device if generator is not None else torch.device("cpu")  # None: torch's global RNG
    fy = torch.fft.fftfreq(n_freq, device=dev).view(-1, 1)         # [F, 1]
    fx = torch.fft.rfftfreq(n_time, device=dev).view(1, -1)        # [1, T//2 + 1]
    radius = torch.sqrt(fy**2 + fx**2)
    # the DC cell has radius 0: clamp it to the lowest non-zero frequency, as FMix does
    scale = 1.0 / radius.clamp(min=1.0 / max(n_freq, n_time)) ** decay_power
    real_imag = torch.randn((2,) + tuple(radius.shape), generator=generator, device=dev)
    spectrum = torch.complex(real_imag[0] * scale, real_imag[1] * scale)
    image = torch.fft.irfft2(spectrum, s=(n_freq, n_time))        # [F, T], real
    n_ones = int(round(lam * n_freq * n_time))
    mask = torch.zeros(n_freq * n_time, device=dev)
    if n_ones > 0:
        mask[torch.topk(image.flatten(), n_ones).indices] = 1.0
    return mask.view(n_freq, n_time)


def fmix(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, alpha: float = 1.0,
         decay_power: float = 3.0, p: float = 1.0, *, return_perm: bool = False):
    """FMix: ``x_mixed = m * x + (1 - m) * x[perm]`` with a low-frequency binary mask ``m`` ([F, T]).

    One mask and one ``lam ~ Beta(alpha, alpha)`` per batch, as in FMix; ``lam`` is folded to
    ``max(lam, 1 - lam)`` as in :func:`mixup` (FMix's masks for ``lam`` and ``1 - lam`` have the same
    distribution). The batch is mixed with probability ``p``. Returns ``(x_mixed, y_a, y_b, lam)`` where
    ``lam`` is the effective weight, the mask's mean; ``return_perm=True`` appends the permutation.
    """
    perm, lam = _draw_partners(x, generator, alpha, p)
    if perm is not None:
        mask = fmix_mask(x.shape[-2:], lam, decay_power, generator).to(device=x.device, dtype=x.dtype)
        lam = float(mask.mean())
        x = mask * x + (1.0 - mask) * x[perm]                      # [F, T] broadcasts over [B, C]
    y_b = y if perm is None else y[perm]
    out = (x, y, y_b, lam)
    return out + (perm,) if return_perm else out


# --- Freq-MixStyle ------------------------------------------------------------------------------------
def freq_mixstyle(x: torch.Tensor, generator: torch.Generator, alpha: float = 0.3, p: float = 0.4,
                  eps: float = 1e-6, *, return_params: bool = False):
    """Freq-MixStyle (Schmid et al. 2022): mix each sample's per-frequency statistics with a partner's.

    For every sample and frequency bin, ``mu`` and ``sigma`` are the mean and standard deviation over
    channels and time (dims 1 and 3; ``sigma = sqrt(var + eps)``, population variance). The sample is
    normalised with its own statistics and re-styled with
    ``lam * (mu, sigma) + (1 - lam) * (mu, sigma)[perm]``, ``lam ~ Beta(alpha, alpha)`` per sample. A
    device's channel is mostly a per-frequency gain, i.e. a per-bin offset of the log-mel, so this blurs the
    device fingerprint.

    The whole batch is styled with probability ``p``. As in MixStyle, the statistics are detached from the
    graph: the gradient flows through ``x`` (the normalised content), not through the style.
    With ``return_params=True`` returns ``(x_out, perm, lam [B])`` (``perm`` and ``lam`` None if skipped).
    """
    _check_batch(x)
    _check_probability(p)
    _check_alpha(alpha)
    perm = lam = None
    if p > 0 and _coin(generator, p):
        b = x.shape[0]
        mu = x.mean(dim=(1, 3), keepdim=True).detach()                                      # [B, 1, F, 1]
        sigma = (x.var(dim=(1, 3), keepdim=True, correction=0) + eps).sqrt().detach()      # [B, 1, F, 1]
        perm = _permutation(b, generator, x.device)
        lam = torch.as_tensor(sample_beta(alpha, b, generator), dtype=x.dtype, device=x.device)
        w = lam.view(b, 1, 1, 1)
        mu_mix = w * mu + (1 - w) * mu[perm]
        sigma_mix = w * sigma + (1 - w) * sigma[perm]
        x = (x - mu) / sigma * sigma_mix + mu_mix
    return (x, perm, lam) if return_params else x


# --- loss ---------------------------------------------------------------------------------------------
def mixed_cross_entropy(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor,
                        lam: float | torch.Tensor) -> torch.Tensor:
    """``lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)``, averaged over the batch.

    ``lam`` is a float (Mixup, FMix) or a per-sample tensor ``[B]``. With ``lam = 1`` this is plain CE.
    """
    if isinstance(lam, torch.Tensor) and lam.dim() > 0:
        lam = lam.to(logits.dtype)
        ce_a = F.cross_entropy(logits, y_a, reduction="none")
        ce_b = F.cross_entropy(logits, y_b, reduction="none")
        return (lam * ce_a + (1 - lam) * ce_b).mean()
    lam = float(lam)
    loss = lam * F.cross_entropy(logits, y_a)
    if lam < 1.0:
        loss = loss + (1.0 - lam) * F.cross_entropy(logits, y_b)
    return loss


# --- the recipe ---------------------------------------------------------------------------------------
_DEFAULT_MIX_ALPHA = {"mixup": 0.3, "fmix": 1.0}


@dataclass
class AugmentConfig:
    """The augmentation recipe. Defaults follow the paper: Freq-MixStyle (p 0.4, alpha 0.3), frequency
    masking (up to 48 of 256 bins), then Mixup (alpha 0.3) or FMix (alpha 1, decay power 3).

    ``mix_alpha=None`` picks the method's default alpha (0.3 for Mixup, 1.0 for FMix).
    Set a probability to 0 to switch a step off; ``AugmentConfig.off()`` switches everything off.
    """
    mix: str | None = "mixup"            # None | "mixup" | "fmix"
    mix_alpha: float | None = None
    fmix_decay: float = 3.0
    mix_p: float = 1.0
    freq_mask_p: float = 1.0
    freq_mask_width: int = 48
    mixstyle_p: float = 0.4
    mixstyle_alpha: float = 0.3

    def __post_init__(self):
        if self.mix not in (None, "mixup", "fmix"):
            raise ValueError(f"mix must be None, 'mixup' or 'fmix'; got {self.mix!r}")
        for name in ("mix_p", "freq_mask_p", "mixstyle_p"):
            _check_probability(getattr(self, name), name)

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation at all: ``apply`` returns the batch unchanged."""
        return cls(mix=None, freq_mask_p=0.0, mixstyle_p=0.0)

    @property
    def alpha(self) -> float | None:
        """The Beta parameter the mixing step uses (None when there is no mixing)."""
        if self.mix is None:
            return None
        return _DEFAULT_MIX_ALPHA[self.mix] if self.mix_alpha is None else self.mix_alpha

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        """Freq-MixStyle, then frequency masking, then Mixup or FMix.

        Returns ``(x, y_a, y_b, lam, perm)``; ``perm`` is the mixing partner of each sample (None when the
        batch was not mixed), so a caller can mix teacher logits the same way for distillation. Masking comes
        after Freq-MixStyle so that a masked band stays exactly 0 (or the mean) and does not enter the
        per-bin statistics.
        """
        x = freq_mixstyle(x, generator, alpha=self.mixstyle_alpha, p=self.mixstyle_p)
        x = freq_mask(x, generator, p=self.freq_mask_p, max_width=self.freq_mask_width)
        if self.mix == "mixup":
            return mixup(x, y, generator, alpha=self.alpha, p=self.mix_p, return_perm=True)
        if self.mix == "fmix":
            return fmix(x, y, generator, alpha=self.alpha, decay_power=self.fmix_decay, p=self.mix_p,
                        return_perm=True)
        return x, y, y, 1.0, None


# --- how different are the devices? -------------------------------------------------------------------
def per_device_mean_spectra(x: torch.Tensor, devices: Sequence[Hashable]) -> dict:
    """The mean log-mel spectrum ``[F]`` of each device, averaged over its clips, channels and time.

    ``x`` is ``[N, C, F, T]`` or ``[N, F, T]``; ``devices`` names the device of each clip. Keys keep the order
    in which devices first appear.
    """
    if x.dim() == 3:
        x = x.unsqueeze(1)
    _check_batch(x)
    devices = list(devices.tolist() if hasattr(devices, "tolist") else devices)
    if len(devices) != x.shape[0]:
        raise ValueError(
            f"devices must name one device per clip: {len(devices)} names for {x.shape[0]} clips"
        )
    per_clip = x.detach().mean(dim=(1, 3))                                   # [N, F]
    spectra = {}
    for device in dict.fromkeys(devices):
        index = torch.tensor([i for i, d in enumerate(devices) if d == device], device=x.device)
        spectra[device] = per_clip[index].mean(dim=0)
    return spectra


def device_gap(x: torch.Tensor, devices: Sequence[Hashable]) -> float:
    """How different the devices' mean spectra are, in the units of ``x`` (log-mel, dB-like).

    The root-mean-square difference over frequency bins between two devices' mean spectra, averaged over
    all device pairs. 0 when every device has the same mean spectrum (or there is only one device).
    """
    spectra = list(per_device_mean_spectra(x, devices).values())
    if len(spectra) < 2:
        return 0.0
    gaps = [torch.sqrt(torch.mean((a - b) ** 2)).item()
            for i, a in enumerate(spectra) for b in spectra[i + 1:]]
    return float(sum(gaps) / len(gaps))
