"""asclab.augment: identity at p=0, exact mixing formulas, FMix masks, Freq-MixStyle statistics, seeds, gradients."""
import pytest
import torch
import torch.nn.functional as F

from asclab import augment
from asclab.augment import (
    AugmentConfig, device_gap, fmix, fmix_mask, freq_mask, freq_mixstyle, mixed_cross_entropy, mixup,
    per_device_mean_spectra,
)

B, N_BINS, N_FRAMES = 8, 256, 64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def batch():
    g = gen(123)
    x = torch.randn(B, 1, N_BINS, N_FRAMES, generator=g)
    y = torch.randint(0, 10, (B,), generator=g)
    return x, y


def two_device_batch(n_per_device=32, n_bins=32, n_frames=50, seed=0):
    """Two synthetic 'devices': the same content distribution, different per-bin offsets."""
    g = gen(seed)
    x = torch.randn(2 * n_per_device, 1, n_bins, n_frames, generator=g)
    x[n_per_device:] += torch.linspace(-3, 3, n_bins).view(1, 1, n_bins, 1)
    return x, ["a"] * n_per_device + ["s1"] * n_per_device


def smoothness(mask):
    """The fraction of neighbouring cells (along F and along T) that agree: 1 for one straight cut."""
    return 0.5 * ((mask[1:] == mask[:-1]).float().mean() + (mask[:, 1:] == mask[:, :-1]).float().mean()).item()


# --- identity at p = 0 --------------------------------------------------------------------------------
def test_every_augmentation_is_the_identity_at_p0(batch):
    x, y = batch
    g = gen(0)
    state = g.get_state()
    assert freq_mask(x, g, p=0.0) is x
    assert freq_mixstyle(x, g, p=0.0) is x
    xm, ya, yb, lam = mixup(x, y, g, p=0.0)
    assert xm is x and ya is y and yb is y and lam == 1.0
    xf, ya, yb, lam = fmix(x, y, g, p=0.0)
    assert xf is x and ya is y and yb is y and lam == 1.0
    assert torch.equal(g.get_state(), state), "p=0 must not draw from the generator"
    xo, ya, yb, lam, perm = AugmentConfig.off().apply(x, y, g)
    assert xo is x and lam == 1.0 and perm is None


# --- frequency masking --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_freq_mask_masks_contiguous_bands_of_at_most_max_width(batch, mode):
    x, _ = batch
    out = freq_mask(x, gen(1), p=1.0, max_width=48, mode=mode)
    assert out.shape == x.shape
    changed = (out != x).any(dim=3)[:, 0]                         # [B, F]
    for i in range(B):
        rows = changed[i].nonzero().flatten()
        assert len(rows) <= 48
        if len(rows):
            assert rows.max() - rows.min() + 1 == len(rows), "one mask is one contiguous band"
            fill = 0.0 if mode == "zero" else x[i].mean()
            assert torch.allclose(out[i, 0, rows], torch.as_tensor(fill).expand(len(rows), N_FRAMES))
    assert changed.any(dim=1).sum() >= B // 2, "with p=1 most samples get a non-empty band"
    # masks are independent per sample
    assert len({tuple(c.nonzero().flatten().tolist()) for c in changed}) > 1


def test_freq_mask_probability_applies_per_sample():
    x = torch.randn(400, 1, 16, 4, generator=gen(5))
    out = freq_mask(x, gen(2), p=0.5, max_width=16)
    fraction = (out != x).flatten(1).any(dim=1).float().mean().item()
    assert 0.3 < fraction < 0.55  # p * P(width > 0) = 0.5 * 16/17


# --- Mixup --------------------------------------------------------------------------------------------
def test_mixup_is_a_convex_combination_with_consistent_targets(batch):
    x, y = batch
    xm, ya, yb, lam, perm = mixup(x, y, gen(3), alpha=0.3, return_perm=True)
    assert isinstance(lam, float) and 0.5 <= lam <= 1.0
    assert torch.equal(xm, lam * x + (1 - lam) * x[perm])
    assert torch.equal(ya, y) and torch.equal(yb, y[perm])
    assert sorted(perm.tolist()) == list(range(B))


# --- FMix ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.0, 0.13, 0.5, 0.77, 1.0])
def test_fmix_mask_is_binary_with_mean_lambda(lam):
    mask = fmix_mask((N_BINS, N_FRAMES), lam, 3.0, gen(4))
    assert mask.shape == (N_BINS, N_FRAMES)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert abs(mask.mean().item() - lam) <= 1.0 / (N_BINS * N_FRAMES)


def test_fmix_mask_is_smoother_with_larger_decay_power():
    seeds = range(6)
    mean_smoothness = {
        decay: sum(smoothness(fmix_mask((N_BINS, N_FRAMES), 0.5, decay, gen(s))) for s in seeds) / len(seeds)
        for decay in (1.0, 3.0, 5.0)
    }
    assert mean_smoothness[1.0] < mean_smoothness[3.0] < mean_smoothness[5.0]
    assert mean_smoothness[3.0] > 0.98, "decay power 3 gives a few large blobs"


def test_fmix_mixes_with_the_mask_and_returns_its_mean(batch):
    x, y = batch
    xf, ya, yb, lam, perm = fmix(x, y, gen(6), return_perm=True)
    # the effective lambda is the mask's mean; rebuild the mask from where x and x[perm] differ
    took_x = (xf == x) & (x != x[perm])
    took_partner = (xf == x[perm]) & (x != x[perm])
    assert torch.all(took_x | took_partner | (x == x[perm]))
    cells = (took_x.flatten(2).any(0) & ~took_partner.flatten(2).any(0)).float()   # [1, F*T]: one mask per batch
    assert abs(cells.mean().item() - lam) < 1e-6
    assert 0.5 - 1.0 / (N_BINS * N_FRAMES) <= lam <= 1.0
    assert torch.equal(yb, y[perm])


# --- Freq-MixStyle ------------------------------------------------------------------------------------
def test_freq_mixstyle_moves_per_bin_statistics_toward_the_partner(batch):
    x, _ = batch
    x = x * torch.rand(1, 1, N_BINS, 1, generator=gen(7)) * 3 + torch.randn(B, 1, N_BINS, 1, generator=gen(8))
    eps = 1e-6
    out, perm, lam = freq_mixstyle(x, gen(9), alpha=0.3, p=1.0, eps=eps, return_params=True)
    assert out.shape == x.shape and lam.shape == (B,)
    assert torch.all((lam >= 0) & (lam <= 1))
    mu = x.mean(dim=(1, 3))                                         # [B, F]
    sigma = (x.var(dim=(1, 3), correction=0) + eps).sqrt()
    w = lam.view(B, 1)
    expected_mu = w * mu + (1 - w) * mu[perm]
    expected_sigma = w * sigma + (1 - w) * sigma[perm]
    torch.testing.assert_close(out.mean(dim=(1, 3)), expected_mu, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.std(dim=(1, 3), correction=0), expected_sigma, atol=1e-4, rtol=1e-4)


def test_freq_mixstyle_is_all_or_nothing_per_batch():
    x = torch.randn(4, 1, 8, 10)
    outcomes = [not torch.equal(freq_mixstyle(x, gen(s), p=0.4), x) for s in range(200)]
    assert 0.25 < sum(outcomes) / len(outcomes) < 0.55


# --- seeds and gradients ------------------------------------------------------------------------------
def run_all(x, y, seed):
    g = gen(seed)
    return [
        freq_mask(x, g, p=0.7),
        mixup(x, y, g)[0],
        fmix(x, y, g)[0],
        freq_mixstyle(x, g, p=1.0),
        AugmentConfig(mix="fmix", mixstyle_p=1.0).apply(x, y, g)[0],
    ]


def test_same_seed_same_output_and_different_seed_different_output(batch):
    x, y = batch
    first, again, other = run_all(x, y, 10), run_all(x, y, 10), run_all(x, y, 11)
    for a, b, c in zip(first, again, other):
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


@pytest.mark.parametrize("name", ["freq_mask", "mixup", "fmix", "freq_mixstyle", "apply"])
def test_gradients_flow_to_the_input(batch, name):
    x, y = batch
    x = x.clone().requires_grad_(True)
    g = gen(12)
    out = {
        "freq_mask": lambda: freq_mask(x, g, p=1.0),
        "mixup": lambda: mixup(x, y, g)[0],
        "fmix": lambda: fmix(x, y, g)[0],
        "freq_mixstyle": lambda: freq_mixstyle(x, g, p=1.0),
        "apply": lambda: AugmentConfig(mixstyle_p=1.0).apply(x, y, g)[0],
    }[name]()
    (out * torch.randn(out.shape, generator=gen(13))).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_freq_mixstyle_gradient_treats_the_statistics_as_constants(batch):
    """The documented detach: mu and sigma carry no gradient, so d out / d x is sigma_mix / sigma, bin by bin
    and clip by clip, and nothing flows from one clip into another clip's output."""
    x, _ = batch
    x = (x * 2.0 + torch.linspace(-2, 2, N_BINS).view(1, 1, N_BINS, 1)).requires_grad_(True)
    eps = 1e-6
    out, perm, lam = freq_mixstyle(x, gen(21), alpha=0.3, p=1.0, eps=eps, return_params=True)
    upstream = torch.randn(out.shape, generator=gen(22))
    (out * upstream).sum().backward()
    with torch.no_grad():
        sigma = (x.var(dim=(1, 3), keepdim=True, correction=0) + eps).sqrt()       # [B, 1, F, 1]
        w = lam.view(B, 1, 1, 1)
        sigma_mix = w * sigma + (1 - w) * sigma[perm]
    torch.testing.assert_close(x.grad, upstream * sigma_mix / sigma)
    # the control: with the statistics left in the graph, the gradient would be another one
    x2 = x.detach().clone().requires_grad_(True)
    mu2 = x2.mean(dim=(1, 3), keepdim=True)
    sigma2 = (x2.var(dim=(1, 3), keepdim=True, correction=0) + eps).sqrt()
    attached = (x2 - mu2) / sigma2 * (w * sigma2 + (1 - w) * sigma2[perm]) + w * mu2 + (1 - w) * mu2[perm]
    torch.testing.assert_close(attached, out.detach())                              # the same forward values
    (attached * upstream).sum().backward()
    assert not torch.allclose(x2.grad, x.grad, atol=1e-3)


# --- loss, recipe, device gap -------------------------------------------------------------------------
def test_mixed_cross_entropy_matches_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    y_a, y_b, lam = torch.tensor([0, 1]), torch.tensor([2, 0]), 0.7
    log_p = logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))
    ce_a = -(log_p[0, 0] + log_p[1, 1]) / 2
    ce_b = -(log_p[0, 2] + log_p[1, 0]) / 2
    torch.testing.assert_close(mixed_cross_entropy(logits, y_a, y_b, lam), lam * ce_a + (1 - lam) * ce_b)
    torch.testing.assert_close(mixed_cross_entropy(logits, y_a, y_b, 1.0), F.cross_entropy(logits, y_a))
    per_sample = torch.tensor([1.0, 0.0])
    torch.testing.assert_close(mixed_cross_entropy(logits, y_a, y_b, per_sample), -(log_p[0, 0] + log_p[1, 0]) / 2)


def test_augment_config_returns_a_consistent_permutation(batch):
    x, y = batch
    cfg = AugmentConfig(mix="mixup", freq_mask_p=0.0, mixstyle_p=0.0)
    assert cfg.alpha == 0.3 and AugmentConfig(mix="fmix").alpha == 1.0
    xm, ya, yb, lam, perm = cfg.apply(x, y, gen(14))
    assert torch.equal(xm, lam * x + (1 - lam) * x[perm]) and torch.equal(yb, y[perm])
    with pytest.raises(ValueError, match="mix must be"):
        AugmentConfig(mix="cutmix")


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match=r"\[B, C, F, T\]"):
        freq_mask(torch.zeros(256, 64), gen())
    with pytest.raises(ValueError, match="probability"):
        mixup(torch.zeros(2, 1, 4, 4), torch.zeros(2), gen(), p=1.5)


def test_device_gap_is_zero_for_identical_devices_and_shrinks_with_freq_mixstyle():
    x, devices = two_device_batch()
    same = torch.cat([x[:32], x[:32]])
    assert device_gap(same, devices) == 0.0
    assert device_gap(x, ["a"] * len(x)) == 0.0
    spectra = per_device_mean_spectra(x, devices)
    assert list(spectra) == ["a", "s1"] and spectra["a"].shape == (32,)
    before = device_gap(x, devices)
    assert before > 1.0
    for seed in range(3):
        assert device_gap(freq_mixstyle(x, gen(seed), p=1.0), devices) < 0.8 * before


def test_beta_samples_come_from_the_generator():
    a = augment.sample_beta(0.3, 1000, gen(15))
    assert (a == augment.sample_beta(0.3, 1000, gen(15))).all()
    assert 0.45 < a.mean() < 0.55 and ((a < 0.1) | (a > 0.9)).mean() > 0.4  # U-shaped Beta(0.3, 0.3)
