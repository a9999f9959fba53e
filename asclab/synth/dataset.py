"""The synthetic dataset on disk: which segments exist, where, on which devices and splits, and writing them.

``synthesize(root, profile, seed)`` writes ``root/audio/*.wav`` (1-s, mono, 44.1 kHz, 16-bit), a
tab-separated ``meta.csv`` and the DCASE2024 split files (``split5.csv`` ... ``split100.csv``, ``test.csv``),
so that every notebook reads it with ``asclab.data.TAU22`` exactly as it would read the real data.
``plan`` lays out the segments; ``render_segment`` records one segment's scene on each of its devices.
A completion marker records the parameters and ``generator_digest()``, so a dataset made by other
generator code is made again. ``datasheet()`` returns the students' description (``datasheet.md``).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import struct
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from asclab import profiles
from asclab.data import DEVICES, SCENES, SPLITS
from asclab.storage import asclab_home, atomic_write_text, content_key, file_digest, read_json, write_json
from asclab.synth import blocks, devices, scenes, sources
from asclab.synth.blocks import CLIP_SAMPLES, SEGMENT_SECONDS, SR, seeded_rng
from asclab.synth.devices import record
from asclab.synth.scenes import CITIES, KIND_INDEX, location_params, render_scene, room_response

try:
    import fcntl
except ImportError:      # no fcntl (Windows): no lock; run one synthesis at a time
    fcntl = None

GENERATOR_VERSION = 2   # bump whenever the generated sound changes (the digest below catches forgotten bumps)
# Every module whose code shapes the written files (not events.py: the corpus is cached on its own).
GENERATOR_FILES: tuple[Path, ...] = (*(Path(m.__file__) for m in (blocks, sources, devices, scenes)),
                                     Path(__file__))
TRAIN_SEGMENTS_PER_LOCATION = 2   # a training location gives up to 2 segments of its class (more places help)
TEST_SEGMENTS_PER_LOCATION = 1    # the small test set gets as many distinct locations as it can
OTHER_DEVICE_SHARE = 0.272        # share of training segments not on device a (TAU22 split5: 1900 of 6980)
OTHER_TRAIN_DEVICES: tuple[str, ...] = ("b", "c", "s1", "s2", "s3")
COMPLETE_MARKER = ".complete"
PROGRESS_MARKER = ".in_progress"
SPLIT_NAMES: tuple[str, ...] = tuple(f"split{p}" for p in SPLITS) + ("test",)
_LIMITS_HEADING = "## What this stand-in cannot teach"   # datasheet(profile) puts the sizes before it


# --- the plan: which segments exist, where, on which devices, in which splits ----------------------------
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
    chosen, j = [], 0
    for k in range(n_segments):
        if math.floor((k + 1) * q + phase) > math.floor(k * q + phase):
            chosen.append(OTHER_TRAIN_DEVICES[(label + j) % len(OTHER_TRAIN_DEVICES)])
            j += 1
        else:
            chosen.append("a")
    return chosen


def _as_profile(profile) -> profiles.Profile:
    return profiles.get(profile) if isinstance(profile, str) else profile


def plan(profile="demo", seed: int = 0) -> list[SegmentPlan]:
    """Every segment of the dataset, class by class: training segments in split order, then test segments."""
    prof = _as_profile(profile)
    n_train, n_test = prof.synth_train_segments, prof.synth_test_segments
    if n_train < 1 or n_test < 1:
        raise ValueError(f"profile {prof.name!r} asks for {n_train} training and {n_test} test segments "
                         "per class; the synthetic dataset needs at least one of each (the paper profile "
                         "uses the real TAU22 data: see README: Real data)")
    if max(n_train, n_test) > 500:   # keeps location and segment ids unique (see below)
        raise ValueError(f"at most 500 training and 500 test segments per class, got {n_train} / {n_test}")
    segments = []
    for label, scene in enumerate(SCENES):
        for kind, n, per_location in (("train", n_train, TRAIN_SEGMENTS_PER_LOCATION),
                                      ("test", n_test, TEST_SEGMENTS_PER_LOCATION)):
            n_loc = math.ceil(n / per_location)
            cities = [CITIES[seeded_rng(seed, label, KIND_INDEX[kind], loc, 0).integers(len(CITIES))]
                      for loc in range(n_loc)]
            device_order = train_devices(n, label) if kind == "train" else None
            for k in range(n):
                loc = k % n_loc          # consecutive segments come from different locations
                segments.append(SegmentPlan(
                    scene=scene, kind=kind, index=k, location=loc, city=cities[loc],
                    location_id=str(1000 * (label + 1) + 500 * KIND_INDEX[kind] + loc),
                    segment_id=str(10000 * (label + 1) + 5000 * KIND_INDEX[kind] + k),
                    devices=(device_order[k],) if kind == "train" else DEVICES))
    return segments


# --- rendering and writing the clips ---------------------------------------------------------------------
def render_segment(seed: int, segment: SegmentPlan, room: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """device -> the 10-s recording [SEGMENT_SAMPLES] float32, for every device of the segment."""
    spectrum = render_scene(seed, segment.scene, segment.kind, segment.index, segment.location, segment.city,
                            room)
    out = {}
    for device in segment.devices:
        rng = seeded_rng(seed, SCENES.index(segment.scene), KIND_INDEX[segment.kind], segment.index,
                         100 + DEVICES.index(device))
        out[device] = record(spectrum, device, rng)
    return out


def _wav_bytes(samples: np.ndarray) -> bytes:
    """A 16-bit mono PCM RIFF/WAVE file (a plain 44-byte header: byte-identical for identical samples)."""
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1, SR, SR * 2,
                         2, 16, b"data", len(pcm))
    return header + pcm


def _write_location(job: tuple[str, int, list[SegmentPlan]]) -> list[tuple[str, str, str, str]]:
    """Render the segments of one location, write their clips, return their meta.csv rows (a worker's job)."""
    root, seed, segments = job
    first = segments[0]
    loc = location_params(seed, first.scene, first.kind, first.location, first.city)
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


def _write_clips(root: Path, seed: int, segments: list[SegmentPlan], workers: int | None,
                 progress: bool) -> list[tuple[str, str, str, str]]:
    """Write every clip, one job per location, in ``workers`` processes; return the meta.csv rows, sorted."""
    by_location: dict[tuple, list[SegmentPlan]] = {}
    for s in segments:
        by_location.setdefault((s.scene, s.kind, s.location), []).append(s)
    jobs = [(str(root), int(seed), group) for group in by_location.values()]
    workers = min(2, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    bar = tqdm(total=len(jobs), desc="synthesizing locations", unit="location") if progress else None
    rows_by_location = []
    if workers == 1:
        for job in jobs:
            rows_by_location.append(_write_location(job))
            bar is not None and bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for rows in pool.map(_write_location, jobs):
                rows_by_location.append(rows)
                bar is not None and bar.update()
    if bar is not None:
        bar.close()
    # sorted by filename, so that the tables' bytes never depend on the worker order
    return sorted(r for rows in rows_by_location for r in rows)


def _write_table(path: Path, header: tuple[str, ...], rows) -> None:
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")


def _write_tables(root: Path, n_train: int, segments: list[SegmentPlan], meta) -> dict[str, list]:
    """Write meta.csv and the split files; return split name -> its rows (filename, scene)."""
    _write_table(root / "meta.csv", ("filename", "scene_label", "identifier", "source_label"), meta)
    split_rows = {}
    for p in SPLITS:
        size = split_size(n_train, p)
        keep = {s.segment_id for s in segments if s.kind == "train" and s.index < size}
        split_rows[f"split{p}"] = [(r[0], r[1]) for r in meta if r[0].split("-")[-3] in keep]
    test_ids = {s.segment_id for s in segments if s.kind == "test"}
    split_rows["test"] = [(r[0], r[1]) for r in meta if r[0].split("-")[-3] in test_ids]
    for name, rows in split_rows.items():
        _write_table(root / f"{name}.csv", ("filename", "scene_label"), rows)
    return split_rows


# --- the public API: where a dataset lives, whether it is complete, making it ------------------------------
@functools.lru_cache(maxsize=1)
def generator_digest() -> str:
    """A digest of the generator's code: a dataset made by other code no longer counts as complete.

    It covers ``GENERATOR_FILES``, every module that shapes the written files: ``blocks``, ``sources``,
    ``devices``, ``scenes`` and this module (the plan and the file writing). ``events`` is left out (it
    does not touch the dataset), and so is the datasheet. A forgotten ``GENERATOR_VERSION`` bump once left
    a stale demo dataset in place while the code that the calibration measured wrote different sound; any
    edit to the generator now regenerates (under a minute).
    """
    return content_key(*(file_digest(path, length=64) for path in GENERATOR_FILES))


def _parameters(profile, seed: int) -> dict:
    prof = _as_profile(profile)
    return {"generator": GENERATOR_VERSION, "source": generator_digest(), "profile": prof.name,
            "seed": int(seed), "train_segments_per_class": prof.synth_train_segments,
            "test_segments_per_class": prof.synth_test_segments}


def default_root(profile="demo", seed: int = 0) -> Path:
    """``asclab_home()/datasets/synthetic-<profile>-seed<seed>``, sizes added where they are not the
    profile's own."""
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


@contextlib.contextmanager
def _exclusive(root: Path):
    """Hold an exclusive lock beside ``root`` (``.<name>.lock``): two processes never write it at once."""
    if fcntl is None:
        yield
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(f".{root.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def synthesize(root=None, profile="demo", seed: int = 0, progress: bool = False,
               workers: int | None = None) -> Path:
    """Write the synthetic dataset for ``profile`` (name or Profile) and ``seed`` into ``root``; return it.

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


def _start_over(root: Path, params: dict, progress: bool) -> None:
    """Empty ``root`` of an earlier synthesis and mark it in progress (a folder asclab did not make: no)."""
    ours = (root / COMPLETE_MARKER).exists() or (root / PROGRESS_MARKER).exists()
    if root.is_dir() and any(root.iterdir()) and not ours:
        raise ValueError(f"{root} is not empty and holds no synthetic dataset made by asclab: refusing to "
                         "write into it; pass an empty or new folder as root (or delete this one)")
    if ours and progress:
        print(f"{root}: an incomplete or outdated synthetic dataset: generating it again")
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / PROGRESS_MARKER, f"{params}\n")
    _clear(root)
    (root / "audio").mkdir()


def _synthesize_locked(root: Path, prof, seed: int, progress: bool, workers: int | None) -> Path:
    params = _parameters(prof, seed)
    segments = plan(prof, seed)
    if is_complete(root, prof, seed):
        if progress:
            print(f"synthetic dataset already complete at {root}: nothing to do")
        return root
    _start_over(root, params, progress)
    started = time.perf_counter()
    meta = _write_clips(root, seed, segments, workers, progress)
    split_rows = _write_tables(root, prof.synth_train_segments, segments, meta)
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


# --- for notebooks ---------------------------------------------------------------------------------------
def datasheet(profile=None) -> str:
    """The datasheet of the synthetic dataset in Markdown: what it is made of and what it cannot teach.

    The text is ``asclab/synth/datasheet.md`` (shipped with the package; ``tests/test_synthetic.py`` checks
    that its sources, weights and devices match the code). With ``profile`` (name or Profile), a section on
    that profile's sizes is added.
    """
    text = (resources.files("asclab.synth") / "datasheet.md").read_text(encoding="utf-8")
    if profile is None:
        return text
    prof = _as_profile(profile)
    n, m = prof.synth_train_segments, prof.synth_test_segments
    sizes = (f"## Size ({prof.name} profile)\n"
             f"- training: {n} segments per class ({10 * n * len(SCENES)} clips in split100); split sizes "
             + ", ".join(f"split{p}: {split_size(n, p)}" for p in SPLITS) + " segments per class\n"
             f"- test: {m} segments per class, each on all 9 devices ({90 * m * len(SCENES)} clips)\n\n")
    head, heading, tail = text.partition(_LIMITS_HEADING)
    return head + sizes + heading + tail
