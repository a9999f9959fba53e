"""The embedded synthetic dataset: exactly the TAU22 layout, the device and split rules, determinism."""
import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asclab import data, profiles, synthetic
from asclab.data import TAU22


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    return synthetic.synthesize(tmp_path_factory.mktemp("synth") / "smoke", "smoke", seed=0)


@pytest.fixture(scope="module")
def ds(smoke_root):
    return TAU22(smoke_root)       # the real reader validates names, labels, devices and split rows


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_layout_is_the_real_one(smoke_root, ds):
    p = profiles.get("smoke")
    assert _rows(smoke_root / "meta.csv")[0] == ["filename", "scene_label", "identifier", "source_label"]
    for name in [f"split{s}" for s in data.SPLITS] + ["test"]:
        assert _rows(smoke_root / f"{name}.csv")[0] == ["filename", "scene_label"]
    n_train, n_test = 10 * 10 * p.synth_train_segments, 10 * 10 * p.synth_test_segments * len(data.DEVICES)
    assert len(ds.split(100)) == n_train and len(ds.split("test")) == n_test
    assert len(ds.clips) == n_train + n_test
    wav, sr = sf.read(ds.wav_path(ds.clips[0]), always_2d=True)
    assert sr == 44_100 and wav.shape == (44_100, 1)
    assert {c.scene for c in ds.clips} == set(data.SCENES)


def test_splits_nest_and_are_class_balanced(ds):
    sets = [set(c.filename for c in ds.split(s)) for s in data.SPLITS]
    for small, large in zip(sets, sets[1:]):
        assert small <= large                      # at whole-segment granularity two small splits may coincide
    assert sets[0] < sets[-1]
    for s in data.SPLITS:
        counts = Counter(c.scene for c in ds.split(s))
        assert len(counts) == 10 and len(set(counts.values())) == 1, (s, counts)
    assert not sets[-1] & {c.filename for c in ds.split("test")}


def test_device_rules(ds):
    train, test = ds.split(100), ds.split("test")
    train_devices = Counter(c.device for c in train)
    assert set(train_devices) <= set(data.TRAIN_DEVICES)          # s4-s6 never in training
    assert train_devices.most_common(1)[0][0] == "a"
    test_devices = Counter(c.device for c in test)
    assert set(test_devices) == set(data.DEVICES) and len(set(test_devices.values())) == 1


def test_segments_and_locations(ds):
    train, test = ds.split(100), ds.split("test")
    assert not {c.location for c in train} & {c.location for c in test}
    for clips in (train, test):
        pieces = Counter(c.segment for c in clips)
        assert set(pieces.values()) == {10}        # all ten 1-s pieces of a 10-s segment, in one split


def test_device_a_dominates_the_demo_training_split():
    plan = synthetic.plan("demo", 0)
    train = [s for s in plan if s.kind == "train"]
    share_a = sum(s.devices == ("a",) for s in train) / len(train)
    assert 0.65 <= share_a <= 0.8


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, smoke_root):
    again = synthetic.synthesize(tmp_path / "again", "smoke", seed=0, workers=1)
    assert _digest(again) == _digest(smoke_root)
    other = synthetic.synthesize(tmp_path / "other", "smoke", seed=1)
    assert _digest(other) != _digest(smoke_root)


def test_complete_dataset_is_not_rewritten_and_incomplete_is_rebuilt(tmp_path, smoke_root):
    root = synthetic.synthesize(tmp_path / "d", "smoke", seed=0)
    meta = root / "meta.csv"
    before = meta.stat().st_mtime_ns
    synthetic.synthesize(root, "smoke", seed=0)
    assert meta.stat().st_mtime_ns == before
    (root / synthetic.COMPLETE_MARKER).unlink()           # as if interrupted while writing
    (root / synthetic.PROGRESS_MARKER).write_text("interrupted")
    (root / "split5.csv").unlink()
    assert not synthetic.is_complete(root, "smoke", 0)
    synthetic.synthesize(root, "smoke", seed=0)
    assert synthetic.is_complete(root, "smoke", 0) and _digest(root) == _digest(smoke_root)


def test_refuses_to_write_into_a_foreign_folder(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing"):
        synthetic.synthesize(tmp_path, "smoke", seed=0)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_nearest_centroid_is_above_chance_and_far_from_perfect(ds):
    from asclab.features import load_features

    train = load_features(ds, ds.split(100))
    test = load_features(ds, ds.split("test"))
    acc = synthetic.nearest_centroid_accuracy(train, test)
    assert 0.12 < acc < 0.5
    # and it is a real classifier: on its own training data it does better than on unseen locations
    assert synthetic.nearest_centroid_accuracy(train, train) > acc


def test_datasheet_names_every_class_and_device():
    text = synthetic.describe()
    assert all(s in text for s in data.SCENES)
    assert all(d in text for d in ("s4", "s5", "s6"))
    mix = synthetic.source_mix_table()
    assert set(mix) == set(data.SCENES)
