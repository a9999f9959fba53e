"""asclab.distill: the KD loss by hand, ensembles, the training hook, and the teacher-logit cache."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import asclab.distill
import asclab.evaluate
from asclab.augment import AugmentConfig
from asclab.data import FINE_TO_COARSE
from asclab.distill import (cached_teacher_logits, ensemble_logits, kd_loss, logits_key, make_kd_hook,
                            soft_targets, state_digest, teacher_agreement)
from asclab.features import FeatureSet, Normalizer
from asclab.train import TrainConfig, train_model
from spies import training_inputs

torch.set_num_threads(1)

# two clips, three classes: small enough to follow on paper
STUDENT = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
TEACHER = torch.tensor([[1.0, 1.0, -2.0], [-1.0, 3.0, 0.5]])


def kd_by_hand(student: torch.Tensor, teacher: torch.Tensor, t: float) -> float:
    """T² · Σ_clips Σ_c p_t (log p_t − log p_s) / B, with plain Python floats."""
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        z_s = sum(math.exp(v / t) for v in s_row)
        z_t = sum(math.exp(v / t) for v in t_row)
        for s, tt in zip(s_row, t_row):
            p_t = math.exp(tt / t) / z_t
            p_s = math.exp(s / t) / z_s
            total += p_t * (math.log(p_t) - math.log(p_s))
    return t * t * total / len(student)


def make_set(n: int, seed: int = 0, name: str = "clip") -> FeatureSet:
    """Random 16x8 'log-mels' whose class raises one bin, so that a tiny model can learn the labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 16, 8, generator=g) + 3.0
    x[torch.arange(n), 0, y] += 2.0
    return FeatureSet(x=x, y=y, y_coarse=torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()]),
                      devices=["a"] * n, filenames=[f"audio/{name}-{seed}-{i}.wav" for i in range(n)],
                      cities=["lisbon"] * n, locations=[f"loc{i % 4}" for i in range(n)])


class TinyNet(nn.Module):
    """conv-BN-ReLU, a mean over time and a linear layer: [B, 1, 16, 8] -> [B, 10]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 16, 10)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x))).mean(dim=3)   # [B, 8, 16, 8] -> [B, 8, 16]
        return self.fc(h.flatten(1))


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet().eval()


def predict_teacher(feature_set, norm) -> torch.Tensor:
    """The logits [N, 10] of a fixed random teacher: a stand-in for a trained DyMN."""
    return asclab.evaluate.predict(tiny_net(seed=5), feature_set, norm)


# --- the KD loss ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [1.0, 3.0])
def test_kd_loss_matches_hand_computation(t):
    expected = kd_by_hand(STUDENT, TEACHER, t)
    assert expected > 0
    assert kd_loss(STUDENT, TEACHER, temperature=t).item() == pytest.approx(expected, rel=1e-5)


def test_kd_loss_temperature_changes_the_value():
    # the T² factor does not make the loss independent of T; only its gradient scale
    assert kd_loss(STUDENT, TEACHER, 1.0).item() != pytest.approx(kd_loss(STUDENT, TEACHER, 3.0).item())


@pytest.mark.parametrize("t", [1.0, 2.0, 3.0])
def test_kd_loss_is_zero_when_student_equals_teacher(t):
    logits = torch.randn(5, 10, generator=torch.Generator().manual_seed(0))
    assert kd_loss(logits.clone(), logits, t).abs().item() < 1e-6
    # a constant shift of a row leaves its softmax unchanged
    assert kd_loss(logits + 4.0, logits, t).abs().item() < 1e-5


def test_kd_loss_gradients_reach_only_the_student():
    student = STUDENT.clone().requires_grad_(True)
    teacher = TEACHER.clone().requires_grad_(True)
    kd_loss(student, teacher, 2.0).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum().item() > 0
    # the gradient of T²·KL w.r.t. the student logits is T·(p_s − p_t)/B
    t = 2.0
    expected = t * (F.softmax(STUDENT / t, -1) - F.softmax(TEACHER / t, -1)) / len(STUDENT)
    torch.testing.assert_close(student.grad, expected)


def test_kd_loss_teacher_probs_path_equals_logits_path():
    t = 3.0
    probs = soft_targets(TEACHER, t)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    by_probs = kd_loss(STUDENT, None, t, teacher_probs=probs)
    torch.testing.assert_close(by_probs, kd_loss(STUDENT, TEACHER, t))
    # teacher_probs wins over teacher_logits when both are given
    torch.testing.assert_close(kd_loss(STUDENT, torch.zeros(2, 3), t, teacher_probs=probs), by_probs)


# --- ensembles ------------------------------------------------------------------------------------------

def test_ensemble_logits_is_the_exact_mean():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[3.0, 0.0], [-1.0, 8.0]])
    c = torch.tensor([[2.0, 1.0], [1.0, 0.0]])
    torch.testing.assert_close(ensemble_logits([a, b, c]), torch.tensor([[2.0, 1.0], [1.0, 4.0]]))
    torch.testing.assert_close(ensemble_logits([a]), a)
    assert ensemble_logits((a.double(), b.double())).dtype == torch.float32


def test_ensemble_logits_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        ensemble_logits([torch.zeros(4, 10), torch.zeros(5, 10)])
    with pytest.raises(ValueError, match="at least one"):
        ensemble_logits([])


def test_teacher_agreement():
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(50, 10, generator=g) for _ in range(3)]
    logits.append(logits[0] * 2.0 + 1.0)             # same arg-max as teacher 0
    agree = teacher_agreement(logits)
    assert agree.shape == (4, 4)
    torch.testing.assert_close(agree.diagonal(), torch.ones(4))
    torch.testing.assert_close(agree, agree.T)
    assert agree[0, 3].item() == 1.0
    by_hand = (logits[0].argmax(-1) == logits[1].argmax(-1)).float().mean()
    torch.testing.assert_close(agree[0, 1], by_hand)
    assert ((agree >= 0) & (agree <= 1)).all()


# --- the training hook ------------------------------------------------------------------------------------

def test_make_kd_hook_without_perm():
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(12, 10, generator=g)
    student = torch.randn(4, 10, generator=g)
    index = torch.tensor([7, 0, 3, 11])
    hook = make_kd_hook(teacher, temperature=2.0, weight=0.25)
    expected = 0.25 * kd_loss(student, teacher[index], 2.0)
    torch.testing.assert_close(hook(student, index), expected)
    torch.testing.assert_close(hook(student, index, None, 1.0), expected)


def test_make_kd_hook_mixes_targets_with_perm():
    g = torch.Generator().manual_seed(2)
    teacher = torch.randn(12, 10, generator=g)
    student = torch.randn(4, 10, generator=g)
    index = torch.tensor([7, 0, 3, 11])
    perm = torch.tensor([2, 3, 0, 1])
    lam, t, w = 0.7, 2.0, 0.5
    p = F.softmax(teacher[index] / t, dim=-1)                    # the batch's soft targets [B, C]
    mixed = lam * p + (1 - lam) * p[perm]
    expected = w * t * t * (mixed * (mixed.log() - F.log_softmax(student / t, -1))).sum() / len(index)
    hook = make_kd_hook(teacher, temperature=t, weight=w)
    torch.testing.assert_close(hook(student, index, perm, lam), expected)
    # lam = 1 ignores the partners
    torch.testing.assert_close(hook(student, index, perm, 1.0), hook(student, index))


def test_kd_training_runs_and_differs_from_labels_only(tmp_path):
    train_set = make_set(64)
    norm = Normalizer().fit(train_set.x)
    teacher = predict_teacher(train_set, norm)
    cfg = TrainConfig(epochs=1, lr=1e-2, batch_size=16, seed=0, progress=False, device="cpu")
    plain = train_model(tiny_net(), train_set, cfg, tmp_path / "plain", norm)
    kd = train_model(tiny_net(), train_set, cfg.replace(label_weight=0.5), tmp_path / "kd", norm,
                     extra_loss=make_kd_hook(teacher, 2.0, 0.5))
    assert math.isfinite(kd.history[-1]["train_loss"])
    assert kd.history[-1]["train_loss"] != pytest.approx(plain.history[-1]["train_loss"])
    assert state_digest(kd.model) != state_digest(plain.model)
    # the same run again is bit-identical: the difference comes from the hook, not from chance
    again = train_model(tiny_net(), train_set, cfg.replace(label_weight=0.5), tmp_path / "kd2", norm,
                        extra_loss=make_kd_hook(teacher, 2.0, 0.5))
    assert state_digest(again.model) == state_digest(kd.model)


def test_kd_student_follows_the_teacher_not_the_labels(tmp_path):
    """A teacher that always says 'the next class': a KD-only student learns it, a label-only one does not."""
    train_set = make_set(64)
    norm = Normalizer().fit(train_set.x)
    wrong = (train_set.y + 1) % 10
    teacher = 6.0 * F.one_hot(wrong, 10).float()
    cfg = TrainConfig(epochs=5, lr=1e-2, batch_size=16, seed=0, progress=False, device="cpu")
    labels_only = train_model(tiny_net(), train_set, cfg, tmp_path / "labels", norm).model
    kd_only = train_model(tiny_net(), train_set, cfg.replace(label_weight=0.0), tmp_path / "kd", norm,
                          extra_loss=make_kd_hook(teacher, 2.0, 1.0)).model
    pred_labels = asclab.evaluate.predict(labels_only, train_set, norm).argmax(-1)
    pred_kd = asclab.evaluate.predict(kd_only, train_set, norm).argmax(-1)
    assert (pred_kd == wrong).float().mean().item() > 0.8
    assert (pred_labels == train_set.y).float().mean().item() > 0.8


def test_kd_hook_receives_mixing_partners_from_train_model(tmp_path):
    """With Mixup on, train_model passes perm and lam; the hook must mix the targets the same way."""
    train_set = make_set(32)
    norm = Normalizer().fit(train_set.x)
    hook = make_kd_hook(predict_teacher(train_set, norm), 2.0, 0.5)
    calls = []

    def spy(fine_logits, batch_index, perm=None, lam=1.0):
        calls.append((perm is not None, float(lam), len(batch_index)))
        return hook(fine_logits, batch_index, perm, lam)

    augment = AugmentConfig(mix="mixup", mix_p=1.0, freq_mask_p=0.0, mixstyle_p=0.0)
    cfg = TrainConfig(epochs=1, lr=1e-2, batch_size=16, augment=augment, seed=0, progress=False, device="cpu")
    result = train_model(tiny_net(), train_set, cfg, tmp_path / "mix", norm, extra_loss=spy)
    assert math.isfinite(result.history[-1]["train_loss"])
    assert len(calls) == 2 and all(mixed for mixed, _, _ in calls)
    assert all(0.5 <= lam <= 1.0 for _, lam, _ in calls)


def test_kd_targets_are_mixed_with_the_partners_of_the_inputs(tmp_path):
    """Through train_model with FMix: the perm and lam the hook receives are those that mixed the batch the
    student saw, and the hook's loss mixes the teacher targets with exactly those partners."""
    train_set = make_set(32)
    norm = Normalizer().fit(train_set.x)
    teacher = predict_teacher(train_set, norm)
    t, w = 2.0, 0.5
    hook = make_kd_hook(teacher, t, w)
    model = tiny_net()
    inputs, calls = training_inputs(model), []

    def spy(fine_logits, batch_index, perm=None, lam=1.0):
        value = hook(fine_logits, batch_index, perm, lam)
        calls.append((batch_index.clone(), perm, lam, fine_logits.detach().clone(), value.detach()))
        return value

    augment = AugmentConfig(mix="fmix", mix_p=1.0, freq_mask_p=0.0, mixstyle_p=0.0)
    cfg = TrainConfig(epochs=2, lr=1e-2, batch_size=16, augment=augment, seed=0, progress=False, device="cpu")
    train_model(model, train_set, cfg, tmp_path / "fmix", norm, extra_loss=spy)
    assert len(inputs) == len(calls) == 4
    for seen, (index, perm, lam, student, value) in zip(inputs, calls):
        x = norm(train_set.x[index])                                 # the batch before mixing
        moved = perm != torch.arange(len(index))
        assert perm is not None and moved.any()
        # FMix: each cell of the mixed batch is the clip's own or its partner's (the mask is 0 or 1)
        own, partners = seen == x, seen == x[perm]
        assert (own | partners).all()
        # one mask for the batch, and lam is its mean
        mask = own[moved]
        assert (mask == mask[:1]).all()
        assert mask[0].float().mean().item() == pytest.approx(lam, abs=1e-6)
        # the KD loss of the hook: T² KL(mixed teacher targets || student), weighted
        p = F.softmax(teacher[index] / t, dim=-1)
        target = lam * p + (1 - lam) * p[perm]
        kl = (target * (target.log() - F.log_softmax(student / t, dim=-1))).sum() / len(index)
        torch.testing.assert_close(value, w * t * t * kl)


# --- the teacher-logit cache --------------------------------------------------------------------------------

@pytest.fixture
def counted_predict(monkeypatch):
    """Count the calls of the predict that cached_teacher_logits uses (asclab.evaluate's)."""
    calls = []
    real = asclab.distill.predict

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(asclab.distill, "predict", counting)
    return calls


def test_cache_computes_once_then_reads_from_disk(tmp_path, counted_predict):
    fs = make_set(24)
    norm = Normalizer().fit(fs.x)
    teacher = tiny_net(seed=3)
    first = cached_teacher_logits(teacher, fs, norm, tmp_path)
    assert counted_predict == [24]
    assert first.shape == (24, 10) and first.dtype == torch.float32
    files = list(tmp_path.glob("logits-*.pt"))
    assert len(files) == 1
    second = cached_teacher_logits(teacher, fs, norm, tmp_path)
    assert counted_predict == [24]                                # not recomputed
    assert torch.equal(first, second)
    # the logits are the teacher's eval-mode predictions
    torch.testing.assert_close(first, asclab.evaluate.predict(teacher, fs, norm))
    # the file is a plain checkpoint: it loads with weights_only
    payload = torch.load(files[0], weights_only=True)
    assert torch.equal(payload["logits"], first)
    assert payload["filenames"] == fs.filenames
    assert payload["key"] == logits_key(teacher, fs, norm)


def test_cache_invalidated_when_the_teacher_changes(tmp_path, counted_predict):
    fs = make_set(24)
    norm = Normalizer().fit(fs.x)
    teacher = tiny_net(seed=3)
    before = cached_teacher_logits(teacher, fs, norm, tmp_path)
    key_before = logits_key(teacher, fs, norm)
    with torch.no_grad():
        teacher.fc.weight[0, 0] += 1.0                          # one weight changes
    assert logits_key(teacher, fs, norm) != key_before
    after = cached_teacher_logits(teacher, fs, norm, tmp_path)
    assert len(counted_predict) == 2
    assert not torch.equal(before, after)
    assert len(list(tmp_path.glob("logits-*.pt"))) == 2
    # a buffer (BN statistics) is part of the teacher too
    digest = state_digest(teacher)
    teacher.bn.running_mean += 0.1
    assert state_digest(teacher) != digest


def test_cache_invalidated_when_the_clips_change(tmp_path, counted_predict):
    fs = make_set(24)
    norm = Normalizer().fit(fs.x)
    teacher = tiny_net(seed=3)
    full = cached_teacher_logits(teacher, fs, norm, tmp_path)
    part = fs.subset(list(range(0, 24, 2)))
    sub = cached_teacher_logits(teacher, part, norm, tmp_path)
    assert counted_predict == [24, 12]
    assert sub.shape == (12, 10)
    torch.testing.assert_close(sub, full[::2])
    assert len(list(tmp_path.glob("logits-*.pt"))) == 2
    # the same clips again, in a new FeatureSet object: read from disk
    cached_teacher_logits(teacher, fs.subset(slice(None)), norm, tmp_path)
    assert counted_predict == [24, 12]


def test_cache_invalidated_when_the_normalizer_or_features_change(tmp_path, counted_predict):
    fs = make_set(24)
    norm = Normalizer().fit(fs.x)
    teacher = tiny_net(seed=3)
    base = cached_teacher_logits(teacher, fs, norm, tmp_path)
    other_norm = Normalizer().fit(fs.x * 2.0 + 1.0)
    changed = cached_teacher_logits(teacher, fs, other_norm, tmp_path)
    assert len(counted_predict) == 2
    assert not torch.equal(base, changed)
    # a refitted normalizer with the same statistics shares the cache
    cached_teacher_logits(teacher, fs, Normalizer().fit(fs.x), tmp_path)
    assert len(counted_predict) == 2
    # other feature settings (the caller's feature_key) give another entry
    cached_teacher_logits(teacher, fs, norm, tmp_path, feature_key="hop-500")
    assert len(counted_predict) == 3
    assert len(list(tmp_path.glob("logits-*.pt"))) == 3


def test_cache_recomputes_a_file_that_does_not_match(tmp_path, counted_predict):
    """A file under the right name but with the wrong content (e.g. copied by hand) is not trusted."""
    fs = make_set(24)
    norm = Normalizer().fit(fs.x)
    teacher = tiny_net(seed=3)
    key = logits_key(teacher, fs, norm)
    torch.save({"key": "something-else", "logits": torch.zeros(24, 10), "filenames": fs.filenames},
               tmp_path / f"logits-{key}.pt")
    logits = cached_teacher_logits(teacher, fs, norm, tmp_path)
    assert len(counted_predict) == 1
    assert logits.abs().sum().item() > 0
    assert torch.load(tmp_path / f"logits-{key}.pt", weights_only=True)["key"] == key

