"""The arithmetic of the video-level merge (spec model.md §7), shared by the offline and the
online merge: slot selection, mask quality, probabilities, pixel owners, the overlap test,
per-frame segment boxes. Pure functions on tensors; no files, no state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from entitysam.core.segments import FrameSegment, SegmentInfo


def select_slots(scores: torch.Tensor, object_mask_threshold: float, topk: int) -> torch.Tensor:
    """Kept slots (§7 step 2): s_b >= max(threshold, k-th largest s), k = min(Q, topk).

    scores: (Q,) float32 -> bool (Q,).
    """
    k = min(scores.numel(), topk)
    kth = torch.topk(scores, k).values.min()
    return scores >= max(float(object_mask_threshold), float(kth))


def quality_counts(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-slot counts #(logit > 1) and #(logit > -1) (§7 step 4). logits: (Q, ...) -> 2 x (Q,) int64."""
    flat = logits.reshape(logits.shape[0], -1)
    return (flat > 1).sum(1), (flat > -1).sum(1)


def quality_from_counts(hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """quality = #(logit > 1) / max(#(logit > -1), 1), as torch divides int64 counts -> float32."""
    return hi / lo.clamp(min=1)


def probabilities(logits: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """(K, s, s) logits -> (K, H, W) float32 probabilities: bilinear resize of the **logits**
    (align_corners=False, no antialias, F.interpolate defaults) then sigmoid (§7 step 5).

    The resize is per channel and bit-identical however the slots/frames are batched. The
    float32 ``torch.sigmoid`` is not: its SIMD body and scalar tail round differently, so a
    value can move by 1 ulp with the tensor's length and the thread split (the official
    driver's own probabilities therefore depend on its batch layout). The sigmoid is taken in
    float64 and rounded once to float32, which is layout-independent and within 1 ulp of the
    float32 result, so that the streamed merge equals the in-memory one bit for bit.
    """
    up = F.interpolate(logits[None].float(), size=out_size, mode="bilinear", align_corners=False)[0]
    return up.double().sigmoid().float()


@dataclass
class FrameOwners:
    """Ownership of one frame among K kept slots (§7 steps 5-7), all (H, W) unless noted.

    ``owner``: argmax_b f_b p_b (int64, first index on ties); ``owner_prob``: p of the owner;
    ``foreground``: any p_b >= threshold; ``area_orig``: (K,) #pixels with p_b >= threshold.
    """

    owner: torch.Tensor
    owner_prob: torch.Tensor
    foreground: torch.Tensor
    area_orig: torch.Tensor

    def in_tube(self, threshold: float) -> torch.Tensor:
        """Pixels that go to their owner's segment: foreground and p_owner >= threshold."""
        return self.foreground & (self.owner_prob >= threshold)

    def counts(self, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(area_owner, area_orig, tube), each (K,) int64 (§7 step 7): owned non-background
        pixels, pixels with p_b >= threshold, owned pixels with p_b >= threshold."""
        k = self.area_orig.numel()
        area_owner = torch.bincount(self.owner[self.foreground], minlength=k)
        tube = torch.bincount(self.owner[self.in_tube(threshold)], minlength=k)
        return area_owner, self.area_orig, tube


def assign_owners(logits: torch.Tensor, final_scores: torch.Tensor, out_size: tuple[int, int],
                  threshold: float, max_elements: int = 1 << 24) -> FrameOwners:
    """Owners of one frame's pixels among K kept slots (§7 steps 5-6).

    logits: (K, s, s) low-res logits; final_scores: (K,) f_b. Slots are resized in chunks of
    at most ``max_elements`` / (H W) slots (64 MB of float32 per intermediate by default; a
    1080p frame with 50 slots would otherwise need 415 MB each) and the argmax is carried
    over chunks as a running maximum. Within a chunk ``argmax`` returns the first index on
    ties and a later chunk replaces the owner only when strictly greater, so the result is
    the official first-index argmax (bilinear resizing is per channel, so chunking does not
    change any value).
    """
    k = logits.shape[0]
    step = max(1, max_elements // (out_size[0] * out_size[1]))
    area_orig = torch.zeros(k, dtype=torch.int64)
    best = owner = owner_prob = foreground = None
    for start in range(0, k, step):
        prob = probabilities(logits[start:start + step], out_size)  # (c, H, W)
        values = final_scores[start:start + step].view(-1, 1, 1) * prob
        above = prob >= threshold
        area_orig[start:start + prob.shape[0]] = above.flatten(1).sum(1)
        idx = values.argmax(0)
        value = values.gather(0, idx[None])[0]
        p = prob.gather(0, idx[None])[0]
        fg = above.any(0)
        idx += start
        if best is None:
            best, owner, owner_prob, foreground = value, idx, p, fg
            continue
        better = value > best
        best = torch.where(better, value, best)
        owner = torch.where(better, idx, owner)
        owner_prob = torch.where(better, p, owner_prob)
        foreground |= fg
    return FrameOwners(owner, owner_prob, foreground, area_orig)


def accept_slots(area_owner, area_orig, tube, order: Sequence[int], overlap_threshold: float):
    """Visit kept slots in ``order`` (indices into the kept list); return the accepted ones
    in visiting order with their owned/own area ratio (§7 step 7: all three counts > 0 and
    area_owner / area_orig >= threshold)."""
    accepted = []
    for k in order:
        a_own, a_orig, a_tube = int(area_owner[k]), int(area_orig[k]), int(tube[k])
        if a_own > 0 and a_orig > 0 and a_tube > 0:
            ratio = a_own / a_orig
            if ratio < overlap_threshold:
                continue
            accepted.append((k, ratio))
    return accepted


def frame_segments(id_map: np.ndarray, infos: dict[int, SegmentInfo],
                   eiou: np.ndarray | torch.Tensor | None = None) -> list[FrameSegment]:
    """Area and bbox of every segment present in ``id_map`` (H, W), in id order (§8:
    bbox [x, y, w, h] with w = xmax - xmin, no +1); ``eiou`` (Q,) is this frame's per-slot
    eIoU, copied onto each segment when given."""
    from scipy import ndimage

    out = []
    if not infos:
        return out
    areas = np.bincount(id_map.ravel(), minlength=max(infos) + 1)
    for seg_id, sl in enumerate(ndimage.find_objects(id_map), start=1):
        if sl is None or seg_id not in infos:
            continue
        ys, xs = sl
        bbox = (xs.start, ys.start, xs.stop - 1 - xs.start, ys.stop - 1 - ys.start)
        info = infos[seg_id]
        e = None if eiou is None else float(eiou[info.slot])
        out.append(FrameSegment(seg_id, info.slot, info.score, int(areas[seg_id]), bbox, e))
    return out
