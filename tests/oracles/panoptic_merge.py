"""Test oracle: the official video-level merge (spec model.md §7), written from the spec alone.

Slow and plain on purpose: every pixel of every frame is visited in Python. It shares no code
with ``entitysam`` (only numpy and the two PyTorch calls that the spec names: the float32
``mean`` of the stacked eIoU rows and ``F.interpolate``'s bilinear resize). Use it on small
clips only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _sigmoid32(x: float) -> np.float32:
    """sigmoid in float64, rounded once to float32."""
    return np.float32(1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x)))


def official_merge(eiou, logits, out_size, num_warmup=3, *, overlap_threshold=0.7,
                   mask_binary_threshold=0.5, object_mask_threshold=0.05, test_topk_per_image=100,
                   score_over="all", slot_order="slot"):
    """eiou: (P, Q) per position, warm-ups first; logits: (Q, N, s, s) of the real frames.

    Returns (id maps (N, H, W) int32, [(id, slot, final score, area_owner / area_orig), ...]).
    """
    eiou = torch.as_tensor(eiou, dtype=torch.float32)
    logits = torch.as_tensor(logits, dtype=torch.float32)
    q, n = logits.shape[0], logits.shape[1]
    h, w = out_size
    ids = np.zeros((n, h, w), dtype=np.int32)

    # step 1: s_b = float32 mean over all positions (warm-ups included) or real frames only
    rows = eiou if score_over == "all" else eiou[num_warmup:]
    s = rows.mean(0).numpy()

    # step 2: keep s_b >= max(threshold, k-th largest), k = min(Q, topk)
    k = min(q, test_topk_per_image)
    kth = sorted(s.tolist(), reverse=True)[k - 1]
    bar = max(object_mask_threshold, kth)
    kept = [b for b in range(q) if s[b] >= bar]
    if not kept:
        return ids, []

    # step 4: quality over real frames 0, 5, 10, ...; f_b = s_b + 0.5 quality_b (float32)
    final = {}
    for b in kept:
        hi = lo = 0
        for t in range(0, n, 5):
            for v in logits[b, t].flatten().tolist():
                hi += v > 1
                lo += v > -1
        quality = np.float32(hi / max(lo, 1))
        final[b] = np.float32(s[b]) + np.float32(0.5) * quality

    # step 5: bilinear resize of the logits (F.interpolate defaults), then sigmoid
    up = F.interpolate(logits[kept].float(), size=(h, w), mode="bilinear", align_corners=False).numpy()
    prob = {b: np.empty((n, h, w), dtype=np.float32) for b in kept}
    for i, b in enumerate(kept):
        for t in range(n):
            for y in range(h):
                for x in range(w):
                    prob[b][t, y, x] = _sigmoid32(float(up[i, t, y, x]))

    # step 6: owner = first argmax of f_b p_b over kept slots, unless every p_b < threshold
    owner = np.full((n, h, w), -1, dtype=np.int64)
    for t in range(n):
        for y in range(h):
            for x in range(w):
                if all(prob[b][t, y, x] < mask_binary_threshold for b in kept):
                    continue
                best, best_b = None, None
                for b in kept:
                    v = np.float32(final[b] * prob[b][t, y, x])
                    if best is None or v > best:
                        best, best_b = v, b
                owner[t, y, x] = best_b

    # step 7: visit slots (slot order, or by final score), overlap test over the whole video
    order = list(kept)
    if slot_order == "score":
        order.sort(key=lambda b: (-float(final[b]), b))
    result = []
    next_id = 1
    for b in order:
        area_owner = int((owner == b).sum())
        area_orig = int((prob[b] >= mask_binary_threshold).sum())
        tube = (owner == b) & (prob[b] >= mask_binary_threshold)
        if area_owner == 0 or area_orig == 0 or int(tube.sum()) == 0:
            continue
        if area_owner / area_orig < overlap_threshold:
            continue
        ids[tube] = next_id
        result.append((next_id, b, float(final[b]), area_owner / area_orig))
        next_id += 1
    return ids, result
