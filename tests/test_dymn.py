"""DyMN: EfficientAT's layout, its own outputs (golden fixture), the temperature, the recorder, and loading
pre-trained checkpoints (asclab.models.dymn, asclab.models.pretrained)."""
from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from asclab.models import pretrained
from asclab.models.dymn import DyMN, DynamicConv, make_divisible, temperature_schedule



@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are small: one thread is as fast, and does not stall when the CPU is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference_layout(reference_file):
    return json.loads(reference_file("dymn_state_dict.json").read_text())["models"]


@pytest.fixture(scope="module")
def golden(reference_file):
    return torch.load(reference_file("dymn_golden_w04.pt"), weights_only=True)


@pytest.fixture(scope="module")
def audioset_models():
    """DyMN 1.0 and 2.0 with 527 classes, built once (2.0 has 40 M parameters: no forward on it)."""
    torch.manual_seed(0)
    return {"dymn10_as": DyMN(1.0, 527), "dymn20_as": DyMN(2.0, 527)}


@pytest.fixture(scope="module")
def golden_model(golden):
    model = DyMN(width_mult=golden["width_mult"], num_classes=golden["num_classes"])
    model.load_state_dict(golden["state_dict"], strict=True)
    return model.eval()


# ---- layout ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dymn10_as", "dymn20_as"])
def test_state_dict_matches_efficientat(name, audioset_models, reference_layout):
    ref = reference_layout[name]
    model = audioset_models[name]
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(ref["state_dict"])  # same keys, same order
    assert ours == ref["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == ref["total_parameters"]
    assert model.embedding_dim == ref["final_conv_channels (embedding dim)"]
    for block, cfg in zip(model.layers, ref["blocks"]):
        assert block.context_dim == cfg["context_dim"]
        assert block.use_residual == cfg["use_res_connect"]


def test_parameter_counts(audioset_models):
    counts = {n: sum(p.numel() for p in m.parameters()) for n, m in audioset_models.items()}
    assert counts == {"dymn10_as": 10_548_479, "dymn20_as": 39_966_143}


def test_make_divisible():
    assert [make_divisible(v) for v in (6.4, 16, 25.6, 64 * 0.4, 1280 * 0.4, 3.2)] == [8, 16, 24, 24, 512, 8]
    assert make_divisible(1.6) == 8


# ---- EfficientAT's own outputs -------------------------------------------------------------------------
def test_golden_outputs(golden, golden_model):
    golden_model.set_temperature(1.0)
    with torch.no_grad():
        for x, logits_ref, emb_ref in zip(golden["inputs"], golden["logits"], golden["embeddings"]):
            logits, emb = golden_model.forward_with_embedding(x)
            assert torch.allclose(logits, logits_ref, rtol=0, atol=1e-4), (logits - logits_ref).abs().max()
            assert torch.allclose(emb, emb_ref, rtol=0, atol=1e-4), (emb - emb_ref).abs().max()
            assert torch.equal(golden_model(x), logits)


def test_temperature_matters(golden, golden_model):
    x, logits_ref = golden["inputs"][0], golden["logits"][0]
    try:
        golden_model.set_temperature(30.0)
        assert golden_model.temperature == 30.0
        with torch.no_grad():
            assert (golden_model(x) - logits_ref).abs().max() > 0.1
    finally:
        golden_model.set_temperature(1.0)


# ---- temperature ---------------------------------------------------------------------------------------
def test_temperature_schedule():
    assert temperature_schedule(0) == 30
    assert temperature_schedule(10) == 20
    assert temperature_schedule(28) == 2
    assert temperature_schedule(29) == pytest.approx(1.0)
    assert temperature_schedule(100) == 1
    # the shallow second line shows when T_min is below 1
    assert temperature_schedule(40, T_min=0.5) == pytest.approx(1 + 0.02 * 29 - 0.02 * 40)
    assert temperature_schedule(5, T_max=10, T0_slope=2) == 1


def test_set_and_update_temperature():
    model = DyMN(0.1, 10, temperature=30.0)
    assert model.temperature == 30.0
    assert model.update_temperature(10) == 20
    assert {conv.temperature for conv in model.dynamic_convs()} == {20.0}
    model.temperature = 1.0
    assert {conv.temperature for conv in model.dynamic_convs()} == {1.0}
    assert "temperature" not in " ".join(model.state_dict())
    with pytest.raises(ValueError):
        model.set_temperature(0)


# ---- contract ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width,shape", [(0.1, (2, 1, 256, 64)), (0.2, (2, 1, 64, 32))])
def test_narrow_models_train(width, shape):
    torch.manual_seed(0)
    model = DyMN(width, num_classes=10)
    x = torch.randn(shape)  # [B, 1, F, T]; 256×64 is the workbook's input
    logits, emb = model.forward_with_embedding(x)
    assert logits.shape == (2, 10) and emb.shape == (2, model.embedding_dim)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_single_sample_and_bad_input():
    model = DyMN(0.1, 10).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(2, 256, 64))


def test_replace_classifier():
    model = DyMN(0.2, 527)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = model.replace_classifier(10)
    assert model.classifier[5] is new and new.out_features == 10 and model.num_classes == 10
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("classifier.5"))
    assert after["classifier.5.weight"].shape == (10, model.classifier[2].out_features)
    assert model(torch.randn(2, 1, 64, 32)).shape == (2, 10)


# ---- dynamic convolution -------------------------------------------------------------------------------
@pytest.mark.parametrize("groups,kernel,stride", [(1, 1, 1), (1, 3, 2), (6, 5, 2)])
def test_dynamic_conv_equals_per_sample_loop(groups, kernel, stride):
    torch.manual_seed(0)
    conv = DynamicConv(6, 6 if groups > 1 else 4, context_dim=8, kernel_size=kernel, stride=stride,
                       padding=kernel // 2, groups=groups, k=4, temperature=2.0)
    x, h = torch.randn(3, 6, 11, 9), torch.randn(3, 8)
    batched = conv(x, h)
    att = F.softmax(conv.residuals(h) / 2.0, dim=-1)  # [B, K]
    bank = conv.kernel_bank()                         # [K, out, in/g, k, k]
    loop = torch.cat([F.conv2d(x[i:i + 1], torch.einsum("k,koihw->oihw", att[i], bank), stride=stride,
                               padding=kernel // 2, groups=groups) for i in range(3)])
    assert torch.allclose(batched, loop, atol=1e-5)


# ---- recorder ------------------------------------------------------------------------------------------
def test_record(golden, golden_model):
    x = golden["inputs"][0]  # [3, 1, 256, 64]
    with golden_model.record() as rec, torch.no_grad():
        golden_model(x)
    assert list(rec) == [f"layers.{i}" for i in range(15)]
    assert set(rec["layers.0"]["dyconv_attention"]) == {"depth_conv", "proj_conv"}
    for name, entry in rec.items():
        block = golden_model.get_submodule(name)
        for att in entry["dyconv_attention"].values():
            assert att.shape == (3, 4)
            assert torch.allclose(att.sum(-1), torch.ones(3), atol=1e-5)
        c = block.cfg.exp_channels
        assert set(entry["dyrelu"]) == {"a1", "b1", "a2", "b2"}
        assert all(v.shape == (3, c) for v in entry["dyrelu"].values())
        assert entry["context"].shape == (3, block.context_dim)
    ca = rec["layers.1"]["coord_att"]  # after the stem (128×32) and this block's stride 2
    assert ca["freq"].shape == (3, golden_model.layers[1].cfg.exp_channels, 64)
    assert ca["time"].shape == (3, golden_model.layers[1].cfg.exp_channels, 16)
    assert 0 < ca["freq"].min() and ca["freq"].max() < 1
    # outside the with-block nothing is recorded
    assert all(conv._record_into is None for conv in golden_model.dynamic_convs())


# ---- pre-trained checkpoints ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dymn04_file(tmp_path_factory):
    """A checkpoint in EfficientAT's layout: a plain state dict of a width-0.4, 527-class DyMN."""
    torch.manual_seed(1)
    state = DyMN(0.4, 527).state_dict()
    folder = tmp_path_factory.mktemp("weights")
    torch.save(state, folder / "dymn04_as.pt")
    return folder, state


def test_from_pretrained_new_head(dymn04_file):
    folder, state = dymn04_file
    assert pretrained.expected_path("dymn04_as", folder) == folder / "dymn04_as.pt"
    assert pretrained.is_available("dymn04_as", folder)
    model = pretrained.from_pretrained("dymn04_as", 10, weights_dir=folder)
    assert model.classifier[5].out_features == 10 and model.temperature == 1.0
    loaded = model.state_dict()
    for key, value in state.items():
        if not key.startswith("classifier.5"):
            assert torch.equal(loaded[key], value), key
    assert model(torch.randn(2, 1, 64, 32)).shape == (2, 10)


def test_from_pretrained_keeps_audioset_head(dymn04_file, tmp_path):
    folder, state = dymn04_file
    model = pretrained.from_pretrained("dymn04_as", 527, weights_dir=folder)
    assert torch.equal(model.classifier[5].weight, state["classifier.5.weight"])
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "dymn04_as.pt")  # a wrapped file is accepted
    assert torch.equal(pretrained.from_pretrained("dymn04_as", 527, tmp_path).classifier[2].weight,
                       state["classifier.2.weight"])


def test_from_pretrained_without_head(dymn04_file, tmp_path):
    _, state = dymn04_file
    torch.save({k: v for k, v in state.items() if not k.startswith("classifier.5")}, tmp_path / "dymn04_as.pt")
    assert pretrained.from_pretrained("dymn04_as", 10, tmp_path).classifier[5].out_features == 10
    with pytest.raises(ValueError, match="classifier.5.weight"):  # an AudioSet model needs the AudioSet head
        pretrained.from_pretrained("dymn04_as", 527, tmp_path)


def test_weights_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ASCLAB_WEIGHTS", str(tmp_path))
    assert pretrained.weights_dir() == tmp_path
    assert pretrained.expected_path("dymn20_as") == tmp_path / "dymn20_as_mAP_493.pt"
    assert pretrained.weights_dir("/elsewhere") == Path("/elsewhere")
    monkeypatch.delenv("ASCLAB_WEIGHTS")
    monkeypatch.setenv("ASCLAB_HOME", str(tmp_path / "home"))
    assert pretrained.weights_dir() == tmp_path / "home" / "weights"


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        pretrained.from_pretrained("dymn10_as", 10, weights_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "dymn10_as.pt") in message
    assert pretrained.RELEASE_URL + "dymn10_as.pt" in message
    assert "asclab weights fetch dymn10_as" in message
    assert not pretrained.is_available("dymn10_as", tmp_path)


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="dymn04_as, dymn10_as, dymn20_as"):
        pretrained.from_pretrained("dymn30_as", 10, weights_dir=tmp_path)


def test_wrong_width(dymn04_file, tmp_path):
    _, state = dymn04_file
    torch.save(state, tmp_path / "dymn10_as.pt")  # a width-0.4 file under the width-1.0 name
    with pytest.raises(ValueError) as err:
        pretrained.from_pretrained("dymn10_as", 10, weights_dir=tmp_path)
    message = str(err.value)
    assert "layers.0.depth_conv.weight" in message and "(1, 1, 4, 72)" in message and "(1, 1, 4, 144)" in message
    assert "width 0.4" in message


def test_corrupted_file(dymn04_file, tmp_path):
    folder, _ = dymn04_file
    data = (folder / "dymn04_as.pt").read_bytes()
    (tmp_path / "dymn04_as.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="dymn04_as.pt"):
        pretrained.from_pretrained("dymn04_as", 10, weights_dir=tmp_path)
    torch.save({"weights": [1, 2, 3]}, tmp_path / "dymn04_as.pt")  # loads, but is no state dict
    with pytest.raises(ValueError, match="dymn04_as.pt"):
        pretrained.from_pretrained("dymn04_as", 10, weights_dir=tmp_path)


def test_fetch_without_network(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(pretrained.urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError) as err:
        pretrained.fetch("dymn20_as", weights_dir=tmp_path)
    message = str(err.value)
    assert "no network" in message
    assert pretrained.RELEASE_URL + "dymn20_as_mAP_493.pt" in message
    assert str(tmp_path / "dymn20_as_mAP_493.pt") in message
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_fetch_from_url(dymn04_file, tmp_path):
    folder, _ = dymn04_file
    dest = pretrained.fetch("dymn04_as", weights_dir=tmp_path / "w", url=(folder / "dymn04_as.pt").as_uri())
    assert dest == tmp_path / "w" / "dymn04_as.pt" and dest.is_file()
    assert [p.name for p in dest.parent.iterdir()] == ["dymn04_as.pt"]
    # a download that is not a checkpoint is refused and not left in place
    (tmp_path / "junk.pt").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ValueError, match="does not load"):
        pretrained.fetch("dymn04_as", weights_dir=tmp_path / "x", url=(tmp_path / "junk.pt").as_uri())
    assert list((tmp_path / "x").iterdir()) == []
