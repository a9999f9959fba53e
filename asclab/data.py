"""The DCASE2024 Task 1 taxonomy and a reader for the TAU Urban Acoustic Scenes 2022 Mobile layout.

Facts from ``shared/reference/dcase2024_task1.md``: class indices follow sklearn's LabelEncoder
(alphabetical), devices s4-s6 are never seen in training, and the 3-class grouping is DCASE2020 Task 1B's.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# --- taxonomy ---------------------------------------------------------------------------------------
SCENES: tuple[str, ...] = (
    "airport", "bus", "metro", "metro_station", "park", "public_square",
    "shopping_mall", "street_pedestrian", "street_traffic", "tram",
)
COARSE: tuple[str, ...] = ("indoor", "outdoor", "transportation")
SCENE_TO_COARSE: dict[str, str] = {
    "airport": "indoor", "shopping_mall": "indoor", "metro_station": "indoor",
    "street_pedestrian": "outdoor", "public_square": "outdoor", "street_traffic": "outdoor",
    "park": "outdoor",
    "bus": "transportation", "tram": "transportation", "metro": "transportation",
}
# fine class index -> coarse class index, in SCENES order: used by the one-branch hierarchical loss
FINE_TO_COARSE: tuple[int, ...] = tuple(COARSE.index(SCENE_TO_COARSE[s]) for s in SCENES)

DEVICES: tuple[str, ...] = ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
DEVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "real": ("a", "b", "c"),
    "seen": ("s1", "s2", "s3"),
    "unseen": ("s4", "s5", "s6"),
}
TRAIN_DEVICES: tuple[str, ...] = DEVICE_GROUPS["real"] + DEVICE_GROUPS["seen"]
UNSEEN_DEVICES: tuple[str, ...] = DEVICE_GROUPS["unseen"]
SPLITS: tuple[int, ...] = (5, 10, 25, 50, 100)
SAMPLE_RATE = 44_100  # TAU22 audio: mono, 44.1 kHz, 1 s


def device_group(device: str) -> str:
    """'real', 'seen' or 'unseen' for a device name."""
    for group, devices in DEVICE_GROUPS.items():
        if device in devices:
            return group
    raise ValueError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")


# --- the TAU Urban Acoustic Scenes 2022 Mobile reader ----------------------------------------------
DATASET_FOLDER = "TAU-urban-acoustic-scenes-2022-mobile-development"
META_COLUMNS: tuple[str, ...] = ("filename", "scene_label", "identifier", "source_label")
SPLIT_COLUMNS: tuple[str, ...] = ("filename", "scene_label")
SPLIT_FILES: dict[str, str] = {**{f"split{p}": f"split{p}.csv" for p in SPLITS}, "test": "test.csv"}
SPLIT_DIRS: tuple[str, ...] = (".", "split_setup")  # the baseline downloads the split files to split_setup/
SPLIT_URL = "https://github.com/CPJKU/dcase2024_task1_baseline/releases/download/files/"
FILENAME_PATTERN = "audio/<scene>-<city>-<location>-<segment>-<sub-segment>-<device>.wav"


class DatasetError(ValueError):
    """The dataset on disk is not in the TAU22 layout; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Clip:
    """One 1-s clip: one row of meta.csv."""
    filename: str      # "audio/airport-lisbon-1000-40000-0-a.wav", relative to the dataset root
    scene: str         # "airport"
    coarse: str        # "indoor"
    device: str        # "a"
    city: str          # "lisbon"
    location: str      # "lisbon-1000": meta.csv's identifier (recording location)
    label: int         # index in SCENES
    coarse_label: int  # index in COARSE

    @property
    def segment(self) -> str:
        """The 10-s segment this clip was cut from, with its device: "airport-lisbon-1000-40000-a".

        All ten 1-s pieces of a segment share it, and they always sit in the same split.
        """
        stem = self.filename[len("audio/"):-len(".wav")]
        head, _sub, device = stem.rsplit("-", 2)
        return f"{head}-{device}"

    @property
    def device_group(self) -> str:
        return device_group(self.device)


def _clip_from_row(filename: str, scene: str, identifier: str, device: str, where: str) -> Clip:
    """Check one meta.csv row against the TAU22 naming rules and build its Clip."""
    if not (filename.startswith("audio/") and filename.endswith(".wav")):
        raise DatasetError(
            f"{where}: filename {filename!r} does not match {FILENAME_PATTERN!r} "
            "(it must start with 'audio/' and end with '.wav'); fix the row or regenerate meta.csv")
    parts = filename[len("audio/"):-len(".wav")].split("-")
    if len(parts) != 6 or not all(parts) or any(c.isspace() or c == "/" for p in parts for c in p) \
            or not parts[4].isdigit():
        raise DatasetError(
            f"{where}: filename {filename!r} does not match {FILENAME_PATTERN!r} "
            "(six '-'-separated parts, the fifth a sub-segment number); fix the row or regenerate meta.csv")
    f_scene, f_city, f_loc, _seg, _sub, f_device = parts
    if scene not in SCENES:
        raise DatasetError(
            f"{where}: unknown scene label {scene!r}: expected one of {', '.join(SCENES)}; fix the row")
    if f_scene != scene:
        raise DatasetError(
            f"{where}: the filename {filename!r} names scene {f_scene!r} but scene_label is {scene!r}; "
            "the two must agree: fix the row")
    if device not in DEVICES:
        raise DatasetError(
            f"{where}: unknown device {device!r}: expected one of {', '.join(DEVICES)}; fix the row")
    if f_device != device:
        raise DatasetError(
            f"{where}: the filename {filename!r} ends in device {f_device!r} but source_label is {device!r}; "
            "the two must agree: fix the row")
    if identifier != f"{f_city}-{f_loc}":
        raise DatasetError(
            f"{where}: identifier {identifier!r} does not match the filename's city and location "
            f"(expected {f_city}-{f_loc}, i.e. '<city>-<location>'); fix the row")
    coarse = SCENE_TO_COARSE[scene]
    return Clip(filename=filename, scene=scene, coarse=coarse, device=device, city=f_city,
                location=identifier, label=SCENES.index(scene), coarse_label=COARSE.index(coarse))


def _read_table(path: Path, columns: tuple[str, ...], fix: str) -> Iterable[tuple[int, list[str]]]:
    """Yield (1-based line number, fields) for every data row of a tab-separated file with a header.

    The header must be exactly ``columns``; every row must have exactly that many fields. A blank line is
    an error too: nothing is skipped silently.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            yield from _checked_rows(path, reader, columns, fix)
        except csv.Error as e:
            raise DatasetError(f"{path}, line {reader.line_num}: unreadable row ({e}); expected "
                               f"{len(columns)} tab-separated fields. {fix}") from e
        except UnicodeDecodeError as e:
            raise DatasetError(
                f"{path}, line {_first_undecodable_line(path)}: not UTF-8 text ({e}); expected "
                f"a tab-separated text file. {fix}"
            ) from e


def _first_undecodable_line(path: Path) -> int:
    """The 1-based line that holds the first byte sequence that is not UTF-8 (text is decoded in chunks)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _checked_rows(path: Path, reader, columns: tuple[str, ...], fix: str) -> Iterable[tuple[int, list[str]]]:
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"{path}, line 1: the file is empty; expected a tab-separated header "
                           f"{chr(9).join(columns)!r}. {fix}")
    if tuple(h.strip() for h in header) != columns:
        hint = " (is it comma-separated? TAU22 files are tab-separated)" if len(header) == 1 else ""
        raise DatasetError(
            f"{path}, line 1: wrong header {header!r}{hint}; expected the tab-separated columns "
            f"{list(columns)}. {fix}")
    for row in reader:
        line = reader.line_num
        if not row:
            raise DatasetError(f"{path}, line {line}: blank line; expected {len(columns)} tab-separated "
                               f"fields ({', '.join(columns)}). Delete the blank line.")
        if len(row) != len(columns):
            raise DatasetError(
                f"{path}, line {line}: {len(row)} field(s) {row!r}; expected {len(columns)} tab-separated "
                f"fields ({', '.join(columns)}). {fix}")
        yield line, row


def _missing_root_message(root: Path) -> str:
    return (
        f"no TAU22 dataset at {root}: expected the TAU Urban Acoustic Scenes 2022 Mobile development "
        f"folder ({DATASET_FOLDER}, with audio/, meta.csv and the split files), or a folder that holds it. "
        "Download it from Zenodo record 6337421 (see README: Real data), or run "
        "`asclab data synth` for the synthetic dataset that the workbook uses by default"
    )


class TAU22:
    """The TAU Urban Acoustic Scenes 2022 Mobile development set, in its downloaded layout.

    ``root/audio/*.wav``, ``root/meta.csv`` and the DCASE2024 split files (``split5.csv`` ...
    ``split100.csv``, ``test.csv``) in ``root/`` or ``root/split_setup/``. All files are tab-separated
    with a header row.
    ``root`` may also be a folder that holds ``TAU-urban-acoustic-scenes-2022-mobile-development``.

    ``TAU22(root)`` reads and checks meta.csv at once; a split file is read and checked the first time it is
    asked for. With ``check_audio=True`` (the default; one directory listing) every wav that meta.csv
    lists must exist.
    """

    def __init__(self, root: str | os.PathLike, check_audio: bool = True):
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(_missing_root_message(root))
        if not (root / "meta.csv").exists() and (root / DATASET_FOLDER).is_dir():
            root = root / DATASET_FOLDER
        self.root: Path = root
        if not (root / "audio").is_dir():
            if not (root / "meta.csv").exists():
                raise FileNotFoundError(_missing_root_message(root))
            raise FileNotFoundError(
                f"no audio/ folder in {root}: expected the 1-s wav files in {root / 'audio'}; the download "
                "unpacks TAU-urban-acoustic-scenes-2022-mobile-development.audio.*.zip there")
        self.meta_path: Path = root / "meta.csv"
        if not self.meta_path.is_file():
            raise FileNotFoundError(
                f"no meta.csv in {root}: expected the TAU Urban Acoustic Scenes 2022 Mobile development "
                "folder, whose meta.csv lists every clip (see README: Real data)")
        self.clips: list[Clip] = self._read_meta()
        self.by_filename: dict[str, Clip] = {c.filename: c for c in self.clips}
        self._splits: dict[str, list[Clip]] = {}
        if check_audio:
            self.check_audio()

    # -- reading ---------------------------------------------------------------------------------------
    def _read_meta(self) -> list[Clip]:
        fix = "meta.csv must be the one from the TAU22 development download (or from `asclab data synth`)"
        clips, lines = [], {}
        for line, (filename, scene, identifier, device) in _read_table(self.meta_path, META_COLUMNS, fix):
            where = f"{self.meta_path}, line {line}"
            if filename in lines:
                raise DatasetError(
                    f"{where}: {filename!r} is listed twice (first on line {lines[filename]}); "
                    "every clip must appear once: delete the duplicate row"
                )
            lines[filename] = line
            clips.append(_clip_from_row(filename, scene, identifier, device, where))
        if not clips:
            raise DatasetError(
                f"{self.meta_path}: no clips, only a header; expected one row per wav in audio/"
            )
        return clips

    def check_audio(self) -> None:
        """Raise FileNotFoundError, naming the meta.csv line, if a listed wav is missing from audio/."""
        with os.scandir(self.root / "audio") as it:
            present = {e.name for e in it}
        missing = [(i, c) for i, c in enumerate(self.clips) if c.filename[len("audio/"):] not in present]
        if missing:
            i, clip = missing[0]
            more = f" ({len(missing) - 1} more listed wav files are missing too)" if len(missing) > 1 else ""
            raise FileNotFoundError(
                f"{self.meta_path}, line {i + 2}: {clip.filename} is listed but {self.root / clip.filename} "
                f"does not exist{more}; expected every wav of meta.csv in audio/: unpack all audio zips "
                "(or re-run `asclab data synth` for the synthetic dataset)")

    @staticmethod
    def split_name(name: int | str) -> str:
        """Normalize 5, "5", "split5", "split5.csv" -> "split5", and "test"/"test.csv" -> "test"."""
        s = str(name).strip().lower()
        s = s[:-4] if s.endswith(".csv") else s
        if s.isdigit():
            s = f"split{s}"
        if s not in SPLIT_FILES:
            raise ValueError(f"unknown split {name!r}: expected one of {', '.join(map(str, SPLITS))} "
                             "(percent of the training set, e.g. 25 or 'split25') or 'test'")
        return s

    def split_path(self, name: int | str) -> Path:
        """Where the split file lives: ``root/<file>`` or else ``root/split_setup/<file>``."""
        file = SPLIT_FILES[self.split_name(name)]
        for d in SPLIT_DIRS:
            path = (self.root / d / file) if d != "." else self.root / file
            if path.is_file():
                return path
        raise FileNotFoundError(
            f"no {file} in {self.root} or {self.root / 'split_setup'}: expected the DCASE2024 split files "
            f"there; download {SPLIT_URL}{file} into {self.root / 'split_setup'}")

    def available_splits(self) -> list[str]:
        """The split names whose file exists, in the order split5 ... split100, test."""
        out = []
        for name in SPLIT_FILES:
            try:
                self.split_path(name)
            except FileNotFoundError:
                continue
            out.append(name)
        return out

    def split(self, name: int | str) -> list[Clip]:
        """The clips of a split (5, 10, 25, 50, 100 or "test"), in the split file's order."""
        key = self.split_name(name)
        if key not in self._splits:
            self._splits[key] = self._read_split(self.split_path(key))
        return list(self._splits[key])

    def _read_split(self, path: Path) -> list[Clip]:
        fix = f"split files come from {SPLIT_URL}"
        clips, seen = [], {}
        for line, (filename, scene) in _read_table(path, SPLIT_COLUMNS, fix):
            where = f"{path}, line {line}"
            clip = self.by_filename.get(filename)
            if clip is None:
                raise DatasetError(f"{where}: {filename!r} is not in {self.meta_path}; expected every split "
                                   "row to name a clip of meta.csv: is the split file from another dataset?")
            if scene != clip.scene:
                raise DatasetError(f"{where}: scene_label {scene!r} disagrees with meta.csv, which says "
                                   f"{clip.scene!r} for {filename}; fix the split file or meta.csv")
            if filename in seen:
                raise DatasetError(f"{where}: {filename!r} is listed twice (first on line {seen[filename]}); "
                                   "delete the duplicate row")
            seen[filename] = line
            clips.append(clip)
        return clips

    # -- access ------------------------------------------------------------------------------------------
    def wav_path(self, clip: Clip | str) -> Path:
        return self.root / (clip.filename if isinstance(clip, Clip) else clip)

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return f"TAU22({str(self.root)!r}, {len(self.clips)} clips)"

    def summary(self, splits: Iterable[int | str] | None = None):
        """Clip counts per split: a DataFrame with a ``clips`` column and ``device`` / ``scene`` column
        groups.

        Rows are the splits (default: every split whose file exists) and ``all`` (every clip in meta.csv).
        """
        import pandas as pd

        names = self.available_splits() if splits is None else [self.split_name(s) for s in splits]
        groups = {name: self.split(name) for name in names}
        groups["all"] = self.clips
        rows = {}
        for name, clips in groups.items():
            row = {("clips", ""): len(clips)}
            row.update({("device", d): 0 for d in DEVICES})
            row.update({("scene", s): 0 for s in SCENES})
            for c in clips:
                row[("device", c.device)] += 1
                row[("scene", c.scene)] += 1
            rows[name] = row
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.columns = pd.MultiIndex.from_tuples(table.columns)
        table.index.name = "split"
        return table


def load_audio(path: str | os.PathLike, expected_sr: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read a mono wav with soundfile: (float32 samples in [-1, 1], sample rate)."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    try:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError for unreadable files
        raise DatasetError(f"{path} could not be read as audio ({type(e).__name__}: {e}); "
                           "expected a 1-s mono wav: re-download or regenerate it") from e
    if audio.shape[1] != 1:
        raise DatasetError(f"{path} has {audio.shape[1]} channels; expected mono (TAU22 clips are "
                           "single-channel): downmix it, e.g. average the channels")
    if expected_sr is not None and sr != expected_sr:
        raise DatasetError(f"{path} is sampled at {sr} Hz; expected {expected_sr} Hz (TAU22 audio is "
                           "44.1 kHz): resample the file, or pass expected_sr to match your data")
    return np.ascontiguousarray(audio[:, 0]), sr
