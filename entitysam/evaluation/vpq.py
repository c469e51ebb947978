"""VIPSeg class-aware metrics: VPQ (All / Things / Stuff) and class-aware STQ (spec §10.1).

VPQ is the windowed tube matching of :mod:`.veq` with categories (VIPSeg's
``eval_vpq_vspw.py``): same-category matches, TP/FN under the GT category, FP under the
predicted category, same-category crowd, no prediction JSON-area check. STQ is deeplab2's
with n_classes = number of GT categories (124 on VIPSeg) and the thing classes of the GT
JSON (VIPSeg's ``eval_stq_vspw.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from entitysam.errors import EntitySAMError
from entitysam.evaluation.parallel import map_videos
from entitysam.evaluation.readers import (
    FrameTable,
    VideoSpec,
    build_frame_table,
    format_warnings,
    load_vipseg_gt,
    pair_videos,
)
from entitysam.evaluation.stq import SequenceStats, STQEvaluator, sequence_stats
from entitysam.evaluation.veq import (
    WINDOW_SIZES,
    PQStat,
    WindowStats,
    video_window_stats,
    window_label,
)


@dataclass(frozen=True)
class Categories:
    """GT categories: ids 0..n_classes-1 and which of them are things."""

    ids: frozenset[int]
    things: frozenset[int]
    n_classes: int

    @classmethod
    def from_json(cls, categories: list[dict], path: str) -> "Categories":
        try:
            ids = frozenset(int(c["id"]) for c in categories)
            things = frozenset(int(c["id"]) for c in categories if c.get("isthing"))
        except (KeyError, TypeError, ValueError):
            raise EntitySAMError(f"malformed categories in GT JSON {path}") from None
        if not ids or min(ids) < 0 or max(ids) > 254:
            raise EntitySAMError(
                f"GT JSON {path}: --task panoptic needs categories with ids 0..254 "
                "(VIPSeg: 0..123 with isthing)"
            )
        return cls(ids, things, max(ids) + 1)


def pq_average(stats: dict[int, PQStat], categories: set[int] | frozenset[int]) -> tuple[float, float, float]:
    """panopticapi's pq_average: mean PQ/SQ/RQ over the categories with TP + FP + FN > 0.

    Returns (0, 0, 0) when no category qualifies (panopticapi divides by zero there).
    """
    values = [stats[c].pq_sq_rq() for c in sorted(categories)
              if c in stats and stats[c].tp + stats[c].fp + stats[c].fn > 0]
    if not values:
        return 0.0, 0.0, 0.0
    n = len(values)
    return tuple(sum(v[i] for v in values) / n for i in range(3))  # type: ignore[return-value]


@dataclass
class PanopticVideoResult:
    video_id: str
    vpq: list[WindowStats]
    stq: SequenceStats
    warnings: list[str]


def evaluate_panoptic_video(job: tuple[VideoSpec, Categories, bool]) -> PanopticVideoResult:
    """Decode one video once; VPQ window statistics and class-aware STQ accumulators."""
    spec, cats, fixed = job
    found: dict[str, list[str]] = {}
    frames = [build_frame_table(f, spec.video_id, check_pred_area=False, warnings=found)
              for f in spec.frames]
    _check_categories(spec, frames, cats)
    return PanopticVideoResult(
        spec.video_id,
        video_window_stats(frames, class_aware=True),
        sequence_stats(frames, spec.seq_index, spec.video_id, n_classes=cats.n_classes,
                       things=cats.things, class_aware=True, fixed=fixed),
        spec.notes + format_warnings(found),
    )


def _check_categories(spec: VideoSpec, frames: list[FrameTable], cats: Categories) -> None:
    # VIPSeg raises KeyError for a predicted category missing from the GT categories.
    for fs, table in zip(spec.frames, frames):
        for s in list(table.pred_segments.values()) + list(table.gt_segments.values()):
            if s.category_id not in cats.ids:
                which = "pred.json" if s.id in table.pred_segments else "GT JSON"
                raise EntitySAMError(
                    f"segment id {s.id} in {which} (video {spec.video_id}, frame "
                    f"{Path(fs.gt_png).name}) has category_id {s.category_id}, not a GT category"
                )


def evaluate_panoptic(
    pred_dir: str | os.PathLike,
    gt_png_dir: str | os.PathLike,
    gt_json: str | os.PathLike,
    *,
    missing: str = "error",
    fixed: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> dict:
    """VPQ (x100; All / Things / Stuff per window k and averaged) and class-aware STQ.

    Inputs as :func:`entitysam.evaluation.evaluate_entity`, but every predicted segment's
    ``category_id`` is a GT category (VIPSeg: 0..123).
    Returns:
        ``{"task", "vpq": {"VPQ", "VPQ_thing", "VPQ_stuff", "SQ", "RQ", "windows": [{"k",
        "nframes", "VPQ", "VPQ_thing", "VPQ_stuff", "SQ", "RQ"}]}, "stq": {"STQ", "AQ", "IoU",
        "per_sequence"}, "missing", "fixed", "warnings"}``.
    """
    gt = load_vipseg_gt(gt_json)
    cats = Categories.from_json(gt.categories, gt.path)
    specs, missing_ids = pair_videos(gt, gt_png_dir, pred_dir, missing)
    totals = [WindowStats(n, 0, {}) for n in WINDOW_SIZES]
    stq, warnings = STQEvaluator(fixed=fixed, entity=False), []
    jobs = [(spec, cats, fixed) for spec in specs]
    for result in map_videos(evaluate_panoptic_video, jobs, workers, "eval panoptic", progress):
        for acc, s in zip(totals, result.vpq):
            acc.add(s)
        stq.add(result.stq)
        warnings.extend(result.warnings)
    return {
        "task": "panoptic",
        "vpq": _vpq_report(totals, cats),
        "stq": stq.evaluate(),
        "missing": {"mode": missing, "videos": missing_ids},
        "fixed": fixed,
        "warnings": warnings,
    }


def _vpq_report(totals: list[WindowStats], cats: Categories) -> dict:
    windows = []
    for acc in totals:
        pq_all, sq_all, rq_all = pq_average(acc.per_category, cats.ids)
        windows.append({
            "k": window_label(acc.nframes), "nframes": acc.nframes,
            "VPQ": 100 * pq_all,
            "VPQ_thing": 100 * pq_average(acc.per_category, cats.things)[0],
            "VPQ_stuff": 100 * pq_average(acc.per_category, cats.ids - cats.things)[0],
            "SQ": 100 * sq_all, "RQ": 100 * rq_all,
        })
    # Final values: plain means over the five window lengths (vpq-final.txt).
    finals = {key: sum(w[key] for w in windows) / len(windows)
              for key in ("VPQ", "VPQ_thing", "VPQ_stuff", "SQ", "RQ")}
    return {**finals, "windows": windows}
