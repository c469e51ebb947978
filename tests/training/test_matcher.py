"""Hungarian matcher (§9): point sampling, cost formula, permutation recovery."""

import math

import pytest
import torch
import torch.nn.functional as F

from entitysam.training.matcher import (
    HungarianMatcher,
    batch_dice,
    batch_sigmoid_ce,
    class_probabilities,
    point_sample,
    sample_targets,
)


def test_point_sample_pixel_centres_and_padding():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    centres = torch.tensor([[[(1 + 0.5) / 4, (2 + 0.5) / 3], [0.5 / 4, 0.5 / 3]]])  # (x, y)
    assert torch.allclose(point_sample(x, centres), torch.tensor([[[9.0, 0.0]]]), atol=1e-5)
    mid = torch.tensor([[[1.0 / 4, 0.5 / 3]]])  # halfway between pixel centres 0 and 1 -> mean
    assert torch.allclose(point_sample(x, mid), torch.tensor([[[0.5]]]), atol=1e-5)
    # the image corner with align_corners=False and zero padding: 1/4 of the corner pixel
    ones = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    assert torch.allclose(sample_targets(ones, torch.tensor([[0.0, 0.0], [0.5, 0.5]])), torch.tensor([[[0.25, 1.0]]]))


def test_class_probabilities_quirk():
    p = class_probabilities(torch.tensor([[0.0, 0.0], [-30.0, 30.0]]))
    assert torch.allclose(p[0], torch.tensor([0.5, 0.5]))
    # softmax(5 sigmoid(x)): even a confident logit gives p1 = e^5 / (1 + e^5), not 1 (quirk 4)
    assert math.isclose(p[1, 1].item(), math.exp(5) / (1 + math.exp(5)), rel_tol=1e-6)


def test_pairwise_costs_match_elementwise_definitions():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 50, generator=g), (torch.rand(4, 50, generator=g) > 0.5).float()
    ce, dice = batch_sigmoid_ce(x, y), batch_dice(x, y)
    for q in range(3):
        for n in range(4):
            ref_ce = F.binary_cross_entropy_with_logits(x[q], y[n])
            s = x[q].sigmoid()
            ref_dice = 1 - (2 * (s * y[n]).sum() + 1) / (s.sum() + y[n].sum() + 1)
            assert torch.allclose(ce[q, n], ref_ce, atol=1e-6) and torch.allclose(dice[q, n], ref_dice, atol=1e-6)


def test_cost_matrix_formula_and_weights(rect_masks):
    tgt = rect_masks(3, 2, 32)
    g = torch.Generator().manual_seed(1)
    logits, masks = torch.randn(5, 2, generator=g), torch.randn(5, 2, 8, 8, generator=g)
    m = HungarianMatcher(num_points=200)
    cost = m.cost_matrix(logits, masks, tgt, torch.Generator().manual_seed(7))
    coords = torch.rand(200, 2, generator=torch.Generator().manual_seed(7))  # the same shared points
    out = point_sample(masks, coords[None].expand(5, -1, -1)).flatten(1)
    tg = point_sample(tgt.float(), coords[None].expand(3, -1, -1)).flatten(1)
    p1 = (5 * logits.sigmoid()).softmax(-1)[:, 1:2]
    ref = 5.0 * batch_sigmoid_ce(out, tg) + 5.0 * batch_dice(out, tg) - 3.0 * p1
    assert cost.shape == (5, 3) and torch.allclose(cost, ref, atol=1e-5)
    assert (m.cost_class, m.cost_mask, m.cost_dice, HungarianMatcher().num_points) == (3.0, 5.0, 5.0, 12544)


@pytest.mark.parametrize("pred_size", [64, 16])
def test_permuted_perfect_prediction_is_matched_back(pred_size, rect_masks):
    n, t, q = 5, 3, 9
    tgt = rect_masks(n, t, 64, seed=2)
    perm = torch.tensor([7, 2, 5, 0, 3])  # target k is predicted by query perm[k]
    masks = torch.full((q, t, 64, 64), -10.0)
    masks[perm] = torch.where(tgt, 10.0, -10.0)
    masks = F.interpolate(masks, size=(pred_size, pred_size), mode="bilinear", align_corners=False)
    logits = torch.zeros(q, 2)
    rows, cols = HungarianMatcher(num_points=512)(logits[None], masks[None], [tgt], torch.Generator().manual_seed(0))[0]
    assert rows.tolist() == sorted(rows.tolist())
    assert dict(zip(cols.tolist(), rows.tolist())) == dict(enumerate(perm.tolist()))


def test_class_cost_breaks_ties(rect_masks):
    tgt = rect_masks(1, 1, 32)
    masks = torch.where(tgt, 10.0, -10.0).expand(3, 1, 32, 32).clone()  # three identical masks
    logits = torch.tensor([[0.0, -2.0], [0.0, 3.0], [0.0, 0.0]])
    rows, cols = HungarianMatcher(num_points=256).match_clip(logits, masks, tgt)
    assert rows.tolist() == [1] and cols.tolist() == [0]


def test_more_targets_than_queries_and_no_targets(rect_masks):
    tgt = rect_masks(4, 1, 32)
    rows, cols = HungarianMatcher(num_points=128).match_clip(torch.zeros(2, 2), torch.zeros(2, 1, 8, 8), tgt)
    assert len(rows) == len(cols) == 2 and len(set(cols.tolist())) == 2
    rows, cols = HungarianMatcher().match_clip(torch.zeros(2, 2), torch.zeros(2, 1, 8, 8), tgt[:0])
    assert rows.numel() == cols.numel() == 0
    with pytest.raises(ValueError, match="T=1"):
        HungarianMatcher(num_points=8).match_clip(torch.zeros(2, 2), torch.zeros(2, 1, 8, 8), rect_masks(1, 2, 8))
