"""One-pass video-level merge for streams (``entitysam segment --online``)."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from entitysam.core.segments import MergedFrame, SegmentInfo
from entitysam.inference.merge.options import QUALITY_STRIDE, MergeOptions
from entitysam.inference.merge.steps import (
    assign_owners,
    frame_segments,
    quality_counts,
    quality_from_counts,
    select_slots,
)


class OnlineMerger:
    """One-pass merge for streams (``--online``): NOT identical to the official merge.

    Every real frame is labelled as soon as it arrives, with the information available so
    far: the score of a slot is its running mean eIoU (over the positions seen so far,
    warm-ups included as officially) plus 0.5 x its running quality (every 5th real frame
    seen so far); the overlap test uses the owned / own areas accumulated over the frames
    seen so far, this one included. A slot gets an id (1, 2, ... in order of first
    acceptance) the first time it passes and keeps it for the rest of the video; in a frame
    where it fails the test its pixels are void. Memory is O(Q) counters plus one frame (and
    one area per frame and entity, for :attr:`segments`).

    :attr:`segments` describes each entity with the same fields as the offline merge's: its
    slot's running mean eIoU, quality, final score and overlap ratio as they stand after the
    last frame, and its area in every real frame (0 where it is absent).

    ``device``: where the per-pixel work runs (None: the CPU); the logits are moved there
    (no copy when they already are) and the frame comes back as one owner map of 1 byte
    per pixel (2 beyond 254 kept slots) plus the per-slot counts; the id map is then one
    lookup of the owner map in a per-slot id table built on the host. ``method``: as for
    :class:`~entitysam.inference.merge.offline.VideoMerger`.
    """

    def __init__(self, out_size: tuple[int, int], options: MergeOptions | None = None, *,
                 device: str | torch.device | None = None, method: str | None = None):
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.options = options or MergeOptions()
        self.device = torch.device("cpu" if device is None else device)
        self.method = method
        self._eiou_sum = None
        self._positions = 0
        self._real = 0
        self._slot_ids: dict[int, int] = {}
        self._areas: dict[int, list[int]] = {}  # id -> area per real frame

    def _init(self, q: int) -> None:
        self._eiou_sum = torch.zeros(q, dtype=torch.float64)
        self._q_hi = torch.zeros(q, dtype=torch.int64)
        self._q_lo = torch.zeros(q, dtype=torch.int64)
        self._area_owner = torch.zeros(q, dtype=torch.int64)
        self._area_orig = torch.zeros(q, dtype=torch.int64)

    def add(self, out) -> MergedFrame | None:
        """Consume one PositionOutput; return the merged frame for real frames, else None."""
        opt = self.options
        eiou = out.eiou.detach().to("cpu", torch.float64)
        if self._eiou_sum is None:
            self._init(eiou.numel())
        if opt.score_over == "all" or not out.is_warmup:
            self._eiou_sum += eiou
            self._positions += 1
        if out.is_warmup:
            return None
        logits = out.lowres_logits.detach().to(self.device, torch.float32)
        logits = logits.reshape(logits.shape[0], logits.shape[-2], logits.shape[-1])
        if self._real % QUALITY_STRIDE == 0:
            hi, lo = quality_counts(logits)
            self._q_hi += hi.cpu()
            self._q_lo += lo.cpu()
        self._real += 1
        mean = (self._eiou_sum / self._positions).float()
        quality = quality_from_counts(self._q_hi, self._q_lo)
        keep = select_slots(mean, opt.object_mask_threshold, opt.test_topk_per_image)
        id_map = np.zeros(self.out_size, dtype=np.int32)
        infos: dict[int, SegmentInfo] = {}
        slots = torch.nonzero(keep).flatten()
        if slots.numel():
            thr = opt.mask_binary_threshold
            final = mean[slots] + 0.5 * quality[slots]
            fo = assign_owners(logits[slots.to(self.device)], final, self.out_size, thr,
                               method=self.method)
            no_owner = 255 if slots.numel() < 255 else 65535
            owner_map = fo.owner_map(thr, no_owner).cpu().numpy()  # the frame's one map copy
            a_own, a_orig, tube = torch.stack(fo.counts(thr)).cpu()  # one copy of 3 K counts
            self._area_owner[slots] += a_own
            self._area_orig[slots] += a_orig
            order = range(slots.numel())
            if opt.slot_order == "score":
                order = sorted(order, key=lambda k: (-float(final[k]), k))
            lut = np.zeros(no_owner + 1, dtype=np.int32)  # owner -> id; no_owner -> 0
            for k in order:
                slot = int(slots[k])
                tot_own, tot_orig = int(self._area_owner[slot]), int(self._area_orig[slot])
                if int(tube[k]) == 0 or tot_orig == 0 or tot_own / tot_orig < opt.overlap_threshold:
                    continue
                seg_id = self._slot_ids.setdefault(slot, len(self._slot_ids) + 1)
                lut[k] = seg_id
                infos[seg_id] = SegmentInfo(seg_id, slot, float(final[k]), float(mean[slot]),
                                            float(quality[slot]), tot_own / tot_orig)
            id_map = lut[owner_map.view(np.uint16) if owner_map.dtype == np.int16 else owner_map]
        segments = frame_segments(id_map, infos, eiou.float())
        for seg in segments:  # absent frames are filled with 0 when they are read
            areas = self._areas.setdefault(seg.id, [])
            areas.extend([0] * (self._real - 1 - len(areas)))
            areas.append(int(seg.area))
        return MergedFrame(int(out.frame_index), id_map, segments)

    @property
    def segments(self) -> list[SegmentInfo]:
        """Every entity written so far, in id order, with its statistics after the last frame."""
        if self._eiou_sum is None or not self._slot_ids:
            return []
        mean = (self._eiou_sum / max(self._positions, 1)).float()
        quality = quality_from_counts(self._q_hi, self._q_lo)
        out = []
        for slot, seg_id in sorted(self._slot_ids.items(), key=lambda kv: kv[1]):
            orig = int(self._area_orig[slot])
            areas = self._areas.get(seg_id, [])
            out.append(SegmentInfo(
                seg_id, slot, float(mean[slot] + 0.5 * quality[slot]), float(mean[slot]), float(quality[slot]),
                int(self._area_owner[slot]) / orig if orig else 0.0,
                tuple(areas) + (0,) * (self._real - len(areas))))
        return out

    def add_all(self, outputs: Iterable) -> Iterator[MergedFrame]:
        for out in outputs:
            frame = self.add(out)
            if frame is not None:
                yield frame
