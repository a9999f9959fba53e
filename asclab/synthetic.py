"""A synthetic stand-in for TAU Urban Acoustic Scenes 2022 Mobile, written in the real download's layout.

``synthesize(root, profile, seed)`` writes ``root/audio/*.wav`` (1-s, mono, 44.1 kHz, 16-bit), a tab-separated
``meta.csv`` and the DCASE2024 split files (``split5.csv`` ... ``split100.csv``, ``test.csv``), so that every
notebook reads it with ``asclab.data.TAU22`` exactly as it would read the real data.

How a clip is made (``describe()`` tells the same story for students):

1. **Scene.** A 10-s scene is a mix of procedural sources (ambience, hums, babble, footsteps, pass-bys, birds,
   engines, rail clatter, squeal, chimes, ...). The sources are shared inside a coarse group (indoor, outdoor,
   transportation); the classes of a group differ only in how much of each source they hold and in a few
   parameters (``source_mix_table()``). Noise-like sources are drawn as a time-frequency power map and turned
   into sound once (random phase, overlap-add); tonal sources are oscillators added in the time domain.
2. **Location.** Every segment is recorded at a location (``<city>-<id>``). The location fixes a colouring EQ,
   a reverb, a level, the gain of every source and a few source parameters (hum pitch, floor type, bird
   species, ...), so clips of one location resemble each other more than clips of another location of the
   same class. Test locations never occur in training.
3. **Device.** The scene is "recorded" by one of nine device models (``DEVICE_MODELS``): a frequency response,
   a noise floor, compression and, for some, clipping. Training is dominated by device a (as in TAU22);
   s4-s6 are only in the test split, and every test segment is recorded by all nine devices.
4. **Cutting.** The 10-s recording is cut into ten 1-s clips, and all ten stay in the same split.

Everything is seeded from ``(seed, class, train/test, index)``, so segments can be generated in any order and
in parallel, and the same seed always gives byte-identical files.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asclab.data import COARSE, DEVICES, SAMPLE_RATE, SCENE_TO_COARSE, SCENES, SPLITS
from asclab.storage import asclab_home, atomic_write_text, file_digest, read_json, write_json

GENERATOR_VERSION = 2   # bump whenever the generated sound changes (the source digest below catches forgotten bumps)
SR = SAMPLE_RATE
SEGMENT_SECONDS = 10
CLIP_SAMPLES = SR                                  # one 1-s clip
SEGMENT_SAMPLES = SEGMENT_SECONDS * CLIP_SAMPLES   # one 10-s segment
CITIES: tuple[str, ...] = ("barcelona", "helsinki", "lisbon", "london", "lyon",
                           "milan", "paris", "prague", "stockholm", "vienna")
TRAIN_SEGMENTS_PER_LOCATION = 2   # a training location gives up to 2 segments of its class (more places help tiny data)
TEST_SEGMENTS_PER_LOCATION = 1    # the small test set gets as many distinct locations as it can
OTHER_DEVICE_SHARE = 0.272        # share of training segments not on device a (TAU22 split5: 1900 of 6980)
OTHER_TRAIN_DEVICES: tuple[str, ...] = ("b", "c", "s1", "s2", "s3")
LOCATION_SPREAD_DB = 2.0          # std of a location's per-source gains and EQ resonances: the nuisance knob
COMPLETE_MARKER = ".complete"
PROGRESS_MARKER = ".in_progress"
SPLIT_NAMES: tuple[str, ...] = tuple(f"split{p}" for p in SPLITS) + ("test",)


# =======================================================================================================
# 1. Building blocks: a time-frequency canvas for noises, oscillators for tones
# =======================================================================================================
_NFFT = 1024                                   # noise canvas frame (23 ms) ...
_HOP = _NFFT // 2                              # ... with 50 % overlap (11.6 ms)
_T = SEGMENT_SAMPLES // _HOP + 1               # 862 frames cover the 10 s
_F = _NFFT // 2 + 1                            # 513 frequency bins, 43 Hz apart
_FPS = SR / _HOP                               # canvas frames per second
_FREQS = np.arange(_F) * SR / _NFFT            # [F] bin frequencies (Hz)
_TIMES = (np.arange(_T) + 1) * _HOP / SR       # [T] frame centres (s)
_WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_NFFT) / _NFFT)).astype(np.float32)  # sqrt-Hann
_SPEECH_BINS = int(np.searchsorted(_FREQS, 8000.0))   # speech-like sources only paint bins below 8 kHz
_TABLE = 2048                                  # wavetable length (one period)
_FULL_FREQS = np.fft.rfftfreq(SEGMENT_SAMPLES, 1 / SR)   # bins of a whole 10-s segment's rFFT
_LOG2_FREQS = np.log2(np.maximum(_FREQS, 20.0))
_LOG2_FULL_FREQS = np.log2(np.maximum(_FULL_FREQS, 20.0))


def _log2f(f: np.ndarray) -> np.ndarray:
    """log2 of the frequency (floored at 20 Hz); the two fixed frequency grids are computed once."""
    if f is _FREQS:
        return _LOG2_FREQS
    if f is _FULL_FREQS:
        return _LOG2_FULL_FREQS
    return np.log2(np.maximum(f, 20.0))


def _band(f, lo: float, hi: float, order: float = 2.0) -> np.ndarray:
    """Power response of a Butterworth-like band-pass (lo <= 0: no high-pass)."""
    f = np.maximum(np.asarray(f, dtype=np.float64), 1e-3)
    lp = 1.0 / (1.0 + (f / hi) ** (2 * order))
    return lp if lo <= 0 else lp / (1.0 + (lo / f) ** (2 * order))


def _tilt(f, db_per_octave: float, ref: float = 1000.0) -> np.ndarray:
    """Power factor of a constant spectral slope (dB per octave, 0 dB at ``ref``)."""
    return 10.0 ** (db_per_octave * (_log2f(f) - math.log2(ref)) / 10.0)


def _peak_db(f, centre: float, width_oct: float, gain_db: float) -> np.ndarray:
    """A resonance (gain > 0) or dip (gain < 0) in dB: a Gaussian bump over log-frequency."""
    return gain_db * np.exp(-0.5 * ((_log2f(f) - math.log2(centre)) / width_oct) ** 2)


def _peak(f, centre: float, width_oct: float, gain_db: float) -> np.ndarray:
    return 10.0 ** (_peak_db(f, centre, width_oct, gain_db) / 10.0)


def _unit(shape: np.ndarray) -> np.ndarray:
    """Scale a power spectrum so that its mean over the bins is 1 (then its noise has unit variance)."""
    return (shape / shape.mean()).astype(np.float32)


def _db(level_db):
    return 10.0 ** (np.asarray(level_db) / 10.0)


def _wander(rng, per_second: float, depth_db: float) -> np.ndarray:
    """[T] a slowly wandering power factor: random dB values ``per_second`` times a second, interpolated."""
    n = int(SEGMENT_SECONDS * per_second) + 3
    knots = (np.arange(n) - 1) / per_second
    return _db(np.interp(_TIMES, knots, depth_db * rng.standard_normal(n))).astype(np.float32)


def _poisson_times(rng, rate_per_s: float, margin: float = 2.0) -> np.ndarray:
    """Event times of a Poisson process over the segment (and a margin on both sides)."""
    n = rng.poisson(max(rate_per_s, 0.0) * (SEGMENT_SECONDS + 2 * margin))
    return np.sort(rng.uniform(-margin, SEGMENT_SECONDS + margin, n))


def _impulses(times, amps) -> np.ndarray:
    """[T] an impulse train on the canvas frames (events outside the segment are dropped)."""
    out = np.zeros(_T, np.float32)
    idx = np.round(np.asarray(times) * _FPS - 1).astype(np.int64)
    keep = (idx >= 0) & (idx < _T)
    np.add.at(out, idx[keep], np.broadcast_to(amps, idx.shape)[keep])
    return out


def _decay(x: np.ndarray, tau_s: float) -> np.ndarray:
    """Convolve a [T] impulse train with an exponential decay (time constant ``tau_s``)."""
    k = max(2, int(5 * tau_s * _FPS) + 1)
    kernel = np.exp(-np.arange(k) / (tau_s * _FPS))
    return np.convolve(x, kernel)[:_T].astype(np.float32)


def _wavetable(amplitudes) -> np.ndarray:
    """One period of a sum of harmonics (amplitudes of harmonics 1, 2, ...), scaled to the RMS of a unit sine."""
    amps = np.asarray(amplitudes, dtype=np.float64)
    phase = 2 * np.pi * np.arange(_TABLE) / _TABLE
    table = (amps[:, None] * np.sin(np.arange(1, len(amps) + 1)[:, None] * phase)).sum(0)
    table *= math.sqrt(0.5) / max(np.sqrt(np.mean(table ** 2)), 1e-12)
    return np.append(table, table[0]).astype(np.float32)   # one extra point for interpolation


def _oscillate(table: np.ndarray, freq: np.ndarray, phase0: float = 0.0) -> np.ndarray:
    """Play a wavetable at an instantaneous frequency (one value per sample, Hz)."""
    cycles = phase0 + np.cumsum(freq, dtype=np.float64) / SR
    pos = (cycles - np.floor(cycles)) * _TABLE
    i = pos.astype(np.int64)
    a = (pos - i).astype(np.float32)
    return table[i] * (1 - a) + table[i + 1] * a


def _frames_to_samples(curve: np.ndarray, start: int, n: int) -> np.ndarray:
    """Interpolate a [T] control curve to ``n`` samples starting at sample ``start``."""
    t = (start + np.arange(n)) / SR
    return np.interp(t, _TIMES, curve).astype(np.float32)


class _Canvas:
    """The 10-s scene under construction: a noise power map [T, F] and a waveform for tones [samples]."""

    def __init__(self):
        self.power = np.zeros((_T, _F), np.float32)
        self.wave = np.zeros(SEGMENT_SAMPLES, np.float32)

    def noise(self, env: np.ndarray, shape: np.ndarray, level_db: float, start: int = 0) -> None:
        """Add noise of spectrum ``shape`` [F'] (unit mean power), power envelope ``env`` [T'], at ``level_db``."""
        end = min(_T, start + len(env))
        if end <= max(start, 0):
            return
        env = env[max(0, -start): end - start]
        start = max(start, 0)
        self.power[start:end, :len(shape)] += np.float32(_db(level_db)) * np.outer(env, shape)

    def block(self, block: np.ndarray, level_db: float, start: int) -> None:
        """Add a time-varying power block [T', F'] starting at frame ``start``."""
        end = min(_T, start + len(block))
        if end <= max(start, 0):
            return
        block = block[max(0, -start): end - start]
        start = max(start, 0)
        self.power[start:end, :block.shape[1]] += np.float32(_db(level_db)) * block

    def tone(self, x: np.ndarray, start_sample: int, level_db: float) -> None:
        """Add a waveform whose power at full envelope is that of a unit sine, at ``level_db``."""
        s0, s1 = max(start_sample, 0), min(SEGMENT_SAMPLES, start_sample + len(x))
        if s1 <= s0:
            return
        gain = np.float32(math.sqrt(2.0) * 10.0 ** (level_db / 20.0))
        self.wave[s0:s1] += gain * x[s0 - start_sample: s1 - start_sample]

    def render(self, rng) -> np.ndarray:
        """Turn the power map into noise (random phase, overlap-add) and add the tones: [samples] float32."""
        scale = np.sqrt(self.power * (_NFFT / 2.0))
        spectrum = (rng.standard_normal((_T, _F), dtype=np.float32)
                    + 1j * rng.standard_normal((_T, _F), dtype=np.float32)) * scale
        frames = np.fft.irfft(spectrum, n=_NFFT, axis=1).astype(np.float32) * _WINDOW   # [T, NFFT]
        out = np.zeros((_T + 1, _HOP), np.float32)
        out[:-1] += frames[:, :_HOP]
        out[1:] += frames[:, _HOP:]
        return out.reshape(-1)[:SEGMENT_SAMPLES] + self.wave


# =======================================================================================================
# 2. The sources. Each takes (canvas, segment rng, location, weight, scene parameters) and paints itself.
# =======================================================================================================
def _speech_block(rng, seconds: float, formant_scale: float, band=(120.0, 7000.0)) -> np.ndarray:
    """[frames, speech bins] power of one talker: syllables with formants, pauses and some fricatives."""
    nt = max(1, int(seconds * _FPS))
    n = int(seconds * 6) + 4
    length = rng.uniform(0.09, 0.28, n)
    gap = rng.exponential(0.05, n) + (rng.random(n) < 0.15) * rng.uniform(0.2, 0.7, n)
    starts = np.concatenate([[0.0], np.cumsum(length + gap)[:-1]])
    t = np.arange(nt) / _FPS
    i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, n - 1)
    phase = (t - starts[i]) / length[i]
    env = np.where(phase < 1, np.sin(np.pi * np.clip(phase, 0, 1)) ** 0.6, 0.0)
    f = _FREQS[:_SPEECH_BINS]
    lf = _log2f(f)[None, :]
    base = (_band(f, band[0], band[1], 2) * _tilt(f, -3.0, 500.0))[None, :]
    formants = np.log2(formant_scale * np.stack(
        [rng.uniform(300, 850, n), rng.uniform(900, 2400, n), rng.uniform(2400, 3300, n)]))  # [3, n]
    active = env > 0
    block = np.zeros((nt, len(f)), np.float32)
    if active.any():
        k = i[active]
        spec = np.zeros((int(active.sum()), len(f)))
        for gain, (row, width) in zip((1.0, 0.5, 0.25), ((0, 0.22), (1, 0.18), (2, 0.15))):
            spec += gain * np.exp(-0.5 * ((lf - formants[row, k][:, None]) / width) ** 2)
        fricative = (rng.random(n) < 0.3)[k] & (phase[active] < 0.35)
        spec += 0.6 * fricative[:, None] * _band(f, 3000, 9000, 2)[None, :]
        block[active] = (env[active, None] * spec * base).astype(np.float32)
    return block / max(float(block[active].mean()) if active.any() else 1.0, 1e-12)


def _src_ambience(cv, rng, loc, w, sp):
    """Diffuse background of the place: pink-ish noise with a location colour and a slow wander."""
    shape = _unit(_band(_FREQS, 30, sp["ambience_top"], 1) * _tilt(_FREQS, loc["ambience_tilt"])
                  * _peak(_FREQS, loc["ambience_peak"], 0.8, 4.0))
    cv.noise(_wander(rng, 0.5, 1.5), shape, 10 * math.log10(w) - 10 + loc["gain"]["ambience"])


def _src_hum(cv, rng, loc, w, sp):
    """Machinery hum (ventilation, transformers): a steady harmonic tone at a location-specific pitch."""
    freq = np.full(SEGMENT_SAMPLES, loc["hum_f0"], np.float32) * (1 + 0.002 * rng.standard_normal())
    env = _frames_to_samples(np.sqrt(_wander(rng, 0.3, 1.0)), 0, SEGMENT_SAMPLES)
    cv.tone(_oscillate(loc["hum_table"], freq, rng.random()) * env, 0,
            -3 + 10 * math.log10(w) + loc["gain"]["hum"])


def _src_crowd(cv, rng, loc, w, sp):
    """People talking: a distant crowd (speech-shaped, smoother the larger it is) and a few near talkers."""
    f = _FREQS[:_SPEECH_BINS]
    density = max(w * sp["crowd_size"] * math.exp(0.3 * rng.standard_normal()), 0.5)
    shape = _unit(_band(f, 150, 5000, 2) * _peak(f, 500 * loc["formant_scale"], 1.0, 6)
                  * _peak(f, 1600 * loc["formant_scale"], 0.8, 3))
    depth = 6.0 / math.sqrt(density)
    cv.noise(_wander(rng, 4.0, depth), shape, -4 + 10 * math.log10(density / 10) + loc["gain"]["crowd"])
    for _ in range(rng.poisson(4.0 * w)):
        seconds = rng.uniform(1.0, 6.0)
        start = int(rng.uniform(-seconds, SEGMENT_SECONDS) * _FPS)
        scale = loc["formant_scale"] * rng.uniform(0.85, 1.2)
        cv.block(_speech_block(rng, seconds, scale), rng.uniform(-2, 6) + loc["gain"]["crowd"], start)


def _src_footsteps(cv, rng, loc, w, sp):
    """Walkers: heel and toe impacts at about two steps a second, on a floor whose sound the location sets."""
    env = np.zeros(_T, np.float32)
    for _ in range(rng.poisson(sp["walkers"] * w)):
        rate = rng.uniform(1.6, 2.3)
        begin = rng.uniform(-4, SEGMENT_SECONDS)
        steps = begin + np.cumsum(1 / rate + 0.03 * rng.standard_normal(int(rng.uniform(4, 16))))
        closeness = rng.uniform(0.2, 1.0) * np.exp(0.3 * rng.standard_normal(len(steps)))
        env += _impulses(steps, closeness) + _impulses(steps + 0.05, 0.35 * closeness)
    if env.any():
        shape = _unit(_band(_FREQS, 120, 9000, 1) * _peak(_FREQS, loc["floor_peak"], 1.0, 8))
        cv.noise(_decay(env, 0.025), shape, 5 + loc["gain"]["footsteps"])


def _chime(notes_hz, spacing: float) -> np.ndarray:
    """A public-address chime: bell-like notes (inharmonic partials, exponential decay)."""
    n = int((spacing * len(notes_hz) + 1.5) * SR)
    out = np.zeros(n, np.float32)
    t = np.arange(int(1.5 * SR)) / SR
    for j, f0 in enumerate(notes_hz):
        note = sum(a * np.sin(2 * np.pi * f0 * r * t) * np.exp(-t * d)
                   for r, a, d in ((1.0, 1.0, 2.5), (2.0, 0.4, 4.0), (2.76, 0.25, 6.0), (5.4, 0.1, 9.0)))
        s = int(j * spacing * SR)
        out[s:s + len(t)] += (note * np.minimum(1.0, t / 0.004)).astype(np.float32)
    return out


def _src_announcement(cv, rng, loc, w, sp):
    """A chime, then a voice over loudspeakers (band-limited speech); happens in a segment with chance w."""
    if rng.random() >= w:
        return
    begin = rng.uniform(-4, SEGMENT_SECONDS - 1)
    notes = loc["chime_notes"]
    spacing = rng.uniform(0.35, 0.6)
    level = rng.uniform(2, 8) + loc["gain"]["announcement"]
    cv.tone(_chime(notes, spacing), int(begin * SR), level)
    seconds = rng.uniform(2.0, 5.0)
    voice_start = begin + spacing * len(notes) + 0.6
    cv.block(_speech_block(rng, seconds, loc["formant_scale"] * 1.1, band=(350.0, 3800.0)),
             level + 3, int(voice_start * _FPS))


def _src_music(cv, rng, loc, w, sp):
    """Background music: soft chords that change every couple of seconds, and a bass line (location decides)."""
    if not loc["music"]:
        return
    chords = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4), (2, 5, 9))
    t0 = -rng.uniform(0, 2)
    table = _wavetable((1.0, 0.35, 0.15, 0.08))
    while t0 < SEGMENT_SECONDS:
        dur = rng.choice((1.2, 1.6, 2.4))
        chord = chords[rng.integers(len(chords))]
        n = int(dur * SR)
        t = np.arange(n) / SR
        env = np.minimum(1, t / 0.08) * np.exp(-t * 0.6)
        for k, semi in enumerate(chord + (chord[0] - 12,)):
            f = loc["music_root"] * 2 ** (semi / 12) * (0.5 if k == 3 else 1.0)
            x = _oscillate(table, np.full(n, f, np.float32), rng.random()) * env
            cv.tone(x.astype(np.float32), int(t0 * SR), loc["music_level"] + (2 if k == 3 else -2))
        t0 += dur


def _src_luggage(cv, rng, loc, w, sp):
    """Rolling suitcases: a rumble that swells and fades, ticking over the tile joints."""
    shape = _unit(_band(_FREQS, 150, 3500, 2) * _peak(_FREQS, 700, 0.8, 5))
    for t in _poisson_times(rng, 0.5 * w):
        seconds = rng.uniform(1.5, 4.5)
        nt = int(seconds * _FPS)
        u = np.linspace(-1, 1, nt)
        swell = np.exp(-3 * u ** 2)
        ticks = np.zeros(nt, np.float32)
        step = max(1, int(_FPS / rng.uniform(5, 11)))
        ticks[::step] = 2.5
        env = swell * (0.4 + np.convolve(ticks, np.exp(-np.arange(4) / 1.0))[:nt])
        cv.noise(env.astype(np.float32), shape, rng.uniform(3, 9) + loc["gain"]["luggage"],
                 int((t - seconds / 2) * _FPS))


def _src_train(cv, rng, loc, w, sp):
    """Trains arriving or leaving: a rumble and a rush of air over several seconds, sometimes a squeal."""
    for centre in _poisson_times(rng, 0.2 * w, margin=4.0):
        seconds = rng.uniform(5, 9)
        begin = centre - seconds / 2
        nt = int(seconds * _FPS)
        u = np.linspace(0, 1, nt)
        env = (np.sin(np.pi * u) ** 2).astype(np.float32)
        level = rng.uniform(7, 13) + loc["gain"]["train"]
        cv.noise(env, _unit(_band(_FREQS, 30, 500, 2)), level + 3, int(begin * _FPS))
        cv.noise(env, _unit(_band(_FREQS, 200, 5000, 1)), level - 2, int(begin * _FPS))
        if rng.random() < 0.7:
            _squeal(cv, rng, begin + seconds * rng.uniform(0.4, 0.8), rng.uniform(0.7, 2.0), level - 4, loc)


def _beeps(freq: float, count: int, on: float, off: float) -> np.ndarray:
    """A burst of square-ish beeps."""
    table = _wavetable((1.0, 0.0, 0.33, 0.0, 0.2))
    n_on = int(on * SR)
    beep = _oscillate(table, np.full(n_on, freq, np.float32)) * np.minimum(1, np.arange(n_on) / 80)
    out = np.zeros(int(count * (on + off) * SR), np.float32)
    for j in range(count):
        s = int(j * (on + off) * SR)
        out[s:s + n_on] += beep
    return out


def _src_beeps(cv, rng, loc, w, sp):
    """Warning beeps (doors closing, ticket gates) at the city's beep pitch."""
    for t in _poisson_times(rng, 0.2 * w):
        x = _beeps(loc["beep_hz"] * rng.choice((1.0, 1.0, 1.5)), int(rng.integers(2, 7)),
                   rng.uniform(0.1, 0.25), rng.uniform(0.08, 0.25))
        cv.tone(x, int(t * SR), rng.uniform(-4, 4) + loc["gain"]["beeps"])


def _src_traffic(cv, rng, loc, w, sp):
    """Distant traffic: a low, slowly swelling rumble (through windows when inside a vehicle)."""
    shape = _unit(_band(_FREQS, 30, sp.get("traffic_top", 2500), 1) * _tilt(_FREQS, -4.0))
    cv.noise(_wander(rng, 0.4, 3.0), shape, 10 * math.log10(w) + 2 + loc["gain"]["traffic"])


def _src_passby(cv, rng, loc, w, sp):
    """Vehicles passing: tyre noise that swells and fades, its spectrum sliding down (Doppler-ish), an engine."""
    f = _FREQS
    for tc in _poisson_times(rng, 0.6 * w, margin=3.0):
        speed, dist = rng.uniform(8, 16), rng.uniform(4, 25)
        first, last = max(0, int((tc - 5) * _FPS)), min(_T, int((tc + 5) * _FPS))
        if last <= first:
            continue
        t = _TIMES[first:last] - tc
        x = t * speed / dist
        env = 1.0 / (1.0 + x ** 2)
        doppler = 1.0 + 0.1 * (-x / np.sqrt(1 + x ** 2))          # higher approaching, lower leaving
        fp = rng.uniform(500, 1300)
        # the tyre spectrum slid by the Doppler factor, drawn from 9 precomputed slides
        slides = np.linspace(0.9, 1.1, 9)
        shapes = np.stack([_band(f / d, 60, 6000, 1.5) * _peak(f / d, fp, 0.7, 8) for d in slides])
        shapes = (shapes / shapes.mean()).astype(np.float32)
        block = env[:, None].astype(np.float32) * shapes[np.round((doppler - 0.9) / 0.025).astype(np.int64)]
        level = 12 - 20 * math.log10(dist / 4) + loc["gain"]["passby"]
        cv.block(block, level, first)
        if rng.random() < 0.5:   # an engine tone, Doppler-shifted too
            s0, n = int(first * _HOP), int((last - first) * _HOP)
            dop = _frames_to_samples(np.concatenate([np.ones(first), doppler, np.ones(_T - last)]), s0, n)
            amp = _frames_to_samples(np.concatenate([np.zeros(first), np.sqrt(env), np.zeros(_T - last)]), s0, n)
            table = _wavetable(0.7 ** np.arange(8))
            cv.tone(_oscillate(table, rng.uniform(30, 70) * dop) * amp, s0, level - 6)


def _src_birds(cv, rng, loc, w, sp):
    """Bird songs: runs of short frequency-swept chirps; each location has its own two species."""
    for t in _poisson_times(rng, 0.8 * w):
        species = loc["birds"][rng.integers(len(loc["birds"]))]
        start, end, length, gap = species
        n = int(rng.integers(3, 11))
        level = rng.uniform(0, 10) + loc["gain"]["birds"]
        for j in range(n):
            dur = length * rng.uniform(0.8, 1.2)
            m = int(dur * SR)
            u = np.linspace(0, 1, m)
            freq = start * (end / start) ** u                          # an up- or down-sweep
            freq = freq * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(20, 60) * u * dur))
            phase = 2 * np.pi * np.cumsum(freq) / SR
            x = (np.sin(phase) + 0.2 * np.sin(2 * phase)) * np.sin(np.pi * u) ** 2
            cv.tone(x.astype(np.float32), int((t + j * (length + gap)) * SR), level)


def _src_wind(cv, rng, loc, w, sp):
    """Wind: gusts of low rumble on the microphone and rustling leaves, moving together."""
    gusts = _wander(rng, 0.8, 6.0)
    cv.noise(gusts, _unit(_band(_FREQS, 10, 300, 1) * _tilt(_FREQS, -4.0)),
             10 * math.log10(w) + 3 + loc["gain"]["wind"])
    cv.noise(gusts, _unit(_band(_FREQS, 1500, 12000, 1)), 10 * math.log10(w) - 5 + loc["gain"]["wind"])


def _src_water(cv, rng, loc, w, sp):
    """A fountain: bright hiss with fast, splashy level changes."""
    splash = _db(np.convolve(2.5 * rng.standard_normal(_T), np.ones(3) / 3, mode="same")).astype(np.float32)
    shape = _unit(_band(_FREQS, 500, 12000, 1) * _peak(_FREQS, loc["water_peak"], 1.0, 5))
    cv.noise(splash, shape, 10 * math.log10(w) + 4 + loc["gain"]["water"])


def _src_horn(cv, rng, loc, w, sp):
    """Car horns (two-tone, rich harmonics) and bicycle bells (ringing inharmonic partials)."""
    for t in _poisson_times(rng, 0.15 * w):
        level = rng.uniform(0, 8) + loc["gain"]["horn"]
        if rng.random() < 0.5:
            n = int(rng.uniform(0.2, 0.8) * SR)
            f0 = rng.uniform(350, 500)
            table = _wavetable(0.8 ** np.arange(10))
            env = np.minimum(1, np.arange(n) / 300) * np.minimum(1, (n - np.arange(n)) / 300)
            x = (_oscillate(table, np.full(n, f0, np.float32)) + _oscillate(table, np.full(n, 1.26 * f0, np.float32)))
            cv.tone((0.7 * x * env).astype(np.float32), int(t * SR), level)
        else:
            f0 = rng.uniform(2500, 4200)
            ring = np.arange(int(0.8 * SR)) / SR
            x = sum(a * np.sin(2 * np.pi * f0 * r * ring) for r, a in ((1, 1.0), (1.52, 0.5), (2.41, 0.3)))
            x = (x * np.exp(-ring * 5)).astype(np.float32)
            for j in range(int(rng.integers(1, 4))):
                cv.tone(x, int((t + 0.25 * j) * SR), level - 4)


def _speed_profile(rng, vmax: float) -> np.ndarray:
    """[T] vehicle speed (m/s) over the segment: cruising, accelerating, braking or standing."""
    mode = rng.choice(4, p=(0.5, 0.2, 0.2, 0.1))
    cruise = vmax * rng.uniform(0.5, 1.0)
    if mode == 0:
        return (cruise * (1 + 0.1 * np.log(_wander(rng, 0.3, 1.0)))).astype(np.float32)
    if mode == 3:
        return np.zeros(_T, np.float32)
    t0, acc = rng.uniform(-3, 7), rng.uniform(0.8, 1.4)
    ramp = np.clip(acc * (_TIMES - t0), 0, cruise)
    return (ramp if mode == 1 else cruise - ramp).astype(np.float32)


def _src_cabin(cv, rng, loc, w, sp):
    """Inside a vehicle: rolling and body rumble with a cabin resonance, louder the faster it goes."""
    v = sp["_speed"] / sp["vmax"]
    shape = _unit(_band(_FREQS, 25, sp["cabin_top"], 2) * _tilt(_FREQS, -3.0)
                  * _peak(_FREQS, loc["cabin_peak"], 0.5, 8))
    cv.noise((0.15 + v ** 2) * _wander(rng, 1.0, 1.5), shape, 10 * math.log10(w) + 6 + loc["gain"]["cabin"])


def _src_diesel(cv, rng, loc, w, sp):
    """A diesel engine: a harmonic-rich firing tone whose pitch follows the gears; idles when standing."""
    v = sp["_speed"]
    rpm = np.where(v > 0.5, 800 + 1300 * ((v / 4.0) % 1.0), 750 + 30 * np.log(_wander(rng, 2, 1)))
    firing = _frames_to_samples(rpm / 20.0, 0, SEGMENT_SAMPLES)                 # six cylinders
    load = _frames_to_samples(np.sqrt(0.4 + 0.6 * np.clip(v / sp["vmax"], 0, 1)), 0, SEGMENT_SAMPLES)
    cv.tone(_oscillate(loc["engine_table"], firing, rng.random()) * load, 0,
            10 * math.log10(w) + 7 + loc["gain"]["diesel"])
    cv.noise(_wander(rng, 2, 2), _unit(_band(_FREQS, 100, 2500, 1)), 10 * math.log10(w) - 2 + loc["gain"]["diesel"])


def _src_whine(cv, rng, loc, w, sp):
    """Electric traction: motor tones that rise and fall with speed, plus the inverter's switching whistle."""
    v = sp["_speed"]
    accel = np.abs(np.gradient(v) * _FPS)
    pull = np.clip(accel / 1.0, 0, 1) * 0.6 + 0.4 * (v > 0.5)
    freq = _frames_to_samples(loc["motor_hz_per_mps"] * v + 20, 0, SEGMENT_SAMPLES)
    amp = _frames_to_samples(np.sqrt(pull), 0, SEGMENT_SAMPLES)
    level = 10 * math.log10(w) + 4 + loc["gain"]["whine"]
    cv.tone(_oscillate(_wavetable((1.0, 0.5, 0.0, 0.3)), freq, rng.random()) * amp, 0, level)
    carrier = np.full(SEGMENT_SAMPLES, loc["carrier_hz"], np.float32)
    cv.tone(np.sin(np.cumsum(2 * np.pi * carrier / SR)).astype(np.float32) * amp, 0, level - 8)


def _src_clatter(cv, rng, loc, w, sp):
    """Wheels over rail joints: 'ta-dum ta-dum' impacts whose rhythm follows the speed."""
    v = sp["_speed"]
    if v.max() < 1.5:
        return
    distance = np.cumsum(v) / _FPS                       # metres travelled since the segment start
    joints = np.arange(rng.uniform(0, loc["joint_m"]), distance[-1] + 20, loc["joint_m"])
    times = []
    for offset in (0.0, 2.5, 15.0, 17.5):                # two bogies with two axles each
        times.append(np.interp(joints + offset, distance, _TIMES, left=np.nan, right=np.nan))
    times = np.concatenate(times)
    times = times[np.isfinite(times)]
    env = _decay(_impulses(times, rng.uniform(0.5, 1.0, len(times))), 0.04)
    shape = _unit(_band(_FREQS, 30, 1200, 2) * _peak(_FREQS, loc["clatter_peak"], 0.8, 6))
    cv.noise(env, shape, 10 * math.log10(w) + 10 + loc["gain"]["clatter"])


def _squeal(cv, rng, t: float, seconds: float, level: float, loc) -> None:
    n = int(seconds * SR)
    u = np.arange(n) / SR
    f0 = loc["squeal_hz"] * rng.uniform(0.9, 1.1)
    freq = f0 * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 9) * u))
    stick = _frames_to_samples(np.sqrt(_wander(rng, 6, 4)), 0, n)
    env = np.sin(np.pi * u / seconds) ** 0.5 * stick
    cv.tone(_oscillate(_wavetable((1.0, 0.3, 0.1)), freq.astype(np.float32)) * env, int(t * SR), level)


def _src_squeal(cv, rng, loc, w, sp):
    """Wheel or brake squeal: a high, narrow, wavering tone lasting a second or two."""
    for t in _poisson_times(rng, 0.25 * w):
        _squeal(cv, rng, t, rng.uniform(0.5, 3.0), rng.uniform(-2, 8) + loc["gain"]["squeal"], loc)


def _src_hiss(cv, rng, loc, w, sp):
    """Compressed-air hiss (brakes, doors): a bright burst with a fast attack."""
    shape = _unit(_band(_FREQS, 1800, 12000, 2) * _peak(_FREQS, 5000, 0.8, 4))
    for t in _poisson_times(rng, 0.3 * w):
        seconds = rng.uniform(0.3, 1.5)
        nt = int(seconds * _FPS)
        env = np.exp(-np.arange(nt) / (0.4 * nt)).astype(np.float32)
        cv.noise(env, shape, rng.uniform(2, 9) + loc["gain"]["hiss"], int(t * _FPS))


def _src_tunnel(cv, rng, loc, w, sp):
    """Tunnel roar: broadband noise with a strong low resonance, swelling with speed."""
    v = sp["_speed"] / sp["vmax"]
    shape = _unit(_band(_FREQS, 40, 2500, 1) * _peak(_FREQS, loc["tunnel_peak"], 0.5, 10))
    cv.noise((0.1 + v ** 2) * _wander(rng, 0.5, 2.0), shape, 10 * math.log10(w) + 8 + loc["gain"]["tunnel"])


@dataclass(frozen=True)
class Source:
    name: str
    paint: object          # function(canvas, rng, location, weight, scene parameters)
    weight_means: str      # how a class's weight acts: "level", "rate", "chance" or "size"
    description: str


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("ambience", _src_ambience, "level", _src_ambience.__doc__),
    Source("hum", _src_hum, "level", _src_hum.__doc__),
    Source("crowd", _src_crowd, "size", _src_crowd.__doc__),
    Source("footsteps", _src_footsteps, "rate", _src_footsteps.__doc__),
    Source("announcement", _src_announcement, "chance", _src_announcement.__doc__),
    Source("music", _src_music, "chance", "Background music (chords and a bass line); w is the chance that a "
           "location plays music."),
    Source("luggage", _src_luggage, "rate", _src_luggage.__doc__),
    Source("train", _src_train, "rate", _src_train.__doc__),
    Source("beeps", _src_beeps, "rate", _src_beeps.__doc__),
    Source("traffic", _src_traffic, "level", _src_traffic.__doc__),
    Source("passby", _src_passby, "rate", _src_passby.__doc__),
    Source("birds", _src_birds, "rate", _src_birds.__doc__),
    Source("wind", _src_wind, "level", _src_wind.__doc__),
    Source("water", _src_water, "level", _src_water.__doc__),
    Source("horn", _src_horn, "rate", _src_horn.__doc__),
    Source("cabin", _src_cabin, "level", _src_cabin.__doc__),
    Source("diesel", _src_diesel, "level", _src_diesel.__doc__),
    Source("whine", _src_whine, "level", _src_whine.__doc__),
    Source("clatter", _src_clatter, "level", _src_clatter.__doc__),
    Source("squeal", _src_squeal, "rate", _src_squeal.__doc__),
    Source("hiss", _src_hiss, "rate", _src_hiss.__doc__),
    Source("tunnel", _src_tunnel, "level", _src_tunnel.__doc__),
)}

# Every class of a coarse group draws on the same sources: only the weights (and a few parameters) differ.
GROUP_SOURCES: dict[str, tuple[str, ...]] = {
    "indoor": ("ambience", "hum", "crowd", "footsteps", "announcement", "music", "luggage", "train", "beeps"),
    "outdoor": ("ambience", "traffic", "passby", "birds", "crowd", "footsteps", "wind", "water", "horn"),
    "transportation": ("ambience", "cabin", "diesel", "whine", "clatter", "squeal", "announcement", "beeps",
                       "crowd", "hiss", "tunnel", "traffic"),
}

# class -> weight of every source of its group (0 < w <= 1; see Source.weight_means)
MIX: dict[str, dict[str, float]] = {
    "airport":           dict(ambience=1.0, hum=0.2, crowd=0.35, footsteps=0.35, announcement=0.7, music=0.1,
                              luggage=1.0, train=0.05, beeps=0.15),
    "shopping_mall":     dict(ambience=1.0, hum=0.2, crowd=0.9, footsteps=0.6, announcement=0.1, music=0.9,
                              luggage=0.1, train=0.02, beeps=0.1),
    "metro_station":     dict(ambience=1.0, hum=0.8, crowd=0.35, footsteps=0.4, announcement=0.5, music=0.05,
                              luggage=0.15, train=0.9, beeps=0.7),
    "park":              dict(ambience=1.0, traffic=0.2, passby=0.03, birds=1.0, crowd=0.15, footsteps=0.2,
                              wind=0.9, water=0.15, horn=0.05),
    "public_square":     dict(ambience=1.0, traffic=0.5, passby=0.15, birds=0.2, crowd=0.5, footsteps=0.5,
                              wind=0.3, water=0.9, horn=0.2),
    "street_pedestrian": dict(ambience=1.0, traffic=0.5, passby=0.1, birds=0.15, crowd=1.0, footsteps=1.0,
                              wind=0.2, water=0.1, horn=0.3),
    "street_traffic":    dict(ambience=1.0, traffic=1.0, passby=1.0, birds=0.1, crowd=0.2, footsteps=0.2,
                              wind=0.3, water=0.03, horn=0.7),
    "bus":               dict(ambience=1.0, cabin=0.8, diesel=1.0, whine=0.1, clatter=0.03, squeal=0.05,
                              announcement=0.3, beeps=0.3, crowd=0.35, hiss=0.9, tunnel=0.03, traffic=0.7),
    "tram":              dict(ambience=1.0, cabin=0.6, diesel=0.05, whine=0.7, clatter=0.6, squeal=0.8,
                              announcement=0.4, beeps=0.4, crowd=0.35, hiss=0.15, tunnel=0.05, traffic=0.5),
    "metro":             dict(ambience=1.0, cabin=1.0, diesel=0.03, whine=0.9, clatter=0.9, squeal=0.3,
                              announcement=0.4, beeps=0.5, crowd=0.3, hiss=0.2, tunnel=1.0, traffic=0.03),
}

# class parameters that are not source weights: room size (RT60 range, s), vehicle top speed (m/s), ...
SCENE_PARAMS: dict[str, dict] = {
    "airport":           dict(rt60=(1.2, 2.4), ambience_top=6000, crowd_size=25, walkers=5),
    "shopping_mall":     dict(rt60=(0.8, 1.6), ambience_top=6000, crowd_size=40, walkers=8),
    "metro_station":     dict(rt60=(1.0, 2.2), ambience_top=5000, crowd_size=20, walkers=6),
    "park":              dict(rt60=(0.0, 0.15), ambience_top=12000, crowd_size=8, walkers=3),
    "public_square":     dict(rt60=(0.1, 0.4), ambience_top=10000, crowd_size=20, walkers=6),
    "street_pedestrian": dict(rt60=(0.2, 0.6), ambience_top=10000, crowd_size=30, walkers=14),
    "street_traffic":    dict(rt60=(0.1, 0.5), ambience_top=10000, crowd_size=10, walkers=3),
    "bus":               dict(rt60=(0.2, 0.4), ambience_top=4000, crowd_size=8, walkers=1, vmax=14.0,
                              cabin_top=1500, traffic_top=1500),
    "tram":              dict(rt60=(0.25, 0.5), ambience_top=4500, crowd_size=8, walkers=1, vmax=15.0,
                              cabin_top=2000, traffic_top=1500),
    "metro":             dict(rt60=(0.3, 0.6), ambience_top=5000, crowd_size=8, walkers=1, vmax=22.0,
                              cabin_top=3000, traffic_top=1000),
}


# =======================================================================================================
# 3. Locations and cities: what all clips of one place (or one town) share
# =======================================================================================================
def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in key])))


_KIND = {"train": 0, "test": 1}


def _city_params(seed: int, city: str) -> dict:
    """What a city's locations share: the public-address chime, the beep pitch and the voices' formants."""
    rng = _rng(seed, 7, CITIES.index(city))
    root = rng.uniform(450, 800)
    return dict(chime_notes=tuple(root * 2 ** (s / 12) for s in rng.choice((0, 3, 4, 5, 7, 9, 12), 3)),
                beep_hz=rng.uniform(900, 2800), formant_scale=rng.uniform(0.93, 1.07),
                city_tilt=rng.normal(0, 0.2))


def _location_params(seed: int, scene: str, kind: str, index: int, city: str) -> dict:
    """The random parameters shared by every segment recorded at one location."""
    rng = _rng(seed, SCENES.index(scene), _KIND[kind], index, 1)
    sp = SCENE_PARAMS[scene]
    city_p = _city_params(seed, city)
    loc = dict(city_p)
    loc["level_db"] = rng.normal(-30, 3)                       # RMS of the scene, dBFS
    loc["gain"] = {name: rng.normal(0, LOCATION_SPREAD_DB) for name in SOURCES}  # how loud each source is here
    loc["eq"] = [(math.exp(rng.uniform(math.log(80), math.log(10000))), rng.uniform(0.3, 1.2),
                  rng.normal(0, LOCATION_SPREAD_DB)) for _ in range(3)]     # (centre Hz, width oct, gain dB)
    loc["eq_tilt"] = rng.normal(0, 0.3) + city_p["city_tilt"]
    loc["rt60"] = rng.uniform(*sp["rt60"])
    loc["drr_db"] = rng.uniform(-3, 6)                          # direct-to-reverberant ratio
    loc["ambience_tilt"] = rng.normal(-3.5, 0.4)
    loc["ambience_peak"] = math.exp(rng.uniform(math.log(100), math.log(3000)))
    loc["hum_f0"] = float(rng.choice((50.0, 100.0, rng.uniform(60, 240))))
    loc["hum_table"] = _wavetable(rng.uniform(0.05, 1.0, 6) * 0.7 ** np.arange(6))
    loc["floor_peak"] = rng.uniform(800, 2500)
    loc["music"] = bool(rng.random() < MIX[scene].get("music", 0.0))
    loc["music_root"] = 220 * 2 ** (rng.integers(0, 12) / 12)
    loc["music_level"] = rng.uniform(-8, 0)
    loc["birds"] = [tuple(_bird_species(rng)) for _ in range(2)]
    loc["water_peak"] = rng.uniform(2500, 4000)
    harmonics = np.arange(1, 17)
    lift = np.exp(-0.5 * (np.log2(harmonics / rng.uniform(3, 10)) / 0.5) ** 2)   # a body resonance
    loc["engine_table"] = _wavetable(0.82 ** (harmonics - 1) * (1 + lift))
    loc["cabin_peak"] = rng.uniform(80, 150)
    loc["motor_hz_per_mps"] = rng.uniform(50, 70)
    loc["carrier_hz"] = rng.uniform(1500, 2500)
    loc["joint_m"] = rng.uniform(15, 25)
    loc["clatter_peak"] = rng.uniform(200, 400)
    loc["squeal_hz"] = rng.uniform(3000, 5000)
    loc["tunnel_peak"] = rng.uniform(90, 150)
    return loc


def _bird_species(rng) -> tuple[float, float, float, float]:
    """(start Hz, end Hz, chirp length s, gap s) of one bird species."""
    lo, hi = rng.uniform(2500, 3500), rng.uniform(5000, 7000)
    start, end = (lo, hi) if rng.random() < 0.5 else (hi, lo)
    return start, end, rng.uniform(0.03, 0.15), rng.uniform(0.03, 0.15)


# =======================================================================================================
# 4. Devices: nine "microphones", each a fixed channel
# =======================================================================================================
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
        db += self.tilt_db_per_octave * (_log2f(f) - 10.0) + self.gain_db
        for centre, width, gain in self.resonances:
            db += _peak_db(f, centre, width, gain)
        return db


DEVICE_MODELS: dict[str, DeviceModel] = {d.name: d for d in (
    DeviceModel("a", "reference: binaural in-ear microphones on a field recorder; nearly flat, quiet",
                20, 20000, (2, 4), ((2800, 0.6, 2.5), (8000, 0.4, -2.0)), noise_floor_db=-92),
    DeviceModel("b", "phone 1: small-microphone bass roll-off below 120 Hz, top end gone above 13 kHz, a 3.3 kHz "
                "presence peak, automatic gain control", 120, 13000, (2, 4),
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
        _DEVICE_GAINS[name] = (10 ** (DEVICE_MODELS[name].response_db(_FULL_FREQS) / 20)).astype(np.float32)
    return _DEVICE_GAINS[name]


_SELF_NOISE_SHAPE = (1.0 + 3.0 * _band(_FULL_FREQS, 0, 300, 1)).astype(np.float32)   # more noise at the bottom


def record(spectrum: np.ndarray, device, rng) -> np.ndarray:
    """A device's recording of a scene given as its rFFT: response, self-noise, compression, clipping.

    ``device`` is one of the nine names, or any ``DeviceModel`` (the pre-training corpus draws its own).
    """
    if isinstance(device, DeviceModel):
        model, gain = device, (10 ** (device.response_db(_FULL_FREQS) / 20)).astype(np.float32)
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


# =======================================================================================================
# 5. A whole segment: scene, location colour and reverb, devices, cut into 1-s clips
# =======================================================================================================
def room_response(seed: int, scene: str, kind: str, location: int, loc: dict) -> np.ndarray:
    """rFFT of a location's colour EQ times its room (direct sound plus an exponentially decaying tail)."""
    rng = _rng(seed, SCENES.index(scene), _KIND[kind], location, 3)
    f = _FULL_FREQS
    db = loc["eq_tilt"] * (_log2f(f) - 10.0)
    for centre, width, gain in loc["eq"]:
        db += _peak_db(f, centre, width, gain)
    h = (10 ** (db / 20)).astype(np.complex64)
    if loc["rt60"] > 0.05:
        n = int(min(loc["rt60"], 2.5) * SR)
        t = np.arange(n) / SR
        tail = rng.standard_normal(n) * np.exp(-6.9 * t / loc["rt60"])
        tail[: int(0.005 * SR)] = 0                                   # the tail starts after the direct sound
        tail /= np.sqrt(np.sum(tail ** 2))
        reverb = np.fft.rfft(tail, n=SEGMENT_SAMPLES) * (1.0 / (1.0 + (f / 5000.0) ** 2))   # air absorbs the top
        h *= (1.0 + 10 ** (-loc["drr_db"] / 20) * reverb).astype(np.complex64)
    return h


def render_scene(seed: int, scene: str, kind: str, index: int, location: int, city: str,
                 room: np.ndarray | None = None) -> np.ndarray:
    """The rFFT of one 10-s scene at its location, before any device: [SEGMENT_SAMPLES // 2 + 1] complex64.

    ``room`` is the location's ``room_response`` if the caller already has it (it is the same for every
    segment of the location).
    """
    rng = _rng(seed, SCENES.index(scene), _KIND[kind], index, 2)
    loc = _location_params(seed, scene, kind, location, city)
    if room is None:
        room = room_response(seed, scene, kind, location, loc)
    sp = dict(SCENE_PARAMS[scene])
    if "vmax" in sp:
        sp["_speed"] = _speed_profile(rng, sp["vmax"])
    canvas = _Canvas()
    for name in GROUP_SOURCES[SCENE_TO_COARSE[scene]]:
        SOURCES[name].paint(canvas, rng, loc, MIX[scene][name], sp)
    x = canvas.render(rng)
    spectrum = np.fft.rfft(x) * room
    # scale to the location's level (+-1 dB per segment): Parseval on the one-sided spectrum
    power = (2 * np.sum(np.abs(spectrum) ** 2) - np.abs(spectrum[0]) ** 2) / SEGMENT_SAMPLES ** 2
    target = 10 ** ((loc["level_db"] + rng.normal(0, 1)) / 10)
    return (spectrum * np.sqrt(target / max(power, 1e-20))).astype(np.complex64)


def _wav_bytes(samples: np.ndarray) -> bytes:
    """A 16-bit mono PCM RIFF/WAVE file (a plain 44-byte header: byte-identical for identical samples)."""
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1, SR, SR * 2,
                         2, 16, b"data", len(pcm))
    return header + pcm


# =======================================================================================================
# 6. The plan: which segments exist, where, on which devices, in which splits
# =======================================================================================================
@dataclass(frozen=True)
class SegmentPlan:
    scene: str
    kind: str                   # "train" or "test"
    index: int                  # order within (scene, kind): training splits take a prefix of it
    location: int               # location index within (scene, kind)
    city: str
    location_id: str            # e.g. "1000": the identifier is f"{city}-{location_id}"
    segment_id: str
    devices: tuple[str, ...]    # one device for training, all nine for test

    def filename(self, sub: int, device: str) -> str:
        return f"audio/{self.scene}-{self.city}-{self.location_id}-{self.segment_id}-{sub}-{device}.wav"


def split_size(n_segments: int, percent: int) -> int:
    """Training segments per class in split ``percent``: rounded, at least one."""
    return max(1, math.floor(n_segments * percent / 100 + 0.5))


def train_devices(n_segments: int, label: int) -> list[str]:
    """Devices of a class's training segments, in split order.

    About 27 % of them are b, c, s1, s2, s3 (TAU22 split5), spread evenly along the order so that every split
    (a prefix) has a similar device mix; each class starts at another phase and another device, so the mix
    of the whole training set is close to the target even where one class has too few segments.
    """
    n_other = math.floor(n_segments * OTHER_DEVICE_SHARE + 0.5) if n_segments > 1 else 0
    q, phase = n_other / n_segments, (label / len(SCENES) + 0.5) % 1.0
    devices, j = [], 0
    for k in range(n_segments):
        if math.floor((k + 1) * q + phase) > math.floor(k * q + phase):
            devices.append(OTHER_TRAIN_DEVICES[(label + j) % len(OTHER_TRAIN_DEVICES)])
            j += 1
        else:
            devices.append("a")
    return devices


def plan(profile="demo", seed: int = 0) -> list[SegmentPlan]:
    """Every segment of the dataset, class by class: training segments in split order, then test segments."""
    prof = _as_profile(profile)
    n_train, n_test = prof.synth_train_segments, prof.synth_test_segments
    if n_train < 1 or n_test < 1:
        raise ValueError(f"profile {prof.name!r} asks for {n_train} training and {n_test} test segments per "
                         "class; the synthetic dataset needs at least one of each (the paper profile uses the "
                         "real TAU22 data: see README: Real data)")
    if max(n_train, n_test) > 500:   # keeps location and segment ids unique (see below)
        raise ValueError(f"at most 500 training and 500 test segments per class, got {n_train} / {n_test}")
    segments = []
    for label, scene in enumerate(SCENES):
        for kind, n, per_location in (("train", n_train, TRAIN_SEGMENTS_PER_LOCATION),
                                      ("test", n_test, TEST_SEGMENTS_PER_LOCATION)):
            n_loc = math.ceil(n / per_location)
            cities = [CITIES[_rng(seed, label, _KIND[kind], loc, 0).integers(len(CITIES))] for loc in range(n_loc)]
            devices = train_devices(n, label) if kind == "train" else None
            for k in range(n):
                loc = k % n_loc          # consecutive segments come from different locations
                segments.append(SegmentPlan(
                    scene=scene, kind=kind, index=k, location=loc, city=cities[loc],
                    location_id=str(1000 * (label + 1) + 500 * _KIND[kind] + loc),
                    segment_id=str(10000 * (label + 1) + 5000 * _KIND[kind] + k),
                    devices=(devices[k],) if kind == "train" else DEVICES))
    return segments


def render_segment(seed: int, segment: SegmentPlan, room: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """device -> the 10-s recording [SEGMENT_SAMPLES] float32, for every device of the segment."""
    spectrum = render_scene(seed, segment.scene, segment.kind, segment.index, segment.location, segment.city,
                            room)
    out = {}
    for device in segment.devices:
        rng = _rng(seed, SCENES.index(segment.scene), _KIND[segment.kind], segment.index,
                   100 + DEVICES.index(device))
        out[device] = record(spectrum, device, rng)
    return out


def _write_location(job: tuple[str, int, list[SegmentPlan]]) -> list[tuple[str, str, str, str]]:
    """Render the segments of one location, write their clips, return their meta.csv rows (a worker's job)."""
    root, seed, segments = job
    first = segments[0]
    loc = _location_params(seed, first.scene, first.kind, first.location, first.city)
    room = room_response(seed, first.scene, first.kind, first.location, loc)
    rows = []
    for segment in segments:
        for device, audio in render_segment(seed, segment, room).items():
            for sub in range(SEGMENT_SECONDS):
                name = segment.filename(sub, device)
                with open(Path(root) / name, "wb") as f:
                    f.write(_wav_bytes(audio[sub * CLIP_SAMPLES:(sub + 1) * CLIP_SAMPLES]))
                rows.append((name, segment.scene, f"{segment.city}-{segment.location_id}", device))
    return rows


# =======================================================================================================
# 7. Public API
# =======================================================================================================
def _as_profile(profile):
    from asclab import profiles

    return profiles.get(profile) if isinstance(profile, str) else profile


@functools.lru_cache(maxsize=1)
def generator_digest() -> str:
    """A digest of this module's source: a dataset made by other code no longer counts as complete.

    A forgotten ``GENERATOR_VERSION`` bump once left a stale demo dataset in place while the code that the
    calibration measured wrote different sound; any edit to the generator now regenerates (under a minute).
    """
    return file_digest(Path(__file__))[:16]


def _parameters(profile, seed: int) -> dict:
    prof = _as_profile(profile)
    return {"generator": GENERATOR_VERSION, "source": generator_digest(), "profile": prof.name, "seed": int(seed),
            "train_segments_per_class": prof.synth_train_segments,
            "test_segments_per_class": prof.synth_test_segments}


def default_root(profile="demo", seed: int = 0) -> Path:
    """``asclab_home()/datasets/synthetic-<profile>-seed<seed>`` (sizes added if they differ from the profile's)."""
    from asclab import profiles

    prof = _as_profile(profile)
    name = prof.name
    standard = profiles.PROFILES.get(prof.name)
    if standard is None or (standard.synth_train_segments, standard.synth_test_segments) != \
            (prof.synth_train_segments, prof.synth_test_segments):
        name = f"{prof.name}-{prof.synth_train_segments}x{prof.synth_test_segments}"
    return asclab_home() / "datasets" / f"synthetic-{name}-seed{int(seed)}"


def is_complete(root, profile=None, seed: int | None = None) -> bool:
    """True if ``root`` holds a finished synthetic dataset (made with ``profile`` and ``seed``, if given)."""
    marker = Path(root) / COMPLETE_MARKER
    if not marker.is_file():
        return False
    try:
        done = read_json(marker)
    except ValueError:
        return False
    made_by = done.get("parameters", {})
    if made_by.get("generator") != GENERATOR_VERSION or made_by.get("source") != generator_digest():
        return False
    if profile is not None and done["parameters"] != _parameters(profile, 0 if seed is None else seed):
        return False
    return True


def _clear(root: Path) -> None:
    """Remove what an earlier (interrupted or outdated) synthesis left, and nothing else."""
    (root / COMPLETE_MARKER).unlink(missing_ok=True)
    for name in ("meta.csv",) + tuple(f"{s}.csv" for s in SPLIT_NAMES) + ("DATASHEET.md",):
        (root / name).unlink(missing_ok=True)
    if (root / "audio").is_dir():
        shutil.rmtree(root / "audio")


def _write_table(path: Path, header: tuple[str, ...], rows) -> None:
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _exclusive(root: Path):
    """Hold an exclusive lock beside ``root`` (``.<name>.lock``), so that two processes never write it at once."""
    try:
        import fcntl
    except ImportError:      # no fcntl (Windows): no lock; run one synthesis at a time
        yield
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(f".{root.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def synthesize(root=None, profile="demo", seed: int = 0, progress: bool = False, workers: int | None = None) -> Path:
    """Write the synthetic dataset for ``profile`` (name or Profile) and ``seed`` into ``root``; return ``root``.

    ``root`` defaults to ``default_root(profile, seed)``. If ``root`` already holds a complete dataset made
    with the same parameters, nothing is written. A dataset that was interrupted (or made by another
    generator version or with other parameters) is removed and generated again. A non-empty folder that was
    not made here is left alone (ValueError). ``workers`` processes render segments in parallel (default: up
    to 2); the files are the same for any number of workers. A second process asking for the same ``root``
    waits for the first and then finds the dataset complete.
    """
    prof = _as_profile(profile)
    root = Path(default_root(prof, seed) if root is None else root).expanduser().absolute()
    with _exclusive(root):
        return _synthesize_locked(root, prof, int(seed), progress, workers)


def _synthesize_locked(root: Path, prof, seed: int, progress: bool, workers: int | None) -> Path:
    params = _parameters(prof, seed)
    segments = plan(prof, seed)
    if is_complete(root, prof, seed):
        if progress:
            print(f"synthetic dataset already complete at {root}: nothing to do")
        return root
    ours = (root / COMPLETE_MARKER).exists() or (root / PROGRESS_MARKER).exists()
    if root.is_dir() and any(root.iterdir()) and not ours:
        raise ValueError(f"{root} is not empty and holds no synthetic dataset made by asclab: refusing to write "
                         "into it; pass an empty or new folder as root (or delete this one)")
    if ours and progress:
        print(f"{root}: an incomplete or outdated synthetic dataset: generating it again")
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / PROGRESS_MARKER, f"{params}\n")
    _clear(root)
    (root / "audio").mkdir()

    started = time.perf_counter()
    by_location: dict[tuple, list[SegmentPlan]] = {}
    for s in segments:
        by_location.setdefault((s.scene, s.kind, s.location), []).append(s)
    jobs = [(str(root), int(seed), group) for group in by_location.values()]
    workers = min(2, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="synthesizing locations", unit="location")
    rows_by_segment = []
    if workers == 1:
        for job in jobs:
            rows_by_segment.append(_write_location(job))
            bar is not None and bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            for rows in pool.map(_write_location, jobs):
                rows_by_segment.append(rows)
                bar is not None and bar.update()
    if bar is not None:
        bar.close()

    # meta.csv and the split files: sorted by filename, so their bytes never depend on the worker order
    meta = sorted(r for rows in rows_by_segment for r in rows)
    _write_table(root / "meta.csv", ("filename", "scene_label", "identifier", "source_label"), meta)
    n_train = prof.synth_train_segments
    split_rows = {}
    for p in SPLITS:
        size = split_size(n_train, p)
        keep = {s.segment_id for s in segments if s.kind == "train" and s.index < size}
        split_rows[f"split{p}"] = [(r[0], r[1]) for r in meta if r[0].split("-")[-3] in keep]
    test_ids = {s.segment_id for s in segments if s.kind == "test"}
    split_rows["test"] = [(r[0], r[1]) for r in meta if r[0].split("-")[-3] in test_ids]
    for name, rows in split_rows.items():
        _write_table(root / f"{name}.csv", ("filename", "scene_label"), rows)

    if hasattr(os, "sync"):
        os.sync()   # the audio reaches the disk before the marker that vouches for it
    device_of = {r[0]: r[3] for r in meta}
    summary = {
        "parameters": params,
        "clips": len(meta),
        "segments": {"train": sum(s.kind == "train" for s in segments),
                     "test": sum(s.kind == "test" for s in segments)},
        "splits": {name: {"clips": len(rows),
                          "devices": {d: sum(device_of[r[0]] == d for r in rows) for d in DEVICES}}
                   for name, rows in split_rows.items()},
        "meta_sha256": file_digest(root / "meta.csv", length=64),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(root / COMPLETE_MARKER, summary)
    (root / PROGRESS_MARKER).unlink(missing_ok=True)
    if progress:
        print(f"synthetic dataset: {len(meta)} clips in {summary['seconds']} s at {root}")
    return root


# =======================================================================================================
# 8. For notebooks and calibration
# =======================================================================================================
def source_mix_table() -> dict[str, dict[str, float]]:
    """class -> {source: weight} (0 = the group lacks the source). ``pandas.DataFrame(table).T`` shows it.

    How a weight acts depends on the source (``SOURCES[name].weight_means``): "level" scales its power,
    "rate" its events per second, "chance" the probability that it occurs in a segment (music: at a
    location), "size" the size of the crowd.
    """
    names = list(dict.fromkeys(n for group in COARSE for n in GROUP_SOURCES[group]))
    return {scene: {n: float(MIX[scene].get(n, 0.0)) for n in names} for scene in SCENES}


def nearest_centroid_accuracy(train_set, test_set) -> float:
    """Macro class accuracy of a nearest-class-centroid classifier on the mean log-mel spectrum.

    Each clip becomes the mean of its log-mel over time (one number per mel band); a test clip gets the class
    whose training mean is nearest (Euclidean). This is the "is the task trivial?" check: a clip's average
    spectrum carries the class only weakly, so this stays far below a CNN that sees the time-frequency patterns.
    Works on ``asclab.features.FeatureSet`` (or anything with ``x`` [N, 1, F, T] and ``y`` [N]).
    """
    def spectra(fs):
        x = np.asarray(fs.x, dtype=np.float32)
        return x.reshape(x.shape[0], -1, x.shape[-1]).mean(axis=-1), np.asarray(fs.y)

    xtr, ytr = spectra(train_set)
    xte, yte = spectra(test_set)
    classes = np.unique(ytr)
    centroids = np.stack([xtr[ytr == c].mean(axis=0) for c in classes])
    dist = ((xte ** 2).sum(1)[:, None] - 2 * xte @ centroids.T + (centroids ** 2).sum(1)[None, :])
    pred = classes[dist.argmin(axis=1)]
    return float(np.mean([np.mean(pred[yte == c] == c) for c in np.unique(yte)]))


def describe(profile=None) -> str:
    """The datasheet of the synthetic dataset (markdown): what it is made of and what it cannot teach."""
    lines = [
        "# The synthetic acoustic-scene dataset (asclab)",
        "",
        "A stand-in for TAU Urban Acoustic Scenes 2022 Mobile (DCASE2024 Task 1) that a laptop can generate in "
        "under a minute. It has the real dataset's layout (`audio/`, `meta.csv`, `split5.csv` ... `split100.csv`, "
        "`test.csv`), its 10 scene labels, its 9 devices, 10 cities, and 1-s, 44.1 kHz mono clips cut from "
        "10-s segments.",
        "",
        "## How a clip is made",
        "1. **Sources.** Every scene is a mix of procedural sound sources. Sources are shared inside a coarse "
        "group, so the classes of a group differ only in *how much* of each source they hold (the weights "
        "below) and in a few parameters (room size, crowd size, vehicle speed). The hard confusions are "
        "therefore inside a group: metro vs tram, street_pedestrian vs public_square, airport vs shopping_mall.",
        "2. **Locations.** Each 10-s segment is recorded at a location (`identifier` = `<city>-<id>`). A "
        "location fixes a colouring EQ, a reverb, a level, the loudness of each source and details such as the "
        "hum pitch, the floor, the bird species or the rail-joint spacing. Cities fix the public-address chime, "
        "the beep pitch and a voice colour. Test locations never appear in training.",
        "3. **Devices.** The same scene can be recorded by nine device models: a frequency response, "
        "self-noise, compression and sometimes clipping. Device a dominates training (about 73 %, as in "
        "TAU22); s4, s5 and s6 appear only in the test split, where every segment is recorded by all nine.",
        "4. **Splits.** split5 ⊂ split10 ⊂ split25 ⊂ split50 ⊂ split100, class-balanced, whole 10-s segments "
        "only, with a similar device mix.",
        "",
        "## Sources",
    ]
    for group in COARSE:
        lines.append(f"**{group}** ({', '.join(s for s in SCENES if SCENE_TO_COARSE[s] == group)}):")
        for name in GROUP_SOURCES[group]:
            src = SOURCES[name]
            lines.append(f"- `{name}` (weight = {src.weight_means}): {' '.join(src.description.split())}")
        lines.append("")
    lines.append("## Weights per class")
    table = source_mix_table()
    for scene in SCENES:
        group = GROUP_SOURCES[SCENE_TO_COARSE[scene]]
        lines.append(f"- `{scene}`: " + ", ".join(f"{n} {table[scene][n]:.2f}" for n in group))
    lines += ["", "## Devices"]
    for d in DEVICE_MODELS.values():
        lines.append(f"- `{d.name}`: {d.description}")
    if profile is not None:
        prof = _as_profile(profile)
        n, m = prof.synth_train_segments, prof.synth_test_segments
        lines += ["", f"## Size ({prof.name} profile)",
                  f"- training: {n} segments per class ({10 * n * len(SCENES)} clips in split100); split sizes "
                  + ", ".join(f"split{p}: {split_size(n, p)}" for p in SPLITS) + " segments per class",
                  f"- test: {m} segments per class, each on all 9 devices ({90 * m * len(SCENES)} clips)"]
    lines += [
        "", "## What this stand-in cannot teach",
        "- **Real sounds.** The sources are crude procedural models: no real speech, music, vehicles or birds. "
        "Models pretrained on AudioSet (e.g. the DyMN teachers) know real sounds, so their head start here is "
        "smaller or different than on TAU22, and absolute accuracies mean nothing for the real task.",
        "- **Real devices.** The device models are fixed filters plus compression; real phones also differ in "
        "phase, distortion, automatic processing and placement. How well Freq-MixStyle or device "
        "augmentation transfers must be checked on the real data.",
        "- **Real variety.** A few hundred segments from a few dozen invented locations; the real set has "
        "64 hours from hundreds of locations. Effects that need scale (large ensembles, long training) may "
        "not show, and small differences between runs are noise here.",
        "- **Real label noise and ambiguity.** Every clip is exactly the mix its label says; real recordings "
        "have overlapping, ambiguous and mislabelled scenes.",
        "", "Use it to learn the workflow and see the direction of effects; use TAU22 (profile `paper`) for "
        "numbers worth reporting.",
    ]
    return "\n".join(lines) + "\n"
