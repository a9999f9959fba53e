"""The synthetic event corpus (asclab.synth.events): deterministic, multi-label, apart from the scene data."""
import hashlib

import numpy as np
import pytest
import torch

import asclab.events
from asclab.data import SCENES
from asclab.synth import dataset, events
from asclab.synth.blocks import SEGMENT_SAMPLES, SEGMENT_SECONDS, seeded_rng


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def test_a_recording_is_byte_deterministic_and_depends_on_seed_and_index():
    a1, l1 = events.render_recording(3, 5)
    a2, l2 = events.render_recording(3, 5)
    assert _digest(a1) == _digest(a2) and np.array_equal(l1, l2)
    assert _digest(events.render_recording(4, 5)[0]) != _digest(a1)
    assert _digest(events.render_recording(3, 6)[0]) != _digest(a1)
    assert a1.shape == (SEGMENT_SAMPLES,) and a1.dtype == np.float32 and np.isfinite(a1).all()
    assert l1.shape == (SEGMENT_SECONDS, len(events.EVENT_NAMES)) and l1.dtype == bool


def test_the_corpus_is_byte_deterministic_per_seed_for_any_number_of_workers(tmp_path):
    one = events.build_corpus(seed=2, recordings=4, workers=1, root=tmp_path / "a")
    two = events.build_corpus(seed=2, recordings=4, workers=2, root=tmp_path / "b")
    assert one.x.shape == (40, 1, 256, 64) and one.x.dtype == torch.float16
    assert one.y.shape == (40, len(events.EVENT_NAMES)) and one.y.dtype == torch.uint8
    assert torch.equal(one.x, two.x) and torch.equal(one.y, two.y)
    other = events.build_corpus(seed=3, recordings=4, workers=1, root=tmp_path / "c")
    assert not torch.equal(one.x, other.x)
    cached = events.build_corpus(seed=2, recordings=4, root=tmp_path / "a")     # read back from the cache
    assert torch.equal(cached.x, one.x) and cached.eval_from == one.eval_from == 3


def test_train_and_eval_parts_are_whole_recordings(tmp_path):
    corpus = events.build_corpus(seed=2, recordings=10, eval_share=0.2, workers=1, root=tmp_path)
    x_train, y_train = corpus.part("train")
    x_eval, y_eval = corpus.part("eval")
    assert (len(x_train), len(x_eval)) == (80, 20)
    assert set(corpus.recording[corpus.recording >= corpus.eval_from].tolist()) == {8, 9}


def test_labels_follow_each_events_energy_in_each_second():
    """An event is labelled in a second exactly when its own energy there is within LABEL_DB of the mix."""
    seen = np.zeros(len(events.EVENT_NAMES), bool)
    for index in range(60):
        _, labels = events.render_recording(0, index)
        seen |= labels.any(axis=0)
        assert labels.sum(axis=1).max() <= events.MAX_EVENTS
    assert seen.sum() >= 24          # nearly every one of the 28 event classes occurs in 60 recordings
    assert len(events.EVENT_NAMES) == 28 and len(set(events.EVENT_NAMES)) == 28
    assert {"siren", "bark", "rain", "bell", "knock", "whistle"} <= set(events.EVENT_NAMES)


def test_clips_carry_event_labels_only_never_scene_labels():
    assert not set(events.EVENT_NAMES) & set(SCENES)


def test_the_corpus_never_reproduces_a_scene_recording():
    """Corpus streams live in their own key space: no recording equals a scene segment of any seed."""
    corpus = {_digest(events.render_recording(seed, index)[0]) for seed in (0, 1) for index in range(3)}
    for seed in (0, 1):
        segment = dataset.plan("smoke", seed)[0]
        for audio in dataset.render_segment(seed, segment).values():
            assert _digest(audio) not in corpus
    # the first number of every corpus key is one that the scene generator never uses as a dataset seed
    assert events.EVENT_NAMESPACE > 10_000
    assert events._rng(0, 0, 0).random() != seeded_rng(0, 0, 0, 0).random()


def test_too_small_a_corpus_is_refused_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="at least 2 recordings"):
        events.build_corpus(seed=0, recordings=1, root=tmp_path)


def test_a_foreign_corpus_file_is_refused(tmp_path):
    torch.save({"format": 999}, tmp_path / "corpus.pt")
    with pytest.raises(ValueError, match="not an event corpus"):
        events.load_corpus(tmp_path / "corpus.pt")


def test_the_corpus_cache_name_follows_every_module_it_renders_with(tmp_path, monkeypatch):
    """corpus_dir digests events.py and the generator modules under it: an edit to any renders afresh."""
    names = {p.name for p in events.CORPUS_CODE_FILES}
    assert names == {"blocks.py", "sources.py", "devices.py", "scenes.py", "events.py"}
    monkeypatch.setenv("ASCLAB_HOME", str(tmp_path))
    copies = []
    for path in events.CORPUS_CODE_FILES:
        copies.append(tmp_path / path.name)
        copies[-1].write_bytes(path.read_bytes())
    before = events.corpus_dir(1, 100)
    monkeypatch.setattr(events, "CORPUS_CODE_FILES", tuple(copies))
    assert events.corpus_dir(1, 100) == before
    for copy in copies:
        original = copy.read_bytes()
        copy.write_bytes(original + b"\n# an edit\n")
        assert events.corpus_dir(1, 100) != before, f"{copy.name} is not in the corpus digest"
        copy.write_bytes(original)


def test_the_old_module_name_still_reaches_the_corpus():
    assert asclab.events.build_corpus is events.build_corpus and asclab.events.EVENTS is events.EVENTS
    assert all(hasattr(asclab.events, name) for name in asclab.events.__all__)
