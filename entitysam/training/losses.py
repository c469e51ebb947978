"""Training losses and the criterion combining them (spec training.md §10).

Per clip, after Hungarian matching (:mod:`entitysam.training.matcher`):

- ``loss_ce``: sigmoid focal (alpha 0.5, gamma 2) on both entity-logit columns of all
  queries + softmax CE on matched queries (foreground);
- ``loss_mask`` / ``loss_dice``: Mask2Former point-sampled BCE and dice on every matched
  (entity, frame) pair, points chosen by uncertainty-based importance sampling;
- ``loss_iou``: half-squared error of the IoU head on matched pairs with positive IoU.

Total = 5 loss_ce + 5 loss_mask + 5 loss_dice + 5 loss_iou.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F

from entitysam.training.matcher import FOREGROUND, NUM_POINTS, HungarianMatcher, point_sample, sample_targets

if TYPE_CHECKING:
    from entitysam.training.clips import ClipTargets

# Criterion constants, hard-coded in the official predictor (§10, quirk 5).
WEIGHT_DICT = {"loss_ce": 5.0, "loss_mask": 5.0, "loss_dice": 5.0, "loss_iou": 5.0}
OVERSAMPLE_RATIO = 3.0
IMPORTANCE_SAMPLE_RATIO = 0.5
FOCAL_ALPHA = 0.5
FOCAL_GAMMA = 2.0


# --------------------------------------------------------------------------- entity score


def sigmoid_focal_loss(
    inputs: torch.Tensor, targets: torch.Tensor, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA
) -> torch.Tensor:
    """Element-wise sigmoid focal loss: -alpha_t (1 - p_t)^gamma log p_t, same shape as inputs.

    p_t = sigmoid(x) where the target is 1, sigmoid(-x) where it is 0; alpha_t = alpha for
    targets 1, 1 - alpha for targets 0 (both 0.5 officially, §10).
    """
    p = inputs.sigmoid()
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * ce * (1 - p_t) ** gamma


def entity_loss(pred_logits: torch.Tensor, matched_queries: torch.Tensor) -> torch.Tensor:
    """``loss_ce`` of one clip (§10): focal over all queries + CE over matched ones.

    Args:
        pred_logits: (Q, 2) frame-averaged entity logits.
        matched_queries: (M,) int64 indices of matched queries.
    Returns:
        scalar: sum of the focal terms over (Q, 2) / max(M, 1) + mean CE of matched queries
        towards class 1 (no CE term when M = 0). Column 0 of the target is always 0, so the
        "background" logit is pushed down for every query (quirk 3).
    """
    logits = pred_logits.float()
    target = torch.zeros_like(logits)
    target[matched_queries, FOREGROUND] = 1.0
    m = matched_queries.numel()
    loss = sigmoid_focal_loss(logits, target).sum() / max(m, 1)
    if m > 0:
        fg = torch.full((m,), FOREGROUND, dtype=torch.int64, device=logits.device)
        loss = loss + F.cross_entropy(logits[matched_queries], fg)
    return loss


# --------------------------------------------------------------------------- masks


def calculate_uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """Uncertainty of point logits (B, 1, P): -|logit| (highest at the decision boundary)."""
    return -torch.abs(logits)


@torch.no_grad()
def uncertain_point_coords(
    logits: torch.Tensor,
    num_points: int = NUM_POINTS,
    oversample_ratio: float = OVERSAMPLE_RATIO,
    importance_sample_ratio: float = IMPORTANCE_SAMPLE_RATIO,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mask2Former / PointRend importance sampling (§10).

    Draw ``num_points * oversample_ratio`` (37632) uniform points per map, keep the
    ``importance_sample_ratio * num_points`` (6272) most uncertain, add the rest (6272)
    fresh uniform points.

    Args:
        logits: (B, 1, h, w) mask logits, one map per (entity, frame) pair.
    Returns:
        (B, num_points, 2) (x, y) in [0, 1]^2.
    """
    b, dev = logits.shape[0], logits.device
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(b, num_sampled, 2, generator=generator, device=dev)
    uncertainty = calculate_uncertainty(point_sample(logits, coords))  # (B, 1, num_sampled)
    num_uncertain = int(importance_sample_ratio * num_points)
    idx = torch.topk(uncertainty[:, 0, :], k=num_uncertain, dim=1)[1]  # (B, num_uncertain)
    coords = torch.gather(coords, 1, idx[..., None].expand(-1, -1, 2))
    num_random = num_points - num_uncertain
    if num_random > 0:
        coords = torch.cat([coords, torch.rand(b, num_random, 2, generator=generator, device=dev)], 1)
    return coords


def sigmoid_ce_loss(point_logits: torch.Tensor, point_labels: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``loss_mask``: sum over maps of mean-over-points BCE-with-logits, / num_masks.
    point_logits, point_labels: (B, P)."""
    loss = F.binary_cross_entropy_with_logits(point_logits, point_labels, reduction="none")
    return loss.mean(1).sum() / num_masks


def dice_loss(point_logits: torch.Tensor, point_labels: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``loss_dice``: sum over maps of 1 - (2 sum s y + 1) / (sum s + sum y + 1), / num_masks.
    point_logits, point_labels: (B, P); s = sigmoid(logits)."""
    s = point_logits.sigmoid()
    numerator = 2 * (s * point_labels).sum(-1)
    denominator = s.sum(-1) + point_labels.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def mask_losses(
    src_masks: torch.Tensor,
    target_masks: torch.Tensor,
    num_masks: float,
    num_points: int = NUM_POINTS,
    oversample_ratio: float = OVERSAMPLE_RATIO,
    importance_sample_ratio: float = IMPORTANCE_SAMPLE_RATIO,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(``loss_mask``, ``loss_dice``) on matched pairs, frames where the entity is absent included.

    Args:
        src_masks: (M, h, w) predicted logits, one per matched (entity, frame) pair (with grad).
        target_masks: (M, H, W) bool/float targets of the same pairs.
        num_masks: normaliser (:func:`num_masks_normaliser`).
    """
    if src_masks.shape[0] == 0:
        zero = src_masks.sum() * 0.0  # keeps the graph
        return zero, zero
    src = src_masks.float()[:, None]
    coords = uncertain_point_coords(src, num_points, oversample_ratio, importance_sample_ratio, generator)
    with torch.no_grad():
        labels = sample_targets(target_masks[:, None], coords)[:, 0]  # (M, P): fractional near edges
    point_logits = point_sample(src, coords)[:, 0]  # (M, P), with gradient
    return sigmoid_ce_loss(point_logits, labels, num_masks), dice_loss(point_logits, labels, num_masks)


# --------------------------------------------------------------------------- IoU head


@torch.no_grad()
def mask_iou_targets(src_masks: torch.Tensor, target_masks: torch.Tensor) -> torch.Tensor:
    """Target IoU of each pair (§10, quirk 11): (M, h, w) logits vs (M, H, W) targets -> (M,).

    Prediction = sigmoid > 0.5 at h x w; target = nearest-resized to h x w (top-left pixel of
    each block) > 0.5. 0/0 (both empty) gives NaN, which the loss excludes.
    """
    pred = src_masks.float().sigmoid() > 0.5
    tgt = F.interpolate(target_masks[:, None].float(), size=src_masks.shape[-2:], mode="nearest")[:, 0] > 0.5
    inter = (pred & tgt).flatten(1).sum(1).float()
    union = (pred | tgt).flatten(1).sum(1).float()
    return inter / union


def iou_loss(pred_iou: torch.Tensor, target_iou: torch.Tensor, always: torch.Tensor | None = None) -> torch.Tensor:
    """``loss_iou``: mean of 0.5 (pred - target)^2 over entries with target > 0 (NaN, 0 excluded);
    0 keeping the graph when there are none. Not divided by num_masks (quirk 2).
    pred_iou, target_iou: (M,); ``always``: (M,) bool, entries kept whatever their target
    (the option ``unmatched_iou_zero``: unmatched slots with target 0)."""
    keep = target_iou > 0  # NaN > 0 is False
    if always is not None:
        keep = keep | always
    if not bool(keep.any()):
        return pred_iou.sum() * 0.0
    return (0.5 * (pred_iou.float()[keep] - target_iou[keep]) ** 2).mean()


# --------------------------------------------------------------------------- criterion


def point_loss(point_prob: torch.Tensor, target_masks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Option (issue 16; not in the official recipe): the point sampler's distribution of each
    matched slot should put its mass inside the slot's ground-truth entity.

    The official sampler is trained only through the prompt encoder's Fourier encoding of its
    soft-argmax, a weak signal: from scratch its points stay near the centre and every slot
    prompts the same place. This loss is -log(mass of the distribution inside the entity).
    Quirk 1 (spec §5.2): the sampler's (row, col) soft-argmax is read as (x, y) by the prompt
    encoder, so grid cell (r, c) prompts image cell (row c, col r): the target is the
    transposed coverage grid, so the loss agrees with where the decoder sees the point.

    Args:
        point_prob: (M, g*g) distributions of the matched slots (row-major cells).
        target_masks: (M, S, S) their entities' masks in that frame (S a multiple of g).
    Returns:
        (M,) per-pair losses.
    """
    inside = (point_prob * sampler_coverage(target_masks, point_prob.shape[-1])).sum(-1)
    return -torch.log(inside + eps)


def sampler_coverage(masks: torch.Tensor, cells: int) -> torch.Tensor:
    """(M, S, S) masks -> (M, g*g) share of each point-sampler grid cell inside the mask, with
    g*g = ``cells``; cell (r, c) covers image cell (row c, col r) (quirk 1: the sampler's
    (row, col) soft-argmax is read as (x, y) by the prompt encoder)."""
    g = int(round(cells ** 0.5))
    cover = F.adaptive_avg_pool2d(masks[:, None].float(), g)[:, 0]  # (M, g, g) share of each cell
    return cover.transpose(-1, -2).flatten(1)


def point_match_cost(point_probs, target_masks: torch.Tensor, eps: float = 1e-2) -> torch.Tensor | None:
    """Option (issue 16): a (Q, N) matching cost -log(eps + mass of slot q's point-sampler
    distribution inside entity n), averaged over the frames where the sampler ran and n is
    visible (0 where it is not); None without such frames. Bounded by -log(eps).

    ``point_probs``: one clip's list of (t, (Q, g*g)); ``target_masks``: (N, T, S, S).
    """
    costs = []
    for t, prob in point_probs:
        mass = prob.detach().float() @ sampler_coverage(target_masks[:, t], prob.shape[-1]).t()  # (Q, N)
        visible = target_masks[:, t].flatten(1).any(1)
        costs.append(torch.where(visible[None], -torch.log(mass + eps), torch.zeros_like(mass)))
    return torch.stack(costs).mean(0) if costs else None


def _per_clip(point_probs, clips: int) -> list:
    """``outputs["point_probs"]`` (absent, one clip's list of (t, prob) for B = 1, or a list per
    clip) as a list of ``clips`` lists, empty where a clip has none."""
    point_probs = point_probs or []
    if point_probs and isinstance(point_probs[0], tuple):
        point_probs = [point_probs]
    return list(point_probs) + [[]] * (clips - len(point_probs))


def num_masks_normaliser(num_targets: int, num_frames: int, device: torch.device | None = None) -> float:
    """num_masks = clamp(sum of targets over ranks / world size, >= 1) * T (§10).

    All-reduces ``num_targets`` when torch.distributed is initialised (all ranks must call it).
    """
    n = torch.tensor(float(num_targets), device=device)
    world = 1
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(n)
        world = dist.get_world_size()
    return max(n.item() / world, 1.0) * num_frames


TargetsLike = Union[torch.Tensor, Mapping[str, torch.Tensor], "ClipTargets"]


def _target_masks(targets) -> list[torch.Tensor]:
    """Normalise the accepted target forms to a list of (N_b, T, H, W) mask tensors.

    One clip: a mask tensor (N, T, H, W), a ``ClipTargets`` or a dict with ``"masks"``;
    a batch: a list/tuple of those.
    """
    if isinstance(targets, (list, tuple)):
        return [m for t in targets for m in _target_masks(t)]
    if isinstance(targets, torch.Tensor):
        return [targets]
    if isinstance(targets, Mapping):
        return [targets["masks"]]
    return [targets.masks]


class SetCriterion:
    """Matching + the four losses (§10).

    ``criterion(outputs, targets, num_masks)`` returns the weighted losses (keys not in
    ``weight_dict`` dropped, §8.5); the trainer sums them. ``compute`` returns the unweighted
    losses and the matches.

    outputs: ``pred_logits`` (B, Q, 2), ``pred_masks`` (B, Q, T, h, w), ``pred_iou``
    (B, Q, T, 1). targets: for B = 1 a (N, T, H, W) bool/float mask tensor, a
    ``ClipTargets`` or a dict with ``"masks"``; for any B a list of B of those.
    num_masks: the normaliser; ``None`` computes it from these targets
    (:func:`num_masks_normaliser`, all-reduced when torch.distributed is initialised).
    """

    def __init__(
        self,
        matcher: HungarianMatcher | None = None,
        weight_dict: Mapping[str, float] = WEIGHT_DICT,
        num_points: int = NUM_POINTS,
        oversample_ratio: float = OVERSAMPLE_RATIO,
        importance_sample_ratio: float = IMPORTANCE_SAMPLE_RATIO,
        unmatched_iou_zero: bool = False,
        point_match: float = 0.0,
    ) -> None:
        """``unmatched_iou_zero``: option (issue 16; official False): the IoU head of every
        unmatched slot is also supervised, towards 0 in every frame (officially unmatched
        slots get no IoU loss, so the head never learns what a non-entity looks like)."""
        self.unmatched_iou_zero = unmatched_iou_zero
        self.point_match = point_match  # option (issue 16): weight of the point cost in the matching
        self.matcher = matcher if matcher is not None else HungarianMatcher(num_points=num_points)
        self.weight_dict = dict(weight_dict)  # with "loss_point": the point-loss option (issue 16)
        self.num_points, self.oversample_ratio = num_points, oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio

    def compute(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: TargetsLike | Sequence[TargetsLike],
        num_masks: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Unweighted losses and the matches [(query idx, target idx)] per clip."""
        logits, masks, ious = outputs["pred_logits"], outputs["pred_masks"], outputs["pred_iou"]
        targets = [m.to(masks.device) for m in _target_masks(targets)]
        t = masks.shape[2]
        extra = None
        if self.point_match > 0:
            probs = _per_clip(outputs.get("point_probs"), len(targets))
            extra = [point_match_cost(probs[b], targets[b]) * self.point_match if targets[b].shape[0] else None
                     for b in range(len(targets))]
        matches = self.matcher(logits, masks, targets, generator, extra)
        if num_masks is None:
            num_masks = num_masks_normaliser(sum(int(x.shape[0]) for x in targets), t, logits.device)
        # loss_ce: clips weighted by their share of matched targets (a plain mean if none match).
        n = [float(q.numel()) for q, _ in matches]
        share = [x / sum(n) for x in n] if sum(n) > 0 else [1.0 / len(n)] * len(n)
        loss_ce = sum(share[b] * entity_loss(logits[b], matches[b][0]) for b in range(len(matches)))
        # (entity, frame) pairs of every clip: (sum_b M_b T, h, w) predictions, targets at full size.
        src = torch.cat([masks[b, q].flatten(0, 1) for b, (q, _) in enumerate(matches)])
        tgt = torch.cat([targets[b][k].flatten(0, 1) for b, (_, k) in enumerate(matches)])
        pred_iou = torch.cat([ious[b, q].flatten() for b, (q, _) in enumerate(matches)])
        loss_mask, loss_dice = mask_losses(
            src, tgt, num_masks, self.num_points, self.oversample_ratio, self.importance_sample_ratio, generator
        )
        target_iou = mask_iou_targets(src.detach(), tgt)
        if self.unmatched_iou_zero:
            free = []
            for b, (q, _) in enumerate(matches):
                unmatched = torch.ones(ious.shape[1], dtype=torch.bool, device=ious.device)
                unmatched[q] = False
                free.append(ious[b, unmatched].flatten())
            free = torch.cat(free)
            always = torch.cat([torch.zeros_like(target_iou, dtype=torch.bool),
                                torch.ones(free.numel(), dtype=torch.bool, device=free.device)])
            loss_iou = iou_loss(torch.cat([pred_iou, free]), torch.cat([target_iou, free.new_zeros(free.shape)]), always)
        else:
            loss_iou = iou_loss(pred_iou, target_iou)
        losses = {"loss_ce": loss_ce, "loss_mask": loss_mask, "loss_dice": loss_dice, "loss_iou": loss_iou}
        if self.point_loss:
            losses["loss_point"] = self._point_loss(outputs.get("point_probs"), targets, matches, masks)
        return losses, matches

    @property
    def point_loss(self) -> bool:
        """Option (issue 16): ``loss_point`` is computed when the weights give it a weight."""
        return "loss_point" in self.weight_dict

    @staticmethod
    def _point_loss(point_probs, targets, matches, masks) -> torch.Tensor:
        """Mean :func:`point_loss` over the matched (slot, entity) pairs of every frame where the
        sampler ran and the entity is visible. ``point_probs``: per clip a list of (t, (Q, g*g))."""
        point_probs = _per_clip(point_probs, len(matches))
        terms = []
        for b, (q, k) in enumerate(matches):
            for t, prob in point_probs[b]:
                tgt = targets[b][k, t]  # (M, S, S)
                visible = tgt.flatten(1).any(1)
                if visible.any():
                    terms.append(point_loss(prob[q[visible]], tgt[visible]))
        if not terms:
            return masks.sum() * 0.0
        return torch.cat(terms).mean()

    def __call__(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: TargetsLike | Sequence[TargetsLike],
        num_masks: float | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Weighted losses (§10: 5 each); sum them for the total."""
        losses, _ = self.compute(outputs, targets, num_masks, generator)
        return {k: v * self.weight_dict[k] for k, v in losses.items() if k in self.weight_dict}
