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
    reads the spilled logits frame by frame, resizes them, assigns owners and accumulates
    the areas, and spills the per-frame owner map (1 byte per pixel); a *writing* pass then
    turns the owner maps into id maps, one frame at a time.

Spill files are read with ``np.fromfile`` at an offset rather than through one long-lived
``np.memmap``: pages of a mapping stay resident (and count in the RSS) until the kernel
evicts them, whereas a plain read keeps only the current frame in memory.

:class:`OnlineMerger` is the one-pass variant used by ``--online`` (running scores; not
identical to the official merge).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: Official defaults of ``inference_video_vps_save_results`` (spec §7).
OVERLAP_THRESHOLD = 0.7
MASK_BINARY_THRESHOLD = 0.5
OBJECT_MASK_THRESHOLD = 0.05
TEST_TOPK_PER_IMAGE = 100
QUALITY_STRIDE = 5  # quality is measured on real frames 0, 5, 10, ... (§7 step 4)

_NO_OWNER = np.iinfo(np.uint8).max  # owner-map value for "no tube pixel here"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MergeOptions:
    """Parameters of the merge. The defaults reproduce the official driver (§7, §12).

    ``score_over``: ``"all"`` averages eIoU over every position including the warm-up
    copies of frame 0 (official quirk, §12 item 10); ``"real"`` over real frames only.
    ``slot_order``: ``"slot"`` visits kept slots in slot-index order (official, §12 item 16);
    ``"score"`` visits them by decreasing final score (ids then follow that order).
    ``spill_dtype``: dtype of the on-disk logits; ``"float16"`` halves the disk but rounds
    the logits, so the result may differ from the official one on a few pixels.
    """

    overlap_threshold: float = OVERLAP_THRESHOLD
    mask_binary_threshold: float = MASK_BINARY_THRESHOLD
    object_mask_threshold: float = OBJECT_MASK_THRESHOLD
    test_topk_per_image: int = TEST_TOPK_PER_IMAGE
    score_over: str = "all"
    slot_order: str = "slot"
    spill_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.score_over not in ("all", "real"):
            raise ValueError(f"score_over must be 'all' or 'real', got {self.score_over!r}")
        if self.slot_order not in ("slot", "score"):
            raise ValueError(f"slot_order must be 'slot' or 'score', got {self.slot_order!r}")
        if self.spill_dtype not in ("float32", "float16"):
            raise ValueError(f"spill_dtype must be 'float32' or 'float16', got {self.spill_dtype!r}")


@dataclass(frozen=True)
class SegmentInfo:
    """One output entity (a video-level tube).

    ``score`` is the final score f = mean eIoU + 0.5 quality (§7 step 4); ``area_per_frame``
    is filled in by the writing pass (empty until then).
    """

    id: int
    slot: int
    score: float
    mean_eiou: float
    quality: float
    overlap_ratio: float
    area_per_frame: tuple[int, ...] = ()


@dataclass(frozen=True)
class FrameSegment:
    """A segment's presence in one frame: ``bbox`` = [x, y, w, h] with w = xmax - xmin (§8);
    ``eiou`` is its slot's expected IoU in this frame (the per-frame confidence)."""

    id: int
    slot: int
    score: float
    area: int
    bbox: tuple[int, int, int, int]
    eiou: float | None = None


@dataclass(frozen=True)
class MergedFrame:
    """The merge result of one real frame: ``id_map`` (H, W) int32, 0 = void."""

    frame_index: int
    id_map: np.ndarray
    segments: list[FrameSegment]


# --------------------------------------------------------------------------- shared steps


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


# --------------------------------------------------------------------------- spill files


class _Spill:
    """Append-only raw array file of fixed-shape records, read back one record at a time."""

    def __init__(self, path: Path, record_shape: tuple[int, ...], dtype: str):
        self.path = path
        self.record_shape = record_shape
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._record_bytes = int(np.prod(record_shape)) * self.dtype.itemsize
        self._f = open(path, "wb")

    def append(self, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if arr.shape != self.record_shape:
            raise ValueError(f"spill record shape {arr.shape} != {self.record_shape}")
        self._f.write(arr.tobytes())
        self.count += 1

    def finish(self) -> None:
        if not self._f.closed:
            self._f.close()

    def read(self, i: int) -> np.ndarray:
        """Record ``i`` as a fresh array (no mapping kept alive)."""
        n = int(np.prod(self.record_shape))
        arr = np.fromfile(self.path, dtype=self.dtype, count=n, offset=i * self._record_bytes)
        return arr.reshape(self.record_shape)

    def read_all(self) -> np.ndarray:
        return np.fromfile(self.path, dtype=self.dtype).reshape((self.count,) + self.record_shape)

    @property
    def nbytes(self) -> int:
        return self.count * self._record_bytes


# --------------------------------------------------------------------------- offline merge


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
    """

    def __init__(self, out_size: tuple[int, int], options: MergeOptions | None = None, *,
                 spill_dir: str | Path | None = None):
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.options = options or MergeOptions()
        self._dir = Path(tempfile.mkdtemp(prefix="entitysam-spill-", dir=spill_dir))
        self._eiou: _Spill | None = None
        self._eiou_real: _Spill | None = None
        self._logits: _Spill | None = None
        self._owner: _Spill | None = None
        self._q_hi = self._q_lo = None
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
        frame, None for a warm-up copy of frame 0."""
        if self.segments is not None:
            raise RuntimeError("add() after finalize()")
        eiou = eiou.detach().to("cpu", torch.float32)
        q = eiou.numel()
        if self._eiou is None:
            self._eiou = _Spill(self._dir / "eiou.f32", (q,), "float32")
            self._eiou_real = _Spill(self._dir / "eiou_real.f32", (q,), "float32")
            self._q_hi = torch.zeros(q, dtype=torch.int64)
            self._q_lo = torch.zeros(q, dtype=torch.int64)
        self._eiou.append(eiou.numpy())
        if logits is None:
            return
        logits = logits.detach().to("cpu", torch.float32)
        logits = logits.reshape(q, logits.shape[-2], logits.shape[-1])  # (Q, s, s)
        if self._logits is None:
            shape = (q, logits.shape[-2], logits.shape[-1])
            self._logits = _Spill(self._dir / "logits.bin", shape, self.options.spill_dtype)
        self._eiou_real.append(eiou.numpy())
        real_index = self._logits.count  # 0-based real frame number, warm-ups dropped (§7 step 1)
        if real_index % QUALITY_STRIDE == 0:
            hi, lo = quality_counts(logits)
            self._q_hi += hi
            self._q_lo += lo
        self._logits.append(logits.numpy())
        self._frame_indices.append(len(self._frame_indices) if frame_index is None else int(frame_index))

    @property
    def num_frames(self) -> int:
        return 0 if self._logits is None else self._logits.count

    @property
    def spill_bytes(self) -> int:
        return sum(s.nbytes for s in (self._eiou, self._eiou_real, self._logits, self._owner) if s)

    # -- pass 2a: scores, counting --------------------------------------------------------

    def scores(self) -> torch.Tensor:
        """Per-slot mean eIoU (Q,) float32: one float32 ``mean`` over the stacked rows of all
        positions (official quirk: warm-ups included, §7 step 1) or of real frames only."""
        spill = self._eiou if self.options.score_over == "all" else self._eiou_real
        return torch.from_numpy(spill.read_all()).mean(0)

    def finalize(self) -> list[SegmentInfo]:
        """Close pass 1, compute the video-level scores and run the counting pass.

        Returns the accepted segments (ids 1..K in visiting order); ``area_per_frame`` is
        filled in by :meth:`frames`.
        """
        if self.segments is not None:
            return self.segments
        if self._logits is None or self._logits.count == 0:
            raise ValueError("no real frame was added to the merger")
        for sp in (self._eiou, self._eiou_real, self._logits):
            sp.finish()
        opt = self.options
        self.mean_eiou = self.scores()
        self.quality = quality_from_counts(self._q_hi, self._q_lo)
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
        """Read every frame's logits once: owners, whole-video counts, owner-map spill."""
        k = kept.numel()
        owner_dtype = "uint8" if k < _NO_OWNER else "uint16"
        no_owner = np.iinfo(owner_dtype).max
        self._owner = _Spill(self._dir / "owner.bin", self.out_size, owner_dtype)
        area_owner = torch.zeros(k, dtype=torch.int64)
        area_orig = torch.zeros(k, dtype=torch.int64)
        tube = torch.zeros(k, dtype=torch.int64)
        thr = self.options.mask_binary_threshold
        for i in range(self._logits.count):
            logits = torch.from_numpy(self._logits.read(i)).float()[kept]
            fo = assign_owners(logits, self._final, self.out_size, thr)
            a, b, c = fo.counts(thr)
            area_owner += a
            area_orig += b
            tube += c
            owner_map = torch.where(fo.in_tube(thr), fo.owner, torch.full_like(fo.owner, no_owner))
            self._owner.append(owner_map.numpy().astype(owner_dtype))
        self._owner.finish()
        self._no_owner = no_owner
        return area_owner, area_orig, tube

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
        """Remove the spill folder."""
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
                spill_dir: str | Path | None = None):
    """Merge a short clip held in memory through the streaming :class:`VideoMerger`.

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
    with VideoMerger(out_size, opts, spill_dir=spill_dir) as m:
        for p in range(eiou.shape[0]):
            m.add_position(eiou[p], frames[p - warm] if p >= warm else None)
        m.finalize()
        ids = np.stack([f.id_map for f in m.frames()])
        segments = [dataclasses.asdict(s) | {"area_per_frame": list(s.area_per_frame)} for s in m.segments]
    return ids, segments


# --------------------------------------------------------------------------- reference


def merge_in_memory(eiou: torch.Tensor, logits: torch.Tensor, out_size: tuple[int, int],
                    num_warmup: int = 3, options: MergeOptions | None = None):
    """Brute-force in-RAM version of §7, written after the official driver (for tests and
    the golden check on short clips).

    eiou: (P, Q) per-position eIoU, warm-ups first; logits: (Q, N, s, s) real-frame logits.
    Returns (id_map (N, H, W) int32, list of (id, slot, final score, overlap ratio)).
    """
    opt = options or MergeOptions()
    rows = eiou if opt.score_over == "all" else eiou[num_warmup:]
    scores = rows.float().mean(0)
    keep = select_slots(scores, opt.object_mask_threshold, opt.test_topk_per_image)
    n = logits.shape[1]
    panoptic = torch.zeros((n,) + tuple(out_size), dtype=torch.int32)
    if not bool(keep.any()):
        return panoptic.numpy(), []
    cur = logits[keep].float()  # (K, N, s, s)
    sub = cur[:, ::QUALITY_STRIDE]
    quality = (sub > 1).flatten(1).sum(1) / (sub > -1).flatten(1).sum(1).clamp(min=1)
    final = scores[keep] + 0.5 * quality
    up = F.interpolate(cur, size=out_size, mode="bilinear", align_corners=False)
    prob = up.double().sigmoid().float()  # layout-independent rounding, see probabilities()
    thr = opt.mask_binary_threshold
    mask_ids = (final.view(-1, 1, 1, 1) * prob).argmax(0)  # (N, H, W)
    background = (prob < thr).all(0)
    slots = torch.nonzero(keep).flatten().tolist()
    order = list(range(len(slots)))
    if opt.slot_order == "score":
        order.sort(key=lambda k: (-float(final[k]), k))
    result, seg_id = [], 0
    for k in order:
        owned = (mask_ids == k) & ~background
        area_owner = int(owned.sum())
        area_orig = int((prob[k] >= thr).sum())
        tube = owned & (prob[k] >= thr)
        if area_owner > 0 and area_orig > 0 and int(tube.sum()) > 0:
            if area_owner / area_orig < opt.overlap_threshold:
                continue
            seg_id += 1
            panoptic[tube] = seg_id
            result.append((seg_id, slots[k], float(final[k]), area_owner / area_orig))
    return panoptic.numpy(), result


# --------------------------------------------------------------------------- online merge


class OnlineMerger:
    """One-pass merge for streams (``--online``): NOT identical to the official merge.

    Every real frame is labelled as soon as it arrives, with the information available so
    far: the score of a slot is its running mean eIoU (over the positions seen so far,
    warm-ups included as officially) plus 0.5 x its running quality (every 5th real frame
    seen so far); the overlap test uses the owned / own areas accumulated over the frames
    seen so far, this one included. A slot gets an id (1, 2, ... in order of first
    acceptance) the first time it passes and keeps it for the rest of the video; in a frame
    where it fails the test its pixels are void. Memory is O(Q) counters plus one frame.
    """

    def __init__(self, out_size: tuple[int, int], options: MergeOptions | None = None):
        self.out_size = (int(out_size[0]), int(out_size[1]))
        self.options = options or MergeOptions()
        self._eiou_sum = None
        self._positions = 0
        self._real = 0
        self._slot_ids: dict[int, int] = {}
        self._stats: dict[int, dict] = {}

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
        logits = out.lowres_logits.detach().to("cpu", torch.float32)
        logits = logits.reshape(logits.shape[0], logits.shape[-2], logits.shape[-1])
        if self._eiou_sum is None:
            self._init(logits.shape[0])
        if opt.score_over == "all" or not out.is_warmup:
            self._eiou_sum += eiou
            self._positions += 1
        if out.is_warmup:
            return None
        if self._real % QUALITY_STRIDE == 0:
            hi, lo = quality_counts(logits)
            self._q_hi += hi
            self._q_lo += lo
        self._real += 1
        mean = (self._eiou_sum / self._positions).float()
        quality = quality_from_counts(self._q_hi, self._q_lo)
        keep = select_slots(mean, opt.object_mask_threshold, opt.test_topk_per_image)
        id_map = np.zeros(self.out_size, dtype=np.int32)
        infos: dict[int, SegmentInfo] = {}
        slots = torch.nonzero(keep).flatten()
        if slots.numel():
            final = mean[slots] + 0.5 * quality[slots]
            fo = assign_owners(logits[slots], final, self.out_size, opt.mask_binary_threshold)
            a_own, a_orig, _ = fo.counts(opt.mask_binary_threshold)
            self._area_owner[slots] += a_own
            self._area_orig[slots] += a_orig
            in_tube = fo.in_tube(opt.mask_binary_threshold).numpy()
            owner_np = fo.owner.numpy()
            order = range(slots.numel())
            if opt.slot_order == "score":
                order = sorted(order, key=lambda k: (-float(final[k]), k))
            for k in order:
                slot = int(slots[k])
                tot_own, tot_orig = int(self._area_owner[slot]), int(self._area_orig[slot])
                pix = in_tube & (owner_np == k)
                if not pix.any() or tot_orig == 0 or tot_own / tot_orig < opt.overlap_threshold:
                    continue
                seg_id = self._slot_ids.setdefault(slot, len(self._slot_ids) + 1)
                id_map[pix] = seg_id
                infos[seg_id] = SegmentInfo(seg_id, slot, float(final[k]), float(mean[slot]),
                                            float(quality[slot]), tot_own / tot_orig)
        return MergedFrame(int(out.frame_index), id_map, frame_segments(id_map, infos, eiou.float()))

    def add_all(self, outputs: Iterable) -> Iterator[MergedFrame]:
        for out in outputs:
            frame = self.add(out)
            if frame is not None:
                yield frame
