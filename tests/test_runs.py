"""asclab.runs: run keys that see the whole configuration, finished runs loaded not retrained, tables."""
import ast
import json
import math
from pathlib import Path

import pytest
import torch
import workspaces
from torch import nn

from asclab import runs
from asclab.augment import AugmentConfig
from asclab.data import FINE_TO_COARSE
from asclab.features import FeatureSet, Normalizer
from asclab.models.cpmobile import CPMobile
from asclab.models.dymn import DyMN
from asclab.models.hierarchy import TwoBranch
from asclab.runs import architecture, per_split_table, run_key, run_or_load
from asclab.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def make_set(n: int, seed: int) -> FeatureSet:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 16, 8, generator=g)
    x[torch.arange(n), 0, y] += 2.0                       # [N, 1, 16, 8]: the class shifts one bin
    return FeatureSet(x=x, y=y, y_coarse=torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()]),
                      devices=["a"] * n, filenames=[f"audio/{seed}-{i}.wav" for i in range(n)],
                      cities=["lisbon"] * n, locations=["loc0"] * n)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))   # [B, 1, F, T] -> [B, 10]


def cfg(**changes) -> TrainConfig:
    base = {"epochs": 1, "lr": 3e-3, "batch_size": 8, "augment": AugmentConfig(mix="fmix"), "progress": False}
    return TrainConfig(**{**base, **changes})


@pytest.fixture
def count_training(monkeypatch):
    """Counts the calls of train_model that run_or_load makes (the real training still runs)."""
    return workspaces.count_training(monkeypatch)


# --- run_or_load -------------------------------------------------------------------------------------------

def test_run_or_load_reuses_a_finished_run_and_retrains_on_a_new_key(tmp_path, count_training):
    train_set, test_set = make_set(24, 1), make_set(10, 2)
    norm = Normalizer().fit(train_set.x)
    first = run_or_load(tiny_model(), train_set, cfg(), tmp_path, norm, test_set=test_set, description="tiny")
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["key"] == cfg().key() and info["status"] == "finished" and info["description"] == "tiny"
    assert len(count_training) == 1

    again = run_or_load(tiny_model(seed=9), train_set, cfg(), tmp_path, norm, test_set=test_set)
    assert len(count_training) == 1 and again.loaded
    assert again.metrics == json.loads(json.dumps(first.metrics))
    for k, v in first.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[k], v), k      # the weights came from disk, not seed 9

    changed = run_or_load(tiny_model(), train_set, cfg(lr=1e-2), tmp_path, norm, test_set=test_set)
    assert len(count_training) == 2 and not changed.loaded
    assert json.loads((tmp_path / "run.json").read_text())["key"] == cfg(lr=1e-2).key()


def test_an_unfinished_run_is_not_loaded(tmp_path):
    train_set = make_set(24, 1)
    norm = Normalizer().fit(train_set.x)
    run_or_load(tiny_model(), train_set, cfg(), tmp_path, norm, key="k1")
    info = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**info, "status": "running"}))
    assert runs.load_finished_run(tiny_model(), tmp_path, "k1") is None
    (tmp_path / "run.json").write_text(json.dumps(info))
    assert runs.load_finished_run(tiny_model(), tmp_path, "k2") is None
    assert runs.load_finished_run(tiny_model(), tmp_path, "k1").loaded


# --- run keys --------------------------------------------------------------------------------------------

def test_run_key_is_stable_and_sees_config_architecture_data_and_extra():
    def key(name="model1", split=25, config=None, model=None, data_key="d1", **extra):
        return run_key(name, split, config or cfg(), model or DyMN(0.1, 10), data_key, **extra)

    base = key(pretrained_from=None)
    assert key(pretrained_from=None) == base                            # the same configuration, the same key
    assert key(config=cfg(device="cpu", progress=True, eval_every=0), pretrained_from=None) == base
    others = {
        "name": key(name="model2", pretrained_from=None),
        "split": key(split=100, pretrained_from=None),
        "DyMN width": key(model=DyMN(0.2, 10), pretrained_from=None),
        "num_classes": key(model=DyMN(0.1, 527), pretrained_from=None),
        "two branches": key(model=TwoBranch(DyMN(0.1, 10)), pretrained_from=None),
        "label_weight": key(config=cfg(label_weight=0.5), pretrained_from=None),
        "hierarchy": key(config=cfg(hierarchy="ob"), pretrained_from=None),
        "hierarchy weight": key(config=cfg(hierarchy="ob", hierarchy_weight=0.5), pretrained_from=None),
        "augmentation": key(config=cfg(augment=AugmentConfig(mix="mixup")), pretrained_from=None),
        "data": key(data_key="d2", pretrained_from=None),
        "checkpoint": key(pretrained_from="dymn01_synth"),
        "KD temperature": key(pretrained_from=None, kd_temperature=3.0),
    }
    assert base not in others.values()
    assert len(set(others.values())) == len(others), others


def test_architecture_ignores_the_weights_but_sees_every_layer_setting():
    assert architecture(DyMN(0.1, 10)) == architecture(DyMN(0.1, 10))    # other random weights
    assert architecture(CPMobile(32, 2.3, 3, 10)) != architecture(CPMobile(32, 2.3, 2, 10))
    assert architecture(CPMobile()) != architecture(CPMobile(use_grn=False))
    momentum = CPMobile()
    for m in momentum.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.01
    assert architecture(momentum) != architecture(CPMobile())


def test_the_trainer_never_imports_the_run_cache():
    tree = ast.parse((REPO / "asclab" / "train.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 for a in n.names}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "asclab.evaluate" in imported                    # the walk does find train.py's imports
    assert "asclab.runs" not in imported, sorted(imported)


# --- tables ----------------------------------------------------------------------------------------------

def test_per_split_table_layout():
    rows = [
        {"config": "model1", "split": 25, "macro_acc": 0.50},
        {"config": "model1", "split": 100, "macro_acc": 0.60},
        {"config": "model2", "split": 25, "macro_acc": 0.40},
        {"config": "model2", "split": 25, "macro_acc": 0.60},      # a second seed: averaged
        {"config": "model2", "split": 100, "macro_acc": 0.70},
        {"config": "baseline", "split": 100, "macro_acc": 0.30},   # split 25 missing
    ]
    table = per_split_table(rows)
    assert list(table.columns) == ["25%", "100%", "avg"]
    assert list(table.index) == ["model1", "model2", "baseline"]
    assert table.loc["model1", "avg"] == pytest.approx(55.0)
    assert table.loc["model2", "25%"] == pytest.approx(50.0)
    assert math.isnan(table.loc["baseline", "avg"])
    same = per_split_table({"model1": {25: 0.5, 100: 0.6}})
    assert same.loc["model1", "avg"] == pytest.approx(55.0)
