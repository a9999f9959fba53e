"""asclab.evaluate: the DCASE metric and its breakdowns, checked against counts done by hand."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from asclab import evaluate as ev
from asclab.data import FINE_TO_COARSE, SCENES
from asclab.features import FeatureSet


def make_set(y, devices, x=None):
    y = torch.as_tensor(y, dtype=torch.long)
    n = len(y)
    x = torch.randn(n, 1, 16, 8) if x is None else x
    y_coarse = torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()], dtype=torch.long)
    return FeatureSet(x=x, y=y, y_coarse=y_coarse, devices=list(devices), filenames=[f"audio/{i}.wav" for i in range(n)],
                      cities=["lisbon"] * n, locations=["loc"] * n)


# unbalanced: 6 clips of class 0, 2 of class 1, 2 of class 2; classes 3..9 absent
Y_TRUE = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 0, 0, 0, 0, 0, 2, 1]


def test_macro_accuracy_by_hand_differs_from_micro():
    # class 0: 6/6, class 1: 0/2, class 2: 1/2 -> macro (1 + 0 + 0.5) / 3 = 0.5; micro 7/10
    assert ev.macro_class_accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.5)
    assert ev.accuracy(Y_TRUE, Y_PRED) == pytest.approx(0.7)
    per_class = ev.per_class_accuracy(Y_TRUE, Y_PRED)
    assert per_class[:3] == [1.0, 0.0, 0.5]
    assert all(math.isnan(a) for a in per_class[3:])        # absent classes: undefined, left out of the mean


def test_metrics_accept_tensors_and_logits():
    logits = torch.nn.functional.one_hot(torch.tensor(Y_PRED), 10).float() * 5.0
    assert ev.macro_class_accuracy(torch.tensor(Y_TRUE), logits) == pytest.approx(0.5)
    assert ev.macro_class_accuracy(np.array(Y_TRUE), np.array(Y_PRED), n_classes=3) == pytest.approx(0.5)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="labels"):
        ev.macro_class_accuracy([0, 1], [0])


def test_accuracy_by_device_and_groups():
    y_true = [0, 1, 0, 1, 0, 1, 0, 1]
    y_pred = [0, 1, 0, 0, 1, 1, 1, 0]
    devices = ["a", "a", "b", "b", "s1", "s1", "s4", "s4"]
    by_device = ev.accuracy_by(y_true, y_pred, devices)
    assert by_device == {"a": 1.0, "b": 0.5, "s1": 0.5, "s4": 0.0}
    micro = ev.accuracy_by(y_true, y_pred, devices, macro=False)
    assert micro["b"] == 0.5
    groups = ev.per_device_group_accuracy(y_true, y_pred, devices)
    # real pools a and b: class 0 2/2, class 1 1/2 -> 0.75
    assert groups == {"real": 0.75, "seen": 0.5, "unseen": 0.0}
    with pytest.raises(ValueError, match="unknown device"):
        ev.per_device_group_accuracy([0], [0], ["phone"])


def test_accuracy_by_macro_differs_from_micro_within_a_device():
    y_true, y_pred, devices = [0, 0, 0, 1], [0, 0, 0, 0], ["a"] * 4
    assert ev.accuracy_by(y_true, y_pred, devices)["a"] == pytest.approx(0.5)             # (1 + 0) / 2
    assert ev.accuracy_by(y_true, y_pred, devices, macro=False)["a"] == pytest.approx(0.75)


def test_coarse_accuracy_maps_fine_predictions():
    metro, tram, park, airport = (SCENES.index(s) for s in ("metro", "tram", "park", "airport"))
    y_fine = [metro, metro, park, airport]
    y_pred = [tram, park, park, park]                     # tram is transportation too: right group
    y_coarse = [FINE_TO_COARSE[i] for i in y_fine]        # transportation, transportation, outdoor, indoor
    assert ev.coarse_accuracy(y_coarse, y_pred, macro=False) == pytest.approx(2 / 4)
    # per coarse class: transportation 1/2, outdoor 1/1, indoor 0/1 -> 0.5
    assert ev.coarse_accuracy(y_coarse, y_pred) == pytest.approx(0.5)


def test_confusion_counts_rows_true_columns_predicted():
    cm = ev.confusion_matrix(Y_TRUE, Y_PRED, 10)
    assert cm.shape == (10, 10) and cm.sum() == 10
    assert cm[0, 0] == 6 and cm[1, 0] == 2 and cm[2, 2] == 1 and cm[2, 1] == 1
    with pytest.raises(ValueError, match="0..2"):
        ev.confusion_matrix([0, 3], [0, 1], 3)


def test_within_between_and_coarse_confusion():
    metro, tram, bus, park = (SCENES.index(s) for s in ("metro", "tram", "bus", "park"))
    cm = np.zeros((10, 10), dtype=np.int64)
    cm[metro, metro] = 5
    cm[metro, tram] = 3     # within transportation
    cm[bus, metro] = 1      # within transportation
    cm[metro, park] = 2     # between transportation and outdoor
    assert ev.within_between_errors(cm) == (4, 2)
    ccm = ev.coarse_confusion(cm)
    t, o = FINE_TO_COARSE[metro], FINE_TO_COARSE[park]
    assert ccm.shape == (3, 3) and ccm.sum() == cm.sum()
    assert ccm[t, t] == 9 and ccm[t, o] == 2


def test_evaluate_report_is_complete_and_json_serialisable():
    y_true = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    logits = torch.nn.functional.one_hot(torch.tensor(Y_PRED), 10).float()
    devices = ["a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6", "a"]
    report = ev.evaluate(logits, make_set(y_true, devices))
    expected = {"macro_acc", "acc", "per_class", "per_device", "per_group", "coarse_acc", "confusion",
                "coarse_confusion", "errors_within_group", "errors_between_groups", "n"}
    assert expected <= set(report)
    assert report["macro_acc"] == pytest.approx(0.5) and report["acc"] == pytest.approx(0.7)
    assert report["per_class"]["airport"] == 1.0 and report["per_class"]["tram"] is None
    assert set(report["per_group"]) == {"real", "seen", "unseen"}
    assert report["n"] == 10
    # errors: bus -> airport twice (transportation vs indoor: between), metro -> bus once (within)
    assert (report["errors_within_group"], report["errors_between_groups"]) == (1, 2)
    json.dumps(report, allow_nan=False)                    # strict JSON: no NaN anywhere


class TupleModel(nn.Module):
    """Stands in for a TwoBranch model: returns (fine [B, 10], coarse [B, 3])."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16 * 8, 10)
        self.coarse = nn.Linear(16 * 8, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = self.drop(x.flatten(1))
        return self.fc(h), self.coarse(h)


def test_predict_batches_eval_mode_and_tuple_outputs():
    torch.manual_seed(0)
    fs = make_set(torch.arange(23) % 10, ["a"] * 23)
    model = TupleModel().train()
    small = ev.predict(model, fs, normalizer=None, batch_size=4)
    large = ev.predict(model, fs, normalizer=lambda x: x, batch_size=256)
    assert small.shape == (23, 10)
    torch.testing.assert_close(small, large)               # eval mode: dropout off, batch size irrelevant
    assert model.training                                   # mode restored


def test_export_and_load_logits_round_trip(tmp_path):
    fs = make_set(torch.arange(5), ["a", "b", "c", "s1", "s4"])
    logits = torch.randn(5, 10)
    path = ev.export_logits(tmp_path / "logits.pt", logits, fs)
    loaded = ev.load_logits(path)
    torch.testing.assert_close(loaded["logits"], logits)
    assert loaded["filenames"] == fs.filenames and loaded["devices"] == fs.devices
    assert torch.equal(loaded["y"], fs.y)
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match="logits"):
        ev.export_logits(tmp_path / "bad.pt", torch.randn(4, 10), fs)
