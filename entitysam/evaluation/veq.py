"""VEQ, VEQ^SQ, VEQ^RQ: class-agnostic video panoptic quality (spec evaluation.md §4).

The windowed tube matching here is VIPSeg's VPQ machinery; :mod:`.vpq` reuses it with
categories (``class_aware=True``). Per-video accumulators are computed by
:func:`video_window_stats` (pure, runs in worker processes) and reduced once by
:class:`VEQEvaluator`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from entitysam.errors import EntitySAMError
from entitysam.evaluation.readers import ID_BITS, FrameTable, Segment

#: Window lengths in annotated frames, reported as k = 5 (nframes - 1) (spec §4.2).
WINDOW_SIZES = (1, 2, 4, 6, 8)
VOID = 0
AGNOSTIC = -1  # the single bucket of the class-agnostic metric


def window_label(nframes: int) -> int:
    """k label of a window length: the VPSNet convention "annotated every 5 frames"."""
    return (nframes - 1) * 5


@dataclass
class PQStat:
    """Accumulator of one category (or the single entity bucket)."""

    iou: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "PQStat") -> None:
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def pq_sq_rq(self) -> tuple[float, float, float]:
        """PQ = iou / (TP + FP/2 + FN/2), SQ = iou / TP, RQ = TP / (TP + FP/2 + FN/2); 0 if empty."""
        if self.tp + self.fp + self.fn == 0:
            return 0.0, 0.0, 0.0
        denom = self.tp + 0.5 * self.fp + 0.5 * self.fn
        sq = self.iou / self.tp if self.tp else 0.0
        return self.iou / denom, sq, self.tp / denom


@dataclass
class WindowStats:
    """Accumulators of one window length over the windows of one (or all) videos."""

    nframes: int
    n_windows: int
    per_category: dict[int, PQStat]

    def add(self, other: "WindowStats") -> None:
        self.n_windows += other.n_windows
        for cat, stat in other.per_category.items():
            self.per_category.setdefault(cat, PQStat()).add(stat)

    def total(self) -> PQStat:
        out = PQStat()
        for stat in self.per_category.values():
            out.add(stat)
        return out


def _merge_segments(tables: list[dict[int, Segment]]) -> dict[int, Segment]:
    """Window segment table: every id listed in any frame, areas summed over the frames.

    Category and crowd flag come from the first frame listing the id (the official script
    keeps that frame's dict and only adds the later areas to it).
    """
    merged: dict[int, Segment] = {}
    for table in tables:
        for sid, s in table.items():
            if sid in merged:
                merged[sid].area += s.area
            else:
                merged[sid] = Segment(s.id, s.category_id, s.iscrowd, s.area)
    return merged


def _window_pairs(frames: list[FrameTable]) -> dict[tuple[int, int], int]:
    """I(g, p): joint pixel histogram of the window (sum of the frames' histograms)."""
    keys = np.concatenate([(f.gt_ids << ID_BITS) | f.pred_ids for f in frames])
    counts = np.concatenate([f.counts for f in frames])
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=counts, minlength=uniq.size).astype(np.int64)
    mask = (1 << ID_BITS) - 1
    return {(k >> ID_BITS, k & mask): c for k, c in zip(uniq.tolist(), sums.tolist())}


def match_window(frames: list[FrameTable], class_aware: bool) -> dict[int, PQStat]:
    """Tube matching of one window (spec §4.3; class-aware variant §10.1).

    Args:
        frames: the window's frame tables (nframes of them).
        class_aware: VIPSeg VPQ (same-category matches, per-category statistics, same-category
            crowd) instead of the class-agnostic VEQ (one bucket, all crowd counts).
    Returns:
        category id (or AGNOSTIC) -> PQStat of this window.
    """
    gt = _merge_segments([f.gt_segments for f in frames])
    pred = _merge_segments([f.pred_segments for f in frames])
    pairs = _window_pairs(frames)
    cat = (lambda s: s.category_id) if class_aware else (lambda s: AGNOSTIC)
    stats: dict[int, PQStat] = {}

    gt_matched, pred_matched = set(), set()
    for (g, p), inter in pairs.items():
        # Only listed, non-crowd GT and listed predictions; unlisted GT ids are neither a
        # segment nor void (golden case gt_json_unlisted).
        if g not in gt or p not in pred or gt[g].iscrowd:
            continue
        if class_aware and gt[g].category_id != pred[p].category_id:
            continue
        # Void-subtracted union: prediction pixels on GT void do not count (spec §4.3 step 5).
        union = pred[p].area + gt[g].area - inter - pairs.get((VOID, p), 0)
        iou = inter / union
        if iou > 1.0:  # only when a GT JSON lists an id in some frames of a window only
            raise EntitySAMError(
                f"GT id {g}: IoU {iou:.3f} > 1 in a window; the GT JSON must list a segment "
                "in every frame where its pixels occur (the official script asserts here)"
            )
        if iou > 0.5:  # strictly: exactly 0.5 is no match (spec §7 quirk 5)
            s = stats.setdefault(cat(gt[g]), PQStat())
            s.tp += 1
            s.iou += iou
            gt_matched.add(g)
            pred_matched.add(p)

    crowd_by_cat: dict[int, int] = {}
    for g, info in gt.items():
        if g in gt_matched:
            continue
        if info.iscrowd:
            # VIPSeg remembers one (the last) crowd segment per category.
            crowd_by_cat[info.category_id] = g
            continue
        stats.setdefault(cat(info), PQStat()).fn += 1
    all_crowd = [g for g, info in gt.items() if info.iscrowd]

    for p, info in pred.items():
        if p in pred_matched:
            continue
        ignored = pairs.get((VOID, p), 0)
        if class_aware:
            if info.category_id in crowd_by_cat:
                ignored += pairs.get((crowd_by_cat[info.category_id], p), 0)
        else:  # entity version: every crowd GT counts (spec §7 quirk 8)
            ignored += sum(pairs.get((c, p), 0) for c in all_crowd)
        # Ignored, not an FP, if strictly more than half lies on void/crowd (spec §4.3 step 7).
        if ignored / info.area > 0.5:
            continue
        stats.setdefault(cat(info), PQStat()).fp += 1
    return stats


def video_window_stats(frames: list[FrameTable], class_aware: bool = False) -> list[WindowStats]:
    """Accumulate every stride-1 window of every length over one video (spec §4.2).

    Returns:
        one WindowStats per entry of WINDOW_SIZES (n_windows = 0 when the video is shorter).
    """
    out = []
    for nframes in WINDOW_SIZES:
        acc = WindowStats(nframes, 0, {})
        for start in range(len(frames) - nframes + 1):
            acc.add(WindowStats(nframes, 1, match_window(frames[start : start + nframes], class_aware)))
        out.append(acc)
    return out


class VEQEvaluator:
    """reset / add(video) / evaluate for VEQ (detectron2-style; one accumulator per window length).

    Statistics are pooled over all windows of all videos (spec §7 quirk 7).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._per_video: dict[str, list[WindowStats]] = {}

    def process(self, video_id: str, frames: list[FrameTable]) -> None:
        self.add(video_id, video_window_stats(frames, class_aware=False))

    def add(self, video_id: str, stats: list[WindowStats]) -> None:
        """Add one video's accumulators (computed elsewhere, e.g. in a worker process)."""
        self._per_video[video_id] = stats

    def evaluate(self) -> dict:
        """The ``veq`` report section (values x100 as the official script reports them)."""
        totals = [WindowStats(n, 0, {}) for n in WINDOW_SIZES]
        per_video = {}
        for vid, stats in self._per_video.items():
            per_video[vid] = []
            for acc, s in zip(totals, stats):
                acc.add(s)
                t = s.total()
                per_video[vid].append(
                    {"k": window_label(s.nframes), "nframes": s.nframes, "n_windows": s.n_windows,
                     "iou_sum": t.iou, "tp": t.tp, "fp": t.fp, "fn": t.fn}
                )
        windows = []
        for acc in totals:
            t = acc.total()
            pq, sq, rq = t.pq_sq_rq()
            windows.append(
                {"k": window_label(acc.nframes), "nframes": acc.nframes, "VEQ": 100 * pq,
                 "VEQ_SQ": 100 * sq, "VEQ_RQ": 100 * rq, "iou_sum": t.iou, "tp": t.tp,
                 "fp": t.fp, "fn": t.fn}
            )
        # Final = plain mean over the five k values, empty windows included as 0 (§4.4).
        final = {
            name: sum(w[name] for w in windows) / len(windows) for name in ("VEQ", "VEQ_SQ", "VEQ_RQ")
        }
        return {
            **final,
            "printed_final": {
                "vpq_all": "%.4f" % final["VEQ"],
                "vpq_sq": "%.4f" % final["VEQ_SQ"],
                "vpq_rq": "%.4f" % final["VEQ_RQ"],
            },
            "windows": windows,
            "per_video": per_video,
        }
