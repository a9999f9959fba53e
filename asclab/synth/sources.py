"""The procedural sound sources that scenes (and the event corpus) are mixed from.

Each source is a function ``paint(canvas, rng, location, weight, scene parameters)`` that draws itself on a
``blocks.Canvas``: noise-like sources as a power map, tonal sources as oscillators. ``location`` holds what
a place fixes (gains per source, hum pitch, floor, bird species, ...; see ``scenes.location_params``) and
the scene parameters hold what a class fixes (crowd size, vehicle top speed, ...; ``scenes.SCENE_PARAMS``).
This module knows nothing of scene classes: ``scenes`` says which class holds how much of each source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asclab.synth.blocks import (
    FPS,
    FRAMES,
    FREQS,
    HOP,
    SEGMENT_SAMPLES,
    SEGMENT_SECONDS,
    SPEECH_BINS,
    SR,
    TIMES,
    band,
    decay,
    frames_to_samples,
    from_db,
    impulses,
    log2f,
    oscillate,
    peak,
    poisson_times,
    tilt,
    unit_mean,
    wander,
    wavetable,
)


def _speech_block(rng, seconds: float, formant_scale: float, passband=(120.0, 7000.0)) -> np.ndarray:
    """[frames, speech bins] power of one talker: syllables with formants, pauses and some fricatives."""
    nt = max(1, int(seconds * FPS))
    n = int(seconds * 6) + 4
    length = rng.uniform(0.09, 0.28, n)
    gap = rng.exponential(0.05, n) + (rng.random(n) < 0.15) * rng.uniform(0.2, 0.7, n)
    starts = np.concatenate([[0.0], np.cumsum(length + gap)[:-1]])
    t = np.arange(nt) / FPS
    i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, n - 1)
    phase = (t - starts[i]) / length[i]
    env = np.where(phase < 1, np.sin(np.pi * np.clip(phase, 0, 1)) ** 0.6, 0.0)
    f = FREQS[:SPEECH_BINS]
    lf = log2f(f)[None, :]
    base = (band(f, passband[0], passband[1], 2) * tilt(f, -3.0, 500.0))[None, :]
    formants = np.log2(formant_scale * np.stack(
        [rng.uniform(300, 850, n), rng.uniform(900, 2400, n), rng.uniform(2400, 3300, n)]))  # [3, n]
    active = env > 0
    block = np.zeros((nt, len(f)), np.float32)
    if active.any():
        k = i[active]
        spec = np.zeros((int(active.sum()), len(f)))
        for gain, (row, width) in zip((1.0, 0.5, 0.25), ((0, 0.22), (1, 0.18), (2, 0.15)), strict=True):
            spec += gain * np.exp(-0.5 * ((lf - formants[row, k][:, None]) / width) ** 2)
        fricative = (rng.random(n) < 0.3)[k] & (phase[active] < 0.35)
        spec += 0.6 * fricative[:, None] * band(f, 3000, 9000, 2)[None, :]
        block[active] = (env[active, None] * spec * base).astype(np.float32)
    return block / max(float(block[active].mean()) if active.any() else 1.0, 1e-12)


def _src_ambience(cv, rng, loc, w, sp):
    """Diffuse background of the place: pink-ish noise with a location colour and a slow wander."""
    shape = unit_mean(band(FREQS, 30, sp["ambience_top"], 1) * tilt(FREQS, loc["ambience_tilt"])
                      * peak(FREQS, loc["ambience_peak"], 0.8, 4.0))
    cv.noise(wander(rng, 0.5, 1.5), shape, 10 * math.log10(w) - 10 + loc["gain"]["ambience"])


def _src_hum(cv, rng, loc, w, sp):
    """Machinery hum (ventilation, transformers): a steady harmonic tone at a location-specific pitch."""
    freq = np.full(SEGMENT_SAMPLES, loc["hum_f0"], np.float32) * (1 + 0.002 * rng.standard_normal())
    env = frames_to_samples(np.sqrt(wander(rng, 0.3, 1.0)), 0, SEGMENT_SAMPLES)
    cv.tone(oscillate(loc["hum_table"], freq, rng.random()) * env, 0,
            -3 + 10 * math.log10(w) + loc["gain"]["hum"])


def _src_crowd(cv, rng, loc, w, sp):
    """People talking: a distant crowd (speech-shaped, smoother the larger it is) and a few near talkers."""
    f = FREQS[:SPEECH_BINS]
    density = max(w * sp["crowd_size"] * math.exp(0.3 * rng.standard_normal()), 0.5)
    shape = unit_mean(band(f, 150, 5000, 2) * peak(f, 500 * loc["formant_scale"], 1.0, 6)
                      * peak(f, 1600 * loc["formant_scale"], 0.8, 3))
    depth = 6.0 / math.sqrt(density)
    cv.noise(wander(rng, 4.0, depth), shape, -4 + 10 * math.log10(density / 10) + loc["gain"]["crowd"])
    for _ in range(rng.poisson(4.0 * w)):
        seconds = rng.uniform(1.0, 6.0)
        start = int(rng.uniform(-seconds, SEGMENT_SECONDS) * FPS)
        scale = loc["formant_scale"] * rng.uniform(0.85, 1.2)
        cv.block(_speech_block(rng, seconds, scale), rng.uniform(-2, 6) + loc["gain"]["crowd"], start)


def _src_footsteps(cv, rng, loc, w, sp):
    """Walkers: heel and toe impacts at about two steps a second, on a floor whose sound the location sets."""
    env = np.zeros(FRAMES, np.float32)
    for _ in range(rng.poisson(sp["walkers"] * w)):
        rate = rng.uniform(1.6, 2.3)
        begin = rng.uniform(-4, SEGMENT_SECONDS)
        steps = begin + np.cumsum(1 / rate + 0.03 * rng.standard_normal(int(rng.uniform(4, 16))))
        closeness = rng.uniform(0.2, 1.0) * np.exp(0.3 * rng.standard_normal(len(steps)))
        env += impulses(steps, closeness) + impulses(steps + 0.05, 0.35 * closeness)
    if env.any():
        shape = unit_mean(band(FREQS, 120, 9000, 1) * peak(FREQS, loc["floor_peak"], 1.0, 8))
        cv.noise(decay(env, 0.025), shape, 5 + loc["gain"]["footsteps"])


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
    cv.block(_speech_block(rng, seconds, loc["formant_scale"] * 1.1, passband=(350.0, 3800.0)),
             level + 3, int(voice_start * FPS))


def _src_music(cv, rng, loc, w, sp):
    """Background music: soft chords that change every couple of seconds, and a bass line.

    The location decides whether music plays.
    """
    if not loc["music"]:
        return
    chords = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4), (2, 5, 9))
    t0 = -rng.uniform(0, 2)
    table = wavetable((1.0, 0.35, 0.15, 0.08))
    while t0 < SEGMENT_SECONDS:
        dur = rng.choice((1.2, 1.6, 2.4))
        chord = chords[rng.integers(len(chords))]
        n = int(dur * SR)
        t = np.arange(n) / SR
        env = np.minimum(1, t / 0.08) * np.exp(-t * 0.6)
        for k, semi in enumerate(chord + (chord[0] - 12,)):
            f = loc["music_root"] * 2 ** (semi / 12) * (0.5 if k == 3 else 1.0)
            x = oscillate(table, np.full(n, f, np.float32), rng.random()) * env
            cv.tone(x.astype(np.float32), int(t0 * SR), loc["music_level"] + (2 if k == 3 else -2))
        t0 += dur


def _src_luggage(cv, rng, loc, w, sp):
    """Rolling suitcases: a rumble that swells and fades, ticking over the tile joints."""
    shape = unit_mean(band(FREQS, 150, 3500, 2) * peak(FREQS, 700, 0.8, 5))
    for t in poisson_times(rng, 0.5 * w):
        seconds = rng.uniform(1.5, 4.5)
        nt = int(seconds * FPS)
        u = np.linspace(-1, 1, nt)
        swell = np.exp(-3 * u ** 2)
        ticks = np.zeros(nt, np.float32)
        step = max(1, int(FPS / rng.uniform(5, 11)))
        ticks[::step] = 2.5
        env = swell * (0.4 + np.convolve(ticks, np.exp(-np.arange(4) / 1.0))[:nt])
        cv.noise(env.astype(np.float32), shape, rng.uniform(3, 9) + loc["gain"]["luggage"],
                 int((t - seconds / 2) * FPS))


def _src_train(cv, rng, loc, w, sp):
    """Trains arriving or leaving: a rumble and a rush of air over several seconds, sometimes a squeal."""
    for centre in poisson_times(rng, 0.2 * w, margin=4.0):
        seconds = rng.uniform(5, 9)
        begin = centre - seconds / 2
        nt = int(seconds * FPS)
        u = np.linspace(0, 1, nt)
        env = (np.sin(np.pi * u) ** 2).astype(np.float32)
        level = rng.uniform(7, 13) + loc["gain"]["train"]
        cv.noise(env, unit_mean(band(FREQS, 30, 500, 2)), level + 3, int(begin * FPS))
        cv.noise(env, unit_mean(band(FREQS, 200, 5000, 1)), level - 2, int(begin * FPS))
        if rng.random() < 0.7:
            _squeal(cv, rng, begin + seconds * rng.uniform(0.4, 0.8), rng.uniform(0.7, 2.0), level - 4, loc)


def _beeps(freq: float, count: int, on: float, off: float) -> np.ndarray:
    """A burst of square-ish beeps."""
    table = wavetable((1.0, 0.0, 0.33, 0.0, 0.2))
    n_on = int(on * SR)
    beep = oscillate(table, np.full(n_on, freq, np.float32)) * np.minimum(1, np.arange(n_on) / 80)
    out = np.zeros(int(count * (on + off) * SR), np.float32)
    for j in range(count):
        s = int(j * (on + off) * SR)
        out[s:s + n_on] += beep
    return out


def _src_beeps(cv, rng, loc, w, sp):
    """Warning beeps (doors closing, ticket gates) at the city's beep pitch."""
    for t in poisson_times(rng, 0.2 * w):
        x = _beeps(loc["beep_hz"] * rng.choice((1.0, 1.0, 1.5)), int(rng.integers(2, 7)),
                   rng.uniform(0.1, 0.25), rng.uniform(0.08, 0.25))
        cv.tone(x, int(t * SR), rng.uniform(-4, 4) + loc["gain"]["beeps"])


def _src_traffic(cv, rng, loc, w, sp):
    """Distant traffic: a low, slowly swelling rumble (through windows when inside a vehicle)."""
    shape = unit_mean(band(FREQS, 30, sp.get("traffic_top", 2500), 1) * tilt(FREQS, -4.0))
    cv.noise(wander(rng, 0.4, 3.0), shape, 10 * math.log10(w) + 2 + loc["gain"]["traffic"])


def _src_passby(cv, rng, loc, w, sp):
    """Vehicles passing: tyre noise that swells and fades, its spectrum sliding down (Doppler-ish), an
    engine."""
    f = FREQS
    for tc in poisson_times(rng, 0.6 * w, margin=3.0):
        speed, dist = rng.uniform(8, 16), rng.uniform(4, 25)
        first, last = max(0, int((tc - 5) * FPS)), min(FRAMES, int((tc + 5) * FPS))
        if last <= first:
            continue
        t = TIMES[first:last] - tc
        x = t * speed / dist
        env = 1.0 / (1.0 + x ** 2)
        doppler = 1.0 + 0.1 * (-x / np.sqrt(1 + x ** 2))          # higher approaching, lower leaving
        fp = rng.uniform(500, 1300)
        # the tyre spectrum slid by the Doppler factor, drawn from 9 precomputed slides
        slides = np.linspace(0.9, 1.1, 9)
        shapes = np.stack([band(f / d, 60, 6000, 1.5) * peak(f / d, fp, 0.7, 8) for d in slides])
        shapes = (shapes / shapes.mean()).astype(np.float32)
        block = env[:, None].astype(np.float32) * shapes[np.round((doppler - 0.9) / 0.025).astype(np.int64)]
        level = 12 - 20 * math.log10(dist / 4) + loc["gain"]["passby"]
        cv.block(block, level, first)
        if rng.random() < 0.5:   # an engine tone, Doppler-shifted too
            s0, n = int(first * HOP), int((last - first) * HOP)
            dop = frames_to_samples(np.concatenate([np.ones(first), doppler, np.ones(FRAMES - last)]), s0, n)
            amp = frames_to_samples(np.concatenate([np.zeros(first), np.sqrt(env), np.zeros(FRAMES - last)]),
                                    s0, n)
            table = wavetable(0.7 ** np.arange(8))
            cv.tone(oscillate(table, rng.uniform(30, 70) * dop) * amp, s0, level - 6)


def _src_birds(cv, rng, loc, w, sp):
    """Bird songs: runs of short frequency-swept chirps; each location has its own two species."""
    for t in poisson_times(rng, 0.8 * w):
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
    gusts = wander(rng, 0.8, 6.0)
    cv.noise(gusts, unit_mean(band(FREQS, 10, 300, 1) * tilt(FREQS, -4.0)),
             10 * math.log10(w) + 3 + loc["gain"]["wind"])
    cv.noise(gusts, unit_mean(band(FREQS, 1500, 12000, 1)), 10 * math.log10(w) - 5 + loc["gain"]["wind"])


def _src_water(cv, rng, loc, w, sp):
    """A fountain: bright hiss with fast, splashy level changes."""
    splash = from_db(np.convolve(2.5 * rng.standard_normal(FRAMES), np.ones(3) / 3, mode="same"))
    splash = splash.astype(np.float32)
    shape = unit_mean(band(FREQS, 500, 12000, 1) * peak(FREQS, loc["water_peak"], 1.0, 5))
    cv.noise(splash, shape, 10 * math.log10(w) + 4 + loc["gain"]["water"])


def _src_horn(cv, rng, loc, w, sp):
    """Car horns (two-tone, rich harmonics) and bicycle bells (ringing inharmonic partials)."""
    for t in poisson_times(rng, 0.15 * w):
        level = rng.uniform(0, 8) + loc["gain"]["horn"]
        if rng.random() < 0.5:
            n = int(rng.uniform(0.2, 0.8) * SR)
            f0 = rng.uniform(350, 500)
            table = wavetable(0.8 ** np.arange(10))
            env = np.minimum(1, np.arange(n) / 300) * np.minimum(1, (n - np.arange(n)) / 300)
            x = (oscillate(table, np.full(n, f0, np.float32))
                 + oscillate(table, np.full(n, 1.26 * f0, np.float32)))
            cv.tone((0.7 * x * env).astype(np.float32), int(t * SR), level)
        else:
            f0 = rng.uniform(2500, 4200)
            ring = np.arange(int(0.8 * SR)) / SR
            x = sum(a * np.sin(2 * np.pi * f0 * r * ring) for r, a in ((1, 1.0), (1.52, 0.5), (2.41, 0.3)))
            x = (x * np.exp(-ring * 5)).astype(np.float32)
            for j in range(int(rng.integers(1, 4))):
                cv.tone(x, int((t + 0.25 * j) * SR), level - 4)


def speed_profile(rng, vmax: float) -> np.ndarray:
    """[T] vehicle speed (m/s) over the segment: cruising, accelerating, braking or standing."""
    mode = rng.choice(4, p=(0.5, 0.2, 0.2, 0.1))
    cruise = vmax * rng.uniform(0.5, 1.0)
    if mode == 0:
        return (cruise * (1 + 0.1 * np.log(wander(rng, 0.3, 1.0)))).astype(np.float32)
    if mode == 3:
        return np.zeros(FRAMES, np.float32)
    t0, acc = rng.uniform(-3, 7), rng.uniform(0.8, 1.4)
    ramp = np.clip(acc * (TIMES - t0), 0, cruise)
    return (ramp if mode == 1 else cruise - ramp).astype(np.float32)


def _src_cabin(cv, rng, loc, w, sp):
    """Inside a vehicle: rolling and body rumble with a cabin resonance, louder the faster it goes."""
    v = sp["_speed"] / sp["vmax"]
    shape = unit_mean(band(FREQS, 25, sp["cabin_top"], 2) * tilt(FREQS, -3.0)
                      * peak(FREQS, loc["cabin_peak"], 0.5, 8))
    cv.noise((0.15 + v ** 2) * wander(rng, 1.0, 1.5), shape, 10 * math.log10(w) + 6 + loc["gain"]["cabin"])


def _src_diesel(cv, rng, loc, w, sp):
    """A diesel engine: a harmonic-rich firing tone whose pitch follows the gears; idles when standing."""
    v = sp["_speed"]
    rpm = np.where(v > 0.5, 800 + 1300 * ((v / 4.0) % 1.0), 750 + 30 * np.log(wander(rng, 2, 1)))
    firing = frames_to_samples(rpm / 20.0, 0, SEGMENT_SAMPLES)                 # six cylinders
    load = frames_to_samples(np.sqrt(0.4 + 0.6 * np.clip(v / sp["vmax"], 0, 1)), 0, SEGMENT_SAMPLES)
    cv.tone(oscillate(loc["engine_table"], firing, rng.random()) * load, 0,
            10 * math.log10(w) + 7 + loc["gain"]["diesel"])
    cv.noise(wander(rng, 2, 2), unit_mean(band(FREQS, 100, 2500, 1)),
             10 * math.log10(w) - 2 + loc["gain"]["diesel"])


def _src_whine(cv, rng, loc, w, sp):
    """Electric traction: motor tones that rise and fall with speed, plus the inverter's switching whistle."""
    v = sp["_speed"]
    accel = np.abs(np.gradient(v) * FPS)
    pull = np.clip(accel / 1.0, 0, 1) * 0.6 + 0.4 * (v > 0.5)
    freq = frames_to_samples(loc["motor_hz_per_mps"] * v + 20, 0, SEGMENT_SAMPLES)
    amp = frames_to_samples(np.sqrt(pull), 0, SEGMENT_SAMPLES)
    level = 10 * math.log10(w) + 4 + loc["gain"]["whine"]
    cv.tone(oscillate(wavetable((1.0, 0.5, 0.0, 0.3)), freq, rng.random()) * amp, 0, level)
    carrier = np.full(SEGMENT_SAMPLES, loc["carrier_hz"], np.float32)
    cv.tone(np.sin(np.cumsum(2 * np.pi * carrier / SR)).astype(np.float32) * amp, 0, level - 8)


def _src_clatter(cv, rng, loc, w, sp):
    """Wheels over rail joints: 'ta-dum ta-dum' impacts whose rhythm follows the speed."""
    v = sp["_speed"]
    if v.max() < 1.5:
        return
    distance = np.cumsum(v) / FPS                       # metres travelled since the segment start
    joints = np.arange(rng.uniform(0, loc["joint_m"]), distance[-1] + 20, loc["joint_m"])
    times = []
    for offset in (0.0, 2.5, 15.0, 17.5):                # two bogies with two axles each
        times.append(np.interp(joints + offset, distance, TIMES, left=np.nan, right=np.nan))
    times = np.concatenate(times)
    times = times[np.isfinite(times)]
    env = decay(impulses(times, rng.uniform(0.5, 1.0, len(times))), 0.04)
    shape = unit_mean(band(FREQS, 30, 1200, 2) * peak(FREQS, loc["clatter_peak"], 0.8, 6))
    cv.noise(env, shape, 10 * math.log10(w) + 10 + loc["gain"]["clatter"])


def _squeal(cv, rng, t: float, seconds: float, level: float, loc) -> None:
    n = int(seconds * SR)
    u = np.arange(n) / SR
    f0 = loc["squeal_hz"] * rng.uniform(0.9, 1.1)
    freq = f0 * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 9) * u))
    stick = frames_to_samples(np.sqrt(wander(rng, 6, 4)), 0, n)
    env = np.sin(np.pi * u / seconds) ** 0.5 * stick
    cv.tone(oscillate(wavetable((1.0, 0.3, 0.1)), freq.astype(np.float32)) * env, int(t * SR), level)


def _src_squeal(cv, rng, loc, w, sp):
    """Wheel or brake squeal: a high, narrow, wavering tone lasting a second or two."""
    for t in poisson_times(rng, 0.25 * w):
        _squeal(cv, rng, t, rng.uniform(0.5, 3.0), rng.uniform(-2, 8) + loc["gain"]["squeal"], loc)


def _src_hiss(cv, rng, loc, w, sp):
    """Compressed-air hiss (brakes, doors): a bright burst with a fast attack."""
    shape = unit_mean(band(FREQS, 1800, 12000, 2) * peak(FREQS, 5000, 0.8, 4))
    for t in poisson_times(rng, 0.3 * w):
        seconds = rng.uniform(0.3, 1.5)
        nt = int(seconds * FPS)
        env = np.exp(-np.arange(nt) / (0.4 * nt)).astype(np.float32)
        cv.noise(env, shape, rng.uniform(2, 9) + loc["gain"]["hiss"], int(t * FPS))


def _src_tunnel(cv, rng, loc, w, sp):
    """Tunnel roar: broadband noise with a strong low resonance, swelling with speed."""
    v = sp["_speed"] / sp["vmax"]
    shape = unit_mean(band(FREQS, 40, 2500, 1) * peak(FREQS, loc["tunnel_peak"], 0.5, 10))
    cv.noise((0.1 + v ** 2) * wander(rng, 0.5, 2.0), shape, 10 * math.log10(w) + 8 + loc["gain"]["tunnel"])


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
