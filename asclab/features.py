"""The log-mel front-end, the per-bin normalizer, and a content-keyed feature cache.

The front-end is the DCASE2024 baseline's (``shared/reference/preprocessing.json``: torchaudio Resample
44.1 -> 32 kHz, then MelSpectrogram with n_fft 4096, window 3072, 256 mel bins, log(x + 1e-5)) with one
change: hop 505 instead of 500, so a 1-s clip gives 64 frames instead of 65, which keeps CP-Mobile under
30 M MACs.

A clip's log-mel never changes while the audio and the settings stay the same, so ``load_features`` computes
the log-mels of a whole dataset once, stores them under a key made from the settings and a fingerprint of the
data, and serves every later request (any split, any notebook, any epoch) from that file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio
from torch import nn

from asclab import storage
from asclab.data import DEVICE_GROUPS, DEVICES, TAU22, Clip, load_audio

CACHE_FORMAT = 1  # bump when the cache layout or the front-end code changes: every old cache is then stale


@dataclass(frozen=True)
class FrontEndConfig:
    """The log-mel settings. Every field goes into the cache key."""
    orig_sr: int = 44_100          # TAU22 audio
    sr: int = 32_000               # the baseline resamples to 32 kHz
    n_fft: int = 4096
    win_length: int = 3072
    # 505, not the baseline's 500: 64 frames per 1-s clip (see module docstring)
    hop_length: int = 505
    n_mels: int = 256
    f_min: float = 0.0
    f_max: float | None = None     # None: sr / 2
    log_offset: float = 1e-5
    clip_seconds: float = 1.0      # LogMel pads or trims every clip to exactly this length
    length_tolerance: float = 0.01  # seconds; a clip further off than this is an error, not silently fixed

    @property
    def clip_samples(self) -> int:
        """Samples of one clip at the original rate: 44100."""
        return round(self.orig_sr * self.clip_seconds)

    @property
    def n_frames(self) -> int:
        """Frames of one clip's log-mel: 1 + floor(resampled samples / hop) = 64 (center=True)."""
        # torchaudio Resample: ceil(n * new / orig)
        resampled = -(-self.clip_samples * self.sr // self.orig_sr)
        return 1 + resampled // self.hop_length

    def key(self) -> str:
        return storage.content_key("asclab.features.FrontEndConfig", dataclasses.asdict(self))

    def replace(self, **changes) -> FrontEndConfig:
        return dataclasses.replace(self, **changes)


def fit_length(waveform: torch.Tensor, samples: int, tolerance: int) -> torch.Tensor:
    """Zero-pad or trim the last axis to ``samples``; more than ``tolerance`` samples off is a ValueError.

    TAU22 clips are exactly 1 s; a few samples off (another tool's rounding) is fixed here, so that every
    clip gives the same number of frames. A 10-s recording is refused rather than silently cut.
    """
    n = waveform.shape[-1]
    if abs(n - samples) > tolerance:
        raise ValueError(
            f"waveform has {n} samples; expected {samples} (one clip, give or take {tolerance}): cut longer "
            "recordings into 1-s pieces first, or use a FrontEndConfig with another clip_seconds")
    if n < samples:
        return torch.nn.functional.pad(waveform, (0, samples - n))
    return waveform[..., :samples]


class LogMel(nn.Module):
    """Waveform at 44.1 kHz -> log-mel: ``[B, 44100] -> [B, 256, 64]`` (also ``[44100] -> [256, 64]``).

    ``[B, 1, 44100]`` is accepted too (the channel axis is dropped). With ``fix_length=True`` (default) the
    input is padded or trimmed to exactly one clip (see ``fit_length``); set it to False for any length.
    """

    def __init__(self, config: FrontEndConfig = FrontEndConfig(), fix_length: bool = True):
        super().__init__()
        self.config = config
        self.fix_length = fix_length
        self.resample = (torchaudio.transforms.Resample(config.orig_sr, config.sr)
                         if config.orig_sr != config.sr else nn.Identity())
        # torchaudio defaults otherwise: periodic Hann, power 2, center=True, reflect padding, HTK mel,
        # no norm
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sr, n_fft=config.n_fft, win_length=config.win_length,
            hop_length=config.hop_length, f_min=config.f_min, f_max=config.f_max, n_mels=config.n_mels)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 3 and waveform.shape[1] == 1:
            waveform = waveform[:, 0]                          # [B, 1, S] -> [B, S]
        if waveform.dim() not in (1, 2):
            raise ValueError(f"waveform of shape {tuple(waveform.shape)}; expected [samples], [B, samples] "
                             "or [B, 1, samples] (mono)")
        if self.fix_length:
            c = self.config
            waveform = fit_length(waveform, c.clip_samples, round(c.length_tolerance * c.orig_sr))
        x = self.resample(waveform.float())                    # [B, 44100] -> [B, 32000]
        x = self.mel(x)                                        # -> [B, 256, 64] power
        return torch.log(x + self.config.log_offset)


class Normalizer:
    """Per-mel-bin standardization: ``(x - mean[f]) / std[f]`` with statistics over clips and frames.

    Fit it on the training split only. ``partial_fit`` accumulates sums in float64, so a large set can be
    fed batch by batch; ``fit`` does that over ``x`` in chunks. Works on ``[B, 1, F, T]``, ``[B, F, T]`` and
    ``[F, T]``.
    """

    def __init__(self, eps: float = 1e-5):
        self.eps = eps
        self.mean: torch.Tensor | None = None   # [F]
        self.std: torch.Tensor | None = None    # [F]
        self._count = 0
        self._sum: torch.Tensor | None = None
        self._sumsq: torch.Tensor | None = None

    @staticmethod
    def _as_nft(x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.dim() == 4:
            if x.shape[1] != 1:
                raise ValueError(f"x of shape {tuple(x.shape)}; expected [N, 1, F, T] (one channel)")
            x = x[:, 0]
        if x.dim() == 2:
            x = x[None]
        if x.dim() != 3:
            raise ValueError(f"x of shape {tuple(x.shape)}; expected [N, 1, F, T], [N, F, T] or [F, T]")
        return x

    def partial_fit(self, x: torch.Tensor) -> Normalizer:
        x = self._as_nft(x).to(torch.float64)                 # [N, F, T]
        if self._sum is None:                                  # first batch (or first after fit/load)
            self._count = 0
            self._sum = torch.zeros(x.shape[1], dtype=torch.float64)
            self._sumsq = torch.zeros(x.shape[1], dtype=torch.float64)
        elif x.shape[1] != self._sum.shape[0]:
            raise ValueError(f"{x.shape[1]} mel bins; this normalizer was fed {self._sum.shape[0]} so far")
        self._sum += x.sum(dim=(0, 2))
        self._sumsq += (x * x).sum(dim=(0, 2))
        self._count += x.shape[0] * x.shape[2]
        mean = self._sum / self._count
        var = (self._sumsq / self._count - mean * mean).clamp_min(0.0)
        self.mean = mean.float()
        self.std = var.sqrt().clamp_min(self.eps).float()
        return self

    def fit(self, x: torch.Tensor, chunk: int = 1024) -> Normalizer:
        """Fit on ``x`` (``[N, 1, F, T]`` or ``[N, F, T]``): the training features."""
        self._count, self._sum, self._sumsq = 0, None, None
        x = self._as_nft(x)
        if x.shape[0] == 0:
            raise ValueError("cannot fit a Normalizer on zero clips: pass the training features")
        for start in range(0, x.shape[0], chunk):
            self.partial_fit(x[start:start + chunk])
        return self

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.fitted:
            raise RuntimeError("this Normalizer is not fitted: call normalizer.fit(train_set.x) first "
                               "(or Normalizer.load(path))")
        if x.shape[-2] != self.mean.shape[0]:
            raise ValueError(f"x has {x.shape[-2]} mel bins (axis -2); the normalizer was fitted on "
                             f"{self.mean.shape[0]}")
        dtype = x.dtype if x.is_floating_point() else torch.float32
        return (self.mean.to(x.device, dtype)[:, None],        # [F, 1]: broadcasts over [..., F, T]
                self.std.to(x.device, dtype)[:, None])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return (x - mean) / std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return x * std + mean

    def state_dict(self) -> dict:
        if not self.fitted:
            raise RuntimeError("this Normalizer is not fitted: nothing to save; call fit first")
        return {"kind": "asclab.features.Normalizer", "version": 1, "mean": self.mean.clone(),
                "std": self.std.clone(), "count": int(self._count), "eps": float(self.eps)}

    def load_state_dict(self, state: dict) -> Normalizer:
        if not isinstance(state, dict) or state.get("kind") != "asclab.features.Normalizer":
            raise ValueError("not a Normalizer state: expected a dict saved by Normalizer.save / state_dict")
        self.eps = float(state["eps"])
        self.mean = state["mean"].float()
        self.std = state["std"].float()
        # partial_fit would start afresh
        self._count, self._sum, self._sumsq = int(state["count"]), None, None
        return self

    def save(self, path: str | os.PathLike) -> Path:
        return storage.atomic_torch_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Normalizer:
        state = storage.load_checkpoint(path)
        try:
            return cls().load_state_dict(state)
        except (ValueError, KeyError) as e:
            raise ValueError(f"{path} does not hold a Normalizer ({e}); expected a file written by "
                             "Normalizer.save") from e

    def __repr__(self) -> str:
        return f"Normalizer(bins={self.mean.shape[0]}, count={self._count})" if self.fitted \
            else "Normalizer(not fitted)"


@dataclass
class FeatureSet:
    """Log-mels and labels of a list of clips (raw log-mel: normalize per batch)."""
    x: torch.Tensor          # [N, 1, 256, 64] float32
    y: torch.Tensor          # [N] int64 fine labels (SCENES order)
    y_coarse: torch.Tensor   # [N] int64 coarse labels (COARSE order)
    devices: list[str]
    filenames: list[str]
    cities: list[str]
    locations: list[str]
    key: str = ""            # the feature cache key these log-mels came from (data + front-end); "" if none

    def __post_init__(self):
        n = self.x.shape[0]
        sizes = {len(self.y), len(self.y_coarse), len(self.devices), len(self.filenames), len(self.cities),
                 len(self.locations)}
        if sizes != {n}:
            raise ValueError(
                f"FeatureSet fields have different lengths ({n} clips in x, others {sorted(sizes)})"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index) -> FeatureSet:
        """The clips at ``index``: a list or tensor of positions, a boolean mask, or a slice."""
        if isinstance(index, slice):
            idx = torch.arange(len(self))[index]
        else:
            idx = torch.as_tensor(np.asarray(index) if not torch.is_tensor(index) else index)
            if idx.dtype == torch.bool:
                if idx.shape != (len(self),):
                    raise ValueError(f"boolean mask of shape {tuple(idx.shape)}; expected ({len(self)},)")
                idx = idx.nonzero().flatten()
            idx = idx.long().flatten()
        pick = idx.tolist()
        return FeatureSet(x=self.x[idx], y=self.y[idx], y_coarse=self.y_coarse[idx],
                          devices=[self.devices[i] for i in pick],
                          filenames=[self.filenames[i] for i in pick],
                          cities=[self.cities[i] for i in pick], locations=[self.locations[i] for i in pick],
                          key=self.key)

    def device_mask(self, devices: str | Iterable[str]) -> torch.Tensor:
        """``[N]`` bool: which clips come from ``devices`` (names such as "a", "s4", or groups such as
        "unseen")."""
        names = [devices] if isinstance(devices, str) else list(devices)
        wanted: set[str] = set()
        for name in names:
            if name in DEVICE_GROUPS:
                wanted.update(DEVICE_GROUPS[name])
            elif name in DEVICES:
                wanted.add(name)
            else:
                raise ValueError(f"unknown device {name!r}: expected one of {', '.join(DEVICES)} "
                                 f"or a group ({', '.join(DEVICE_GROUPS)})")
        return torch.tensor([d in wanted for d in self.devices], dtype=torch.bool)

    def __repr__(self) -> str:
        return f"FeatureSet({len(self)} clips, x {tuple(self.x.shape)})"


def feature_set(x: torch.Tensor, clips: Sequence[Clip], key: str = "") -> FeatureSet:
    """A FeatureSet from log-mels ``[N, 1, F, T]`` and their clips (in the same order)."""
    return FeatureSet(
        x=x, y=torch.tensor([c.label for c in clips], dtype=torch.int64),
        y_coarse=torch.tensor([c.coarse_label for c in clips], dtype=torch.int64),
        devices=[c.device for c in clips], filenames=[c.filename for c in clips],
        cities=[c.city for c in clips], locations=[c.location for c in clips], key=key)


# --- computing and caching -------------------------------------------------------------------------
def _batches(n: int, batch_size: int, progress: bool, desc: str):
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm
        return tqdm(starts, desc=desc, unit="batch")
    return starts


def compute_logmels(paths: Sequence[str | os.PathLike], config: FrontEndConfig = FrontEndConfig(),
                    batch_size: int = 64, progress: bool = False,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Read wavs and compute their log-mels, batch by batch: ``[N, F, T]`` float32 (into ``out`` if given).

    No cache: ``load_features`` is the cached way. Deterministic: the same files, settings and batch size
    give the same numbers.
    """
    frontend = LogMel(config).eval()
    tolerance = round(config.length_tolerance * config.orig_sr)
    if out is None:
        out = np.empty((len(paths), config.n_mels, config.n_frames), dtype=np.float32)
    with torch.inference_mode():
        for start in _batches(len(paths), batch_size, progress, "log-mel"):
            waves = []
            for path in paths[start:start + batch_size]:
                audio, _ = load_audio(path, expected_sr=config.orig_sr)
                try:
                    waves.append(fit_length(torch.from_numpy(audio), config.clip_samples, tolerance))
                except ValueError as e:
                    raise ValueError(f"{path}: {e}") from None
            out[start:start + len(waves)] = frontend(torch.stack(waves)).numpy()  # [B, S] -> [B, F, T]
    return out


def data_fingerprint(dataset: TAU22, mode: str = "stat") -> str:
    """A key for the data: meta.csv's bytes plus, for every wav it lists, its size and mtime (``"stat"``),
    or a SHA-256 of its bytes (``"content"``).

    ``"stat"`` (default) costs one stat per file, and any edit, re-download or re-synthesis changes it.
    It cannot see a rewrite that keeps the size and the modification time (e.g. a same-size rewrite within
    the file system's timestamp granularity, or a restored mtime); use ``"content"`` when that matters.
    Copying the data elsewhere changes mtimes and so forces one recomputation.
    """
    if mode not in ("stat", "content"):
        raise ValueError(f"unknown fingerprint mode {mode!r}: expected 'stat' or 'content'")
    h = hashlib.sha256()
    h.update(dataset.meta_path.read_bytes())
    for clip in dataset.clips:
        path = dataset.wav_path(clip)
        try:
            if mode == "stat":
                st = os.stat(path)
                h.update(f"{clip.filename}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
            else:
                h.update(f"{clip.filename}\t{storage.file_digest(path, length=64)}\n".encode())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} is listed in {dataset.meta_path} but does not exist; expected "
                                    "every wav of meta.csv in audio/") from None
    return h.hexdigest()[:32]


def cache_key(dataset: TAU22, config: FrontEndConfig = FrontEndConfig(), fingerprint: str = "stat") -> str:
    """The cache key: front-end settings, library versions (resampling numerics) and the data fingerprint."""
    return storage.content_key("asclab.features.cache", CACHE_FORMAT, config.key(), torch.__version__,
                               torchaudio.__version__, data_fingerprint(dataset, fingerprint))


def _default_cache_dir() -> Path:
    return storage.asclab_home() / "features"


def _valid_cache(folder: Path, key: str, n: int, config: FrontEndConfig) -> bool:
    """True if ``folder`` holds a complete cache for ``key`` (index.json is written last: it marks
    completion)."""
    index_path, array_path = folder / "index.json", folder / "logmel.npy"
    if not (index_path.is_file() and array_path.is_file()):
        return False
    try:
        index = storage.read_json(index_path)
        array = np.load(array_path, mmap_mode="r")
    except (ValueError, OSError):
        return False
    return (index.get("key") == key and index.get("n_clips") == n
            and tuple(array.shape) == (n, config.n_mels, config.n_frames) and array.dtype == np.float32)


def _build_cache(dataset: TAU22, folder: Path, key: str, config: FrontEndConfig, batch_size: int,
                 progress: bool, fingerprint: str) -> None:
    """Compute every clip of the dataset into ``folder/logmel.npy``, then write ``index.json``.

    The array is filled in place in a temporary .npy beside its final name (it can be far larger than
    memory for the real data) and renamed into place once complete; the index is written last with
    ``storage.write_json``. A crash at any point leaves no file that a later run would trust.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shape = (len(dataset.clips), config.n_mels, config.n_frames)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".logmel.npy.", suffix=".tmp")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        compute_logmels([dataset.wav_path(c) for c in dataset.clips], config, batch_size, progress, out=array)
        array.flush()
        del array
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, folder / "logmel.npy")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    storage.write_json(folder / "index.json", {
        "key": key, "n_clips": shape[0], "shape": list(shape), "dtype": "float32",
        "config": dataclasses.asdict(config), "fingerprint": fingerprint,
        "torch": torch.__version__, "torchaudio": torchaudio.__version__,
        "dataset_root": str(dataset.root), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "filenames": [c.filename for c in dataset.clips],
    })


def load_features(dataset: TAU22, clips: Sequence[Clip] | None = None,
                  cache_dir: str | os.PathLike | None = None, config: FrontEndConfig = FrontEndConfig(),
                  batch_size: int = 64, progress: bool = False,
                  fingerprint: str = "stat") -> FeatureSet:
    """Log-mels of ``clips`` (default: every clip of the dataset), from the feature cache.

    The first call for a dataset and front-end computes the log-mels of ALL clips in meta.csv (in meta.csv
    order, ``batch_size`` at a time) into ``cache_dir/<key>/logmel.npy``; later calls, for any subset, only
    read that file. Asking for every clip in meta.csv order returns ``x`` memory-mapped from that file
    (copy-on-write: pages are read when used, and edits stay in memory); any other list is gathered into
    memory. ``<key>`` = ``cache_key(dataset, config, fingerprint)``: other settings or changed data give
    another key, so a stale cache is never served (see ``data_fingerprint``). The default
    ``cache_dir`` is ``asclab_home()/features``.
    """
    clips = list(dataset.clips if clips is None else clips)
    position = {c.filename: i for i, c in enumerate(dataset.clips)}
    try:
        rows = np.array([position[c.filename] for c in clips], dtype=np.int64)
    except KeyError as e:
        raise ValueError(f"clip {e.args[0]!r} is not in {dataset!r}: pass clips from dataset.clips or "
                         "dataset.split(...)") from None
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    key = cache_key(dataset, config, fingerprint)
    folder = folder / key
    if not _valid_cache(folder, key, len(dataset.clips), config):
        _build_cache(dataset, folder, key, config, batch_size, progress, fingerprint)
    # copy-on-write map: nothing is read until used, and an in-place edit of x never reaches the file
    array = np.load(folder / "logmel.npy", mmap_mode="c")           # [N_all, F, T]
    if len(rows) == len(array) and np.array_equal(rows, np.arange(len(array))):
        x = torch.from_numpy(array)[:, None]                           # every clip in order: no copy
    else:
        x = torch.from_numpy(np.ascontiguousarray(array[rows]))[:, None]  # a gather -> [N, 1, F, T]
    return feature_set(x, clips, key=key)
