"""STQ (segmentation and tracking quality): STQ^EN and VIPSeg's class-aware STQ.

Reimplements deeplab2's NumPy STQ as driven by ``eval_stq_vspw_clsag.py`` (class-agnostic,
spec evaluation.md §5) and VIPSeg's ``eval_stq_vspw.py`` (class-aware, §10.1), from the
per-frame pair histograms of :mod:`.readers` instead of per-pixel maps (identical counts).

Official quirks replicated by default (``fixed=False``), spec §7:
  1. the first-seen GT segment of every video has instance number 0, which deeplab2 treats
     as crowd when its class is a thing -> excluded from AQ (always, for STQ^EN);
  2. the IoU term is a mean over classes with non-zero union *including the void column*,
     which enters with IoU 0 as soon as one GT pixel is predicted void (<= 0.5 for STQ^EN);
  3. prediction pixels on GT void count in the prediction tube sizes (standard deeplab2).
``fixed=True`` removes 1 (no crowd) and 2 (void column left out of the mean); 3 is the
metric's definition and stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from entitysam.evaluation.readers import FrameTable

#: Class-agnostic setup (spec §5.1): one "entity" class with id 1, which is a thing.
ENTITY_CLASSES = 2
ENTITY_ID = 1


@dataclass
class SequenceStats:
    """Per-sequence accumulators (deeplab2's per-sequence dicts and confusion matrix).

    Tube keys are (semantic class, segment id): equivalent to deeplab2's
    (semantic << 16) + instance number, as instance numbers are a bijection of ids.
    """

    seq_index: int
    video_id: str
    length: int
    confusion: np.ndarray  # (C+1, C+1) int64, rows GT, cols prediction, index C = void
    gt_sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    pred_sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    intersections: dict[tuple[tuple[int, int], tuple[int, int]], int] = field(default_factory=dict)
    crowd_gt_id: int | None = None


def first_seen_gt_id(frames: list[FrameTable]) -> int | None:
    """The GT id numbered 0: first listed segment of the first frame listing any (spec §5.3)."""
    for f in frames:
        for sid in f.gt_segments:
            return sid
    return None


def sequence_stats(
    frames: list[FrameTable],
    seq_index: int,
    video_id: str,
    n_classes: int = ENTITY_CLASSES,
    things: frozenset[int] = frozenset({ENTITY_ID}),
    class_aware: bool = False,
    fixed: bool = False,
) -> SequenceStats:
    """Accumulate one video (= one STQ sequence).

    Args:
        frames: the video's frame tables in order.
        n_classes: number of semantic classes; the void/ignore label is remapped to index
            n_classes (deeplab2, because ignore 255 > n_classes).
        things: thing class ids (only these enter AQ).
        class_aware: semantic = the segment's category_id; otherwise every listed segment is
            the entity class 1 (STQ^EN, spec §5.2).
        fixed: no first-seen-GT-as-crowd quirk.
    """
    void = n_classes
    crowd_id = None if fixed else first_seen_gt_id(frames)
    st = SequenceStats(seq_index, video_id, len(frames),
                       np.zeros((n_classes + 1, n_classes + 1), np.int64), crowd_gt_id=crowd_id)

    def semantic(table, sid):
        if sid == 0 or sid not in table:  # void and unlisted ids are the ignore label
            return void
        return table[sid].category_id if class_aware else ENTITY_ID

    for f in frames:
        for g, p, c in zip(f.gt_ids.tolist(), f.pred_ids.tolist(), f.counts.tolist()):
            gs, ps = semantic(f.gt_segments, g), semantic(f.pred_segments, p)
            st.confusion[gs, ps] += c
            gt_thing = gs in things
            # deeplab2: crowd = GT instance number 0 inside a thing class.
            crowd = gt_thing and g == crowd_id
            in_gt = gt_thing and not crowd
            in_pred = ps in things and not crowd
            if in_gt:
                _add(st.gt_sizes, (gs, g), c)
            if in_pred:
                _add(st.pred_sizes, (ps, p), c)
            if in_gt and in_pred:
                _add(st.intersections, ((gs, g), (ps, p)), c)
    return st


def _add(d: dict, key, value: int) -> None:
    d[key] = d.get(key, 0) + value


def association_outer(st: SequenceStats) -> float:
    """Σ_g 1/|g| Σ_p TPA² / (TPA + FPA + FNA) over one sequence (spec §5.5)."""
    inner: dict[tuple[int, int], float] = {}
    for (g, p), tpa in st.intersections.items():
        fpa = st.pred_sizes[p] - tpa
        fna = st.gt_sizes[g] - tpa
        inner[g] = inner.get(g, 0.0) + tpa * (tpa / (tpa + fpa + fna))
    return sum(inner.get(g, 0.0) / size for g, size in st.gt_sizes.items())


def mean_iou(confusion: np.ndarray, drop_void_column: bool = False) -> float:
    """deeplab2's IoU term: GT-void row zeroed, mean over classes with non-zero union.

    Args:
        confusion: (C+1, C+1) rows GT, cols prediction, last index = void.
        drop_void_column: ``--fixed``: the void index is not a class of the mean.
    Returns:
        the mean IoU, NaN when no class has a union (official: 0/0).
    """
    m = confusion.copy()
    m[-1, :] = 0
    inter = np.diagonal(m).astype(np.float64)
    union = m.sum(axis=0) + m.sum(axis=1) - np.diagonal(m)
    if drop_void_column:
        inter, union = inter[:-1], union[:-1]
    n = np.count_nonzero(union)
    if n == 0:
        return math.nan
    return float(np.sum(inter / np.maximum(union, 1e-15)) / n)


class STQEvaluator:
    """reset / add(sequence) / evaluate for STQ (class-agnostic or class-aware)."""

    def __init__(self, fixed: bool = False, entity: bool = True) -> None:
        self.fixed = fixed
        self.entity = entity
        self.reset()

    def reset(self) -> None:
        self._sequences: list[SequenceStats] = []

    def process(self, seq_index: int, video_id: str, frames: list[FrameTable], **config) -> None:
        """Accumulate one video in-process (``config``: see :func:`sequence_stats`)."""
        self.add(sequence_stats(frames, seq_index, video_id, fixed=self.fixed, **config))

    def add(self, st: SequenceStats) -> None:
        """Add one sequence's accumulators (computed elsewhere, e.g. in a worker process)."""
        self._sequences.append(st)

    def evaluate(self) -> dict:
        """The ``stq`` report section; fractions in [0, 1] (not x100)."""
        seqs = sorted(self._sequences, key=lambda s: s.seq_index)
        per_sequence, outer_total, tubes_total = [], 0.0, 0
        total = None
        for st in seqs:
            outer = association_outer(st)
            tubes = len(st.gt_sizes)
            outer_total += outer
            tubes_total += tubes
            total = st.confusion.copy() if total is None else total + st.confusion
            aq = outer / max(tubes, 1e-15)  # 0 for a sequence without non-crowd GT tube
            iou = mean_iou(st.confusion, self.fixed)
            entry = {
                "seq_index": st.seq_index, "video_id": st.video_id, "length": st.length,
                "STQ": _nan_to_none(math.sqrt(aq * iou)), "AQ": aq, "IoU": _nan_to_none(iou),
                "num_gt_tubes": tubes, "num_pred_tubes": len(st.pred_sizes),
                "crowd_gt_id": st.crowd_gt_id,
            }
            if self.entity:
                entry["confusion_3x3"] = st.confusion.tolist()
            per_sequence.append(entry)
        aq = outer_total / max(tubes_total, 1e-15)  # tube-weighted, not a mean of sequences
        iou = mean_iou(total, self.fixed) if total is not None else math.nan
        return {
            "STQ": _nan_to_none(math.sqrt(aq * iou)),
            "AQ": aq,
            "IoU": _nan_to_none(iou),
            "total_gt_tubes": tubes_total,
            "per_sequence": per_sequence,
        }


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x
