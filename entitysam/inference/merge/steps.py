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


#: Methods of :func:`assign_owners`: ``"float64"`` computes every probability with
#: :func:`probabilities`; ``"float32-recheck"`` uses the float32 sigmoid and recomputes the
#: few undecided (slot, pixel) pairs with :func:`probabilities` (same result, bit for bit).
OWNER_METHODS = ("float64", "float32-recheck")

#: Relative margin of the float32 recheck (see :func:`assign_owners`).
RECHECK_EPS = 2.0 ** -16
#: Absolute margin on a probability (covers float32 underflow: sigmoid(x) < 2^-126 for x < -87).
RECHECK_ATOL = 2.0 ** -118


def default_owner_method(device) -> str:
    """``"float64"`` on a CPU (measured faster there, and today's arithmetic), else
    ``"float32-recheck"`` (half the bytes of every per-pixel intermediate on an accelerator)."""
    return "float64" if torch.device(device).type == "cpu" else "float32-recheck"


def count_ids(idx: torch.Tensor, k: int) -> torch.Tensor:
    """(k,) int64 histogram of ``idx`` (values in 0..k; k is dropped) on idx's device, without
    a host synchronisation (``torch.bincount`` reads the maximum back on a GPU)."""
    idx = idx.reshape(-1)
    out = torch.zeros(k + 1, dtype=torch.int64, device=idx.device)
    out.scatter_add_(0, idx, torch.ones_like(idx, dtype=torch.int64))
    return out[:k]


@dataclass
class FrameOwners:
    """Ownership of one frame among K kept slots (§7 steps 5-7), all (H, W) unless noted.

    ``owner``: argmax_b f_b p_b (int64, first index on ties); ``owner_prob``: p of the owner;
    ``foreground``: any p_b >= threshold; ``area_orig``: (K,) #pixels with p_b >= threshold.
    All on the logits' device. ``rechecked``: with the float32 method, the number of
    (slot, pixel) pairs recomputed exactly (None: every probability was computed exactly).
    """

    owner: torch.Tensor
    owner_prob: torch.Tensor
    foreground: torch.Tensor
    area_orig: torch.Tensor
    rechecked: int | None = None

    def in_tube(self, threshold: float) -> torch.Tensor:
        """Pixels that go to their owner's segment: foreground and p_owner >= threshold."""
        return self.foreground & (self.owner_prob >= threshold)

    def counts(self, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(area_owner, area_orig, tube), each (K,) int64 (§7 step 7): owned non-background
        pixels, pixels with p_b >= threshold, owned pixels with p_b >= threshold. Computed on
        the maps' device with no host synchronisation."""
        k = self.area_orig.numel()
        area_owner = count_ids(torch.where(self.foreground, self.owner, k), k)
        tube = count_ids(torch.where(self.in_tube(threshold), self.owner, k), k)
        return area_owner, self.area_orig, tube

    def owner_map(self, threshold: float, no_owner: int) -> torch.Tensor:
        """(H, W) owner of every tube pixel, ``no_owner`` elsewhere, in the smallest dtype
        that holds ``no_owner`` (uint8, else int16 holding the uint16 bit pattern: view the
        host copy as uint16), so that one device -> host copy of H W (or 2 H W) bytes carries
        the frame."""
        m = torch.where(self.in_tube(threshold), self.owner, no_owner)
        if no_owner <= 255:
            return m.to(torch.uint8)
        if no_owner > 65535:
            raise ValueError(f"no_owner {no_owner} does not fit 16 bits")
        return torch.where(m >= 32768, m - 65536, m).to(torch.int16)


def assign_owners(logits: torch.Tensor, final_scores: torch.Tensor, out_size: tuple[int, int],
                  threshold: float, max_elements: int = 1 << 24, method: str | None = None,
                  recheck_limit: int | None = -1) -> FrameOwners:
    """Owners of one frame's pixels among K kept slots (§7 steps 5-6), on the logits' device.

    logits: (K, s, s) low-res logits; final_scores: (K,) f_b. Slots are resized in chunks of
    at most ``max_elements`` / (H W) slots (64 MB of float32 per intermediate by default; a
    1080p frame with 50 slots would otherwise need 415 MB each) and the argmax is carried
    over chunks as a running maximum. Within a chunk ``argmax`` returns the first index on
    ties and a later chunk replaces the owner only when strictly greater, so the result is
    the official first-index argmax (bilinear resizing is per channel, so chunking does not
    change any value).

    ``method`` (None: :func:`default_owner_method` of the logits' device): ``"float64"``
    takes every probability from :func:`probabilities`; ``"float32-recheck"`` gives the same
    result bit for bit (see :func:`_assign_owners_recheck`); ``recheck_limit`` bounds its
    exact recomputations (-1: H W pairs; None: no bound), beyond which the frame is redone
    with ``"float64"``.
    """
    method = method or default_owner_method(logits.device)
    if method not in OWNER_METHODS:
        raise ValueError(f"method must be one of {OWNER_METHODS}, got {method!r}")
    final_scores = final_scores.to(logits.device, torch.float32)
    if method == "float32-recheck":
        limit = out_size[0] * out_size[1] if recheck_limit == -1 else recheck_limit
        fo = _assign_owners_recheck(logits, final_scores, out_size, threshold, max_elements, limit)
        if fo is not None:
            return fo
    return _assign_owners_exact(logits, final_scores, out_size, threshold, max_elements)


def _assign_owners_exact(logits, final_scores, out_size, threshold, max_elements) -> FrameOwners:
    k = logits.shape[0]
    step = max(1, max_elements // (out_size[0] * out_size[1]))
    area_orig = torch.zeros(k, dtype=torch.int64, device=logits.device)
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


def _assign_owners_recheck(logits, final_scores, out_size, threshold, max_elements,
                           limit) -> FrameOwners | None:
    """:func:`assign_owners` from float32 probabilities q = ``torch.sigmoid`` (float32), with
    the undecided pairs recomputed exactly; returns None (caller falls back to float64) when
    some f_b is negative or not finite, or when more than ``limit`` pairs are undecided.

    Let p = :func:`probabilities` (float64 sigmoid rounded once to float32: within 0.5 ulp of
    the true sigmoid, plus 2^-53 relative). Assumption: |q - p| <= 16 ulp(p) for a normal p.
    Measured over 10^7 uniform and 10^7 random-bit-pattern float32 logits with |x| < 88 on a
    CPU, the largest difference is 2 ulps (tests/inference/test_merge_device.py re-measures
    it); on CUDA ``torch.sigmoid`` is 1 / (1 + expf(-x)) with expf within 2 ulps, i.e. within
    about 3.5 ulps of the true value, 4 of p. With ulp(p) <= 2^-23 p:

    * |q - p| <= 2^-19 max(p, q) + A, with A = :data:`RECHECK_ATOL` = 2^-118 covering the
      underflow range (p or q < 2^-126, where ulps are absolute and the float32 sigmoid
      flushes to 0 for x < -88.7 while p is a subnormal down to x = -103.3);
    * threshold tests: a pair is *near* when |q - t| <= 2^-16 max(q, t) + A (two float32
      bounds, :func:`_near_bounds`). A pair that is
      not near has |q - p| < |q - t|, so p >= t exactly when q >= t: its contribution to
      ``area_orig`` and ``foreground`` is taken from q; near pairs are recomputed with p;
    * values v = fl(f q) against fl(f p), f >= 0: each rounding adds at most 2^-24 of the
      value, so |v_q - v_p| <= E(v) ~ 2^-18.8 v + f A + 2^-148 (subnormal product rounding).
      With band(T) = 2^-16 T + (max f + 1) 2^-116 >= E(T) + E(v_b) for v_b <= T (a factor of
      more than 3 to spare, which also absorbs the float32 rounding of T - band(T)), a slot
      whose v_q is below T - band(T), T the largest v_q at the
      pixel, has a smaller exact value than the float32 owner: it can neither own the pixel
      nor tie with the owner.
    * so where no slot but the float32 owner has v_q >= T - band(T), the float32 owner is the
      exact owner. Elsewhere the candidates (the owner and every slot with v_q >= T - band(T),
      a tie included) are recomputed with p and the exact first-index argmax is taken among
      them (any superset of the candidates gives the same argmax).

    The chunks carry the running top value T, the owner and its resized logit; the
    (slot, pixel, resized logit) of every pair that is near or, the owner aside, within the
    band of the running top (a superset of the final candidates, since T - band(T) only
    grows; an owner overtaken within the band is kept then) is kept sparse, and every pixel
    with a kept pair is re-decided exactly. ``owner_prob`` is recomputed exactly from the
    owner's resized logit (one float64 sigmoid per pixel instead of K).
    """
    dev = logits.device
    k = logits.shape[0]
    h, w = out_size
    npix = h * w
    f = final_scores
    f_ok = bool(((f >= 0) & torch.isfinite(f)).all())  # one host sync per frame
    if not f_ok:
        return None
    atol_v = (float(f.max()) + 1.0) * 2.0 ** -116
    eps = RECHECK_EPS
    thr = float(threshold)
    near_lo, near_hi = _near_bounds(thr)
    step = max(1, max_elements // npix)
    area = torch.zeros(k, dtype=torch.int64, device=dev)
    fg = top1 = owner = owner_up = None
    pairs = []  # (slot, pixel, resized logit, near) per chunk
    stored = 0

    def band(t):
        return t * eps + atol_v

    for start in range(0, k, step):
        up = F.interpolate(logits[start:start + step][None].float(), size=out_size, mode="bilinear",
                           align_corners=False)[0]  # (c, H, W), as in probabilities()
        c = up.shape[0]
        q = up.sigmoid()
        v = f[start:start + c].view(-1, 1, 1) * q
        sure = q > near_hi  # p >= t for sure; q < near_lo: p < t for sure
        near = (q >= near_lo) & ~sure & (q <= near_hi)
        area[start:start + c] = sure.flatten(1).sum(1)
        fg = sure.any(0) if fg is None else fg | sure.any(0)
        c1, idx = v.max(0)  # first index on ties, as argmax
        u1 = up.gather(0, idx[None])[0]
        if top1 is None:
            top1, owner, owner_up = c1, idx + start, u1
            took = torch.ones_like(c1, dtype=torch.bool)
        else:
            took = c1 > top1
            new1 = torch.where(took, c1, top1)
            dethroned = took & (top1 >= new1 - band(new1))  # the old owner stays a candidate
            n = int(dethroned.sum())
            if n:
                if limit is not None and stored + n > limit:
                    return None
                pix = torch.nonzero(dethroned.flatten()).flatten()
                pairs.append((owner.flatten()[pix], pix, owner_up.flatten()[pix],
                              torch.zeros_like(pix, dtype=torch.bool)))
                stored += n
            owner = torch.where(took, idx + start, owner)
            owner_up = torch.where(took, u1, owner_up)
            top1 = new1
        keep = v >= (top1 - band(top1))[None]
        keep.scatter_(0, idx[None], keep.gather(0, idx[None]) & ~took[None])  # owner: owner_up
        keep |= near
        n = int(keep.sum())
        if n:
            if limit is not None and stored + n > limit:
                return None
            nz = torch.nonzero(keep.flatten(1))  # (n, 2): slot in chunk, pixel
            pairs.append((nz[:, 0] + start, nz[:, 1], up.flatten(1)[nz[:, 0], nz[:, 1]],
                          near.flatten(1)[nz[:, 0], nz[:, 1]]))
            stored += n
    owner, owner_up, fg = owner.flatten(), owner_up.flatten(), fg.flatten()
    owner_prob = owner_up.double().sigmoid().float()  # exact p of the float32 owner
    if pairs:
        slot, pix, up_pair, near_pair = (torch.cat(t) for t in zip(*pairs))
        p_pair = up_pair.double().sigmoid().float()  # == probabilities() of these pairs
        above = near_pair & (p_pair >= thr)
        area += count_ids(torch.where(above, slot, k), k)
        fg |= torch.zeros(npix, dtype=torch.int64, device=dev).index_add_(0, pix, above.long()) > 0
        # exact first-index argmax over {owner} + the pairs, at every pixel that has a pair
        v_pair = f[slot] * p_pair
        v_own = f[owner] * owner_prob
        best = v_own.scatter_reduce(0, pix, v_pair, "amax")
        big = torch.tensor(k, device=dev)
        win = torch.where(v_own == best, owner, big)
        win = win.scatter_reduce_(0, pix, torch.where(v_pair == best[pix], slot, big), "amin")
        hit = (slot == win[pix]) & (win[pix] != owner[pix])  # pairs of a new owner (same p if twice)
        dst = torch.where(hit, pix, npix)
        owner_prob = torch.cat([owner_prob, owner_prob[:1]]).scatter_(0, dst, p_pair)[:npix]
        owner = win
    return FrameOwners(owner.view(h, w), owner_prob.view(h, w), fg.view(h, w), area, stored)


def _near_bounds(thr: float) -> tuple[float, float]:
    """float32 bounds [lo, hi] of the q that are *near* the threshold t: q outside them has
    |q - t| > 2^-16 max(q, t) + A (lo rounded down, hi up)."""
    lo = thr * (1 - RECHECK_EPS) - RECHECK_ATOL
    hi = (thr + RECHECK_ATOL) / (1 - RECHECK_EPS)
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if float(lo32) > lo:
        lo32 = np.nextafter(lo32, np.float32(-np.inf))
    if float(hi32) < hi:
        hi32 = np.nextafter(hi32, np.float32(np.inf))
    return float(lo32), float(hi32)


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
