"""asclab.data: the taxonomy, and the TAU22 reader on a tiny dataset in the real layout."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asclab import data
from asclab.data import COARSE, DEVICE_GROUPS, DEVICES, FINE_TO_COARSE, SCENES, TAU22, Clip, DatasetError
from tau_layout import make_tiny_tau22


# --- taxonomy ----------------------------------------------------------------------------------------
def test_scenes_in_label_encoder_order():
    assert SCENES == ("airport", "bus", "metro", "metro_station", "park", "public_square",
                      "shopping_mall", "street_pedestrian", "street_traffic", "tram")
    assert list(SCENES) == sorted(SCENES)


def test_fine_to_coarse_exact():
    assert COARSE == ("indoor", "outdoor", "transportation")
    #                 airport bus metro m_st park p_sq shop st_ped st_tr tram
    assert FINE_TO_COARSE == (0, 2, 2, 0, 1, 1, 0, 1, 1, 2)


def test_device_groups():
    assert DEVICES == ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
    assert DEVICE_GROUPS == {"real": ("a", "b", "c"), "seen": ("s1", "s2", "s3"), "unseen": ("s4", "s5", "s6")}
    assert data.device_group("s5") == "unseen" and data.device_group("b") == "real"
    with pytest.raises(ValueError, match="unknown device"):
        data.device_group("d")


# --- a tiny dataset ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("tau") / data.DATASET_FOLDER
    return make_tiny_tau22(root)


@pytest.fixture
def tiny(pristine, tmp_path):
    """A fresh copy of the tiny dataset that a test may break."""
    root = tmp_path / data.DATASET_FOLDER
    shutil.copytree(pristine.root, root)
    return pristine.__class__(root=root, meta=pristine.meta, splits=pristine.splits)


def edit_line(path: Path, line: int, text: str | None) -> None:
    """Replace 1-based ``line`` of a file (None deletes it)."""
    lines = path.read_text().split("\n")
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    path.write_text("\n".join(lines))


def test_reads_meta_rows_as_clips(pristine):
    ds = TAU22(pristine.root)
    assert len(ds) == len(ds.clips) == len(pristine.meta)
    assert [c.filename for c in ds.clips] == [row[0] for row in pristine.meta]   # file order
    clip = ds.clips[0]
    assert clip == Clip(filename="audio/airport-lisbon-1000-40000-0-a.wav", scene="airport", coarse="indoor",
                        device="a", city="lisbon", location="lisbon-1000", label=0, coarse_label=0)
    assert clip.segment == "airport-lisbon-1000-40000-a"
    assert ds.by_filename[clip.filename] is clip
    assert ds.wav_path(clip) == pristine.root / clip.filename
    park_tests = [c for c in ds.clips if c.scene == "park" and c.device == "s4"]
    assert park_tests and all(c.label == 4 and c.coarse == "outdoor" and c.coarse_label == 1 for c in park_tests)
    for c in ds.clips:
        assert c.device == c.filename.rsplit("-", 1)[1][:-4]
        assert c.city == c.location.split("-")[0]


def test_splits_nest_and_keep_segments_whole(pristine):
    ds = TAU22(pristine.root)
    splits = {p: ds.split(p) for p in data.SPLITS}
    for p, clips in splits.items():
        assert [c.filename for c in clips] == pristine.splits[f"split{p}"]   # split file order
    for small, large in zip(data.SPLITS, data.SPLITS[1:]):
        assert set(splits[small]) <= set(splits[large])
    test = ds.split("test")
    assert [c.filename for c in test] == pristine.splits["test"]
    assert not set(test) & set(splits[100])
    assert {c.device for c in test} == {"a", "b", "s4"}
    assert not {c.device for c in splits[100]} & set(DEVICE_GROUPS["unseen"])
    per_segment = {}
    for c in ds.clips:
        per_segment[c.segment] = per_segment.get(c.segment, 0) + 1
    for clips in [*splits.values(), test]:                # a 10-s segment is wholly in or wholly out
        inside = {}
        for c in clips:
            inside[c.segment] = inside.get(c.segment, 0) + 1
        assert all(n == per_segment[s] for s, n in inside.items())


def test_split_names(pristine):
    ds = TAU22(pristine.root)
    assert ds.split(25) == ds.split("25") == ds.split("split25") == ds.split("split25.csv")
    assert ds.available_splits() == ["split5", "split10", "split25", "split50", "split100", "test"]
    with pytest.raises(ValueError, match="unknown split 7"):
        ds.split(7)


def test_split_files_in_root_and_parent_folder(tmp_path):
    tiny = make_tiny_tau22(tmp_path / data.DATASET_FOLDER, scenes=("bus",), train_segments=2, split_dir=".")
    ds = TAU22(tmp_path)                                  # the folder that holds the dataset folder
    assert ds.root == tiny.root
    assert [c.filename for c in ds.split("test")] == tiny.splits["test"]


def test_summary_counts(pristine):
    ds = TAU22(pristine.root)
    table = ds.summary()
    assert list(table.index) == ["split5", "split10", "split25", "split50", "split100", "test", "all"]
    assert table.loc["all", ("clips", "")] == len(ds)
    assert table.loc["test", ("device", "s4")] == sum(c.device == "s4" for c in ds.split("test"))
    assert table.loc["split100", ("scene", "bus")] == sum(c.scene == "bus" for c in ds.split(100))
    assert (table["device"].sum(axis=1) == table[("clips", "")]).all()
    assert (table["scene"].sum(axis=1) == table[("clips", "")]).all()


def test_load_audio(pristine, tmp_path):
    audio, sr = data.load_audio(pristine.root / pristine.meta[0][0])
    assert sr == 44_100 and audio.dtype == np.float32 and audio.shape == (44_100,)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.zeros((44_100, 2), np.float32), 44_100)
    with pytest.raises(DatasetError, match=r"stereo\.wav has 2 channels; expected mono"):
        data.load_audio(stereo)
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(DatasetError, match=r"slow\.wav is sampled at 16000 Hz; expected 44100"):
        data.load_audio(slow)
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        data.load_audio(tmp_path / "nope.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a wav")
    with pytest.raises(DatasetError, match=r"broken\.wav could not be read"):
        data.load_audio(broken)


def test_data_imports_no_generator():
    """data is the taxonomy under the generator: it never imports it back (that was an import cycle)."""
    source = Path(data.__file__).read_text(encoding="utf-8")
    assert "asclab.synth" not in source and "import synthetic" not in source
    assert not hasattr(data, "synthesize")   # asclab.synthetic.synthesize writes the synthetic dataset


# --- bad input: every error names the file, the line, what was expected --------------------------------
def test_missing_root_names_folder_and_synth(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        TAU22(tmp_path / "nowhere")
    assert data.DATASET_FOLDER in str(e.value) and "asclab data synth" in str(e.value)
    with pytest.raises(FileNotFoundError, match="asclab data synth"):
        TAU22(tmp_path)                                   # exists, but is not a dataset


def test_missing_audio_folder(tiny):
    shutil.rmtree(tiny.root / "audio")
    with pytest.raises(FileNotFoundError, match=r"no audio/ folder in .*" + data.DATASET_FOLDER):
        TAU22(tiny.root)


def test_missing_meta(tiny):
    (tiny.root / "meta.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"no meta\.csv in "):
        TAU22(tiny.root)


def test_missing_split_file(tiny):
    (tiny.root / "split_setup" / "split25.csv").unlink()
    ds = TAU22(tiny.root)
    with pytest.raises(FileNotFoundError, match=r"no split25\.csv in .* or .*split_setup.*download"):
        ds.split(25)
    assert "split25" not in ds.available_splits()


def test_missing_wav(tiny):
    (tiny.root / tiny.meta[3][0]).unlink()
    with pytest.raises(FileNotFoundError, match=r"meta\.csv, line 5: .* does not exist"):
        TAU22(tiny.root)
    assert len(TAU22(tiny.root, check_audio=False)) == len(tiny.meta)   # checked only when asked


META_ERRORS = [  # (line to replace, new text, error pattern after "meta.csv, line N")
    (1, "filename,scene_label,identifier,source_label", r"wrong header .*comma-separated"),
    (1, "filename\tscene\tidentifier\tsource_label", r"wrong header .*expected the tab-separated columns"),
    (3, "audio/airport-lisbon-1000-40000-1-a.wav\tairport\tlisbon-1000",
     r"3 field\(s\) .*expected 4 tab-separated fields"),
    (3, "", r"blank line"),
    (3, "airport-lisbon-1000-40000-1-a.wav\tairport\tlisbon-1000\ta", r"does not match 'audio/<scene>"),
    (3, "audio/airport-lisbon-1000-40000-a.wav\tairport\tlisbon-1000\ta", r"does not match 'audio/<scene>"),
    (3, "audio/airport-lisbon-1000-40000-x-a.wav\tairport\tlisbon-1000\ta", r"sub-segment number"),
    (3, "audio/beach-lisbon-1000-40000-1-a.wav\tbeach\tlisbon-1000\ta", r"unknown scene label 'beach'"),
    (3, "audio/airport-lisbon-1000-40000-1-a.wav\tbus\tlisbon-1000\ta", r"names scene 'airport' but .*'bus'"),
    (3, "audio/airport-lisbon-1000-40000-1-d.wav\tairport\tlisbon-1000\td", r"unknown device 'd'"),
    (3, "audio/airport-lisbon-1000-40000-1-a.wav\tairport\tlisbon-1000\tb", r"ends in device 'a' but .*'b'"),
    (3, "audio/airport-lisbon-1000-40000-1-a.wav\tairport\tvienna-1000\ta",
     r"identifier 'vienna-1000' does not match .*lisbon-1000"),
    (3, "audio/airport-lisbon-1000-40000-0-a.wav\tairport\tlisbon-1000\ta", r"listed twice \(first on line 2\)"),
]


@pytest.mark.parametrize("line, text, pattern", META_ERRORS)
def test_bad_meta_rows(tiny, line, text, pattern):
    meta = tiny.root / "meta.csv"
    edit_line(meta, line, text)
    with pytest.raises(DatasetError) as e:
        TAU22(tiny.root, check_audio=False)
    message = str(e.value)
    assert message.startswith(f"{meta}, line {line}:"), message
    assert re.search(pattern, message), message


def test_empty_meta(tiny):
    (tiny.root / "meta.csv").write_text("filename\tscene_label\tidentifier\tsource_label\n")
    with pytest.raises(DatasetError, match="no clips, only a header"):
        TAU22(tiny.root)


SPLIT_ERRORS = [
    (1, "filename\tscene_label\textra", r"wrong header"),
    (2, "audio/airport-paris-9-9-0-a.wav\tairport", r"is not in .*meta\.csv"),
    (2, "{first}\t{other}", r"scene_label '{other}' disagrees with meta\.csv"),
    (3, "only-one-field", r"1 field\(s\)"),
]


@pytest.mark.parametrize("line, text, pattern", SPLIT_ERRORS)
def test_bad_split_rows(tiny, line, text, pattern):
    path = tiny.root / "split_setup" / "split50.csv"
    first = tiny.splits["split50"][0]
    other = next(s for s in SCENES if s != tiny.scene_of(first))   # a scene that disagrees with meta.csv
    text, pattern = text.replace("{first}", first).replace("{other}", other), pattern.replace("{other}", other)
    edit_line(path, line, text)
    ds = TAU22(tiny.root)
    with pytest.raises(DatasetError) as e:
        ds.split(50)
    assert str(e.value).startswith(f"{path}, line {line}:"), str(e.value)
    assert re.search(pattern, str(e.value)), str(e.value)


def test_duplicate_split_row(tiny):
    path = tiny.root / "split_setup" / "test.csv"
    edit_line(path, 3, path.read_text().split("\n")[1])
    with pytest.raises(DatasetError, match=r"test\.csv, line 3: .* listed twice \(first on line 2\)"):
        TAU22(tiny.root).split("test")


def test_undecodable_and_empty_files(tiny):
    meta = tiny.root / "meta.csv"
    lines = meta.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"airport", b"airp\xffrt", 1)
    meta.write_bytes(b"\n".join(lines))
    with pytest.raises(DatasetError, match=r"meta\.csv, line 4: not UTF-8 text"):
        TAU22(tiny.root)
    test = tiny.root / "split_setup" / "test.csv"
    test.write_text("")
    meta.write_bytes(b"\n".join(lines).replace(b"\xff", b"o"))
    with pytest.raises(DatasetError, match=r"test\.csv, line 1: the file is empty"):
        TAU22(tiny.root).split("test")
