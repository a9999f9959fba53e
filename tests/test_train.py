"""asclab.train: the epoch loop, checkpoints and bit-exact resume, determinism, the NaN guard."""
import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asclab import storage
from asclab import train as tr
from asclab.augment import AugmentConfig
from asclab.data import FINE_TO_COARSE
from asclab.features import FeatureSet, Normalizer
from asclab.train import Generators, NonFiniteLossError, Stopwatch, TrainConfig, train_epoch, train_model
from spies import training_inputs

N_TRAIN, N_TEST = 40, 20


def make_set(n: int, seed: int) -> FeatureSet:
    """Random 16x8 'log-mels' whose class shifts the mean of a few bins, so there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.randn(n, 1, 16, 8, generator=g) + 3.0
    x[torch.arange(n), 0, y] += 2.0
    devices = ["a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6"]
    return FeatureSet(x=x, y=y, y_coarse=torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()]),
                      devices=[devices[i % 9] for i in range(n)],
                      filenames=[f"audio/{seed}-{i}.wav" for i in range(n)],
                      cities=["lisbon"] * n, locations=[f"loc{i % 4}" for i in range(n)])


class TinyCNN(nn.Module):
    """Two convolutions, BatchNorm and dropout: enough state to make a resume bug visible."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, n_classes)
        self.embedding_dim = 8

    def forward_with_embedding(self, x):
        h = torch.relu(self.bn(self.conv1(x)))            # [B, 1, 16, 8] -> [B, 4, 16, 8]
        h = torch.relu(self.conv2(h)).mean(dim=(2, 3))    # -> [B, 8]
        return self.fc(self.drop(h)), h

    def forward(self, x):
        return self.forward_with_embedding(x)[0]


def new_model(seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN()


@pytest.fixture(scope="module")
def data():
    train_set, test_set = make_set(N_TRAIN, 1), make_set(N_TEST, 2)
    return train_set, test_set, Normalizer().fit(train_set.x)


def cfg(**changes) -> TrainConfig:
    base = dict(epochs=3, lr=3e-3, batch_size=8, warmup_epochs=1, augment=AugmentConfig(mix="fmix"), seed=0,
                progress=False)
    return TrainConfig(**{**base, **changes})


def assert_same_weights(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k].cpu(), sb[k].cpu()), k


def without_seconds(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


# --- the epoch loop -------------------------------------------------------------------------------------

def test_one_epoch_by_hand_is_one_epoch_of_train_model(tmp_path, data):
    """train_epoch is the loop train_model runs: the same set-up by hand gives the same weights, bit for
    bit."""
    train_set, _, norm = data
    config = cfg(epochs=1)                             # FMix + Freq-MixStyle + masking, dropout, warm-up
    reference = train_model(new_model(), train_set, config, tmp_path, norm)

    model = new_model()
    steps = math.ceil(N_TRAIN / config.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: tr.lr_factor(step, steps, steps))
    tr.seed_everything(config.seed)                    # dropout draws from torch's global generator
    model.train()
    stopwatch = Stopwatch()
    losses = train_epoch(model, train_set, norm, optimizer, scheduler, config, Generators.seeded(config.seed),
                         stopwatch=stopwatch)
    assert len(losses) == steps and all(math.isfinite(v) for v in losses)
    assert_same_weights(reference.model, model)
    assert reference.history[0]["train_loss"] == pytest.approx(sum(losses) / steps, rel=1e-12)
    assert reference.history[0]["lr"] == config.lr * tr.lr_factor(steps - 1, steps, steps)   # the last batch
    assert set(stopwatch.seconds) == {"data", "augment", "model"} and stopwatch.seconds["model"] > 0


def test_train_epoch_passes_the_epoch_to_error_messages(data):
    train_set, _, norm = data
    torch.manual_seed(0)
    model = NaNAtStep(k=2)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    with pytest.raises(NonFiniteLossError, match=r"epoch 3/3, step 2/5"):
        train_epoch(model, train_set, norm, optimizer, scheduler, cfg(augment=None), Generators.seeded(0),
                    epoch=2)


# --- files and history -------------------------------------------------------------------------------

def test_run_writes_history_model_and_metrics(tmp_path, data):
    train_set, test_set, norm = data
    result = train_model(new_model(), train_set, cfg(eval_every=2), tmp_path, norm, test_set=test_set)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert all({"train_loss", "lr", "seconds"} <= set(h) for h in history)
    assert [("test_macro_acc" in h) for h in history] == [False, True, True]   # every 2nd and the last
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics)) and metrics["n"] == N_TEST
    state = storage.load_checkpoint(tmp_path / "model.pt")                       # weights_only
    for k, v in result.model.state_dict().items():
        assert torch.equal(state[k], v.cpu())
    assert not (tmp_path / "checkpoint.pt").exists()                             # removed once finished
    assert not list(tmp_path.glob(".*.tmp"))                             # atomic writes leave no debris
    assert set(result.timing) >= {"data", "augment", "model"} and result.timing["model"] > 0
    assert result.best["epoch"] in (2, 3)


def test_warmup_then_cosine_schedule():
    assert tr.lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert tr.lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert tr.lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert tr.lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert tr.lr_factor(99, 100, 10) < 0.01
    assert tr.lr_factor(99, 100, 10, "constant") == 1.0


# --- determinism and resume ---------------------------------------------------------------------------

def test_same_seed_same_result_other_seed_differs(tmp_path, data):
    train_set, test_set, norm = data
    a = train_model(new_model(), train_set, cfg(epochs=2), tmp_path / "a", norm, test_set=test_set)
    b = train_model(new_model(), train_set, cfg(epochs=2), tmp_path / "b", norm, test_set=test_set)
    c = train_model(new_model(), train_set, cfg(epochs=2, seed=1), tmp_path / "c", norm, test_set=test_set)
    assert_same_weights(a.model, b.model)
    assert a.metrics == b.metrics and without_seconds(a.history) == without_seconds(b.history)
    assert without_seconds(a.history) != without_seconds(c.history)


class Crash(Exception):
    pass


def crash_after(monkeypatch, n_steps: int):
    """Patch the training step so that the run 'crashes' when it reaches step ``n_steps + 1``."""
    real_step, calls = tr.train_step, {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_steps:
            raise Crash("simulated power cut")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(tr, "train_step", step)
    return calls


def test_resume_after_crash_is_bit_exact(tmp_path, data, monkeypatch):
    train_set, test_set, norm = data
    config = cfg()                                     # FMix + Freq-MixStyle + frequency masking, dropout
    reference = train_model(new_model(), train_set, config, tmp_path / "ref", norm, test_set=test_set)

    steps_per_epoch = math.ceil(N_TRAIN / config.batch_size)
    with monkeypatch.context() as m:
        crash_after(m, steps_per_epoch + 2)            # dies in the middle of epoch 2
        with pytest.raises(Crash):
            train_model(new_model(), train_set, config, tmp_path / "run", norm, test_set=test_set)
    ckpt = storage.load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert not (tmp_path / "run" / "model.pt").exists()

    # a different initialisation proves that the weights come from the checkpoint
    resumed = train_model(new_model(seed=123), train_set, config, tmp_path / "run", norm, test_set=test_set)
    assert resumed.resumed_from == 1
    assert_same_weights(reference.model, resumed.model)
    assert resumed.metrics == reference.metrics
    assert without_seconds(resumed.history) == without_seconds(reference.history)


def test_checkpoint_of_another_config_is_refused(tmp_path, data, monkeypatch):
    train_set, _, norm = data
    with monkeypatch.context() as m:
        crash_after(m, 6)
        with pytest.raises(Crash):
            train_model(new_model(), train_set, cfg(), tmp_path, norm)
    with pytest.raises(ValueError, match="another run"):
        train_model(new_model(), train_set, cfg(lr=1e-2), tmp_path, norm)
    fresh = train_model(new_model(), train_set, cfg(lr=1e-2, epochs=1), tmp_path, norm, resume=False)
    assert fresh.resumed_from is None


# --- the NaN guard ------------------------------------------------------------------------------------

class NaNAtStep(TinyCNN):
    """Its output turns NaN at training call number ``k`` (eval calls do not count)."""

    def __init__(self, k: int):
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x):
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls == self.k:
                out = out * float("nan")
        return out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, data):
    train_set, test_set, norm = data
    torch.manual_seed(0)
    model = NaNAtStep(k=7)                              # 5 steps per epoch: step 2 of epoch 2
    with pytest.raises(NonFiniteLossError, match=r"epoch 2/3, step 2/5") as info:
        train_model(model, train_set, cfg(augment=None), tmp_path, norm, test_set=test_set)
    assert "checkpoint of epoch 1" in str(info.value)
    assert isinstance(info.value, FloatingPointError)
    ckpt = storage.load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "metrics.json").exists()
    assert len(json.loads((tmp_path / "history.json").read_text())) == 1


def test_nan_in_first_epoch_says_no_checkpoint(tmp_path, data):
    train_set, _, norm = data
    torch.manual_seed(0)
    with pytest.raises(NonFiniteLossError, match="no checkpoint"):
        train_model(NaNAtStep(k=1), train_set, cfg(augment=None), tmp_path, norm)
    assert not (tmp_path / "checkpoint.pt").exists()


class InfWeightAtStep(TinyCNN):
    """At training call ``k`` it writes inf into a weight that the output does not use: the loss stays
    finite, so only the end-of-epoch check of the weights can notice."""

    def __init__(self, k: int):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(3))
        self.k, self.calls = k, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.k:
                with torch.no_grad():
                    self.unused[1] = float("inf")
        return super().forward(x)


def test_non_finite_weights_stop_the_run_after_the_epoch(tmp_path, data):
    train_set, test_set, norm = data
    torch.manual_seed(0)
    model = InfWeightAtStep(k=7)                        # 5 steps per epoch: during epoch 2
    with pytest.raises(NonFiniteLossError, match=r"weights became NaN or infinite during epoch 2/3") as info:
        train_model(model, train_set, cfg(augment=None), tmp_path, norm, test_set=test_set)
    assert "checkpoint of epoch 1 is kept" in str(info.value)
    assert model.calls == 10                            # epoch 2 ran to its end, epoch 3 never started
    ckpt = storage.load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 1 and torch.equal(ckpt["model"]["unused"].cpu(), torch.zeros(3))
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("where", ["model output", "extra loss"])
def test_non_finite_loss_stops_before_backward(where):
    """One good step first, so that gradients and Adam's moments exist; then a NaN loss must leave the
    weights, the gradients and the optimizer state exactly as the good step left them."""
    torch.manual_seed(0)
    model = NaNAtStep(k=2 if where == "model output" else 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    y = torch.arange(8)
    batch = tr.Batch(torch.randn(8, 1, 16, 8), y, y, 1.0, None, torch.arange(8))
    config = cfg(augment=None)
    tr.train_step(model, batch, optimizer, config)
    weights = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    steps = [optimizer.state[p]["step"].clone() for p in model.parameters()]

    def nan_loss(fine_logits, batch_index, perm, lam):
        return fine_logits.sum() * float("nan")

    extra = nan_loss if where == "extra loss" else None
    with pytest.raises(NonFiniteLossError, match="at step 2 of the test"):
        tr.train_step(model, batch, optimizer, config, extra, where="step 2 of the test")
    for p, w, g, step in zip(model.parameters(), weights, grads, steps):
        assert torch.equal(p, w)
        assert p.grad is None or torch.equal(p.grad, g)    # no backward() of the NaN loss
        assert torch.equal(optimizer.state[p]["step"], step)


# --- hooks, hierarchy, temperature ------------------------------------------------------------------

def test_extra_loss_sees_dataset_indices_perm_and_lam(tmp_path, data):
    train_set, _, norm = data
    seen = []

    def extra_loss(fine_logits, batch_index, perm, lam):
        seen.append((batch_index.clone(), perm, lam))
        assert fine_logits.shape == (len(batch_index), 10)
        return fine_logits.sum() * 0.0

    train_model(new_model(), train_set, cfg(epochs=1), tmp_path, norm, extra_loss=extra_loss)
    covered = torch.cat([s[0] for s in seen]).sort().values
    assert torch.equal(covered, torch.arange(N_TRAIN))          # each clip once per epoch
    assert any(p is not None for _, p, _ in seen) and all(isinstance(lam, float) for *_, lam in seen)


def test_extra_loss_gets_the_perm_and_lam_that_mixed_the_batch(tmp_path, data):
    """Distillation mixes the teacher targets with the perm and lam it is given: they must be the ones that
    mixed the inputs. With Mixup alone, the batch the model saw is lam * x + (1 - lam) * x[perm]."""
    train_set, _, norm = data
    model = new_model()
    inputs, hook_calls = training_inputs(model), []

    def extra_loss(fine_logits, batch_index, perm, lam):
        hook_calls.append((batch_index.clone(), None if perm is None else perm.cpu(), lam))
        return fine_logits.sum() * 0.0

    mixup_only = AugmentConfig(mix="mixup", mix_p=1.0, freq_mask_p=0.0, mixstyle_p=0.0)
    train_model(model, train_set, cfg(epochs=2, augment=mixup_only), tmp_path, norm, extra_loss=extra_loss)
    assert len(inputs) == len(hook_calls) == 10
    for seen, (index, perm, lam) in zip(inputs, hook_calls):
        x = norm(train_set.x[index])                             # the batch before mixing
        assert perm is not None and sorted(perm.tolist()) == list(range(len(index)))
        assert 0.5 <= lam <= 1.0
        torch.testing.assert_close(seen, lam * x + (1.0 - lam) * x[perm])
        other = perm.roll(1)                                     # the control: other partners do not fit
        assert not torch.allclose(seen, lam * x + (1.0 - lam) * x[other])


class TwoHeads(TinyCNN):
    def __init__(self):
        super().__init__()
        self.coarse = nn.Linear(8, 3)

    def forward(self, x):
        fine, h = self.forward_with_embedding(x)
        return fine, self.coarse(h)


@pytest.mark.parametrize("mode", ["ob", "tb"])
def test_hierarchical_modes_train(tmp_path, data, mode):
    train_set, test_set, norm = data
    results = {}
    for hierarchy in (mode, "none"):                  # the same model, data and seed; only the loss differs
        torch.manual_seed(0)
        model = TwoHeads() if mode == "tb" else TinyCNN()
        results[hierarchy] = train_model(model, train_set, cfg(epochs=1, hierarchy=hierarchy),
                                         tmp_path / hierarchy, norm, test_set=test_set)
    result = results[mode]
    assert math.isfinite(result.history[0]["train_loss"]) and result.metrics["n"] == N_TEST
    # the coarse term adds about w * ln 3 = 1.1 to the loss of an untrained model
    assert result.history[0]["train_loss"] > results["none"].history[0]["train_loss"] + 0.5


def loss_by_hand(output, y: torch.Tensor, mode: str, weight: float) -> torch.Tensor:
    """Per-clip loss [B]: CE on the fine logits plus weight * the coarse term of the OB or TB loss."""
    fine = output[0] if isinstance(output, tuple) else output
    y_coarse = torch.tensor([FINE_TO_COARSE[i] for i in y.tolist()])
    if mode == "ob":                                  # coarse probability: the sum of the group's fine ones
        probs = fine.softmax(dim=1)
        members = [[c for c in range(10) if FINE_TO_COARSE[c] == g] for g in range(3)]
        group = torch.stack([probs[:, m].sum(dim=1) for m in members], dim=1)
        coarse = -group[torch.arange(len(y)), y_coarse].log()
    else:                                             # the second head's own cross-entropy
        coarse = F.cross_entropy(output[1], y_coarse, reduction="none")
    return F.cross_entropy(fine, y, reduction="none") + weight * coarse


@pytest.mark.parametrize("mode", ["ob", "tb"])
def test_train_step_returns_the_loss_the_config_names(mode):
    """On a fixed mixed batch, the loss of train_step is the OB / TB loss, weighted as configured."""
    torch.manual_seed(0)
    model = TwoHeads() if mode == "tb" else TinyCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    g = torch.Generator().manual_seed(4)
    y_a, y_b, lam = torch.randint(0, 10, (8,), generator=g), torch.randint(0, 10, (8,), generator=g), 0.7
    batch = tr.Batch(torch.randn(8, 1, 16, 8, generator=g), y_a, y_b, lam, None, torch.arange(8))
    config = cfg(hierarchy=mode, hierarchy_weight=0.5, label_weight=0.8)
    torch.manual_seed(1)                              # the same dropout mask in both forward passes
    with torch.no_grad():
        output = model(batch.x)
    torch.manual_seed(1)
    loss = tr.train_step(model, batch, optimizer, config)
    mixed = lam * loss_by_hand(output, y_a, mode, 0.5) + (1 - lam) * loss_by_hand(output, y_b, mode, 0.5)
    assert loss == pytest.approx(0.8 * mixed.mean().item(), rel=1e-5)
    fine = output[0] if mode == "tb" else output
    ce = lam * F.cross_entropy(fine, y_a) + (1 - lam) * F.cross_entropy(fine, y_b)
    assert abs(loss - 0.8 * ce.item()) > 0.2          # not the plain cross-entropy


def test_temperature_schedule_and_epoch_hook_run_each_epoch(tmp_path, data):
    train_set, _, norm = data

    class WithTemperature(TinyCNN):
        epochs_seen: list = []

        def update_temperature(self, epoch, **schedule):
            self.epochs_seen.append(epoch)

    model, hooked = WithTemperature(), []
    train_model(model, train_set, cfg(epochs=2, temperature_schedule=True, augment=None), tmp_path / "on",
                norm, on_epoch_start=lambda epoch, m: hooked.append((epoch, m is model)), device="cpu")
    assert model.epochs_seen == [0, 1]
    assert hooked == [(0, True), (1, True)]
    model.epochs_seen.clear()
    train_model(model, train_set, cfg(epochs=1, augment=None), tmp_path / "off", norm)
    assert model.epochs_seen == []


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_step(dtype):
    """The CUDA mixed-precision path (autocast, fp16 loss scaling, clipping), exercised with CPU autocast and
    compared with the same step in float32."""
    torch.manual_seed(0)
    model = TwoHeads().eval()                         # eval: no dropout, so both steps see the same net
    reference = copy.deepcopy(model)
    before = [p.detach().clone() for p in model.parameters()]
    head_dtypes = []
    model.fc.register_forward_hook(lambda m, args, out: head_dtypes.append(out.dtype))
    scaler = torch.amp.GradScaler("cpu") if dtype == torch.float16 else None
    y = torch.arange(8)
    batch = tr.Batch(torch.randn(8, 1, 16, 8), y, y.flip(0), 0.7, torch.arange(8).flip(0), torch.arange(8))
    config = cfg(hierarchy="tb", max_grad_norm=0.1)  # the raw gradient norm is 0.25
    loss = tr.train_step(model, batch, torch.optim.Adam(model.parameters(), lr=1e-2), config, None, scaler,
                         dtype)
    expected = tr.train_step(reference, batch, torch.optim.Adam(reference.parameters(), lr=1e-2), config)
    assert head_dtypes == [dtype]                     # autocast did run the layers in low precision
    assert loss == pytest.approx(expected, rel=1e-2)  # the loss of the same net, to bf16/fp16 precision
    # clipping acted on the unscaled gradients: what is left has exactly the configured norm
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert norm.item() == pytest.approx(0.1, rel=1e-3)
    # Adam's first step moves each weight by about lr * sign(gradient): the same direction as in float32
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    moved_ref = torch.cat([(p.detach() - b).flatten() for p, b in zip(reference.parameters(), before)])
    assert (moved.sign() == moved_ref.sign()).float().mean().item() > 0.9


# --- config, devices, progress -----------------------------------------------------------------

def test_config_key_and_validation():
    assert cfg().key() == cfg(progress=True, device="cpu", eval_every=0).key()
    assert cfg().key() != cfg(lr=1e-4).key()
    assert cfg().key() != cfg(augment=AugmentConfig(mix="mixup")).key()
    with pytest.raises(ValueError, match="hierarchy"):
        TrainConfig(hierarchy="deep")
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


def test_resolve_device_and_progress(monkeypatch):
    assert tr.resolve_device("cpu").type == "cpu"
    assert tr.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            tr.resolve_device("cuda")
    monkeypatch.setenv("ASCLAB_PROGRESS", "0")
    assert not tr.progress_enabled(True)
    monkeypatch.setenv("ASCLAB_PROGRESS", "1")
    assert tr.progress_enabled(None) and not tr.progress_enabled(False)
