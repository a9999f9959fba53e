"""The paper's named configurations resolve, build and run; profiles scale only the teacher width."""
import pytest
import torch

from asclab import paper, profiles
from asclab.models import registry
from asclab.models.hierarchy import TwoBranch


@pytest.mark.parametrize("name", registry.NAMES)
def test_every_registry_entry_builds_and_runs(name):
    torch.manual_seed(0)
    model = registry.build(name, profiles.get("smoke")).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 256, 64))
    if name in registry.TEACHERS and registry.teacher(name).hierarchy == "tb":
        assert isinstance(model, TwoBranch)
        assert out[0].shape == (2, 10) and out[1].shape == (2, 3)
    else:
        assert out.shape == (2, 10)
        assert torch.isfinite(out).all()


def test_teacher_widths_follow_the_profile():
    assert registry.teacher_width("model2") == 2.0
    assert registry.teacher_width("model2", profiles.get("paper")) == 2.0
    assert registry.teacher_width("model1", profiles.get("demo")) == 0.1
    assert registry.teacher_width("model2", profiles.get("demo")) == 0.2
    assert registry.pretrained_name(0.4) == "dymn04_as" and registry.pretrained_name(0.2) is None


def test_systems_name_existing_teachers_and_students():
    assert registry.system("system1").teachers == ("model1", "model2")
    assert registry.system("system2").hierarchy == "ob"
    assert set(registry.system("system3").teachers) == set(registry.TEACHERS)
    for p in profiles.PROFILES.values():
        assert set(p.teachers) <= set(registry.TEACHERS) and set(p.systems) <= set(registry.SYSTEMS)
        for s in p.systems:   # every profile trains the teachers its systems need
            assert set(registry.system(s).teachers) <= set(p.teachers)


def test_student_sizes():
    assert sum(p.numel() for p in registry.build("system1").parameters()) == 126_952
    assert sum(p.numel() for p in registry.build("baseline").parameters()) == 61_148


def test_unknown_names_say_what_exists():
    with pytest.raises(ValueError, match="model1"):
        registry.build("model7")
    with pytest.raises(ValueError, match="smoke, demo, full, paper"):
        profiles.get("fast")


def test_teacher_starts_from_an_efficientat_checkpoint_when_present(tmp_path):
    """The pre-trained path of notebook 03: a checkpoint in the EfficientAT layout under the expected name."""
    from asclab.models import pretrained
    from asclab.models.dymn import DyMN

    torch.manual_seed(1)
    released = DyMN(width_mult=0.4, num_classes=527).state_dict()     # EfficientAT saves a plain state dict
    torch.save(released, pretrained.expected_path("dymn04_as", tmp_path))
    profile = profiles.get("demo").replace(teacher_widths={1.0: 0.4, 2.0: 0.4})
    model, source = registry.build_teacher("model1", profile, weights_dir=tmp_path)
    assert source == "dymn04_as" and model.temperature == 1.0
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in released.items() if not k.startswith("classifier.5"))
    assert loaded["classifier.5.weight"].shape == (10, released["classifier.5.weight"].shape[1])
    # without the file the same call falls back to random initialisation, and says so
    model, source = registry.build_teacher("model1", profile, weights_dir=tmp_path / "empty")
    assert source is None


def test_teachers_use_a_batchnorm_momentum_that_converges_in_short_runs():
    """From scratch or from a checkpoint, a short run's BatchNorm statistics must follow the scene data."""
    for pretrained in (False, True):
        model, source = registry.build_teacher("model1", profiles.get("smoke"), weights_dir="/nonexistent",
                                               pretrained=pretrained)
        assert source == ("dymn01_synth" if pretrained else None)
        assert {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
