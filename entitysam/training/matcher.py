"""Hungarian matching of predicted slots to target entities (spec training.md §9).

One assignment per clip, computed without gradient on one set of random points shared by
all queries, targets and frames (Mask2Former's video matcher, class-agnostic).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

# Hard-coded in the official predictor; the config's MODEL.MASK_FORMER.* are ignored (§9, quirk 5).
COST_CLASS = 3.0
COST_MASK = 5.0
COST_DICE = 5.0
NUM_POINTS = 12544
FOREGROUND = 1  # every target has the single foreground class (§4, §9)


def point_sample(input: torch.Tensor, point_coords: torch.Tensor, **kwargs) -> torch.Tensor:
    """Bilinearly sample ``input`` at normalised points (detectron2 PointRend ``point_sample``).

    Args:
        input: (B, C, H, W).
        point_coords: (B, P, 2) (x, y) in [0, 1]^2 (or (B, Hp, Wp, 2)).
        kwargs: passed to ``grid_sample``; default ``align_corners=False``, zero padding.
    Returns:
        (B, C, P) (or (B, C, Hp, Wp)).
    """
    add_dim = point_coords.dim() == 3
    if add_dim:
        point_coords = point_coords.unsqueeze(2)
    kwargs.setdefault("align_corners", False)
    out = F.grid_sample(input, 2.0 * point_coords - 1.0, **kwargs)
    return out.squeeze(3) if add_dim else out


def class_probabilities(pred_logits: torch.Tensor) -> torch.Tensor:
    """(..., 2) entity logits -> softmax(5 sigmoid(logits)) (quirk 4, §9)."""
    return (5.0 * pred_logits.float().sigmoid()).softmax(-1)


def batch_sigmoid_ce(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise mean BCE-with-logits: inputs (Q, P) logits, targets (N, P) in [0, 1] -> (Q, N)."""
    p = inputs.shape[1]
    pos = F.binary_cross_entropy_with_logits(inputs, torch.ones_like(inputs), reduction="none")
    neg = F.binary_cross_entropy_with_logits(inputs, torch.zeros_like(inputs), reduction="none")
    return (pos @ targets.T + neg @ (1 - targets).T) / p


def batch_dice(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise dice cost 1 - (2 sum s y + 1) / (sum s + sum y + 1), s = sigmoid(inputs) -> (Q, N)."""
    s = inputs.sigmoid()
    numerator = 2 * s @ targets.T
    denominator = s.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def sample_targets(masks: torch.Tensor, coords: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Bilinearly sample bool/float masks (N, C, H, W) at points -> (N, C, P) float32.

    ``coords`` is (P, 2) (one point set for all masks) or (N, P, 2) (one per mask). Casts at
    most ``chunk`` masks to float at a time: 30 x 8 x 1024^2 float32 targets would otherwise
    need ~1 GB just for the cast.
    """
    n, c = masks.shape[:2]
    if coords.dim() == 2:
        coords = coords[None].expand(n, -1, -1)
    out = torch.zeros((n, c, coords.shape[1]), dtype=torch.float32, device=masks.device)
    for i in range(0, n, chunk):
        out[i : i + chunk] = point_sample(masks[i : i + chunk].float(), coords[i : i + chunk].float())
    return out


class HungarianMatcher:
    """Class-agnostic clip-level Hungarian matcher (§9).

    C = cost_mask * mean BCE + cost_dice * dice + cost_class * (-p_foreground), computed in
    float32 on ``num_points`` uniform points shared by every query, target and frame.
    """

    def __init__(
        self,
        cost_class: float = COST_CLASS,
        cost_mask: float = COST_MASK,
        cost_dice: float = COST_DICE,
        num_points: int = NUM_POINTS,
    ) -> None:
        self.cost_class, self.cost_mask, self.cost_dice, self.num_points = cost_class, cost_mask, cost_dice, num_points

    @torch.no_grad()
    def cost_matrix(
        self,
        pred_logits: torch.Tensor,
        pred_masks: torch.Tensor,
        target_masks: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Cost (Q, N) of one clip.

        Args:
            pred_logits: (Q, 2) frame-averaged entity logits.
            pred_masks: (Q, T, h, w) mask logits (256^2 officially).
            target_masks: (N, T, H, W) bool/float targets (1024^2 officially).
            generator: for the random points (tests / determinism).
        """
        q, t = pred_masks.shape[:2]
        if target_masks.shape[1] != t:
            raise ValueError(f"predictions have T={t} frames, targets {target_masks.shape[1]}")
        coords = torch.rand(self.num_points, 2, generator=generator, device=pred_masks.device)
        out_mask = point_sample(pred_masks.float(), coords[None].expand(q, -1, -1)).flatten(1)  # (Q, T P)
        tgt_mask = sample_targets(target_masks, coords).flatten(1)  # (N, T P)
        cost_class = -class_probabilities(pred_logits)[:, FOREGROUND, None].expand(q, target_masks.shape[0])
        return (
            self.cost_mask * batch_sigmoid_ce(out_mask, tgt_mask)
            + self.cost_dice * batch_dice(out_mask, tgt_mask)
            + self.cost_class * cost_class
        )

    @torch.no_grad()
    def match_clip(
        self,
        pred_logits: torch.Tensor,
        pred_masks: torch.Tensor,
        target_masks: torch.Tensor,
        generator: torch.Generator | None = None,
        extra_cost: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Optimal (query indices, target indices), each (min(Q, N),) int64, sorted by query.
        ``extra_cost``: an optional (Q, N) cost added to the official one (training options)."""
        if target_masks.shape[0] == 0:
            empty = torch.empty(0, dtype=torch.int64)
            return empty, empty.clone()
        cost = self.cost_matrix(pred_logits, pred_masks, target_masks, generator)
        if extra_cost is not None:
            cost = cost + extra_cost.detach().to(cost)
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)

    def __call__(
        self,
        pred_logits: torch.Tensor,
        pred_masks: torch.Tensor,
        targets: Sequence[torch.Tensor],
        generator: torch.Generator | None = None,
        extra_costs: Sequence[torch.Tensor | None] | None = None,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match a batch: pred_logits (B, Q, 2), pred_masks (B, Q, T, h, w), targets B x (N_b, T, H, W);
        ``extra_costs``: per clip None or a (Q, N_b) cost added to the official one."""
        if len(targets) != pred_logits.shape[0]:
            raise ValueError(f"{pred_logits.shape[0]} predicted clips but {len(targets)} targets")
        return [
            self.match_clip(pred_logits[b], pred_masks[b], targets[b], generator,
                            None if extra_costs is None else extra_costs[b])
            for b in range(len(targets))
        ]
