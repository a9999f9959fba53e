"""asclab.features: the log-mel front-end, the normalizer, and the content-keyed feature cache."""
import os

import pytest
import soundfile as sf
import torch
import torchaudio

from asclab import features
from asclab.data import TAU22, load_audio
from asclab.features import FeatureSet, FrontEndConfig, LogMel, Normalizer, load_features
from tau_layout import make_tiny_tau22, tone


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_tau22(tmp_path_factory.mktemp("tau") / "tau22", scenes=("airport", "bus"), train_segments=3,
                           sub_segments=1)   # 12 clips: 6 training, 6 test (devices a, b, s4)


def direct_logmel(wave_44k: torch.Tensor) -> torch.Tensor:
    """The front-end written out by hand: resample, periodic-Hann STFT, power, HTK mel bank, log."""
    x = torchaudio.transforms.Resample(44_100, 32_000)(wave_44k)              # [S] -> [32000]
    window = torch.hann_window(3072, periodic=True)                            # zero-padded to 4096 by stft
    spec = torch.stft(x, n_fft=4096, hop_length=505, win_length=3072, window=window, center=True,
                      pad_mode="reflect", return_complex=True)                # [2049, 64]
    power = spec.abs() ** 2
    fbank = torchaudio.functional.melscale_fbanks(2049, 0, 16_000, 256, 32_000, norm=None, mel_scale="htk")
    return torch.log(fbank.T @ power + 1e-5)                                   # [256, 64]


# --- front-end ---------------------------------------------------------------------------------------
def test_config_defaults_and_key():
    c = FrontEndConfig()
    assert (c.orig_sr, c.sr, c.n_fft, c.win_length, c.hop_length, c.n_mels) == (44_100, 32_000, 4096, 3072, 505, 256)
    assert c.f_min == 0 and c.f_max is None and c.log_offset == 1e-5
    assert c.n_frames == 64 and c.replace(hop_length=500).n_frames == 65
    assert c.key() == FrontEndConfig().key() != c.replace(n_mels=128).key()


def test_logmel_shapes():
    frontend = LogMel()
    wave = torch.from_numpy(tone(440.0, seed=0))
    assert frontend(wave).shape == (256, 64)
    assert frontend(torch.stack([wave, wave, wave])).shape == (3, 256, 64)
    assert frontend(wave[None, None]).shape == (1, 256, 64)
    assert frontend(wave[:-100]).shape == (256, 64)                     # a few samples short: zero-padded
    with pytest.raises(ValueError, match=r"441000 samples; expected 44100 \(one clip, give or take 441\)"):
        frontend(torch.zeros(10 * 44_100))


def test_logmel_equals_direct_computation(tiny):
    wave, sr = load_audio(tiny.root / tiny.meta[5][0])
    wave = torch.from_numpy(wave)
    got = LogMel()(wave)
    torch.testing.assert_close(got, direct_logmel(wave), atol=1e-4, rtol=1e-4)
    batch = LogMel()(torch.stack([wave, -wave]))
    torch.testing.assert_close(batch[0], got, atol=1e-5, rtol=1e-5)


# --- normalizer --------------------------------------------------------------------------------------
def test_normalizer_fits_per_bin(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(40, 1, 8, 16) * torch.linspace(0.5, 3, 8)[:, None] + torch.arange(8.0)[:, None]
    norm = Normalizer().fit(x)
    z = norm(x)                                                             # [N, 1, F, T]
    torch.testing.assert_close(z.mean(dim=(0, 1, 3)), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 1, 3), unbiased=False), torch.ones(8), atol=1e-4, rtol=0)
    torch.testing.assert_close(norm.inverse(z), x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(norm(x[:, 0]), z[:, 0])                     # [N, F, T] too
    streamed = Normalizer()
    for part in x.split(7):
        streamed.partial_fit(part)
    torch.testing.assert_close(streamed.mean, norm.mean)
    torch.testing.assert_close(streamed.std, norm.std)

    path = norm.save(tmp_path / "norm.pt")
    loaded = Normalizer.load(path)
    assert torch.equal(loaded(x), z)


def test_normalizer_errors(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted: call normalizer.fit"):
        Normalizer()(torch.zeros(2, 1, 8, 4))
    norm = Normalizer().fit(torch.randn(4, 1, 8, 4))
    with pytest.raises(ValueError, match="16 mel bins"):
        norm(torch.zeros(2, 1, 16, 4))
    torch.save({"mean": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not hold a Normalizer"):
        Normalizer.load(tmp_path / "other.pt")


# --- feature sets and the cache ------------------------------------------------------------------------
def count_computes(monkeypatch) -> list:
    calls = []
    real = features.compute_logmels

    def counting(paths, *args, **kwargs):
        calls.append(len(paths))
        return real(paths, *args, **kwargs)
    monkeypatch.setattr(features, "compute_logmels", counting)
    return calls


def test_load_features_computes_once_then_serves_the_cache(tiny, tmp_path, monkeypatch):
    ds = TAU22(tiny.root)
    calls = count_computes(monkeypatch)
    train = load_features(ds, ds.split(50), cache_dir=tmp_path)
    assert calls == [len(ds)]                                      # the whole dataset, once
    assert train.x.shape == (len(ds.split(50)), 1, 256, 64) and train.x.dtype == torch.float32
    assert train.filenames == [c.filename for c in ds.split(50)]
    assert train.y.tolist() == [c.label for c in ds.split(50)] and train.y.dtype == torch.int64
    assert train.y_coarse.tolist() == [c.coarse_label for c in ds.split(50)]
    assert train.devices == [c.device for c in ds.split(50)]
    assert train.locations[0] == ds.split(50)[0].location and train.cities[0] == ds.split(50)[0].city
    assert train.key == features.cache_key(ds) == train.subset([0]).key

    clip = ds.split("test")[4]
    wave, _ = load_audio(ds.wav_path(clip))
    direct = LogMel()(torch.from_numpy(wave))

    def fail(*args, **kwargs):
        raise AssertionError("the front-end ran although the cache should have served this")
    monkeypatch.setattr(LogMel, "forward", fail)
    test = load_features(ds, ds.split("test"), cache_dir=tmp_path)   # another subset: a gather
    torch.testing.assert_close(test.x[4, 0], direct, atol=1e-5, rtol=1e-5)
    everything = load_features(ds, cache_dir=tmp_path)
    assert len(everything) == len(ds) and calls == [len(ds)]
    index = {f: i for i, f in enumerate(everything.filenames)}
    assert torch.equal(everything.x[[index[f] for f in train.filenames]], train.x)
    everything.x[0] += 1.0                                           # the full set is mapped copy-on-write:
    assert not torch.equal(load_features(ds, cache_dir=tmp_path).x[0], everything.x[0])  # the file is intact
    assert len(list(tmp_path.iterdir())) == 1                        # one key folder


def test_cache_invalidated_by_config_wav_and_meta(tiny, tmp_path, monkeypatch):
    root = tmp_path / "data"
    local = make_tiny_tau22(root, scenes=("bus", "tram"), train_segments=2, sub_segments=1)
    cache = tmp_path / "cache"
    calls = count_computes(monkeypatch)
    ds = TAU22(root)
    before = load_features(ds, cache_dir=cache)
    load_features(ds, cache_dir=cache)
    assert len(calls) == 1

    other = load_features(ds, cache_dir=cache, config=FrontEndConfig(n_mels=128))
    assert len(calls) == 2 and other.x.shape[2] == 128

    wav = root / local.meta[1][0]                                   # rewrite one wav (new content, new mtime)
    old = os.stat(wav)
    sf.write(wav, tone(3000.0, seed=99), 44_100, subtype="PCM_24")
    os.utime(wav, ns=(old.st_atime_ns, old.st_mtime_ns + 1_000_000_000))
    after = load_features(TAU22(root), cache_dir=cache)
    assert len(calls) == 3
    assert not torch.allclose(after.x[1], before.x[1]) and torch.equal(after.x[0], before.x[0])

    meta = root / "meta.csv"                                        # swap two rows of meta.csv
    lines = meta.read_text().split("\n")
    lines[1], lines[2] = lines[2], lines[1]
    meta.write_text("\n".join(lines))
    swapped = load_features(TAU22(root), cache_dir=cache)
    assert len(calls) == 4
    assert swapped.filenames[:2] == after.filenames[1::-1]
    assert torch.equal(swapped.x[0], after.x[1]) and torch.equal(swapped.x[1], after.x[0])
    assert len(list(cache.iterdir())) == 4


def test_content_fingerprint_sees_what_stat_cannot(tmp_path):
    root = tmp_path / "data"
    local = make_tiny_tau22(root, scenes=("metro",), train_segments=1, test_segments=0, sub_segments=1)
    ds = TAU22(root)
    stat_key, content_key = features.cache_key(ds), features.cache_key(ds, fingerprint="content")
    wav = root / local.meta[0][0]
    old = os.stat(wav)
    sf.write(wav, tone(900.0, seed=5), 44_100, subtype="PCM_24")   # same size
    os.utime(wav, ns=(old.st_atime_ns, old.st_mtime_ns))            # same mtime
    assert features.cache_key(ds) == stat_key                       # documented limit of "stat"
    assert features.cache_key(ds, fingerprint="content") != content_key


def test_incomplete_cache_is_rebuilt(tiny, tmp_path, monkeypatch):
    ds = TAU22(tiny.root)
    load_features(ds, cache_dir=tmp_path)
    (folder,) = tmp_path.iterdir()
    (folder / "index.json").unlink()                               # as if interrupted before the index
    calls = count_computes(monkeypatch)
    again = load_features(ds, ds.split(5), cache_dir=tmp_path)
    assert calls == [len(ds)] and len(again) == len(ds.split(5))


def test_load_features_rejects_foreign_clips(tiny, tmp_path):
    ds = TAU22(tiny.root)
    stranger = ds.clips[0].__class__(**{**ds.clips[0].__dict__, "filename": "audio/bus-x-1-2-0-a.wav"})
    with pytest.raises(ValueError, match="is not in TAU22"):
        load_features(ds, [stranger], cache_dir=tmp_path)


def test_feature_set_subset_and_device_mask():
    n = 6
    fs = FeatureSet(x=torch.arange(n * 4.0).reshape(n, 1, 2, 2), y=torch.arange(n), y_coarse=torch.arange(n) % 3,
                    devices=["a", "b", "s1", "s4", "a", "s6"], filenames=[f"f{i}" for i in range(n)],
                    cities=["c"] * n, locations=[f"c-{i}" for i in range(n)])
    assert len(fs) == n
    mask = fs.device_mask("unseen")
    assert mask.tolist() == [False, False, False, True, False, True]
    assert fs.device_mask(["a", "s1"]).tolist() == [True, False, True, False, True, False]
    sub = fs.subset(mask)
    assert sub.filenames == ["f3", "f5"] and sub.y.tolist() == [3, 5] and torch.equal(sub.x, fs.x[[3, 5]])
    assert fs.subset([4, 0]).devices == ["a", "a"] and fs.subset(slice(1, 3)).filenames == ["f1", "f2"]
    assert len(fs.subset([])) == 0
    with pytest.raises(ValueError, match="unknown device 'z'"):
        fs.device_mask("z")
    with pytest.raises(ValueError, match="different lengths"):
        FeatureSet(x=fs.x, y=fs.y[:2], y_coarse=fs.y_coarse, devices=fs.devices, filenames=fs.filenames,
                   cities=fs.cities, locations=fs.locations)
