"""Losses and criterion (§10): hand-computed values, perfect predictions, monotonicity, weights."""

import math

import torch
import torch.nn.functional as F

from entitysam.training.losses import (
    IMPORTANCE_SAMPLE_RATIO,
    OVERSAMPLE_RATIO,
    WEIGHT_DICT,
    SetCriterion,
    dice_loss,
    entity_loss,
    iou_loss,
    mask_iou_targets,
    mask_losses,
    num_masks_normaliser,
    point_loss,
    sigmoid_ce_loss,
    sigmoid_focal_loss,
    uncertain_point_coords,
)
from entitysam.training.matcher import HungarianMatcher, point_sample


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_constants_are_the_spec_values():
    assert WEIGHT_DICT == {"loss_ce": 5.0, "loss_mask": 5.0, "loss_dice": 5.0, "loss_iou": 5.0}
    assert (OVERSAMPLE_RATIO, IMPORTANCE_SAMPLE_RATIO) == (3.0, 0.5)
    c = SetCriterion()
    assert c.num_points == c.matcher.num_points == 12544


def test_focal_loss_elementwise():
    x = torch.tensor([2.0, 2.0, -1.0])
    y = torch.tensor([1.0, 0.0, 0.0])
    p = torch.sigmoid(x)
    ref = torch.stack([
        -0.5 * (1 - p[0]) ** 2 * torch.log(p[0]),  # target 1: p_t = sigmoid(x)
        -0.5 * p[1] ** 2 * torch.log(1 - p[1]),  # target 0: p_t = sigmoid(-x)
        -0.5 * p[2] ** 2 * torch.log(1 - p[2]),
    ])
    assert torch.allclose(sigmoid_focal_loss(x, y), ref, atol=1e-6)


def test_entity_loss_hand_values():
    # zero logits: each of the Q x 2 focal terms is 0.5 * 0.25 * ln 2; CE of matched = ln 2
    out = entity_loss(torch.zeros(3, 2), torch.tensor([0, 2]))
    assert math.isclose(out.item(), 6 * math.log(2) / 8 / 2 + math.log(2), rel_tol=1e-6)
    # nothing matched: focal sum / 1, no CE term; column 0 (background) is pushed down too
    out = entity_loss(torch.tensor([[3.0, -3.0]]), torch.tensor([], dtype=torch.int64))
    p = torch.sigmoid(torch.tensor(3.0))
    q = torch.sigmoid(torch.tensor(-3.0))
    ref = -0.5 * p**2 * torch.log(1 - p) - 0.5 * q**2 * torch.log(1 - q)
    assert math.isclose(out.item(), ref.item(), rel_tol=1e-5)
    good = entity_loss(torch.tensor([[-8.0, 8.0], [-8.0, -8.0]]), torch.tensor([0]))
    assert good.item() < 1e-3  # matched: fg high and bg low; unmatched: both low


def test_point_losses_zero_for_perfect_points():
    labels = (torch.rand(6, 500, generator=_gen()) > 0.5).float()
    logits = (labels * 2 - 1) * 30.0
    assert sigmoid_ce_loss(logits, labels, 2.0).item() < 1e-9
    assert dice_loss(logits, labels, 2.0).abs().item() < 1e-6
    assert math.isclose(sigmoid_ce_loss(torch.zeros(6, 500), labels, 2.0).item(), 6 * math.log(2) / 2, rel_tol=1e-6)
    s = 0.5 * torch.ones(500)  # dice of zero logits, by hand, per map, / num_masks
    ref = sum(1 - (2 * (s * labels[i]).sum() + 1) / (s.sum() + labels[i].sum() + 1) for i in range(6)) / 2.0
    assert torch.allclose(dice_loss(torch.zeros(6, 500), labels, 2.0), ref)


def test_absent_entity_perfect_prediction_zero_mask_loss():
    tgt = torch.zeros(4, 32, 32, dtype=torch.bool)  # entity absent in 4 frames: all-zero targets
    lm, ld = mask_losses(torch.full((4, 8, 8), -200.0), tgt, 4.0, num_points=256, generator=_gen())
    assert lm.item() < 1e-9 and ld.item() < 1e-9


def test_uncertain_points_are_the_most_uncertain_of_the_oversampled():
    logits = torch.linspace(-5, 5, 32).expand(2, 1, 32, 32).contiguous()  # zero crossing at x = 0.5
    coords = uncertain_point_coords(logits, num_points=100, generator=_gen(3))
    assert coords.shape == (2, 100, 2)
    g = _gen(3)  # replay the draws: 3 x 100 oversampled points, then 50 fresh uniform ones
    over, fresh = torch.rand(2, 300, 2, generator=g), torch.rand(2, 50, 2, generator=g)
    unc = -point_sample(logits, over)[:, 0].abs()
    for b in range(2):
        top = set(map(tuple, over[b][unc[b].topk(50).indices].tolist()))
        assert set(map(tuple, coords[b, :50].tolist())) == top  # importance half
    assert (coords[:, :50, 0] - 0.5).abs().max() < (over[..., 0] - 0.5).abs().max()
    assert torch.equal(coords[:, 50:], fresh)  # random half


def _perfect(tgt, magnitude=10.0, size=16):
    """Logits (N, T, size, size) of the exact target, downsampled like a 256 vs 1024 output."""
    full = torch.where(tgt, magnitude, -magnitude).float()
    return F.interpolate(full, size=(size, size), mode="bilinear", align_corners=False)


def test_mask_losses_decrease_towards_target(rect_masks):
    tgt = rect_masks(3, 2, 64, seed=4)
    noise = torch.randn(3, 2, 16, 16, generator=_gen(1)) * 3
    prev = None
    for lam in (0.0, 0.25, 0.5, 0.75, 1.0):
        pred = (1 - lam) * noise + lam * _perfect(tgt, 6.0)
        lm, ld = mask_losses(pred.flatten(0, 1), tgt.flatten(0, 1), 6.0, num_points=2048, generator=_gen(2))
        if prev is not None:
            assert lm < prev[0] and ld < prev[1]
        prev = (lm, ld)
    # the perfect prediction is far below a wrong one (entity masks swapped). It is not 0:
    # bilinear labels are fractional at edges, where importance sampling puts half the points.
    wrong = mask_losses(_perfect(tgt.roll(1, 0), 6.0).flatten(0, 1), tgt.flatten(0, 1), 6.0, 2048, generator=_gen(2))
    assert prev[0] < 0.3 * wrong[0] and prev[1] < 0.4 * wrong[1]


def test_mask_loss_normalised_by_num_masks(rect_masks):
    tgt = rect_masks(2, 1, 32)
    pred = torch.randn(2, 8, 8, generator=_gen())
    a = mask_losses(pred, tgt[:, 0], 2.0, 256, generator=_gen(5))
    b = mask_losses(pred, tgt[:, 0], 4.0, 256, generator=_gen(5))
    assert torch.allclose(a[0], 2 * b[0]) and torch.allclose(a[1], 2 * b[1])
    assert num_masks_normaliser(3, 8) == 24.0 and num_masks_normaliser(0, 8) == 8.0  # clamp >= 1, x T


def test_iou_targets_nearest_top_left_and_nan():
    tgt = torch.zeros(3, 16, 16, dtype=torch.bool)
    tgt[0, 0::4, 0::4] = True  # top-left pixel of every 4x4 block: survives "nearest"
    tgt[1, 1::4, 1::4] = True  # never the top-left pixel: vanishes (quirk 11)
    logits = torch.full((3, 4, 4), -5.0)
    logits[0, :2] = 5.0  # predicts half of the 4x4 map
    iou = mask_iou_targets(logits, tgt)
    assert iou[0].item() == 0.5 and math.isnan(iou[1].item()) and math.isnan(iou[2].item())


def test_iou_loss_positive_entries_only():
    pred = torch.tensor([0.7, 0.3, 0.9, 0.8], requires_grad=True)
    tgt = torch.tensor([0.5, float("nan"), 0.0, 1.0])
    assert math.isclose(iou_loss(pred, tgt).item(), (0.5 * 0.04 + 0.5 * 0.04) / 2, rel_tol=1e-6)
    none = iou_loss(pred, torch.tensor([0.0, float("nan"), 0.0, 0.0]))
    none.backward()  # zero, but keeps the graph
    assert none.item() == 0.0 and torch.equal(pred.grad, torch.zeros(4))


def _outputs(tgts, q=6, size=16, perfect=True, seed=0):
    """Model-like outputs (B, Q, ...) where query perm[k] predicts target k exactly (if perfect)."""
    b, t = len(tgts), tgts[0].shape[1]
    g = _gen(seed)
    masks = torch.randn(b, q, t, size, size, generator=g)
    logits = torch.randn(b, q, 2, generator=g)
    iou = torch.rand(b, q, t, 1, generator=g)
    for i, tgt in enumerate(tgts):
        if perfect:
            masks[i, : len(tgt)] = _perfect(tgt, 6.0, size)
            masks[i, len(tgt):] = -20.0
            logits[i] = torch.tensor([-20.0, -20.0])
            logits[i, : len(tgt)] = torch.tensor([-20.0, 20.0])
            exact = mask_iou_targets(masks[i, : len(tgt)].flatten(0, 1), tgt.flatten(0, 1))
            iou[i, : len(tgt)] = exact.nan_to_num(0.0).view(len(tgt), t, 1)
    return {"pred_logits": logits.requires_grad_(), "pred_masks": masks.requires_grad_(),
            "pred_iou": iou.requires_grad_()}


def test_criterion_weights_and_total(rect_masks):
    tgts = [rect_masks(3, 2, 64, seed=6)]
    crit = SetCriterion(HungarianMatcher(num_points=256), num_points=256)
    out = _outputs(tgts, perfect=False)
    raw, matches = crit.compute(out, tgts, generator=_gen(1))
    weighted = crit(out, tgts, generator=_gen(1))
    assert set(weighted) == set(WEIGHT_DICT)
    for k in WEIGHT_DICT:
        assert torch.allclose(weighted[k], 5.0 * raw[k])
    total = sum(weighted.values())
    total.backward()
    for k in ("pred_logits", "pred_masks", "pred_iou"):
        assert out[k].grad is not None and out[k].grad.abs().sum() > 0
    only_ce = SetCriterion(HungarianMatcher(num_points=256), weight_dict={"loss_ce": 2.0}, num_points=256)
    assert set(only_ce(out, tgts, generator=_gen(1))) == {"loss_ce"}  # keys not in the dict are dropped


def test_criterion_perfect_vs_wrong_prediction(rect_masks):
    tgts = [rect_masks(3, 2, 64, seed=8)]
    crit = SetCriterion(HungarianMatcher(num_points=1024), num_points=1024)
    good, m = crit.compute(_outputs(tgts), tgts, generator=_gen(0))
    assert m[0][0].tolist() == [0, 1, 2] and m[0][1].tolist() == [0, 1, 2]
    bad, _ = crit.compute(_outputs(tgts, perfect=False), tgts, generator=_gen(0))
    assert good["loss_ce"] < 1e-6 and good["loss_iou"] < 1e-9  # IoU head exactly right
    assert good["loss_mask"] < 0.3 * bad["loss_mask"] and good["loss_dice"] < 0.4 * bad["loss_dice"]


def test_criterion_batch_share_and_empty_clip(rect_masks):
    tgts = [rect_masks(1, 2, 32, seed=1), rect_masks(3, 2, 32, seed=2)]
    crit = SetCriterion(HungarianMatcher(num_points=128), num_points=128)
    out = _outputs(tgts, perfect=False)
    raw, matches = crit.compute(out, tgts, generator=_gen(0))
    logits = out["pred_logits"]
    ref = 0.25 * entity_loss(logits[0], matches[0][0]) + 0.75 * entity_loss(logits[1], matches[1][0])
    assert torch.allclose(raw["loss_ce"], ref)
    # a clip without entities: only the entity-score loss, pushing all logits down
    empty = [torch.zeros(0, 2, 32, 32, dtype=torch.bool)]
    raw, matches = crit.compute(_outputs(tgts[:1], perfect=False), empty, generator=_gen(0))
    assert matches[0][0].numel() == 0 and raw["loss_ce"] > 0
    assert raw["loss_mask"] == raw["loss_dice"] == raw["loss_iou"] == 0


def test_criterion_accepts_clip_targets_forms_and_positional_num_masks():
    from entitysam.training.clips import build_targets
    from entitysam.training.coco_panoptic import Segment

    maps = torch.zeros(2, 32, 32, dtype=torch.int64)
    maps[:, :16], maps[1, 20:, 20:] = 4, 9
    ents = [Segment(i, 1, 1, True, False, 0, (0, 0, 0, 0)) for i in (4, 9)]
    tg = build_targets(maps.numpy(), ents)
    out = _outputs([tg.masks], perfect=False)
    crit = SetCriterion(HungarianMatcher(num_points=128), num_points=128)
    ref = crit(out, [tg.masks], 3.0, generator=_gen(0))
    for form in (tg.masks, tg, tg.as_dict(), [tg]):
        got = crit(out, form, 3.0, generator=_gen(0))
        assert all(torch.equal(got[k], ref[k]) for k in ref)
    half = crit(out, tg, 6.0, generator=_gen(0))
    assert torch.allclose(half["loss_mask"], ref["loss_mask"] / 2) and torch.equal(half["loss_ce"], ref["loss_ce"])


def test_half_precision_outputs_give_float32_losses(rect_masks):
    """Under fp16 AMP the model outputs are half; matching and losses run in float32 (§9)."""
    tgts = [rect_masks(2, 2, 32, seed=3)]
    out = {k: v.detach().half().requires_grad_() for k, v in _outputs(tgts, perfect=False).items()}
    crit = SetCriterion(HungarianMatcher(num_points=128), num_points=128)
    losses = crit(out, tgts, 4.0, generator=_gen(0))
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert out["pred_masks"].grad.dtype == torch.float16 and out["pred_masks"].grad.abs().sum() > 0


def test_unmatched_iou_zero_option(rect_masks):
    """Option (issue 16): unmatched slots' IoU head is pulled to 0; officially it gets no loss."""
    tgts = [rect_masks(3, 2, 64, seed=8)]
    official = SetCriterion(HungarianMatcher(num_points=256), num_points=256)
    option = SetCriterion(HungarianMatcher(num_points=256), num_points=256, unmatched_iou_zero=True)
    assert official.unmatched_iou_zero is False
    grads = []
    for crit in (official, option):
        out = _outputs(tgts)  # perfect: queries 0..2 matched with exact IoU; 3..5 unmatched, iou ~ U(0, 1)
        losses, m = crit.compute(out, tgts, generator=_gen(0))
        assert m[0][0].tolist() == [0, 1, 2]
        losses["loss_iou"].backward()
        grads.append(out["pred_iou"].grad[0, :, :, 0])
        if crit is option:  # mean of 0.5 (pred - target)^2 over 6 matched (target > 0) + 6 unmatched entries
            iou = out["pred_iou"].detach()[0, :, :, 0]
            matched = (iou[:3] > 0).sum()
            expected = (0.5 * iou[3:] ** 2).sum() / (matched + 6)
            assert torch.allclose(losses["loss_iou"], expected, atol=1e-6)
    assert torch.equal(grads[0][3:], torch.zeros(3, 2))  # official: nothing reaches unmatched slots
    assert bool((grads[1][3:] > 0).all())  # option: pushed down (positive gradient on a positive IoU)


# --------------------------------------------------------------------------- point loss (option)


def _peaked(cells, g):
    """(len(cells), g*g) distributions, all mass on one grid cell (r, c) each (row-major)."""
    prob = torch.zeros(len(cells), g * g)
    for i, (r, c) in enumerate(cells):
        prob[i, r * g + c] = 1.0
    return prob


def test_point_loss_agrees_with_where_the_prompt_encoder_reads_the_point():
    """Oracle independent of the loss's transpose: the sampler's soft-argmax of a distribution
    peaked at cell (r, c), passed to SAM's prompt encoder as (x, y) (spec §5.2 quirk 1), lands in
    image pixel (row y, col x); the loss is ~0 exactly for cells whose point is inside the mask."""
    from entitysam.modeling.prompt_generator import grid_coordinates

    g, S = 8, 64
    mask = torch.zeros(S, S, dtype=torch.bool)
    mask[0:24, 40:64] = True  # top-right block: rows 0..23, cols 40..63 (not symmetric)
    cells = [(r, c) for r in range(g) for c in range(g)]
    prob = _peaked(cells, g)
    pts = (prob @ grid_coordinates(g, g).float()) * (S / g)  # (E[row], E[col]) * 8, as sample_points
    x, y = pts[:, 0] + 0.5, pts[:, 1] + 0.5  # the prompt encoder's reading (+0.5 pixel-centre shift)
    inside = mask[y.long(), x.long()]
    loss = point_loss(prob, mask.expand(len(cells), S, S))
    assert inside.sum() == 9  # 3 x 3 cells of the 8x8 grid
    assert torch.all(loss[inside] < 1e-5)
    assert torch.all(loss[~inside] > 13.0)  # -log(1e-6)


def test_point_loss_is_minus_log_of_the_mass_inside():
    g, S = 4, 16
    mask = torch.zeros(1, S, S, dtype=torch.bool)
    mask[0, :, :8] = True  # left half of the image: x < 8 -> soft-argmax component 0 (row) < 2
    prob = torch.full((1, g * g), 1.0 / (g * g))  # uniform: half the mass inside
    assert torch.allclose(point_loss(prob, mask), torch.tensor([math.log(2.0)]), atol=1e-5)
    half = torch.zeros(1, g, g)
    half[0, :2, :] = 1.0 / 8  # all mass on rows r < 2, i.e. x = 16 r / 4 < 8: inside
    assert point_loss(half.flatten(1), mask).item() < 1e-5


def test_point_loss_option_in_the_criterion(rect_masks):
    """Off by default (official losses only); on: loss_point over matched slots of the frames where
    the sampler ran, differentiable into the distributions, unmatched slots untouched."""
    tgts = [rect_masks(3, 2, 64, seed=8)]
    official = SetCriterion(HungarianMatcher(num_points=256), num_points=256)
    option = SetCriterion(HungarianMatcher(num_points=256), dict(WEIGHT_DICT, loss_point=2.0), num_points=256)
    assert option.point_loss and not official.point_loss
    g = 8
    logits = torch.randn(6, g * g, generator=_gen(1), requires_grad=True)
    out = _outputs(tgts)  # queries 0..2 predict targets 0..2
    out["point_probs"] = [(0, logits.softmax(-1))]
    assert set(official(out, tgts, generator=_gen(0))) == set(WEIGHT_DICT)
    losses, m = option.compute(out, tgts, generator=_gen(0))
    assert m[0][0].tolist() == [0, 1, 2]
    expected = point_loss(logits.softmax(-1)[:3], tgts[0][:3, 0].float()).mean()
    assert torch.allclose(losses["loss_point"], expected)
    weighted = option(out, tgts, generator=_gen(0))
    assert torch.allclose(weighted["loss_point"], 2.0 * expected)
    losses["loss_point"].backward()
    assert logits.grad[:3].abs().sum() > 0 and torch.equal(logits.grad[3:], torch.zeros(3, g * g))
    out["point_probs"] = []  # no sampler frame (e.g. only later frames): a zero that keeps the graph
    assert option.compute(out, tgts, generator=_gen(0))[0]["loss_point"].item() == 0.0


def test_point_match_option_matches_slots_to_the_entity_under_their_point():
    """With identical mask predictions (the official cost cannot tell slots apart), the point
    cost decides: each slot is matched to the entity its distribution sits in (transposed grid)."""
    from entitysam.training.losses import point_match_cost

    g, S = 4, 16
    tgt = torch.zeros(2, 1, S, S, dtype=torch.bool)
    tgt[0, 0, :, :8] = True  # left half: image cols < 8 -> sampler rows r < 2
    tgt[1, 0, :, 8:] = True  # right half: r >= 2
    cells = [(3, 1), (0, 2), (1, 0)]  # slot 0 on the right entity, slots 1 and 2 on the left one
    prob = _peaked(cells, g)
    cost = point_match_cost([(0, prob)], tgt)
    assert cost.shape == (3, 2)
    assert cost[0, 1] < cost[0, 0] and cost[1, 0] < cost[1, 1]
    assert torch.allclose(cost.max(), torch.tensor(-math.log(0.01)))  # bounded by -log(eps)
    assert point_match_cost([], tgt) is None
    out = {"pred_logits": torch.zeros(1, 3, 2), "pred_iou": torch.zeros(1, 3, 1, 1),
           "pred_masks": torch.zeros(1, 3, 1, S, S), "point_probs": [(0, prob)]}
    crit = SetCriterion(HungarianMatcher(num_points=64), num_points=64, point_match=1.0)
    _, m = crit.compute(out, [tgt], generator=_gen(0))
    assert dict(zip(m[0][0].tolist(), m[0][1].tolist())) in ({0: 1, 1: 0}, {0: 1, 2: 0})
