"""The nine recording devices: each a fixed channel that "records" a scene given as its spectrum.

A device is a frequency response, self-noise, a compressor and, for some, soft clipping
(``DeviceModel``). ``record`` applies one to a 10-s scene; the event corpus passes its own random
``DeviceModel`` instead of one of the nine names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asclab.synth.blocks import FULL_FREQS, SEGMENT_SAMPLES, SR, band, log2f, peak_db


@dataclass(frozen=True)
class DeviceModel:
    """A recording channel: frequency response, compression, self-noise and clipping (fixed, not seeded)."""
    name: str
    description: str
    highpass_hz: float
    lowpass_hz: float
    slopes: tuple[float, float]                       # Butterworth-like orders of the high- and low-pass
    resonances: tuple[tuple[float, float, float], ...]  # (centre Hz, width octaves, gain dB)
    tilt_db_per_octave: float = 0.0
    gain_db: float = 0.0
    noise_floor_db: float = -90.0                     # dBFS of the self-noise
    compression_ratio: float = 1.0                    # 1: none
    threshold_db: float = -30.0                       # dBFS where compression starts
    clip_drive: float = 0.0                           # > 0: tanh soft clipping with this drive

    def response_db(self, f: np.ndarray) -> np.ndarray:
        """The magnitude response in dB at frequencies ``f`` (Hz)."""
        lo, hi = self.slopes
        f = np.maximum(np.asarray(f, dtype=np.float64), 1e-3)
        power = 1.0 / ((1.0 + (self.highpass_hz / f) ** (2 * lo)) * (1.0 + (f / self.lowpass_hz) ** (2 * hi)))
        db = 10 * np.log10(power)
        db += self.tilt_db_per_octave * (log2f(f) - 10.0) + self.gain_db
        for centre, width, gain in self.resonances:
            db += peak_db(f, centre, width, gain)
        return db


DEVICE_MODELS: dict[str, DeviceModel] = {d.name: d for d in (
    DeviceModel("a", "reference: binaural in-ear microphones on a field recorder; nearly flat, quiet",
                20, 20000, (2, 4), ((2800, 0.6, 2.5), (8000, 0.4, -2.0)), noise_floor_db=-92),
    DeviceModel("b", "phone 1: small-microphone bass roll-off below 120 Hz, top end gone above 13 kHz, "
                "a 3.3 kHz presence peak, automatic gain control", 120, 13000, (2, 4),
                ((3300, 0.6, 3.0), (6500, 0.4, -3.0)), gain_db=-2, noise_floor_db=-80,
                compression_ratio=1.5, threshold_db=-36),
    DeviceModel("c", "phone 2: milder bass roll-off, a 4.5 kHz peak and a bright top, light compression",
                80, 15000, (2, 4), ((250, 0.6, 2.0), (4500, 0.5, 3.0), (11000, 0.3, 2.0)), gain_db=2,
                noise_floor_db=-82, compression_ratio=1.5, threshold_db=-32),
    DeviceModel("s1", "simulated 1: narrower band (150 Hz - 11 kHz), a 1.3 kHz bump, compression",
                150, 11000, (2, 3), ((1300, 0.7, 4.0), (4000, 0.4, -3.0)), noise_floor_db=-84,
                compression_ratio=2.0, threshold_db=-38),
    DeviceModel("s2", "simulated 2: thin bass, a broad 2.5 kHz lift and a rising top", 150, 12000, (2, 4),
                ((700, 0.5, -3.0), (2500, 0.8, 3.0)), tilt_db_per_octave=0.5, noise_floor_db=-84,
                compression_ratio=2.0, threshold_db=-30),
    DeviceModel("s3", "simulated 3: dull (top rolls off above 10 kHz), a 450 Hz bump and a 1.8 kHz dip, "
                "compression", 100, 10000, (2, 4), ((450, 0.5, 3.0), (1800, 0.4, -4.0), (3500, 0.6, 2.0)),
                noise_floor_db=-84, compression_ratio=2.0, threshold_db=-40),
    DeviceModel("s4", "simulated 4 (unseen): no bass below 300 Hz, a sharp 900 Hz resonance, heavy "
                "compression and soft clipping", 300, 12000, (3, 4), ((900, 0.35, 5.0), (5000, 0.6, 3.0)),
                tilt_db_per_octave=-1.0, noise_floor_db=-82, compression_ratio=3.0, threshold_db=-40,
                clip_drive=1.0),
    DeviceModel("s5", "simulated 5 (unseen): muffled (top gone above 8 kHz), a boomy 300 Hz peak and a "
                "2.2 kHz notch, noisy", 120, 8000, (2, 6), ((300, 0.6, 5.0), (2200, 0.35, -4.0)),
                noise_floor_db=-80, compression_ratio=3.0, threshold_db=-36),
    DeviceModel("s6", "simulated 6 (unseen): tinny: thin bass, a hollow mid-range and a 7 kHz lift, hiss "
                "and clipping", 250, 16000, (3, 3), ((1500, 1.0, -4.0), (7000, 0.7, 4.0)),
                tilt_db_per_octave=1.0, noise_floor_db=-80, compression_ratio=2.0, threshold_db=-34,
                clip_drive=1.0),
)}


def _compress(x: np.ndarray, ratio: float, threshold_db: float) -> np.ndarray:
    """A feed-forward compressor on 10-ms blocks: fast attack, 150-ms release."""
    if ratio <= 1.0:
        return x
    block = SR // 100
    n = len(x) // block
    level = 10 * np.log10(np.mean(x[:n * block].reshape(n, block) ** 2, axis=1) + 1e-12)
    env = np.empty(n)
    prev, release = level[0], math.exp(-1 / 15.0)
    for i, v in enumerate(level):
        prev = v if v > prev else release * prev + (1 - release) * v
        env[i] = prev
    gain = 10 ** (-(1 - 1 / ratio) * np.maximum(env - threshold_db, 0) / 20)
    centres = (np.arange(n) + 0.5) * block
    return x * np.interp(np.arange(len(x)), centres, gain).astype(np.float32)


_DEVICE_GAINS: dict[str, np.ndarray] = {}


def _device_gain(name: str) -> np.ndarray:
    if name not in _DEVICE_GAINS:
        _DEVICE_GAINS[name] = (10 ** (DEVICE_MODELS[name].response_db(FULL_FREQS) / 20)).astype(np.float32)
    return _DEVICE_GAINS[name]


_SELF_NOISE_SHAPE = (1.0 + 3.0 * band(FULL_FREQS, 0, 300, 1)).astype(np.float32)   # more noise at the bottom


def record(spectrum: np.ndarray, device, rng) -> np.ndarray:
    """A device's recording of a scene given as its rFFT: response, self-noise, compression, clipping.

    ``device`` is one of the nine names, or any ``DeviceModel`` (the pre-training corpus draws its own).
    """
    if isinstance(device, DeviceModel):
        model, gain = device, (10 ** (device.response_db(FULL_FREQS) / 20)).astype(np.float32)
    else:
        model, gain = DEVICE_MODELS[device], _device_gain(device)
    noise = (rng.standard_normal(len(spectrum), dtype=np.float32)
             + 1j * rng.standard_normal(len(spectrum), dtype=np.float32))
    noise *= np.float32(10 ** (model.noise_floor_db / 20) * math.sqrt(SEGMENT_SAMPLES / 2))
    noise *= _SELF_NOISE_SHAPE
    y = np.fft.irfft(spectrum * gain + noise, n=SEGMENT_SAMPLES).astype(np.float32)
    y = _compress(y, model.compression_ratio, model.threshold_db)
    if model.compression_ratio > 1.0:   # make-up gain: compressed devices come back up to a similar loudness
        y *= np.float32(10 ** ((1 - 1 / model.compression_ratio) * 6 / 20))
    if model.clip_drive > 0:
        y = np.tanh(model.clip_drive * 4 * y) / (model.clip_drive * 4)
    return y
