"""Pre-training on the event corpus, the checkpoints it writes, and the ones shipped in the package."""
import dataclasses
import hashlib
import json

import pytest
import torch

from asclab import pretrain
from asclab.evaluate import collapse_share, collapse_warnings, is_collapsed
from asclab.models import pretrained, registry
from asclab.models.dymn import DyMN

TINY = pretrain.PretrainConfig(width=0.1, recordings=4, eval_share=0.25, epochs=2, batch_size=8,
                               warmup_epochs=0.5, temperature_epochs=1.0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ASCLAB_HOME", str(home))
    out = home / "weights"
    card = pretrain.pretrain(TINY, out, progress=False, command="test")
    yield card, out
    mp.undo()


def test_a_tiny_pretraining_writes_a_checkpoint_that_from_pretrained_loads_strictly(tiny_run):
    card, out = tiny_run
    assert (out / "dymn01_synth.pt").is_file() and (out / "dymn01_synth.json").is_file()
    assert not (out / "dymn01_synth.checkpoint.pt").exists()          # removed once finished
    assert card["sha256"] == hashlib.sha256((out / "dymn01_synth.pt").read_bytes()).hexdigest()
    assert card["corpus"]["seed"] == TINY.corpus_seed and card["recipe"]["epochs"] == 2
    assert card["steps"] == 2 * (30 // 8) and 0.0 <= card["eval_mAP"] <= 1.0
    state = torch.load(out / "dymn01_synth.pt", weights_only=True)
    assert state["classifier.5.weight"].shape[0] == 28 and state["classifier.5.weight"].dtype == torch.float16
    model = pretrained.from_pretrained("dymn01_synth", 10, weights_dir=out)
    assert model.classifier[5].out_features == 10 and model.temperature == 1.0
    assert next(model.parameters()).dtype == torch.float32
    reference = DyMN(width_mult=0.1, num_classes=28)
    reference.load_state_dict(state, strict=True)                      # the EfficientAT layout, key for key
    for key, value in model.state_dict().items():
        if not key.startswith("classifier.5"):
            assert torch.equal(value, reference.state_dict()[key].to(value.dtype)), key
    same_head = pretrained.from_pretrained("dymn01_synth", 28, weights_dir=out)
    assert torch.equal(same_head.classifier[5].weight, state["classifier.5.weight"].float())


def test_an_interrupted_pretraining_resumes_to_the_same_weights(tmp_path, monkeypatch, tiny_run):
    _, finished = tiny_run
    calls = {"n": 0}
    real_epoch = pretrain._epoch

    def stop_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(pretrain, "_epoch", stop_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain(TINY, tmp_path, progress=False)
    assert torch.load(tmp_path / "dymn01_synth.checkpoint.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(pretrain, "_epoch", real_epoch)
    card = pretrain.pretrain(TINY, tmp_path, progress=False)
    assert [h["epoch"] for h in card["history"]] == [1, 2]
    resumed = torch.load(tmp_path / "dymn01_synth.pt", weights_only=True)
    uninterrupted = torch.load(finished / "dymn01_synth.pt", weights_only=True)
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_a_checkpoint_of_another_recipe_is_not_resumed(tmp_path):
    torch.save({"format": pretrain.CHECKPOINT_FORMAT, "config": {"width": 9}}, tmp_path / "dymn01_synth.checkpoint.pt")
    with pytest.raises(ValueError, match="another pre-training recipe"):
        pretrain.pretrain(TINY, tmp_path, progress=False)


@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_shipped_checkpoints_match_their_model_cards(name):
    card = pretrained.model_card(name)
    path = pretrained.expected_path(name)
    assert path.parent == pretrained.SHIPPED_DIR
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]
    assert card["architecture"]["width_mult"] == pretrained.SHIPPED[name]
    assert card["command"].startswith("asclab pretrain") and card["wall_seconds"] > 0
    assert card["eval_mAP"] > 0.3                 # well above a random tagger (about the label density)
    model = pretrained.from_pretrained(name, 10)
    assert model.width_mult == pretrained.SHIPPED[name] and model.temperature == 1.0
    assert path.stat().st_size < 2_000_000        # fp16: small enough to ship in the package


def test_teachers_start_from_the_shipped_checkpoint_of_their_width():
    from asclab import profiles

    model, source = registry.build_teacher("model2", profiles.get("demo"))
    assert source == "dymn02_synth"
    shipped = pretrained.from_pretrained("dymn02_synth", 10)
    assert torch.equal(model.in_c[0].weight, shipped.in_c[0].weight)
    assert torch.equal(model.out_c[0].weight, shipped.out_c[0].weight)
    scratch, none = registry.build_teacher("model2", profiles.get("demo"), pretrained=False)
    assert none is None and scratch.temperature == 30.0


def _copy(tiny_run, tmp_path):
    card, out = tiny_run
    for suffix in (".pt", ".json"):
        (tmp_path / f"dymn01_synth{suffix}").write_bytes((out / f"dymn01_synth{suffix}").read_bytes())
    return tmp_path / "dymn01_synth.pt"


def test_a_corrupted_checkpoint_names_the_file(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(path)):
        pretrained.from_pretrained("dymn01_synth", 10, weights_dir=tmp_path)


def test_a_truncated_checkpoint_names_the_file(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    card = json.loads(path.with_suffix(".json").read_text())
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()  # even with a matching card, loading fails
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=str(path)):
        pretrained.from_pretrained("dymn01_synth", 10, weights_dir=tmp_path)


def test_a_checkpoint_of_another_width_names_the_file_and_the_width(tmp_path):
    state = {k: v.half() if v.is_floating_point() else v for k, v in DyMN(0.2, num_classes=28).state_dict().items()}
    path = tmp_path / "dymn01_synth.pt"
    torch.save(state, path)
    card = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "architecture": {"num_classes": 28}}
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=rf"{path}.*width 0\.2"):
        pretrained.from_pretrained("dymn01_synth", 10, weights_dir=tmp_path)


def test_mean_average_precision():
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.7], [0.2, 0.6], [0.1, 0.2]])
    targets = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]])
    # class 0: positives ranked 1 and 3 -> (1/1 + 2/3) / 2; class 1: ranked 1 and 2 -> 1
    assert pretrain.mean_average_precision(scores, targets) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_collapse_is_more_than_half_of_the_clips_in_one_class():
    cm = [[5, 0, 0], [4, 1, 0], [2, 0, 3]]          # column sums 11, 1, 3: 11/15 go to class 0
    assert collapse_share(cm) == (pytest.approx(11 / 15), 0)
    assert is_collapsed({"confusion": cm}) and not is_collapsed([[5, 0], [0, 5]])
    assert not is_collapsed([[5, 0], [5, 0]], share=1.0)
    warnings = collapse_warnings({"a": {"confusion": cm}, "b": {"confusion": [[3, 0], [0, 3]]}})
    assert len(warnings) == 1 and warnings[0].startswith("a has collapsed: 73 %")


def test_pretraining_can_continue_from_a_checkpoint_and_the_card_records_both_stages(tiny_run, tmp_path):
    first, out = tiny_run
    cfg = dataclasses.replace(TINY, epochs=1, init=str(out / "dymn01_synth.pt"), temperature_epochs=0.0)
    card = pretrain.pretrain(cfg, tmp_path, progress=False)
    assert card["continued_from"]["sha256"] == first["sha256"]
    assert card["steps"] == first["steps"] + 30 // 8
    assert card["wall_seconds"] >= first["wall_seconds"]
    assert card["history"][0]["temperature"] == 1.0                  # no annealing again
    wrong = dataclasses.replace(cfg, width=0.2)
    with pytest.raises(ValueError, match="does not fit a width-0.2 DyMN"):
        pretrain.pretrain(wrong, tmp_path / "other", progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        pretrain.resolve_init(str(tmp_path / "missing.pt"))
