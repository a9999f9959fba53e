"""Hierarchical losses against hand computations, and the TwoBranch wrapper."""
import math

import pytest
import torch

from asclab.data import COARSE, FINE_TO_COARSE, SCENE_TO_COARSE, SCENES
from asclab.models.cpmobile import CPMobile
from asclab.models.hierarchy import (
    TwoBranch, coarse_probs, coarse_targets, fine_logits, hierarchical_loss, ob_loss, tb_loss,
)

# two clips, ten scenes (SCENES order)
LOGITS = torch.tensor([
    [2.0, 0.0, 1.0, 0.5, -1.0, 0.0, 0.3, -0.5, 0.0, 1.5],
    [-1.0, 0.5, 0.0, 0.0, 2.5, 1.0, -0.2, 0.8, 1.2, 0.0],
])
Y = torch.tensor([0, 4])           # airport (indoor), park (outdoor)
Y_COARSE = torch.tensor([0, 1])
COARSE_LOGITS = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -0.5]])


def _softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def _groups(probs):
    # indoor: airport, metro_station, shopping_mall; outdoor: park, public_square, street_pedestrian,
    # street_traffic; transportation: bus, metro, tram
    return [probs[0] + probs[3] + probs[6], probs[4] + probs[5] + probs[7] + probs[8], probs[1] + probs[2] + probs[9]]


def test_taxonomy_mapping():
    assert coarse_targets(torch.arange(10)).tolist() == [COARSE.index(SCENE_TO_COARSE[s]) for s in SCENES]
    assert list(FINE_TO_COARSE) == [0, 2, 2, 0, 1, 1, 0, 1, 1, 2]


def test_coarse_probs_are_group_sums():
    probs = coarse_probs(LOGITS)
    assert probs.shape == (2, 3)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))
    for i in range(2):
        expected = _groups(_softmax(LOGITS[i].tolist()))
        torch.testing.assert_close(probs[i], torch.tensor(expected))


def test_ob_loss_by_hand():
    ce = nll = 0.0
    for i in range(2):
        p = _softmax(LOGITS[i].tolist())
        ce += -math.log(p[Y[i]]) / 2
        nll += -math.log(_groups(p)[Y_COARSE[i]]) / 2
    torch.testing.assert_close(ob_loss(LOGITS, Y, Y_COARSE), torch.tensor(ce + nll))
    torch.testing.assert_close(ob_loss(LOGITS, Y, Y_COARSE, weight=0.3), torch.tensor(ce + 0.3 * nll))
    torch.testing.assert_close(ob_loss(LOGITS, Y), torch.tensor(ce + nll))  # coarse targets derived


def test_ob_loss_is_finite_for_extreme_logits():
    logits = torch.full((1, 10), -1e4)
    logits[0, 1] = 1e4  # all mass on 'bus' (transportation), target group indoor
    loss = ob_loss(logits, torch.tensor([0]), torch.tensor([0]))
    assert torch.isfinite(loss)


def test_tb_loss_by_hand():
    ce_fine = ce_coarse = 0.0
    for i in range(2):
        ce_fine += -math.log(_softmax(LOGITS[i].tolist())[Y[i]]) / 2
        ce_coarse += -math.log(_softmax(COARSE_LOGITS[i].tolist())[Y_COARSE[i]]) / 2
    torch.testing.assert_close(tb_loss((LOGITS, COARSE_LOGITS), Y, Y_COARSE, weight=0.5),
                               torch.tensor(ce_fine + 0.5 * ce_coarse))
    with pytest.raises(ValueError, match="TwoBranch"):
        tb_loss(LOGITS, Y, Y_COARSE)


def test_hierarchical_loss_mixes_targets():
    y_b = torch.tensor([9, 3])
    lam = 0.7
    none = hierarchical_loss(LOGITS, Y, y_b, lam, mode="none")
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(none, lam * ce(LOGITS, Y) + (1 - lam) * ce(LOGITS, y_b))
    ob = hierarchical_loss(LOGITS, Y, y_b, lam, mode="ob", weight=0.4)
    torch.testing.assert_close(ob, lam * ob_loss(LOGITS, Y, weight=0.4) + (1 - lam) * ob_loss(LOGITS, y_b, weight=0.4))
    output = (LOGITS, COARSE_LOGITS)
    tb = hierarchical_loss(output, Y, y_b, lam, mode="tb")
    torch.testing.assert_close(tb, lam * tb_loss(output, Y) + (1 - lam) * tb_loss(output, y_b))
    # unmixed, and a per-sample lambda
    torch.testing.assert_close(hierarchical_loss(LOGITS, Y, mode="ob"), ob_loss(LOGITS, Y))
    per_sample = hierarchical_loss(LOGITS, Y, y_b, torch.tensor([1.0, 0.0]), mode="none")
    expected = (ce(LOGITS[:1], Y[:1]) + ce(LOGITS[1:], y_b[1:])) / 2
    torch.testing.assert_close(per_sample, expected)


def test_hierarchical_loss_parts_and_errors():
    loss, parts = hierarchical_loss(LOGITS, Y, None, 1.0, mode="ob", weight=2.0, parts=True)
    assert set(parts) == {"fine", "coarse", "total"}
    assert parts["total"] == pytest.approx(parts["fine"] + 2.0 * parts["coarse"], rel=1e-6)
    assert loss.item() == pytest.approx(parts["total"], rel=1e-6)
    _, parts = hierarchical_loss(LOGITS, Y, mode="none", parts=True)
    assert parts["coarse"] == 0.0
    with pytest.raises(ValueError, match="mode"):
        hierarchical_loss(LOGITS, Y, mode="coarse")
    with pytest.raises(ValueError):
        hierarchical_loss(LOGITS, Y, mode="tb")


@pytest.mark.parametrize("hidden", [None, 16])
def test_two_branch_shapes_and_gradients(hidden):
    torch.manual_seed(0)
    model = TwoBranch(CPMobile(), hidden=hidden)
    assert model.embedding_dim == 168
    x = torch.randn(4, 1, 128, 32)
    fine, coarse = model(x)
    assert fine.shape == (4, 10) and coarse.shape == (4, 3)
    (fine2, coarse2), embedding = model.forward_with_embedding(x)
    assert embedding.shape == (4, 168)
    assert fine_logits((fine, coarse)) is fine and fine_logits(fine) is fine
    loss = hierarchical_loss((fine, coarse), torch.tensor([0, 1, 4, 9]), mode="tb")
    loss.backward()
    coarse_grad = model.coarse_head.weight.grad if hidden is None else model.coarse_head[0].weight.grad
    for grad in (coarse_grad, model.backbone.head[0].weight.grad, model.backbone.stem[0][0].weight.grad):
        assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("hidden", [None, 16])
def test_coarse_loss_alone_trains_the_shared_trunk(hidden):
    """TB is worth having only if the coarse head's loss reaches the trunk: the embedding it reads must not
    be detached. The coarse loss alone gives the trunk's layers a gradient and the fine head none."""
    torch.manual_seed(0)
    model = TwoBranch(CPMobile(), hidden=hidden)
    _, coarse = model(torch.randn(4, 1, 128, 32))
    torch.nn.functional.cross_entropy(coarse, torch.tensor([0, 1, 2, 1])).backward()
    backbone = model.backbone
    for trunk_weight in (backbone.stem[0][0].weight, backbone.stages.s3.b6.project[0].weight):
        assert trunk_weight.grad is not None and trunk_weight.grad.abs().sum() > 0
    assert backbone.head[0].weight.grad is None                   # the fine head is not on the coarse path


def test_two_branch_rejects_backbone_without_embedding():
    with pytest.raises(ValueError, match="forward_with_embedding"):
        TwoBranch(torch.nn.Linear(3, 10))
