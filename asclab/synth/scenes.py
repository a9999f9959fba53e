"""Scenes: what each class holds, what a location and a city fix, and one 10-s scene before any device.

Every class of a coarse group draws on the same sources (``GROUP_SOURCES``); the classes differ only in
how much of each source they hold (``MIX``) and in a few parameters (``SCENE_PARAMS``). A location
(``location_params``) fixes a colouring EQ, a reverb (``room_response``), a level, the gain of every
source and a few source parameters; the locations of one city share a chime, a beep pitch and a voice
colour. ``render_scene`` mixes the sources of a class at a location and returns its spectrum.
"""
from __future__ import annotations

import math

import numpy as np

from asclab.data import COARSE, SCENE_TO_COARSE, SCENES
from asclab.synth.blocks import FULL_FREQS, SEGMENT_SAMPLES, SR, Canvas, log2f, peak_db, seeded_rng, wavetable
from asclab.synth.sources import SOURCES, speed_profile

CITIES: tuple[str, ...] = ("barcelona", "helsinki", "lisbon", "london", "lyon",
                           "milan", "paris", "prague", "stockholm", "vienna")
LOCATION_SPREAD_DB = 2.0          # std of a location's per-source gains and EQ resonances: the nuisance knob
KIND_INDEX = {"train": 0, "test": 1}   # the train/test element of every random-stream key

# Every class of a coarse group draws on the same sources: only the weights (and a few parameters) differ.
GROUP_SOURCES: dict[str, tuple[str, ...]] = {
    "indoor": ("ambience", "hum", "crowd", "footsteps", "announcement", "music", "luggage", "train", "beeps"),
    "outdoor": ("ambience", "traffic", "passby", "birds", "crowd", "footsteps", "wind", "water", "horn"),
    "transportation": ("ambience", "cabin", "diesel", "whine", "clatter", "squeal", "announcement", "beeps",
                       "crowd", "hiss", "tunnel", "traffic"),
}

# class -> weight of every source of its group (0 < w <= 1; see Source.weight_means): a row per class, the
# weights in the order of GROUP_SOURCES (the comment above each group's rows names them)
_MIX_ROWS: dict[str, dict[str, tuple[float, ...]]] = {
    "indoor": {
        #                 ambience hum  crowd footsteps announcement music luggage train beeps
        "airport":       (1.0,     0.2, 0.35, 0.35,     0.7,         0.1,  1.0,    0.05, 0.15),
        "shopping_mall": (1.0,     0.2, 0.9,  0.6,      0.1,         0.9,  0.1,    0.02, 0.1),
        "metro_station": (1.0,     0.8, 0.35, 0.4,      0.5,         0.05, 0.15,   0.9,  0.7),
    },
    "outdoor": {
        #                     ambience traffic passby birds crowd footsteps wind water horn
        "park":              (1.0,     0.2,    0.03,  1.0,  0.15, 0.2,      0.9, 0.15, 0.05),
        "public_square":     (1.0,     0.5,    0.15,  0.2,  0.5,  0.5,      0.3, 0.9,  0.2),
        "street_pedestrian": (1.0,     0.5,    0.1,   0.15, 1.0,  1.0,      0.2, 0.1,  0.3),
        "street_traffic":    (1.0,     1.0,    1.0,   0.1,  0.2,  0.2,      0.3, 0.03, 0.7),
    },
    "transportation": {
        #         ambience cabin diesel whine clatter squeal announcement beeps crowd hiss  tunnel traffic
        "bus":   (1.0,     0.8,  1.0,   0.1,  0.03,   0.05,  0.3,         0.3,  0.35, 0.9,  0.03,  0.7),
        "tram":  (1.0,     0.6,  0.05,  0.7,  0.6,    0.8,   0.4,         0.4,  0.35, 0.15, 0.05,  0.5),
        "metro": (1.0,     1.0,  0.03,  0.9,  0.9,    0.3,   0.4,         0.5,  0.3,  0.2,  1.0,   0.03),
    },
}
MIX: dict[str, dict[str, float]] = {scene: dict(zip(GROUP_SOURCES[group], weights, strict=True))
                                    for group, rows in _MIX_ROWS.items() for scene, weights in rows.items()}

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


def source_mix_table() -> dict[str, dict[str, float]]:
    """class -> {source: weight} (0 = the group lacks the source). ``pandas.DataFrame(table).T`` shows it.

    How a weight acts depends on the source (``SOURCES[name].weight_means``): "level" scales its power,
    "rate" its events per second, "chance" the probability that it occurs in a segment (music: at a
    location), "size" the size of the crowd.
    """
    names = list(dict.fromkeys(n for group in COARSE for n in GROUP_SOURCES[group]))
    return {scene: {n: float(MIX[scene].get(n, 0.0)) for n in names} for scene in SCENES}


# --- locations and cities: what all clips of one place (or one town) share ------------------------------
def _city_params(seed: int, city: str) -> dict:
    """What a city's locations share: the public-address chime, the beep pitch and the voices' formants."""
    rng = seeded_rng(seed, 7, CITIES.index(city))
    root = rng.uniform(450, 800)
    return dict(chime_notes=tuple(root * 2 ** (s / 12) for s in rng.choice((0, 3, 4, 5, 7, 9, 12), 3)),
                beep_hz=rng.uniform(900, 2800), formant_scale=rng.uniform(0.93, 1.07),
                city_tilt=rng.normal(0, 0.2))


def location_params(seed: int, scene: str, kind: str, index: int, city: str) -> dict:
    """The random parameters shared by every segment recorded at one location."""
    rng = seeded_rng(seed, SCENES.index(scene), KIND_INDEX[kind], index, 1)
    sp = SCENE_PARAMS[scene]
    city_p = _city_params(seed, city)
    loc = dict(city_p)
    loc["level_db"] = rng.normal(-30, 3)                       # RMS of the scene, dBFS
    loc["gain"] = {name: rng.normal(0, LOCATION_SPREAD_DB) for name in SOURCES}  # each source's loudness here
    loc["eq"] = [(math.exp(rng.uniform(math.log(80), math.log(10000))), rng.uniform(0.3, 1.2),
                  rng.normal(0, LOCATION_SPREAD_DB)) for _ in range(3)]     # (centre Hz, width oct, gain dB)
    loc["eq_tilt"] = rng.normal(0, 0.3) + city_p["city_tilt"]
    loc["rt60"] = rng.uniform(*sp["rt60"])
    loc["drr_db"] = rng.uniform(-3, 6)                          # direct-to-reverberant ratio
    loc["ambience_tilt"] = rng.normal(-3.5, 0.4)
    loc["ambience_peak"] = math.exp(rng.uniform(math.log(100), math.log(3000)))
    loc["hum_f0"] = float(rng.choice((50.0, 100.0, rng.uniform(60, 240))))
    loc["hum_table"] = wavetable(rng.uniform(0.05, 1.0, 6) * 0.7 ** np.arange(6))
    loc["floor_peak"] = rng.uniform(800, 2500)
    loc["music"] = bool(rng.random() < MIX[scene].get("music", 0.0))
    loc["music_root"] = 220 * 2 ** (rng.integers(0, 12) / 12)
    loc["music_level"] = rng.uniform(-8, 0)
    loc["birds"] = [tuple(bird_species(rng)) for _ in range(2)]
    loc["water_peak"] = rng.uniform(2500, 4000)
    harmonics = np.arange(1, 17)
    lift = np.exp(-0.5 * (np.log2(harmonics / rng.uniform(3, 10)) / 0.5) ** 2)   # a body resonance
    loc["engine_table"] = wavetable(0.82 ** (harmonics - 1) * (1 + lift))
    loc["cabin_peak"] = rng.uniform(80, 150)
    loc["motor_hz_per_mps"] = rng.uniform(50, 70)
    loc["carrier_hz"] = rng.uniform(1500, 2500)
    loc["joint_m"] = rng.uniform(15, 25)
    loc["clatter_peak"] = rng.uniform(200, 400)
    loc["squeal_hz"] = rng.uniform(3000, 5000)
    loc["tunnel_peak"] = rng.uniform(90, 150)
    return loc


def bird_species(rng) -> tuple[float, float, float, float]:
    """(start Hz, end Hz, chirp length s, gap s) of one bird species."""
    lo, hi = rng.uniform(2500, 3500), rng.uniform(5000, 7000)
    start, end = (lo, hi) if rng.random() < 0.5 else (hi, lo)
    return start, end, rng.uniform(0.03, 0.15), rng.uniform(0.03, 0.15)


# --- one scene: the sources at a location, coloured and reverberated by its room -----------------------
def room_response(seed: int, scene: str, kind: str, location: int, loc: dict) -> np.ndarray:
    """rFFT of a location's colour EQ times its room (direct sound plus an exponentially decaying tail)."""
    rng = seeded_rng(seed, SCENES.index(scene), KIND_INDEX[kind], location, 3)
    f = FULL_FREQS
    db = loc["eq_tilt"] * (log2f(f) - 10.0)
    for centre, width, gain in loc["eq"]:
        db += peak_db(f, centre, width, gain)
    h = (10 ** (db / 20)).astype(np.complex64)
    if loc["rt60"] > 0.05:
        n = int(min(loc["rt60"], 2.5) * SR)
        t = np.arange(n) / SR
        tail = rng.standard_normal(n) * np.exp(-6.9 * t / loc["rt60"])
        tail[: int(0.005 * SR)] = 0                                   # the tail starts after the direct sound
        tail /= np.sqrt(np.sum(tail ** 2))
        air = 1.0 / (1.0 + (f / 5000.0) ** 2)                         # air absorbs the top
        reverb = np.fft.rfft(tail, n=SEGMENT_SAMPLES) * air
        h *= (1.0 + 10 ** (-loc["drr_db"] / 20) * reverb).astype(np.complex64)
    return h


def render_scene(seed: int, scene: str, kind: str, index: int, location: int, city: str,
                 room: np.ndarray | None = None) -> np.ndarray:
    """The rFFT of one 10-s scene at its location, before any device: [SEGMENT_SAMPLES // 2 + 1] complex64.

    ``room`` is the location's ``room_response`` if the caller already has it (it is the same for every
    segment of the location).
    """
    rng = seeded_rng(seed, SCENES.index(scene), KIND_INDEX[kind], index, 2)
    loc = location_params(seed, scene, kind, location, city)
    if room is None:
        room = room_response(seed, scene, kind, location, loc)
    sp = dict(SCENE_PARAMS[scene])
    if "vmax" in sp:
        sp["_speed"] = speed_profile(rng, sp["vmax"])
    canvas = Canvas()
    for name in GROUP_SOURCES[SCENE_TO_COARSE[scene]]:
        SOURCES[name].paint(canvas, rng, loc, MIX[scene][name], sp)
    x = canvas.render(rng)
    spectrum = np.fft.rfft(x) * room
    # scale to the location's level (+-1 dB per segment): Parseval on the one-sided spectrum
    power = (2 * np.sum(np.abs(spectrum) ** 2) - np.abs(spectrum[0]) ** 2) / SEGMENT_SAMPLES ** 2
    target = 10 ** ((loc["level_db"] + rng.normal(0, 1)) / 10)
    return (spectrum * np.sqrt(target / max(power, 1e-20))).astype(np.complex64)
