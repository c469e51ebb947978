"""The reset / process / evaluate evaluators, used in-process, equal the task entry point."""

from __future__ import annotations

from eval_testkit import GOLDEN
from entitysam.evaluation import evaluate_entity
from entitysam.evaluation.readers import build_frame_table, load_vipseg_gt, pair_videos
from entitysam.evaluation.stq import STQEvaluator
from entitysam.evaluation.veq import VEQEvaluator


def test_evaluators_in_process_equal_evaluate_entity():
    gt_json, gt_dir, pred = GOLDEN / "gt/panoptic_gt.json", GOLDEN / "gt/panomasksRGB", GOLDEN / "pred_alt"
    veq, stq = VEQEvaluator(), STQEvaluator()
    specs, missing = pair_videos(load_vipseg_gt(gt_json), gt_dir, pred)
    assert missing == []
    for spec in specs:
        frames = [build_frame_table(f, spec.video_id, check_pred_area=True) for f in spec.frames]
        veq.process(spec.video_id, frames)
        stq.process(spec.seq_index, spec.video_id, frames)
    report = evaluate_entity(pred, gt_dir, gt_json)
    assert veq.evaluate() == {k: v for k, v in report["veq"].items() if k != "skipped_videos"}
    assert stq.evaluate() == report["stq"]
    veq.reset()
    stq.reset()
    assert veq.evaluate()["VEQ"] == 0 and stq.evaluate()["per_sequence"] == []
