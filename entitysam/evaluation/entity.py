"""Zero-shot video entity segmentation on VIPSeg: VEQ and STQ^EN in one pass (spec §1-§5).

Library entry point of ``entitysam eval --task entity``::

    from entitysam.evaluation import evaluate_entity
    report = evaluate_entity("ckpt/inference", "datasets/VIPSeg_720P/panomasksRGB",
                             "datasets/VIPSeg_720P/panoptic_gt_VIPSeg_val.json", workers=8)
    report["veq"]["VEQ"], report["stq"]["STQ"]
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from entitysam.evaluation.parallel import map_videos
from entitysam.evaluation.readers import (
    VideoSpec,
    build_frame_table,
    format_warnings,
    load_vipseg_gt,
    pair_videos,
)
from entitysam.evaluation.stq import SequenceStats, STQEvaluator, sequence_stats
from entitysam.evaluation.veq import VEQEvaluator, WindowStats, video_window_stats


@dataclass
class EntityVideoResult:
    """Per-video accumulators of both metrics (what a worker process sends back)."""

    video_id: str
    veq: list[WindowStats]
    stq: SequenceStats
    warnings: list[str]


def evaluate_entity_video(job: tuple[VideoSpec, bool]) -> EntityVideoResult:
    """Decode one video once and accumulate VEQ and STQ^EN on it. ``job`` = (video, fixed)."""
    spec, fixed = job
    found: dict[str, list[str]] = {}
    frames = [
        build_frame_table(f, spec.video_id, check_pred_area=True, warnings=found)
        for f in spec.frames
    ]
    return EntityVideoResult(
        spec.video_id,
        video_window_stats(frames, class_aware=False),
        sequence_stats(frames, spec.seq_index, spec.video_id, fixed=fixed),
        spec.notes + format_warnings(found),
    )


def evaluate_entity(
    pred_dir: str | os.PathLike,
    gt_png_dir: str | os.PathLike,
    gt_json: str | os.PathLike,
    *,
    missing: str = "error",
    fixed: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> dict:
    """VEQ / VEQ^SQ / VEQ^RQ (x100) and STQ^EN (STQ, AQ, IoU in [0, 1]) of a prediction folder.

    Args:
        pred_dir: the driver's output folder (``pred.json`` + ``pan_pred/<video>/<stem>.png``).
        gt_png_dir: VIPSeg ``panomasksRGB`` folder.
        gt_json: VIPSeg GT JSON (``panoptic_gt_VIPSeg_val.json`` layout).
        missing: GT video absent from pred.json: "error", "skip" (official VEQ; also left out
            of STQ) or "empty" (evaluated as a prediction with no segment).
        fixed: correct the STQ^EN quirks (spec §7 quirks 1-2); default = official numbers.
        workers: processes over videos; the numbers do not depend on it.
    Returns:
        the report: ``{"task", "veq": {...}, "stq": {...}, "missing", "fixed", "warnings"}``
        with the field names of the golden ``expected.json``.
    """
    gt = load_vipseg_gt(gt_json)
    specs, missing_ids = pair_videos(gt, gt_png_dir, pred_dir, missing)
    veq, stq, warnings = VEQEvaluator(), STQEvaluator(fixed=fixed, entity=True), []
    jobs = [(spec, fixed) for spec in specs]
    for result in map_videos(evaluate_entity_video, jobs, workers, "eval entity", progress):
        veq.add(result.video_id, result.veq)
        stq.add(result.stq)
        warnings.extend(result.warnings)
    return {
        "task": "entity",
        "veq": {**veq.evaluate(), "skipped_videos": missing_ids if missing == "skip" else []},
        "stq": stq.evaluate(),
        "missing": {"mode": missing, "videos": missing_ids},
        "fixed": fixed,
        "warnings": warnings,
    }
