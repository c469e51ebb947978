"""Video-level panoptic merge of per-slot mask logits (spec model.md §7), streamed.

The official driver stacks the logits of every position into one (Q, N, s, s) tensor and
interpolates all kept slots of all frames to full resolution at once. Here the same function
is computed in two streaming passes so that RAM does not grow with the video length:

pass 1 (:meth:`VideoMerger.add`)
    one :class:`~entitysam.inference.predictor.PositionOutput` at a time: the eIoU row of
    every position is appended to a small spill file, the mask-quality counts of every 5th
    real frame are accumulated, and each real frame's (Q, s, s) logits are appended to a
    spill file on disk (float32 by default, so the result is exact).
pass 2 (:meth:`VideoMerger.frames`)
    the video-level scores are final, but the 0.7 overlap test (§7 step 7) needs per-slot
    areas summed over the whole video before any pixel can be labelled. A *counting* pass
    reads the spilled logits frame by frame (the next frame is read by a background thread
    while this one is computed), sends the kept slots to the merge's device, resizes them,
    assigns owners and accumulates the areas there, and spills the per-frame owner map
    (1 byte per pixel, 2 beyond 254 kept slots: the only device -> host copy of the frame,
    written by the spill thread while the next frame is computed); a *writing* pass then
    turns the owner maps into id maps, one frame at a time.

Spill files: :mod:`entitysam.inference.merge.spill`. The one-pass variant used by
``--online`` is :mod:`entitysam.inference.merge.online`.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from entitysam.core.segments import MergedFrame, SegmentInfo
from entitysam.inference.merge.options import (
    MASK_BINARY_THRESHOLD,
    OBJECT_MASK_THRESHOLD,
    OVERLAP_THRESHOLD,
    QUALITY_STRIDE,
    TEST_TOPK_PER_IMAGE,
    MergeOptions,
)
from entitysam.inference.merge.spill import Spill, SpillWriter
from entitysam.inference.merge.steps import (
    accept_slots,
    assign_owners,
    frame_segments,
    quality_counts,
    quality_from_counts,
    select_slots,
)

_NO_OWNER = np.iinfo(np.uint8).max  # owner-map value for "no tube pixel here"


class VideoMerger:
    """The official video-level merge (§7) in two streaming passes.

    Usage::

        merger = VideoMerger(out_size=(H, W))
        for out in predictor outputs:      # PositionOutput, warm-ups included
            merger.add(out)
        segments = merger.finalize()        # counting pass; list[SegmentInfo]
        for frame in merger.frames():       # writing pass; MergedFrame per real frame
            ...
        merger.close()                      # removes the spill folder (also a context manager)

    RAM holds one frame's logits (Q, s, s) and a few (H, W) maps at a time; disk holds
    Q * s * s * 4 bytes per real frame (float32 spill; half with float16) plus H * W bytes
    per frame of owner maps. The eIoU rows (Q floats per position) are read
    back whole at the end because the official score is one float32 ``mean`` over them.

    ``device``: where the counting pass's per-pixel work runs (None: the CPU); the area
    counts stay there and come back once at the end. ``method``: the
    :func:`~entitysam.inference.merge.steps.assign_owners` method (None: the device's
    default, float64 on a CPU, float32 with an exact recheck elsewhere; both give the same
    result bit for bit).
    """

    def __init__(self, out_size: tuple[int, int], options: MergeOptions | None = None, *,
                 spill_dir: str | Path | None = None, device: str | torch.device | None = None,
                 method: str | None = None):
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.options = options or MergeOptions()
        self.device = torch.device("cpu" if device is None else device)
        self.method = method
        self._dir = Path(tempfile.mkdtemp(prefix="entitysam-spill-", dir=spill_dir))
        self._eiou: Spill | None = None
        self._eiou_real: Spill | None = None
        self._logits: Spill | None = None
        self._owner: Spill | None = None
        self._q_hi = self._q_lo = None
        self._writer: SpillWriter | None = None
        self._num_real = 0
        self._frame_indices: list[int] = []
        self.segments: list[SegmentInfo] | None = None
        self.kept_slots: list[int] = []
        self.mean_eiou: torch.Tensor | None = None
        self.quality: torch.Tensor | None = None
        self.overlap_ratios: dict[int, float] = {}

    # -- pass 1 ---------------------------------------------------------------------------

    def add(self, out) -> None:
        """Consume one PositionOutput (positions in order, warm-ups first)."""
        self.add_position(out.eiou, None if out.is_warmup else out.lowres_logits, out.frame_index)

    def add_position(self, eiou: torch.Tensor, logits: torch.Tensor | None = None,
                     frame_index: int | None = None) -> None:
        """Consume one position: eiou (Q,); logits (Q, 1, s, s) or (Q, s, s) for a real
        frame, None for a warm-up copy of frame 0.

        Tensors may live on any device. Nothing here waits for the device: the quality counts
        are accumulated where the logits are, and the eIoU row and the logits go to the spill
        files through :class:`~entitysam.inference.merge.spill.SpillWriter` (one
        non-blocking device -> host copy each, written by a background thread)."""
        if self.segments is not None:
            raise RuntimeError("add() after finalize()")
        eiou = eiou.detach().reshape(-1).float()
        q = eiou.numel()
        if self._eiou is None:
            self._eiou = Spill(self._dir / "eiou.f32", (q,), "float32")
            self._eiou_real = Spill(self._dir / "eiou_real.f32", (q,), "float32")
            self._writer = SpillWriter()
        if logits is None:
            self._writer.submit(self._eiou, eiou)
            return
        logits = logits.detach().float()
        logits = logits.reshape(q, logits.shape[-2], logits.shape[-1])  # (Q, s, s)
        if self._logits is None:
            shape = (q, logits.shape[-2], logits.shape[-1])
            self._logits = Spill(self._dir / "logits.bin", shape, self.options.spill_dtype)
            self._q_hi = torch.zeros(q, dtype=torch.int64, device=logits.device)
            self._q_lo = torch.zeros(q, dtype=torch.int64, device=logits.device)
        self._writer.submit((self._eiou, self._eiou_real), eiou)
        if self._num_real % QUALITY_STRIDE == 0:  # 0-based real frame number, warm-ups dropped (§7 step 1)
            hi, lo = quality_counts(logits)
            self._q_hi += hi
            self._q_lo += lo
        self._writer.submit(self._logits, logits)
        self._num_real += 1
        self._frame_indices.append(len(self._frame_indices) if frame_index is None else int(frame_index))

    def _flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    @property
    def num_frames(self) -> int:
        return self._num_real

    @property
    def spill_bytes(self) -> int:
        self._flush()
        return sum(s.nbytes for s in (self._eiou, self._eiou_real, self._logits, self._owner) if s)

    # -- pass 2a: scores, counting --------------------------------------------------------

    def scores(self) -> torch.Tensor:
        """Per-slot mean eIoU (Q,) float32: one float32 ``mean`` over the stacked rows of all
        positions (official quirk: warm-ups included, §7 step 1) or of real frames only."""
        self._flush()
        spill = self._eiou if self.options.score_over == "all" else self._eiou_real
        return torch.from_numpy(spill.read_all()).mean(0)

    def finalize(self) -> list[SegmentInfo]:
        """Close pass 1, compute the video-level scores and run the counting pass.

        Returns the accepted segments (ids 1..K in visiting order); ``area_per_frame`` is
        filled in by :meth:`frames`.
        """
        if self.segments is not None:
            return self.segments
        if self._logits is None or self._num_real == 0:
            raise ValueError("no real frame was added to the merger")
        self._flush()
        for sp in (self._eiou, self._eiou_real, self._logits):
            sp.finish()
        opt = self.options
        self.mean_eiou = self.scores()
        self.quality = quality_from_counts(self._q_hi.cpu(), self._q_lo.cpu())
        keep = select_slots(self.mean_eiou, opt.object_mask_threshold, opt.test_topk_per_image)
        self.kept_slots = torch.nonzero(keep).flatten().tolist()
        if not self.kept_slots:  # §7 step 2: nothing kept -> all zeros, no segments
            self.segments = []
            return self.segments
        kept = torch.tensor(self.kept_slots)
        self._final = self.mean_eiou[kept] + 0.5 * self.quality[kept]  # §7 step 4
        area_owner, area_orig, tube = self._counting_pass(kept)
        order = range(len(self.kept_slots))
        if opt.slot_order == "score":  # option (§12 item 16): best final score first
            order = sorted(order, key=lambda k: (-float(self._final[k]), k))
        accepted = accept_slots(area_owner, area_orig, tube, order, opt.overlap_threshold)
        self.overlap_ratios = {
            self.kept_slots[k]: (int(area_owner[k]) / int(area_orig[k]) if int(area_orig[k]) else 0.0)
            for k in range(len(self.kept_slots))
        }
        self._kept_to_id = np.zeros(len(self.kept_slots) + 1, dtype=np.int32)
        self.segments = []
        for seg_id, (k, ratio) in enumerate(accepted, start=1):
            slot = self.kept_slots[k]
            self._kept_to_id[k] = seg_id
            self.segments.append(SegmentInfo(
                id=seg_id, slot=slot, score=float(self._final[k]),
                mean_eiou=float(self.mean_eiou[slot]), quality=float(self.quality[slot]),
                overlap_ratio=ratio))
        return self.segments

    def _counting_pass(self, kept: torch.Tensor):
        """Read every frame's logits once: owners, whole-video counts, owner-map spill.

        Per frame: the spilled record is read (by a background thread, one frame ahead) and
        its kept slots are copied to the device (from pinned memory, non-blocking on CUDA);
        owners and counts are computed there; the owner map (uint8 / uint16) is handed to
        the spill writer, which copies it back and writes it while the next frame runs."""
        from concurrent.futures import ThreadPoolExecutor

        k = kept.numel()
        owner_dtype = "uint8" if k < _NO_OWNER else "uint16"
        no_owner = np.iinfo(owner_dtype).max
        self._owner = Spill(self._dir / "owner.bin", self.out_size, owner_dtype)
        dev = self.device
        cuda = dev.type == "cuda"
        area_owner = torch.zeros(k, dtype=torch.int64, device=dev)
        area_orig = torch.zeros(k, dtype=torch.int64, device=dev)
        tube = torch.zeros(k, dtype=torch.int64, device=dev)
        final = self._final.to(dev)
        thr = self.options.mask_binary_threshold

        def read(i):
            host = torch.from_numpy(self._logits.read(i)).float()[kept]
            return host.pin_memory() if cuda else host

        with ThreadPoolExecutor(1, thread_name_prefix="entitysam-spill-reader") as pool:
            nxt = pool.submit(read, 0) if self._logits.count else None
            for i in range(self._logits.count):
                logits = nxt.result()
                if i + 1 < self._logits.count:
                    nxt = pool.submit(read, i + 1)
                logits = logits.to(dev, non_blocking=True)
                fo = assign_owners(logits, final, self.out_size, thr, method=self.method)
                a, b, c = fo.counts(thr)
                area_owner += a
                area_orig += b
                tube += c
                self._writer.submit(self._owner, fo.owner_map(thr, no_owner))
        self._writer.flush()
        self._owner.finish()
        self._no_owner = no_owner
        return area_owner.cpu(), area_orig.cpu(), tube.cpu()

    # -- pass 2b: writing -----------------------------------------------------------------

    def frames(self) -> Iterator[MergedFrame]:
        """Yield one :class:`MergedFrame` per real frame, in order (call after finalize)."""
        segments = self.finalize()
        infos = {s.id: s for s in segments}
        areas = np.zeros((len(segments) + 1, len(self._frame_indices)), dtype=np.int64)  # by id
        for i, frame_index in enumerate(self._frame_indices):
            if not segments:
                id_map = np.zeros(self.out_size, dtype=np.int32)
            else:
                owner = self._owner.read(i).astype(np.int64)
                owner[owner == self._no_owner] = len(self.kept_slots)  # last LUT entry is 0
                id_map = self._kept_to_id[owner]  # pixels of skipped slots map to 0 too
            segs = frame_segments(id_map, infos, self._eiou_real.read(i))
            for seg in segs:
                areas[seg.id, i] = seg.area
            yield MergedFrame(frame_index, id_map, segs)
        self.segments = [dataclasses.replace(s, area_per_frame=tuple(int(a) for a in areas[s.id]))
                         for s in segments]

    def close(self) -> None:
        """Stop the spill writer and remove the spill folder."""
        if self._writer is not None:
            self._writer.close()
        for sp in (self._eiou, self._eiou_real, self._logits, self._owner):
            if sp is not None:
                sp.finish()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "VideoMerger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def merge_video(eiou: torch.Tensor, frames: Sequence[torch.Tensor], out_size: tuple[int, int], *,
                overlap_threshold: float = OVERLAP_THRESHOLD,
                mask_binary_threshold: float = MASK_BINARY_THRESHOLD,
                object_mask_threshold: float = OBJECT_MASK_THRESHOLD,
                test_topk_per_image: int = TEST_TOPK_PER_IMAGE,
                score_over: str = "all", slot_order: str = "slot", spill_dtype: str = "float32",
                spill_dir: str | Path | None = None, device: str | torch.device | None = None,
                method: str | None = None):
    """Merge a short clip held in memory through the streaming :class:`VideoMerger`
    (``device``, ``method``: as for :class:`VideoMerger`).

    eiou: (P, Q) per-position eIoU, warm-ups first (P - len(frames) warm-ups);
    frames: N real-frame logits, each (Q, 1, s, s) or (Q, s, s).
    Returns (id maps (N, H, W) int32, list of segment dicts: id, slot, score, mean_eiou,
    quality, overlap_ratio, area_per_frame). Used by ``entitysam golden check``.
    """
    opts = MergeOptions(overlap_threshold, mask_binary_threshold, object_mask_threshold,
                        test_topk_per_image, score_over, slot_order, spill_dtype)
    warm = eiou.shape[0] - len(frames)
    if warm < 0:
        raise ValueError(f"{len(frames)} frames but only {eiou.shape[0]} eIoU rows")
    with VideoMerger(out_size, opts, spill_dir=spill_dir, device=device, method=method) as m:
        for p in range(eiou.shape[0]):
            m.add_position(eiou[p], frames[p - warm] if p >= warm else None)
        m.finalize()
        ids = np.stack([f.id_map for f in m.frames()])
        segments = [dataclasses.asdict(s) | {"area_per_frame": list(s.area_per_frame)} for s in m.segments]
    return ids, segments
