"""The synthetic dataset: the real TAU22 layout, the DCASE2024 split rules, determinism, a difficulty check,
and the generator package's layers.

One smoke-profile dataset is generated per test module (a few seconds) and shared by the read-only tests.
"""
from __future__ import annotations

import ast
import collections
import json
import csv
import fnmatch
import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asclab import profiles, synthetic
from asclab.data import COARSE, DEVICES, SCENE_TO_COARSE, SCENES, SPLITS, TAU22
from asclab.evaluate import nearest_centroid_accuracy
from asclab.storage import read_json
from asclab.synth import dataset as synth_dataset
from asclab.synth import devices as synth_devices
from asclab.synth import sources as synth_sources

SMOKE = profiles.get("smoke")
NAME = re.compile(r"^audio/([a-z_]+)-([a-z]+)-(\d+)-(\d+)-(\d)-(a|b|c|s[1-6])\.wav$")
TINY = SMOKE.replace(synth_train_segments=1, synth_test_segments=1)   # custom sizes


def read_tsv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under root (markers included), by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def segment_of(filename: str) -> str:
    """'audio/park-lyon-5000-50000-3-a.wav' -> 'park-lyon-5000-50000' (the 10-s recording, any device)."""
    return filename[len("audio/"):].rsplit("-", 2)[0]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "smoke"
    assert synthetic.synthesize(root, "smoke", seed=0, workers=2) == root.absolute()
    return root


@pytest.fixture(scope="module")
def dataset(smoke) -> TAU22:
    return TAU22(smoke)


# --- layout -------------------------------------------------------------------------------------------
def test_the_tau22_reader_accepts_it(dataset):
    n_train, n_test = SMOKE.synth_train_segments, SMOKE.synth_test_segments
    assert len(dataset) == 10 * len(SCENES) * (n_train + n_test * len(DEVICES))   # 400 + 900 clips
    assert dataset.available_splits() == [f"split{p}" for p in SPLITS] + ["test"]
    assert len(dataset.split(100)) == 400 and len(dataset.split("test")) == 900


def test_files_headers_and_names(smoke):
    meta = read_tsv(smoke / "meta.csv")
    assert meta[0] == ["filename", "scene_label", "identifier", "source_label"]
    assert "\t" in (smoke / "meta.csv").read_text().splitlines()[1]
    for name in [f"split{p}" for p in SPLITS] + ["test"]:
        assert read_tsv(smoke / f"{name}.csv")[0] == ["filename", "scene_label"]
    on_disk = {f"audio/{p.name}" for p in (smoke / "audio").iterdir()}
    assert on_disk == {row[0] for row in meta[1:]}
    for filename, scene, identifier, device in meta[1:]:
        m = NAME.match(filename)
        assert m, filename
        assert (m[1], m[6]) == (scene, device) and identifier == f"{m[2]}-{m[3]}"
        assert scene in SCENES and m[2] in synthetic.CITIES


def test_audio_is_one_second_mono_44k(smoke):
    wavs = sorted((smoke / "audio").iterdir())
    for path in wavs[::7]:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (44_100, 1, 44_100, "PCM_16")
    audio, sr = sf.read(wavs[0], dtype="float32")
    assert sr == 44_100 and audio.shape == (44_100,) and np.isfinite(audio).all()
    assert 1e-4 < np.sqrt(np.mean(audio ** 2)) < 0.5          # neither silent nor clipping-loud


# --- split rules ----------------------------------------------------------------------------------------
def test_splits_nest_are_balanced_and_keep_segments_whole(dataset):
    previous: set[str] = set()
    for p in SPLITS:
        clips = dataset.split(p)
        names = {c.filename for c in clips}
        assert previous <= names, f"split{p} does not contain the smaller split"
        previous = names
        per_class = collections.Counter(c.scene for c in clips)
        expected = 10 * synthetic.split_size(SMOKE.synth_train_segments, p)
        assert per_class == {s: expected for s in SCENES}
    test = {c.filename for c in dataset.split("test")}
    assert not test & previous
    for split in [*SPLITS, "test"]:
        pieces = collections.Counter(c.segment for c in dataset.split(split))   # segment + device
        assert set(pieces.values()) == {10}, f"{split}: a 10-s segment is cut across splits"


def test_device_rules(dataset):
    train = collections.Counter(c.device for c in dataset.split(100))
    assert not {"s4", "s5", "s6"} & set(train)
    assert train.most_common(1)[0][0] == "a" and train["a"] / sum(train.values()) >= 0.6
    assert set(train) == {"a", "b", "c", "s1", "s2", "s3"}
    test = dataset.split("test")
    assert collections.Counter(c.device for c in test) == {d: 100 for d in DEVICES}
    devices_per_segment = collections.defaultdict(set)
    for c in test:
        devices_per_segment[segment_of(c.filename)].add(c.device)
    assert all(devs == set(DEVICES) for devs in devices_per_segment.values())


def test_train_and_test_locations_are_disjoint(dataset):
    train = {c.location for c in dataset.split(100)}
    test = {c.location for c in dataset.split("test")}
    assert train and test and not train & test
    for clips in (dataset.split(100), dataset.split("test")):   # a location belongs to one scene
        scenes = collections.defaultdict(set)
        for c in clips:
            scenes[c.location].add(c.scene)
        assert all(len(s) == 1 for s in scenes.values())


def test_device_mix_of_the_plan():
    for label in range(len(SCENES)):
        devices = synthetic.train_devices(18, label)
        assert devices.count("a") == 13 and sorted(set(devices) - {"a"}) == ["b", "c", "s1", "s2", "s3"]
    total = collections.Counter(d for label in range(len(SCENES)) for d in synthetic.train_devices(18, label)
                                [:synthetic.split_size(18, 25)])
    assert 0.6 <= total["a"] / sum(total.values()) <= 0.85        # split25 keeps about the TAU22 mix
    assert [synthetic.split_size(18, p) for p in SPLITS] == [1, 2, 5, 9, 18]
    assert [synthetic.split_size(4, p) for p in SPLITS] == [1, 1, 1, 2, 4]


# --- determinism, markers, rebuilds ---------------------------------------------------------------------
def test_another_seed_gives_other_audio():
    segment = synthetic.plan(SMOKE, 0)[0]
    x0 = synthetic.render_segment(0, segment)["a"]
    x1 = synthetic.render_segment(1, synthetic.plan(SMOKE, 1)[0])["a"]
    assert x0.shape == x1.shape == (synthetic.SEGMENT_SAMPLES,)
    assert not np.array_equal(x0, x1)
    assert np.array_equal(x0, synthetic.render_segment(0, segment)["a"])


def test_complete_dataset_is_left_alone(smoke):
    marker = smoke / synthetic.COMPLETE_MARKER
    summary = read_json(marker)
    assert summary["parameters"]["profile"] == "smoke" and summary["clips"] == 1300
    assert summary["splits"]["test"]["devices"] == {d: 100 for d in DEVICES}
    assert synthetic.is_complete(smoke) and synthetic.is_complete(smoke, "smoke", 0)
    assert not synthetic.is_complete(smoke, "smoke", 1) and not synthetic.is_complete(smoke, "demo", 0)
    before = (marker.stat().st_mtime_ns, (smoke / "meta.csv").stat().st_mtime_ns)
    synthetic.synthesize(smoke, "smoke", seed=0)
    assert before == (marker.stat().st_mtime_ns, (smoke / "meta.csv").stat().st_mtime_ns)


def test_dataset_made_by_other_generator_code_is_outdated(smoke, tmp_path):
    """A marker written by another version of the generator's source (or version number) is not complete."""
    root = tmp_path / "stale"
    shutil.copytree(smoke, root)
    marker = root / synthetic.COMPLETE_MARKER
    summary = read_json(marker)
    assert summary["parameters"]["source"] == synthetic.generator_digest()
    summary["parameters"]["source"] = "0" * 16
    marker.write_text(json.dumps(summary))
    assert not synthetic.is_complete(root) and not synthetic.is_complete(root, "smoke", 0)
    summary["parameters"].update(source=synthetic.generator_digest(),
                                 generator=synthetic.GENERATOR_VERSION - 1)
    marker.write_text(json.dumps(summary))
    assert not synthetic.is_complete(root)


def test_interrupted_dataset_is_rebuilt_identically_with_one_worker(smoke, tmp_path):
    """A crash half-way is detected and repaired; the result is byte-identical, whatever the worker count."""
    root = tmp_path / "copy"
    shutil.copytree(smoke, root)
    (root / synthetic.COMPLETE_MARKER).unlink()                    # the crash: no completion marker, ...
    (root / synthetic.PROGRESS_MARKER).write_text("interrupted\n")
    first_wav = sorted((root / "audio").iterdir())[0]
    first_wav.write_bytes(first_wav.read_bytes()[:100])              # ... a truncated wav ...
    (root / "split5.csv").write_text("junk\n")                       # ... and a stale split file
    assert not synthetic.is_complete(root)
    synthetic.synthesize(root, "smoke", seed=0, workers=1)            # the fixture used 2 workers
    original, rebuilt = digests(smoke), digests(root)
    original.pop(".complete"), rebuilt.pop(".complete")               # the marker records the run time
    assert rebuilt == original
    assert synthetic.is_complete(root, "smoke", 0) and not (root / synthetic.PROGRESS_MARKER).exists()


def test_refuses_to_write_into_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not empty"):
        synthetic.synthesize(tmp_path / "mine", TINY, seed=0)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_profiles_without_synthetic_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        synthetic.synthesize(tmp_path / "paper", "paper", seed=0)


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("ASCLAB_HOME", str(tmp_path))
    assert synthetic.default_root("demo", 3) == tmp_path / "datasets" / "synthetic-demo-seed3"
    assert synthetic.default_root(SMOKE, 0) == tmp_path / "datasets" / "synthetic-smoke-seed0"
    assert synthetic.default_root(TINY, 0).name == "synthetic-smoke-1x1-seed0"


# --- what a notebook shows ------------------------------------------------------------------------------
def test_source_mix_table_and_datasheet():
    table = synthetic.source_mix_table()
    assert list(table) == list(SCENES)
    for scene, weights in table.items():
        group = synthetic.GROUP_SOURCES[SCENE_TO_COARSE[scene]]
        assert all(0 < weights[s] <= 1 for s in group)
        assert all(weights[s] == 0 for s in weights if s not in group)
    for group in COARSE:   # every class of a group uses the same sources (only the weights differ)
        members = [s for s in SCENES if SCENE_TO_COARSE[s] == group]
        assert len({tuple(sorted(synthetic.MIX[s])) for s in members}) == 1
    text = synthetic.describe("demo")
    for word in [*SCENES, *(f"`{d}`" for d in DEVICES), "cannot teach", "18 segments per class"]:
        assert word in text
    assert text.index("## Size (demo profile)") < text.index("## What this stand-in cannot teach")
    assert text.startswith(synthetic.describe().split("## What this")[0])   # the file, with the sizes added


def test_the_datasheet_file_says_what_the_code_does():
    """datasheet.md is written by hand: its sources, weights and devices must be the generator's."""
    text = " ".join(synthetic.describe().split())
    table = synthetic.source_mix_table()
    for group in COARSE:
        members = ", ".join(s for s in SCENES if SCENE_TO_COARSE[s] == group)
        assert f"**{group}** ({members}):" in text
        for name in synthetic.GROUP_SOURCES[group]:
            src = synthetic.SOURCES[name]
            assert f"- `{name}` (weight = {src.weight_means}): {' '.join(src.description.split())}" in text
    for scene in SCENES:
        group = synthetic.GROUP_SOURCES[SCENE_TO_COARSE[scene]]
        weights = ", ".join(f"{n} {table[scene][n]:.2f}" for n in group)
        assert f"- `{scene}`: {weights}" in text
    for device in synthetic.DEVICE_MODELS.values():
        assert f"- `{device.name}`: {device.description}" in text


def test_the_datasheet_ships_with_the_package():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["asclab"]
    assert any(fnmatch.fnmatch("synth/datasheet.md", p) for p in patterns)


# --- difficulty -----------------------------------------------------------------------------------------
def test_nearest_centroid_is_above_chance_and_far_from_perfect(dataset):
    """Calibration: the average spectrum alone says little about the scene (devices, locations, levels).

    Protocol: centroids from split100, tested on the test clips of devices a, c and s5. Measured during
    development on smoke seeds 0-4: 0.26-0.34 (chance: 0.1). On the demo set a small CNN reaches about 0.6
    while nearest-centroid stays near 0.22.
    """
    from asclab.features import compute_logmels, feature_set

    def features(clips):
        logmels = compute_logmels([dataset.wav_path(c) for c in clips])                # [N, 256, 64]
        return feature_set(torch.from_numpy(logmels)[:, None], clips)

    train = dataset.split(100)
    test = [c for c in dataset.split("test") if c.device in ("a", "c", "s5")]
    accuracy = nearest_centroid_accuracy(features(train), features(test))
    assert 0.13 <= accuracy <= 0.45


def test_nearest_centroid_on_a_separable_toy_set():
    class Toy:   # anything with x [N, 1, F, T] and y [N]
        def __init__(self, means, labels):
            self.y = np.asarray(labels)
            self.x = np.asarray(means, dtype=np.float32)[self.y][:, None, :, None] + np.zeros((1, 1, 1, 4))

    means = np.eye(3) * 5
    assert nearest_centroid_accuracy(Toy(means, [0, 1, 2, 0]), Toy(means, [2, 1, 0])) == 1.0


# --- the generator package: layers, the code digest, the public face -------------------------------------
SYNTH_DIR = Path(synth_dataset.__file__).parent
LAYERS = {"blocks": 1, "sources": 2, "devices": 2, "scenes": 3, "dataset": 4, "events": 4}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, dotted (``from asclab.synth import blocks`` gives asclab.synth.blocks)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module in ("asclab", "asclab.synth"):
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_generator_modules_import_only_the_layers_below():
    """No import cycle: blocks <- sources, devices <- scenes <- dataset, events; never the public names."""
    assert {p.stem for p in SYNTH_DIR.glob("*.py")} - {"__init__"} == set(LAYERS)
    for name, layer in LAYERS.items():
        imported = imported_modules(SYNTH_DIR / f"{name}.py")
        assert not imported & {"asclab.synthetic", "asclab.events", "asclab.experiment"}, name
        for module in imported:
            if module.startswith("asclab.synth."):
                below = module.split(".")[2]
                assert LAYERS[below] < layer, f"synth/{name}.py imports {below}, which is not below it"


def test_generator_digest_follows_every_module_that_shapes_the_files(tmp_path, monkeypatch):
    names = {p.name for p in synthetic.GENERATOR_FILES}
    assert names == {"blocks.py", "sources.py", "devices.py", "scenes.py", "dataset.py"}
    real = synthetic.generator_digest()
    copies = []
    for path in synth_dataset.GENERATOR_FILES:
        copies.append(tmp_path / path.name)
        copies[-1].write_bytes(path.read_bytes())
    monkeypatch.setattr(synth_dataset, "GENERATOR_FILES", tuple(copies))
    try:
        synth_dataset.generator_digest.cache_clear()
        assert synth_dataset.generator_digest() == real
        for copy in copies:
            original = copy.read_bytes()
            copy.write_bytes(original + b"\n# an edit\n")
            synth_dataset.generator_digest.cache_clear()
            assert synth_dataset.generator_digest() != real, f"{copy.name} is not in the generator digest"
            copy.write_bytes(original)
    finally:
        synth_dataset.generator_digest.cache_clear()


def test_asclab_synthetic_is_the_generators_public_face():
    assert synthetic.synthesize is synth_dataset.synthesize and synthetic.describe is synth_dataset.datasheet
    assert synthetic.SOURCES is synth_sources.SOURCES
    assert synthetic.DEVICE_MODELS is synth_devices.DEVICE_MODELS
    assert all(hasattr(synthetic, name) for name in synthetic.__all__)
