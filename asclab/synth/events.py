"""A synthetic AudioSet: multi-label sound-event clips for pre-training DyMN teachers.

The paper's teachers start from DyMNs pre-trained on AudioSet (two million 10-s YouTube clips, 527 weakly
labelled event classes), which cannot be downloaded on a student laptop. This corpus is the workbook's
stand-in. A *recording* is 10 s of a random mixture of sound events:

1. **Events.** 1 to 5 of the 28 event classes play at random intensities: the 22 procedural sources of the
   scene generator (``asclab.synth.sources.SOURCES``) and six that no scene contains (siren, dog bark, rain,
   church bell, door knock, whistle). Every event is drawn on its own canvas first, so its energy in every
   second is known.
2. **Place.** Each recording gets its own random "location" (colour EQ, source gains, hum pitch, bird
   species, engine timbre, ...), drawn over wider ranges than the scene generator uses, and its own room.
3. **Channel.** A random microphone: band limits, resonances, tilt, noise floor, compression and clipping
   drawn over ranges that contain the nine TAU devices and go well beyond them.
4. **Labels.** The recording is cut into ten 1-s clips. An event is a label of a clip when its own energy in
   that second is within ``LABEL_DB`` dB of the whole mixture's (audible, not masked). Clips carry event
   labels only, never scene labels.

Separation from the scene data: every random stream here is keyed by ``(EVENT_NAMESPACE, seed, index,
...)``, a key space the scene generator never uses (its keys start with the dataset seed, followed by a
class index below 10), so no recording, location or channel of the corpus is one of the scene dataset's.

Everything is seeded from ``(seed, index)``: the same seed gives byte-identical log-mels in any order and
with any number of workers. ``build_corpus`` renders the log-mels once and caches them (``load_corpus``)
under ``corpus_dir``, whose name carries a digest of the code that renders them (``CORPUS_CODE_FILES``).

The top layer of ``asclab.synth``, beside ``dataset``: it draws on ``sources``, ``devices`` and the
helpers of ``scenes`` and ``blocks``; nothing in the generator imports it.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from asclab import storage
from asclab.features import LogMel
from asclab.synth import blocks, devices, scenes, sources
from asclab.synth.blocks import (
    FRAMES,
    FREQS,
    FULL_FREQS,
    SEGMENT_SAMPLES,
    SEGMENT_SECONDS,
    SR,
    Canvas,
    band,
    decay,
    impulses,
    log2f,
    oscillate,
    peak,
    peak_db,
    poisson_times,
    seeded_rng,
    tilt,
    unit_mean,
    wander,
    wavetable,
)
from asclab.synth.devices import DeviceModel, record
from asclab.synth.scenes import bird_species
from asclab.synth.sources import SOURCES, speed_profile

EVENT_NAMESPACE = 911_911      # first element of every corpus key; scene keys start with the dataset seed
LABEL_DB = 12.0                # an event is labelled in a second when it is at most this far below the mix
MAX_EVENTS = 5
CORPUS_FORMAT = 1              # bump when the cached layout changes
# The code that shapes the corpus's sound: corpus_dir() digests it, so an edit renders the corpus again.
CORPUS_CODE_FILES: tuple[Path, ...] = (*(Path(m.__file__) for m in (blocks, sources, devices, scenes)),
                                       Path(__file__))


# --- six events that no scene contains ---------------------------------------------------------------------
def _ev_siren(cv, rng, loc, w, sp):
    """An emergency siren: a tone sweeping up and down between two pitches, passing by."""
    seconds = rng.uniform(3, 9)
    n = int(seconds * SR)
    lo, hi = rng.uniform(500, 900), rng.uniform(1100, 1800)
    period = rng.uniform(0.4, 4.0)
    u = np.arange(n) / SR
    freq = (lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * np.pi * u / period))).astype(np.float32)
    env = np.sin(np.pi * u / seconds).astype(np.float32)
    cv.tone(oscillate(wavetable((1.0, 0.3, 0.15)), freq) * env,
            int(rng.uniform(-2, SEGMENT_SECONDS - 2) * SR), 4 + 10 * math.log10(w) + loc["gain"]["siren"])


def _ev_bark(cv, rng, loc, w, sp):
    """A dog barking: short harmonic bursts with a falling pitch, in groups of one to four."""
    f0 = rng.uniform(250, 650)
    for t in poisson_times(rng, 0.35 * w, margin=0.0):
        for j in range(int(rng.integers(1, 5))):
            n = int(rng.uniform(0.08, 0.25) * SR)
            u = np.arange(n) / n
            freq = (f0 * rng.uniform(0.9, 1.1) * (1.2 - 0.4 * u)).astype(np.float32)
            env = (np.sin(np.pi * u) ** 0.5).astype(np.float32)
            cv.tone(oscillate(wavetable(0.75 ** np.arange(12)), freq) * env,
                    int((t + 0.3 * j) * SR), rng.uniform(2, 8) + loc["gain"]["bark"])


def _ev_rain(cv, rng, loc, w, sp):
    """Rain: a bright broadband hiss full of tiny drop impacts."""
    times = poisson_times(rng, 60 * w)
    drops = decay(impulses(times, rng.uniform(0.2, 1.0, len(times))), 0.01)
    env = (0.5 + drops / max(drops.max(), 1e-6)) * wander(rng, 0.3, 1.0)
    shape = unit_mean(band(FREQS, 400, 16000, 1) * tilt(FREQS, rng.uniform(-2, 1)))
    cv.noise(env.astype(np.float32), shape, 10 * math.log10(w) + 2 + loc["gain"]["rain"])


def _ev_bell(cv, rng, loc, w, sp):
    """A church bell: strikes of inharmonic partials with a long decay."""
    f0 = rng.uniform(180, 600)
    ring = np.arange(int(3.0 * SR)) / SR
    partials = ((0.5, 0.6, 0.6), (1.0, 1.0, 1.0), (1.2, 0.5, 1.3), (1.5, 0.4, 1.6), (2.0, 0.5, 2.0),
                (2.6, 0.2, 3.0))
    x = sum(a * np.sin(2 * np.pi * f0 * r * ring) * np.exp(-ring * d) for r, a, d in partials)
    x = (x / np.sqrt(np.mean(x ** 2) + 1e-12) * math.sqrt(0.5)).astype(np.float32)
    start, gap = rng.uniform(-1, 4), rng.uniform(0.8, 2.0)
    for j in range(int(rng.integers(2, 8))):
        cv.tone(x, int((start + j * gap) * SR), rng.uniform(0, 6) + loc["gain"]["bell"])


def _ev_knock(cv, rng, loc, w, sp):
    """Knocking on a door: groups of two to five dull thuds."""
    shape = unit_mean(band(FREQS, 60, 1500, 2) * peak(FREQS, rng.uniform(150, 500), 0.8, 8))
    env = np.zeros(FRAMES, np.float32)
    for t in poisson_times(rng, 0.25 * w, margin=0.0):
        gap = rng.uniform(0.12, 0.3)
        env += impulses(t + gap * np.arange(int(rng.integers(2, 6))), 1.0)
    if env.any():
        cv.noise(decay(env, 0.02), shape, 12 + loc["gain"]["knock"])


def _ev_whistle(cv, rng, loc, w, sp):
    """A human or referee's whistle: a bright tone with a fast vibrato, in short blasts."""
    for t in poisson_times(rng, 0.2 * w, margin=0.0):
        n = int(rng.uniform(0.2, 1.2) * SR)
        u = np.arange(n) / SR
        freq = (rng.uniform(1800, 3500) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(20, 40) * u)))
        env = np.minimum(1, np.minimum(u, u[-1] - u) / 0.02).astype(np.float32)
        cv.tone(oscillate(wavetable((1.0, 0.1)), freq.astype(np.float32)) * env, int(t * SR),
                rng.uniform(0, 6) + loc["gain"]["whistle"])


@dataclass(frozen=True)
class Event:
    name: str
    paint: object          # function(canvas, rng, location, intensity, scene parameters)
    kind: str              # how intensity acts: "level", "rate", "chance" or "size" (see sources.Source)
    in_scenes: bool        # False for the six events that no scene contains


EVENTS: dict[str, Event] = {
    **{s.name: Event(s.name, s.paint, s.weight_means, True) for s in SOURCES.values()},
    **{e.name: e for e in (Event("siren", _ev_siren, "level", False), Event("bark", _ev_bark, "rate", False),
                           Event("rain", _ev_rain, "level", False), Event("bell", _ev_bell, "chance", False),
                           Event("knock", _ev_knock, "rate", False),
                           Event("whistle", _ev_whistle, "rate", False))},
}
EVENT_NAMES: tuple[str, ...] = tuple(EVENTS)


# --- one recording -----------------------------------------------------------------------------------------
def _rng(seed: int, index: int, tag: int) -> np.random.Generator:
    return seeded_rng(EVENT_NAMESPACE, seed, index, tag)


def _draw_place(rng) -> tuple[dict, dict]:
    """A random location and "scene parameters": every field a source reads, over wide ranges."""
    loc = {
        "chime_notes": tuple(rng.uniform(400, 900) * 2 ** (s / 12) for s in rng.choice(12, 3)),
        "beep_hz": rng.uniform(600, 3500), "formant_scale": rng.uniform(0.85, 1.15),
        "gain": {name: rng.normal(0, 3.0) for name in EVENTS},
        "ambience_tilt": rng.normal(-3.5, 1.0),
        "ambience_peak": math.exp(rng.uniform(math.log(80), math.log(5000))),
        "hum_f0": rng.uniform(40, 300),
        "hum_table": wavetable(rng.uniform(0.05, 1.0, 6) * 0.7 ** np.arange(6)),
        "floor_peak": rng.uniform(500, 3000), "music_root": 110 * 2 ** (rng.integers(0, 24) / 12),
        "music_level": rng.uniform(-8, 0), "music": True,
        "birds": [tuple(bird_species(rng)) for _ in range(2)], "water_peak": rng.uniform(2000, 5000),
        "cabin_peak": rng.uniform(60, 200), "motor_hz_per_mps": rng.uniform(40, 80),
        "carrier_hz": rng.uniform(1000, 3000), "joint_m": rng.uniform(12, 28),
        "clatter_peak": rng.uniform(150, 500),
        "squeal_hz": rng.uniform(2500, 6000), "tunnel_peak": rng.uniform(70, 180),
        "level_db": rng.normal(-30, 4), "rt60": rng.uniform(0.0, 2.5), "drr_db": rng.uniform(-4, 8),
    }
    harmonics = np.arange(1, 17)
    lift = np.exp(-0.5 * (np.log2(harmonics / rng.uniform(2, 12)) / 0.5) ** 2)
    loc["engine_table"] = wavetable(rng.uniform(0.7, 0.9) ** (harmonics - 1) * (1 + lift))
    sp = {"ambience_top": rng.uniform(3000, 14000), "crowd_size": rng.uniform(5, 40),
          "walkers": rng.uniform(1, 14), "vmax": rng.uniform(8, 25), "cabin_top": rng.uniform(1000, 3500),
          "traffic_top": rng.uniform(800, 3000)}
    sp["_speed"] = speed_profile(rng, sp["vmax"])
    return loc, sp


def _draw_channel(rng) -> DeviceModel:
    """A random microphone, from near-flat studio gear to a clipping phone (wider than the nine devices)."""
    resonances = tuple((math.exp(rng.uniform(math.log(150), math.log(12000))), rng.uniform(0.3, 1.2),
                        rng.uniform(-6, 6)) for _ in range(int(rng.integers(0, 4))))
    compression = float(rng.choice((1.0, rng.uniform(1.2, 4.0))))
    return DeviceModel(
        "random", "a random microphone", highpass_hz=math.exp(rng.uniform(math.log(15), math.log(500))),
        lowpass_hz=math.exp(rng.uniform(math.log(5000), math.log(20000))),
        slopes=(int(rng.integers(1, 4)), int(rng.integers(2, 7))), resonances=resonances,
        tilt_db_per_octave=rng.uniform(-1.5, 1.5), gain_db=rng.uniform(-3, 3),
        noise_floor_db=rng.uniform(-96, -70), compression_ratio=compression,
        threshold_db=rng.uniform(-42, -28), clip_drive=float(rng.random() < 0.15))


def _room(rng, loc) -> np.ndarray:
    """rFFT of a random colour EQ and room (direct sound plus an exponential tail)."""
    f = FULL_FREQS
    db = rng.normal(0, 0.4) * (log2f(f) - 10.0)
    for _ in range(3):
        db += peak_db(f, math.exp(rng.uniform(math.log(80), math.log(10000))), rng.uniform(0.3, 1.2),
                      rng.normal(0, 3))
    h = (10 ** (db / 20)).astype(np.complex64)
    if loc["rt60"] > 0.05:
        n = int(loc["rt60"] * SR)
        tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / SR / loc["rt60"])
        tail[: int(0.005 * SR)] = 0
        tail /= np.sqrt(np.sum(tail ** 2))
        h *= (1.0 + 10 ** (-loc["drr_db"] / 20) * np.fft.rfft(tail, n=SEGMENT_SAMPLES)).astype(np.complex64)
    return h


def _intensity(rng, kind: str) -> float:
    """How strongly an event plays: louder for levels, more often for rates (the corpus needs many events)."""
    if kind == "rate":
        return float(rng.uniform(1.0, 4.0))
    if kind == "chance":
        return 1.0
    return float(rng.uniform(0.3, 1.0))


def render_recording(seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """One 10-s recording at 44.1 kHz and its labels: ``([SEGMENT_SAMPLES] float32, [10, E] bool)``."""
    rng = _rng(seed, index, 0)
    loc, sp = _draw_place(rng)
    k = min(MAX_EVENTS, 1 + int(rng.poisson(1.5)))
    chosen = sorted(rng.choice(len(EVENT_NAMES), size=k, replace=False).tolist())
    energy = np.zeros((len(EVENT_NAMES), SEGMENT_SECONDS))          # each event's energy per second
    mix = np.zeros(SEGMENT_SAMPLES, np.float32)
    for e in chosen:
        event = EVENTS[EVENT_NAMES[e]]
        canvas = Canvas()
        event.paint(canvas, rng, loc, _intensity(rng, event.kind), sp)
        wave = canvas.render(rng)
        energy[e] = (wave.reshape(SEGMENT_SECONDS, -1) ** 2).sum(axis=1)
        mix += wave
    total = (mix.reshape(SEGMENT_SECONDS, -1) ** 2).sum(axis=1)       # [10]
    labels = (energy.T >= total[:, None] * 10 ** (-LABEL_DB / 10)) & (energy.T > 0)   # [10, E]

    spectrum = np.fft.rfft(mix) * _room(_rng(seed, index, 1), loc)
    power = (2 * np.sum(np.abs(spectrum) ** 2) - np.abs(spectrum[0]) ** 2) / SEGMENT_SAMPLES ** 2
    spectrum *= np.sqrt(10 ** (loc["level_db"] / 10) / max(power, 1e-20))
    audio = record(spectrum.astype(np.complex64), _draw_channel(_rng(seed, index, 2)), _rng(seed, index, 3))
    return audio, labels


# --- the corpus --------------------------------------------------------------------------------------------
@dataclass
class Corpus:
    """Log-mels of every 1-s clip and their multi-hot event labels; recordings split into train and eval."""
    x: torch.Tensor            # [N, 1, 256, 64] float16 log-mels
    y: torch.Tensor            # [N, E] uint8 multi-hot
    recording: torch.Tensor    # [N] the recording each clip was cut from
    eval_from: int             # recordings with index >= eval_from are held out for the mAP
    seed: int
    events: tuple[str, ...] = EVENT_NAMES

    def part(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``("train" | "eval")`` -> (log-mels [n, 1, 256, 64], labels [n, E])."""
        keep = self.recording >= self.eval_from if which == "eval" else self.recording < self.eval_from
        return self.x[keep], self.y[keep]


def _render_logmels(job: tuple[int, int, int]) -> tuple[int, np.ndarray, np.ndarray]:
    """Render recordings ``start .. stop - 1`` and their log-mels (one worker's share)."""
    seed, start, stop = job
    torch.set_num_threads(1)
    front_end = LogMel()
    xs, ys = [], []
    for index in range(start, stop):
        audio, labels = render_recording(seed, index)
        with torch.no_grad():
            clips = torch.from_numpy(audio).view(SEGMENT_SECONDS, -1)              # [10, 44100]
            xs.append(front_end(clips).half().numpy())                             # [10, 256, 64]
        ys.append(labels)
    return start, np.concatenate(xs), np.concatenate(ys)


def corpus_dir(seed: int, recordings: int) -> Path:
    """``asclab_home()/corpora/events-seed<seed>-<recordings>-<code digest>``.

    The digest covers ``CORPUS_CODE_FILES``: this module and the generator modules it renders with
    (``blocks``, ``sources``, ``devices``, ``scenes``), so an edit to any of them renders a new corpus.
    The log-mel front-end (``asclab.features``) is not covered.
    """
    digest = storage.content_key(*(storage.file_digest(p, length=64) for p in CORPUS_CODE_FILES), length=10)
    return storage.asclab_home() / "corpora" / f"events-seed{seed}-{recordings}-{digest}"


def build_corpus(seed: int = 1, recordings: int = 2400, eval_share: float = 0.1, workers: int | None = None,
                 progress: bool = False, root: str | os.PathLike | None = None) -> Corpus:
    """Render (or load the cached) corpus of ``recordings`` 10-s recordings; the last ``eval_share`` are
    held out."""
    if recordings < 2:
        raise ValueError("the corpus needs at least 2 recordings (one to train on, one to evaluate), "
                         f"got {recordings}")
    path = Path(root) if root is not None else corpus_dir(seed, recordings)
    if (path / "corpus.pt").is_file():
        return load_corpus(path / "corpus.pt")
    started = time.perf_counter()
    chunk = 20
    jobs = [(seed, s, min(s + chunk, recordings)) for s in range(0, recordings, chunk)]
    workers = min(2, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    bar = tqdm(total=recordings, desc="rendering the event corpus", unit="recording") if progress else None
    parts = []
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext() as pool:
        results = map(_render_logmels, jobs) if pool is None else pool.map(_render_logmels, jobs)
        for start, x, y in results:
            parts.append((start, x, y))
            if bar is not None:
                bar.update(len(x) // SEGMENT_SECONDS)
    if bar is not None:
        bar.close()
    parts.sort(key=lambda p: p[0])
    x = torch.from_numpy(np.concatenate([p[1] for p in parts]))[:, None]       # [N, 1, 256, 64]
    y = torch.from_numpy(np.concatenate([p[2] for p in parts]).astype(np.uint8))
    recording = torch.arange(recordings).repeat_interleave(SEGMENT_SECONDS)
    eval_from = recordings - max(1, round(eval_share * recordings))
    corpus = Corpus(x, y, recording, eval_from, seed)
    storage.atomic_torch_save({"format": CORPUS_FORMAT, "x": x, "y": y, "recording": recording,
                               "eval_from": eval_from, "seed": seed, "events": list(EVENT_NAMES),
                               "seconds": time.perf_counter() - started}, path / "corpus.pt")
    return corpus


def load_corpus(path: str | os.PathLike) -> Corpus:
    """Read a cached corpus written by ``build_corpus``."""
    state = storage.load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != CORPUS_FORMAT:
        raise ValueError(f"{path} is not an event corpus written by this asclab (format {CORPUS_FORMAT}): "
                         "delete it and build it again with asclab pretrain")
    return Corpus(state["x"], state["y"], state["recording"], int(state["eval_from"]), int(state["seed"]),
                  tuple(state["events"]))


def label_statistics(corpus: Corpus) -> dict[str, float]:
    """Share of clips in which each event is labelled (for the datasheet)."""
    share = corpus.y.float().mean(0)
    return {name: float(s) for name, s in zip(corpus.events, share, strict=True)}


def datasheet(corpus: Corpus) -> str:
    """The corpus's datasheet in Markdown, its numbers computed from ``corpus`` (``docs/event_corpus.md``)."""
    n_rec = int(corpus.recording.max()) + 1
    y = corpus.y.bool()
    share = label_statistics(corpus)
    per_clip = y.sum(1).float()
    held_out = corpus.recording >= corpus.eval_from
    n_train, n_eval = int((~held_out).sum()), int(held_out.sum())
    in_scenes = sum(e.in_scenes for e in EVENTS.values())
    corpus_only = len(EVENTS) - in_scenes
    unlabelled = 100 * float((per_clip == 0).float().mean())
    rows = "\n".join(f"| {name} | {'scenes' if EVENTS[name].in_scenes else 'corpus only'} | "
                     f"{EVENTS[name].kind} | {100 * share[name]:.1f} % |" for name in corpus.events)
    return f"""# Datasheet: the synthetic event corpus (`asclab.synth.events`)

Made by `asclab.synth.events.build_corpus(seed={corpus.seed}, recordings={n_rec})`, the corpus that
`asclab pretrain` pre-trains the shipped DyMN checkpoints on. Every number below is computed from it by
`asclab.synth.events.datasheet`.

## Motivation
The paper's teachers are DyMNs pre-trained on AudioSet. AudioSet (and EfficientAT's checkpoints) cannot be
downloaded on an offline laptop, so the workbook pre-trains its own on this stand-in: the same task (weakly
supervised multi-label tagging of sound events), on synthetic sound.

## Composition
- {n_rec:,} recordings of 10 s, cut into {len(corpus.x):,} clips of 1 s ({n_train:,}
  for training, {n_eval:,} held out: whole recordings {corpus.eval_from} to {n_rec - 1}).
- {len(corpus.events)} event classes: the {in_scenes} procedural sources of the scene generator
  and {corpus_only} that no scene contains.
- Labels per clip: {per_clip.mean():.2f} events on average, {unlabelled:.1f} % of the
  clips have none (every event masked), at most {int(per_clip.max())}. No scene labels.
- Log-mels as the scene data's front-end computes them (44.1 kHz audio, 32 kHz, 256 mel bins, 64 frames),
  stored as float16.

| event | also in scenes? | intensity acts on | clips labelled |
|---|---|---|---|
{rows}

## Collection process
Each recording mixes 1-5 events at random intensities in a random place (colour EQ, per-source gains, room)
recorded by a random microphone (band limits 15-500 Hz and 5-20 kHz, resonances, tilt, noise floor,
compression, clipping), a far wider range of channels than the nine TAU devices. An event is a label of a
1-s clip when its own energy in that second is within {LABEL_DB:g} dB of the mixture's.

## Separation from the scene data
Every random stream is keyed by `({EVENT_NAMESPACE}, seed, recording, ...)`, a key space the scene
generator never uses, so no clip, location or channel is shared with a scene dataset (tested in
`tests/test_events.py`).

## What it cannot teach
- It is small: {n_rec:,} recordings against AudioSet's two million, and its sounds come from a few dozen
  procedural recipes, not the world.
- Pre-training and target data share one library of sources: a teacher that learns to detect the corpus's
  events has learnt the building blocks of the scenes. That is a much kinder transfer than AudioSet to
  TAU22, so the gain from pre-training here overstates what AudioSet buys on real scenes. Compare trends,
  not numbers.
- The labels are exact energy thresholds, not human annotations: none of AudioSet's label noise.
"""
