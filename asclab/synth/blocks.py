"""Building blocks of the generator: a time-frequency canvas for noises, oscillators for tones.

The bottom layer of ``asclab.synth``: the sample rate, the segment length, the canvas's time-frequency
grid, spectral shapes (band-pass, tilt, resonance), envelopes, impulse trains, wavetable oscillators and
seeded random streams. It imports nothing else from the generator.
"""
from __future__ import annotations

import math

import numpy as np

from asclab.data import SAMPLE_RATE

SR = SAMPLE_RATE
SEGMENT_SECONDS = 10
CLIP_SAMPLES = SR                                  # one 1-s clip
SEGMENT_SAMPLES = SEGMENT_SECONDS * CLIP_SAMPLES   # one 10-s segment

NFFT = 1024                                    # noise canvas frame (23 ms) ...
HOP = NFFT // 2                                # ... with 50 % overlap (11.6 ms)
FRAMES = SEGMENT_SAMPLES // HOP + 1            # 862 frames cover the 10 s
BINS = NFFT // 2 + 1                           # 513 frequency bins, 43 Hz apart
FPS = SR / HOP                                 # canvas frames per second
FREQS = np.arange(BINS) * SR / NFFT            # [BINS] bin frequencies (Hz)
TIMES = (np.arange(FRAMES) + 1) * HOP / SR     # [FRAMES] frame centres (s)
WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(NFFT) / NFFT)).astype(np.float32)  # sqrt-Hann
SPEECH_BINS = int(np.searchsorted(FREQS, 8000.0))     # speech-like sources only paint bins below 8 kHz
TABLE_SIZE = 2048                              # wavetable length (one period)
FULL_FREQS = np.fft.rfftfreq(SEGMENT_SAMPLES, 1 / SR)    # bins of a whole 10-s segment's rFFT
_LOG2_FREQS = np.log2(np.maximum(FREQS, 20.0))
_LOG2_FULL_FREQS = np.log2(np.maximum(FULL_FREQS, 20.0))


def seeded_rng(*key: int) -> np.random.Generator:
    """An independent random stream for ``key`` (the same key always gives the same numbers)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in key])))


def log2f(f: np.ndarray) -> np.ndarray:
    """log2 of the frequency (floored at 20 Hz); the two fixed frequency grids are computed once."""
    if f is FREQS:
        return _LOG2_FREQS
    if f is FULL_FREQS:
        return _LOG2_FULL_FREQS
    return np.log2(np.maximum(f, 20.0))


def band(f, lo: float, hi: float, order: float = 2.0) -> np.ndarray:
    """Power response of a Butterworth-like band-pass (lo <= 0: no high-pass)."""
    f = np.maximum(np.asarray(f, dtype=np.float64), 1e-3)
    lp = 1.0 / (1.0 + (f / hi) ** (2 * order))
    return lp if lo <= 0 else lp / (1.0 + (lo / f) ** (2 * order))


def tilt(f, db_per_octave: float, ref: float = 1000.0) -> np.ndarray:
    """Power factor of a constant spectral slope (dB per octave, 0 dB at ``ref``)."""
    return 10.0 ** (db_per_octave * (log2f(f) - math.log2(ref)) / 10.0)


def peak_db(f, centre: float, width_oct: float, gain_db: float) -> np.ndarray:
    """A resonance (gain > 0) or dip (gain < 0) in dB: a Gaussian bump over log-frequency."""
    return gain_db * np.exp(-0.5 * ((log2f(f) - math.log2(centre)) / width_oct) ** 2)


def peak(f, centre: float, width_oct: float, gain_db: float) -> np.ndarray:
    """``peak_db`` as a power factor."""
    return 10.0 ** (peak_db(f, centre, width_oct, gain_db) / 10.0)


def unit_mean(shape: np.ndarray) -> np.ndarray:
    """Scale a power spectrum so that its mean over the bins is 1 (then its noise has unit variance)."""
    return (shape / shape.mean()).astype(np.float32)


def from_db(level_db):
    """A level in dB as a power factor."""
    return 10.0 ** (np.asarray(level_db) / 10.0)


def wander(rng, per_second: float, depth_db: float) -> np.ndarray:
    """[FRAMES] a slowly wandering power factor: random dB values ``per_second`` times a second,
    interpolated."""
    n = int(SEGMENT_SECONDS * per_second) + 3
    knots = (np.arange(n) - 1) / per_second
    return from_db(np.interp(TIMES, knots, depth_db * rng.standard_normal(n))).astype(np.float32)


def poisson_times(rng, rate_per_s: float, margin: float = 2.0) -> np.ndarray:
    """Event times of a Poisson process over the segment (and a margin on both sides)."""
    n = rng.poisson(max(rate_per_s, 0.0) * (SEGMENT_SECONDS + 2 * margin))
    return np.sort(rng.uniform(-margin, SEGMENT_SECONDS + margin, n))


def impulses(times, amps) -> np.ndarray:
    """[FRAMES] an impulse train on the canvas frames (events outside the segment are dropped)."""
    out = np.zeros(FRAMES, np.float32)
    idx = np.round(np.asarray(times) * FPS - 1).astype(np.int64)
    keep = (idx >= 0) & (idx < FRAMES)
    np.add.at(out, idx[keep], np.broadcast_to(amps, idx.shape)[keep])
    return out


def decay(x: np.ndarray, tau_s: float) -> np.ndarray:
    """Convolve a [FRAMES] impulse train with an exponential decay (time constant ``tau_s``)."""
    k = max(2, int(5 * tau_s * FPS) + 1)
    kernel = np.exp(-np.arange(k) / (tau_s * FPS))
    return np.convolve(x, kernel)[:FRAMES].astype(np.float32)


def wavetable(amplitudes) -> np.ndarray:
    """One period of a sum of harmonics (amplitudes of harmonics 1, 2, ...), at the RMS of a unit sine."""
    amps = np.asarray(amplitudes, dtype=np.float64)
    phase = 2 * np.pi * np.arange(TABLE_SIZE) / TABLE_SIZE
    table = (amps[:, None] * np.sin(np.arange(1, len(amps) + 1)[:, None] * phase)).sum(0)
    table *= math.sqrt(0.5) / max(np.sqrt(np.mean(table ** 2)), 1e-12)
    return np.append(table, table[0]).astype(np.float32)   # one extra point for interpolation


def oscillate(table: np.ndarray, freq: np.ndarray, phase0: float = 0.0) -> np.ndarray:
    """Play a wavetable at an instantaneous frequency (one value per sample, Hz)."""
    cycles = phase0 + np.cumsum(freq, dtype=np.float64) / SR
    pos = (cycles - np.floor(cycles)) * TABLE_SIZE
    i = pos.astype(np.int64)
    a = (pos - i).astype(np.float32)
    return table[i] * (1 - a) + table[i + 1] * a


def frames_to_samples(curve: np.ndarray, start: int, n: int) -> np.ndarray:
    """Interpolate a [FRAMES] control curve to ``n`` samples starting at sample ``start``."""
    t = (start + np.arange(n)) / SR
    return np.interp(t, TIMES, curve).astype(np.float32)


class Canvas:
    """The 10-s scene under construction: a noise power map [FRAMES, BINS] and a waveform for tones."""

    def __init__(self):
        self.power = np.zeros((FRAMES, BINS), np.float32)
        self.wave = np.zeros(SEGMENT_SAMPLES, np.float32)

    def noise(self, env: np.ndarray, shape: np.ndarray, level_db: float, start: int = 0) -> None:
        """Add noise of spectrum ``shape`` [F'] (unit mean power) and power envelope ``env`` [T'] at
        ``level_db``, from frame ``start``."""
        end = min(FRAMES, start + len(env))
        if end <= max(start, 0):
            return
        env = env[max(0, -start): end - start]
        start = max(start, 0)
        self.power[start:end, :len(shape)] += np.float32(from_db(level_db)) * np.outer(env, shape)

    def block(self, block: np.ndarray, level_db: float, start: int) -> None:
        """Add a time-varying power block [T', F'] starting at frame ``start``."""
        end = min(FRAMES, start + len(block))
        if end <= max(start, 0):
            return
        block = block[max(0, -start): end - start]
        start = max(start, 0)
        self.power[start:end, :block.shape[1]] += np.float32(from_db(level_db)) * block

    def tone(self, x: np.ndarray, start_sample: int, level_db: float) -> None:
        """Add a waveform whose power at full envelope is that of a unit sine, at ``level_db``."""
        s0, s1 = max(start_sample, 0), min(SEGMENT_SAMPLES, start_sample + len(x))
        if s1 <= s0:
            return
        gain = np.float32(math.sqrt(2.0) * 10.0 ** (level_db / 20.0))
        self.wave[s0:s1] += gain * x[s0 - start_sample: s1 - start_sample]

    def render(self, rng) -> np.ndarray:
        """Turn the power map into noise (random phase, overlap-add) and add the tones: [samples] float32."""
        scale = np.sqrt(self.power * (NFFT / 2.0))
        spectrum = (rng.standard_normal((FRAMES, BINS), dtype=np.float32)
                    + 1j * rng.standard_normal((FRAMES, BINS), dtype=np.float32)) * scale
        frames = np.fft.irfft(spectrum, n=NFFT, axis=1).astype(np.float32) * WINDOW   # [FRAMES, NFFT]
        out = np.zeros((FRAMES + 1, HOP), np.float32)
        out[:-1] += frames[:, :HOP]
        out[1:] += frames[:, HOP:]
        return out.reshape(-1)[:SEGMENT_SAMPLES] + self.wave
