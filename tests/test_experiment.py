"""The workspace: where data comes from, and that runs are shared instead of retrained."""
import pytest
import torch

from asclab import profiles
from asclab.experiment import Run, resolve_data_dir


def test_paper_profile_needs_real_data():
    with pytest.raises(ValueError, match="DATA_DIR"):
        resolve_data_dir(profiles.get("paper"), None)


def test_explicit_data_dir_is_used_as_given(tmp_path):
    assert resolve_data_dir(profiles.get("paper"), tmp_path) == tmp_path


def test_teachers_without_audioset_weights_are_labelled():
    model = torch.nn.Linear(1, 1)
    assert Run("model1", 25, model, {"macro_acc": 0.5}, [], None).label == "model1 (not pre-trained)"
    assert Run("model1", 25, model, {"macro_acc": 0.5}, [], None, pretrained_from="dymn10_as").label == "model1"
    assert Run("system1", 25, model, {"macro_acc": 0.5}, [], None).label == "system1"
